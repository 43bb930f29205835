"""``fit()``: a short orchestrator of the stages, each usable alone.

    make_frame → fixed_design, random_design → Workspace (objective) → minimize_deviance
    → solve_at (BLUE, BLUP, σ) → LmmResult
"""
from __future__ import annotations

import warnings

import numpy as np

from .design.fixed import fixed_design
from .design.frame import make_frame
from .design.random import random_design
from .errors import ConvergenceWarning, DataError, ModelSpecError, SingularFitWarning, UnidentifiableWarning
from .objective import Workspace
from .optimize import OptSummary, minimize_deviance
from .results import LmmResult
from .solution import solve_at
from .threads import workspace_limit
from .warm_start import starting_theta

METHODS = ("reml", "ml", "anova", "bayes")
OPTIMIZERS = ("bobyqa", "lbfgs", "cobyqa", "lbfgsb", "nelder-mead")


def _method(reml: bool, method: str | None) -> str:
    if method is None:
        if not isinstance(reml, (bool, np.bool_)):
            raise ModelSpecError(f"reml must be True or False, got {reml!r}")
        return "reml" if reml else "ml"
    m = str(method).lower()
    if m not in METHODS:
        raise ModelSpecError(f"method {method!r} is not supported; use one of {', '.join(METHODS)}")
    if reml is False and m == "reml":
        raise ModelSpecError("reml=False contradicts method='reml'; give one of them")
    return m


def _warn_same_grouping(random) -> None:
    """lme4 notices this only as a near-zero Hessian eigenvalue; say it plainly."""
    terms = list(random.terms)
    for i, a in enumerate(terms):
        for b in terms[i + 1:]:
            shared = set(a.columns) & set(b.columns)
            if a.nlev != b.nlev or not shared:
                continue
            pairs = np.unique(a.codes.astype(np.int64) * b.nlev + b.codes)
            if len(pairs) == a.nlev:
                warnings.warn(f"random terms {a.source} and {b.source} group the observations "
                              f"identically ({a.nlev} groups), so the variances of "
                              f"{', '.join(sorted(shared))} are not separately identifiable: only "
                              "their sum is determined", UnidentifiableWarning, stacklevel=3)


def _check_sizes(n: int, p: int, random) -> None:
    if n <= p:
        raise DataError(f"{n} observations are too few for {p} fixed-effect coefficients")
    for t in random.terms:
        if t.nlev < 2 and len(random.terms):
            raise DataError(f"grouping factor {t.group!r} has only {t.nlev} level; a random effect "
                            "needs at least 2 levels")
        if n <= t.nlev * t.k:  # lme4's check.nobs.vs.nRE
            raise DataError(f"number of observations (={n}) <= number of random effects "
                            f"(={t.nlev * t.k}) for term {t.source}; the random-effects parameters "
                            "and the residual variance are probably unidentifiable")


def fit(formula: str, data, reml: bool = True, *, method: str | None = None,
        optimizer: str = "lbfgs", engine: str = "auto", relmat: dict | None = None,
        variances: dict | None = None, n_iter: int | None = None, burn: int | None = None,
        thin: int | None = None, seed: int | None = None, prior: dict | None = None,
        progress: bool = True) -> LmmResult:
    """Fit a linear mixed model given by an lme4-style formula.

    Parameters
    ----------
    formula : str
        e.g. ``"Reaction ~ Days + (Days | Subject)"``. Random terms: ``(x | g)``, ``(x || g)``,
        ``(1 | a/b)``, ``(1 | a:b)``; fixed part in formulaic syntax; ``t^2`` squares a numeric ``t``.
        Without random terms the model is fitted by least squares.
    data : pandas.DataFrame
        The data; never modified.
    reml : bool, default True
        Optimize the REML criterion (False: maximum likelihood).
    method : {"reml", "ml", "anova", "bayes"}, optional
        Alternative to ``reml`` (``reml=False`` is shorthand for "ml").  "anova": method of moments
        (Henderson's Method III, random-intercept models; see :func:`mixedpy.variance.fit_anova`);
        "bayes": Gibbs sampler on the MME (see :func:`mixedpy.variance.fit_bayes`).
    optimizer : {"lbfgs", "bobyqa", "cobyqa", "lbfgsb", "nelder-mead"}
        Backend for the θ optimization: "lbfgs" (default) is L-BFGS-B on the analytic gradient;
        "bobyqa" is derivative-free BOBYQA through NLopt (as lme4 and MixedModels.jl).  Fits with
        ``relmat`` use BOBYQA for "lbfgs".
    engine : {"auto", "blocked", "sparse"}
        Factorization of A(θ): blocked (first term block-diagonal, dense Schur complement) or the
        general sparse LDLᵀ; "auto" picks by size.
    relmat : dict, optional
        Grouping factor → known relationship matrix K: a :class:`mixedpy.Pedigree` (its sparse A⁻¹
        is used) or a square DataFrame labelled by level (e.g. :func:`mixedpy.grm`; positive
        semidefinite allowed).  That term's effects have covariance σ² K (⊗ TTᵀ); its ``ranef``
        covers every level of K.  Fitted through Henderson's MME (sparse block elimination); a
        single dense-K term (GBLUP) through one tridiagonal reduction of K, O(n) per evaluation.
    variances : dict, optional
        Known variance components ``{group: variance, ..., "Residual": variance}``: no estimation,
        the MME are solved at these values (BLUE and BLUP).
    n_iter, burn, thin, seed, prior, progress
        Options of ``method="bayes"`` (see :func:`mixedpy.variance.fit_bayes`).

    Returns
    -------
    LmmResult

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> round(m.reml_criterion, 2)
    1743.63
    >>> m.coef_table.round(3).loc["Days", ["estimate", "se"]].tolist()
    [10.467, 1.546]
    """
    how = _method(reml, method)
    if optimizer not in OPTIMIZERS:
        raise ModelSpecError(f"optimizer {optimizer!r} is not supported; use one of {', '.join(OPTIMIZERS)}")
    bayes_opts = dict(n_iter=n_iter, burn=burn, thin=thin, seed=seed, prior=prior)
    if how != "bayes" and any(v is not None for v in bayes_opts.values()):
        raise ModelSpecError("n_iter, burn, thin, seed and prior are options of method='bayes'")
    if variances is not None and how in ("anova", "bayes"):
        raise ModelSpecError(f"variances (known components) cannot be combined with method={how!r}")
    if how == "anova":
        from .variance.anova import fit_anova
        return fit_anova(formula, data, relmat=relmat, data_name=_data_name(data))
    if how == "bayes":
        from .variance.bayes import fit_bayes
        return fit_bayes(formula, data, relmat=relmat, progress=progress, data_name=_data_name(data),
                         **{k: v for k, v in bayes_opts.items() if v is not None})
    use_reml = how == "reml"
    if relmat or variances is not None:
        from .genetics.fitting import fit_mme
        return fit_mme(formula, data, reml=use_reml, relmat=relmat, variances=variances,
                       optimizer=optimizer, data_name=_data_name(data))
    frame = make_frame(formula, data)
    fixed = fixed_design(frame.formula.response, frame.formula.fixed, frame.data)
    random = random_design(frame.formula.random, frame.data)
    _check_sizes(len(fixed.y), fixed.X.shape[1], random)
    _check_not_exact(fixed)
    _warn_same_grouping(random)
    if engine not in ("auto", "blocked", "sparse"):
        raise ModelSpecError(f"engine {engine!r} is not supported; use 'auto', 'blocked' or 'sparse'")
    ws = Workspace(fixed.X, fixed.y, random, engine)
    with workspace_limit(ws):
        scale = random.theta_scale()
        theta0 = starting_theta(frame, ws, use_reml)
        if theta0 is random.theta0:  # lme4's start, in the units of the (rescaled) covariates
            theta0 = random.theta0 * scale
        opt = minimize_deviance(lambda th: ws.deviance(th, use_reml), theta0, random.lower, optimizer,
                                fun_and_grad=lambda th: ws.deviance_and_gradient(th, use_reml),
                                scale=scale)
        if not opt.converged:
            opt = _second_opinion(ws, opt, use_reml, scale)
        sol = solve_at(ws, opt.theta, use_reml)
    result = LmmResult(formula=formula if isinstance(formula, str) else frame.formula.text, frame=frame,
                       fixed=fixed, random=random, workspace=ws, opt=opt, solution=sol, reml=use_reml,
                       method="reml" if use_reml else "ml", data_name=_data_name(data))
    if result.is_singular:
        warnings.warn("boundary (singular) fit: a random-effect variance is estimated as 0 (or a "
                      "correlation as ±1); consider simplifying the random-effects structure",
                      SingularFitWarning, stacklevel=2)
    return result


def _second_opinion(ws: Workspace, opt: OptSummary, reml: bool, scale: np.ndarray) -> OptSummary:
    """When the optimizer did not report convergence, refit derivative-free from a perturbed start
    and say in plain words whether the two agree (keeping the better optimum)."""
    start = np.where(ws.random.lower == 0, np.maximum(opt.theta, 0.0) + 0.1 * scale, opt.theta)
    other = minimize_deviance(lambda th: ws.deviance(th, reml), start, ws.random.lower, "bobyqa", scale=scale)
    best = other if other.fun < opt.fun else opt
    agree = abs(other.fun - opt.fun) <= 1e-6 * max(1.0, abs(opt.fun))
    verdict = ("a refit from a different start reached the same optimum, so the estimates can be used"
               if agree else f"a refit from a different start reached {other.fun:.6f} instead of "
               f"{opt.fun:.6f}; the better one is kept, but the surface is flat or awkward: "
               "simplify the random effects or rescale the predictors")
    warnings.warn(f"the optimizer ({opt.method}) did not report convergence after {opt.nfev} deviance "
                  f"evaluations ({opt.message}); largest gradient element {np.max(np.abs(opt.gradient)):.2e}; "
                  f"{verdict}.", ConvergenceWarning, stacklevel=3)
    return best


def _check_not_exact(fixed) -> None:
    """A response that the fixed effects reproduce exactly leaves no variance to estimate."""
    X, y = fixed.X, fixed.y
    beta = np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else np.zeros(0)
    rss = float(np.sum((y - X @ beta) ** 2))
    if rss <= 1e-20 * max(float(y @ y), 1e-300):
        raise DataError(f"the fixed effects reproduce the response {fixed.response!r} exactly "
                        "(residual sum of squares 0): there is no variance left to estimate")


def _data_name(data) -> str:
    return str(getattr(data, "attrs", {}).get("name", "data"))
