"""lme4's profile grid and its spline inversion (``profile.merMod`` + ``confint.thpr``).

lme4 does not solve ζ(x) = ±z for a confidence bound.  It evaluates the profile ζ on a grid that it
builds step by step outward from the estimate, interpolates a natural cubic spline ζ(x) through those
points (``splines::interpSpline``), inverts it (``splines::backSpline``) and reads the bounds off the
inverse.  Where the grid is coarse and the profile bends (correlations near ±1) the interpolated bound
differs from the exact root by more than rounding; reproducing lme4's numbers means reproducing its
grid and its spline, which this module does:

* the grid (``profile_grid``): start at the estimate x̂ (ζ = 0) and a shifted point (x̂·1.01, or
  10⁻³ when x̂ = 0, or x̂ + δ·SE for a fixed effect); from the last two points, step so that ζ grows by
  δ = c/8 (linear extrapolation, capped at 10× the last step, 10⁻⁶ when ζ did not grow), clamp to the
  parameter's bounds and stop once |ζ| > c = √χ²₀.₉₉(number of parameters), at a bound, or after
  100 points; the same downward from the estimate;
* the forward spline: the natural cubic interpolant of ζ on x (its value and slope at each point);
* the backward spline (R's ``backSpline.npolySpline``): a piecewise cubic x(ζ) with knots at the ζ
  values, slope 1/ζ'(x) at each knot, the end pieces quadratic, clamped to straight lines where they
  would bend backward;
* the bound: the backward spline at ζ = ∓z_{1−α/2}; outside the grid's ζ range (a bound reached
  before the cutoff) it is the parameter's bound, as in lme4.

Glossary: x parameter value, ζ(x) = sign(x − x̂)·√(dev(x) − dev(x̂)) signed root deviance, c grid
cutoff, δ grid step in ζ, z normal quantile of the interval.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import interpolate, stats

from ..errors import SplineError

MAXPTS = 100
MAXMULT = 10.0
MINSTEP = 1e-6
ALPHAMAX = 0.01
DELTA_CUTOFF = 1 / 8


def grid_cutoff(n_parameters: int) -> tuple[float, float]:
    """lme4's cutoff c = √χ²_{1−0.01}(n_parameters) and step δ = c / 8.

    Examples
    --------
    >>> [round(v, 4) for v in grid_cutoff(3)]
    [3.3682, 0.421]
    """
    cutoff = float(np.sqrt(stats.chi2.ppf(1 - ALPHAMAX, n_parameters)))
    return cutoff, cutoff * DELTA_CUTOFF


def _next_value(rows: list, delta: float, lower: float, upper: float) -> float:
    """lme4's ``nextpar``: the value whose ζ should be δ beyond the last point's."""
    (p1, z1), (p2, z2) = rows[-2], rows[-1]
    num, denom = p2 - p1, z2 - z1
    if not np.isfinite(denom) or denom == 0:
        step = MINSTEP
    else:
        step = delta * num / denom
        if step < 0:
            step = MINSTEP
        elif abs(step) > MAXMULT * abs(num):
            step = MAXMULT * abs(num)
    return min(upper, max(lower, p2 + np.sign(num) * step))


def _fill(rows: list, zeta: Callable[[float], float], cutoff: float, delta: float,
          lower: float, upper: float) -> list:
    """lme4's ``fillmat``: extend the two starting rows until |ζ| passes the cutoff or a bound."""
    while (len(rows) < MAXPTS and lower < rows[-1][0] < upper
           and (not np.isfinite(rows[-1][1]) or abs(rows[-1][1]) <= cutoff)):
        x = _next_value(rows, delta, lower, upper)
        rows.append((x, zeta(x)))
    return rows


def profile_grid(zeta: Callable[[float], float], estimate: float, shift: float, lower: float,
                 upper: float, cutoff: float, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """The profile points lme4 evaluates: sorted distinct x with finite ζ(x).

    Examples
    --------
    >>> x, z = profile_grid(lambda x: x - 1.0, 1.0, 1.01, -np.inf, np.inf, *grid_cutoff(2))
    >>> bool(np.all(np.diff(x) > 0)), bool(z.min() < -3.03 and z.max() > 3.03)
    (True, True)
    """
    z_shift = zeta(shift)
    up = _fill([(estimate, 0.0), (shift, z_shift)], zeta, cutoff, delta, lower, upper)
    down = ([(shift, z_shift), (estimate, 0.0)] if estimate > lower else [])
    if down:
        down = _fill(down, zeta, cutoff, delta, lower, upper)
    points = {x: z for x, z in up + down if np.isfinite(z)}
    x = np.array(sorted(points))
    return x, np.array([points[v] for v in x])


def _forward_slopes(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Slopes ζ'(x) at the points of the natural cubic interpolating spline (``interpSpline``)."""
    if len(x) < 4:
        raise SplineError(f"{len(x)} profile points; a cubic spline needs at least 4")
    return interpolate.CubicSpline(x, z, bc_type="natural").derivative()(x)


def back_spline(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's ``backSpline`` of the natural spline ζ(x) through (x, z): knots (the z values) and the
    rows (x, x', x''/2, x'''/6) of the inverse's cubic pieces, one per knot.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    >>> knots, coef = back_spline(x, 2 * x - 4)  # the inverse of z = 2x - 4 is x = (z + 4)/2
    >>> knots.tolist(), coef.shape, round(eval_poly_spline(knots, coef, 1.0), 4)
    ([-4.0, -2.0, 0.0, 2.0, 4.0], (5, 4), 2.5)
    """
    slopes = _forward_slopes(x, z)
    nk = len(x)
    kdiff, adiff = np.diff(x), np.diff(z)
    if np.all(adiff < 0):
        reverse = True
    elif np.all(adiff > 0):
        reverse = False
    else:
        raise SplineError("profile is not monotone")
    b = np.zeros((nk, 4))
    b[:, 0] = x
    b[:, 1] = 1.0 / slopes
    for i in range(nk - 1):  # each piece matches the end value and the end slope of its interval
        a = np.array([[adiff[i] ** 2, adiff[i] ** 3], [2 * adiff[i], 3 * adiff[i] ** 2]])
        rhs = np.array([kdiff[i] - adiff[i] * b[i, 1], b[i + 1, 1] - b[i, 1]])
        b[i, 2:4] = np.linalg.solve(a, rhs)
    b[nk - 1, 1:4] = np.nan
    if nk > 2:  # quadratic end pieces
        b[0, 3] = b[nk - 2, 3] = 0.0
        b[0, 1:3] = np.linalg.solve(np.array([[adiff[0], adiff[0] ** 2], [1.0, 2 * adiff[0]]]),
                                    np.array([kdiff[0], 1.0 / slopes[1]]))
        b[nk - 2, 2] = (kdiff[-1] - adiff[-1] * b[nk - 2, 1]) / adiff[-1] ** 2
    if b[0, 2] > 0:  # an end piece that would bend back becomes a straight line
        b[0, 2], b[0, 1] = 0.0, kdiff[0] / adiff[0]
    if b[nk - 2, 2] < 0:
        b[nk - 2, 2], b[nk - 2, 1] = 0.0, kdiff[-1] / adiff[-1]
    return (z[::-1], b[::-1]) if reverse else (z, b)


def eval_poly_spline(knots: np.ndarray, coef: np.ndarray, at: float) -> float:
    """R's ``predict.polySpline`` at one point: the piece of the interval (k_i, k_{i+1}] (the first
    closed on the left) holding ``at``; NaN outside the knots.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    >>> knots, coef = back_spline(x, 2 * x - 4)
    >>> round(eval_poly_spline(knots, coef, -1.0), 4), eval_poly_spline(knots, coef, 10.0)
    (1.5, nan)
    """
    if not knots[0] <= at <= knots[-1]:
        return float("nan")
    i = 0 if at == knots[0] else int(np.searchsorted(knots, at, side="left")) - 1
    d = at - knots[i]
    c = coef[i]
    return float(c[0] + d * (c[1] + d * (c[2] + d * c[3])))


def spline_bounds(x: np.ndarray, z: np.ndarray, zcrit: float, lower: float,
                  upper: float) -> tuple[float, float]:
    """The interval lme4's ``confint.thpr`` reads off the profile points (x, z).

    Raises
    ------
    SplineError
        Where lme4's spline fails (fewer than 4 points, a non-monotone profile).

    Examples
    --------
    >>> x = np.linspace(-3, 3, 13)
    >>> [round(v, 6) for v in spline_bounds(x, 2 * x, 1.959964, -np.inf, np.inf)]
    [-0.979982, 0.979982]
    """
    knots, coef = back_spline(x, z)
    lo = eval_poly_spline(knots, coef, -zcrit)
    hi = eval_poly_spline(knots, coef, zcrit)
    return (lower if np.isnan(lo) else lo), (upper if np.isnan(hi) else hi)
