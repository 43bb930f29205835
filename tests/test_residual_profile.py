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


def _us2_profile_oracle(d, level=0.95):
    """ML profile of the covariance UN(2,1) of a 2-visit unstructured model, from the definition."""
    X = np.column_stack([np.ones(len(d)), (d["ARMCD"] == "TRT").to_numpy(float),
                         (d["AVISIT"] == "VIS2").to_numpy(float)])
    X = np.column_stack([X, X[:, 1] * X[:, 2]])
    y = d["FEV1"].to_numpy(float)
    v = (d["AVISIT"] == "VIS2").to_numpy(int)
    n = len(y)
    # per patient: the rows of its observed visits (1 or 2), as index arrays by pattern
    rows = d.groupby("USUBJID", observed=True).indices
    pats = {}
    for r in rows.values():
        r = r[np.argsort(v[r])]
        pats.setdefault(tuple(v[r]), []).append(r)
    pats = {k: np.array(rs) for k, rs in pats.items()}

    def dev(s11, s21, s22):
        S = np.array([[s11, s21], [s21, s22]])
        if np.linalg.eigvalsh(S).min() <= 0:
            return np.inf
        XtVX, XtVy, ld, blocks = 0.0, 0.0, 0.0, []
        for vis, R in pats.items():
            Si = np.linalg.inv(S[np.ix_(vis, vis)])
            ld += len(R) * np.linalg.slogdet(S[np.ix_(vis, vis)])[1]
            Xb, yb = X[R], y[R]
            XtVX = XtVX + np.einsum("sip,ij,sjq->pq", Xb, Si, Xb)
            XtVy = XtVy + np.einsum("sip,ij,sj->p", Xb, Si, yb)
            blocks.append((R, Si))
        beta = np.linalg.solve(XtVX, XtVy)
        q = sum(float(np.einsum("si,ij,sj->", y[R] - X[R] @ beta, Si, y[R] - X[R] @ beta)) for R, Si in blocks)
        return n * np.log(2 * np.pi) + ld + q

    def prof(x):
        res = optimize.minimize(lambda w: dev(np.exp(w[0]), x, np.exp(w[1])), np.log([40.0, 26.0]),
                                method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
        return res.fun

    full = optimize.minimize(lambda w: dev(np.exp(w[0]), w[1], np.exp(w[2])), [np.log(40.0), 10.0, np.log(26.0)],
                             method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 8000})
    z2 = stats.norm.ppf(0.5 + level / 2) ** 2
    est = full.x[1]
    g = lambda x: prof(x) - full.fun - z2
    return est, optimize.brentq(g, est - 30, est, xtol=1e-8), optimize.brentq(g, est, est + 30, xtol=1e-8)


def test_covariance_interval_crosses_zero_and_equals_definitional_profile():
    fev = mixedpy.datasets.load("fev_data")
    d = fev[fev["AVISIT"].isin(["VIS1", "VIS2"])].dropna(subset=["FEV1"]).reset_index(drop=True)
    d["AVISIT"] = d["AVISIT"].cat.remove_unused_categories()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("FEV1 ~ ARMCD * AVISIT", d, residual="us(AVISIT | USUBJID)", reml=False)
    est, lo, hi = _us2_profile_oracle(d)
    assert float(m.residual_parameters.set_index("parameter").loc["UN(2,1)", "estimate"]) == \
        pytest.approx(est, rel=1e-5)
    ci = m.confint(method="profile", which="theta_")
    assert ci.loc["UN(2,1)", "lower"] == pytest.approx(lo, rel=2e-4)
    assert ci.loc["UN(2,1)", "upper"] == pytest.approx(hi, rel=2e-4)
