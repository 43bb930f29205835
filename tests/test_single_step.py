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
