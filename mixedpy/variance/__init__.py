"""Variance-component estimation besides REML/ML: ANOVA (method of moments) and Bayesian (Gibbs)."""
from .anova import anova_components, fit_anova
from .bayes import draw_inverse_wishart, fit_bayes

__all__ = ["anova_components", "draw_inverse_wishart", "fit_anova", "fit_bayes"]
