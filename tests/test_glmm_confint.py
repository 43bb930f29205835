"""Confidence intervals of GLMMs: Wald (fixed effects, normal quantiles), profile likelihood over
(θ, β) with the Laplace deviance, parametric bootstrap — against lme4's confint on glmer fits
(tests/reference/glmer_ref.R, tests/reference/glmm_profile_ref.R).

lme4 reads its profile ends off a spline through a grid; mixedpy finds the exact roots, so the two
agree to ~1e-4 (relative), not to the last digit."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedpy
from mixedpy.errors import ModelSpecError
from mixedpy.inference.confint import confint

REF = Path(__file__).parent / "reference"
PROFILE_TOL = 5e-4


def _fit(formula, data, family="binomial"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, family=family)


@pytest.fixture(scope="module")
def cbpp():
    return _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixedpy.datasets.load("cbpp"))


def _r_name(name: str) -> str:
    """mixedpy's coefficient names → R's (period[T.2] → period2)."""
    return name.replace("[T.", "").replace("]", "")


def test_wald_intervals_match_lme4(cbpp):
    ref = json.loads((REF / "expected_glmer" / "cbpp_logit.json").read_text())["confint_wald"]
    ci = confint(cbpp, method="wald")
    assert [_r_name(n) for n in ci.index] == ref["rownames"]
    np.testing.assert_allclose(ci.to_numpy(), np.array(ref["values"]), rtol=2e-4)


def test_profile_intervals_match_lme4_cbpp(cbpp):
    ref = json.loads((REF / "expected_glmer" / "cbpp_logit.json").read_text())["confint_profile"]
    ci = confint(cbpp, method="profile")
    assert [_r_name(n) for n in ci.index] == ref["rownames"]
    np.testing.assert_allclose(ci.to_numpy(), np.array(ref["values"]), rtol=PROFILE_TOL)


PROFILE_CASES = {
    "grouseticks": ("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "grouseticks",
                    "poisson"),
    "contra_slope": ("use ~ age + urban + livch + (1 + urban | district)", "contraception", "binomial"),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_profile_intervals_match_lme4(case):
    path = REF / "expected_glmer_profile" / f"{case}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not generated")
    ref = json.loads(path.read_text())
    formula, data, family = PROFILE_CASES[case]
    m = _fit(formula, mixedpy.datasets.load(data), family)
    ci = confint(m, method="profile")
    want = dict(zip(ref["rownames"], zip(ref["lower"], ref["upper"])))
    for name, row in ci.iterrows():
        lo, hi = want[_r_name(name)]
        assert row["lower"] == pytest.approx(lo, rel=PROFILE_TOL, abs=1e-4)
        assert row["upper"] == pytest.approx(hi, rel=PROFILE_TOL, abs=1e-4)
    assert len(ci) == len(want)


def test_bootstrap_intervals_are_reproducible_and_cover_the_estimates(cbpp):
    a = confint(cbpp, method="bootstrap", nsim=30, seed=3, progress=False)
    b = confint(cbpp, method="bootstrap", nsim=30, seed=3, progress=False)
    assert list(a.index) == ["sd_(Intercept)|herd", "(Intercept)", "period[T.2]", "period[T.3]", "period[T.4]"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    est = np.concatenate([[cbpp.theta[0]], cbpp.fixef.to_numpy()])
    assert np.all(a["lower"] < est) and np.all(est < a["upper"])
    assert a.attrs["draws"].shape == (30, 5)


def test_confint_errors(cbpp):
    with pytest.raises(ModelSpecError, match="level"):
        confint(cbpp, level=1.5)
    with pytest.raises(ModelSpecError, match="'spline'"):
        confint(cbpp, method="spline")
