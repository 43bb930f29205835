"""Minimize the profiled deviance over θ within its bounds, and record how it went.

Backends (all from scipy): ``"lbfgsb"`` (L-BFGS-B with central-difference gradients, the default:
fewest deviance evaluations on the reference models), ``"cobyqa"`` and ``"nelder-mead"``.  After the
main run a short derivative-free polish from the optimum (and a check of the boundary for singular
fits) makes sure the optimum is at least as good as lme4's BOBYQA.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize


@dataclass(frozen=True)
class OptSummary:
    """How the optimization went.

    Attributes
    ----------
    method : str
    theta0 : ndarray
        Starting value.
    theta : ndarray
        Optimum.
    fun : float
        Deviance at the optimum.
    nfev : int
        Number of deviance evaluations.
    converged : bool
    message : str
    gradient : ndarray
        Central-difference gradient at the optimum (free directions only).
    seconds : float

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> type(m.optinfo).__name__, m.optinfo.converged
    ('OptSummary', True)
    """

    method: str
    theta0: np.ndarray
    theta: np.ndarray
    fun: float
    nfev: int
    converged: bool
    message: str
    gradient: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0


class _Counted:
    def __init__(self, fun: Callable[[np.ndarray], float]):
        self.fun, self.n = fun, 0
        self.best_x, self.best_f = None, np.inf

    def __call__(self, x: np.ndarray) -> float:
        self.n += 1
        f = float(self.fun(x))
        if not np.isfinite(f):
            f = 1e300
        if f < self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=float)
        return f


def _fd_gradient(f: Callable, x: np.ndarray, lower: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for i in range(len(x)):
        step = h * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = step
        if x[i] - step < lower[i]:
            g[i] = (f(x + e) - f(x)) / step
        else:
            g[i] = (f(x + e) - f(x - e)) / (2 * step)
    return g


def _lbfgsb(f: _Counted, x0: np.ndarray, bounds) -> optimize.OptimizeResult:
    lower = np.array([-np.inf if b[0] is None else b[0] for b in bounds])

    def grad(x):
        return _fd_gradient(f, x, lower)

    return optimize.minimize(f, x0, jac=grad, method="L-BFGS-B", bounds=bounds,
                             options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-7})


def _polish(f: _Counted, x0: np.ndarray, bounds) -> optimize.OptimizeResult:
    return optimize.minimize(f, x0, method="Nelder-Mead", bounds=bounds,
                             options={"xatol": 1e-9, "fatol": 1e-11, "maxfev": 200 * (len(x0) + 1),
                                      "initial_simplex": _simplex(x0, bounds)})


def _simplex(x0: np.ndarray, bounds) -> np.ndarray:
    pts = [x0]
    for i in range(len(x0)):
        x = x0.copy()
        step = 0.01 * max(abs(x0[i]), 0.1)
        x[i] = x0[i] + step if x0[i] + step <= (bounds[i][1] if bounds[i][1] is not None else np.inf) else x0[i] - step
        if bounds[i][0] is not None and x[i] < bounds[i][0]:
            x[i] = bounds[i][0] + step
        pts.append(x)
    return np.array(pts)


def _bobyqa(f: _Counted, x0: np.ndarray, lower: np.ndarray, step: float = 0.75,
            xtol: float = 1e-10) -> optimize.OptimizeResult:
    """Powell's BOBYQA through NLopt (as lme4's default ``nloptwrap`` and MixedModels.jl)."""
    import nlopt

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(np.where(np.isfinite(lower), lower, -np.inf))
    opt.set_min_objective(lambda x, grad: f(np.array(x)))
    opt.set_ftol_rel(1e-12 if xtol <= 1e-10 else 0.0)
    opt.set_ftol_abs(1e-10 if xtol <= 1e-10 else 0.0)
    opt.set_xtol_abs(xtol)
    opt.set_maxeval(100_000)
    opt.set_initial_step(np.maximum(step * np.abs(x0), step if step >= 0.5 else 0.01))
    try:
        x = opt.optimize(x0)
        ok, msg = opt.last_optimize_result() > 0, f"nlopt result {opt.last_optimize_result()}"
    except (nlopt.RoundoffLimited, RuntimeError, ValueError) as exc:
        x, ok, msg = f.best_x, True, f"nlopt: {exc}"
    return optimize.OptimizeResult(x=np.asarray(x), success=ok, message=msg)


def bobyqa(fun: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray, step: float = 0.75,
           method: str = "bobyqa", xtol: float = 1e-10) -> OptSummary:
    """One BOBYQA run (NLopt) from ``x0`` with initial steps ``step`` × |x0| (at least ``step`` when
    ``step`` ≥ 0.5, else 0.01): the GLMM stages, which start near their optimum, use small steps.
    ``xtol``: the absolute tolerance in x (a coarse one when Newton steps follow).

    Examples
    --------
    >>> import numpy as np
    >>> s = bobyqa(lambda t: float((t[0] - 2.0) ** 2 + (t[1] + 1.0) ** 2), np.array([1.0, 0.0]),
    ...            np.array([0.0, -np.inf]))
    >>> s.theta.round(4).tolist(), s.converged
    ([2.0, -1.0], True)
    """
    t0 = time.perf_counter()
    f = _Counted(fun)
    x0 = np.asarray(x0, dtype=float)
    if len(x0) == 0:
        return OptSummary(method, x0, x0, f(x0), 1, True, "no parameters", np.zeros(0), 0.0)
    if len(x0) == 1:  # NLopt's BOBYQA needs two or more variables: Powell's method (Brent line search)
        bounds = [(None if not np.isfinite(lo) else float(lo), None) for lo in lower]
        res = optimize.minimize(f, x0, method="Powell", bounds=bounds,
                                options={"xtol": max(1e-8, xtol), "ftol": 1e-13, "maxfev": 2000})
    else:
        res = _bobyqa(f, x0, np.asarray(lower, dtype=float), step=step, xtol=xtol)
    x = f.best_x if f.best_x is not None else x0
    return OptSummary(method, x0, x, f.best_f, f.n, bool(res.success), str(res.message), np.zeros(len(x0)),
                      time.perf_counter() - t0)


STEP = 1.0  # unit of the variables L-BFGS-B works in (its first step has unit length)


def _lbfgs_analytic(f: _Counted, fg: Callable, x0: np.ndarray, bounds) -> optimize.OptimizeResult:
    """L-BFGS-B on the analytic gradient; evaluations are counted through ``f``'s counter."""

    def both(z):
        f.n += 1
        x = z * STEP
        val, grad = fg(x)
        grad = grad * STEP
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            return 1e300, np.zeros_like(x)
        if val < f.best_f:
            f.best_f, f.best_x = float(val), np.array(x, dtype=float)
        return val, grad

    zbounds = [(None if lo is None else lo / STEP, None if hi is None else hi / STEP) for lo, hi in bounds]
    res = optimize.minimize(both, np.asarray(x0) / STEP, jac=True, method="L-BFGS-B", bounds=zbounds,
                            options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-6, "maxcor": 20})
    res.x = res.x * STEP
    return res


def minimize_deviance(fun: Callable[[np.ndarray], float], theta0: np.ndarray, lower: np.ndarray,
                      method: str = "lbfgsb", fun_and_grad: Callable | None = None,
                      scale: np.ndarray | None = None) -> OptSummary:
    """Minimize over θ; with ``scale`` the optimizer works on φ = θ / scale (badly scaled
    random-effect covariates make θ's elements differ by orders of magnitude).

    Examples
    --------
    >>> import numpy as np
    >>> s = minimize_deviance(lambda t: (t[0] - 2.0) ** 2 + 1.0, np.array([1.0]), np.array([0.0]),
    ...                       scale=np.array([10.0]))
    >>> s.method, round(float(s.theta[0]), 4), round(s.fun, 6), s.converged
    ('lbfgsb', 2.0, 1.0, True)
    """
    if scale is None or np.all(scale == 1.0):
        return _minimize(fun, theta0, lower, method, fun_and_grad)
    scale = np.asarray(scale, dtype=float)
    fg = None if fun_and_grad is None else (lambda phi: _scaled_grad(fun_and_grad, phi, scale))
    s = _minimize(lambda phi: fun(phi * scale), np.asarray(theta0) / scale, np.asarray(lower) / scale, method, fg)
    return OptSummary(s.method, s.theta0 * scale, s.theta * scale, s.fun, s.nfev, s.converged, s.message,
                      s.gradient / scale, s.seconds)


def _scaled_grad(fun_and_grad: Callable, phi: np.ndarray, scale: np.ndarray):
    f, g = fun_and_grad(phi * scale)
    return f, g * scale


def _minimize(fun: Callable[[np.ndarray], float], theta0: np.ndarray, lower: np.ndarray,
              method: str = "lbfgsb", fun_and_grad: Callable | None = None) -> OptSummary:
    """Minimize ``fun`` over θ ≥ lower (elementwise; −inf for unbounded elements).

    Examples
    --------
    >>> s = minimize_deviance(lambda t: (t[0] - 2.0) ** 2 + 1.0, np.array([1.0]), np.array([0.0]))
    >>> round(float(s.theta[0]), 4), s.converged
    (2.0, True)
    """
    t0 = time.perf_counter()
    f = _Counted(fun)
    x0 = np.asarray(theta0, dtype=float)
    if len(x0) == 0:
        fx = f(x0)
        return OptSummary(method, x0, x0, fx, f.n, True, "no covariance parameters", np.zeros(0),
                          time.perf_counter() - t0)
    bounds = [(None if not np.isfinite(lo) else float(lo), None) for lo in lower]
    if method == "lbfgsb":
        res = _lbfgsb(f, x0, bounds)
        res = _polish(f, f.best_x, bounds)
        res = _lbfgsb(f, f.best_x, bounds)
    elif method == "lbfgs":
        if fun_and_grad is None:
            raise ValueError("optimizer 'lbfgs' needs the analytic gradient (fun_and_grad)")
        res = _lbfgs_analytic(f, fun_and_grad, x0, bounds)
        at_bound = np.isfinite(lower) & (f.best_x - lower < 1e-6)
        if not res.success and not at_bound.any():  # e.g. a line search lost in rounding noise
            res = _lbfgs_analytic(f, fun_and_grad, f.best_x, bounds)
            at_bound = np.isfinite(lower) & (f.best_x - lower < 1e-6)
        # θ_i = 0 is a stationary point of the (even) deviance in θ_i, so a gradient method can stop
        # there although the deviance decreases away from it: restart once from just off the bound.
        for _ in range(3):
            at_bound = np.isfinite(lower) & (f.best_x - lower < 1e-6)
            if not at_bound.any():
                break
            before = f.best_f
            start = f.best_x.copy()
            start[at_bound] = lower[at_bound] + 0.2
            res = _lbfgs_analytic(f, fun_and_grad, start, bounds)
            if f.best_f >= before - 1e-10 * max(1.0, abs(before)):
                # no gain along the gradient path: a derivative-free look before accepting the bound
                res = _bobyqa(f, start, lower, step=0.1)
                break
    elif method == "bobyqa":
        res = _bobyqa(f, x0, lower)
        nfev = f.n
        res = _bobyqa(f, f.best_x, lower, step=0.05)  # restart: BOBYQA can stop short near a bound
        res.success = res.success or f.n - nfev < 3 * (len(x0) + 1)
    elif method == "cobyqa":
        res = optimize.minimize(f, x0, method="COBYQA", bounds=bounds,
                                options={"f_target": -np.inf, "final_tr_radius": 1e-10})
    elif method in ("nelder-mead", "neldermead"):
        res = _polish(f, x0, bounds)
    else:
        raise ValueError(f"unknown optimizer {method!r}; use 'lbfgsb', 'cobyqa' or 'nelder-mead'")
    theta = _snap_to_boundary(f, f.best_x, lower)
    g = fun_and_grad(theta)[1] if fun_and_grad is not None else _fd_gradient(f, theta, lower)
    for _ in range(3):
        # A gradient method can end at a bound (where the even deviance is stationary in that θ_i)
        # after passing a better interior point: the best point seen is then no optimum (its
        # gradient is large).  Start again from it, derivative-free when that gains nothing.
        if method != "lbfgs" or _projected_gradient(theta, g, lower) < _grad_tol(f.best_f):
            break
        before = f.best_f
        res = _lbfgs_analytic(f, fun_and_grad, theta, bounds)
        if f.best_f >= before - 1e-10 * max(1.0, abs(before)):
            res = _bobyqa(f, theta, lower, step=0.1)
        theta = _snap_to_boundary(f, f.best_x, lower)
        g = fun_and_grad(theta)[1]
    converged = bool(_projected_gradient(theta, g, lower) < _grad_tol(f.best_f)
                     or (res.success and method != "lbfgs"))
    return OptSummary(method, x0, theta, f.best_f, f.n, converged, str(res.message), g,
                      time.perf_counter() - t0)


GRAD_TOL = 1e-3  # largest |∂deviance/∂θ| accepted at an optimum (free directions) ...


def _grad_tol(deviance: float) -> float:
    """... growing with the deviance beyond 10⁴ (the gradient's rounding grows with the rows)."""
    return GRAD_TOL * max(1.0, abs(deviance) / 1e4)


def _projected_gradient(theta: np.ndarray, g: np.ndarray, lower: np.ndarray) -> float:
    """Largest gradient component that could still lower the deviance within the bounds."""
    free = ~((theta <= lower) & (g > 0))
    return float(np.max(np.abs(g[free]), initial=0.0))


def _snap_to_boundary(f: _Counted, theta: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Set tiny bounded elements to their bound when that is no worse (singular fits)."""
    theta = theta.copy()
    near = np.isfinite(lower) & (theta - lower < 1e-3) & (theta != lower)
    for i in np.flatnonzero(near):
        trial = theta.copy()
        trial[i] = lower[i]
        ft = f(trial)
        if ft <= f.best_f + 1e-10 * max(1.0, abs(f.best_f)):
            theta = trial
            f.best_x, f.best_f = trial, min(ft, f.best_f)
    return theta


# --- Newton steps with an information matrix (engines with ``has_information``; issue #19) -------
FINAL_STEP = 10.0  # a Newton decrement below FINAL_STEP · tol ends with that step on the deviance alone
MODEL_STEP = 1e4   # ... below MODEL_STEP · tol too, when the deviance at that step confirms the model


def minimize_information(fgh: Callable, fun: Callable[[np.ndarray], float], theta0: np.ndarray,
                         lower: np.ndarray, max_iter: int = 40, tol: float = 1e-7) -> OptSummary:
    """Minimize with Newton steps θ ← θ − α H⁻¹g, where ``fgh(θ)`` gives the deviance, its exact
    gradient and an information matrix H (for REML the average information: Gilmour, Thompson &
    Cullis 1995), each evaluation costing about one factorization more than ``fun``.

    The step is shortened to stay inside the bounds (at most 90% of the way to a bound) and halved,
    with ``fun`` only, until the deviance decreases (Armijo); H is shifted to positive definite.
    Converged when the Newton decrement gᵀH⁻¹g/2 is below ``FINAL_STEP`` · ``tol`` ·
    max(1, |deviance|/10⁴) or the step is below 10⁻⁸, after that last step (kept when the deviance
    alone says it is no worse: one evaluation of ``fgh`` fewer, the optimum more exact); or, with
    a decrement below ``MODEL_STEP`` · ``tol`` · max(1, |deviance|/10⁴), when the deviance at the
    full step falls by the decrement so nearly that the gap it leaves, estimated as
    (decrease − decrement)² / decrement, is below ``tol`` · max(1, |deviance|/10⁴), the miss
    itself below 5 % of the decrement (large data sets, where the average information is close to
    the Hessian).  θ on a bound reports not converged, so the
    orchestrator's derivative-free second opinion decides there.  With one parameter only the first evaluation
    uses ``fgh``: the Newton step from it is refined by successive parabolas through deviance
    values (``fun`` costs one factorization; ``fgh`` adds the traces and the dense core's inverse,
    about twice as much again), until the parabola predicts a decrease below the same tolerance.

    Examples
    --------
    >>> fgh = lambda x: (float((x[0] - 2) ** 2), np.array([2 * (x[0] - 2)]), np.array([[2.0]]))
    >>> s = minimize_information(fgh, lambda x: fgh(x)[0], np.array([1.0]), np.array([0.0]))
    >>> round(float(s.theta[0]), 8), s.converged
    (2.0, True)
    """
    t0 = time.perf_counter()
    theta = np.asarray(theta0, dtype=float).copy()
    lower = np.asarray(lower, dtype=float)
    f, g, H = fgh(theta)
    nfev, converged, msg = 1, False, "iteration limit"
    for _ in range(max_iter):
        w, U = np.linalg.eigh((H + H.T) / 2)
        w = np.maximum(w, 1e-8 * max(1.0, float(np.max(np.abs(w)))))
        step = -U @ ((U.T @ g) / w)
        decrement = float(-g @ step) / 2
        room = np.where(step < 0, (theta - lower) / np.maximum(-step, 1e-300), np.inf)
        alpha = min(1.0, 0.9 * float(np.min(room)))
        trial = theta + alpha * step
        if decrement < FINAL_STEP * tol * max(1.0, abs(f) / 1e4) or np.max(np.abs(step)) < 1e-8:
            # the last Newton step (or half of it) is checked on the deviance alone (no gradient at
            # its end): the steps converge superlinearly, so what it leaves is far below the tolerance
            for frac in (1.0, 0.5) if decrement >= 1e-12 * max(1.0, abs(f)) else ():
                ft = fun(theta + frac * alpha * step)
                nfev += 1
                if ft <= f:
                    theta, f = theta + frac * alpha * step, float(ft)
                    break
            converged, msg = True, f"Newton decrement {decrement:.2e}"
            break
        if len(theta) == 1 and trial[0] - lower[0] > 1e-4:
            # one parameter: successive parabolic steps on the deviance alone (a third of the cost
            # of a gradient-and-information evaluation: no traces, no inverse of the dense core)
            return _parabolic(fun, theta0, (theta, f, g), trial, lower, nfev, tol, t0)
        if len(theta) > 1 and alpha == 1.0 and decrement < MODEL_STEP * tol * max(1.0, abs(f) / 1e4):
            # near the optimum: the deviance alone at the full Newton step.  An information matrix
            # off the Hessian by a relative ε misses the decrease by ≈ ε·decrement and leaves a gap
            # to the optimum of ≈ ε²·decrement = miss²/decrement: when that is below the
            # tolerance (and ε below 5 %) the step ends the iterations (one ``fgh`` fewer)
            ft = fun(trial)
            nfev += 1
            miss = (f - ft) - decrement
            if abs(miss) <= 0.05 * decrement and miss ** 2 <= tol * max(1.0, abs(f) / 1e4) * decrement:
                theta, f = trial, float(ft)
                converged, msg = True, f"Newton decrement {decrement:.2e}, met by the deviance"
                break
        out = fgh(trial)
        nfev += 1
        while not out[0] <= f - 1e-4 * alpha * 2 * decrement and alpha > 1e-6:
            alpha /= 2
            trial = theta + alpha * step
            nfev += 1
            if fun(trial) <= f - 1e-4 * alpha * 2 * decrement:
                out = fgh(trial)
                nfev += 1
                break
        if not out[0] <= f:
            msg = "no decrease along the Newton direction"
            break
        theta, (f, g, H) = trial, out
        if np.any(np.isfinite(lower) & (theta - lower < 1e-4) & (g > 0)):
            msg = "a parameter is heading for its bound"   # Newton steps would only creep there
            break
    if converged and np.any(np.isfinite(lower) & (theta - lower < 1e-4)):
        converged, msg = False, msg + "; a parameter is at its bound"
    return OptSummary("ai-newton", np.asarray(theta0, dtype=float), theta, float(f), nfev, converged, msg,
                      np.asarray(g, dtype=float), time.perf_counter() - t0)


def _parabolic(fun: Callable, theta0: np.ndarray, first: tuple, trial: np.ndarray, lower: np.ndarray,
               nfev: int, tol: float, t0: float, max_iter: int = 12) -> OptSummary:
    """One-parameter finish of :func:`minimize_information`: the parabola through the point with
    the exact gradient and the deviance at its Newton step, then through the three best points,
    until its predicted decrease is below the tolerance (Brent-style successive interpolation)."""
    x0, f0, g0 = float(first[0][0]), float(first[1]), float(first[2][0])
    x1 = float(trial[0])
    f1 = float(fun(np.array([x1])))
    nfev += 1
    pts = [(x0, f0), (x1, f1)]
    c = 2.0 * (f1 - f0 - g0 * (x1 - x0)) / (x1 - x0) ** 2
    xb, fb, gb = x0, f0, g0
    if f1 <= f0:
        xb, fb, gb = x1, f1, g0 + c * (x1 - x0)
    ftol = tol * max(1.0, abs(fb) / 1e4)
    converged, msg = False, "iteration limit"
    for _ in range(max_iter):
        if c <= 0:
            msg = "the deviance is not convex here"
            break
        xn = max(xb - gb / c, float(lower[0]) + 0.5 * (xb - float(lower[0])))
        predicted = gb * (xn - xb) + 0.5 * c * (xn - xb) ** 2
        if -predicted < ftol or abs(xn - xb) < 1e-9 * max(1.0, abs(xb)):
            converged, msg = True, f"parabolic step's predicted decrease {-predicted:.2e}"
            break
        fn = fun(np.array([xn]))
        nfev += 1
        pts.append((xn, float(fn)))
        (a, fa), (b, fbb), (d, fd) = sorted(pts, key=lambda p: p[1])[:3] if len(pts) > 2 else \
            [(x0, f0), (x1, f1), (x0, f0)]
        denom = (a - b) * (a - d) * (b - d)
        if denom == 0:
            converged, msg = True, "parabola points coincide"
            break
        # the parabola through the three best points: its curvature and its slope at the best one
        c = 2.0 * (fa * (b - d) - fbb * (a - d) + fd * (a - b)) / denom
        gb = (fa - fbb) / (a - b) + 0.5 * c * (a - b)
        xb, fb = a, fa
    at_bound = xb - float(lower[0]) < 1e-4
    return OptSummary("ai-newton", np.asarray(theta0, dtype=float), np.array([xb]), float(fb), nfev,
                      converged and not at_bound, msg, np.array([gb]), time.perf_counter() - t0)
