"""The orchestrator: a model specification in, a frozen result out — the same stages and the same
checks for every model and every estimator.

    spec → workspace_for(spec) → estimate (optimize θ | known | ANOVA | Gibbs) → solve_at
         → checks (convergence second opinion, singular fit) → LmmResult

Inference refits through :func:`fit_model` on a changed spec (``result.refit(...)``), so a refit
keeps the relationship matrices, known variances, optimizer, engine and thread setting.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Mapping

import numpy as np

from .errors import ConvergenceWarning, ModelSpecError, SingularFitWarning
from .estimates import Estimates
from .model.spec import ModelSpec
from .model.workspace import workspace_for
from .optimize import OptSummary, minimize_deviance, minimize_information
from .results import LmmResult
from .solution import solve_at
from .threads import blas_limit, workspace_limit
from .warm_start import starting_theta


def fit_model(spec: ModelSpec, *, start: np.ndarray | None = None, fixed: Mapping | None = None,
              options=None) -> LmmResult:
    """Estimate a specified model and return its result.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`mixedpy.model.spec.model_spec` (or a result's ``spec``, changed).
    start : ndarray, optional
        Starting θ (REML/ML).
    fixed : dict, optional
        ``{position in θ: value}``: θ elements held at a value while the others are optimized
        (REML/ML).
    options : GibbsOptions, optional
        Options of the Gibbs sampler (method "bayes").

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> round(fit_model(spec).reml_criterion, 4)
    319.6543
    """
    if spec.is_glmm:
        if fixed:
            raise ModelSpecError("fixed= (θ elements held at values) is not available for generalized mixed "
                                 "models; profile them with the workspace's deviance over (θ, β)")
        return _fit_glmm(spec, start=start)
    ws = workspace_for(spec)
    ws.n_threads = spec.n_threads
    if spec.method in ("reml", "ml"):
        est = optimize_theta(spec, ws, start=start, fixed=fixed)
    elif spec.method == "known":
        est = known_variances(spec, ws)
    elif spec.method == "anova":
        from .variance.anova import estimate_anova
        est = estimate_anova(spec, ws)
    else:
        from .variance.bayes import estimate_bayes
        est = estimate_bayes(spec, ws, options)
    result = LmmResult(spec=spec, workspace=ws, estimates=est, refitter=fit_model)
    if spec.method in ("reml", "ml") and result.random.terms and result.is_singular:
        warnings.warn("boundary (singular) fit: a random-effect variance is estimated as 0 (or a "
                      "correlation as ±1); consider simplifying the random-effects structure",
                      SingularFitWarning, stacklevel=3)
    return result


# --- generalized linear mixed models (issue #18) -----------------------------------------------
def _fit_glmm(spec: ModelSpec, *, start: np.ndarray | None = None):
    """glmer's stages (:mod:`mixedpy.glmm_fit`) → :class:`~mixedpy.glmm_results.GlmmResult`."""
    from .glmm_fit import optimize_glmm, workspace_for_glmm
    from .glmm_results import GlmmResult
    ws = workspace_for_glmm(spec)
    with blas_limit(large=False):  # small dense blocks per PIRLS step: threads only add wake-up cost
        est = optimize_glmm(spec, ws, start=start)
    result = GlmmResult(spec=spec, workspace=ws, estimates=est, refitter=fit_model)
    if result.is_singular:
        warnings.warn("boundary (singular) fit: a random-effect variance is estimated as 0 (or a "
                      "correlation as ±1); consider simplifying the random-effects structure",
                      SingularFitWarning, stacklevel=4)
    return result


# --- REML / ML ---------------------------------------------------------------------------------
def optimize_theta(spec: ModelSpec, ws, *, start: np.ndarray | None = None,
                   fixed: Mapping | None = None) -> Estimates:
    """Minimize the profiled deviance over θ (analytic gradient where the engine has one,
    derivative-free otherwise); a second opinion when the optimizer reports no convergence.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.model.workspace import workspace_for
    >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> est = optimize_theta(spec, workspace_for(spec))
    >>> est.opt.converged, round(est.opt.fun, 4)
    (True, 319.6543)
    """
    reml = spec.reml
    pmap = spec.parameters  # structured random terms: optimize their ψ, the engine sees θ(ψ)
    obj = pmap.objective(ws) if pmap.structured else ws
    with workspace_limit(ws):
        scale = spec.par_scale
        theta0 = _start(spec, ws, start, scale)
        fun, fg, lower, x0, expand, sc = _problem(obj, reml, theta0, spec.par_lower, scale, fixed)
        method = spec.optimizer
        if fg is None and method in ("lbfgs", "lbfgsb"):
            method = "bobyqa"
        # --- engines with an information matrix (AI-REML Newton steps; issue #19) ---
        if getattr(obj, "has_information", False) and not fixed and spec.optimizer in ("lbfgs", "lbfgsb"):
            own = getattr(ws, "starting_params", None) if start is None else None
            x_ai = own() if own is not None else None  # multi-trait AI-REML: a start from moments (#15)
            opt = minimize_information(lambda th: ws.deviance_gradient_information(th, reml), fun,
                                       x0 if x_ai is None else x_ai, lower)
            if not opt.converged and own is not None and len(x0):
                # ... and, failing, the derivative-free path from the usual start (issue #15)
                other = minimize_deviance(fun, x0, lower, "bobyqa", fun_and_grad=fg, scale=sc)
                opt = other if other.fun < opt.fun else opt
        # --- end issue #19 ---
        else:
            opt = minimize_deviance(fun, x0, lower, method, fun_and_grad=fg, scale=sc)
        if not opt.converged and len(x0):
            opt = _second_opinion(fun, opt, lower, sc)
        params = expand(opt.theta)
        to_theta = pmap.theta if pmap.structured else (lambda x: x)
        opt = OptSummary(opt.method, to_theta(expand(opt.theta0)), to_theta(params), opt.fun, opt.nfev,
                         opt.converged, opt.message, opt.gradient, opt.seconds)
        sol = solve_at(ws, opt.theta, reml=reml)
    return Estimates(opt=opt, solution=sol, params=params if pmap.structured else None)


def _start(spec: ModelSpec, ws, start, scale: np.ndarray) -> np.ndarray:
    random = spec.random
    if start is not None:
        start = np.asarray(start, dtype=float)
        if start.shape != spec.par_start.shape:
            raise ModelSpecError(f"start must have {len(spec.par_start)} elements (θ{', φ' if spec.nphi else ''}), "
                                 f"got {start.shape}")
        return start
    if spec.residual is not None or spec.parameters.structured:
        return spec.par_start * scale
    if hasattr(ws, "augmented") and random.terms:
        theta0 = starting_theta(spec.frame, ws, spec.reml)
        if theta0 is not random.theta0:
            return theta0
    return random.theta0 * scale if hasattr(ws, "augmented") else random.theta0.copy()


def _problem(ws, reml: bool, theta0: np.ndarray, lower: np.ndarray, scale: np.ndarray, fixed):
    """The objective over the free θ elements (all of them unless ``fixed``)."""
    fg_full = (lambda th: ws.deviance_and_gradient(th, reml)) if ws.has_gradient else None
    if not fixed:
        return (lambda th: ws.deviance(th, reml)), fg_full, lower, theta0, (lambda x: x), scale
    full = theta0.copy()
    for i, v in dict(fixed).items():
        if not 0 <= int(i) < len(full):
            raise ModelSpecError(f"fixed names θ element {i}; θ has {len(full)} elements")
        full[int(i)] = float(v)
    free = np.setdiff1d(np.arange(len(full)), [int(i) for i in fixed])

    def expand(x):
        th = full.copy()
        th[free] = x
        return th

    fg = None if fg_full is None else (lambda x: (lambda f, g: (f, g[free]))(*fg_full(expand(x))))
    return (lambda x: ws.deviance(expand(x), reml)), fg, lower[free], full[free], expand, scale[free]


def _second_opinion(fun, opt: OptSummary, lower: np.ndarray, scale: np.ndarray) -> OptSummary:
    """When the optimizer did not report convergence, refit derivative-free from a perturbed start
    and say in plain words whether the two agree (keeping the better optimum)."""
    start = np.where(lower == 0, np.maximum(opt.theta, 0.0) + 0.1 * scale, opt.theta)
    other = minimize_deviance(fun, start, lower, "bobyqa", scale=scale)
    best = other if other.fun < opt.fun else opt
    agree = abs(other.fun - opt.fun) <= 1e-6 * max(1.0, abs(opt.fun))
    verdict = ("a refit from a different start reached the same optimum, so the estimates can be used"
               if agree else f"a refit from a different start reached {other.fun:.6f} instead of "
               f"{opt.fun:.6f}; the better one is kept, but the surface is flat or awkward: "
               "simplify the random effects or rescale the predictors")
    grad = np.max(np.abs(opt.gradient)) if len(opt.gradient) else np.nan
    warnings.warn(f"the optimizer ({opt.method}) did not report convergence after {opt.nfev} deviance "
                  f"evaluations ({opt.message}); largest gradient element {grad:.2e}; "
                  f"{verdict}.", ConvergenceWarning, stacklevel=4)
    return best


# --- known variance components ------------------------------------------------------------------
def _known_matrix(value, k: int, what: str, names: list[str]) -> np.ndarray:
    """A known k × k covariance (scalar when k = 1; a DataFrame labelled by the columns or by
    their factor levels is reordered to them), checked symmetric positive semidefinite."""
    import pandas as pd
    if isinstance(value, pd.DataFrame):
        short = [n.split("[")[-1].rstrip("]").removeprefix("T.") for n in names]
        labels = [str(x) for x in value.index]
        order = names if set(names) <= set(labels) else short if set(short) <= set(labels) else None
        value = value.loc[[value.index[labels.index(x)] for x in order],
                          [value.columns[[str(c) for c in value.columns].index(x)] for x in order]] \
            if order is not None and set(map(str, value.columns)) >= set(order) else value
    try:
        M = np.atleast_2d(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise ModelSpecError(f"variance of {what} must be a number or a {k} × {k} matrix, got "
                             f"{type(value).__name__}") from None
    if M.shape != (k, k):
        raise ModelSpecError(f"variance of {what} must be {'a number' if k == 1 else f'a {k} × {k} matrix'} "
                             f"({', '.join(names)}), got shape {M.shape}")
    if not np.all(np.isfinite(M)) or np.max(np.abs(M - M.T)) > 1e-10 * max(1.0, np.max(np.abs(M))):
        raise ModelSpecError(f"variance of {what} must be finite and symmetric, got {M.tolist()}")
    if np.min(np.linalg.eigvalsh(M)) < -1e-10 * max(1.0, np.max(np.abs(M))):
        raise ModelSpecError(f"variance of {what} must be non-negative (positive semidefinite), got {M.tolist()}")
    return (M + M.T) / 2


def _factor_of(M: np.ndarray, what: str) -> np.ndarray:
    """Lower-triangular T with T Tᵀ = M (zero variances allowed on a diagonal M)."""
    if np.count_nonzero(M - np.diag(np.diag(M))) == 0:
        return np.diag(np.sqrt(np.diag(M)))
    try:
        return np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        raise ModelSpecError(f"the covariance matrix of {what} is singular; known-variance BLUP needs it "
                             "positive definite") from None


def _known_residual(spec: ModelSpec, R0) -> tuple[np.ndarray, float]:
    """σ² and φ of a residual structure from its known d × d matrix (us or diag)."""
    st = spec.residual.structure
    if st is None or spec.residual.ngroups != 1 or st.name not in ("us", "diag"):
        raise ModelSpecError("a known residual matrix needs residual='us(trait | id)' or 'diag(...)' "
                             "without groups; give 'Residual' as a number otherwise")
    M = _known_matrix(R0, st.dim, "'Residual'", st.labels)
    s2 = float(M[0, 0])
    if s2 <= 0:
        raise ModelSpecError(f"the first residual variance must be positive, got {s2!r}")
    L = _factor_of(M / s2, "'Residual'")
    if st.name == "diag":
        par = np.log(np.diag(L))
    else:
        r, c = np.tril_indices(st.dim, -1)
        par = np.concatenate([np.log(np.diag(L)), L[r, c]])
    return par[1:], s2


def theta_from_variances(spec: ModelSpec) -> tuple[np.ndarray, float]:
    """(θ, φ) and σ² from known variance components {group label: variance or k × k matrix,
    "Residual": σ² or, with a ``us``/``diag`` residual structure, its d × d matrix}.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
    ...                   variances={"Batch": 1764.0, "Residual": 2451.0})
    >>> theta, s2 = theta_from_variances(spec)
    >>> theta.round(4).tolist(), s2
    ([0.8484], 2451.0)
    """
    random, variances = spec.random, dict(spec.variances)
    labels = random.term_labels()
    if "Residual" not in variances:
        raise ModelSpecError("variances must include 'Residual' (the residual variance)")
    expected = set(labels) | {"Residual"}
    extra = [k for k in variances if k not in expected]
    missing = [k for k in labels if k not in variances]
    if extra or missing:
        raise ModelSpecError(f"variances must give exactly the components {sorted(expected)}; "
                             f"missing {missing}, unknown {extra}")
    phi = np.zeros(spec.nphi)
    if spec.residual is not None and spec.residual.structure is not None and np.ndim(variances["Residual"]) == 2:
        phi, s2 = _known_residual(spec, variances["Residual"])
    else:
        try:
            s2 = float(variances["Residual"])
        except (TypeError, ValueError):
            raise ModelSpecError("the residual variance must be a number (a matrix needs residual='us(...)')") from None
        if spec.nphi:
            raise ModelSpecError("this model has a residual structure: give 'Residual' as its matrix")
    if not np.isfinite(s2) or s2 <= 0:
        raise ModelSpecError(f"the residual variance must be positive, got {variances['Residual']!r}")
    theta = np.zeros(random.ntheta)
    for label, t in zip(labels, random.terms):
        G = _known_matrix(variances[label], t.k, repr(label), t.columns)
        T = _factor_of(G / s2, repr(label))
        r, c = t.tril()
        theta[t.theta_offset:t.theta_offset + t.ntheta] = T[r, c]
    return np.concatenate([theta, phi]), s2


def known_variances(spec: ModelSpec, ws) -> Estimates:
    """The MME solved at given variance components (no estimation).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.model.workspace import workspace_for
    >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
    ...                   variances={"Batch": 1764.0, "Residual": 2451.0})
    >>> est = known_variances(spec, workspace_for(spec))
    >>> est.opt.method, est.opt.message
    ('known', 'variance components given')
    """
    t0 = time.perf_counter()
    theta, s2 = theta_from_variances(spec)
    with workspace_limit(ws):
        sol = solve_at(ws, theta, sigma2=s2)
    opt = OptSummary("known", theta, theta, float(sol.parts.deviance_at(s2, spec.reml)), 1, True,
                     "variance components given", np.zeros(len(theta)), time.perf_counter() - t0)
    return Estimates(opt=opt, solution=sol, solver=getattr(ws, "solver_info", None))  # solver: issue #19
