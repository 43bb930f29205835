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

Constrained minimizations, warm-started from the neighbouring profile point:

* ``sigma`` = s:  dev(θ) = ldL2 + n log(2πs²) + pwrss/s² over θ;
* an SD = s (row j of term t):  σ = s / ‖T_j‖ is eliminated, dev over θ;
* a correlation = ρ:  the term's factor is written diag(s)·chol(R) with R_ab = ρ fixed; σ is
  profiled analytically;
* a fixed effect β_j = b:  pwrss + (b − β̂_j(θ))² / (RXtRX⁻¹)_jj replaces pwrss (the other β are
  profiled analytically), σ analytic, dev over θ.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import ModelSpecError, ProfileWarning
from ..model.deviance import profiled_deviance
from ..threads import workspace_limit
from ._newton import fd_hessian, newton_minimize, positive_definite
from .profile_spline import SplineError, grid_cutoff, profile_grid, spline_bounds


BIG = 1e300
NUDGE = 1e-4
ROW_EPS = 1e-10


@dataclass
class Profile:
    """One parameter's constrained deviance x ↦ min dev and its search state."""

    name: str
    estimate: float
    lower_bound: float
    upper_bound: float
    objective: Callable  # (x, u) -> deviance
    u0: np.ndarray
    u_bounds: list
    scale: float
    cache: dict = field(default_factory=dict)
    hessian: np.ndarray | None = None
    adjust: Callable | None = None  # (x, u) -> a feasible start for x
    is_fixed: bool = False  # a fixed effect (else a variance parameter)

    def deviance(self, x: float) -> float:
        if x in self.cache:
            return self.cache[x][0]
        starts = [self._predict(x), self.u0] if self.cache else [self.u0]
        if self.adjust is not None:
            starts = [self.adjust(x, u) for u in starts]
        best_val, best_u = np.inf, self.u0
        for u in starts:
            val, uopt = self._minimize(x, u)
            if val < best_val:
                best_val, best_u = val, uopt
            if best_val < BIG / 10:
                break
        away = self._off_the_bound(best_u)
        if away is not None:  # θ = 0 is stationary (the deviance is even in θ): maybe a saddle
            if self.adjust is not None:
                away = self.adjust(x, away)
            val, uopt = self._minimize(x, away)
            if val < best_val - 1e-10 * max(1.0, abs(best_val)):
                best_val, best_u = val, uopt
        self.cache[x] = (best_val, best_u)
        return best_val

    def _off_the_bound(self, u: np.ndarray) -> np.ndarray | None:
        """A start with the elements at (or next to) a lower bound moved well inside, or None.

        A warm-started variance parameter at 0 stays there: the gradient vanishes at θ = 0, so a
        local method cannot tell a minimum from the saddle it becomes once the profiled parameter
        has moved on (Rabbit: ζ −2.646 at θ = 0, −2.591 at θ = 0.19)."""
        lo = np.array([-np.inf if b[0] is None else b[0] for b in self.u_bounds])
        near = np.isfinite(lo) & (np.asarray(u) - lo < 1e-3)
        if len(u) == 0 or not near.any():
            return None
        positive = np.abs(self.u0[np.isfinite(lo) & ~near & (self.u0 > 1e-3)])
        step = 0.2 * (float(np.median(positive)) if len(positive) else 1.0)
        out = np.array(u, dtype=float)
        out[near] = lo[near] + step
        return out

    def _predict(self, x: float) -> np.ndarray:
        """Warm start: the solution at the nearest profile point, linearly extrapolated from the
        two nearest on the same side of the estimate."""
        side = [v for v in self.cache if (v - self.estimate) * (x - self.estimate) > 0
                and self.cache[v][0] < BIG / 10]
        near = sorted(side or self.cache, key=lambda v: abs(v - x))
        u1 = self.cache[near[0]][1]
        if len(near) >= 2 and near[0] != near[1]:
            u2 = self.cache[near[1]][1]
            w = (x - near[0]) / (near[0] - near[1])
            if abs(w) <= 2:
                return u1 + w * (u1 - u2)
        return u1

    def _minimize(self, x: float, u: np.ndarray):
        if len(u) == 0:
            return float(self.objective(x, u)), u
        u = np.array(u, dtype=float)
        lo = np.array([-np.inf if b[0] is None else b[0] for b in self.u_bounds])
        hi = np.array([np.inf if b[1] is None else b[1] for b in self.u_bounds])
        nudge = np.isfinite(lo) & (u < lo + NUDGE)  # a zero gradient at the bound: start inside
        u[nudge] = np.minimum(lo[nudge] + NUDGE, hi[nudge])
        f = (lambda v: self.objective(x, v))
        if self.hessian is None:
            h = 1e-4 * np.maximum(np.abs(u), 1e-1)
            Hc = fd_hessian(f, np.clip(u, lo + h, hi - h), h)
            self.hessian = positive_definite(Hc) if np.all(np.isfinite(Hc)) else np.eye(len(u))
        val, uopt, ok, self.hessian = newton_minimize(f, u, lo, hi, self.hessian)
        if not ok:
            res = optimize.minimize(f, uopt, method="L-BFGS-B", bounds=self.u_bounds,
                                    options={"ftol": 1e-12, "gtol": 1e-7, "maxiter": 400})
            if res.fun < val:
                val, uopt = float(res.fun), np.asarray(res.x)
        return float(val), np.asarray(uopt)


def _safe(fn: Callable) -> Callable:
    def wrapped(*a):
        try:
            v = float(fn(*a))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            return BIG
        return v if np.isfinite(v) else BIG
    return wrapped


def _relative_sd_cor(T: np.ndarray):
    cov = T @ T.T
    s = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        R = cov / np.outer(s, s)
    R[~np.isfinite(R)] = 0.0
    np.fill_diagonal(R, 1.0)
    return s, R


def _semidefinite_cholesky(R: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Lower-triangular L with L Lᵀ = R for a positive semidefinite correlation matrix, also at a
    correlation of ±1 (a zero pivot gets a zero column), where lme4 still evaluates the profile."""
    k = len(R)
    L = np.zeros_like(R, dtype=float)
    for j in range(k):
        d = R[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol:
            raise ValueError("correlation matrix is not positive semidefinite")
        if d <= tol:
            rest = R[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]
            if np.any(np.abs(rest) > 1e-8):
                raise ValueError("correlation matrix is not positive semidefinite")
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (R[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def _term_factor(s: np.ndarray, R: np.ndarray) -> np.ndarray:
    return s[:, None] * _semidefinite_cholesky(R)


def _theta_bounds(lower: np.ndarray) -> list:
    return [(0.0 if np.isfinite(lo) else None, None) for lo in lower]


def _theta_put(theta: np.ndarray, term, T: np.ndarray) -> np.ndarray:
    r, c = term.tril()
    out = theta.copy()
    out[term.theta_offset:term.theta_offset + term.ntheta] = T[r, c]
    return out


def build_profiles(fit) -> list[Profile]:
    """The profiles of every parameter of an ML fit, in lme4's order."""
    ws, rd = fit.workspace, fit.random
    n = ws.n
    theta_hat = np.asarray(fit.theta, dtype=float)
    sigma_hat = float(fit.sigma)
    tb = _theta_bounds(rd.lower)
    profiles = []

    def ml_dev_sigma(theta, s):
        return ws.parts(theta).deviance_at(s * s, reml=False)

    for term in rd.terms:
        T_hat = term.T(theta_hat)
        s_hat, R_hat = _relative_sd_cor(T_hat)
        r_idx, c_idx = term.tril()
        for (a, b) in zip(r_idx, c_idx):
            if a == b:
                j = a

                def obj(x, u, term=term, j=j):
                    T = term.T(u)
                    nrm = float(np.linalg.norm(T[j]))
                    if x == 0:
                        return BIG if nrm > 0 else ws.deviance(u, reml=False)
                    if nrm == 0:
                        return BIG
                    return ml_dev_sigma(u, x / nrm)

                def obj0(x, u, term=term, j=j, obj=obj):
                    if x == 0:  # the SD at its bound: zero the row, σ profiled
                        T = term.T(u)
                        T[j] = 0.0
                        return ws.deviance(_theta_put(u, term, T), reml=False)
                    return obj(x, u)

                def adjust(x, u, term=term, j=j):
                    T = term.T(u)
                    nrm = float(np.linalg.norm(T[j]))
                    want = max(x / sigma_hat, ROW_EPS)
                    if nrm > 0:
                        T[j] *= want / nrm
                    else:
                        T[j, j] = want
                    return _theta_put(u, term, T)

                sb = list(tb)
                sb[term.theta_offset + list(zip(r_idx, c_idx)).index((j, j))] = (ROW_EPS, None)
                profiles.append(Profile(
                    name=f"sd_{term.columns[j]}|{term.group}", estimate=sigma_hat * s_hat[j],
                    lower_bound=0.0, upper_bound=np.inf, objective=_safe(obj0), u0=theta_hat,
                    u_bounds=sb, scale=sigma_hat, adjust=adjust))
            else:
                i_row, i_col = a, b  # correlation of columns a (row) and b

                free = [(p, q) for p in range(term.k) for q in range(p) if (p, q) != (i_row, i_col)]
                others = np.ones(len(theta_hat), dtype=bool)
                others[term.theta_offset:term.theta_offset + term.ntheta] = False
                k = term.k

                def unpack(x, u, term=term, free=free, others=others, k=k, ir=i_row, ic=i_col):
                    th = np.zeros(len(theta_hat))
                    no = int(others.sum())
                    th[others] = u[:no]
                    s = u[no:no + k]
                    R = np.eye(k)
                    for (p, q), v in zip(free, u[no + k:]):
                        R[p, q] = R[q, p] = v
                    R[ir, ic] = R[ic, ir] = x
                    if abs(x) == 1:  # column ir is ±column ic: its other correlations follow ic's
                        for m in range(k):
                            if m not in (ir, ic):
                                R[ir, m] = R[m, ir] = x * R[ic, m]
                    if k > 2 and np.min(np.linalg.eigvalsh(R)) < -1e-12:
                        raise ValueError("not positive definite")
                    return _theta_put(th, term, _term_factor(s, R))

                def obj(x, u, unpack=unpack):
                    return ws.deviance(unpack(x, u), reml=False)

                def adjust(x, u, unpack=unpack, nfree=len(free)):
                    """A start whose correlation matrix is valid with this ρ: the other
                    correlations shrunk toward 0 as far as needed (all 0 is valid for |ρ| ≤ 1)."""
                    if nfree == 0:
                        return u
                    for t in (1.0, 0.9, 0.75, 0.5, 0.25, 0.0):
                        v = np.array(u, dtype=float)
                        v[len(v) - nfree:] *= t
                        try:
                            unpack(x, v)
                            return v
                        except (ValueError, np.linalg.LinAlgError):
                            continue
                    return u

                u0 = np.concatenate([theta_hat[others], s_hat, [R_hat[p, q] for p, q in free]])
                ub = [tb[i] for i in np.flatnonzero(others)] + [(0.0, None)] * k + [(-1.0, 1.0)] * len(free)
                profiles.append(Profile(
                    name=f"cor_{term.columns[i_row]}.{term.columns[i_col]}|{term.group}",
                    estimate=float(R_hat[i_row, i_col]), lower_bound=-1.0, upper_bound=1.0,
                    objective=_safe(obj), u0=u0, u_bounds=ub, scale=1.0,
                    adjust=adjust if k > 2 else None))

    profiles.append(Profile(name="sigma", estimate=sigma_hat, lower_bound=0.0, upper_bound=np.inf,
                            objective=_safe(lambda x, u: ml_dev_sigma(u, x) if x > 0 else BIG),
                            u0=theta_hat, u_bounds=tb, scale=sigma_hat))

    beta_hat = np.asarray(fit.solution.beta)
    se = np.sqrt(np.diag(np.asarray(fit.solution.vcov)))
    for j, name in enumerate(fit.fixed.names):
        def obj(x, u, j=j):
            P = ws.parts(u)
            Vjj = float(np.linalg.inv(P.RXtRX)[j, j])
            r2 = P.pwrss + (x - P.beta[j]) ** 2 / Vjj
            return profiled_deviance(P.ldL2, 0.0, r2, n, 0, reml=False)
        profiles.append(Profile(name=name, estimate=float(beta_hat[j]), lower_bound=-np.inf,
                                upper_bound=np.inf, objective=_safe(obj), u0=theta_hat, u_bounds=tb,
                                scale=float(se[j]), is_fixed=True))
    return profiles


def _zeta(pr: Profile, x: float, dev0: float) -> float:
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
    """The x beyond the estimate in ``direction`` where ζ(x) = ``target`` (or the bound, or ±inf)."""
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
        zb = _zeta(pr, xb, dev0)
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
        fc = _zeta(pr, xc, dev0) - target
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


def _zeta_function(pr: Profile, dev0: float) -> Callable[[float], float]:
    """ζ(x), NaN where the constrained minimization failed (lme4 drops those points)."""
    def zeta(x: float) -> float:
        d = pr.deviance(x)
        return float("nan") if d >= BIG / 10 else float(np.sign(x - pr.estimate) * np.sqrt(max(d - dev0, 0.0)))
    return zeta


def _grid_shift(pr: Profile, delta: float) -> float:
    """lme4's first step off the estimate: 1 % of a variance parameter (10⁻³ at 0), δ SEs of a
    fixed effect."""
    if pr.is_fixed:
        return pr.estimate + delta * pr.scale
    return 1e-3 if pr.estimate == 0 else pr.estimate * 1.01


def lme4_interval(pr: Profile, dev0: float, z: float, cutoff: float, delta: float) -> tuple[float, float]:
    """lme4's bounds for one parameter: its profile grid and spline (see :mod:`.profile_spline`).
    Where lme4's spline fails (a non-monotone profile, which lme4 reports as NA or interpolates
    linearly with a warning) the exact roots are returned instead, with a ProfileWarning."""
    x, zs = profile_grid(_zeta_function(pr, dev0), pr.estimate, _grid_shift(pr, delta),
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
    variance of 0)."""
    profile_grid(_zeta_function(pr, dev0), pr.estimate, _grid_shift(pr, delta), pr.lower_bound,
                 pr.upper_bound, cutoff, delta)
    return profile_end(pr, dev0, -z, -1), profile_end(pr, dev0, z, +1)


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
    fit = ml_fit(result)
    ws = fit.workspace
    dev0 = float(ws.deviance(np.asarray(fit.theta, dtype=float), reml=False))
    z = float(stats.norm.ppf(0.5 + level / 2))
    profiles = build_profiles(fit)
    cutoff, delta = grid_cutoff(len(profiles))
    rows = {}
    with workspace_limit(ws):
        for pr in profiles:
            if (which == "theta_" and pr.is_fixed) or (which == "beta_" and not pr.is_fixed):
                continue
            if exact:
                rows[pr.name] = exact_interval(pr, dev0, z, cutoff, delta)
            else:
                rows[pr.name] = lme4_interval(pr, dev0, z, cutoff, delta)
    ws.parts(np.asarray(fit.theta, dtype=float))
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])
    out.index.name = "parameter"
    return out
