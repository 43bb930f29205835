"""Structures without serial order: unstructured, diagonal, compound symmetry (homogeneous and
heterogeneous) and the scalar variance of ``het(g)``.

=========  ===========  =======================================================  ============
name       SAS TYPE=    matrix                                                   parameters
=========  ===========  =======================================================  ============
us         UN           L Lᵀ, L lower triangular, log-diagonal (log-Cholesky)     d(d+1)/2
diag       UN(1)        diag(σ_i²)                                               d
cs         CS           σ² ((1 − ρ) I + ρ J),  ρ ∈ (−1/(d−1), 1)                 2
csh        CSH          D ((1 − ρ) I + ρ J) D, D = diag(σ_i)                     d + 1
scalar     (VC)         σ² (1 × 1; one per level of g in ``het(g)``)             1
=========  ===========  =======================================================  ============

Examples
--------
>>> import numpy as np
>>> US(2).matrix(np.array([0.0, np.log(2.0), 0.5])).round(3).tolist()
[[1.0, 0.5], [0.5, 4.25]]
"""
from __future__ import annotations

import numpy as np

from .base import CovStructure, dtype_of


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def cs_correlation(a, d: int):
    """a ↦ ρ ∈ (−1/(d−1), 1), the range where a compound-symmetric matrix is positive definite."""
    lo = -1.0 / (d - 1) if d > 1 else -1.0
    return lo + (1.0 - lo) * _sigmoid(a)


def cs_unbounded(rho: float, d: int) -> float:
    lo = -1.0 / (d - 1) if d > 1 else -1.0
    t = np.clip((rho - lo) / (1.0 - lo), 1e-6, 1 - 1e-6)
    return float(np.log(t / (1 - t)))


class US(CovStructure):
    """Unstructured: every variance and covariance free (log-Cholesky parameters: the d log
    diagonals of L, then its strict lower triangle row by row)."""

    name, sas, title = "us", "UN", "unstructured"

    @property
    def npar(self) -> int:
        return self.dim * (self.dim + 1) // 2

    def matrix(self, par):
        d = self.dim
        L = np.zeros((d, d), dtype=dtype_of(par))
        L[np.diag_indices(d)] = np.exp(par[:d])
        r, c = np.tril_indices(d, -1)
        L[r, c] = par[d:]
        return L @ L.T

    def sas_matrix(self, v):
        d = self.dim
        S = np.zeros((d, d), dtype=dtype_of(v))
        r, c = np.tril_indices(d)
        order = np.lexsort((c, r))  # UN(1,1), UN(2,1), UN(2,2), ...
        S[r[order], c[order]] = v
        S[c[order], r[order]] = v
        return S

    def report(self, par, s2):
        S = s2 * self.matrix(np.asarray(par, dtype=float))
        return [(f"UN({i + 1},{j + 1})", float(S[i, j])) for i in range(self.dim) for j in range(i + 1)]


class Diag(CovStructure):
    """Independent, one variance per position."""

    name, sas, title = "diag", "UN(1)", "diagonal (heterogeneous variances)"

    @property
    def npar(self) -> int:
        return self.dim

    def matrix(self, par):
        return np.diag(np.exp(2 * np.asarray(par)))

    def sas_matrix(self, v):
        return np.diag(v)

    def report(self, par, s2):
        v = s2 * np.exp(2 * np.asarray(par, dtype=float))
        return [(f"Var({self.labels[i]})", float(v[i])) for i in range(self.dim)]


class CS(CovStructure):
    """Compound symmetry: one variance, one correlation."""

    name, sas, title = "cs", "CS", "compound symmetry"

    @property
    def npar(self) -> int:
        return 2 if self.dim > 1 else 1

    def start(self):
        return np.array([0.0, cs_unbounded(0.0, self.dim)])[:self.npar]

    def matrix(self, par):
        d = self.dim
        s2 = np.exp(2 * par[0])
        if d == 1:
            return np.reshape(s2, (1, 1)) * np.ones((1, 1))
        rho = cs_correlation(par[1], d)
        return s2 * ((1 - rho) * np.eye(d) + rho * np.ones((d, d)))

    def sas_matrix(self, v):
        d = self.dim
        return v[-1] * np.eye(d) + (v[0] if d > 1 else 0.0) * np.ones((d, d))

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        v = s2 * np.exp(2 * par[0])
        rho = float(cs_correlation(par[1], self.dim)) if self.dim > 1 else 0.0
        return [("CS", float(v * rho)), ("Residual", float(v * (1 - rho)))]


class CSH(CovStructure):
    """Heterogeneous compound symmetry: d variances, one correlation."""

    name, sas, title = "csh", "CSH", "heterogeneous compound symmetry"

    @property
    def npar(self) -> int:
        return self.dim + 1

    def start(self):
        return np.append(np.zeros(self.dim), cs_unbounded(0.0, self.dim))

    def matrix(self, par):
        d = self.dim
        sd = np.exp(par[:d])
        rho = cs_correlation(par[d], d)
        C = (1 - rho) * np.eye(d) + rho * np.ones((d, d))
        return sd[:, None] * C * sd[None, :]

    def sas_matrix(self, v):
        d = self.dim
        sd, rho = np.sqrt(v[:d]), v[d]
        return sd[:, None] * ((1 - rho) * np.eye(d) + rho * np.ones((d, d))) * sd[None, :]

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        v = s2 * np.exp(2 * par[:self.dim])
        return [(f"Var({i + 1})", float(v[i])) for i in range(self.dim)] + [
            ("CSH", float(cs_correlation(par[self.dim], self.dim)))]


class Scalar(CovStructure):
    """One variance (dimension 1): the per-level residual variance of ``het(g)``."""

    name, sas, title = "scalar", "VC", "variance"

    def __init__(self, dim: int = 1, labels=None):
        super().__init__(1, labels)

    @property
    def npar(self) -> int:
        return 1

    def matrix(self, par):
        return np.reshape(np.exp(2 * par[0]), (1, 1)) * np.ones((1, 1))

    def sas_matrix(self, v):
        return np.reshape(v[0], (1, 1)) * np.ones((1, 1))

    def report(self, par, s2):
        return [("Residual", float(s2 * np.exp(2 * float(np.asarray(par, dtype=float)[0]))))]
