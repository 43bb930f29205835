"""Structured random-effect covariances (issue #15) against R: nlme pdDiag / pdCompSymm, glmmTMB's
diag, cs (= our csh), ar1, rr and rr + diag (= our fa), lme4's unstructured term, lmerTest's
Satterthwaite df for the diagonal model written as one lme4 term per level.  References:
tests/reference/structured_g/make_structured_g.R."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.errors import FormulaError
from mixedpy.model.parameters import ParameterMap, cholesky
from mixedpy.model.spec import model_spec

REF = Path(__file__).parent / "reference" / "structured_g"
R = json.loads((REF / "structured_g.json").read_text())
MACH = pd.read_csv(REF / "machines.csv")
MET = mixedpy.datasets.load("met")
MET = MET[MET["yield"].notna()]

CASES = [
    ("machines_diag_nlme", "score ~ Machine + diag(0 + Machine | Worker)", "machines"),
    ("machines_diag_tmb", "score ~ Machine + diag(0 + Machine | Worker)", "machines"),
    ("machines_cs_nlme", "score ~ Machine + cs(0 + Machine | Worker)", "machines"),
    ("machines_us_lme4", "score ~ Machine + us(0 + Machine | Worker)", "machines"),
    ("machines_cs_tmb", "score ~ Machine + csh(0 + Machine | Worker)", "machines"),
    ("machines_ar1_tmb", "score ~ Machine + ar1(0 + Machine | Worker)", "machines"),
    ("machines_fa1_tmb", "score ~ Machine + fa(0 + Machine | Worker, 1)", "machines"),
    ("met_diag_tmb", "yield ~ env + diag(0 + env | genotype)", "met"),
    ("met_cs_tmb", "yield ~ env + csh(0 + env | genotype)", "met"),
    ("met_rr1_tmb", "yield ~ env + rr(0 + env | genotype, 1)", "met"),
    ("met_rr2_tmb", "yield ~ env + rr(0 + env | genotype, 2)", "met"),
    ("met_fa1_tmb", "yield ~ env + fa(0 + env | genotype, 1)", "met"),
    ("met_fa2_tmb", "yield ~ env + fa(0 + env | genotype, 2)", "met"),
]


@pytest.mark.parametrize("key,formula,data", CASES, ids=[c[0] for c in CASES])
def test_reml_and_G_match_r(key, formula, data):
    ref = R[key]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no singular-fit warning for rr's structural zeros
        m = mixedpy.fit(formula, MACH if data == "machines" else MET)
    assert m.reml_criterion == pytest.approx(ref["reml"], abs=2e-6)
    G = m.term_covariance(m.random.terms[0])
    np.testing.assert_allclose(G, np.array(ref["G"]), rtol=2e-4, atol=2e-4 * np.max(np.abs(ref["G"])))
    assert m.sigma ** 2 == pytest.approx(ref["sigma2"], rel=2e-4)


def test_issue_numbers_machines():
    assert mixedpy.fit("score ~ Machine + diag(0 + Machine | Worker)", MACH).reml_criterion == pytest.approx(217.651079, abs=1e-6)
    us = mixedpy.fit("score ~ Machine + us(0 + Machine | Worker)", MACH)
    assert us.reml_criterion == pytest.approx(208.311218, abs=1e-6)
    np.testing.assert_allclose(us.varcorr["variance"].to_numpy()[:3], [16.63987, 74.39100, 19.26929], rtol=2e-4)
    plain = mixedpy.fit("score ~ Machine + (0 + Machine | Worker)", MACH)
    np.testing.assert_array_equal(plain.theta, us.theta)  # us(...) is lme4's term as it is
    assert mixedpy.fit("score ~ Machine + fa(0 + Machine | Worker, 1)", MACH).reml_criterion == pytest.approx(208.311218, abs=1e-6)


def test_deviance_at_fixed_params_equals_dense_definition():
    """The REML criterion at given ψ from the parameter map equals the textbook formula with
    V = Z (I ⊗ G) Zᵀ + σ² I written densely (σ² profiled)."""
    spec = model_spec("yield ~ env + fa(0 + env | genotype, 1)", MET)
    pm = spec.parameters
    psi = pm.start() + 0.1 * np.arange(pm.npar)
    from mixedpy.model.workspace import workspace_for
    dev = workspace_for(spec).deviance(pm.theta(psi), reml=True)
    G = pm.structures[0].matrix(psi)
    t = spec.random.terms[0]
    Z = spec.random.Z.toarray()
    X, y = spec.fixed.X, spec.fixed.y
    n, p = X.shape

    def crit(s2):
        V = s2 * (Z @ np.kron(np.eye(t.nlev), G) @ Z.T + np.eye(n))
        Vi = np.linalg.inv(V)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y + (n - p) * np.log(2 * np.pi))

    from scipy.optimize import minimize_scalar
    best = minimize_scalar(lambda ls: crit(np.exp(ls)), bounds=(-5, 5), method="bounded", options={"xatol": 1e-10})
    assert dev == pytest.approx(best.fun, abs=1e-6)


def test_chain_rule_gradient():
    spec = model_spec("yield ~ env + fa(0 + env | genotype, 2)", MET)
    from mixedpy.model.workspace import workspace_for
    obj = spec.parameters.objective(workspace_for(spec))
    x = spec.par_start + 0.05
    _, g = obj.deviance_and_gradient(x, True)
    h = 1e-6
    num = [(obj.deviance(x + h * e, True) - obj.deviance(x - h * e, True)) / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-5)


def test_complex_cholesky_and_jacobian():
    G = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    np.testing.assert_allclose(cholesky(G), np.linalg.cholesky(G), atol=1e-14)
    spec = model_spec("score ~ Machine + csh(0 + Machine | Worker)", MACH)
    pm = spec.parameters
    x = pm.start() + 0.2
    J = pm.jacobian(x)
    num = np.column_stack([(pm.theta(x + 1e-6 * e) - pm.theta(x - 1e-6 * e)) / 2e-6 for e in np.eye(pm.npar)])
    np.testing.assert_allclose(J, num, atol=1e-8)


def test_satterthwaite_diag_matches_lmertest():
    ref = json.loads((REF / "structured_g_satterthwaite.json").read_text())["machines_diag"]
    ct = mixedpy.fit("score ~ Machine + diag(0 + Machine | Worker)", MACH).coef_table
    np.testing.assert_allclose(ct["se"], ref["se"], rtol=1e-4)
    np.testing.assert_allclose(ct["df"], ref["df"], rtol=1e-4)


def test_fa_loadings_reproduce_G():
    m = mixedpy.fit("yield ~ env + fa(0 + env | genotype, 2)", MET)
    fl = m.loadings("genotype")
    L = fl.loadings.to_numpy()
    np.testing.assert_allclose(L @ L.T + np.diag(fl.specific), m.term_covariance(m.random.terms[0]), rtol=1e-8, atol=1e-10)
    assert abs(L[:, 0] @ L[:, 1]) < 1e-8 and fl.percent["FA1"] > fl.percent["FA2"]
    assert fl.percent.sum() == pytest.approx(100.0)
    np.testing.assert_allclose(np.asarray(R["met_fa2_tmb"]["G"]), fl.G.to_numpy(), rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("formula,match", [
    ("score ~ Machine + fa(0 + Machine | Worker)", "number of factors"),
    ("score ~ Machine + fa(0 + Machine | Worker, 4)", "4 factors for 3 columns"),
    ("score ~ Machine + fa(0 + Machine | Worker, x)", "positive integer"),
    ("score ~ Machine + diag(0 + Machine || Worker)", "'||' cannot"),
    ("score ~ Machine + unst(0 + Machine | Worker)", "unknown"),
    ("score ~ Machine + ar1(1 | Worker)", "at least 2 columns"),
    ("score ~ Machine + diag(0 + Machine | Worker, 2)", "no extra argument"),
])
def test_bad_structures_raise_before_numerics(formula, match):
    with pytest.raises(FormulaError, match=match):
        model_spec(formula, MACH)


def test_structures_need_reml():
    with pytest.raises(mixedpy.errors.ModelSpecError, match="REML or ML"):
        mixedpy.fit("score ~ Machine + diag(0 + Machine | Worker)", MACH, method="anova")


def test_no_structure_map_is_identity():
    spec = model_spec("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    pm = ParameterMap.build(spec.random)
    assert not pm.structured
    np.testing.assert_array_equal(pm.theta(spec.random.theta0), spec.random.theta0)


def test_varcorr_layout_of_structured_terms():
    """lme4's as.data.frame(VarCorr) layout: a diag term has variance rows only (as the separate
    lme4 terms (0 + dummy(Machine, 'A') | Worker) + …), cs/fa terms their covariances; values
    from nlme / glmmTMB's G."""
    d = mixedpy.fit("score ~ Machine + diag(0 + Machine | Worker)", MACH)
    vc = d.varcorr
    assert vc["term2"].isna().all() and list(vc["group"]) == ["Worker"] * 3 + ["Residual"]
    np.testing.assert_allclose(vc["variance"].to_numpy()[:3], np.diag(R["machines_diag_nlme"]["G"]), rtol=2e-4)
    text = str(d.summary())
    header = text.splitlines()[text.splitlines().index("Random effects:") + 1]
    assert "Corr" not in header and "Covariance of Worker: diag(" in text
    f = mixedpy.fit("score ~ Machine + fa(0 + Machine | Worker, 1)", MACH)
    vc = f.varcorr
    G = np.array(R["machines_fa1_tmb"]["G"])
    cov = vc[vc["term2"].notna()]
    assert len(cov) == 3
    np.testing.assert_allclose(cov["variance"].to_numpy(), G[np.tril_indices(3, -1)[::-1]], rtol=2e-3)
    text = str(f.summary())
    assert "Covariance of Worker: fa(" in text and "% of tr(G): FA1" in text and "specific" in text
    c = mixedpy.fit("score ~ Machine + cs(0 + Machine | Worker)", MACH)
    assert c.varcorr["term2"].notna().sum() == 3


KR = json.loads((REF / "structured_kr.json").read_text())


@pytest.mark.parametrize("key,formula", [("machines_diag", "score ~ Machine + diag(0 + Machine | Worker)"),
                                         ("machines_cs", "score ~ Machine + cs(0 + Machine | Worker)")])
def test_kenward_roger_structured_equals_pbkrtest(key, formula):
    """KR with the structure's derivative matrices = pbkrtest on the equivalent lme4 model
    (diag: one (0 + dummy(Machine, 'A') | Worker) term per machine; cs: (1 | Worker) + (1 | Worker:Machine));
    tests/reference/structured_g/make_structured_kr.R."""
    from mixedpy.inference.kenward_roger import vcov_adjusted
    ref = KR[key]
    m = mixedpy.fit(formula, MACH)
    assert m.reml_criterion == pytest.approx(ref["reml"], abs=2e-6)
    a = m.anova(ddf="kenward-roger").iloc[0]
    assert a["F"] == pytest.approx(ref["F"], rel=2e-6)
    assert a["den_df"] == pytest.approx(ref["den_df"], rel=2e-5)
    assert a["p"] == pytest.approx(ref["p"], rel=2e-5)
    np.testing.assert_allclose(vcov_adjusted(m).PhiA, np.array(ref["PhiA"]), rtol=2e-5, atol=1e-6)


def _exact_profile(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data).confint(method="profile", exact=True)


def test_profile_intervals_of_diag_equal_lme4_profiles_of_the_same_model():
    """diag(1 + Days | Subject) is lme4's (1 | Subject) + (0 + Days | Subject): the profiles over ψ
    (variances) must be the squares of the θ-path's SD profiles (checked against lme4 elsewhere)."""
    d = mixedpy.datasets.load("sleepstudy")
    st = _exact_profile("Reaction ~ Days + diag(1 + Days | Subject)", d)
    un = _exact_profile("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", d)
    np.testing.assert_allclose(st.loc["Var((Intercept))|Subject"], un.loc["sd_(Intercept)|Subject"] ** 2, rtol=2e-4)
    np.testing.assert_allclose(st.loc["Var(Days)|Subject"], un.loc["sd_Days|Subject"] ** 2, rtol=2e-4)
    for name in ("sigma", "(Intercept)", "Days"):
        np.testing.assert_allclose(st.loc[name], un.loc[name], rtol=1e-4)


def test_profile_intervals_of_cs_equal_those_of_the_two_term_model():
    """cs(0 + env | genotype): CS = σ²_genotype, the diagonal excess = σ²_genotype:env."""
    d = mixedpy.datasets.load("met")
    st = _exact_profile("yield ~ env + cs(0 + env | genotype)", d)
    un = _exact_profile("yield ~ env + (1 | genotype) + (1 | genotype:env)", d)
    np.testing.assert_allclose(st.loc["CS|genotype"], un.loc["sd_(Intercept)|genotype"] ** 2, rtol=2e-4)
    np.testing.assert_allclose(st.loc["Residual|genotype"], un.loc["sd_(Intercept)|genotype:env"] ** 2, rtol=2e-4)
    np.testing.assert_allclose(st.loc["sigma"], un.loc["sigma"], rtol=1e-4)
