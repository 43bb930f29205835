"""Kenward-Roger's products through the sparse factor of A(θ) (``_products_sparse``) and the
block-structured traces equal the dense Woodbury ones they replace."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedpy
from mixedpy.inference import kenward_roger as kr

EGSIM = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "egsim.csv"


def _egsim_part() -> pd.DataFrame:
    if EGSIM.exists():
        d = pd.read_csv(EGSIM)
    else:
        import sys
        sys.path.insert(0, str(EGSIM.parents[1]))
        from make_egsim import make_egsim
        d = make_egsim()
    return d[d.schoolid.isin(sorted(d.schoolid.unique())[:6])]


MODELS = {
    "slope": ("Reaction ~ Days + (Days | Subject)", lambda: mixedpy.datasets.load("sleepstudy")),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", lambda: mixedpy.datasets.load("Penicillin")),
    "nested_slope": ("math ~ year * female + (year | childid) + (1 | schoolid)", _egsim_part),
    "two_slopes": ("math ~ year * female + (year | schoolid) + (year | childid)", _egsim_part),
}


def _fit(name):
    formula, data = MODELS[name]
    return mixedpy.fit(formula, data())


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("zero_theta", [False, True])
def test_sparse_products_equal_woodbury(name, zero_theta):
    m = _fit(name)
    theta = np.array(m.theta, dtype=float)
    if zero_theta:  # a singular Λ: rows of zeros (the solve skips them)
        theta[-1] = 0.0
    X, Z = np.asarray(m.workspace.X), sp.csc_matrix(m.random.Z)
    Lam, s2 = m.random.Lambda(theta), float(m.sigma) ** 2
    blocks = kr._term_blocks(m.random.terms)
    a = kr._products_woodbury(X, Z, Lam, s2)
    b = kr._products_sparse(X, Z, Lam, s2, blocks)
    for field in ("TT", "V", "M", "UtTT", "trace_S2", "XtS3X"):
        x, y = np.asarray(getattr(a, field)), np.asarray(getattr(b, field))
        assert np.allclose(x, y, rtol=1e-8, atol=1e-11 * np.abs(x).max()), field
    for x, y in zip(kr._diagonal_blocks(a.UtU, blocks), b.UtU_blocks):
        assert np.allclose(x, y, rtol=1e-8, atol=1e-11 * np.abs(x).max())


@pytest.mark.parametrize("name", list(MODELS))
def test_block_traces_equal_dense(name):
    """tr(D_r M D_s M) from the per-term Gram matrices equals the sum over the q × q products."""
    m = _fit(name)
    X, Z = np.asarray(m.workspace.X), sp.csc_matrix(m.random.Z)
    pr = kr._products_woodbury(X, Z, m.random.Lambda(m.theta), float(m.sigma) ** 2)
    blocks = kr._term_blocks(m.random.terms)
    derivs = kr._derivatives(m, m.random.terms)
    K = kr._trace_pairs(pr.M, blocks, kr._params(derivs))
    DM = [np.asarray(D @ pr.M) for D in kr._patterns(m.random, derivs)]
    dense = np.array([[np.sum(a * b.T) for b in DM] for a in DM])
    assert np.allclose(K, dense, rtol=1e-10, atol=1e-12 * np.abs(dense).max())


def test_adjusted_vcov_sleepstudy_slope():
    """The adjusted covariance of sleepstudy's slope model (pbkrtest: vcovAdj diagonal)."""
    m = _fit("slope")
    kr_ = kr.vcov_adjusted(m)
    assert np.all(np.diag(kr_.PhiA) >= np.diag(kr_.Phi) - 1e-10)
    t = kr.kr_test(m, np.array([[0.0, 1.0]]))
    assert t.F == pytest.approx(45.853, abs=5e-4)
    assert t.den_df == pytest.approx(17.0, abs=1e-6)
