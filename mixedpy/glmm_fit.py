"""Estimation of a generalized linear mixed model, in glmer's two stages::

    stage 1 (nAGQ = 0):  minimize over θ the Laplace deviance with (u, β) both from the PIRLS
    stage 2 (nAGQ ≥ 1):  from there, minimize over (θ, β) the Laplace (nAGQ = 1) or adaptive
                         Gauss-Hermite (nAGQ > 1) deviance, u from the PIRLS at each (θ, β)

Stage 1 uses BOBYQA (NLopt) as glmer (to a coarse tolerance when stage 2 follows).  Stage 2 starts
close to its optimum, so it takes Newton steps (β in units of its stage-1 standard errors) on the
analytic gradient of :mod:`mixedpy.laplace_gradient` (canonical links, dense or blocked engine) with
Hessians from its central differences, or else on finite-difference gradients and Hessians; where
they fail (an indefinite Hessian, a variance at its bound) BOBYQA runs first and Newton steps polish
its optimum.  The final Hessian gives glmer's ``use.hessian`` standard errors.  A fit the optimizer does
not report converged warns (:class:`~mixedpy.errors.ConvergenceWarning`).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ConvergenceWarning, ModelSpecError
from .laplace_gradient import has_analytic_gradient, laplace_gradient
from .model.spec import ModelSpec
from .optimize import OptSummary, bobyqa
from .pirls import PirlsWorkspace


@dataclass(frozen=True)
class GlmmEstimates:
    """What the GLMM estimator hands to the result.

    Attributes
    ----------
    opt : OptSummary
        The last stage (its ``theta`` is the optimized vector: θ, or (θ, β) for nAGQ ≥ 1).
    stage1 : OptSummary
        The nAGQ = 0 stage.
    theta, beta, u, b : ndarray
        Estimates and conditional modes (u spherical, b = Λu).
    objective : float
        −2 log-likelihood at the optimum (Laplace or quadrature).
    pdev : float
        Σ deviance residuals + ‖û‖² at the optimum.
    ldL2 : float
        log det(ΛᵀZᵀWZΛ + I) at the optimum.
    vcov_rx : ndarray
        (RXᵀRX)⁻¹ at the optimum (glmer's vcov with ``use.hessian = FALSE``).
    hessian : ndarray or None
        Hessian of the deviance in (θ, β) at the optimum, by central differences (nAGQ ≥ 1).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                mixedpy.datasets.load("cbpp"), family="binomial")
    >>> est = optimize_glmm(s, workspace_for_glmm(s))
    >>> round(est.objective, 4)
    184.0526
    """

    opt: OptSummary
    stage1: OptSummary
    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    objective: float
    pdev: float
    ldL2: float
    vcov_rx: np.ndarray
    hessian: np.ndarray | None = None


def workspace_for_glmm(spec: ModelSpec) -> PirlsWorkspace:
    """The PIRLS workspace of a GLMM specification.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                mixedpy.datasets.load("cbpp"), family="binomial")
    >>> type(workspace_for_glmm(s)).__name__
    'PirlsWorkspace'
    """
    if not spec.random.terms:
        raise ModelSpecError("a generalized mixed model needs at least one random term; without one it is "
                             "a GLM (use statsmodels' GLM)")
    if spec.structures is not None and any(st.kind != "iid" for st in spec.structures):
        from .pirls_latent import LatentPirlsWorkspace  # relmat terms: the latent design
        return LatentPirlsWorkspace(spec.fixed.X, spec.fixed.y, spec.random, spec.structures, spec.family,
                                    spec.prior_weights, spec.offset, spec.nagq)
    return PirlsWorkspace(spec.fixed.X, spec.fixed.y, spec.random, spec.family, spec.prior_weights,
                          spec.offset, spec.nagq)


def _snap(fun, x: np.ndarray, fx: float, nth: int, lower: np.ndarray) -> tuple[np.ndarray, float]:
    """Set tiny bounded θ elements to 0 when that is no worse (singular fits, as lme4's boundary)."""
    for i in np.flatnonzero((np.arange(len(x)) < nth) & np.isfinite(lower) & (x - lower < 1e-3) & (x != lower)):
        trial = x.copy()
        trial[i] = lower[i]
        ft = fun(trial)
        if ft <= fx + 1e-10 * max(1.0, abs(fx)):
            x, fx = trial, ft
    return x, fx


def newton_polish(fun, x: np.ndarray, fx: float, lower: np.ndarray, max_steps: int = 3,
                  tol: float = 1e-5, grad=None) -> tuple[np.ndarray, float, np.ndarray | None, int, bool, np.ndarray]:
    """Newton steps on finite-difference gradients and Hessian (the deviance is smooth): from a
    derivative-free optimum, or from a nearby point (the nAGQ = 0 optimum).  Coordinates at their
    lower bound with a gradient pushing outward stay there.  Returns (x, f(x), the Hessian near x or
    None, steps taken, whether the last Newton step was below ``tol``, the last gradient).  With
    ``grad`` (an analytic gradient) the Hessians are central differences of it (2 d gradients instead
    of 2 d² deviances).

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda x: float((x[0] - 1) ** 2 + 2 * (x[1] + 0.5) ** 2 + 0.1 * x[0] ** 4)
    >>> x, fx, H, k, ok, g = newton_polish(f, np.array([0.9, -0.45]), f(np.array([0.9, -0.45])), np.array([0.0, -np.inf]))
    >>> x.round(6).tolist(), ok
    ([0.868838, -0.5], True)
    """
    from .hessian import fd_gradient, fd_hessian, hessian_from_gradient

    def hessian(at):
        if grad is not None:
            return hessian_from_gradient(grad, at, step=1e-3)
        return fd_hessian(fun, at, step=5e-3, richardson=False, lower=lower)

    if grad is not None:
        H, g, at, rough = hessian(x), grad(x), x.copy(), False
        fd_gradient = lambda f, z, lo: grad(z)
    else:
        # the Hessian's axis points give a first gradient for free (rougher: it only starts the steps)
        (H, g), at = fd_hessian(fun, x, step=5e-3, richardson=False, lower=lower, with_gradient=True), x.copy()
        rough = True
    steps, converged = 0, False
    for _ in range(max_steps + 2):
        moved = np.max(np.abs(x - at))
        if moved > 1.0 or (steps in (3, 6) and moved > 1e-3):  # far, or slow: a fresh Hessian
            H, at = hessian(x), x.copy()
        if not rough:
            g = fd_gradient(fun, x, lower)
        free = ~((x <= lower) & (g > 0))
        if not free.any():
            converged = True
            break
        Hf = H[np.ix_(free, free)]
        try:
            np.linalg.cholesky(Hf)
        except np.linalg.LinAlgError:
            break
        d = np.zeros_like(x)
        d[free] = -np.linalg.solve(Hf, g[free])
        if np.max(np.abs(d)) < tol or (rough and np.max(np.abs(d)) < 1e-3):
            if rough:  # decide on an accurate gradient
                rough = False
                continue
            converged = True
            break
        rough = False
        if steps == max_steps:
            break
        t = 1.0
        while t > 1e-3:
            trial = np.maximum(x + t * d, lower)
            ft = fun(trial)
            if ft <= fx:
                x, fx, steps = trial, ft, steps + 1
                break
            t /= 4
        else:
            break
    if np.max(np.abs(x - at)) > 1e-3:  # the standard errors come from this Hessian
        H = hessian(x)
    return x, fx, H, steps, converged, g


def optimize_glmm(spec: ModelSpec, ws: PirlsWorkspace, *, start: np.ndarray | None = None) -> GlmmEstimates:
    """Both stages (see the module docstring); ``start``: θ, or (θ, β), to start from.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                mixedpy.datasets.load("cbpp"), family="binomial", nAGQ=0)
    >>> est = optimize_glmm(s, workspace_for_glmm(s))
    >>> est.opt.method, est.theta.round(3).tolist()
    ('bobyqa (nAGQ = 0)', [0.642])
    """
    random, nth = spec.random, spec.random.ntheta
    th_lower = random.lower.astype(float)
    theta0 = random.theta0.astype(float).copy()
    beta_start = None
    if start is not None:
        start = np.asarray(start, dtype=float)
        if start.shape not in ((nth,), (nth + ws.p,)):
            raise ModelSpecError(f"start must have {nth} (θ) or {nth + ws.p} (θ, β) elements, got {start.shape}")
        theta0 = start[:nth].copy()
        beta_start = start[nth:] if len(start) > nth else None
    f0 = lambda th: ws.deviance(th)
    # stage 1 to a coarse tolerance when stage 2's Newton steps follow (they take the last digits)
    s1 = bobyqa(f0, theta0, th_lower, step=0.75, method="bobyqa (nAGQ = 0)",
                xtol=1e-10 if spec.nagq == 0 else 1e-3)
    th1, fx1 = _snap(f0, s1.theta, s1.fun, nth, th_lower)
    st = ws.pirls(th1, None)
    beta1 = st["beta"].copy()
    stage1 = OptSummary(s1.method, s1.theta0, th1, fx1, s1.nfev, s1.converged, s1.message, s1.gradient, s1.seconds)
    hess = None
    if spec.nagq == 0:
        opt, theta, beta = stage1, th1, beta1
        objective = fx1
    else:
        # β in units of its stage-1 standard errors, so that BOBYQA's trust region is well shaped
        try:
            se = np.sqrt(np.diag(np.linalg.inv(ws.rx(th1, beta1))))
        except np.linalg.LinAlgError:
            se = np.ones(ws.p)
        sc = np.concatenate([np.ones(nth), np.where(np.isfinite(se) & (se > 0), se, 1.0)])
        b0 = beta1 if beta_start is None else beta_start
        x0 = np.concatenate([th1, b0]) / sc
        lower = np.concatenate([th_lower, np.full(ws.p, -np.inf)])
        count = [0]

        def fun(x):
            count[0] += 1
            return ws.deviance(x * sc)
        name = f"bobyqa ({'Laplace' if spec.nagq == 1 else f'nAGQ = {spec.nagq}'})"
        # Newton from the stage-1 optimum (close to this one); BOBYQA first where that fails
        t0 = time.perf_counter()
        grad = None
        if has_analytic_gradient(ws):
            def grad(x):
                count[0] += 1
                return laplace_gradient(ws, x * sc)[1] * sc
        x, fx, hess, steps, ok, g = newton_polish(fun, x0, fun(x0), lower, max_steps=8, grad=grad)
        s2 = OptSummary(name.replace("bobyqa", "Newton"), x0, x, fx, 0, ok, "Newton steps from the nAGQ = 0 optimum",
                        np.zeros(len(x)), 0.0)
        if not ok or np.any(x[:nth][th_lower == 0] < 1e-3):
            s2 = bobyqa(fun, x0, lower, step=0.1, method=name)
            x, fx = _snap(fun, s2.theta, s2.fun, nth, lower)
            x, fx, hess, steps, _, g = newton_polish(fun, x, fx, lower, grad=grad)
        params = x * sc
        hess = hess / np.outer(sc, sc) if hess is not None else None
        label = s2.method if s2.method.startswith("Newton") else s2.method + " + Newton"
        opt = OptSummary(f"{label} ({steps} Newton step{'s' if steps != 1 else ''})", x0 * sc, params, fx,
                         count[0], bool(s2.converged or steps > 0), s2.message, g / sc, time.perf_counter() - t0)
        theta, beta, objective = params[:nth], params[nth:], fx
    if not opt.converged:
        warnings.warn(f"the optimizer ({opt.method}) did not report convergence after {opt.nfev} deviance "
                      f"evaluations ({opt.message})", ConvergenceWarning, stacklevel=4)
    st = ws.pirls(theta, None if spec.nagq == 0 else beta)
    beta = st["beta"].copy()
    vcov_rx = np.linalg.inv(ws.rx(theta, beta)) if ws.p else np.zeros((0, 0))
    st = ws.pirls(theta, beta)
    u = st["u"].copy()
    pdev = float(np.sum(spec.family.dev_resids(ws.y, st["mu"], ws.wt)) + u @ u)
    return GlmmEstimates(opt=opt, stage1=stage1, theta=np.asarray(theta, float).copy(), beta=beta, u=u,
                         b=ws.blups(theta, u), objective=float(objective), pdev=pdev,
                         ldL2=float(st["ldL2"]), vcov_rx=vcov_rx, hessian=hess)
