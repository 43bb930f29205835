"""Inference for fitted linear mixed models, reproducing lmerTest, pbkrtest and lme4.

Modules (one concept each):

``richardson``      Richardson-extrapolated central differences (numDeriv's ``genD``)
``varpar``          the deviance and Var(β̂) as functions of the variance parameters (θ, σ)
``satterthwaite``   Satterthwaite's df for contrasts (lmerTest's ``contest1D`` / ``contestMD``)
``contrasts``       type I, II and III hypothesis matrices of the fixed-effect terms (as lmerTest)
``kenward_roger``   Kenward-Roger's adjusted covariance and F test (as pbkrtest)
``anova``           ANOVA tables and single hypothesis tests ``L β = rhs``
``lrt``             likelihood-ratio tests between nested models (lme4's ``anova(m0, m1)``)
``confint``         Wald, profile-likelihood (``profile``) and parametric bootstrap (``bootstrap``)
                    confidence intervals
"""
from .anova import anova, contrast
from .confint import confint
from .lrt import compare

__all__ = ["anova", "compare", "confint", "contrast"]
