"""mixedpy.Hinv (single-step H⁻¹) against the explicit inverse of Legarra's H (issue #15)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.errors import DataError, ModelSpecError
from mixedpy.genetics.single_step import Hinv


def _data():
    ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    rng = np.random.default_rng(0)
    M = rng.integers(0, 3, size=(4, 50)).astype(float)
    Z = M - M.mean(axis=0)
    G = Z @ Z.T / np.sum(2 * (M.mean(0) / 2) * (1 - M.mean(0) / 2)) + 0.01 * np.eye(4)
    geno = [5, 6, 7, 8]
    return ped, pd.DataFrame(G, index=geno, columns=geno), geno


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.95, 0.05), (0.7, 0.3)])
def test_hinv_is_inverse_of_h(alpha, beta):
    ped, G, geno = _data()
    A = ped.A.to_numpy()
    ids = list(ped.ids.astype(int))
    g = [ids.index(i) for i in geno]
    ng = [i for i in range(len(ids)) if i not in g]
    A22 = A[np.ix_(g, g)]
    Gw = alpha * G.to_numpy() + beta * A22
    A12 = A[np.ix_(ng, g)]
    S = np.linalg.solve(A22, (Gw - A22))                 # A22⁻¹(Gw − A22)
    H = A.copy()
    H[np.ix_(ng, ng)] += A12 @ S @ np.linalg.solve(A22, A12.T)
    H[np.ix_(ng, g)] += A12 @ S
    H[np.ix_(g, ng)] += (A12 @ S).T
    H[np.ix_(g, g)] += Gw - A22
    Hi = Hinv(ped, G, alpha=alpha, beta=beta)
    np.testing.assert_allclose(Hi.to_numpy(), np.linalg.inv(H), atol=1e-10)


def test_tau_omega_scale_the_blocks():
    ped, G, geno = _data()
    base = Hinv(ped, G, alpha=1, beta=0)
    scaled = Hinv(ped, G, alpha=1, beta=0, tau=1.5, omega=0.6)
    A = ped.A.to_numpy()
    ids = list(ped.ids.astype(int))
    g = [ids.index(i) for i in geno]
    diff = scaled.to_numpy() - base.to_numpy()
    expect = np.zeros_like(diff)
    expect[np.ix_(g, g)] = 0.5 * np.linalg.inv(G.to_numpy()) - (0.6 - 1) * np.linalg.inv(A[np.ix_(g, g)])
    np.testing.assert_allclose(diff, expect, atol=1e-10)


def test_bad_inputs():
    ped, G, _ = _data()
    with pytest.raises(DataError, match="not in the pedigree"):
        Hinv(ped, G.rename(index={5: 99}, columns={5: 99}))
    with pytest.raises(ModelSpecError, match="tau"):
        Hinv(ped, G, tau=-1)


def _herd_with_genotypes(seed=5):
    rng = np.random.default_rng(seed)
    ids, sire, dam = list(range(1, 11)), [np.nan] * 10, [np.nan] * 10
    males, females, nxt = list(range(1, 6)), list(range(6, 11)), 11
    for _ in range(3):
        cm, cf = [], []
        for i in range(30):
            ids.append(nxt)
            sire.append(rng.choice(males))
            dam.append(rng.choice(females))
            (cm if i % 2 == 0 else cf).append(nxt)
            nxt += 1
        males, females = cm, cf
    ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": ids, "sire": sire, "dam": dam}))
    A = ped.A.to_numpy()
    geno = list(range(61, 101))          # the last 40 animals are genotyped
    g = [ids.index(i) for i in geno]
    M = rng.integers(0, 3, size=(len(geno), 300)).astype(float)
    p = M.mean(0) / 2
    Zm = M - 2 * p
    G = 0.5 * Zm @ Zm.T / np.sum(2 * p * (1 - p)) + 0.5 * A[np.ix_(g, g)] + 0.01 * np.eye(len(geno))
    n = len(ids)
    u = np.linalg.cholesky(A + 1e-9 * np.eye(n)) @ rng.standard_normal(n) * np.sqrt(2.0)
    data = pd.DataFrame({"animal": ids, "x": rng.standard_normal(n)})
    data["y"] = 1.0 + 0.5 * data["x"] + u + rng.standard_normal(n) * np.sqrt(3.0)
    return ped, A, pd.DataFrame(G, index=geno, columns=geno), g, data.iloc[10:]


def _legarra_H(A, G, g, alpha, beta):
    ng = [i for i in range(A.shape[0]) if i not in g]
    A22 = A[np.ix_(g, g)]
    Gw = alpha * G + beta * A22
    A12 = A[np.ix_(ng, g)]
    S = np.linalg.solve(A22, Gw - A22)
    H = A.copy()
    H[np.ix_(ng, ng)] += A12 @ S @ np.linalg.solve(A22, A12.T)
    H[np.ix_(ng, g)] += A12 @ S
    H[np.ix_(g, ng)] += (A12 @ S).T
    H[np.ix_(g, g)] += Gw - A22
    return H


def test_single_step_fit_equals_dense_model_with_H():
    """relmat={'animal': Hinv(...)} (sparse H⁻¹ in the MME) = the model with K = H written densely:
    the REML criterion at the estimates from V = σ²_a Z H Zᵀ + σ² I, and the dense-K fit."""
    ped, A, G, g, data = _herd_with_genotypes()
    Hi = mixedpy.Hinv(ped, G)
    assert isinstance(Hi, mixedpy.RelInverse)
    m = mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": Hi})
    H = _legarra_H(A, G.to_numpy(), g, 0.95, 0.05)
    assert Hi.logdetK == pytest.approx(np.linalg.slogdet(H)[1], abs=1e-9)
    ids = list(ped.ids.astype(int))
    a = np.array([ids.index(i) for i in data["animal"]])
    X = np.column_stack([np.ones(len(data)), data["x"]])
    y = data["y"].to_numpy()
    n, p = X.shape

    def crit(sa, se):
        V = sa * H[np.ix_(a, a)] + se * np.eye(n)
        Vi = np.linalg.inv(V)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return float(np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y + (n - p) * np.log(2 * np.pi))

    vc = m.varcorr.set_index("group")["variance"]
    assert m.reml_criterion == pytest.approx(crit(vc["animal"], vc["Residual"]), abs=1e-7)
    dense = mixedpy.fit("y ~ x + (1 | animal)", data,
                        relmat={"animal": pd.DataFrame(H, index=ped.ids, columns=ped.ids)})
    assert m.reml_criterion == pytest.approx(dense.reml_criterion, abs=1e-6)
    np.testing.assert_allclose(m.varcorr["variance"], dense.varcorr["variance"], rtol=2e-4)
    np.testing.assert_allclose(m.ranef["animal"].to_numpy(), dense.ranef["animal"].to_numpy(), atol=2e-4)
    # BLUPs at the estimates = σ²_a H Zᵀ V⁻¹ (y − Xβ̂) written densely
    V = vc["animal"] * H[np.ix_(a, a)] + vc["Residual"] * np.eye(n)
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    u = vc["animal"] * H[:, a] @ Vi @ (y - X @ beta)
    np.testing.assert_allclose(m.ranef["animal"].to_numpy()[:, 0], u, atol=1e-6)


def test_relinverse_bad_inputs():
    with pytest.raises(ModelSpecError, match="labels"):
        mixedpy.RelInverse(np.eye(2))
    with pytest.raises(ModelSpecError, match="symmetric"):
        mixedpy.RelInverse(np.array([[2.0, 1.0], [0.0, 2.0]]), labels=["a", "b"])
    with pytest.raises(DataError, match="positive definite"):
        mixedpy.RelInverse(np.array([[1.0, 2.0], [2.0, 1.0]]), labels=["a", "b"])
    with pytest.raises(ModelSpecError, match="shape"):
        mixedpy.RelInverse(np.eye(3), labels=["a", "b"])
