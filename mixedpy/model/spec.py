"""The model specification: formula + data + options, built and checked once, frozen.

Everything that defines *the model* lives here — the model frame, X and y, the random-effects
design, the relationship matrices of relmat terms, known variance components, the estimation
method — so that every estimator and every refit (LRT, profile, bootstrap, Kenward-Roger) works on
the same model.  A refit changes the spec with :meth:`ModelSpec.replace` (or
:meth:`ModelSpec.with_response`), never by parsing the formula again.

Glossary
--------
structures   per random term, its :class:`~mixedpy.genetics.relmat.TermStructure` (K for relmat
             terms, identity otherwise); ``None`` for a model without relmat terms
variances    known variance components ``{group label: variance, "Residual": σ²}`` (method "known")
residual     the residual covariance Σ = σ² R(φ) with prior weights (``residual=``, ``weights=``;
             :mod:`mixedpy.covariance.residual`), None for Σ = σ² I
family       the response distribution of a generalized linear mixed model (GLMM,
             :mod:`mixedpy.families`); None for a linear mixed model.  A GLMM also has ``nagq``,
             ``offset`` (from ``offset(...)`` terms) and ``prior_weights`` (binomial: the trials)
params       what REML/ML optimize: θ, then the residual's free φ (``par_start``, ``par_lower``)
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..design.fixed import FixedDesign, fixed_design
from ..design.frame import ModelFrame, make_frame
from ..design.random import RandomDesign, random_design
from ..covariance.residual import ResidualDesign
from ..errors import DataError, ModelSpecError, UnidentifiableWarning
from ..genetics.relmat import relmat_design

Method = Literal["reml", "ml", "anova", "bayes", "known"]
METHODS = ("reml", "ml", "anova", "bayes")
OPTIMIZERS = ("bobyqa", "lbfgs", "cobyqa", "lbfgsb", "nelder-mead")
ENGINES = ("auto", "blocked", "sparse", "mme", "pcg")  # pcg: issue #19


@dataclass(frozen=True)
class ModelSpec:
    """A linear mixed model, ready to be estimated (see the module docstring).

    Attributes
    ----------
    formula : str
        The formula as given.
    frame : ModelFrame
        The rows and columns used.
    fixed : FixedDesign
        y and X.
    random : RandomDesign
        Z, the θ → Λ map and the terms.
    structures : tuple or None
        Per random term, its relationship structure (relmat fits only).
    relmat : mapping or None
        The relationship matrices as given (group → Pedigree or DataFrame).
    variances : mapping or None
        Known variance components (method "known").
    method : {"reml", "ml", "anova", "bayes", "known"}
    reml : bool
        Whether the REML criterion is the objective (and σ² divides by n − p).
    optimizer, engine : str
        Optimizer backend and factorization engine.
    n_threads : int or None
        BLAS threads for the large dense steps (None: all cores).
    data_name : str
        Name of the data shown by ``summary()``.
    residual : ResidualDesign or None
        Residual covariance structure and prior weights (None: σ² I).
    family : Family or None
        GLMMs: the response distribution and link (None: a linear mixed model).
    nagq : int
        GLMMs: 0 (β in the penalized IRLS, θ optimized), 1 (Laplace) or the number of adaptive
        Gauss-Hermite quadrature points.
    offset : ndarray or None
        GLMMs: the sum of the ``offset(...)`` terms, per observation.
    offset_terms : tuple of str
        The offset expressions (evaluated again for new data).
    prior_weights : ndarray or None
        GLMMs: the prior weights (binomial: the number of trials).

    Examples
    --------
    >>> import mixedpy
    >>> spec = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> spec.method, spec.fixed.X.shape, spec.random.ntheta
    ('reml', (180, 2), 3)
    >>> spec.replace(reml=False).method
    'ml'
    """

    formula: str
    frame: ModelFrame
    fixed: FixedDesign
    random: RandomDesign
    structures: tuple | None = None
    relmat: Mapping | None = None
    variances: Mapping | None = None
    method: Method = "reml"
    reml: bool = True
    optimizer: str = "lbfgs"
    engine: str = "auto"
    n_threads: int | None = None
    data_name: str = "data"
    residual: ResidualDesign | None = None
    family: object | None = None
    nagq: int = 1
    offset: np.ndarray | None = None
    offset_terms: tuple = ()
    prior_weights: np.ndarray | None = None

    @property
    def is_glmm(self) -> bool:
        """Whether the model is a generalized linear mixed model (a ``family`` is given).

        Examples
        --------
        >>> import mixedpy
        >>> model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).is_glmm
        False
        """
        return self.family is not None

    @property
    def nphi(self) -> int:
        """Number of free residual parameters φ (appended to θ in the optimized vector).

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
        >>> s.nphi
        1
        """
        return 0 if self.residual is None else self.residual.nphi

    @property
    def parameters(self):
        """The map between the model's parameters (ψ of structured random terms, θ of the others,
        φ) and the engines' (θ, φ) (:class:`~mixedpy.model.parameters.ParameterMap`).

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> type(s.parameters).__name__
        'ParameterMap'
        """
        from .parameters import ParameterMap
        return ParameterMap.build(self.random, self.nphi)

    @property
    def par_start(self) -> np.ndarray:
        """Starting (θ or ψ, φ).

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> s.par_start.tolist()
        [1.0, 0.0, 1.0]
        """
        phi0 = self.residual.start() if self.residual is not None else np.zeros(0)
        return np.concatenate([self.parameters.start(), phi0])

    @property
    def par_lower(self) -> np.ndarray:
        """Lower bounds of (θ or ψ, φ): lme4's for θ, none for ψ and φ (unconstrained parameters).

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> s.par_lower.tolist()
        [0.0, -inf, 0.0]
        """
        return np.concatenate([self.parameters.lower(), np.full(self.nphi, -np.inf)])

    @property
    def par_scale(self) -> np.ndarray:
        """Natural scale of (θ or ψ, φ) (θ's from the covariates, 1 for ψ and φ).

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> s.par_scale.tolist()
        [1.0, 1.0, 1.0]
        """
        return np.concatenate([self.parameters.scale(), np.ones(self.nphi)])

    @property
    def uses_mme(self) -> bool:
        """Whether the model goes through Henderson's MME (relmat terms, known variances, ANOVA,
        Gibbs) rather than lme4's Λ form.

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> s.uses_mme
        False
        """
        return self.structures is not None or self.method in ("known", "anova", "bayes")

    @property
    def n(self) -> int:
        """Number of observations used.

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> s.n
        180
        """
        return len(self.fixed.y)

    def replace(self, **changes) -> ModelSpec:
        """The same model with some options changed: ``reml`` (also switches the method between
        "reml" and "ml"), ``variances``, ``optimizer``, ``engine``, ``n_threads``.

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> s.replace(variances={"Batch": 1764.0, "Residual": 2451.0}).method
        'known'
        """
        allowed = {"reml", "variances", "optimizer", "engine", "n_threads", "method", "nagq"}
        bad = sorted(set(changes) - allowed)
        if bad:
            raise ModelSpecError(f"a refit can change {', '.join(sorted(allowed))}; not {', '.join(bad)}")
        new = dict(changes)
        if "nagq" in new:
            if not self.is_glmm:
                raise ModelSpecError("nagq belongs to generalized models (family='binomial', 'poisson')")
            from .glm_response import check_nagq
            new["nagq"] = check_nagq(new["nagq"], self.random)
        if "reml" in new and "method" not in new and self.method in ("reml", "ml", "known"):
            if self.method != "known":
                new["method"] = "reml" if new["reml"] else "ml"
        if "variances" in new:
            new["method"] = "known" if new["variances"] is not None else ("reml" if new.get(
                "reml", self.reml) else "ml")
        return dataclasses.replace(self, **new)

    def with_response(self, y: np.ndarray) -> ModelSpec:
        """The same model for another response vector (bootstrap, simulation): designs are kept.

        Examples
        --------
        >>> import mixedpy
        >>> s = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> float(s.with_response(s.fixed.y * 2).fixed.y[0]) == 2 * float(s.fixed.y[0])
        True
        """
        y = np.asarray(y, dtype=float).reshape(-1)
        if y.shape != self.fixed.y.shape:
            raise DataError(f"a new response needs {self.n} values, got {y.shape[0]}")
        if not np.all(np.isfinite(y)):
            raise DataError("the new response has missing or infinite values")
        y = y.copy()
        y.flags.writeable = False
        data = self.frame.data.copy()
        resp = self.fixed.response
        if resp in data.columns:
            data[resp] = y
        frame = dataclasses.replace(self.frame, data=data)
        return dataclasses.replace(self, frame=frame, fixed=dataclasses.replace(self.fixed, y=y))


def resolve_method(reml: bool, method: str | None) -> str:
    """The estimation method from ``reml`` and ``method`` (``method`` wins; they must agree).

    Examples
    --------
    >>> resolve_method(True, None), resolve_method(False, None), resolve_method(True, "anova")
    ('reml', 'ml', 'anova')
    """
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


def model_spec(formula: str, data, *, reml: bool = True, method: str | None = None,
               optimizer: str = "lbfgs", engine: str = "auto", relmat: Mapping | None = None,
               variances: Mapping | None = None, n_threads: int | None = None,
               data_name: str | None = None, residual: str | None = None, weights=None,
               family=None, nAGQ: int = 1) -> ModelSpec:
    """Build and check the model: every input error is raised here, before any numerics.

    Parameters are those of :func:`mixedpy.fit`.

    Examples
    --------
    >>> import mixedpy
    >>> s = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), reml=False)
    >>> s.method, s.n
    ('ml', 30)
    """
    from ..families import family_from
    fam = family_from(family)
    if fam is not None:
        return glmm_spec(formula, data, fam, nAGQ, weights=weights, engine=engine, n_threads=n_threads,
                         data_name=data_name, reml=reml, method=method, relmat=relmat,
                         variances=variances, residual=residual)
    if nAGQ != 1:
        raise ModelSpecError(f"nAGQ={nAGQ!r} belongs to generalized models (family='binomial', 'poisson')")
    how = resolve_method(reml, method)
    if optimizer not in OPTIMIZERS:
        raise ModelSpecError(f"optimizer {optimizer!r} is not supported; use one of {', '.join(OPTIMIZERS)}")
    if engine not in ENGINES:
        raise ModelSpecError(f"engine {engine!r} is not supported; use one of {', '.join(ENGINES)}")
    if n_threads is not None and (not isinstance(n_threads, (int, np.integer)) or n_threads < 1):
        raise ModelSpecError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    if variances is not None:
        if how in ("anova", "bayes"):
            raise ModelSpecError(f"variances (known components) cannot be combined with method={how!r}")
        if not isinstance(variances, Mapping):
            raise ModelSpecError(f"variances must be a dict {{group: variance, 'Residual': variance}}, "
                                 f"got {type(variances).__name__}")
        how = "known"
    if relmat is not None and not isinstance(relmat, Mapping):
        raise ModelSpecError(f"relmat must be a dict {{group: Pedigree or DataFrame}}, got {type(relmat).__name__}")
    if relmat and how == "anova":
        raise ModelSpecError(f"method='anova' does not take relmat (given for {', '.join(map(repr, relmat))}): "
                             "the moment equations assume iid random intercepts; use REML for "
                             "relationship matrices")
    rdesign = None
    if residual is not None or weights is not None:
        if how not in ("reml", "ml", "known"):
            raise ModelSpecError(f"residual= and weights= are estimated by REML or ML, not method={how!r}")
        from .residual_spec import residual_frame
        frame, rdesign = residual_frame(formula, data, residual, weights)
    else:
        frame = make_frame(formula, data)
    fixed = fixed_design(frame.formula.response, frame.formula.fixed, frame.data)
    if any(t.cov is not None for t in frame.formula.random) and how in ("anova", "bayes"):
        raise ModelSpecError(f"covariance structures on random terms are estimated by REML or ML, not "
                             f"method={how!r}")
    if relmat:
        random, structures = relmat_design(frame.formula.random, frame.data, relmat)
        structures = tuple(structures)
    else:
        random, structures = random_design(frame.formula.random, frame.data), None
    if (structures is not None or how != "reml" and how != "ml") and not random.terms:
        raise ModelSpecError("this option needs at least one random term in the formula")
    check_sizes(len(fixed.y), fixed.X.shape[1], random, lme4_rule=structures is None and how in ("reml", "ml"))
    check_not_exact(fixed)
    warn_same_grouping(random)
    from .parameters import ParameterMap
    ParameterMap.build(random)  # a structure that does not fit its term fails here
    name = data_name if data_name is not None else str(getattr(data, "attrs", {}).get("name", "data"))
    text = formula if isinstance(formula, str) else frame.formula.text
    return ModelSpec(formula=text, frame=frame, fixed=fixed, random=random, structures=structures,
                     relmat=dict(relmat) if relmat else None,
                     variances=dict(variances) if variances is not None else None, method=how,
                     reml=how != "ml", optimizer=optimizer, engine=engine, n_threads=n_threads,
                     data_name=name, residual=rdesign)


def glmm_spec(formula: str, data, family, nagq: int = 1, *, weights=None, engine: str = "auto",
              n_threads: int | None = None, data_name: str | None = None, reml: bool = True,
              method: str | None = None, relmat=None, variances=None, residual=None) -> ModelSpec:
    """The specification of a generalized linear mixed model (glmer's ``glFormula``): response,
    prior weights and offset as :mod:`mixedpy.model.glm_response`, X and Z as for linear models.

    Examples
    --------
    >>> import mixedpy
    >>> s = glmm_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...               mixedpy.datasets.load("cbpp"), mixedpy.families.Binomial())
    >>> s.family, s.n, s.prior_weights[:3].tolist()
    (Binomial(link='logit'), 56, [14.0, 12.0, 9.0])
    """
    from ..design.frame import as_dataframe
    from .glm_response import check_nagq, glm_response, offset_vector, split_offsets
    if method not in (None, "ml") or reml is not True and reml is not False:
        raise ModelSpecError(f"generalized mixed models are fitted by maximum likelihood (Laplace or "
                             f"quadrature); method={method!r} does not apply")
    for name, value in (("variances", variances), ("residual", residual)):
        if value is not None:
            raise ModelSpecError(f"{name}= is not available for generalized mixed models (family={family!r})")
    if engine not in ENGINES:
        raise ModelSpecError(f"engine {engine!r} is not supported; use one of {', '.join(ENGINES)}")
    df = as_dataframe(data)
    positional = df.set_axis(pd.RangeIndex(len(df)), axis=0)
    w_all = None
    if weights is not None:
        from .residual_spec import _weights
        w_all = _weights(weights, df)
        if np.any(~np.isfinite(w_all[~np.isnan(w_all)])) or np.any(w_all[~np.isnan(w_all)] < 0):
            raise DataError("weights must be finite and non-negative")
        positional = positional.loc[~np.isnan(w_all)]
    frame = make_frame(formula, positional, binary_warning=False)
    pos = frame.data.index.to_numpy()
    used = np.zeros(len(df), dtype=bool)
    used[pos] = True
    frame = ModelFrame(data=frame.data.set_axis(df.index[pos], axis=0), formula=frame.formula,
                       dropped_rows=df.index[~used])
    fixed_text, offsets = split_offsets(frame.formula.fixed)
    y, wt = glm_response(frame.formula.response, frame.data, family, None if w_all is None else w_all[pos])
    fixed = fixed_design(frame.formula.response, fixed_text, frame.data, y=y)
    structures = None
    if relmat:  # relationship matrices: terms over all levels of K (ancestors too), latent PIRLS engine
        random, structures = relmat_design(frame.formula.random, frame.data, relmat)
        structures = tuple(structures)
        if nagq > 1:
            raise ModelSpecError(f"nAGQ = {nagq} (quadrature) is not available with relmat; use nAGQ = 1 or 0")
    else:
        random = random_design(frame.formula.random, frame.data, residual=False)
    nagq = check_nagq(nagq, random)
    offset = offset_vector(offsets, frame.data)
    n = len(y)
    check_sizes(n, fixed.X.shape[1], random, lme4_rule=False)
    for t, st in zip(random.terms, structures or [None] * len(random.terms)):
        if (st is None or st.kind == "iid") and t.nlev * t.k > n:
            raise DataError(f"number of observations (={n}) < number of random effects (={t.nlev * t.k}) "
                            f"for term {t.source}; the random-effects parameters are unidentifiable")
    warn_same_grouping(random)
    ro = [_readonly(a) for a in (wt, offset)]
    name = data_name if data_name is not None else str(getattr(data, "attrs", {}).get("name", "data"))
    return ModelSpec(formula=formula if isinstance(formula, str) else frame.formula.text, frame=frame,
                     fixed=fixed, random=random, method="ml", reml=False, optimizer="bobyqa",
                     engine=engine, n_threads=n_threads, data_name=name, family=family, nagq=nagq,
                     offset=ro[1], offset_terms=offsets, prior_weights=ro[0], structures=structures)


def _readonly(a):
    if a is not None:
        a = np.array(a, dtype=float)
        a.flags.writeable = False
    return a


# --- checks made before any numerics -----------------------------------------------------------
def check_sizes(n: int, p: int, random: RandomDesign, lme4_rule: bool = True) -> None:
    """Enough observations for the fixed effects and for each random term (lme4's
    ``check.nobs.vs.nRE`` when ``lme4_rule``; a relmat term may have as many levels as records).

    Examples
    --------
    >>> import mixedpy
    >>> s = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> check_sizes(s.n, 2, s.random)  # passes silently
    >>> try:
    ...     check_sizes(18, 2, s.random)
    ... except DataError as err:
    ...     print(str(err)[:60])
    number of observations (=18) <= number of random effects (=3
    """
    if n <= p:
        raise DataError(f"{n} observations are too few for {p} fixed-effect coefficients")
    for t in random.terms:
        if t.nlev < 2:
            raise DataError(f"grouping factor {t.group!r} has only {t.nlev} level; a random effect "
                            "needs at least 2 levels")
        if lme4_rule and n <= t.nlev * t.k:
            raise DataError(f"number of observations (={n}) <= number of random effects "
                            f"(={t.nlev * t.k}) for term {t.source}; the random-effects parameters "
                            "and the residual variance are probably unidentifiable")


def check_not_exact(fixed: FixedDesign) -> None:
    """A response that the fixed effects reproduce exactly leaves no variance to estimate.

    Examples
    --------
    >>> import pandas as pd
    >>> from mixedpy.design.fixed import fixed_design
    >>> d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> try:
    ...     check_not_exact(fixed_design("y", "1 + x", d))
    ... except DataError as err:
    ...     print(str(err)[:52])
    the fixed effects reproduce the response 'y' exactly
    """
    X, y = fixed.X, fixed.y
    beta = np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else np.zeros(0)
    rss = float(np.sum((y - X @ beta) ** 2))
    if rss <= 1e-20 * max(float(y @ y), 1e-300):
        raise DataError(f"the fixed effects reproduce the response {fixed.response!r} exactly "
                        "(residual sum of squares 0): there is no variance left to estimate")


def warn_same_grouping(random: RandomDesign) -> None:
    """lme4 notices this only as a near-zero Hessian eigenvalue; say it plainly.

    Examples
    --------
    >>> import warnings, mixedpy
    >>> from mixedpy.design.random import random_design
    >>> from mixedpy.formula.parse import parse_formula
    >>> d = mixedpy.datasets.load("dyestuff").assign(Batch2=lambda d: d["Batch"])
    >>> rd = random_design(parse_formula("Yield ~ 1 + (1 | Batch) + (1 | Batch2)").random, d)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_same_grouping(rd)
    >>> [w.category.__name__ for w in caught]
    ['UnidentifiableWarning']
    """
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
                              "their sum is determined", UnidentifiableWarning, stacklevel=4)

