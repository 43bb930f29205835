"""Confidence intervals: Wald (fixed effects), profile likelihood (all parameters), bootstrap.

* ``wald``: estimate ∓ z_{1−α/2} SE for the fixed effects (normal quantiles, as lme4), and for the
  residual covariance parameters of ``residual=`` fits (:mod:`.residual_intervals`);
* ``profile``: lme4's ``confint(m, method = "profile", oldNames = FALSE)`` (see :mod:`.profile`);
* ``bootstrap``: parametric bootstrap percentile intervals (see :mod:`.bootstrap`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecError

METHODS = ("wald", "profile", "bootstrap")


def wald_intervals(result, level: float = 0.95) -> pd.DataFrame:
    """Wald intervals of the fixed effects with normal quantiles (lme4's ``method = "Wald"``).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> wald_intervals(m).round(3).values.tolist()
    [[238.029, 264.781], [7.438, 13.497]]
    """
    z = stats.norm.ppf(0.5 + level / 2)
    from .linfct import fit_vcov
    est = np.asarray(result.solution.beta)
    se = np.sqrt(np.diag(fit_vcov(result)))
    out = pd.DataFrame({"lower": est - z * se, "upper": est + z * se}, index=list(result.fixed.names))
    rd = getattr(result.spec, "residual", None)
    if rd is not None and rd.structure is not None and getattr(result.estimates, "params", None) is None:
        # the residual covariance parameters, named as in residual_parameters (delta method)
        from .residual_intervals import residual_wald
        out = pd.concat([residual_wald(result, level)[["lower", "upper"]], out])
    out.index.name = "parameter"
    return out


def confint(result, method: str = "wald", level: float = 0.95, **kwargs) -> pd.DataFrame:
    """Confidence intervals of the model's parameters.

    Parameters
    ----------
    result : LmmResult
    method : {"wald", "profile", "bootstrap"}
    level : float
        Coverage, e.g. 0.95.
    **kwargs
        ``bootstrap``: ``nsim``, ``seed``, ``n_jobs``, ``progress``; ``profile``: ``which``
        (``"all"``, ``"theta_"`` or ``"beta_"``) and ``exact`` (False: lme4's grid-and-spline
        bounds; True: the exact roots of the profile).

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
        ``sigma``, coefficient names), columns ``lower`` and ``upper``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> m.confint().round(2).loc["Days"].tolist()
    [7.44, 13.5]
    """
    if not 0 < level < 1:
        raise ModelSpecError(f"level must be between 0 and 1, got {level!r}")
    meth = str(method).lower()
    if meth == "wald":
        return wald_intervals(result, level)
    if meth == "profile":
        from .profile import profile_intervals
        return profile_intervals(result, level, **kwargs)
    if meth in ("bootstrap", "boot"):
        from .bootstrap import bootstrap_intervals
        return bootstrap_intervals(result, level, **kwargs)
    raise ModelSpecError(f"confint method {method!r} is not supported; use one of {', '.join(METHODS)}")
