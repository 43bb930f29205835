"""Profile-likelihood confidence intervals, as lme4's ``confint(m, method = "profile")``.

The ML deviance (a REML fit is refitted with ML) is profiled for each parameter on lme4's scale:
random-effect SDs ``sd_<term>|<group>`` and correlations ``cor_<term2>.<term1>|<group>`` (σ-scaled,
i.e. on the data scale), the residual SD ``sigma`` and the fixed effects.  For a value x of one
parameter the deviance is minimized over all the others; with ζ(x) = sign(x − x̂)·√(dev(x) − dev̂)
the interval is {x : |ζ(x)| ≤ z_{1−α/2}}.  By default the ends are lme4's: read off the inverse of
the spline through lme4's own grid of profile points (:mod:`.profile_spline`), which is how lme4
gets them; ``exact=True`` finds the roots of the profile itself by a secant/bisection search.  A
bound a parameter cannot cross (an SD at 0, a correlation at ±1) is the end when ζ stays inside the
cutoff there, as in lme4.

The profiles are built in :mod:`.profile_objectives` (the constrained minimizations, one per
parameter) and their ends found in :mod:`.profile_bounds`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecError
from ..threads import workspace_limit
from .profile_bounds import exact_interval, grid_shift, lme4_interval, profile_end, zeta, zeta_function
from .profile_objectives import Profile, build_profiles
from .profile_params import glmm_profiles, params_profiles, residual_profiles
from .profile_spline import grid_cutoff

__all__ = ["Profile", "build_profiles", "exact_interval", "lme4_interval", "profile_end",
           "profile_intervals"]

# their names here before the split (tests/test_profile_spline.py imports them)
_grid_shift, _zeta, _zeta_function = grid_shift, zeta, zeta_function


def profile_intervals(result, level: float = 0.95, which: str = "all", exact: bool = False) -> pd.DataFrame:
    """Profile-likelihood intervals of every parameter (lme4's names and order).

    Parameters
    ----------
    result : LmmResult
    level : float
    which : {"all", "theta_", "beta_"}
        All parameters, the variance parameters only, or the fixed effects only.
    exact : bool
        False (default): lme4's numbers, from its profile grid and the inverse of the spline through
        it.  True: the exact roots of ζ(x) = ±z, found by root search on the profile itself.

    Returns
    -------
    pandas.DataFrame
        Columns ``lower``, ``upper``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ci = profile_intervals(m)
    >>> ci.round(1).loc["sigma"].tolist()
    [38.2, 67.7]
    """
    from .lrt import ml_fit

    if which not in ("all", "theta_", "beta_"):
        raise ModelSpecError(f"which must be 'all', 'theta_' or 'beta_', got {which!r}")
    if getattr(result, "family", None) is not None:  # a GLMM: its own (Laplace / AGQ) deviance in (θ, β)
        return _intervals(glmm_profiles(result), result.neg2loglik, level, which, exact=True)
    fit = ml_fit(result)
    ws = fit.workspace
    dev0 = float(ws.deviance(np.asarray(fit.theta, dtype=float), reml=False))
    if fit.spec.parameters.structured:  # over the structures' own parameters
        profiles = params_profiles(fit)
    else:
        profiles = build_profiles(fit)
        residual = getattr(fit.spec, "residual", None)
        if residual is not None and residual.structure is not None:  # after sigma, before the fixed effects
            at = next((i for i, pr in enumerate(profiles) if pr.is_fixed), len(profiles))
            profiles[at:at] = residual_profiles(fit)
    with workspace_limit(ws):
        out = _intervals(profiles, dev0, level, which, exact)
    ws.parts(np.asarray(fit.theta, dtype=float))
    return out


def _intervals(profiles: list, dev0: float, level: float, which: str, exact: bool) -> pd.DataFrame:
    """The interval of each profile (exact roots, or lme4's grid and spline) as a table."""
    z = float(stats.norm.ppf(0.5 + level / 2))
    cutoff, delta = grid_cutoff(len(profiles))
    rows = {}
    for pr in profiles:
        if (which == "theta_" and pr.is_fixed) or (which == "beta_" and not pr.is_fixed):
            continue
        if exact or pr.transform is not None:  # profiles on another scale: exact roots
            lo, hi = exact_interval(pr, dev0, z, cutoff, delta)
        else:
            lo, hi = lme4_interval(pr, dev0, z, cutoff, delta)
        if pr.transform is not None:
            lo, hi = sorted(pr.transform(v) if np.isfinite(v) else np.nan for v in (lo, hi))
        rows[pr.name] = (lo, hi)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])
    out.index.name = "parameter"
    return out
