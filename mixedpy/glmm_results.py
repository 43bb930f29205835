"""The result of a generalized linear mixed model fit (glmer's ``glmerMod``), frozen like
:class:`~mixedpy.results.LmmResult`.

Two deviances, as lme4 (do not confuse them):

* ``neg2loglik`` = −2 log-likelihood (Laplace or quadrature), glmer's ``-2*logLik(m)`` and the
  "deviance" column of ``summary(m)``;  ``loglik``, ``aic``, ``bic`` and likelihood-ratio tests use it;
* ``deviance`` = Σ deviance residuals at the conditional modes, glmer's ``deviance(m)`` (conditional
  on û; not a likelihood).

Standard errors: for nAGQ ≥ 1, from the Hessian of the deviance in (θ, β) (glmer's
``use.hessian = TRUE``): H by central differences with Richardson extrapolation, vcov(β) = the β block
of 2 H⁻¹; ``vcov_rx`` is (RXᵀRX)⁻¹ from the final PIRLS weights (the only one for nAGQ = 0, as glmer).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from .errors import ConvergenceWarning, ModelSpecError
from .model.spec import ModelSpec
from .results import SINGULAR_TOL, FrozenResult, _frames_copy, _readonly
from .solution import ranef_frames, term_blocks
from .threads import blas_limit


@dataclass(frozen=True)
class GlmmSolution:
    """θ̂, β̂ and the conditional modes (u spherical, b = Λu) — what prediction reads.

    Examples
    --------
    >>> import numpy as np
    >>> GlmmSolution(np.ones(1), np.zeros(2), np.zeros(3), np.zeros(3)).beta.tolist()
    [0.0, 0.0]
    """

    theta: np.ndarray
    beta: np.ndarray
    b: np.ndarray
    u: np.ndarray


class GlmmResult(FrozenResult):
    """A fitted generalized linear mixed model (see the module docstring for the two deviances).

    Attributes
    ----------
    spec : ModelSpec
    family : Family
    nagq : int
    theta : ndarray
    fixef : pandas.Series
    nobs : int
    optinfo : OptSummary
        The last optimization stage; ``estimates.stage1`` is the nAGQ = 0 stage.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 mixedpy.datasets.load("cbpp"), family="binomial")
    >>> round(m.neg2loglik, 4), m.fixef.round(4).tolist()
    (184.0526, [-1.3985, -0.9923, -1.1287, -1.5803])
    """

    def __init__(self, *, spec: ModelSpec, workspace, estimates, refitter=None):
        d = self.__dict__
        d["spec"], d["workspace"], d["estimates"], d["_refitter"] = spec, workspace, estimates, refitter
        e = estimates
        d["solution"] = GlmmSolution(*(_readonly(np.array(a, dtype=float)) for a in (e.theta, e.beta, e.b, e.u)))
        d["theta"] = d["solution"].theta
        d["optinfo"] = e.opt
        d["nobs"] = len(spec.fixed.y)

    fixed = property(lambda self: self.spec.fixed, doc="y (binomial: proportions) and X.")
    family = property(lambda self: self.spec.family, doc="The response distribution and link.")
    nagq = property(lambda self: self.spec.nagq, doc="0, 1 (Laplace) or the quadrature points.")
    converged = property(lambda self: bool(self.optinfo.converged), doc="Whether the optimizer converged.")
    method = "ml"
    reml = False

    # --- fixed effects ---------------------------------------------------------------------------
    @property
    def coef_names(self) -> list[str]:
        """Names of the fixed-effect coefficients.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.coef_names[:2]
        ['(Intercept)', 'period[T.2]']
        """
        return list(self.fixed.names)

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates (a copy).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(float(m.fixef["(Intercept)"]), 4)
        -1.3985
        """
        return pd.Series(np.array(self.solution.beta), index=self.coef_names, name="fixef")

    @cached_property
    def hessian(self) -> np.ndarray | None:
        """Hessian of the deviance (−2 log L, Laplace or quadrature) in (θ, β) at the optimum
        (None for nAGQ = 0).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.hessian.shape
        (5, 5)
        """
        if self.nagq == 0:
            return None
        if self.estimates.hessian is not None:
            return _readonly(np.array(self.estimates.hessian))
        from .hessian import fd_hessian
        ws = self.workspace
        x = np.concatenate([self.theta, self.solution.beta])
        # central differences with steps 1e-2 max(1, |x|): the deviance is smooth on that scale,
        # and smaller steps meet the PIRLS's rounding for non-canonical links
        with blas_limit(large=False):
            H = fd_hessian(ws.deviance, x, step=1e-2, richardson=False)
            ws.pirls(self.theta, self.solution.beta)  # leave the workspace at the optimum
        return _readonly(H)

    @cached_property
    def _vcov(self) -> np.ndarray:
        p, nth = len(self.solution.beta), self.random.ntheta
        if self.nagq == 0 or p == 0:
            return self.estimates.vcov_rx
        H = self.hessian
        try:
            Hinv = np.linalg.inv(H / 2.0)
            V = Hinv[nth:, nth:]
            np.linalg.cholesky(V)
            return (V + V.T) / 2
        except np.linalg.LinAlgError:
            warnings.warn("variance-covariance matrix computed from the finite-difference Hessian is not "
                          "positive definite: falling back to the one estimated from RX", ConvergenceWarning,
                          stacklevel=3)
            return self.estimates.vcov_rx

    @property
    def vcov(self) -> pd.DataFrame:
        """Var(β̂): from the Hessian in (θ, β) for nAGQ ≥ 1 (glmer's default), else ``vcov_rx``.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(float(m.vcov.iloc[0, 0]), 4)
        0.054
        """
        return pd.DataFrame(np.array(self._vcov), index=self.coef_names, columns=self.coef_names)

    @property
    def vcov_rx(self) -> pd.DataFrame:
        """Var(β̂) = (RXᵀRX)⁻¹ from the final PIRLS weights (glmer's ``use.hessian = FALSE``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(float(m.vcov_rx.iloc[0, 0]), 4)
        0.0519
        """
        return pd.DataFrame(np.array(self.estimates.vcov_rx), index=self.coef_names, columns=self.coef_names)

    @property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, standard error, Wald z and its two-sided p-value, as glmer's summary.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.coef_table.round(3).loc["(Intercept)"].tolist()
        [-1.399, 0.232, -6.016, 0.0]
        """
        est = np.array(self.solution.beta)
        se = np.sqrt(np.diag(self._vcov))
        z = est / se
        return pd.DataFrame({"estimate": est, "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z))},
                            index=self.coef_names)

    # --- variance components ---------------------------------------------------------------------
    @cached_property
    def _varcorr(self) -> pd.DataFrame:
        rows = []
        for label, term in zip(self.random.varcorr_labels(), self.random.terms):
            T = term.T(self.theta)
            S = T @ T.T
            sd = np.sqrt(np.diag(S))
            for a, name in enumerate(term.columns):
                rows.append((label, name, np.nan, S[a, a], sd[a]))
            for a in range(term.k):
                for b in range(a + 1, term.k):
                    cor = S[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else np.nan
                    rows.append((label, term.columns[a], term.columns[b], S[a, b], cor))
        return pd.DataFrame(rows, columns=["group", "term1", "term2", "variance", "sd_cor"])

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's ``as.data.frame(VarCorr(m))`` (no Residual row: the
        binomial and Poisson families have no scale parameter).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.varcorr[["group", "variance", "sd_cor"]].round(4).values.tolist()
        [['herd', 0.4125, 0.6423]]
        """
        return self._varcorr.copy()

    @property
    def is_singular(self) -> bool:
        """lme4's ``isSingular``: a bounded θ element below 1e-4.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.is_singular
        False
        """
        bounded = self.random.lower == 0
        return bool(np.any(self.theta[bounded] < SINGULAR_TOL))

    # --- likelihood ------------------------------------------------------------------------------
    @property
    def neg2loglik(self) -> float:
        """−2 log-likelihood at the optimum (Laplace or quadrature; glmer's ``-2*logLik``).  For
        nAGQ > 1 it is the full −2 log-likelihood; glmer's value leaves out the saturated model's
        log-likelihood there (add it to compare glmer's number).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(m.neg2loglik, 4)
        184.0526
        """
        return float(self.estimates.objective)

    objective = neg2loglik

    @property
    def loglik(self) -> float:
        """The log-likelihood (−``neg2loglik`` / 2).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(m.loglik, 4)
        -92.0263
        """
        return -0.5 * self.neg2loglik

    @property
    def npar(self) -> int:
        """Number of estimated parameters: θ and β.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.npar
        5
        """
        return self.random.ntheta + len(self.solution.beta)

    @property
    def aic(self) -> float:
        """AIC = −2 log L + 2 npar.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(m.aic, 3)
        194.053
        """
        return self.neg2loglik + 2 * self.npar

    @property
    def bic(self) -> float:
        """BIC = −2 log L + log(n) npar.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(m.bic, 3)
        204.179
        """
        return float(self.neg2loglik + np.log(self.nobs) * self.npar)

    @property
    def df_resid(self) -> int:
        """n − npar.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.df_resid
        51
        """
        return self.nobs - self.npar

    @property
    def deviance(self) -> float:
        """Σ deviance residuals at the conditional modes (glmer's ``deviance(m)``; not −2 log L,
        which is :attr:`neg2loglik`).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(m.deviance, 3)
        73.472
        """
        mu = self.fitted().to_numpy()
        return float(np.sum(self.family.dev_resids(self.fixed.y, mu, self.spec.prior_weights)))

    # --- random effects --------------------------------------------------------------------------
    @cached_property
    def _ranef(self) -> dict:
        return ranef_frames(self.random, np.array(self.solution.b))

    @property
    def ranef(self) -> dict:
        """Group → DataFrame of conditional modes of the random effects (levels × terms).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(float(m.ranef["herd"].iloc[0, 0]), 3)
        0.59
        """
        return _frames_copy(self._ranef)

    @cached_property
    def _condvar(self) -> list:
        with blas_limit(large=False):
            cv = self.workspace.conditional_variances(self.theta, self.solution.beta)
        return [_readonly(c) for c in cv]

    def condvar(self, group: str) -> list:
        """Conditional covariance blocks (nlev × k × k) of each term of ``group`` (lme4's condVar).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> [c.shape for c in m.condvar("herd")]
        [(15, 1, 1)]
        """
        return [cv.copy() for t, cv in zip(self.random.terms, self._condvar) if t.group == group]

    @property
    def ranef_se(self) -> dict:
        """Conditional SDs of the modes (square roots of lme4's condVar), shaped as ``ranef``.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(float(m.ranef_se["herd"].iloc[0, 0]), 3)
        0.348
        """
        sd = np.zeros(self.random.q)
        for term, cv in zip(self.random.terms, self._condvar):
            sd[term_blocks(term)] = np.sqrt(np.maximum(np.einsum("laa->la", cv), 0.0))
        return ranef_frames(self.random, sd)

    # --- fitted values and prediction ------------------------------------------------------------
    def _eta(self) -> np.ndarray:
        eta = self.fixed.X @ self.solution.beta + self.random.Z @ self.solution.b
        return eta + (self.spec.offset if self.spec.offset is not None else 0.0)

    def fitted(self) -> pd.Series:
        """Fitted means on the response scale, g⁻¹(offset + Xβ̂ + Zb̂) (binomial: probabilities).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(float(m.fitted().iloc[0]), 4)
        0.3082
        """
        return pd.Series(self.family.link.linkinv(self._eta()), index=self.frame.data.index, name="fitted")

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "link",
                include_random: bool = True) -> pd.Series:
        """Predictions on the link (``type="link"``, glmer's default) or response scale; new levels
        of a grouping factor get random effect 0 (``allow.new.levels = TRUE``).

        Examples
        --------
        >>> import mixedpy
        >>> d = mixedpy.datasets.load("cbpp")
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
        >>> m.predict(d.head(2), type="response").round(4).tolist()
        [0.3082, 0.1417]
        """
        if type not in ("link", "response"):
            raise ModelSpecError(f"type must be 'link' or 'response', got {type!r}")
        if newdata is None:
            eta = self._eta() if include_random else (
                self.fixed.X @ self.solution.beta + (self.spec.offset if self.spec.offset is not None else 0.0))
            eta = pd.Series(eta, index=self.frame.data.index)
        else:
            from .design.frame import as_dataframe, referenced_names
            from .model.glm_response import offset_vector
            from .predict import predict as lmm_predict
            data = as_dataframe(newdata).copy()
            f = self.frame.formula
            others = set(referenced_names(f.fixed)) | set(f.grouping_columns)
            for t in f.random:
                others |= set(referenced_names(t.expr))
            for c in referenced_names(f.response):  # response columns (cbind(s, n - s)): not needed
                if c not in data.columns and c not in others:
                    data[c] = 0.0
            eta = lmm_predict(self, data, include_random=include_random)
            off = offset_vector(self.spec.offset_terms, data)
            if off is not None:
                eta = eta + off
        out = eta if type == "link" else pd.Series(self.family.link.linkinv(eta.to_numpy()), index=eta.index)
        return out.rename("predicted")

    # --- inference --------------------------------------------------------------------------------
    @property
    def ml_fit(self) -> GlmmResult:
        """The fit itself (GLMMs are fitted by maximum likelihood), for likelihood-ratio tests.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.ml_fit is m
        True
        """
        return self

    def compare(self, *others, names: list | None = None):
        """Likelihood-ratio tests against other fits of the same data (glmer's ``anova(m0, m)``);
        the "deviance" column is −2 log L.

        Examples
        --------
        >>> import mixedpy
        >>> d = mixedpy.datasets.load("cbpp")
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
        >>> m0 = mixedpy.fit("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", d, family="binomial")
        >>> round(float(m.compare(m0)["chisq"].iloc[-1]), 3)
        25.61
        """
        from .inference.lrt import compare
        models = (self, *others)
        kinds = {(type(m).__name__, getattr(getattr(m, "family", None), "name", None)) for m in models}
        if len(kinds) > 1:
            raise ModelSpecError(f"likelihood-ratio tests compare models of one family; got {sorted(map(str, kinds))}")
        return compare(*models, names=names)

    def confint(self, method: str = "wald", level: float = 0.95, **kwargs) -> pd.DataFrame:
        """Confidence intervals, as for linear models (:func:`mixedpy.inference.confint.confint`):
        ``"wald"`` (fixed effects, estimate ± z SE with the Hessian SEs: glmer's ``method = "Wald"``),
        ``"profile"`` (the Laplace deviance profiled over (θ, β): SDs, correlations and fixed effects,
        lme4's ``profile``), ``"bootstrap"`` (parametric, through :meth:`simulate`; ``nsim``, ``seed``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.confint().round(3).iloc[0].tolist()
        [-1.854, -0.943]
        >>> m.confint(method="profile").round(3).loc["sd_(Intercept)|herd"].tolist()
        [0.346, 1.1]
        """
        from .inference.confint import confint
        return confint(self, method=method, level=level, **kwargs)

    def heritability(self, group: str) -> pd.Series:
        """h² on the liability scale of a binomial model (threshold model with ``relmat``); see
        :func:`mixedpy.inference.heritability.heritability`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(float(m.heritability("herd")["estimate"]), 4)   # σ²_herd / (σ²_herd + π²/3)
        0.1114
        """
        from .inference.heritability import heritability
        return heritability(self, group)

    def simulate(self, nsim: int = 1, seed=None, include_random: bool = False) -> pd.DataFrame:
        """Responses simulated from the fitted model (glmer's ``simulate``): new random effects
        b ~ N(0, ΛΛᵀ) (``include_random=True``: the conditional modes instead), then y ~ family;
        binomial responses as proportions of the fitted trials (the scale of ``fixed.y``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.simulate(3, seed=1).shape
        (56, 3)
        """
        if not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise ModelSpecError(f"nsim must be a positive integer, got {nsim!r}")
        rng = np.random.default_rng(seed)
        fixed = self.fixed.X @ self.solution.beta + (self.spec.offset if self.spec.offset is not None else 0.0)
        Lam = self.random.Lambda(self.theta)
        out = np.empty((self.nobs, nsim))
        wt = np.asarray(self.spec.prior_weights)
        for j in range(nsim):
            b = self.solution.b if include_random else Lam @ rng.standard_normal(self.random.q)
            mu = self.family.link.linkinv(fixed + self.random.Z @ b)
            if self.family.name == "binomial":
                trials = np.round(wt).astype(np.int64)
                out[:, j] = np.divide(rng.binomial(trials, mu), trials, out=np.zeros(self.nobs), where=trials > 0)
            else:
                out[:, j] = rng.poisson(mu)
        return pd.DataFrame(out, index=self.frame.data.index, columns=[f"sim_{j + 1}" for j in range(nsim)])

    # --- refits and presentation -----------------------------------------------------------------
    def refit(self, *, y=None, start=None, **changes) -> GlmmResult:
        """The same model fitted again (``nagq`` may change; ``y`` a new response on the same scale:
        binomial proportions with the same trials; ``start`` θ or (θ, β)).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> round(m.refit(nagq=0).neg2loglik, 3)
        184.109
        """
        if self._refitter is None:
            raise ModelSpecError("this result was built without a fitter and cannot be refitted")
        spec = self.spec.replace(**changes) if changes else self.spec
        if y is not None:
            import dataclasses
            y = np.asarray(y, dtype=float)
            if y.shape != self.fixed.y.shape:
                raise ModelSpecError(f"a new response needs {self.nobs} values, got {y.shape}")
            y = _readonly(y.copy())
            spec = dataclasses.replace(spec, fixed=dataclasses.replace(spec.fixed, y=y))
        return self._refitter(spec, start=start)

    @property
    def fitter(self):
        """The orchestrator that made this result.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> callable(m.fitter)
        True
        """
        return self._refitter

    def emmeans(self, specs, by=None, type: str = "link", level: float = 0.95, at=None):
        """Estimated marginal means on the link or response scale (emmeans for glmer fits: z
        inference); see :func:`mixedpy.inference.emmeans.emmeans`.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> m.emmeans("period", type="response").table["prob"].round(4).tolist()
        [0.198, 0.0839, 0.074, 0.0484]
        """
        from .inference.emmeans import emmeans
        return emmeans(self, specs, by=by, ddf="asymptotic", level=level, at=at, type=type)

    def summary(self):
        """glmer's ``summary()`` as text (printable; ``str()`` gives the text).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 mixedpy.datasets.load("cbpp"), family="binomial")
        >>> print(m.summary())  # doctest: +ELLIPSIS
        Generalized linear mixed model fit by maximum likelihood (Laplace Approximation) ['glmerMod']
         Family: binomial  ( logit )
        ...
        """
        from .present.glmm_summary import glmm_summary
        return glmm_summary(self)

    def __repr__(self) -> str:
        return (f"<GlmmResult {self.family.name}({self.family.link.name}) {self.formula!r}: "
                f"-2 log L = {self.neg2loglik:.4f}, n = {self.nobs}>")
