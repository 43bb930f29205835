"""LmmResult: the linear-model path against least squares, fitted/residuals/predict, the data
policies (missing values, aliased columns, no mutation), singular fits, summaries and layouts."""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedpy
from mixedpy.datasets import load
from mixedpy.errors import ColumnsDroppedWarning, DataError, RowsDroppedWarning, SingularFitWarning

REFDATA = Path(__file__).parent / "reference" / "data"

SLEEP_F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep_fit():
    d = load("sleepstudy")
    return d, mixedpy.fit(SLEEP_F, d)


def _sleep_X(d):
    return np.column_stack([np.ones(len(d)), d["Days"].to_numpy(float)])


# --- linear model path ----------------------------------------------------------------------------------
def _cake_lm():
    d = load("cake")
    y = d["angle"].to_numpy(float)
    X = np.column_stack([np.ones(len(d)), (d["recipe"] == "B").to_numpy(float),
                         (d["recipe"] == "C").to_numpy(float), d["temp"].to_numpy(float)])
    return d, y, X


def test_linear_model_matches_least_squares():
    d, y, X = _cake_lm()
    m = mixedpy.fit("angle ~ recipe + temp", d)
    n, p = X.shape
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    s2 = resid @ resid / (n - p)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(X.T @ X)))
    t = beta / se
    pval = 2 * stats.t.sf(np.abs(t), n - p)
    tab = m.coef_table
    assert list(tab.index) == ["(Intercept)", "recipe[T.B]", "recipe[T.C]", "temp"]
    np.testing.assert_allclose(tab["estimate"].to_numpy(), beta, rtol=1e-9)
    np.testing.assert_allclose(tab["se"].to_numpy(), se, rtol=1e-9)
    np.testing.assert_allclose(tab["df"].to_numpy(), n - p)
    np.testing.assert_allclose(tab["t"].to_numpy(), t, rtol=1e-9)
    np.testing.assert_allclose(tab["p"].to_numpy(), pval, rtol=1e-7, atol=1e-300)
    np.testing.assert_allclose(m.sigma, np.sqrt(s2), rtol=1e-10)
    np.testing.assert_allclose(m.vcov.to_numpy(), s2 * np.linalg.inv(X.T @ X), rtol=1e-9)
    np.testing.assert_allclose(m.fitted().to_numpy(), X @ beta, rtol=1e-10)
    assert m.ngroups == {}
    assert len(m.theta) == 0
    assert not m.is_singular


def test_linear_model_likelihoods():
    """ML: the Gaussian log-likelihood at the MLE; REML: the textbook restricted likelihood."""
    d, y, X = _cake_lm()
    n, p = X.shape
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    rss = float(np.sum((y - X @ beta) ** 2))
    ml = mixedpy.fit("angle ~ recipe + temp", d, reml=False)
    np.testing.assert_allclose(ml.loglik, -0.5 * n * (np.log(2 * np.pi * rss / n) + 1), rtol=1e-10)
    np.testing.assert_allclose(ml.sigma, np.sqrt(rss / n), rtol=1e-10)
    reml = mixedpy.fit("angle ~ recipe + temp", d)
    crit = (n - p) * (np.log(2 * np.pi * rss / (n - p)) + 1) + np.linalg.slogdet(X.T @ X)[1]
    np.testing.assert_allclose(reml.reml_criterion, crit, rtol=1e-10)
    # AIC / BIC of an lm with the ML likelihood (R's AIC(lm(...))): p coefficients + σ, from the
    # Gaussian log-likelihood computed here (not from ml.loglik)
    ll = float(np.sum(stats.norm.logpdf(y, X @ beta, np.sqrt(rss / n))))
    np.testing.assert_allclose(ml.aic, -2 * ll + 2 * (p + 1), rtol=1e-10)
    np.testing.assert_allclose(ml.bic, -2 * ll + np.log(n) * (p + 1), rtol=1e-10)


# --- likelihood summaries -----------------------------------------------------------------------------
REFERENCE = Path(__file__).parent / "reference" / "expected"


def _sleep_dense(d, theta, sigma):
    """y, X, V = σ²(ZΛΛᵀZᵀ + I) of Reaction ~ Days + (Days | Subject), built here from the data."""
    X = _sleep_X(d)
    subj = d["Subject"].astype(int).to_numpy()
    levels = np.unique(subj)
    Z = np.zeros((len(d), 2 * len(levels)))
    for i, s in enumerate(subj):
        k = int(np.searchsorted(levels, s))
        Z[i, 2 * k:2 * k + 2] = X[i]
    T = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    ZL = Z @ np.kron(np.eye(len(levels)), T)
    V = sigma ** 2 * (ZL @ ZL.T + np.eye(len(d)))
    return d["Reaction"].to_numpy(float), X, Z, ZL, V


@pytest.mark.parametrize("reml", [True, False])
def test_aic_bic_against_lme4_and_the_gaussian_density(reml):
    """logLik, AIC and BIC against lme4 (expected/sleepstudy_slope_*.json) and against the Gaussian
    (restricted) log-density of y evaluated densely at mixedpy's own estimates, with the 6
    parameters (2 fixed effects, 3 covariance parameters, σ) counted here."""
    import json

    d = load("sleepstudy")
    m = mixedpy.fit(SLEEP_F, d, reml=reml)
    ref = json.loads((REFERENCE / f"sleepstudy_slope_{'reml' if reml else 'ml'}.json").read_text())
    assert m.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    assert m.aic == pytest.approx(ref["aic"], abs=2e-3)
    assert m.bic == pytest.approx(ref["bic"], abs=2e-3)
    y, X, _, _, V = _sleep_dense(d, np.asarray(m.theta, float), float(m.sigma))
    beta = m.fixef.to_numpy()
    ll = stats.multivariate_normal(X @ beta, V).logpdf(y)
    if reml:  # the restricted likelihood: the density of the error contrasts
        ll += -0.5 * np.linalg.slogdet(X.T @ np.linalg.solve(V, X))[1] + 0.5 * X.shape[1] * np.log(2 * np.pi)
    npar, n = 6, 180
    np.testing.assert_allclose(m.loglik, ll, rtol=1e-9)
    np.testing.assert_allclose(m.aic, -2 * ll + 2 * npar, rtol=1e-9)
    np.testing.assert_allclose(m.bic, -2 * ll + np.log(n) * npar, rtol=1e-9)
    assert m.nobs == n
    crit = m.reml_criterion if reml else m.deviance
    np.testing.assert_allclose(crit, -2 * ll, rtol=1e-9)
    assert np.isnan(m.deviance if reml else m.reml_criterion)


def test_ml_loglik_not_above_reml_fit_likelihood():
    """The ML fit maximizes the likelihood: evaluating the ML criterion at the REML θ is no better."""
    d = load("sleepstudy")
    ml = mixedpy.fit(SLEEP_F, d, reml=False)
    reml = mixedpy.fit(SLEEP_F, d)
    assert ml.workspace.deviance(reml.theta, reml=False) >= ml.deviance - 1e-8
    assert reml.workspace.deviance(ml.theta, reml=True) >= reml.reml_criterion - 1e-8


# --- fitted values, residuals, prediction -----------------------------------------------------------
def test_fitted_and_residuals_against_dense_blups_at_lme4_theta(sleep_fit):
    """Fitted values Xβ̂ + Zb̂ and residuals y − Xβ̂ − Zb̂ computed densely (GLS β̂, BLUP
    b̂ = ΛΛᵀZᵀV₀⁻¹(y − Xβ̂)) at lme4's θ (expected/sleepstudy_slope_reml.json)."""
    import json

    d, m = sleep_fit
    ref = json.loads((REFERENCE / "sleepstudy_slope_reml.json").read_text())
    y, X, _, ZL, V = _sleep_dense(d, np.array(ref["theta"], float), float(ref["sigma"]))
    Vi_X, Vi_y = np.linalg.solve(V, X), np.linalg.solve(V, y)
    beta = np.linalg.solve(X.T @ Vi_X, X.T @ Vi_y)
    V0 = ZL @ ZL.T + np.eye(len(y))
    fitted = X @ beta + ZL @ (ZL.T @ np.linalg.solve(V0, y - X @ beta))
    np.testing.assert_allclose(beta, ref["fixef"]["estimate"], rtol=1e-9)  # the oracle is lme4's optimum
    # mixedpy's θ is its own optimum, not lme4's: measured 1.3e-8 (fitted, relative) and 1.2e-7 SD
    # of the residuals (absolute)
    np.testing.assert_allclose(m.fitted().to_numpy(), fitted, rtol=1e-6)
    resid = y - fitted
    np.testing.assert_allclose(m.residuals().to_numpy(), resid, rtol=0, atol=1e-5 * np.std(resid))
    np.testing.assert_allclose(m.residuals(scaled=True).to_numpy(), resid / ref["sigma"], rtol=0,
                               atol=1e-5 * np.std(resid) / ref["sigma"])
    assert m.fitted().index.equals(d.index) and m.residuals().index.equals(d.index)


def test_fitted_is_fixed_plus_blups(sleep_fit):
    d, m = sleep_fit
    X = _sleep_X(d)
    re = m.ranef["Subject"]
    b = re.loc[d["Subject"].astype(str)].to_numpy()
    expected = X @ m.fixef.to_numpy() + np.einsum("ik,ik->i", X, b)
    np.testing.assert_allclose(m.fitted().to_numpy(), expected, rtol=1e-10)


def test_predict_on_training_data_equals_fitted(sleep_fit):
    d, m = sleep_fit
    np.testing.assert_allclose(m.predict(d).to_numpy(), m.fitted().to_numpy(), rtol=1e-10)


def test_predict_without_newdata(sleep_fit):
    d, m = sleep_fit
    np.testing.assert_allclose(m.predict().to_numpy(), m.fitted().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.predict(include_random=False).to_numpy(), _sleep_X(d) @ m.fixef.to_numpy(),
                               rtol=1e-12)


def test_predict_fixed_only(sleep_fit):
    d, m = sleep_fit
    p = m.predict(d, include_random=False)
    np.testing.assert_allclose(p.to_numpy(), _sleep_X(d) @ m.fixef.to_numpy(), rtol=1e-12)
    # newdata without the grouping column is enough for population-level predictions
    nd = pd.DataFrame({"Days": [0.0, 2.5, 9.0]})
    beta = m.fixef.to_numpy()
    np.testing.assert_allclose(m.predict(nd, include_random=False).to_numpy(), beta[0] + beta[1] * nd["Days"])


def test_predict_unseen_levels_gives_fixed_part(sleep_fit):
    d, m = sleep_fit
    nd = pd.DataFrame({"Days": [0.0, 3.0, 7.0, 3.0],
                       "Subject": ["new-subject", "999", "308", "another"]})
    pred = m.predict(nd).to_numpy()
    beta = m.fixef.to_numpy()
    fixed = beta[0] + beta[1] * nd["Days"].to_numpy()
    np.testing.assert_allclose(pred[[0, 1, 3]], fixed[[0, 1, 3]], rtol=1e-12)
    b308 = m.ranef["Subject"].loc["308"].to_numpy()
    np.testing.assert_allclose(pred[2], fixed[2] + b308[0] + b308[1] * 7.0, rtol=1e-12)


def test_predict_unseen_levels_crossed():
    d = load("penicillin")
    m = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", d)
    nd = pd.DataFrame({"plate": ["a", "zz", "a", "zz"], "sample": ["A", "A", "QQ", "QQ"]})
    pred = m.predict(nd).to_numpy()
    mu = m.fixef["(Intercept)"]
    bp = m.ranef["plate"]["(Intercept)"]
    bs = m.ranef["sample"]["(Intercept)"]
    np.testing.assert_allclose(pred, [mu + bp["a"] + bs["A"], mu + bs["A"], mu + bp["a"], mu], rtol=1e-12)


def test_predict_rejects_a_fixed_factor_level_never_fitted():
    """A string column used as a factor: a new level is an error (it would be coded as the reference
    level), a missing value gives NaN, as R's predict."""
    d = pd.read_csv(REFDATA / "Machines.csv")
    m = mixedpy.fit("score ~ Machine + (1 | Worker)", d)
    with pytest.raises(DataError, match="'Machine'.*'D'"):
        m.predict(pd.DataFrame({"Machine": ["B", "D"], "Worker": [2, 2]}))
    pred = m.predict(pd.DataFrame({"Machine": ["B", None], "Worker": [2, 2]}))
    assert np.isfinite(pred.iloc[0]) and np.isnan(pred.iloc[1])
    beta = m.fixef
    assert pred.iloc[0] == pytest.approx(beta["(Intercept)"] + beta["Machine[T.B]"]
                                         + m.ranef["Worker"].loc["2", "(Intercept)"])


def test_whole_number_float_ids_are_the_integer_levels():
    """Integer ids that a missing value made float (308.0) are the levels 308 (as R's factor()),
    in the fit and in new data."""
    d = load("sleepstudy")
    d["Subject"] = d["Subject"].astype(int)
    m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
    nd = d.iloc[[0, 1]].copy()
    nd["Subject"] = nd["Subject"].astype(float)
    nd.loc[nd.index[1], "Subject"] = np.nan
    pred = m.predict(nd).to_numpy()
    b = m.ranef["Subject"].loc["308"].to_numpy()
    beta = m.fixef.to_numpy()
    assert pred[0] == pytest.approx(beta[0] + b[0] + (beta[1] + b[1]) * nd["Days"].iloc[0])
    assert pred[1] == pytest.approx(beta[0] + beta[1] * nd["Days"].iloc[1])  # no group: population
    d2 = d.astype({"Subject": float})
    d2.loc[0, "Reaction"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d2)
    assert list(m2.ranef["Subject"].index[:2]) == ["308", "309"]


def test_predict_missing_value_in_an_interaction_group():
    d = load("pastes")
    m = mixedpy.fit("strength ~ 1 + (1 | batch/cask)", d)
    nd = d.iloc[[0, 1]].copy()
    nd["batch"] = nd["batch"].astype(object)
    nd.loc[nd.index[1], "batch"] = np.nan
    pred = m.predict(nd).to_numpy()
    assert pred[0] == pytest.approx(m.fitted().iloc[0])
    assert pred[1] == pytest.approx(m.fixef["(Intercept)"])  # neither batch nor cask:batch known


# --- the caller's data ---------------------------------------------------------------------------------
def _messy_sleepstudy():
    d = load("sleepstudy")
    d["Days"] = d["Days"].astype(float)
    d.loc[[3, 17], "Reaction"] = np.nan
    d["unused"] = list("ab") * 90
    d["Subject"] = d["Subject"].cat.add_categories([999])  # an unused category
    return d


def _assert_unchanged(d, before):
    pd.testing.assert_frame_equal(d, before, check_dtype=True, check_exact=True, check_categorical=True)
    assert list(d.columns) == list(before.columns)
    assert d.attrs == before.attrs
    assert d["Subject"].dtype == before["Subject"].dtype


def test_data_not_modified_by_fit():
    d = _messy_sleepstudy()
    before = copy.deepcopy(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("Reaction ~ Days + I(Days**2) + (Days | Subject)", d)
        m.fitted(), m.residuals(), str(m.summary()), m.varcorr, m.ranef, m.ranef_se, m.coef_table
    _assert_unchanged(d, before)


def test_data_not_modified_by_predict():
    d = _messy_sleepstudy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("Reaction ~ Days + I(Days**2) + (Days | Subject)", d)
    new = d.dropna(subset=["Reaction"]).copy()
    before = copy.deepcopy(new)
    m.predict(new, include_random=False)
    _assert_unchanged(new, before)
    m.predict(new)
    _assert_unchanged(new, before)


# --- missing values ----------------------------------------------------------------------------------
def test_rows_with_nan_dropped():
    d = load("sleepstudy")
    d.index = [f"row{i}" for i in range(len(d))]
    d["Days"] = d["Days"].astype(float)
    d.loc["row3", "Reaction"] = np.nan
    d.loc["row40", "Days"] = np.nan
    d.loc["row41", "Subject"] = np.nan
    with pytest.warns(RowsDroppedWarning):
        m = mixedpy.fit(SLEEP_F, d)
    assert sorted(m.dropped_rows) == ["row3", "row40", "row41"]
    assert m.nobs == 177
    assert m.fitted().index.equals(d.index.drop(["row3", "row40", "row41"]))
    clean = d.drop(index=["row3", "row40", "row41"])
    ref = mixedpy.fit(SLEEP_F, clean)
    np.testing.assert_allclose(m.objective, ref.objective, rtol=1e-12)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-8)


def test_nan_in_unused_column_drops_nothing():
    d = load("sleepstudy")
    d["unused"] = np.nan
    d.loc[::2, "unused"] = 1.0
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = mixedpy.fit(SLEEP_F, d)
    assert not any(issubclass(w.category, RowsDroppedWarning) for w in rec)
    assert len(m.dropped_rows) == 0
    assert m.nobs == 180


# --- aliased columns ----------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", ["DaysCopy", "Days2"])
def test_aliased_columns_dropped(extra):
    d = load("sleepstudy")
    d["DaysCopy"] = d["Days"].astype(float)
    d["Days2"] = 2.0 * d["Days"] + 0.0
    with pytest.warns(ColumnsDroppedWarning, match=extra):
        m = mixedpy.fit(f"Reaction ~ Days + {extra} + (Days | Subject)", d)
    ref = mixedpy.fit(SLEEP_F, d)
    assert list(m.fixef.index) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(m.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(m.objective, ref.objective, rtol=1e-10)
    np.testing.assert_allclose(m.vcov.to_numpy(), ref.vcov.to_numpy(), rtol=1e-6)


def test_aliased_factor_column_in_linear_model():
    """A column equal to the sum of two dummies is aliased with the intercept minus a dummy."""
    d, y, X = _cake_lm()
    d = d.copy()
    d["notA"] = (d["recipe"] != "A").astype(float)
    with pytest.warns(ColumnsDroppedWarning):
        m = mixedpy.fit("angle ~ recipe + temp + notA", d)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(m.fixef.to_numpy(), beta, rtol=1e-9)


# --- singular fits --------------------------------------------------------------------------------------
def test_singular_fit_warns():
    d = load("dyestuff2")
    with pytest.warns(SingularFitWarning):
        m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d)
    assert m.is_singular
    # the batch variance is 0, so the fit is the linear model: sigma² is the sample variance (REML)
    y = d["Yield"].to_numpy()
    np.testing.assert_allclose(m.fixef["(Intercept)"], y.mean(), rtol=1e-8)
    np.testing.assert_allclose(m.sigma ** 2, y.var(ddof=1), rtol=1e-6)
    assert m.varcorr["variance"].iloc[0] < 1e-8 * m.sigma ** 2


def test_non_singular_fit_does_not_warn():
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", load("dyestuff"))
    assert not m.is_singular
    assert not any(issubclass(w.category, SingularFitWarning) for w in rec)


# --- summaries and layouts ------------------------------------------------------------------------------
def test_summary(sleep_fit):
    d, m = sleep_fit
    s = m.summary()
    text = str(s)
    assert "Random effects" in text and "Fixed effects" in text
    assert "Subject" in text and "Days" in text and "Residual" in text
    html = s._repr_html_()
    assert isinstance(html, str) and html.lstrip().startswith("<") and "<table" in html
    assert "Random effects" in html
    assert "LmmResult" in repr(m)


def test_varcorr_layout(sleep_fit):
    d, m = sleep_fit
    vc = m.varcorr
    assert list(vc.columns) == ["group", "term1", "term2", "variance", "sd_cor"]
    assert vc["group"].tolist() == ["Subject", "Subject", "Subject", "Residual"]
    assert vc["term1"].tolist()[:3] == ["(Intercept)", "Days", "(Intercept)"]
    assert pd.isna(vc["term2"].iloc[0]) and pd.isna(vc["term2"].iloc[1]) and vc["term2"].iloc[2] == "Days"
    assert pd.isna(vc["term1"].iloc[3]) and pd.isna(vc["term2"].iloc[3])
    # values: σ² T Tᵀ with T the lower-triangular factor holding θ column by column
    t = m.theta
    T = np.array([[t[0], 0.0], [t[1], t[2]]])
    S = m.sigma ** 2 * T @ T.T
    np.testing.assert_allclose(vc["variance"].to_numpy(), [S[0, 0], S[1, 1], S[0, 1], m.sigma ** 2], rtol=1e-10)
    np.testing.assert_allclose(vc["sd_cor"].to_numpy(),
                               [np.sqrt(S[0, 0]), np.sqrt(S[1, 1]), S[0, 1] / np.sqrt(S[0, 0] * S[1, 1]), m.sigma],
                               rtol=1e-10)


def test_varcorr_uncorrelated_and_nested():
    d = load("sleepstudy")
    m = mixedpy.fit("Reaction ~ Days + (Days || Subject)", d)
    vc = m.varcorr
    assert vc["group"].tolist() == ["Subject", "Subject.1", "Residual"]
    assert vc["term1"].tolist()[:2] == ["(Intercept)", "Days"]
    p = mixedpy.fit("strength ~ 1 + (1 | batch/cask)", load("pastes"))
    assert p.varcorr["group"].tolist() == ["cask:batch", "batch", "Residual"]
    np.testing.assert_allclose(p.varcorr["variance"], p.varcorr["sd_cor"] ** 2, rtol=1e-12)


def test_ngroups():
    for name, formula, cols in [("sleepstudy", SLEEP_F, {"Subject": ["Subject"]}),
                                ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)",
                                 {"plate": ["plate"], "sample": ["sample"]}),
                                ("pastes", "strength ~ 1 + (1 | batch/cask)",
                                 {"batch": ["batch"], "cask:batch": ["cask", "batch"]})]:
        d = load(name)
        m = mixedpy.fit(formula, d)
        expected = {g: d.groupby(c, observed=True).ngroups for g, c in cols.items()}
        assert m.ngroups == expected


def test_ranef_layout(sleep_fit):
    d, m = sleep_fit
    re, se = m.ranef["Subject"], m.ranef_se["Subject"]
    assert re.shape == se.shape == (18, 2)
    assert re.index.equals(se.index) and list(re.columns) == list(se.columns) == ["(Intercept)", "Days"]
    assert (se.to_numpy() > 0).all()
    # BLUPs of a REML/ML fit with an intercept sum to zero over the levels (balanced design)
    np.testing.assert_allclose(re.sum().to_numpy(), 0.0, atol=1e-6 * np.abs(re.to_numpy()).max())


def test_coef_is_fixef_plus_ranef_as_lme4():
    """lme4's coef(m) for Machines (0 + Machine | Worker), worker 1: MachineA 0.312 (random only,
    first), (Intercept) 52.356, MachineB 10.520, MachineC 14.847 (R 4.2, lme4 1.1-31)."""
    d = pd.read_csv(REFDATA / "Machines.csv")
    m = mixedpy.fit("score ~ Machine + (0 + Machine | Worker)", d)
    c = m.coef["Worker"]
    assert list(c.columns) == ["Machine[A]", "(Intercept)", "Machine[T.B]", "Machine[T.C]"]
    np.testing.assert_allclose(c.loc["1"].to_numpy(), [0.312, 52.356, 10.520, 14.847], atol=1e-3)
    s = load("sleepstudy")
    ms = mixedpy.fit(SLEEP_F, s)
    np.testing.assert_allclose(ms.coef["Subject"].to_numpy(),
                               ms.fixef.to_numpy() + ms.ranef["Subject"].to_numpy(), rtol=1e-12)


def test_warns_when_two_terms_group_identically():
    """(1 | Subject) + (1 | Subject:G) with G constant within Subject: only the sum of the two
    variances is identifiable (lme4 shows it only as a negative Hessian eigenvalue)."""
    from mixedpy.errors import UnidentifiableWarning
    d = load("sleepstudy")
    d["G"] = d["Subject"].astype(str).str[:2]
    with pytest.warns(UnidentifiableWarning, match=r"\(1 \| Subject\) and \(1 \| Subject:G\)"):
        mixedpy.fit("Reaction ~ Days + (1 | Subject) + (1 | Subject:G)", d)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnidentifiableWarning)
        mixedpy.fit("Reaction ~ Days + (Days || Subject)", d)  # same groups, different columns
