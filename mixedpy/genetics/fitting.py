"""Fits through the MME workspace: relationship matrices (``relmat=``) and known variance
components (``variances=``); the result class shared with the ANOVA and Bayesian methods.

Why the MME form for relmat terms: a pedigree's A⁻¹ is sparse (≈ 7 non-zeros per animal) and
built directly, while any factor of A (needed by lme4's Λ-form) is dense; so C = ZᵀZ + Γ⁻¹ is
factored by block elimination (see :mod:`mixedpy.genetics.mme` and
:mod:`mixedpy.genetics.elimination`).
A model whose random part is a single one-column dense-K term (GBLUP: ``(1 | id)`` with a genomic
K) uses :mod:`mixedpy.genetics.tridiagonal` instead: one O(n³) reduction, then O(n) per θ.
The optimizer is derivative-free (BOBYQA) since the gradient's trace terms would need a selected
inverse of C at every step.  The dense O(n³) steps run with the BLAS threads of
:func:`mixedpy.threads.blas_limit`.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..design.fixed import FixedDesign, fixed_design
from ..design.frame import ModelFrame, make_frame
from ..design.random import RandomDesign
from ..errors import ConvergenceWarning, DataError, ModelSpecError, SingularFitWarning
from ..optimize import OptSummary, minimize_deviance
from ..results import LmmResult
from ..solution import MME, Solution, ranef_frames, term_blocks
from ..threads import blas_limit
from .mme import MMEWorkspace
from .relmat import relmat_design
from .tridiagonal import TridiagonalWorkspace, single_dense_term

@dataclass(frozen=True)
class Setup:
    """Frame, designs and workspace of a model fitted through the MME."""

    frame: ModelFrame
    fixed: FixedDesign
    random: RandomDesign
    structures: list
    workspace: MMEWorkspace | TridiagonalWorkspace


def setup(formula: str, data, relmat: dict | None = None, need_random: bool = True,
          workspace: str = "auto") -> Setup:
    """Parse, build the designs (relmat terms over all levels of K) and the workspace.

    ``workspace="auto"`` takes the :class:`~mixedpy.genetics.tridiagonal.TridiagonalWorkspace` when
    the random part is a single one-column dense-K term (GBLUP), the general
    :class:`~mixedpy.genetics.mme.MMEWorkspace` otherwise; ``"mme"`` always the latter.
    """
    frame = make_frame(formula, data)
    fixed = fixed_design(frame.formula.response, frame.formula.fixed, frame.data)
    random, structures = relmat_design(frame.formula.random, frame.data, relmat)
    if need_random and not random.terms:
        raise ModelSpecError("this option needs at least one random term in the formula")
    if len(fixed.y) <= fixed.X.shape[1]:
        raise DataError(f"{len(fixed.y)} observations are too few for {fixed.X.shape[1]} fixed-effect coefficients")
    for t in random.terms:
        if t.nlev < 2:
            raise DataError(f"grouping factor {t.group!r} has only {t.nlev} level; a random effect "
                            "needs at least 2 levels")
    if workspace == "auto" and single_dense_term(random, structures):
        ws = TridiagonalWorkspace(fixed.X, fixed.y, random, structures)
    else:
        ws = MMEWorkspace(fixed.X, fixed.y, random, structures)
    return Setup(frame, fixed, random, structures, ws)


def solution_at(ws: MMEWorkspace, theta: np.ndarray, sigma2: float) -> Solution:
    """β̂, b̂ and Var(β̂) = σ² RXtRX⁻¹ at θ with residual variance σ²."""
    parts = ws.parts(theta)
    b = ws.effects(parts.u)
    vcov = sigma2 * np.linalg.inv(parts.RXtRX) if ws.p else np.zeros((0, 0))
    return Solution(theta=np.asarray(theta, dtype=float), beta=parts.beta, b=b, u=parts.u,
                    sigma=float(np.sqrt(sigma2)), vcov=vcov, parts=parts)


def covariance_columns(label: str, columns: list) -> list[tuple[str, str, int, int]]:
    """(name, kind, a, b) of the posterior columns of a term's covariance draws (kind "var", "cov" or
    "cor" of columns a and b): ``var:<label>`` for a scalar term; ``var:<label>:<column>``,
    ``cov:<label>:<c1>:<c2>`` and ``cor:<label>:<c1>:<c2>`` for a vector term.

    Examples
    --------
    >>> [c[0] for c in covariance_columns("Subject", ["(Intercept)", "Days"])]
    ['var:Subject:(Intercept)', 'var:Subject:Days', 'cov:Subject:(Intercept):Days', 'cor:Subject:(Intercept):Days']
    """
    if len(columns) == 1:
        return [(f"var:{label}", "var", 0, 0)]
    out = [(f"var:{label}:{c}", "var", a, a) for a, c in enumerate(columns)]
    for a in range(len(columns)):
        for b in range(a + 1, len(columns)):
            pair = f"{label}:{columns[a]}:{columns[b]}"
            out += [(f"cov:{pair}", "cov", a, b), (f"cor:{pair}", "cor", a, b)]
    return out


class MMEResult(LmmResult):
    """An :class:`~mixedpy.LmmResult` fitted through the MME (relmat terms, known variances,
    ANOVA or Bayesian estimates).

    Differences from the base class: ``ranef`` of a relmat term covers every level of its K (all
    animals of the pedigree), labelled by the original ids; for ``method="anova"`` the variance
    components are reported as estimated (possibly negative); for ``method="bayes"`` ``posterior``
    holds the draws.
    """

    def __init__(self, *, structures: list, variances: dict | None = None,
                 vcov_variances: pd.DataFrame | None = None, posterior: pd.DataFrame | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.structures = structures
        self.raw_variances = variances          # group label → variance (k × k matrix), plus "Residual"
        self.vcov_variances = vcov_variances    # sampling covariance of raw_variances (ANOVA)
        self.posterior = posterior

    def _relabel(self, frames: dict) -> dict:
        for t, st in zip(self.random.terms, self.structures):
            if st.labels is not None and t.group in frames and len(frames[t.group]) == len(st.labels):
                frames[t.group].index = pd.Index(st.labels, name=t.group)
        return frames

    @cached_property
    def ranef(self) -> dict:
        return self._relabel(ranef_frames(self.random, self.solution.b))

    @cached_property
    def _condvar(self) -> list:
        with blas_limit():
            return self.workspace.conditional_variances(self.theta, self.sigma)

    @cached_property
    def ranef_se(self) -> dict:
        sd = np.zeros(self.random.q)
        for term, cv in zip(self.random.terms, self._condvar):
            sd[term_blocks(term)] = np.sqrt(np.maximum(np.einsum("laa->la", cv), 0.0))
        return self._relabel(ranef_frames(self.random, sd))

    def term_covariance(self, term) -> np.ndarray:
        """The term's k × k covariance: as estimated by ANOVA or the posterior mean (Bayes) when the
        method gives it directly, σ² T Tᵀ otherwise."""
        if self.raw_variances is not None:
            label = self._term_labels()[list(self.random.terms).index(term)]
            if label in self.raw_variances:
                return np.atleast_2d(np.asarray(self.raw_variances[label], dtype=float))
        return super().term_covariance(term)

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        with np.errstate(invalid="ignore", divide="ignore"):  # a negative ANOVA estimate has no SD
            vc = super().varcorr.copy()
        if self.raw_variances is not None:
            v = float(self.raw_variances["Residual"])
            vc.loc[vc["group"] == "Residual", ["variance", "sd_cor"]] = [v, np.sqrt(v) if v >= 0 else np.nan]
        return vc

    @cached_property
    def coef_df(self) -> np.ndarray:
        if self.method in ("reml", "ml"):
            with blas_limit():  # Satterthwaite's df factor the MME at perturbed θ (as heritability)
                return super().coef_df
        return np.full(len(self.coef_names), np.inf if self.method == "known" else np.nan)

    def mme(self) -> MME:
        """Henderson's MME at the estimates, for the working coefficients (b, or the latent effects
        of a dense-K term): ``C [β; b] = rhs`` with C = [[XᵀX, XᵀZ], [ZᵀX, ZᵀZ + σ² G⁻¹]]."""
        ws = self.workspace.mme_workspace()
        C, rhs = ws.mme_matrix(self.theta)
        from scipy.sparse.linalg import spsolve
        names = list(self.coef_names) + ws.latent_names()
        return MME(C=C, rhs=rhs, solution=np.asarray(spsolve(C, rhs)), names=names, G=None)

    def credible_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Posterior means, SDs and equal-tailed credible intervals (``method="bayes"``) of every kept
        quantity (fixed effects and ``var:<component>``)."""
        if self.posterior is None:
            raise ModelSpecError("credible intervals need a Bayesian fit (method='bayes')")
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        post = self.posterior
        return pd.DataFrame({"mean": post.mean(), "sd": post.std(ddof=1), f"{lo:.3g}": post.quantile(lo),
                             f"{hi:.3g}": post.quantile(hi)})

    def summary(self, correlation: bool | None = None):
        """Summary as the base class, titled by the estimation method; Bayesian fits add the
        posterior means with 95% credible intervals."""
        from ..present.summary import Summary

        result = self

        class _MMESummary(Summary):
            def title(self) -> str:
                how = {"known": "at known variance components (MME solved directly)",
                       "anova": "by ANOVA (method of moments, Henderson III)",
                       "bayes": "by Gibbs sampling (posterior means)"}.get(result.method)
                return f"Linear mixed model fit {how} [mixedpy]" if how else super().title()

            def header(self) -> list[str]:
                if result.method in ("anova", "bayes"):
                    lines = [self.title(), f"Formula: {result.formula}", f"   Data: {result.data_name}", ""]
                    return lines + [result.optinfo.message, ""]
                return super().header()

            def __str__(self) -> str:
                text = super().__str__()
                if result.posterior is not None:
                    ci = result.credible_intervals().round(5)
                    text += "\n\nPosterior means and 95% credible intervals:\n" + ci.to_string()
                return text

        return _MMESummary(self, correlation)

    @property
    def reml_criterion(self) -> float:
        return self.objective if self.method in ("reml", "known") and self.reml else np.nan

    @property
    def deviance(self) -> float:
        return self.objective if not self.reml and self.method in ("ml", "known") else np.nan


def theta_from_variances(random: RandomDesign, labels: list, variances: dict) -> tuple[np.ndarray, float]:
    """θ and σ² from known variance components {group label: variance, "Residual": σ²}."""
    variances = dict(variances)
    if "Residual" not in variances:
        raise ModelSpecError("variances must include 'Residual' (the residual variance)")
    expected = set(labels) | {"Residual"}
    extra = [k for k in variances if k not in expected]
    missing = [k for k in labels if k not in variances]
    if extra or missing:
        raise ModelSpecError(f"variances must give exactly the components {sorted(expected)}; "
                             f"missing {missing}, unknown {extra}")
    s2 = float(variances["Residual"])
    if not np.isfinite(s2) or s2 <= 0:
        raise ModelSpecError(f"the residual variance must be positive, got {variances['Residual']!r}")
    theta = np.zeros(random.ntheta)
    for label, t in zip(labels, random.terms):
        if t.k != 1:
            raise ModelSpecError(f"known variances are supported for random intercept (scalar) terms; "
                                 f"{label!r} has {t.k} columns")
        v = float(variances[label])
        if not np.isfinite(v) or v < 0:
            raise ModelSpecError(f"variance of {label!r} must be non-negative, got {variances[label]!r}")
        theta[t.theta_offset] = np.sqrt(v / s2)
    return theta, s2


def fit_mme(formula: str, data, *, reml: bool, relmat: dict | None, variances: dict | None,
            optimizer: str = "bobyqa", data_name: str = "data") -> MMEResult:
    """REML/ML fit (or known variance components) of a model with relmat terms via the MME (or, for
    a single dense-K term, the tridiagonal workspace)."""
    with blas_limit():
        return _fit_mme(formula, data, reml=reml, relmat=relmat, variances=variances, optimizer=optimizer,
                        data_name=data_name)


def _fit_mme(formula: str, data, *, reml: bool, relmat: dict | None, variances: dict | None,
             optimizer: str, data_name: str) -> MMEResult:
    t0 = time.perf_counter()
    s = setup(formula, data, relmat)
    ws = s.workspace
    if variances is not None:
        theta, s2 = theta_from_variances(s.random, s.random.term_labels(), variances)
        parts = ws.parts(theta)
        fun = parts.deviance_at(s2, reml)
        opt = OptSummary("known", theta, theta, float(fun), 1, True, "variance components given",
                         np.zeros(len(theta)), time.perf_counter() - t0)
        method = "known"
    else:
        opt_name = "bobyqa" if optimizer in ("lbfgs", "bobyqa") else optimizer
        opt = minimize_deviance(lambda th: ws.deviance(th, reml), s.random.theta0, s.random.lower, opt_name)
        theta = opt.theta
        s2 = ws.parts(theta).sigma2(reml)
        method = "reml" if reml else "ml"
        if not opt.converged:
            warnings.warn(f"the optimizer ({opt.method}) stopped without converging after {opt.nfev} "
                          f"evaluations: {opt.message}", ConvergenceWarning, stacklevel=4)
    sol = solution_at(ws, theta, s2)
    result = MMEResult(formula=formula, frame=s.frame, fixed=s.fixed, random=s.random, workspace=ws,
                       opt=opt, solution=sol, reml=reml, method=method, data_name=data_name,
                       structures=s.structures)
    if method != "known" and result.is_singular:
        warnings.warn("boundary (singular) fit: a random-effect variance is estimated as 0",
                      SingularFitWarning, stacklevel=4)
    return result
