"""What an estimator hands to the result: how θ was found, the solution there, and the
estimator's own outputs (ANOVA tables, posterior draws), all as constructor fields.

Every estimator — REML/ML optimization, known variances, Henderson III moments, Gibbs sampling —
returns an :class:`Estimates` for the same :class:`~mixedpy.model.spec.ModelSpec`, and every one
becomes the same :class:`~mixedpy.results.LmmResult`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from .optimize import OptSummary
from .solution import Solution


@dataclass(frozen=True)
class Estimates:
    """One estimator's output.

    Attributes
    ----------
    opt : OptSummary
        How θ was found (optimizer, evaluations, convergence; "known", "anova" or "gibbs").
    solution : Solution
        β̂, b̂, σ̂ and Var(β̂) at θ̂ (posterior means for Gibbs).
    raw_variances : mapping, optional
        Variance components as the estimator gives them (ANOVA: possibly negative; Gibbs: posterior
        means), ``{group label: variance or k × k matrix, "Residual": σ²}``.
    vcov_variances : DataFrame, optional
        Sampling covariance of ``raw_variances`` (ANOVA).
    anova_table : DataFrame, optional
        Sums of squares with expected mean squares (ANOVA).
    posterior : DataFrame, optional
        Kept draws (Gibbs).
    prior : mapping, optional
        Priors used (Gibbs).
    solver : SolverInfo, optional
        The iterative solver's report (PCG: iterations, relative residual, criterion).
    params : ndarray, optional
        The model's parameter vector when random terms have covariance structures (their ψ,
        :mod:`mixedpy.model.parameters`); None when it is θ itself.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> e = m.estimates
    >>> type(e).__name__, e.opt.method, e.anova_table is None
    ('Estimates', 'lbfgs', True)
    """

    opt: OptSummary
    solution: Solution
    raw_variances: Mapping | None = None
    vcov_variances: pd.DataFrame | None = None
    anova_table: pd.DataFrame | None = None
    posterior: pd.DataFrame | None = None
    prior: Mapping | None = None
    solver: object | None = None
    params: object | None = None
