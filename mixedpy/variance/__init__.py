"""Variance-component estimation besides REML/ML: ANOVA (method of moments) and Bayesian (Gibbs)."""
from .anova import anova_components, fit_anova
from .bayes import fit_bayes

__all__ = ["anova_components", "fit_anova", "fit_bayes"]
