"""The result of a fit: plain attributes plus pandas views, computed lazily and cached.

A :class:`LmmResult` is complete when returned: nothing is re-fitted when a property is read, and
no property changes what another returns.  Names follow the acceptance checks (lme4's concepts,
Python spelling): ``fixef``, ``coef_table``, ``vcov``, ``varcorr``, ``sigma``, ``theta``, ``loglik``,
``aic``, ``bic``, ``deviance``, ``reml_criterion``, ``nobs``, ``ngroups``, ``is_singular``, ``ranef``,
``ranef_se``, ``fitted()``, ``residuals()``, ``predict()``, ``mme()``, ``summary()``.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from .design.random import ReTerm
from .errors import FrozenResultError, ModelSpecError
from .estimates import Estimates
from .model.spec import ModelSpec
from .solution import MME, ranef_frames, term_blocks
from .threads import blas_limit

SINGULAR_TOL = 1e-4


def _coefficient_key(name: str) -> str:
    """One spelling for a factor level's coefficient under full- and reduced-rank coding."""
    return str(name).replace("[T.", "[")


def _readonly(a):
    """A read-only view of an array (a float stays a float)."""
    if isinstance(a, np.ndarray):
        a = a.view()
        a.flags.writeable = False
    return a


def _frozen_solution(sol):
    """The solution with read-only copies of its arrays (the result owns them)."""
    import dataclasses
    arrays = {f: _readonly(np.array(getattr(sol, f), dtype=float)) for f in ("theta", "beta", "b", "u", "vcov")}
    return dataclasses.replace(sol, **arrays)


def _frames_copy(frames: dict) -> dict:
    return {k: v.copy() for k, v in frames.items()}


class FrozenResult:
    """What every fitted model shares: attributes fixed at construction (setting or deleting one
    raises :class:`~mixedpy.errors.FrozenResultError`) and the views of its specification.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> isinstance(m, FrozenResult), m.frame.data.shape
    (True, (30, 2))
    """

    def __setattr__(self, name, value):
        raise FrozenResultError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name):
        raise FrozenResultError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    formula = property(lambda self: self.spec.formula, doc="The formula as given.")
    frame = property(lambda self: self.spec.frame, doc="The model frame (rows and columns used).")
    random = property(lambda self: self.spec.random, doc="The random-effects design.")
    data_name = property(lambda self: self.spec.data_name, doc="Name of the data in summaries.")
    dropped_rows = property(lambda self: self.spec.frame.dropped_rows, doc="Rows dropped for NAs.")

    @property
    def ngroups(self) -> dict:
        """Number of levels of each grouping factor.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> m.ngroups
        {'Subject': 18}
        """
        return {g: terms[0].nlev for g, terms in self.random.groups().items()}


class LmmResult(FrozenResult):
    """A fitted linear mixed model (or a linear model when the formula has no random term).

    Frozen: every field is given to the constructor, arrays are read-only, pandas views
    (``fixef``, ``coef_table``, ``varcorr``, ``ranef`` …) are fresh copies, and assigning an
    attribute raises :class:`~mixedpy.errors.FrozenResultError`.  Derived values are computed on
    first use and cached inside the object.  Every estimator (REML/ML, known variances, ANOVA,
    Gibbs) gives this class; refits (LRT, Kenward-Roger, bootstrap) go through :meth:`refit`.

    Attributes
    ----------
    spec : ModelSpec
        The model (formula, frame, designs, relmat, known variances, method, options).
    formula : str
        The formula as given.
    reml : bool
        Whether the REML criterion was optimized (False: maximum likelihood).
    method : str
        "reml", "ml", "known", "anova" or "bayes".
    fixef : pandas.Series
        Fixed-effect estimates (BLUE).
    theta : ndarray
        Relative covariance parameters at the optimum (lme4's θ).
    sigma : float
        Residual standard deviation.
    nobs : int
        Number of observations used.
    optinfo : OptSummary
        How the optimization went (method, evaluations, gradient, time).
    dropped_rows : pandas.Index
        Index labels of rows dropped for missing values.
    raw_variances, vcov_variances, anova_table, posterior, prior
        The estimator's own outputs (ANOVA, Gibbs; None otherwise).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> round(float(m.fixef["Days"]), 3)
    10.467
    >>> m.sigma = 1.0
    Traceback (most recent call last):
    ...
    mixedpy.errors.FrozenResultError: LmmResult is frozen: cannot set 'sigma'
    """

    def __init__(self, *, spec: ModelSpec, workspace, estimates: Estimates, refitter=None):
        d = self.__dict__
        d["spec"] = spec
        d["workspace"] = workspace
        d["estimates"] = estimates
        d["_refitter"] = refitter
        d["solution"] = _frozen_solution(estimates.solution)
        d["optinfo"] = estimates.opt
        d["theta"] = d["solution"].theta
        d["sigma"] = float(estimates.solution.sigma)
        d["nobs"] = len(spec.fixed.y)

    # --- the model -----------------------------------------------------------------------------
    fixed = property(lambda self: self.spec.fixed, doc="y and X.")
    reml = property(lambda self: self.spec.reml, doc="Whether the REML criterion was the objective.")
    method = property(lambda self: self.spec.method, doc="The estimation method.")
    structures = property(lambda self: self.spec.structures, doc="Relationship structure per term.")
    raw_variances = property(lambda self: self.estimates.raw_variances)

    # --- animal models at scale (issue #19) ---------------------------------------------------------
    solver_info = property(lambda self: self.estimates.solver,
                           doc="The iterative solver's report (PCG: iterations, relative residual), or None.")

    def reliability(self, group: str) -> pd.Series:
        """Reliabilities 1 − PEV/(σ²_a(1 + F)) of a pedigree term's breeding values: exact PEV from
        direct engines, the approximation :func:`mixedpy.genetics.pcg.approximate_pev` with PCG.

        Examples
        --------
        >>> import mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
        >>> m = mixedpy.fit("wwg ~ sex + (1 | animal)", mixedpy.datasets.load("mrode_calves"),
        ...                 relmat={"animal": ped}, variances={"animal": 20.0, "Residual": 40.0})
        >>> m.reliability("animal").round(3).tolist()
        [0.169, 0.166, 0.16, 0.38, 0.395, 0.389, 0.42, 0.394]
        """
        from .genetics.pcg import reliabilities
        return reliabilities(self, group)
    # --- end issue #19 ---------------------------------------------------------------------------------
    vcov_variances = property(lambda self: self.estimates.vcov_variances)
    posterior = property(lambda self: None if self.estimates.posterior is None
                         else self.estimates.posterior.copy())
    prior = property(lambda self: self.estimates.prior)

    @property
    def anova_table(self) -> pd.DataFrame | None:
        """Sums of squares and expected mean squares (``method="anova"``; None otherwise).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="anova")
        >>> m.anova_table["mean_sq"].round(2).tolist()
        [11271.5, 2451.25]
        >>> mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).anova_table is None
        True
        """
        t = self.estimates.anova_table
        return None if t is None else t.copy()

    # --- refits ----------------------------------------------------------------------------------
    def refit(self, *, y=None, start=None, fixed=None, **changes) -> LmmResult:
        """The same model fitted again — same data, designs, relmat, known variances, optimizer,
        engine — with the changes given: ``reml``, ``variances``, ``optimizer``, ``engine``,
        ``n_threads``; ``y`` a new response; ``start`` a starting θ; ``fixed`` θ elements held
        ``{position: value}``.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(m.refit(reml=False).deviance, 4)
        327.3271
        """
        if self._refitter is None:
            raise ModelSpecError("this result was built without a fitter and cannot be refitted")
        spec = self.spec.replace(**changes) if changes else self.spec
        if y is not None:
            spec = spec.with_response(y)
        return self._refitter(spec, start=start, fixed=fixed)

    @property
    def fitter(self):
        """The orchestrator that made this result (``fitter(spec)`` fits a spec; used by workers).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> callable(m.fitter)
        True
        """
        return self._refitter

    @cached_property
    def ml_fit(self) -> LmmResult:
        """This fit if it is ML, else the same model refitted by maximum likelihood (for LRTs).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.ml_fit.reml, round(m.ml_fit.deviance, 4)
        (False, 327.3271)
        """
        if not self.reml:
            return self
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.refit(reml=False)

    @cached_property
    def reml_fit(self) -> LmmResult:
        """This fit if it is REML, else the same model refitted by REML (for Kenward-Roger).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.reml_fit is m
        True
        """
        if self.reml:
            return self
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.refit(reml=True)

    # --- fixed effects --------------------------------------------------------------------------
    @property
    def coef_names(self) -> list[str]:
        """The fixed-effect coefficient names (columns of X).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> m.coef_names
        ['(Intercept)', 'Days']
        """
        return list(self.fixed.names)

    @cached_property
    def _fixef(self) -> pd.Series:
        return pd.Series(self.solution.beta, index=self.coef_names, name="estimate")

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates (BLUE), a copy.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.fixef["(Intercept)"]), 4)
        1527.5
        """
        return self._fixef.copy()

    @property
    def vcov(self) -> pd.DataFrame:
        """Var(β̂) = σ² (RXᵀRX)⁻¹, as lme4's ``vcov`` (a copy).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> m.vcov.round(4).to_numpy().tolist()
        [[46.5746, -1.4511], [-1.4511, 2.3895]]
        """
        return pd.DataFrame(np.array(self.solution.vcov), index=self.coef_names, columns=self.coef_names)

    @cached_property
    def _coef_df(self) -> np.ndarray:
        if not self.random.terms and not self.spec.nphi:
            return np.full(len(self.coef_names), float(self.nobs - len(self.coef_names)))
        if self.method == "known":
            return np.full(len(self.coef_names), np.inf)
        if self.method not in ("reml", "ml"):
            return np.full(len(self.coef_names), np.nan)
        from .inference.satterthwaite import coefficient_df
        with blas_limit(n_threads=self.spec.n_threads):
            return _readonly(np.asarray(coefficient_df(self), dtype=float))

    @property
    def coef_df(self) -> np.ndarray:
        """Denominator degrees of freedom per coefficient (Satterthwaite when available).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> m.coef_df.round(4).tolist()
        [17.0, 17.0]
        """
        return self._coef_df

    @cached_property
    def _coef_table(self) -> pd.DataFrame:
        est = self.solution.beta
        se = np.sqrt(np.diag(self.solution.vcov))
        df = np.array(self.coef_df)
        t = est / se
        p = 2 * stats.t.sf(np.abs(t), df)
        return pd.DataFrame({"estimate": est, "se": se, "df": df, "t": t, "p": p}, index=self.coef_names)

    @property
    def coef_table(self) -> pd.DataFrame:
        """Estimates, standard errors, Satterthwaite df, t values and two-sided p values (a copy).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.coef_table.round(4).loc["(Intercept)"].tolist()
        [1527.5, 19.3834, 5.0, 78.8045, 0.0]
        """
        return self._coef_table.copy()

    # --- variance components ----------------------------------------------------------------------
    def _term_labels(self) -> list[str]:
        """lme4's group labels: a repeated grouping factor gets ``.1``, ``.2`` …"""
        return self.random.term_labels()

    def term_covariance(self, term: ReTerm) -> np.ndarray:
        """The term's k×k covariance matrix of random effects: σ² T Tᵀ, or as the estimator gives it
        directly (ANOVA moments, posterior means).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> m.term_covariance(m.random.terms[0]).round(2).tolist()
        [[612.09, 9.6], [9.6, 35.07]]
        """
        raw = self.raw_variances
        if raw is not None:
            label = self._term_labels()[list(self.random.terms).index(term)]
            if label in raw:
                return np.atleast_2d(np.asarray(raw[label], dtype=float))
        T = term.T(self.theta)
        return self.sigma ** 2 * (T @ T.T)

    @cached_property
    def _varcorr(self) -> pd.DataFrame:
        rows = []
        with np.errstate(invalid="ignore", divide="ignore"):  # a negative ANOVA estimate has no SD
            for label, term, st in zip(self.random.varcorr_labels(), self.random.terms,
                                       self.spec.parameters.structures):
                S = self.term_covariance(term)
                sd = np.sqrt(np.diag(S))
                for a, name in enumerate(term.columns):
                    rows.append((label, name, np.nan, S[a, a], sd[a]))
                if getattr(st, "name", None) == "diag":  # no covariances in the model: no rows (lme4's ||)
                    continue
                for a in range(term.k):
                    for b in range(a + 1, term.k):
                        cor = S[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else np.nan
                        rows.append((label, term.columns[a], term.columns[b], S[a, b], cor))
        s2 = self.sigma ** 2
        if self.raw_variances is not None:
            s2 = float(self.raw_variances["Residual"])
        rows.append(("Residual", np.nan, np.nan, s2, np.sqrt(s2) if s2 >= 0 else np.nan))
        return pd.DataFrame(rows, columns=["group", "term1", "term2", "variance", "sd_cor"])

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components in the layout of lme4's ``as.data.frame(VarCorr(m))`` (a copy); a
        ``diag(...)`` term has variance rows only (as lme4's ``||`` terms), other structured terms
        (cs, ar1, fa …) their covariance/correlation rows of G(ψ̂).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.varcorr[["group", "variance"]].round(2).values.tolist()
        [['Batch', 1764.05], ['Residual', 2451.25]]
        """
        return self._varcorr.copy()

    @property
    def is_singular(self) -> bool:
        """lme4's ``isSingular``: a bounded θ element (a relative SD) below 1e-4.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.is_singular
        False
        """
        bounded = self.random.lower == 0
        for t, st in zip(self.random.terms, self.spec.parameters.structures):
            if getattr(st, "name", None) == "rr":  # rank k < columns: zero pivots are the model
                bounded[t.theta_offset:t.theta_offset + t.ntheta] = False
        phi = self.theta[:self.random.ntheta] / self.random.theta_scale()  # θ in units of badly scaled covariates
        return bool(np.any(phi[bounded] < SINGULAR_TOL))

    # --- likelihood -------------------------------------------------------------------------------
    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects, θ and σ.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.npar
        3
        """
        return len(self.coef_names) + len(self.theta) + 1

    @property
    def objective(self) -> float:
        """The optimised criterion (−2 REML or ML log-likelihood).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.objective), 4)
        319.6543
        """
        return float(self.optinfo.fun)

    @property
    def reml_criterion(self) -> float:
        """−2 × restricted log-likelihood at the optimum (REML fits; NaN for ML fits).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.reml_criterion), 4)
        319.6543
        """
        return self.objective if self.reml and self.method in ("reml", "known") else np.nan

    @property
    def deviance(self) -> float:
        """−2 × log-likelihood at the optimum (ML fits; NaN for REML fits, see ``reml_criterion``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.refit(reml=False).deviance), 4)
        327.3271
        """
        return self.objective if not self.reml and self.method in ("ml", "known") else np.nan

    @property
    def loglik(self) -> float:
        """The (restricted, for REML fits) log-likelihood at the optimum.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.loglik), 4)
        -159.8271
        """
        return -0.5 * self.objective

    @property
    def aic(self) -> float:
        """Akaike's information criterion, −2 log L + 2 npar.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.aic), 4)
        325.6543
        """
        return -2 * self.loglik + 2 * self.npar

    @property
    def bic(self) -> float:
        """Schwarz's Bayesian information criterion, −2 log L + log(n) npar.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.bic), 4)
        329.8579
        """
        return -2 * self.loglik + np.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom, nobs − npar.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.df_resid
        27
        """
        return self.nobs - self.npar

    # --- random effects ---------------------------------------------------------------------------
    def _relabel(self, frames: dict) -> dict:
        """Relmat terms cover every level of their K, labelled by the original ids."""
        if self.structures is None:
            return frames
        for t, st in zip(self.random.terms, self.structures):
            if st.labels is not None and t.group in frames and len(frames[t.group]) == len(st.labels):
                frames[t.group].index = pd.Index(st.labels, name=t.group)
        return frames

    @cached_property
    def _ranef(self) -> dict:
        return self._relabel(ranef_frames(self.random, self.solution.b))

    @property
    def ranef(self) -> dict:
        """Group name → DataFrame of BLUPs (levels × terms), as lme4's ``ranef`` (copies).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.ranef["Batch"].shape
        (6, 1)
        >>> round(float(m.ranef["Batch"].loc["A", "(Intercept)"]), 4)
        -17.6069
        """
        return _frames_copy(self._ranef)

    @cached_property
    def _coef(self) -> dict:
        fixef = self._fixef
        same = {_coefficient_key(c): c for c in fixef.index}  # Machine[B] is Machine[T.B] (lme4: MachineB)
        out = {}
        for group, blups in self._ranef.items():
            cols = [same.get(_coefficient_key(c), c) for c in blups.columns]
            missing = [c for c in cols if c not in fixef.index]
            base = pd.concat([pd.Series(0.0, index=missing), fixef])
            frame = pd.DataFrame(np.tile(base.to_numpy(), (len(blups), 1)), index=blups.index,
                                 columns=base.index)
            frame[cols] += blups.to_numpy()
            out[group] = frame
        return out

    @property
    def coef(self) -> dict:
        """Group name → DataFrame of each level's coefficients, fixed effects plus that level's
        BLUPs, as lme4's ``coef``: every fixed coefficient is a column (a random-only column comes
        first with fixed part 0).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> m.coef["Subject"].round(2).loc["308"].tolist()
        [253.66, 19.67]
        """
        return _frames_copy(self._coef)

    @cached_property
    def _condvar(self) -> list:
        if not self.random.terms:
            return []
        with blas_limit(n_threads=self.spec.n_threads):
            return [_readonly(c) for c in self.workspace.conditional_variances(self.theta, self.sigma)]

    @cached_property
    def _ranef_se(self) -> dict:
        sd = np.zeros(self.random.q)
        for term, cv in zip(self.random.terms, self._condvar):
            sd[term_blocks(term)] = np.sqrt(np.maximum(np.einsum("laa->la", cv), 0.0))
        return self._relabel(ranef_frames(self.random, sd))

    @property
    def ranef_se(self) -> dict:
        """Conditional SDs of the BLUPs (lme4's ``condVar``), same shape as ``ranef`` (copies).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.ranef_se["Batch"].iloc[0, 0]), 4)
        19.5866
        """
        return _frames_copy(self._ranef_se)

    def condvar(self, group: str) -> list:
        """Conditional covariance blocks (nlev × k × k) of each term of ``group``.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> [c.shape for c in m.condvar("Subject")]
        [(18, 2, 2)]
        """
        return [cv.copy() for t, cv in zip(self.random.terms, self._condvar) if t.group == group]

    # --- fitted values, residuals, prediction -----------------------------------------------------
    def fitted(self) -> pd.Series:
        """Conditional fitted values Xβ̂ + Zb̂ (indexed like the rows used).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.fitted().round(3).head(2).tolist()
        [1509.893, 1509.893]
        """
        f = self.fixed.X @ self.solution.beta + self.random.Z @ self.solution.b
        return pd.Series(f, index=self.frame.data.index, name="fitted")

    def residuals(self, scaled: bool = False) -> pd.Series:
        """Response minus conditional fitted values (divided by σ̂ when ``scaled``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.residuals().round(3).head(2).tolist()
        [35.107, -69.893]
        >>> m.residuals(scaled=True).round(3).head(2).tolist()
        [0.709, -1.412]
        """
        r = self.fixed.y - self.fitted().to_numpy()
        return pd.Series(r / self.sigma if scaled else r, index=self.frame.data.index, name="residual")

    def predict(self, newdata: pd.DataFrame | None = None, include_random: bool = True) -> pd.Series:
        """Predictions for new data: Xβ̂, plus the BLUPs of the levels seen in the fit
        (unseen levels contribute 0) when ``include_random``.

        Examples
        --------
        >>> import mixedpy
        >>> d = mixedpy.datasets.load("dyestuff")
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d)
        >>> m.predict(d.head(2)).round(3).tolist()
        [1509.893, 1509.893]
        >>> m.predict(d.head(2), include_random=False).round(3).tolist()
        [1527.5, 1527.5]
        """
        if newdata is None:
            return self.fitted() if include_random else pd.Series(
                self.fixed.X @ self.solution.beta, index=self.frame.data.index, name="fitted")
        from .predict import predict
        return predict(self, newdata, include_random)

    # --- teaching -------------------------------------------------------------------------------
    def mme(self) -> MME:
        """Henderson's mixed model equations at the estimates: ``C [β; b] = rhs`` with
        C = [[XᵀX, XᵀZ], [ZᵀX, ZᵀZ + σ²G⁻¹]] (R = σ²I, so σ² cancels); the unknowns of a dense-K
        term are its latent effects (see :class:`mixedpy.solution.MME`).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> mme = m.mme()
        >>> mme.C.shape, mme.names[:2]
        ((7, 7), ['(Intercept)', 'Batch:A:(Intercept)'])
        >>> [round(float(v), 3) for v in mme.solution[:2]]
        [1527.5, -17.607]
        """
        from scipy.sparse.linalg import spsolve
        C, rhs, latent = self.workspace.mme_system(self.theta)
        G = None
        if self.structures is None:
            import scipy.sparse as sp
            Lam = self.random.Lambda(self.theta)
            G = sp.csc_matrix(self.sigma ** 2 * (Lam @ Lam.T))
        return MME(C=C, rhs=rhs, solution=np.asarray(spsolve(C, rhs)), names=self.coef_names + latent, G=G)

    def credible_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Posterior means, SDs and equal-tailed credible intervals (``method="bayes"``) of every kept
        quantity (fixed effects and ``var:<component>``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
        ...                       n_iter=300, burn=100, seed=1, progress=False)
        >>> ci = m.credible_intervals()
        >>> ci.columns.tolist(), ci.index.tolist()
        (['mean', 'sd', '0.025', '0.975'], ['(Intercept)', 'var:Batch', 'var:Residual'])
        """
        if self.posterior is None:
            raise ModelSpecError("credible intervals need a Bayesian fit (method='bayes')")
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        post = self.posterior
        return pd.DataFrame({"mean": post.mean(), "sd": post.std(ddof=1), f"{lo:.3g}": post.quantile(lo),
                             f"{hi:.3g}": post.quantile(hi)})

    # --- inference (mixedpy.inference) -------------------------------------------------------------
    def anova(self, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
        """ANOVA table of the fixed-effect terms (lmerTest's ``anova``); see :func:`mixedpy.inference.anova`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> a = m.anova()
        >>> a.columns.tolist()
        ['sum_sq', 'mean_sq', 'num_df', 'den_df', 'F', 'p']
        >>> round(float(a.loc["Days", "F"]), 3), round(float(a.loc["Days", "den_df"]), 4)
        (45.853, 17.0)
        """
        if self.spec.nphi:
            from .inference.residual_anova import anova as residual_anova
            return residual_anova(self, type=type, ddf=ddf)
        from .inference.anova import anova
        return anova(self, type=type, ddf=ddf)

    def contrast(self, L, rhs=0.0, ddf: str = "satterthwaite") -> pd.DataFrame:
        """F test of L β = rhs (lmerTest's ``contest``); see :func:`mixedpy.inference.contrast`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> round(float(m.contrast([[0, 1]])["F"].iloc[0]), 3)
        45.853
        """
        if self.spec.nphi:
            from .inference.residual_anova import contrast as residual_contrast
            return residual_contrast(self, L, rhs=rhs, ddf=ddf)
        from .inference.anova import contrast
        return contrast(self, L, rhs=rhs, ddf=ddf)

    test = contrast

    def confint(self, method: str = "wald", level: float = 0.95, **kwargs) -> pd.DataFrame:
        """Confidence intervals (``"wald"``, ``"profile"``, ``"bootstrap"``); see :func:`mixedpy.inference.confint`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.confint().round(3).loc["(Intercept)"].tolist()
        [1489.509, 1565.491]
        """
        from .inference.confint import confint
        return confint(self, method=method, level=level, **kwargs)

    def compare(self, *others, names: list | None = None, refit: bool | None = None) -> pd.DataFrame:
        """Likelihood-ratio tests against nested fits (lme4's ``anova(m0, m1)``; REML for residual
        structures with the same fixed part, as nlme's); see :func:`mixedpy.compare`.

        Examples
        --------
        >>> import mixedpy
        >>> d = mixedpy.datasets.load("sleepstudy")
        >>> m1 = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
        >>> m0 = mixedpy.fit("Reaction ~ 1 + (Days | Subject)", d)
        >>> t = m1.compare(m0)
        >>> t.columns.tolist()
        ['npar', 'aic', 'bic', 'loglik', 'deviance', 'chisq', 'df', 'p']
        >>> t["npar"].tolist()
        [5, 6]
        """
        from .inference.lrt import compare
        return compare(self, *others, names=names, refit=refit)

    def emmeans(self, specs, by=None, ddf: str = "kenward-roger", level: float = 0.95, at=None):
        """Estimated marginal means (emmeans / SAS LSMEANS); see :func:`mixedpy.inference.emmeans.emmeans`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> m.emmeans("recipe").table["recipe"].tolist()
        ['A', 'B', 'C']
        """
        from .inference.emmeans import emmeans
        return emmeans(self, specs, by=by, ddf=ddf, level=level, at=at)

    @property
    def params(self) -> np.ndarray:
        """The model's covariance parameters: ψ of structured random terms (``diag(...)``,
        ``fa(...)`` …, :mod:`mixedpy.model.parameters`), θ of the others, then φ (= ``theta``
        for models without structures).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> m.params.round(4).tolist()
        [0.9667, 0.0152, 0.2309]
        """
        p = self.estimates.params
        return np.array(self.theta if p is None else p, dtype=float)

    def loadings(self, group: str):
        """Rotated loadings, specific variances and % of genetic variance per factor of an ``fa``
        or ``rr`` term: :func:`mixedpy.inference.breeding.factor_loadings`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("yield ~ env + fa(0 + env | genotype, 1)", mixedpy.datasets.load("met"))
        >>> m.loadings("genotype").loadings.shape
        (6, 1)
        """
        from .inference.breeding import factor_loadings
        return factor_loadings(self, group)

    def heritability(self, group: str) -> pd.Series:
        """σ²_group over the total variance with a delta-method SE (Series ``estimate``, ``se``);
        see :func:`mixedpy.inference.heritability.heritability`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> round(float(m.heritability("Batch")["estimate"]), 4)
        0.4185
        """
        from .inference.heritability import heritability
        return heritability(self, group)

    @cached_property
    def kr_adjusted(self):
        """pbkrtest's adjusted covariance of β̂ (Kenward-Roger) and the pieces its F test needs,
        computed once per fit (on the REML fit of the same model).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> type(m.kr_adjusted).__name__
        'KRAdjusted'
        """
        from .inference.kenward_roger import compute_vcov_adjusted
        return compute_vcov_adjusted(self)

    @cached_property
    def varpar_info(self):
        """Asymptotic covariance of the variance parameters and the Jacobian of Var(β̂) (Satterthwaite).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> sorted(k for k in vars(m.varpar_info))
        ['hessian', 'jac', 'varpar', 'vcov_beta', 'vcov_varpar']
        """
        from .inference.varpar import compute_varpar_info
        return compute_varpar_info(self)

    # --- residual structure (residual=, weights=; mixedpy.covariance) ---------------------------------
    @property
    def residual_structure(self) -> str | None:
        """The residual covariance in words (None for σ² I without weights).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
        >>> m.residual_structure
        'ar1(Days | Subject): first-order autoregressive (SAS TYPE=AR(1)), 2 parameters'
        """
        rd = self.spec.residual
        if rd is None:
            return None
        w = ", prior weights" if rd.weights is not None else ""
        if rd.structure is None:
            return "σ²/w_i (prior weights)"
        st = rd.structure
        what = "one variance per level of " + rd.term.group if rd.term.name == "het" else st.title
        per = f" per level of {rd.term.group}" if rd.term.group and rd.term.name != "het" else ""
        return (f"{rd.term.text}: {what}{per} (SAS TYPE={st.sas}), {rd.nphi + 1} parameters{w}")

    def _residual_par(self) -> np.ndarray:
        """(groups × npar) structure parameters at the estimates (σ² not included)."""
        return self.spec.residual.full(np.asarray(self.theta)[self.random.ntheta:])

    @property
    def residual_parameters(self) -> pd.DataFrame | None:
        """SAS's "Covariance Parameter Estimates" of the residual structure: one row per parameter
        (``parameter``, ``group``, ``estimate``; variances include σ²).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
        >>> m.residual_parameters["parameter"].tolist()
        ['AR(1)', 'Residual']
        """
        rd = self.spec.residual
        if rd is None or rd.structure is None:
            return None
        par, s2 = self._residual_par(), self.sigma ** 2
        rows = []
        for g, level in enumerate(rd.group_levels):
            label = "" if rd.term.group is None else f"{rd.term.group} {level}"
            rows += [(name, label, value) for name, value in rd.structure.report(par[g], s2)]
        return pd.DataFrame(rows, columns=["parameter", "group", "estimate"])

    def residual_cov(self, group=None, subject=None) -> pd.DataFrame:
        """The within-subject residual covariance σ² R(φ̂) (labelled by time level), of ``group``'s
        parameters when grouped, or of one ``subject``'s observed rows (any structure).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="cs(Days | Subject)")
        >>> m.residual_cov().shape
        (10, 10)
        """
        rd = self.spec.residual
        if rd is None or rd.structure is None:
            raise ModelSpecError("this model has no residual structure (fit with residual=...)")
        s2 = self.sigma ** 2
        phi = np.asarray(self.theta)[self.random.ntheta:]
        if subject is not None or rd.geometric:
            if subject is None:
                raise ModelSpecError(f"{rd.term.name} gives each subject its own matrix: name a subject")
            rows = rd.subject_rows(subject)
            for b, R in zip(rd.batches, rd.batch_blocks(phi)):
                hit = np.flatnonzero(b.rows[:, 0] == rows[0])
                if len(hit):
                    S = s2 * R[hit[0]]
                    if rd.weights is not None:
                        S = S / np.sqrt(np.outer(rd.weights[rows], rd.weights[rows]))
                    idx = self.frame.data.index[rows]
                    return pd.DataFrame(S, index=idx, columns=idx)
        levels = list(map(str, rd.group_levels))
        if rd.ngroups > 1 and group is None:
            raise ModelSpecError(f"the residual parameters differ by {rd.term.group}: give group= one of {levels}")
        g = 0 if group is None else levels.index(str(group)) if str(group) in levels else None
        if g is None:
            raise ModelSpecError(f"group {group!r} is not a level of {rd.term.group} ({levels})")
        S = s2 * rd.structure.matrix(self._residual_par()[g])
        return pd.DataFrame(S, index=rd.structure.labels, columns=rd.structure.labels)

    def coefficients(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Estimates, SEs, df, t and p of the fixed effects with the chosen df method:
        ``"satterthwaite"`` (= ``coef_table``), ``"kenward-roger"`` (SE from the adjusted covariance
        and KR df, as SAS DDFM=KR) or ``"residual"`` (n − p, SAS DDFM=RESIDUAL).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
        >>> list(m.coefficients("residual").columns)
        ['estimate', 'se', 'df', 't', 'p']
        """
        how = str(ddf).lower().replace("_", "-")
        table = self.coef_table
        if how == "satterthwaite":
            return table
        if how == "residual":
            table["df"] = float(self.nobs - len(self.coef_names))
        elif how in ("kenward-roger", "kr"):
            from .inference.kr_residual import coefficient_kr
            se, df = coefficient_kr(self)
            table["se"], table["df"] = se, df
        else:
            raise ModelSpecError(f"ddf {ddf!r} is not one of 'satterthwaite', 'kenward-roger', 'residual'")
        table["t"] = table["estimate"] / table["se"]
        table["p"] = 2 * stats.t.sf(np.abs(table["t"]), table["df"])
        return table

    # --- presentation -----------------------------------------------------------------------------
    def summary(self, correlation: bool | None = None):
        """A printable summary like lmerTest's ``summary()`` (HTML in notebooks).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> type(m.summary()).__name__
        'Summary'
        """
        if self.method in ("known", "anova", "bayes"):
            from .present.method_summary import MethodSummary
            return MethodSummary(self, correlation)
        from .present.summary import Summary
        return Summary(self, correlation)

    def _repr_html_(self) -> str:
        """Jupyter shows a fitted model as its summary (the same HTML as ``m.summary()``)."""
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        if not self.random.terms:
            crit = f"least squares, residual SS {float(np.sum(self.residuals() ** 2)):.6g}"
        else:
            crit = (f"REML criterion {self.reml_criterion:.4f}" if self.reml else f"deviance {self.deviance:.4f}")
        groups = ", ".join(f"{g}: {n}" for g, n in self.ngroups.items())
        return (f"<mixedpy LmmResult {self.formula!r}: {self.nobs} obs"
                f"{', groups ' + groups if groups else ''}; {crit}; σ = {self.sigma:.4g}>")
