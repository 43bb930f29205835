"""Profile-likelihood intervals of residual-structure parameters (``confint(method="profile")``).

References: glmmTMB's profile intervals of per-group residual variances (dispformula = ~ 0 + g,
tests/reference/profile_residual_ref.R) and, for an AR(1) correlation, the profile written here
from its definition (dense GLS, σ² and β profiled analytically, roots by brentq).
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import mixedpy

REF = Path(__file__).parent / "reference"


@pytest.mark.parametrize("case", ["het_sex_gls", "het_sex_ri"])
def test_group_variance_intervals_match_glmmtmb_profile(case):
    ref = json.loads((REF / "expected_profile_residual" / f"{case}.json").read_text())
    o = pd.read_csv(REF / "data" / ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit(ref["formula"], o, residual=ref["residual"], reml=False)
    assert m.deviance == pytest.approx(ref["deviance"], abs=1e-6)
    ci = m.confint(method="profile", which="theta_")
    for sex in ("Female", "Male"):
        row = ci.loc[f"Residual|Sex {sex}"]
        assert row["lower"] == pytest.approx(ref["lower"][sex], rel=5e-4)
        assert row["upper"] == pytest.approx(ref["upper"][sex], rel=5e-4)


def _ar1_profile_oracle(d, level=0.95):
    X = np.column_stack([np.ones(len(d)), d["Days"].to_numpy(float)])
    y = d["Reaction"].to_numpy(float)
    subj = d["Subject"].astype(str).to_numpy()
    lag = np.abs(d["Days"].to_numpy()[:, None] - d["Days"].to_numpy()[None, :])
    same = subj[:, None] == subj[None, :]
    n = len(y)

    def dev(rho):
        R = np.where(same, rho ** lag, 0.0)
        Ri = np.linalg.inv(R)
        beta = np.linalg.solve(X.T @ Ri @ X, X.T @ Ri @ y)
        r = y - X @ beta
        s2 = r @ Ri @ r / n
        return n * np.log(2 * np.pi * s2) + n + np.linalg.slogdet(R)[1]

    opt = optimize.minimize_scalar(dev, bounds=(-0.99, 0.99), method="bounded",
                                   options={"xatol": 1e-10})
    z2 = stats.norm.ppf(0.5 + level / 2) ** 2
    g = lambda r: dev(r) - opt.fun - z2
    return opt.x, optimize.brentq(g, -0.99, opt.x, xtol=1e-12), optimize.brentq(g, opt.x, 0.999, xtol=1e-12)


def test_ar1_correlation_interval_equals_definitional_profile():
    d = mixedpy.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("Reaction ~ Days", d, residual="ar1(Days | Subject)")
    rho, lo, hi = _ar1_profile_oracle(d)
    assert float(m.ml_fit.residual_parameters.set_index("parameter").loc["AR(1)", "estimate"]) == \
        pytest.approx(rho, abs=1e-6)
    ci = m.confint(method="profile")
    assert ci.loc["AR(1)", "lower"] == pytest.approx(lo, abs=1e-5)
    assert ci.loc["AR(1)", "upper"] == pytest.approx(hi, abs=1e-5)
    # σ² is the reported "Residual": its interval is sigma's squared (both roots to |Δζ| < 2e-4)
    exact = m.confint(method="profile", which="theta_", exact=True)
    assert ci.loc["Residual", "lower"] == pytest.approx(exact.loc["sigma", "lower"] ** 2, rel=1e-4)
    assert ci.loc["Residual", "upper"] == pytest.approx(exact.loc["sigma", "upper"] ** 2, rel=1e-4)


def test_profile_with_random_term_and_ar1_residual_brackets_the_estimates():
    d = mixedpy.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("Reaction ~ Days + (1 | Subject)", d, residual="ar1(Days | Subject)")
    ci = m.confint(method="profile", which="theta_")
    est = m.ml_fit.residual_parameters.set_index("parameter")["estimate"]
    for name in ("AR(1)", "Residual"):
        assert ci.loc[name, "lower"] < est[name] < ci.loc[name, "upper"]
    assert -1 < ci.loc["AR(1)", "lower"] and ci.loc["AR(1)", "upper"] < 1
