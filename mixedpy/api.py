"""``fit()``: build the model specification, hand it to the orchestrator.

    model_spec (frame, X, Z, relmat, checks) → fit_model (workspace, estimator, solution) → LmmResult
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pandas as pd

from .errors import ModelSpecError
from .fitting import fit_model
from .glmm_results import GlmmResult
from .model.spec import model_spec
from .results import LmmResult
from .threads import blas_limit
from .variance.bayes import GibbsOptions

WARM_START_MIN = 10_000      # pedigree size from which REML starts from a sub-population's estimates
WARM_START_FRACTION = 0.4    # ... those of the first 40 % of the (sorted) pedigree

Method = Literal["reml", "ml", "anova", "bayes"]
Optimizer = Literal["lbfgs", "bobyqa", "cobyqa", "lbfgsb", "nelder-mead"]
Engine = Literal["auto", "blocked", "sparse", "mme"]


def fit(formula: str, data: pd.DataFrame, reml: bool = True, *, method: Method | None = None,
        optimizer: Optimizer = "lbfgs", engine: Engine = "auto", relmat: Mapping | None = None,
        variances: Mapping | None = None, options: GibbsOptions | None = None,
        n_threads: int | None = None, residual: str | None = None, weights=None, family=None,
        nAGQ: int = 1, start=None) -> LmmResult | GlmmResult:
    """Fit a linear mixed model given by an lme4-style formula (or, with ``family=``, a generalized
    linear mixed model as lme4's ``glmer``).

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
        (Henderson's Method III, random-intercept models; see :func:`mixedpy.variance.estimate_anova`);
        "bayes": Gibbs sampler on the MME (``options``; or :func:`mixedpy.fit_bayes`).
    optimizer : {"lbfgs", "bobyqa", "cobyqa", "lbfgsb", "nelder-mead"}
        Backend for the θ optimization: "lbfgs" (default) is L-BFGS-B on the analytic gradient;
        "bobyqa" is derivative-free BOBYQA through NLopt (as lme4 and MixedModels.jl).  Engines
        without an analytic gradient (the MME ones) use BOBYQA for "lbfgs".
    engine : {"auto", "blocked", "sparse", "mme"}
        Factorization: blocked (first term block-diagonal, dense Schur complement), the general
        sparse LDLᵀ, or Henderson's MME; "auto" picks by structure and size.
    relmat : dict, optional
        Grouping factor → known relationship matrix K: a :class:`mixedpy.Pedigree` (its sparse A⁻¹
        is used) or a square DataFrame labelled by level (e.g. :func:`mixedpy.grm`; positive
        semidefinite allowed).  That term's effects have covariance σ² K (⊗ TTᵀ); its ``ranef``
        covers every level of K.  Fitted through Henderson's MME (sparse block elimination); a
        single dense-K term (GBLUP) through one tridiagonal reduction of K, O(n) per evaluation.
    variances : dict, optional
        Known variance components ``{group: variance, ..., "Residual": variance}``: no estimation,
        the MME are solved at these values (BLUE and BLUP).
    options : GibbsOptions, optional
        Options of ``method="bayes"``.
    n_threads : int, optional
        BLAS threads for the large dense steps of this fit and its inference (None: all cores);
        small steps always use one (see :mod:`mixedpy.threads`).
    residual : str, optional
        Residual covariance Σ = σ² R(φ) (default σ² I), named as SAS PROC MIXED and R's mmrm:
        ``"het(g)"`` (a variance per level of g), ``"NAME(time | subject)"`` with NAME one of us, diag,
        cs, csh, ar1, ar1h, toep, toeph, ad, adh (``"NAME(time | group / subject)"``: parameters per
        group), ``"sp_exp(t | subject)"`` / ``"sp_exp(x, y | block)"`` (exponential in distance,
        CAR(1)), ``"ar1xar1(row, col | block)"`` (separable field-trial residuals).  Missing visits
        are fine.  Without random terms the model is GLS (nlme's ``gls``).
    weights : str or array, optional
        Prior weights (a column name or one number per row of ``data``): Var(e_i) = σ² R_ii / w_i.
        With ``family="binomial"`` and a proportion as response: the number of trials.
    family : str or mixedpy.families.Family, optional
        "binomial", "poisson" or a family object such as ``mixedpy.families.Binomial(link="probit")``
        ("gaussian" or None: a linear mixed model).  Binomial responses: 0/1 or boolean,
        ``cbind(successes, failures)``, or a proportion with ``weights=``; ``offset(...)`` terms in
        the formula.  Fitted by maximum likelihood as glmer (see :mod:`mixedpy.glmm_fit`).
    nAGQ : int, default 1
        GLMMs: 1 Laplace; 0 β inside the PIRLS (faster, approximate); > 1 adaptive Gauss-Hermite
        points for a single scalar random-effects term.
    start : array, optional
        Starting values of the covariance parameters, as lme4's ``start``: θ (then φ of a residual
        structure; ψ for structured terms), in the order of ``result.params``; GLMMs θ or (θ, β).

    Returns
    -------
    LmmResult or GlmmResult

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> round(m.reml_criterion, 2)
    1743.63
    >>> m.coef_table.round(3).loc["Days", ["estimate", "se"]].tolist()
    [10.467, 1.546]
    >>> g = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 mixedpy.datasets.load("cbpp"), family="binomial")
    >>> round(g.neg2loglik, 4)
    184.0526
    """
    if options is not None and method != "bayes":
        raise ModelSpecError("options (GibbsOptions) belong to method='bayes'")
    if options is not None and not isinstance(options, GibbsOptions):
        raise ModelSpecError(f"options must be a mixedpy.GibbsOptions, got {type(options).__name__}")
    if start is None and family is None and method in (None, "reml", "ml") and variances is None and relmat:
        start = pedigree_start(formula, data, reml, relmat, residual, optimizer=optimizer, engine=engine,
                               n_threads=n_threads)
    seeded = method == "bayes" and options is not None and options.seed is not None
    with blas_limit(n_threads=1 if seeded else n_threads):
        spec = model_spec(formula, data, reml=reml, method=method, optimizer=optimizer, engine=engine,
                          relmat=relmat, variances=variances, n_threads=1 if seeded else n_threads,
                          residual=residual, weights=weights, family=family, nAGQ=nAGQ)
    return fit_model(spec, options=options, start=start)


def pedigree_start(formula: str, data, reml: bool, relmat: Mapping, residual: str | None, **kwargs):
    """Starting values for REML (ML) on a large pedigree: the estimates of the same model on the
    pedigree's first ``WARM_START_FRACTION`` animals and their records (None when not applicable:
    no residual structure, not one Pedigree of at least ``WARM_START_MIN`` animals, or that fit fails).

    A sorted pedigree lists parents before offspring, so its first animals are a closed population
    and their fit is the same model on a subset, with estimates close to the full ones.  Only the
    start changes — the optimum is the full model's: a 2-trait animal model on 20,000 animals takes 3
    average-information evaluations instead of 5 (benchmarks/bench_structured.py).

    Examples
    --------
    >>> import mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> pedigree_start("wwg ~ sex + (1 | animal)", mixedpy.datasets.load("mrode_calves"), True,
    ...                {"animal": ped}, "het(sex)") is None   # 8 animals: no warm start
    True
    """
    import warnings

    import numpy as np

    from .design.frame import as_dataframe
    from .errors import MixedpyError
    from .genetics.pedigree import Pedigree
    if residual is None or not isinstance(relmat, Mapping) or len(relmat) != 1:
        return None
    (key, ped), = relmat.items()
    df = as_dataframe(data)
    if not isinstance(ped, Pedigree) or len(ped.ids) < WARM_START_MIN or key not in df.columns:
        return None
    head = ped.to_frame().iloc[:int(WARM_START_FRACTION * len(ped.ids))]
    rows = df[key].astype(str).isin(set(map(str, head["animal"]))).to_numpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = fit(formula, df.loc[rows], reml, relmat={key: Pedigree.from_frame(head)}, residual=residual,
                    **kwargs)
    except (MixedpyError, ValueError, np.linalg.LinAlgError):
        return None
    if not m.optinfo.converged:
        return None
    return np.asarray(m.params if m.estimates.params is not None else m.theta)


def fit_bayes(formula: str, data: pd.DataFrame, *, relmat: Mapping | None = None, n_iter: int = 5000,
              burn: int | None = None, thin: int = 1, seed: int | None = None, prior: dict | None = None,
              progress: bool | None = None, n_threads: int | None = None) -> LmmResult:
    """Bayesian fit by Gibbs sampling on the MME: ``fit(formula, data, method="bayes",
    options=GibbsOptions(...))`` with the options as arguments (see
    :class:`mixedpy.variance.GibbsOptions` for their meaning).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
    ...                       n_iter=300, burn=100, seed=1, progress=False)
    >>> m.method, len(m.posterior)
    ('bayes', 200)
    """
    options = GibbsOptions(n_iter=n_iter, burn=burn, thin=thin, seed=seed, prior=prior, progress=progress)
    return fit(formula, data, method="bayes", relmat=relmat, options=options, n_threads=n_threads)
