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
    """a ↦ ρ ∈ (−1/(d−1), 1), the range where a compound-symmetric matrix is positive definite.

    Examples
    --------
    >>> round(float(cs_correlation(0.0, 3)), 4), round(float(cs_correlation(-50.0, 3)), 4)
    (0.25, -0.5)
    """
    lo = -1.0 / (d - 1) if d > 1 else -1.0
    return lo + (1.0 - lo) * _sigmoid(a)


def cs_unbounded(rho: float, d: int) -> float:
    """The inverse of :func:`cs_correlation`.

    Examples
    --------
    >>> round(cs_unbounded(0.25, 3), 4)
    0.0
    >>> round(float(cs_correlation(cs_unbounded(0.25, 3), 3)), 4)
    0.25
    """
    lo = -1.0 / (d - 1) if d > 1 else -1.0
    t = np.clip((rho - lo) / (1.0 - lo), 1e-6, 1 - 1e-6)
    return float(np.log(t / (1 - t)))


class US(CovStructure):
    """Unstructured: every variance and covariance free (log-Cholesky parameters: the d log
    diagonals of L, then its strict lower triangle row by row).

    Examples
    --------
    >>> s = US(2)
    >>> s.npar, s.sas
    (3, 'UN')
    >>> s.matrix(np.array([0.0, np.log(2.0), 0.5])).round(3).tolist()
    [[1.0, 0.5], [0.5, 4.25]]
    """

    name, sas, title = "us", "UN", "unstructured"

    @property
    def npar(self) -> int:
        """d(d + 1)/2 parameters.

        Examples
        --------
        >>> US(3).npar
        6
        """
        return self.dim * (self.dim + 1) // 2

    def matrix(self, par):
        """L Lᵀ with L the lower-triangular factor of the parameters (complex-safe).

        Examples
        --------
        >>> US(2).matrix(np.array([0.0, 0.0, 1.0])).tolist()
        [[1.0, 1.0], [1.0, 2.0]]
        """
        d = self.dim
        L = np.zeros((d, d), dtype=dtype_of(par))
        L[np.diag_indices(d)] = np.exp(par[:d])
        r, c = np.tril_indices(d, -1)
        L[r, c] = par[d:]
        return L @ L.T

    def sas_matrix(self, v):
        """The matrix from SAS's UN(1,1), UN(2,1), UN(2,2), … values.

        Examples
        --------
        >>> US(2).sas_matrix(np.array([1.0, 0.5, 2.0])).tolist()
        [[1.0, 0.5], [0.5, 2.0]]
        """
        d = self.dim
        S = np.zeros((d, d), dtype=dtype_of(v))
        r, c = np.tril_indices(d)
        order = np.lexsort((c, r))  # UN(1,1), UN(2,1), UN(2,2), ...
        S[r[order], c[order]] = v
        S[c[order], r[order]] = v
        return S

    def report(self, par, s2):
        """SAS's UN(i,j) values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in US(2).report(np.array([0.0, 0.0, 1.0]), 2.0)]
        [('UN(1,1)', 2.0), ('UN(2,1)', 2.0), ('UN(2,2)', 4.0)]
        """
        S = s2 * self.matrix(np.asarray(par, dtype=float))
        return [(f"UN({i + 1},{j + 1})", float(S[i, j])) for i in range(self.dim) for j in range(i + 1)]


class Diag(CovStructure):
    """Independent, one variance per position.

    Examples
    --------
    >>> Diag(2).matrix(np.array([0.0, np.log(2.0)])).round(4).tolist()
    [[1.0, 0.0], [0.0, 4.0]]
    """

    name, sas, title = "diag", "UN(1)", "diagonal (heterogeneous variances)"

    @property
    def npar(self) -> int:
        """One parameter (log SD) per position.

        Examples
        --------
        >>> Diag(3).npar
        3
        """
        return self.dim

    def matrix(self, par):
        """diag(exp(2 par)).

        Examples
        --------
        >>> Diag(2).matrix(np.array([0.0, 0.5])).round(4).tolist()
        [[1.0, 0.0], [0.0, 2.7183]]
        """
        return np.diag(np.exp(2 * np.asarray(par)))

    def sas_matrix(self, v):
        """The matrix from SAS's variances.

        Examples
        --------
        >>> Diag(2).sas_matrix(np.array([1.0, 3.0])).tolist()
        [[1.0, 0.0], [0.0, 3.0]]
        """
        return np.diag(v)

    def report(self, par, s2):
        """Var(position) at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in Diag(2, labels=['a', 'b']).report(np.array([0.0, 0.5]), 2.0)]
        [('Var(a)', 2.0), ('Var(b)', 5.4366)]
        """
        v = s2 * np.exp(2 * np.asarray(par, dtype=float))
        return [(f"Var({self.labels[i]})", float(v[i])) for i in range(self.dim)]


class CS(CovStructure):
    """Compound symmetry: one variance, one correlation.

    Examples
    --------
    >>> s = CS(3)
    >>> s.npar, s.sas
    (2, 'CS')
    >>> s.matrix(np.array([0.0, 0.0])).round(4).tolist()
    [[1.0, 0.25, 0.25], [0.25, 1.0, 0.25], [0.25, 0.25, 1.0]]
    """

    name, sas, title = "cs", "CS", "compound symmetry"

    @property
    def npar(self) -> int:
        """Two parameters (log SD, unconstrained correlation); one when d = 1.

        Examples
        --------
        >>> CS(3).npar, CS(1).npar
        (2, 1)
        """
        return 2 if self.dim > 1 else 1

    def start(self):
        """Unit variance, zero correlation.

        Examples
        --------
        >>> CS(3).start().round(4).tolist()
        [0.0, -0.6931]
        """
        return np.array([0.0, cs_unbounded(0.0, self.dim)])[:self.npar]

    def matrix(self, par):
        """σ² ((1 − ρ) I + ρ J) (complex-safe).

        Examples
        --------
        >>> CS(2).matrix(np.array([0.0, 0.0])).round(4).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        """
        d = self.dim
        s2 = np.exp(2 * par[0])
        if d == 1:
            return np.reshape(s2, (1, 1)) * np.ones((1, 1))
        rho = cs_correlation(par[1], d)
        return s2 * ((1 - rho) * np.eye(d) + rho * np.ones((d, d)))

    def sas_matrix(self, v):
        """The matrix from SAS's (CS, Residual) values.

        Examples
        --------
        >>> CS(2).sas_matrix(np.array([0.5, 1.0])).tolist()
        [[1.5, 0.5], [0.5, 1.5]]
        """
        d = self.dim
        return v[-1] * np.eye(d) + (v[0] if d > 1 else 0.0) * np.ones((d, d))

    def report(self, par, s2):
        """SAS's CS (covariance) and Residual values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in CS(3).report(np.array([0.0, 0.0]), 2.0)]
        [('CS', 0.5), ('Residual', 1.5)]
        """
        par = np.asarray(par, dtype=float)
        v = s2 * np.exp(2 * par[0])
        rho = float(cs_correlation(par[1], self.dim)) if self.dim > 1 else 0.0
        return [("CS", float(v * rho)), ("Residual", float(v * (1 - rho)))]


class CSH(CovStructure):
    """Heterogeneous compound symmetry: d variances, one correlation.

    Examples
    --------
    >>> s = CSH(2)
    >>> s.npar
    3
    >>> s.matrix(np.array([0.0, np.log(2.0), 0.0])).round(4).tolist()
    [[1.0, 0.0], [0.0, 4.0]]
    """

    name, sas, title = "csh", "CSH", "heterogeneous compound symmetry"

    @property
    def npar(self) -> int:
        """d log SDs and one correlation.

        Examples
        --------
        >>> CSH(3).npar
        4
        """
        return self.dim + 1

    def start(self):
        """Unit variances, zero correlation.

        Examples
        --------
        >>> CSH(2).start().round(4).tolist()
        [0.0, 0.0, 0.0]
        """
        return np.append(np.zeros(self.dim), cs_unbounded(0.0, self.dim))

    def matrix(self, par):
        """diag(sd) ((1 − ρ) I + ρ J) diag(sd) (complex-safe).

        Examples
        --------
        >>> CSH(2).matrix(np.array([0.0, np.log(2.0), 0.0])).round(4).tolist()
        [[1.0, 0.0], [0.0, 4.0]]
        """
        d = self.dim
        sd = np.exp(par[:d])
        rho = cs_correlation(par[d], d)
        C = (1 - rho) * np.eye(d) + rho * np.ones((d, d))
        return sd[:, None] * C * sd[None, :]

    def sas_matrix(self, v):
        """The matrix from SAS's variances and the correlation.

        Examples
        --------
        >>> CSH(2).sas_matrix(np.array([1.0, 4.0, 0.5])).tolist()
        [[1.0, 1.0], [1.0, 4.0]]
        """
        d = self.dim
        sd, rho = np.sqrt(v[:d]), v[d]
        return sd[:, None] * ((1 - rho) * np.eye(d) + rho * np.ones((d, d))) * sd[None, :]

    def report(self, par, s2):
        """SAS's Var(i) and CSH (correlation) values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in CSH(2).report(np.array([0.0, 0.0, 0.0]), 2.0)]
        [('Var(1)', 2.0), ('Var(2)', 2.0), ('CSH', 0.0)]
        """
        par = np.asarray(par, dtype=float)
        v = s2 * np.exp(2 * par[:self.dim])
        return [(f"Var({i + 1})", float(v[i])) for i in range(self.dim)] + [
            ("CSH", float(cs_correlation(par[self.dim], self.dim)))]


class Scalar(CovStructure):
    """One variance (dimension 1): the per-level residual variance of ``het(g)``.

    Examples
    --------
    >>> s = Scalar()
    >>> s.dim, s.npar, s.matrix(np.array([np.log(3.0)])).round(4).tolist()
    (1, 1, [[9.0]])
    """

    name, sas, title = "scalar", "VC", "variance"

    def __init__(self, dim: int = 1, labels=None):
        super().__init__(1, labels)

    @property
    def npar(self) -> int:
        """One parameter (the log SD).

        Examples
        --------
        >>> Scalar().npar
        1
        """
        return 1

    def matrix(self, par):
        """[[exp(2 par)]].

        Examples
        --------
        >>> Scalar().matrix(np.array([0.0])).tolist()
        [[1.0]]
        """
        return np.reshape(np.exp(2 * par[0]), (1, 1)) * np.ones((1, 1))

    def sas_matrix(self, v):
        """[[variance]].

        Examples
        --------
        >>> Scalar().sas_matrix(np.array([2.5])).tolist()
        [[2.5]]
        """
        return np.reshape(v[0], (1, 1)) * np.ones((1, 1))

    def report(self, par, s2):
        """The Residual variance at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in Scalar().report(np.array([0.0]), 2.0)]
        [('Residual', 2.0)]
        """
        return [("Residual", float(s2 * np.exp(2 * float(np.asarray(par, dtype=float)[0]))))]
