"""Generalized linear mixed models (issue #18): glmer's reference values, definitional oracles
(brute-force Laplace, quadrature limits), input errors and invariances."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedpy
from mixedpy.errors import DataError, FrozenResultError, ModelSpecError
from mixedpy.model.spec import model_spec
from mixedpy.pirls import PirlsWorkspace

REF = Path(__file__).parent / "reference" / "expected_glmer"
CASES = sorted(p.stem for p in REF.glob("*.json"))


def _load(name: str) -> pd.DataFrame:
    try:
        return mixedpy.datasets.load(name.lower())
    except (KeyError, ValueError, FileNotFoundError, mixedpy.errors.MixedpyError):  # not shipped (yet)
        pytest.skip(f"data set {name!r} not available")


def _fit_case(case: dict):
    data = _load(case["data"])
    fam = mixedpy.families.Binomial if case["family"] == "binomial" else mixedpy.families.Poisson
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(case["formula"], data, family=fam(link=case["link"]), nAGQ=case["nAGQ"],
                           weights=case["weights"])


@pytest.fixture(scope="module", params=CASES)
def case_fit(request):
    case = json.loads((REF / f"{request.param}.json").read_text())
    return case, _fit_case(case)


def test_loglik(case_fit):
    case, m = case_fit
    ref = case["minus2logLik"]
    if case["nAGQ"] > 1:  # glmer leaves out the saturated log-likelihood for nAGQ > 1
        ref = case["agq_check"]["reported_plus_saturated"]
    assert m.neg2loglik <= ref + 1e-4
    assert m.neg2loglik >= ref - 1e-2  # lower is fine, but not by much: the same optimum
    assert m.npar == case["npar"] and m.df_resid == case["df_resid"]


def test_fixef(case_fit):
    case, m = case_fit
    ref = np.array(list(case["fixef"].values()))
    rtol = 1e-3 if case["nAGQ"] > 1 else 1e-4
    np.testing.assert_allclose(m.fixef.to_numpy(), ref, rtol=rtol, atol=rtol * 0.1)


def test_standard_errors(case_fit):
    case, m = case_fit
    ref = np.array(case["summary"]["se"])
    se = m.coef_table["se"].to_numpy()
    tmb = case.get("glmmTMB") or {}
    if isinstance(tmb.get("se"), dict) and not np.allclose(se, ref, rtol=2e-3):
        # glmer's Hessian is a finite difference (deriv12) on an inexact PIRLS; where it and
        # glmmTMB's exact (automatic-differentiation) Hessian disagree, ours must match glmmTMB
        np.testing.assert_allclose(se, np.array(list(tmb["se"].values())), rtol=1e-3)
    else:
        np.testing.assert_allclose(se, ref, rtol=2e-3)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov_rx)), np.array(list(case["se_rx"].values())), rtol=2e-3)
    np.testing.assert_allclose(m.coef_table["z"].to_numpy(), np.array(case["summary"]["z"]), rtol=5e-3)


def test_variance_components(case_fit):
    case, m = case_fit
    vc = m.varcorr
    assert "Residual" not in set(vc["group"])
    ref = [sd for comp in case["varcorr"] for sd in comp["sd"].values()]
    ours = vc.loc[vc["term2"].isna(), "sd_cor"].to_numpy()
    np.testing.assert_allclose(ours, ref, rtol=2e-3, atol=1e-4)


def test_glmer_deviance_and_fitted(case_fit):
    case, m = case_fit
    if case["nAGQ"] <= 1:
        assert m.deviance == pytest.approx(case["deviance_fn"], rel=1e-4, abs=1e-3)
    rows = np.array(case["fitted"]["rows"]) - 1
    np.testing.assert_allclose(m.predict(type="link").to_numpy()[rows], case["fitted"]["link"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(m.fitted().to_numpy()[rows], case["fitted"]["response"], rtol=1e-3, atol=1e-5)


def test_ranef(case_fit):
    case, m = case_fit
    r = case["ranef"]
    if not r or "condval" not in r:
        pytest.skip("no ranef in the reference")
    names = {}  # R's term names ↔ ours (urbanY ↔ urban[T.Y]), by position within the group
    for g, term in zip(r["grpvar"], r["term"]):
        seen = names.setdefault(g, {})
        if term not in seen:
            seen[term] = m.ranef[g].columns[len(seen)]
    ours = [float(m.ranef[g].loc[str(lev), names[g][t]]) for g, t, lev in zip(r["grpvar"], r["term"], r["grp"])]
    np.testing.assert_allclose(ours, r["condval"], rtol=2e-3, atol=2e-4)
    if "condsd" in r:
        se_frames = m.ranef_se
        se = [float(se_frames[g].loc[str(lev), names[g][t]]) for g, t, lev in zip(r["grpvar"], r["term"], r["grp"])]
        np.testing.assert_allclose(se, r["condsd"], rtol=2e-3, atol=1e-4)


# --- the numbers quoted in issue #18 --------------------------------------------------------------
def test_issue_numbers_cbpp_and_grouseticks():
    cbpp = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", _load("cbpp"), family="binomial")
    assert cbpp.neg2loglik <= 184.0525637 + 1e-6
    assert float(cbpp.varcorr["sd_cor"].iloc[0]) == pytest.approx(0.6422614, rel=1e-5)
    gt = mixedpy.fit("TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD) + (1|INDEX) + (1|LOCATION)", _load("grouseticks"),
                     family="poisson")
    assert gt.neg2loglik <= 1780.542660 + 1e-4


# --- definitional oracles -------------------------------------------------------------------------
def _brute_laplace(spec, theta, beta):
    """−2 log L by Laplace from scratch: dense Z, Newton on the exact joint log density."""
    X, y, wt, fam = spec.fixed.X, spec.fixed.y, spec.prior_weights, spec.family
    ZL = (spec.random.Z @ spec.random.Lambda(theta)).toarray()
    u = np.zeros(ZL.shape[1])
    for _ in range(100):
        eta = X @ beta + ZL @ u
        mu = fam.link.linkinv(eta)
        mu_eta = fam.link.mu_eta(eta)
        var = fam.variance(mu)
        grad = ZL.T @ (wt * (y - mu) * mu_eta / var) - u
        H = ZL.T @ ((wt * mu_eta ** 2 / var)[:, None] * ZL) + np.eye(len(u))
        step = np.linalg.solve(H, grad)
        u = u + step
        if abs(step @ grad) < 1e-20:
            break
    eta = X @ beta + ZL @ u
    mu = fam.link.linkinv(eta)
    mu_eta = fam.link.mu_eta(eta)
    H = ZL.T @ ((wt * mu_eta ** 2 / fam.variance(mu))[:, None] * ZL) + np.eye(len(u))
    return -2 * fam.loglik(y, mu, wt) + u @ u + np.linalg.slogdet(H)[1]


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_laplace_equals_brute_force(link):
    spec = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)", _load("cbpp"),
                      family=mixedpy.families.Binomial(link=link))
    ws = PirlsWorkspace(spec.fixed.X, spec.fixed.y, spec.random, spec.family, spec.prior_weights)
    theta, beta = np.array([0.8]), np.array([-1.2, -0.9, -1.0, -1.4])
    assert ws.laplace(theta, beta) == pytest.approx(_brute_laplace(spec, theta, beta), abs=1e-8)


def test_laplace_brute_force_vector_term_poisson():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"g": np.repeat(list("abcdefgh"), 12), "x": rng.normal(size=96)})
    d["y"] = rng.poisson(np.exp(0.3 + 0.4 * d["x"]))
    spec = model_spec("y ~ x + (x | g)", d, family="poisson")
    ws = PirlsWorkspace(spec.fixed.X, spec.fixed.y, spec.random, spec.family, spec.prior_weights)
    theta, beta = np.array([0.5, 0.2, 0.3]), np.array([0.25, 0.35])
    assert ws.laplace(theta, beta) == pytest.approx(_brute_laplace(spec, theta, beta), abs=1e-8)


def test_engines_agree():
    from mixedpy import pirls
    spec = model_spec("r2 ~ Anger + btype + (1 | id) + (1 | item)", _load("verbagg").iloc[:2000], family="binomial")
    theta, beta = np.array([1.2, 0.5]), np.array([0.1, 0.05, -1.0, -2.0])
    values = []
    for dense, blocked in ((10_000, 2000), (0, 2000), (0, -1)):
        old = pirls.DENSE_Q, pirls.BLOCKED_Q2
        pirls.DENSE_Q, pirls.BLOCKED_Q2 = dense, blocked
        try:
            ws = PirlsWorkspace(spec.fixed.X, spec.fixed.y, spec.random, spec.family, spec.prior_weights)
            values.append((ws.laplace(theta, beta), ws.conditional_variances(theta, beta)[1][:3, 0, 0]))
        finally:
            pirls.DENSE_Q, pirls.BLOCKED_Q2 = old
    for v, cv in values[1:]:
        assert v == pytest.approx(values[0][0], abs=1e-8)
        np.testing.assert_allclose(cv, values[0][1], rtol=1e-8)


def test_agq_one_is_laplace_and_converges():
    from mixedpy.agq import agq_deviance
    spec = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)", _load("cbpp"), family="binomial")
    ws = PirlsWorkspace(spec.fixed.X, spec.fixed.y, spec.random, spec.family, spec.prior_weights)
    theta, beta = np.array([0.9]), np.array([-1.4, -1.0, -1.1, -1.6])
    st_ = ws.pirls(theta, beta)
    assert agq_deviance(ws, st_, 1) == pytest.approx(ws.laplace(theta, beta), abs=1e-10)
    d15, d25, d50 = (agq_deviance(ws, st_, k) for k in (15, 25, 50))
    assert abs(d25 - d50) < 1e-8 and abs(d15 - d50) < 1e-6
    # the exact integral, by brute-force quadrature on a fine grid per herd
    X, y, wt, fam = spec.fixed.X, spec.fixed.y, spec.prior_weights, spec.family
    codes = spec.random.terms[0].codes
    grid = np.linspace(-10, 10, 20001)
    total = 0.0
    for j in range(spec.random.terms[0].nlev):
        rows = codes == j
        eta = (X[rows] @ beta)[:, None] + theta[0] * grid[None, :]
        ll = fam.loglik_terms(y[rows][:, None], fam.link.linkinv(eta), wt[rows][:, None]).sum(axis=0)
        dens = np.exp(ll - 0.5 * grid ** 2) / np.sqrt(2 * np.pi)
        total += -2 * np.log(np.trapezoid(dens, grid))
    assert d50 == pytest.approx(total, abs=1e-6)


def test_nagq0_and_refit():
    m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", _load("cbpp"), family="binomial",
                    nAGQ=0)
    assert m.neg2loglik == pytest.approx(184.108590945637, abs=1e-4)
    assert m.hessian is None
    assert m.refit(nagq=1).neg2loglik < m.neg2loglik


# --- results are frozen, inputs untouched ---------------------------------------------------------
def test_frozen_and_inputs_untouched():
    d = _load("cbpp")
    before = d.copy()
    m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    pd.testing.assert_frame_equal(d, before)
    with pytest.raises(FrozenResultError):
        m.theta = np.zeros(1)
    with pytest.raises(ValueError):
        m.solution.beta[0] = 1.0
    assert "Fixed effects:" in str(m.summary())


def test_proportion_with_weights_and_bool_response():
    d = _load("cbpp")
    a = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    b = mixedpy.fit("prop ~ period + (1 | herd)", d, family="binomial", weights="size")
    assert a.neg2loglik == pytest.approx(b.neg2loglik, abs=1e-7)
    rows = d.loc[d.index.repeat(d["size"])].reset_index(drop=True)
    k = rows.groupby(level=0).cumcount() if False else None  # noqa: F841
    # expand to one 0/1 row per trial: same β̂ and θ̂ (the likelihood differs by the binomial constants)
    long = []
    for _, r in d.iterrows():
        long += [{"herd": r.herd, "period": r.period, "y": i < r.incidence} for i in range(int(r["size"]))]
    long = pd.DataFrame(long)
    long["herd"] = pd.Categorical(long["herd"], categories=d["herd"].cat.categories)
    long["period"] = pd.Categorical(long["period"], categories=d["period"].cat.categories)
    c = mixedpy.fit("y ~ period + (1 | herd)", long, family="binomial")
    np.testing.assert_allclose(c.fixef.to_numpy(), a.fixef.to_numpy(), rtol=1e-4)
    assert float(c.theta[0]) == pytest.approx(float(a.theta[0]), rel=1e-4)


def test_offset_predict_newdata():
    rng = np.random.default_rng(7)
    d = pd.DataFrame({"g": np.repeat([f"s{i}" for i in range(10)], 6), "x": rng.normal(size=60),
                      "expo": rng.uniform(1, 5, size=60)})
    d["y"] = rng.poisson(d["expo"] * np.exp(0.2 + 0.3 * d["x"]))
    m = mixedpy.fit("y ~ x + offset(log(expo)) + (1 | g)", d, family="poisson")
    new = d.head(3).copy()
    link = m.predict(new, type="link")
    np.testing.assert_allclose(link.to_numpy(), m.predict(type="link").to_numpy()[:3], rtol=1e-10)
    np.testing.assert_allclose(m.predict(new, type="response").to_numpy(), np.exp(link.to_numpy()), rtol=1e-12)


# --- input errors ---------------------------------------------------------------------------------
def _cb():
    return _load("cbpp")


@pytest.mark.parametrize("kwargs, match", [
    ({"family": "negbin"}, "negbin"),
    ({"family": mixedpy.families.Binomial, "nAGQ": -1}, "nAGQ"),
    ({"family": "binomial", "nAGQ": 1.5}, "nAGQ"),
    ({"family": "binomial", "method": "reml"}, "maximum likelihood"),
])
def test_option_errors(kwargs, match):
    with pytest.raises(ModelSpecError, match=match):
        mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", _cb(), **kwargs)


def test_link_errors():
    with pytest.raises(ModelSpecError, match="'logit'.*poisson"):
        mixedpy.families.Poisson(link="logit")
    with pytest.raises(ModelSpecError, match="'identity'.*binomial"):
        mixedpy.families.Binomial(link="identity")


def test_nagq_needs_one_scalar_term():
    d = _load("grouseticks")
    with pytest.raises(ModelSpecError, match="nAGQ = 5"):
        mixedpy.fit("TICKS ~ YEAR + (1|BROOD) + (1|LOCATION)", d, family="poisson", nAGQ=5)
    rng = np.random.default_rng(1)
    e = pd.DataFrame({"g": np.repeat(list("abcdef"), 10), "x": rng.normal(size=60), "y": rng.integers(0, 2, 60)})
    with pytest.raises(ModelSpecError, match="nAGQ"):
        mixedpy.fit("y ~ x + (x | g)", e, family="binomial", nAGQ=3)


def test_response_errors():
    d = _cb().assign(bad=lambda x: x["prop"] * 2, neg=lambda x: -x["incidence"])
    with pytest.raises(DataError, match="'bad'"):
        mixedpy.fit("bad ~ period + (1 | herd)", d, family="binomial")
    with pytest.raises(DataError, match="'neg'"):
        mixedpy.fit("neg ~ period + (1 | herd)", d, family="poisson")
    with pytest.raises(DataError, match="negative"):
        mixedpy.fit("cbind(neg, size) ~ period + (1 | herd)", d, family="binomial")
    with pytest.raises(ModelSpecError, match="cbind"):
        mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="poisson")
    with pytest.warns(mixedpy.errors.MixedpyWarning, match="non-integer x"):
        mixedpy.fit("prop ~ period + (1 | herd)", d, family="poisson")
    with pytest.raises(ModelSpecError, match="random term"):
        mixedpy.fit("cbind(incidence, size - incidence) ~ period", d, family="binomial")


# --- invariances (hypothesis) ---------------------------------------------------------------------
_CBPP = None


def _cbpp_fit():
    global _CBPP
    if _CBPP is None:
        _CBPP = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", _cb(), family="binomial")
    return _CBPP


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_loglik_invariant_to_row_order(seed):
    d = _cb().sample(frac=1.0, random_state=seed)
    m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    assert m.neg2loglik == pytest.approx(_cbpp_fit().neg2loglik, abs=1e-6)


@settings(max_examples=4, deadline=None)
@given(scale=st.floats(0.1, 10.0))
def test_covariate_rescaling(scale):
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(12)], 8), "x": rng.normal(size=96)})
    d["y"] = rng.poisson(np.exp(0.5 + 0.3 * d["x"] + np.repeat(rng.normal(0, 0.5, 12), 8)))
    a = mixedpy.fit("y ~ x + (1 | g)", d, family="poisson")
    b = mixedpy.fit("y ~ x + (1 | g)", d.assign(x=d["x"] * scale), family="poisson")
    assert b.neg2loglik == pytest.approx(a.neg2loglik, abs=1e-6)
    assert float(b.fixef["x"]) * scale == pytest.approx(float(a.fixef["x"]), rel=1e-4)


# --- Wald intervals, likelihood-ratio tests, simulation -------------------------------------------
def test_confint_wald(case_fit):
    case, m = case_fit
    ref = case.get("confint_wald")
    if not ref:
        pytest.skip("no Wald intervals in the reference")
    rows = [i for i, r in enumerate(ref["rownames"]) if not r.startswith(".sig")]
    want = np.array(ref["values"])[rows]
    got = m.confint().to_numpy()
    half_width = (want[:, 1] - want[:, 0]) / 2
    assert np.all(np.abs(got - want) <= 2e-3 * half_width[:, None] + 2e-4 * np.abs(want))


def test_lrt(case_fit):
    case, m = case_fit
    lrt = case.get("lrt")
    if not lrt or not lrt.get("null_formula"):
        pytest.skip("no likelihood-ratio test in the reference")
    fam = type(m.family)(link=m.family.link.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mixedpy.fit(lrt["null_formula"], _load(case["data"]), family=fam, nAGQ=case["nAGQ"],
                         weights=case["weights"])
    assert m0.neg2loglik <= lrt["null_minus2logLik"] + 1e-4
    t = m.compare(m0)
    assert float(t["chisq"].iloc[-1]) == pytest.approx(lrt["Chisq"], abs=2e-4)
    assert int(t["df"].iloc[-1]) == lrt["Df"]


def test_compare_rejects_mixed_families():
    d = _cb()
    m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    lmm = mixedpy.fit("prop ~ period + (1 | herd)", d)
    with pytest.raises(ModelSpecError, match="one family"):
        m.compare(lmm)


def test_simulate_and_refit():
    m = _cbpp_fit()
    sims = m.simulate(200, seed=4)
    assert sims.shape == (56, 200)
    assert np.all((sims.to_numpy() >= 0) & (sims.to_numpy() <= 1))
    # the mean over simulations is the marginal mean: near the fitted proportion overall
    assert abs(sims.to_numpy().mean() - m.fixed.y.mean()) < 0.03
    again = m.refit(y=sims.iloc[:, 0].to_numpy())
    assert np.isfinite(again.neg2loglik) and again.nobs == m.nobs
    assert mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", _cb(), family="binomial"
                       ).simulate(2, seed=9).equals(m.simulate(2, seed=9))


def test_singular_fit_warns_and_stays_finite():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(10)], 20), "x": rng.normal(size=200)})
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-(0.2 + 0.5 * d["x"]))))
    with pytest.warns(mixedpy.errors.SingularFitWarning):
        m = mixedpy.fit("y ~ x + (1 | g)", d, family="binomial")
    assert m.is_singular and float(m.theta[0]) == 0.0
    assert np.all(np.isfinite(m.coef_table["se"]))
    # at θ = 0 the model is the GLM: its deviance is the logistic regression's
    mu = m.fitted().to_numpy()
    assert m.neg2loglik == pytest.approx(-2 * m.family.loglik(m.fixed.y, mu, np.ones(200)), abs=1e-6)


def test_identity_link_poisson_and_agq_poisson():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(10)], 20), "x": rng.normal(size=200)})
    d["c"] = rng.poisson(3 + d["x"].clip(-1, 1) + np.repeat(rng.normal(0, 0.5, 10), 20).clip(-2, 2))
    m = mixedpy.fit("c ~ x + (1 | g)", d, family=mixedpy.families.Poisson(link="identity"))
    assert np.all(m.fitted() > 0) and m.converged
    lap = mixedpy.fit("c ~ x + (1 | g)", d, family="poisson")
    agq = mixedpy.fit("c ~ x + (1 | g)", d, family="poisson", nAGQ=9)
    assert abs(agq.neg2loglik - lap.neg2loglik) < 0.5  # many counts per group: Laplace is close
    np.testing.assert_allclose(agq.fixef.to_numpy(), lap.fixef.to_numpy(), rtol=2e-2)


def test_predict_newdata_without_response_columns():
    m = _cbpp_fit()
    d = _cb()
    new = d[["herd", "period"]].head(4)
    np.testing.assert_allclose(m.predict(new, type="response").to_numpy(), m.fitted().to_numpy()[:4], rtol=1e-12)
    unseen = pd.DataFrame({"herd": ["99"], "period": ["2"]})
    fixed_only = m.predict(unseen, type="link")  # a new herd: random effect 0
    assert float(fixed_only.iloc[0]) == pytest.approx(float(m.fixef.iloc[0] + m.fixef.iloc[1]), rel=1e-12)


def test_refit_checks_nagq():
    m = _cbpp_fit()
    assert m.refit(nagq=5).nagq == 5
    with pytest.raises(ModelSpecError, match="nAGQ"):
        m.refit(nagq=-2)
    lmm = mixedpy.fit("prop ~ period + (1 | herd)", _cb())
    with pytest.raises(ModelSpecError, match="nagq"):
        lmm.refit(nagq=2)


def test_more_input_errors():
    d = _cb().assign(w=lambda x: -x["size"], zero=0.0)
    with pytest.raises(DataError, match="weights"):
        mixedpy.fit("prop ~ period + (1 | herd)", d, family="binomial", weights="w")
    with pytest.raises(DataError, match="offset"):
        mixedpy.fit("incidence ~ period + offset(log(zero)) + (1 | herd)", d, family="poisson")
    with pytest.raises(ModelSpecError, match="exactly two"):
        mixedpy.fit("cbind(incidence, size, incidence) ~ period + (1 | herd)", d, family="binomial")
    with pytest.raises(ModelSpecError, match="nAGQ"):
        mixedpy.fit("prop ~ period + (1 | herd)", d, nAGQ=3)  # a linear model has no quadrature
    with pytest.raises(mixedpy.errors.DataTypeError, match=r"relmat\['herd'\]"):  # not a K
        mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial",
                    relmat={"herd": None})
    with pytest.raises(mixedpy.errors.ColumnNotFoundError):
        mixedpy.fit("cbind(incidence, sizes - incidence) ~ period + (1 | herd)", d, family="binomial")
    before = d.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixedpy.fit("prop ~ period + (1 | herd)", d, family="binomial", weights="size")
    pd.testing.assert_frame_equal(d, before)


@pytest.mark.parametrize("name, formula, family", [
    ("verbagg", "r2 ~ Anger + btype + (1 | id) + (1 | item)", "binomial"),           # blocked engine
    ("contraception", "use ~ age + urban + (1 + urban | district)", "binomial"),    # vector term
    ("epil", "y ~ post * trt + offset(log(exposure)) + (1 | subject)", "poisson"),   # dense, offset
])
def test_analytic_gradient_matches_finite_differences(name, formula, family):
    from mixedpy.hessian import fd_gradient
    from mixedpy.laplace_gradient import has_analytic_gradient, laplace_gradient
    spec = model_spec(formula, _load(name), family=family)
    ws = PirlsWorkspace(spec.fixed.X, spec.fixed.y, spec.random, spec.family, spec.prior_weights, spec.offset)
    assert has_analytic_gradient(ws)
    rng = np.random.default_rng(1)
    x = np.concatenate([spec.random.theta0 * 0.7 + 0.05 * rng.normal(size=spec.random.ntheta),
                        0.1 * rng.normal(size=ws.p)])
    f, g = laplace_gradient(ws, x)
    assert f == pytest.approx(ws.deviance(x), abs=1e-9)
    np.testing.assert_allclose(g, fd_gradient(ws.deviance, x, step=1e-5), rtol=1e-5, atol=1e-3)
