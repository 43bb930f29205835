"""Binary traits in mixed models: heritability on the liability scale of binomial GLMMs."""
import warnings

import numpy as np
import pytest

import mixedpy
from mixedpy.errors import ModelSpecError
from mixedpy.inference.heritability import LATENT_VARIANCE, heritability


def _fit(formula, data, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, family=family)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_latent_scale_icc_and_its_delta_method_se(link):
    m = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixedpy.datasets.load("cbpp"),
             mixedpy.families.Binomial(link=link))
    s2 = float(m.theta[0]) ** 2
    h = heritability(m, "herd")
    assert h["estimate"] == pytest.approx(s2 / (s2 + LATENT_VARIANCE[link]), rel=1e-12)
    # SE: the delta method on Var(θ̂) = 2 H⁻¹ (θ block), written out for one term
    var_theta = 2 * np.linalg.inv(m.hessian)[0, 0]
    d = 2 * float(m.theta[0]) * LATENT_VARIANCE[link] / (s2 + LATENT_VARIANCE[link]) ** 2
    assert h["se"] == pytest.approx(abs(d) * np.sqrt(var_theta), rel=1e-10)


def test_heritability_of_a_poisson_glmm_is_refused():
    d = mixedpy.datasets.load("grouseticks")
    m = _fit("TICKS ~ YEAR + (1 | BROOD)", d, "poisson")
    with pytest.raises(ModelSpecError, match="liability"):
        heritability(m, "BROOD")
