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

from .design.fixed import FixedDesign
from .design.frame import ModelFrame
from .design.random import RandomDesign, ReTerm
from .objective import Workspace
from .optimize import OptSummary
from .solution import MME, Solution, conditional_variances, mme, ranef_frames

SINGULAR_TOL = 1e-4


def _coefficient_key(name: str) -> str:
    """One spelling for a factor level's coefficient under full- and reduced-rank coding."""
    return str(name).replace("[T.", "[")


class LmmResult:
    """A fitted linear mixed model (or a linear model when the formula has no random term).

    Attributes
    ----------
    formula : str
        The formula as given.
    reml : bool
        Whether the REML criterion was optimized (False: maximum likelihood).
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

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> round(float(m.fixef["Days"]), 3)
    10.467
    """

    def __init__(self, *, formula: str, frame: ModelFrame, fixed: FixedDesign, random: RandomDesign,
                 workspace: Workspace | None, opt: OptSummary, solution: Solution, reml: bool,
                 method: str, data_name: str = "data"):
        self.formula = formula
        self.frame = frame
        self.fixed = fixed
        self.random = random
        self.workspace = workspace
        self.optinfo = opt
        self.solution = solution
        self.reml = reml
        self.method = method
        self.data_name = data_name
        self.theta = solution.theta
        self.sigma = solution.sigma
        self.nobs = len(fixed.y)
        self.dropped_rows = frame.dropped_rows

    # --- fixed effects --------------------------------------------------------------------------
    @property
    def coef_names(self) -> list[str]:
        return list(self.fixed.names)

    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(self.solution.beta, index=self.coef_names, name="estimate")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Var(β̂) = σ² (RXᵀRX)⁻¹, as lme4's ``vcov``."""
        return pd.DataFrame(self.solution.vcov, index=self.coef_names, columns=self.coef_names)

    @cached_property
    def coef_df(self) -> np.ndarray:
        """Denominator degrees of freedom per coefficient (Satterthwaite when available)."""
        if not self.random.terms:
            return np.full(len(self.coef_names), float(self.nobs - len(self.coef_names)))
        try:
            from .inference.satterthwaite import coefficient_df
        except ImportError:
            return np.full(len(self.coef_names), np.nan)
        return coefficient_df(self)

    @cached_property
    def coef_table(self) -> pd.DataFrame:
        """Estimates, standard errors, df, t values and two-sided p values."""
        est = self.solution.beta
        se = np.sqrt(np.diag(self.solution.vcov))
        df = self.coef_df
        t = est / se
        p = 2 * stats.t.sf(np.abs(t), df)
        return pd.DataFrame({"estimate": est, "se": se, "df": df, "t": t, "p": p}, index=self.coef_names)

    # --- variance components ----------------------------------------------------------------------
    def _term_labels(self) -> list[str]:
        """lme4's group labels: a repeated grouping factor gets ``.1``, ``.2`` …"""
        return self.random.term_labels()

    def term_covariance(self, term: ReTerm) -> np.ndarray:
        """σ² T Tᵀ: the term's k×k covariance matrix of random effects."""
        T = term.T(self.theta)
        return self.sigma ** 2 * (T @ T.T)

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components in the layout of lme4's ``as.data.frame(VarCorr(m))``."""
        rows = []
        for label, term in zip(self.random.varcorr_labels(), self.random.terms):
            S = self.term_covariance(term)
            sd = np.sqrt(np.diag(S))
            for a, name in enumerate(term.columns):
                rows.append((label, name, np.nan, S[a, a], sd[a]))
            for a in range(term.k):
                for b in range(a + 1, term.k):
                    cor = S[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else np.nan
                    rows.append((label, term.columns[a], term.columns[b], S[a, b], cor))
        rows.append(("Residual", np.nan, np.nan, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["group", "term1", "term2", "variance", "sd_cor"])

    @property
    def ngroups(self) -> dict:
        return {g: terms[0].nlev for g, terms in self.random.groups().items()}

    @property
    def is_singular(self) -> bool:
        """lme4's ``isSingular``: a bounded θ element (a relative SD) below 1e-4."""
        bounded = self.random.lower == 0
        phi = self.theta / self.random.theta_scale()  # θ in units of badly scaled covariates
        return bool(np.any(phi[bounded] < SINGULAR_TOL))

    # --- likelihood -------------------------------------------------------------------------------
    @property
    def npar(self) -> int:
        return len(self.coef_names) + len(self.theta) + 1

    @property
    def objective(self) -> float:
        return float(self.optinfo.fun)

    @property
    def reml_criterion(self) -> float:
        """−2 × restricted log-likelihood at the optimum (REML fits; NaN for ML fits)."""
        return self.objective if self.reml else np.nan

    @property
    def deviance(self) -> float:
        """−2 × log-likelihood at the optimum (ML fits; NaN for REML fits, see ``reml_criterion``)."""
        return np.nan if self.reml else self.objective

    @property
    def loglik(self) -> float:
        return -0.5 * self.objective

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.npar

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    # --- random effects ---------------------------------------------------------------------------
    @cached_property
    def ranef(self) -> dict:
        """Group name → DataFrame of BLUPs (levels × terms), as lme4's ``ranef``."""
        return ranef_frames(self.random, self.solution.b)

    @cached_property
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
        fixef = self.fixef
        same = {_coefficient_key(c): c for c in fixef.index}  # Machine[B] is Machine[T.B] (lme4: MachineB)
        out = {}
        for group, blups in self.ranef.items():
            cols = [same.get(_coefficient_key(c), c) for c in blups.columns]
            missing = [c for c in cols if c not in fixef.index]
            base = pd.concat([pd.Series(0.0, index=missing), fixef])
            frame = pd.DataFrame(np.tile(base.to_numpy(), (len(blups), 1)), index=blups.index,
                                 columns=base.index)
            frame[cols] += blups.to_numpy()
            out[group] = frame
        return out

    @cached_property
    def _condvar(self) -> list:
        return conditional_variances(self.workspace, self.solution) if self.random.terms else []

    @cached_property
    def ranef_se(self) -> dict:
        """Conditional SDs of the BLUPs (lme4's ``condVar``), same shape as ``ranef``."""
        sd = np.zeros(self.random.q)
        for term, cv in zip(self.random.terms, self._condvar):
            idx = term.offset + np.arange(term.nlev)[:, None] * term.k + np.arange(term.k)
            sd[idx] = np.sqrt(np.maximum(np.einsum("laa->la", cv), 0.0))
        return ranef_frames(self.random, sd)

    def condvar(self, group: str) -> list:
        """Conditional covariance blocks (nlev × k × k) of each term of ``group``."""
        return [cv for t, cv in zip(self.random.terms, self._condvar) if t.group == group]

    # --- fitted values, residuals, prediction -----------------------------------------------------
    def fitted(self) -> pd.Series:
        """Conditional fitted values Xβ̂ + Zb̂ (indexed like the rows used)."""
        f = self.fixed.X @ self.solution.beta + self.random.Z @ self.solution.b
        return pd.Series(f, index=self.frame.data.index, name="fitted")

    def residuals(self, scaled: bool = False) -> pd.Series:
        """Response minus conditional fitted values (divided by σ̂ when ``scaled``)."""
        r = self.fixed.y - self.fitted().to_numpy()
        return pd.Series(r / self.sigma if scaled else r, index=self.frame.data.index, name="residual")

    def predict(self, newdata: pd.DataFrame | None = None, include_random: bool = True) -> pd.Series:
        """Predictions for new data: Xβ̂, plus the BLUPs of the levels seen in the fit
        (unseen levels contribute 0) when ``include_random``."""
        if newdata is None:
            return self.fitted() if include_random else pd.Series(
                self.fixed.X @ self.solution.beta, index=self.frame.data.index, name="fitted")
        from .predict import predict
        return predict(self, newdata, include_random)

    # --- teaching -------------------------------------------------------------------------------
    def mme(self) -> MME:
        """Henderson's mixed model equations at the estimates (see :class:`mixedpy.solution.MME`)."""
        names = list(self.coef_names)
        for t in self.random.terms:
            names += [f"{t.group}:{lev}:{c}" for lev in t.levels for c in t.columns]
        return mme(self.workspace, self.solution, names)

    # --- inference (mixedpy.inference) -------------------------------------------------------------
    def anova(self, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
        """ANOVA table of the fixed-effect terms (lmerTest's ``anova``); see :func:`mixedpy.inference.anova`."""
        from .inference.anova import anova
        return anova(self, type=type, ddf=ddf)

    def contrast(self, L, rhs=0.0, ddf: str = "satterthwaite") -> pd.DataFrame:
        """F test of L β = rhs (lmerTest's ``contest``); see :func:`mixedpy.inference.contrast`."""
        from .inference.anova import contrast
        return contrast(self, L, rhs=rhs, ddf=ddf)

    test = contrast

    def confint(self, method: str = "wald", level: float = 0.95, **kwargs) -> pd.DataFrame:
        """Confidence intervals (``"wald"``, ``"profile"``, ``"bootstrap"``); see :func:`mixedpy.inference.confint`."""
        from .inference.confint import confint
        return confint(self, method=method, level=level, **kwargs)

    def compare(self, *others, names: list | None = None) -> pd.DataFrame:
        """Likelihood-ratio tests against nested fits (lme4's ``anova(m0, m1)``); see :func:`mixedpy.compare`."""
        from .inference.lrt import compare
        return compare(self, *others, names=names)

    def heritability(self, group: str) -> pd.Series:
        """σ²_group over the total variance with a delta-method SE (Series ``estimate``, ``se``);
        see :func:`mixedpy.genetics.heritability.heritability`."""
        from .genetics.heritability import heritability
        return heritability(self, group)

    # --- presentation -----------------------------------------------------------------------------
    def summary(self):
        """A printable summary like lmerTest's ``summary()`` (HTML in notebooks)."""
        from .present.summary import Summary
        return Summary(self)

    def __repr__(self) -> str:
        if not self.random.terms:
            crit = f"least squares, residual SS {float(np.sum(self.residuals() ** 2)):.6g}"
        else:
            crit = (f"REML criterion {self.reml_criterion:.4f}" if self.reml else f"deviance {self.deviance:.4f}")
        groups = ", ".join(f"{g}: {n}" for g, n in self.ngroups.items())
        return (f"<mixedpy LmmResult {self.formula!r}: {self.nobs} obs"
                f"{', groups ' + groups if groups else ''}; {crit}; σ = {self.sigma:.4g}>")
