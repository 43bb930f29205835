"""The analytic φ-gradient of residual-structure models with random terms
(mixedpy/whitened_gradient.py) against central differences of the deviance, for every kind of
whitening (dense blocks, per-row het with weights, crossed random terms on the sparse engine,
spatial, sparse Kronecker grids) and every way of getting A⁻¹'s entries."""
import numpy as np
import pandas as pd
import pytest

import mixedpy
import mixedpy.whitened_gradient as wg
from mixedpy.model.spec import model_spec
from mixedpy.model.workspace import workspace_for


def _grid():
    rng = np.random.default_rng(1)
    g = pd.DataFrame([(i, j) for i in range(6) for j in range(7)], columns=["row", "col"])
    g = pd.concat([g.assign(blk=b) for b in range(2)], ignore_index=True)
    g["geno"] = rng.integers(0, 10, len(g))
    g["y"] = rng.normal(size=len(g)) + 0.3 * g.geno
    g["x"] = rng.normal(size=len(g))
    return g


def _sleep():
    rng = np.random.default_rng(2)
    ss = mixedpy.datasets.load("sleepstudy")
    return ss.assign(w=rng.uniform(0.5, 2, len(ss)), env=np.arange(len(ss)) % 3)


CASES = [
    ("Reaction ~ Days + (1|Subject)", "ar1(Days | Subject)", None),
    ("Reaction ~ Days + (Days|Subject)", "us(Days | Subject)", None),
    ("Reaction ~ Days + (1|Subject)", "het(env)", "w"),
    ("Reaction ~ Days + (1|env)", "ar1(Days | Subject)", None),  # crosses the subjects: sparse engine
    ("Reaction ~ Days + (1|Subject)", "sp_exp(Days | Subject)", None),
    ("y ~ x + (1|geno)", "ar1xar1(row, col | blk)", None),
]


@pytest.mark.parametrize("dense_q", [3000, 0])
@pytest.mark.parametrize("formula,residual,weights", CASES)
def test_phi_gradient_equals_differences(formula, residual, weights, dense_q, monkeypatch):
    monkeypatch.setattr(wg, "DENSE_AINV_Q", dense_q)  # 0: selected inverse / block-diagonal A⁻¹
    data = _grid() if "geno" in formula else _sleep()
    kw = {} if weights is None else {"weights": weights}
    ws = workspace_for(model_spec(formula, data, residual=residual, **kw))
    rng = np.random.default_rng(3)
    p0 = np.concatenate([np.full(ws.ntheta, 0.7), ws.residual.start() + 0.2 * rng.normal(size=ws.nphi)])
    for reml in (True, False):
        f, g = ws.deviance_and_gradient(p0, reml)
        assert wg.phi_gradient(ws, p0, reml) is not None
        assert f == pytest.approx(ws.deviance(p0, reml), rel=1e-12)
        fd = []
        for k in range(ws.ntheta, len(p0)):
            up, dn = p0.copy(), p0.copy()
            up[k] += 1e-5
            dn[k] -= 1e-5
            fd.append((ws.deviance(up, reml) - ws.deviance(dn, reml)) / 2e-5)
        assert np.max(np.abs(g[ws.ntheta:] - np.array(fd))) < 1e-6 * max(1.0, np.max(np.abs(fd)))
