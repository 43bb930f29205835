"""Factor-analytic and reduced-rank covariance matrices (for random-effect covariances G).

=========  ==================  ====================================================  ===============
name       ASReml / glmmTMB    matrix                                                parameters
=========  ==================  ====================================================  ===============
fa         fa(env, k)          Λ Λᵀ + Ψ, Λ d × k, Ψ = diag(ψ_i) (specific variances)  dk − k(k−1)/2 + d
rr         rr(env, k)          Λ Λᵀ (rank k)                                          dk − k(k−1)/2
=========  ==================  ====================================================  ===============

Λ is stored lower-trapezoidal (Λ_ij = 0 for j > i, ASReml's constraint for k ≥ 2 and glmmTMB's
for rr), column by column; Ψ through log standard deviations, so every parameter is unconstrained.
For rr, [Λ | 0] is itself a lower-triangular factor of G (:meth:`RR.factor`), so a singular G needs
no Cholesky factorization.

Reported loadings (:func:`rotate_loadings`) are rotated to principal axes, Λ* = Λ V with
ΛᵀΛ = V D Vᵀ (D in decreasing order): the columns of Λ* are orthogonal, the first explains the
most genetic variance, and the sign of each column makes its sum positive — the rotation that
ASReml-R users apply to fa fits (Smith, Cullis & Thompson 2001; Cullis et al. 2010's
"rotated loadings"); Λ*Λ*ᵀ = ΛΛᵀ, so G is unchanged.

Examples
--------
>>> import numpy as np
>>> fa = FA(3, 1)
>>> fa.npar
6
>>> G = fa.matrix(np.array([1.0, 2.0, 3.0, 0.0, 0.0, 0.0]))
>>> G.tolist()
[[2.0, 2.0, 3.0], [2.0, 5.0, 6.0], [3.0, 6.0, 10.0]]
"""
from __future__ import annotations

import numpy as np

from .base import CovStructure, dtype_of


def _trapezoid(d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the free loadings (column by column, rows j..d−1 of column j)."""
    rows = np.concatenate([np.arange(j, d) for j in range(k)]) if k else np.zeros(0, int)
    cols = np.concatenate([np.full(d - j, j) for j in range(k)]) if k else np.zeros(0, int)
    return rows, cols


def _start_loadings(d: int, k: int, first: float) -> np.ndarray:
    """Distinct directions: a constant first column, alternating signs after."""
    r, c = _trapezoid(d, k)
    return np.where(c == 0, first, 0.3 * np.where((r - c) % 2 == 0, 1.0, -1.0))


class RR(CovStructure):
    """Reduced rank: G = Λ Λᵀ with k loading columns (glmmTMB's ``rr(expr | g, k)``).

    Examples
    --------
    >>> s = RR(3, 1)
    >>> s.npar, s.sas
    (3, 'RR')
    >>> s.matrix(np.array([1.0, 2.0, 3.0])).tolist()
    [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]]
    """

    name, sas, title = "rr", "RR", "reduced rank"

    def __init__(self, dim: int, rank: int = 1, labels=None):
        super().__init__(dim, labels)
        self.rank = int(rank)
        if not 1 <= self.rank <= self.dim:
            raise ValueError(f"rank {rank} must be between 1 and the dimension {dim}")

    @property
    def nload(self) -> int:
        """Number of free loadings: d k − k(k − 1)/2 (the upper triangle of Λ is zero).

        Examples
        --------
        >>> RR(3, 1).nload, RR(3, 2).nload
        (3, 5)
        """
        return self.dim * self.rank - self.rank * (self.rank - 1) // 2

    @property
    def npar(self) -> int:
        """The free loadings.

        Examples
        --------
        >>> RR(4, 2).npar
        7
        """
        return self.nload

    def loadings(self, par) -> np.ndarray:
        """Λ (d × k) from the parameters (complex-safe).

        Examples
        --------
        >>> RR(3, 2).loadings(np.array([1.0, 2.0, 3.0, 4.0, 5.0])).tolist()
        [[1.0, 0.0], [2.0, 4.0], [3.0, 5.0]]
        """
        L = np.zeros((self.dim, self.rank), dtype=dtype_of(par))
        r, c = _trapezoid(self.dim, self.rank)
        L[r, c] = np.asarray(par)[:self.nload]
        return L

    def start(self) -> np.ndarray:
        """Starting loadings: a constant first column, alternating signs after.

        Examples
        --------
        >>> RR(3, 2).start().tolist()
        [1.0, 1.0, 1.0, 0.3, -0.3]
        """
        return _start_loadings(self.dim, self.rank, 1.0)

    def matrix(self, par):
        """G = Λ Λᵀ (complex-safe).

        Examples
        --------
        >>> RR(2, 1).matrix(np.array([1.0, 2.0])).tolist()
        [[1.0, 2.0], [2.0, 4.0]]
        """
        L = self.loadings(par)
        return L @ L.T

    def factor(self, par):
        """A lower-triangular T with T Tᵀ = G: [Λ | 0] (no factorization, singular G allowed).

        Examples
        --------
        >>> RR(3, 1).factor(np.array([1.0, 2.0, 3.0])).tolist()
        [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
        """
        T = np.zeros((self.dim, self.dim), dtype=dtype_of(par))
        T[:, :self.rank] = self.loadings(par)
        return T

    def par_names(self) -> list[str]:
        """Names ``loading(label,factor)`` of the free loadings.

        Examples
        --------
        >>> RR(2, 1, labels=['E1', 'E2']).par_names()
        ['loading(E1,1)', 'loading(E2,1)']
        """
        r, c = _trapezoid(self.dim, self.rank)
        return [f"loading({self.labels[i]},{j + 1})" for i, j in zip(r, c)]

    def report(self, par, s2):
        """The loadings in the units of the effects (scaled by √``s2``).

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in RR(2, 1, labels=['E1', 'E2']).report(np.array([1.0, 2.0]), 4.0)]
        [('FA1 E1', 2.0), ('FA1 E2', 4.0)]
        """
        L = np.sqrt(s2) * self.loadings(np.asarray(par, dtype=float))
        r, c = _trapezoid(self.dim, self.rank)
        return [(f"FA{j + 1} {self.labels[i]}", float(L[i, j])) for i, j in zip(r, c)]


class FA(RR):
    """Factor analytic: G = Λ Λᵀ + Ψ (ASReml's ``fa(env, k)``).

    Examples
    --------
    >>> s = FA(2, 1)
    >>> s.npar
    4
    >>> s.matrix(np.array([1.0, 2.0, 0.0, 0.0])).tolist()
    [[2.0, 2.0], [2.0, 5.0]]
    """

    name, sas, title = "fa", "FA", "factor analytic"

    @property
    def npar(self) -> int:
        """The free loadings and d log specific SDs.

        Examples
        --------
        >>> FA(3, 1).npar
        6
        """
        return self.nload + self.dim

    def start(self) -> np.ndarray:
        """Starting values: loadings of √0.5 and specific variances 0.5 (unit variances in G).

        Examples
        --------
        >>> FA(2, 1).start().round(4).tolist()
        [0.7071, 0.7071, -0.3466, -0.3466]
        """
        return np.concatenate([_start_loadings(self.dim, self.rank, np.sqrt(0.5)),
                               np.full(self.dim, 0.5 * np.log(0.5))])

    def specific(self, par):
        """Ψ's diagonal (specific variances).

        Examples
        --------
        >>> FA(2, 1).specific(np.array([1.0, 2.0, 0.0, np.log(2.0)])).round(4).tolist()
        [1.0, 4.0]
        """
        return np.exp(2 * np.asarray(par)[self.nload:])

    def matrix(self, par):
        """G = Λ Λᵀ + Ψ (complex-safe).

        Examples
        --------
        >>> FA(2, 1).matrix(np.array([1.0, 1.0, 0.0, 0.0])).tolist()
        [[2.0, 1.0], [1.0, 2.0]]
        """
        L = self.loadings(par)
        return L @ L.T + np.diag(self.specific(par))

    factor = None  # G is positive definite: its Cholesky factor

    def par_names(self) -> list[str]:
        """Names of the loadings, then of the log specific SDs.

        Examples
        --------
        >>> FA(2, 1, labels=['E1', 'E2']).par_names()
        ['loading(E1,1)', 'loading(E2,1)', 'log sd specific(E1)', 'log sd specific(E2)']
        """
        return super().par_names() + [f"log sd specific({x})" for x in self.labels]

    def report(self, par, s2):
        """The loadings (scaled by √``s2``) and the specific variances (scaled by ``s2``).

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in FA(2, 1, labels=['E1', 'E2']).report(np.array([1.0, 2.0, 0.0, 0.0]), 4.0)]
        [('FA1 E1', 2.0), ('FA1 E2', 4.0), ('Var specific E1', 4.0), ('Var specific E2', 4.0)]
        """
        par = np.asarray(par, dtype=float)
        return super().report(par, s2) + [(f"Var specific {x}", float(s2 * v))
                                          for x, v in zip(self.labels, self.specific(par))]


def rotate_loadings(L: np.ndarray) -> np.ndarray:
    """Principal-axes rotation Λ V (ΛᵀΛ = V D Vᵀ, D decreasing), each column's sum made positive
    (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> R = rotate_loadings(L)
    >>> bool(np.allclose(R @ R.T, L @ L.T)), bool(abs(R[:, 0] @ R[:, 1]) < 1e-12)
    (True, True)
    """
    L = np.asarray(L, dtype=float)
    vals, V = np.linalg.eigh(L.T @ L)
    R = L @ V[:, np.argsort(vals)[::-1]]
    sign = np.where(R.sum(axis=0) < 0, -1.0, 1.0)
    return R * sign
