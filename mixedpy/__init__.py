"""mixedpy: linear mixed models for pandas users, with lme4's numbers.

>>> import mixedpy
>>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
>>> print(m.summary())  # doctest: +SKIP
"""
from . import (
    datasets,
    errors,
    families,
    plot,  # matplotlib is imported only when a plot is drawn
)
from .api import fit, fit_bayes
from .genetics import Pedigree, grm
from .genetics.relmat import RelInverse
from .genetics.single_step import Hinv
from .inference.emmeans import emmeans
from .inference.joint_tests import joint_tests
from .inference.lrt import compare
from .multitrait import fit_multitrait
from .glmm_results import GlmmResult
from .results import LmmResult
from .scale import fit_many, scan
from .variance.bayes import GibbsOptions

__all__ = ["GibbsOptions", "GlmmResult", "Hinv", "LmmResult", "Pedigree", "RelInverse", "compare", "datasets", "emmeans", "errors", "families", "fit", "fit_bayes", "fit_many", "fit_multitrait", "grm", "joint_tests", "plot", "scan"]
__version__ = "0.1.0"
