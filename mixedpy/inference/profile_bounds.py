"""The ends of one parameter's profile interval, where ζ(x) = ±z.

ζ(x) = sign(x − x̂)·√(dev(x) − dev̂) of a :class:`~.profile_objectives.Profile`.  lme4's ends
(:func:`lme4_interval`): the profile evaluated on lme4's grid and read off the inverse of its spline
(:mod:`.profile_spline`); the exact ends (:func:`exact_interval`): lme4's grid walked first, then the
roots of ζ(x) = ±z found by :func:`profile_end` (bracketing by linear extrapolation of ζ, then
Illinois regula falsi).  A bound a parameter cannot cross (an SD at 0, a correlation at ±1) is the
end when ζ stays inside the cutoff there, as in lme4.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..errors import ProfileWarning, SplineError
from .profile_objectives import BIG, Profile
from .profile_spline import profile_grid, spline_bounds

__all__ = ["exact_interval", "grid_shift", "lme4_interval", "profile_end", "zeta", "zeta_function"]


def zeta(pr: Profile, x: float, dev0: float) -> float:
    """ζ(x) = sign(x − x̂) √(dev(x) − ``dev0``) of a profile.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.inference.profile_objectives import build_profiles
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> float(zeta(sigma, sigma.estimate, m.deviance)), round(float(zeta(sigma, 60.0, m.deviance)), 4)
    (0.0, 1.2513)
    """
    d = pr.deviance(x)
    return np.sign(x - pr.estimate) * np.sqrt(max(d - dev0, 0.0))


def _initial_step(pr: Profile) -> float:
    if pr.name.startswith("cor_"):
        return 0.1
    if pr.name.startswith("sd_") and pr.estimate <= 0:
        return 0.1 * pr.scale
    return 1.9 * pr.scale if pr.lower_bound == -np.inf else 0.15 * max(pr.estimate, 1e-8)


def profile_end(pr: Profile, dev0: float, target: float, direction: int,
                xtol: float = 1e-9, ztol: float = 2e-4) -> float:
    """The x beyond the estimate in ``direction`` where ζ(x) = ``target`` (or the bound, or ±inf).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.inference.profile_objectives import build_profiles
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> round(float(profile_end(sigma, m.deviance, 1.959964, +1)), 3)
    67.658
    """
    bound = pr.lower_bound if direction < 0 else pr.upper_bound
    x0 = pr.estimate
    if x0 == bound:
        return bound
    h = _initial_step(pr)
    xa, za = x0, 0.0
    xb = x0 + direction * h
    for _ in range(60):  # bracket the target, stepping by linear extrapolation of ζ
        if np.isfinite(bound) and (xb - bound) * direction >= 0:
            xb = bound
        zb = zeta(pr, xb, dev0)
        if abs(zb) >= abs(target):
            break
        if xb == bound:
            return bound
        slope = (zb - za) / (xb - xa) if xb != xa else 0.0
        step = (target - zb) / slope * 1.05 if slope * direction > 0 else 2 * abs(xb - x0)
        step = min(max(abs(step), abs(xb - x0) * 0.1), 4 * abs(xb - x0) + h)
        xa, za = xb, zb
        xb = xb + direction * step
    else:
        return direction * np.inf
    # Illinois regula falsi on ζ − target between xa (inside) and xb (outside)
    fa, fb = za - target, zb - target
    side = 0
    for _ in range(100):
        xc = xb - fb * (xb - xa) / (fb - fa) if fb != fa else 0.5 * (xa + xb)
        if not (min(xa, xb) < xc < max(xa, xb)):
            xc = 0.5 * (xa + xb)
        fc = zeta(pr, xc, dev0) - target
        if abs(fc) < ztol or abs(xb - xa) < xtol * max(1.0, abs(xc)):
            return xc
        if fc * fb < 0:
            xa, fa = xb, fb
            side = 0
        else:
            if side == 1:
                fa /= 2
            side = 1
        xb, fb = xc, fc
    return xc


def zeta_function(pr: Profile, dev0: float) -> Callable[[float], float]:
    """ζ(x), NaN where the constrained minimization failed (lme4 drops those points).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.inference.profile_objectives import build_profiles
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> z = zeta_function(sigma, m.deviance)
    >>> round(z(60.0), 4)
    1.2513
    """
    def zeta(x: float) -> float:
        d = pr.deviance(x)
        return float("nan") if d >= BIG / 10 else float(np.sign(x - pr.estimate) * np.sqrt(max(d - dev0, 0.0)))
    return zeta


def grid_shift(pr: Profile, delta: float) -> float:
    """lme4's first step off the estimate: 1 % of a variance parameter (10⁻³ at 0), δ SEs of a
    fixed effect.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.inference.profile_objectives import build_profiles
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> round(grid_shift(sigma, 0.42), 4)
    50.0052
    """
    if pr.is_fixed:
        return pr.estimate + delta * pr.scale
    return 1e-3 if pr.estimate == 0 else pr.estimate * 1.01


def lme4_interval(pr: Profile, dev0: float, z: float, cutoff: float, delta: float) -> tuple[float, float]:
    """lme4's bounds for one parameter: its profile grid and spline (see :mod:`.profile_spline`).
    Where lme4's spline fails (a non-monotone profile, which lme4 reports as NA or interpolates
    linearly with a warning) the exact roots are returned instead, with a ProfileWarning.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.inference.profile_objectives import build_profiles
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> from mixedpy.inference.profile_spline import grid_cutoff
    >>> [round(float(v), 3) for v in lme4_interval(sigma, m.deviance, 1.959964, *grid_cutoff(3))]
    [38.23, 67.658]
    """
    x, zs = profile_grid(zeta_function(pr, dev0), pr.estimate, grid_shift(pr, delta),
                         pr.lower_bound, pr.upper_bound, cutoff, delta)
    try:
        return spline_bounds(x, zs, z, pr.lower_bound, pr.upper_bound)
    except SplineError as err:
        warnings.warn(f"profile of {pr.name}: {err}; lme4 gives NA or a linear interpolation here, "
                      "mixedpy the exact roots of the profile", ProfileWarning, stacklevel=4)
        return profile_end(pr, dev0, -z, -1), profile_end(pr, dev0, z, +1)


def exact_interval(pr: Profile, dev0: float, z: float, cutoff: float, delta: float) -> tuple[float, float]:
    """The exact roots of ζ(x) = ±z.  lme4's grid is walked first: each of its points starts from
    its neighbour's solution, so the root search starts next to the right branch of the profile
    (started cold far from the estimate, the inner minimization can land in a local minimum at a
    variance of 0).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.inference.profile_objectives import build_profiles
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> from mixedpy.inference.profile_spline import grid_cutoff
    >>> [round(float(v), 3) for v in exact_interval(sigma, m.deviance, 1.959964, *grid_cutoff(3))]
    [38.23, 67.658]
    """
    profile_grid(zeta_function(pr, dev0), pr.estimate, grid_shift(pr, delta), pr.lower_bound,
                 pr.upper_bound, cutoff, delta)
    return profile_end(pr, dev0, -z, -1), profile_end(pr, dev0, z, +1)
