"""The profile of each parameter: its deviance minimized over all the other parameters.

One :class:`Profile` per parameter on lme4's scale (random-effect SDs and correlations, σ-scaled;
the residual SD ``sigma``; the fixed effects), built by :func:`build_profiles` from an ML fit.
Constrained minimizations, warm-started from the neighbouring profile point:

* ``sigma`` = s:  dev(θ) = ldL2 + n log(2πs²) + pwrss/s² over θ;
* an SD = s (row j of term t):  σ = s / ‖T_j‖ is eliminated, dev over θ;
* a correlation = ρ:  the term's factor is written diag(s)·chol(R) with R_ab = ρ fixed; σ is
  profiled analytically;
* a fixed effect β_j = b:  pwrss + (b − β̂_j(θ))² / (RXtRX⁻¹)_jj replaces pwrss (the other β are
  profiled analytically), σ analytic, dev over θ.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..deviance import profiled_deviance
from ._newton import fd_hessian, newton_minimize, positive_definite

__all__ = ["BIG", "Profile", "build_profiles"]


BIG = 1e300
NUDGE = 1e-4
ROW_EPS = 1e-10


@dataclass
class Profile:
    """One parameter's constrained deviance x ↦ min dev and its search state.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> sigma.name, round(sigma.estimate, 4), sigma.lower_bound, sigma.is_fixed
    ('sigma', 49.5101, 0.0, False)
    """

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
    transform: Callable | None = None  # the reported value of x (profiles run on another scale)

    def deviance(self, x: float) -> float:
        """The deviance minimized over the other parameters with this one held at ``x`` (cached).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
        >>> sigma = build_profiles(m)[1]
        >>> round(sigma.deviance(sigma.estimate) - m.deviance, 6), round(sigma.deviance(60.0) - m.deviance, 4)
        (0.0, 1.5657)
        """
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
    """The profiles of every parameter of an ML fit, in lme4's order.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> sigma = build_profiles(m)[1]
    >>> [p.name for p in build_profiles(m)]
    ['sd_(Intercept)|Batch', 'sigma', '(Intercept)']
    """
    ws, rd = fit.workspace, fit.random
    n = ws.n
    theta_hat = np.asarray(fit.theta, dtype=float)
    sigma_hat = float(fit.sigma)
    residual = getattr(fit.spec, "residual", None)
    tb = _theta_bounds(fit.spec.par_lower if residual is not None else rd.lower)
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

                nfree = len(free)

                def adjust(x, u, unpack=unpack, nfree=nfree):
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
