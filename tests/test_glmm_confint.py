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


# lme4 reads the ends off a spline through a coarse grid; for the correlated slope its ends are off
# by up to 1e-2 (relative; e.g. livch2's lower end 1.0325 has ζ = −1.907, brute force below)
PROFILE_CASES = {
    "grouseticks": ("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "grouseticks",
                    "poisson", PROFILE_TOL),
    "contra_slope": ("use ~ age + urban + livch + (1 + urban | district)", "contraception", "binomial", 1e-2),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_profile_intervals_match_lme4(case):
    path = REF / "expected_glmer_profile" / f"{case}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not generated")
    ref = json.loads(path.read_text())
    formula, data, family, tol = PROFILE_CASES[case]
    m = _fit(formula, mixedpy.datasets.load(data), family)
    ci = confint(m, method="profile")
    want = dict(zip(ref["rownames"], zip(ref["lower"], ref["upper"])))
    for name, row in ci.iterrows():
        lo, hi = want[_r_name(name)]
        assert row["lower"] == pytest.approx(lo, rel=tol, abs=1e-4)
        assert row["upper"] == pytest.approx(hi, rel=tol, abs=1e-4)
    assert len(ci) == len(want)
    if case == "contra_slope":
        _brute_force_zeta(m, ci)


def _brute_force_zeta(m, ci):
    """The profile's definition at two ends: the Laplace deviance minimized by scipy's L-BFGS-B (its
    own finite-difference gradients, started from the estimates) over everything else (θ written with the slope's SD fixed: θ21, θ22 = x cos φ, x sin φ) is
    z² = 3.8415 above the optimum."""
    from scipy import optimize
    ws, dev0 = m.workspace, m.neg2loglik
    th, b = np.asarray(m.theta), m.fixef.to_numpy()

    def minimize(f, u0):
        return optimize.minimize(f, u0, method="L-BFGS-B", options={"ftol": 1e-14, "gtol": 1e-8, "eps": 1e-7}).fun

    x = ci.loc["sd_urban[T.Y]|district", "upper"]
    f = lambda u: ws.deviance(np.concatenate([[u[0], x * np.cos(u[1]), x * np.sin(u[1])], u[2:]]))
    dev = minimize(f, np.concatenate([[th[0], np.arctan2(th[2], th[1])], b]))
    assert np.sqrt(dev - dev0) == pytest.approx(1.959964, abs=1e-3)
    j = len(th) + m.coef_names.index("livch[T.2]")
    x = ci.loc["livch[T.2]", "lower"]
    dev = minimize(lambda u: ws.deviance(np.insert(u, j, x)), np.delete(np.concatenate([th, b]), j))
    assert np.sqrt(dev - dev0) == pytest.approx(1.959964, abs=1e-3)


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
