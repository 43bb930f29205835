"""Satterthwaite's denominator degrees of freedom (lmerTest's ``contest1D`` and ``contestMD``).

For a contrast l, Var(l'β̂) = l'Vl and its gradient in varpar is g_i = l'(∂V/∂varpar_i)l, so
``df = 2 (l'Vl)² / (g'Ag)`` with A the asymptotic covariance of varpar.  A q-row hypothesis L is
rotated to the eigenvectors of L V L' (lmerTest's method); the q independent t statistics give
``F = Σ t²_m / q`` and their df ν_m are combined into the F's df.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .varpar import VarparInfo, varpar_info


@dataclass(frozen=True)
class FTest:
    """An F test of L β = rhs.

    Attributes
    ----------
    F : float
    num_df : int
    den_df : float
    sigma : float
        Residual SD (sum of squares = F σ² num_df, as lmerTest).

    Examples
    --------
    >>> t = FTest(F=4.0, num_df=2, den_df=10.0, sigma=3.0)
    >>> t.mean_sq, t.sum_sq
    (36.0, 72.0)
    """

    F: float
    num_df: float
    den_df: float
    sigma: float

    @property
    def mean_sq(self) -> float:
        """Mean square of the hypothesis, F σ² (lmerTest's ``Mean Sq``).

        Examples
        --------
        >>> FTest(F=4.0, num_df=2, den_df=10.0, sigma=3.0).mean_sq
        36.0
        """
        return self.F * self.sigma ** 2

    @property
    def sum_sq(self) -> float:
        """Sum of squares of the hypothesis, F σ² num_df (lmerTest's ``Sum Sq``).

        Examples
        --------
        >>> FTest(F=4.0, num_df=2, den_df=10.0, sigma=3.0).sum_sq
        72.0
        """
        return self.mean_sq * self.num_df


def contrast_df(info: VarparInfo, l: np.ndarray) -> float:
    """Satterthwaite df of the single contrast l'β̂: 2 (l'Vl)² / (g'Ag).

    Examples
    --------
    >>> import numpy as np
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> round(contrast_df(m.varpar_info, np.array([0.0, 1.0])), 4)
    17.0
    """
    var = float(l @ info.vcov_beta @ l)
    g = np.einsum("a,iab,b->i", l, info.jac, l)
    denom = float(g @ info.vcov_varpar @ g)
    return 2.0 * var ** 2 / denom if denom > 0 else np.inf


def coefficient_df(result) -> np.ndarray:
    """Satterthwaite df of each fixed-effect coefficient (the df column of lmerTest's summary).

    Parameters
    ----------
    result : LmmResult

    Returns
    -------
    ndarray (p,)

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> [round(float(d), 1) for d in coefficient_df(m)]
    [17.0, 17.0]
    """
    if not result.random.terms and not result.spec.nphi:
        return np.full(result.workspace.p, float(result.nobs - result.workspace.p))
    info = varpar_info(result)
    return np.array([contrast_df(info, e) for e in np.eye(result.workspace.p)])


def f_statistic_df(nu: np.ndarray, tol: float = 1e-8) -> float:
    """Denominator df of an F built from q independent t statistics with df ν (lmerTest).

    Examples
    --------
    >>> import numpy as np
    >>> f_statistic_df(np.array([10.0, 10.0])), round(f_statistic_df(np.array([5.0, 20.0])), 4)
    (10.0, 7.1429)
    """
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - len(nu))


def _rhs_beta(beta: np.ndarray, L: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return beta - np.linalg.pinv(L) @ rhs if np.any(rhs != 0) else beta


def satterthwaite_test(result, L: np.ndarray, rhs=0.0, eps: float = np.sqrt(np.finfo(float).eps)) -> FTest:
    """F test of L β = rhs with Satterthwaite's df (lmerTest's ``contestMD``).

    Parameters
    ----------
    result : LmmResult
    L : ndarray (q, p)
    rhs : float or ndarray (q,)

    Returns
    -------
    FTest

    Examples
    --------
    >>> import mixedpy, numpy as np
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> t = satterthwaite_test(m, np.array([[0.0, 1.0]]))
    >>> round(t.F, 3), round(t.den_df, 1)
    (45.853, 17.0)
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
    sigma = float(result.sigma)
    if L.shape[0] == 0:
        return FTest(np.nan, 0, np.nan, sigma)
    info = varpar_info(result)
    beta = _rhs_beta(np.asarray(result.solution.beta), L, rhs)
    if L.shape[0] == 1:
        l = L[0]
        t2 = float(l @ beta) ** 2 / float(l @ info.vcov_beta @ l)
        return FTest(t2, 1, contrast_df(info, l), sigma)
    VL = L @ info.vcov_beta @ L.T
    d, P = np.linalg.eigh((VL + VL.T) / 2)
    d, P = d[::-1], P[:, ::-1]
    q = int(np.sum(d > max(eps * d[0], 0.0)))
    if q == 0:
        return FTest(np.nan, 0, np.nan, sigma)
    PtL = (P.T @ L)[:q]
    t2 = (PtL @ beta) ** 2 / d[:q]
    if q == 1:
        return FTest(float(t2[0]), 1, contrast_df(info, PtL[0]), sigma)
    nu = np.array([contrast_df(info, PtL[m]) for m in range(q)])
    return FTest(float(np.mean(t2)), q, f_statistic_df(nu), sigma)
