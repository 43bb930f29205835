"""Estimates, standard errors and degrees of freedom of linear functions l'β̂, as emmeans does
for ``lmer`` fits.

``ddf`` chooses Var(β̂) and the df of each function:

``"kenward-roger"``  Var(β̂) is pbkrtest's adjusted Φ_A (``vcovAdj``) and the df of l is pbkrtest's
                    ``Lb_ddf(l, Φ, Φ_A)`` with Φ the fit's own Var(β̂) (for an ML fit, Φ_A, P and W
                    come from the REML refit, as in pbkrtest; emmeans does the same).
``"satterthwaite"``  Var(β̂) of the fit and lmerTest's Satterthwaite df of l'β̂ (``calcSatterth``).
``"residual"``       Var(β̂) of the fit and n − p.
``"asymptotic"``     Var(β̂) of the fit and infinite df (z tests).

Unlike emmeans, the df are computed at any number of observations.  A fit without random terms
uses n − p under every method but ``"asymptotic"``.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from ..errors import ModelSpecError

DDF = ("kenward-roger", "satterthwaite", "residual", "asymptotic")
_ALIASES = {"kr": "kenward-roger", "kenwardroger": "kenward-roger", "kenward": "kenward-roger",
            "satt": "satterthwaite", "none": "asymptotic", "inf": "asymptotic", "z": "asymptotic",
            "lme4": "asymptotic"}


def ddf_method(ddf: str) -> str:
    """Canonical name of a df method (raises ModelSpecError naming the bad value).

    Examples
    --------
    >>> ddf_method("KR"), ddf_method("satt"), ddf_method("lme4")
    ('kenward-roger', 'satterthwaite', 'asymptotic')
    """
    d = str(ddf).lower().replace("_", "-").replace(" ", "-")
    d = _ALIASES.get(d, d)
    if d not in DDF:
        raise ModelSpecError(f"ddf {ddf!r} is not supported; use one of {', '.join(DDF)}")
    return d


def lb_ddf(L: np.ndarray, V0: np.ndarray, P: list, W: np.ndarray) -> float:
    """pbkrtest's ``Lb_ddf``: Kenward-Roger df for the hypothesis L β (q = rows of L).

    Parameters
    ----------
    L : ndarray (q, p)
    V0 : ndarray (p, p)
        Unadjusted Var(β̂).
    P, W : list of ndarray (p, p), ndarray (m, m)
        From :func:`mixedpy.inference.kenward_roger.vcov_adjusted`.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> kr = m.kr_adjusted
    >>> round(lb_ddf(np.array([[0.0, 1.0]]), np.asarray(m.solution.vcov), kr.P, kr.W), 4)
    17.0
    """
    from .kenward_roger import kr_ddf
    return kr_ddf(L, V0, P, W)[0]


def fit_vcov(result) -> np.ndarray:
    """Var(β̂) of a fit: the solution's (LMMs) or the result's ``vcov`` (GLMMs: Hessian-based).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> fit_vcov(m).round(2).tolist()
    [[375.72]]
    """
    v = getattr(result.solution, "vcov", None)
    return np.asarray(v if v is not None else result.vcov, dtype=float)


class LinearInference:
    """β̂, Var(β̂) and the df of linear functions of a fit under one df method.

    Functions are given on the fitted (kept) coefficients.

    Examples
    --------
    >>> import mixedpy, numpy as np
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> li = LinearInference(m, "kenward-roger")
    >>> est, se, df = li.summarize(np.array([[1.0, 5.0]]))
    >>> round(float(est[0]), 2), round(float(df[0]), 1)
    (303.74, 17.0)
    """

    def __init__(self, result, ddf: str = "kenward-roger"):
        self.result = result
        self.method = ddf_method(ddf)
        self.beta = np.asarray(result.solution.beta, dtype=float)
        self.mixed = bool(result.random.terms) or getattr(result.spec, "residual", None) is not None
        if getattr(result, "family", None) is not None and self.method != "asymptotic":
            raise ModelSpecError(f"a generalized linear mixed model has asymptotic (z) inference only; "
                                 f"ddf={ddf!r} is for linear mixed models (use ddf='asymptotic')")

    @cached_property
    def _kr(self):
        from .kenward_roger import vcov_adjusted
        return vcov_adjusted(self.result)

    @cached_property
    def _satt(self):
        from .varpar import varpar_info
        return varpar_info(self.result)

    @cached_property
    def V(self) -> np.ndarray:
        """Var(β̂) under the df method: Kenward-Roger's adjusted covariance, else the usual one.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> LinearInference(m, "satterthwaite").V.round(4).tolist()
        [[46.5746, -1.4511], [-1.4511, 2.3895]]
        """
        if self.method == "kenward-roger" and self.mixed:
            return np.asarray(self._kr.PhiA, dtype=float)
        return fit_vcov(self.result)

    def df(self, l: np.ndarray) -> float:
        """df of the single function l'β̂.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> li = LinearInference(m, "satterthwaite")
        >>> round(li.df(np.array([0.0, 1.0])), 4), LinearInference(m, "asymptotic").df(np.array([0.0, 1.0]))
        (17.0, inf)
        """
        l = np.asarray(l, dtype=float).ravel()
        if self.method == "asymptotic":
            return np.inf
        if self.method == "residual" or not self.mixed:
            return float(self.result.nobs - len(self.beta))
        if not np.any(l):
            return np.nan
        if self.method == "kenward-roger":
            kr = self._kr
            return lb_ddf(l[None, :], np.asarray(self.result.solution.vcov), kr.P, kr.W)
        from .satterthwaite import contrast_df
        return float(contrast_df(self._satt, l))

    def summarize(self, L: np.ndarray, dfs: bool = True):
        """(estimates, SEs, df) of the rows of L (kept coefficients).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> est, se, df = LinearInference(m, "satterthwaite").summarize(np.array([[0.0, 1.0]]))
        >>> est.round(4).tolist(), se.round(4).tolist(), df.round(4).tolist()
        ([10.4673], [1.5458], [17.0])
        """
        L = np.atleast_2d(np.asarray(L, dtype=float))
        est = L @ self.beta
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", L, self.V, L), 0.0))
        df = np.array([self.df(l) for l in L]) if dfs else np.full(len(L), np.nan)
        return est, se, df
