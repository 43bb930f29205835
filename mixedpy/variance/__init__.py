"""Variance-component estimation besides REML/ML: ANOVA (method of moments) and Bayesian (Gibbs).

Both are estimators on the same :class:`~mixedpy.model.spec.ModelSpec` as REML/ML and return
:class:`~mixedpy.estimates.Estimates` that become the same result class.
"""
from .anova import anova_components, estimate_anova
from .bayes import GibbsOptions, draw_inverse_wishart, estimate_bayes

__all__ = ["GibbsOptions", "anova_components", "draw_inverse_wishart", "estimate_anova", "estimate_bayes"]
