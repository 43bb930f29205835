"""mixedpy.inference against lmerTest / pbkrtest / lme4 reference values (tests/reference/expected).

Every reference case is checked part by part with the tolerances of tests/reference/refcheck.py:
Satterthwaite df/p of the coefficient table, type I/II/III ANOVA (Satterthwaite), type III with
Kenward-Roger, Wald and profile confidence intervals, and the likelihood-ratio test against the
model without the last fixed term.  The coding cases (tests/reference/cases_coding.json: sum,
Helmert and polynomial codings, R's ``options(contrasts = ...)`` / ordered factors) are checked
the same way, coefficients matched by position.  Plus unit checks of the pieces (contrasts,
coding independence, errors, bootstrap).
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REF, coding_names, expected_names, fit_case, load_case, reference_cases, rescaled_reference

import mixedpy
from mixedpy.errors import ModelSpecError

CASES = reference_cases()
NAMES = expected_names()


def fitted(name: str):
    """(fit, case, reference, data) of a reference case: the session's shared fit (conftest.fit_case)."""
    case, ref, df = load_case(name)
    return fit_case(name), case, ref, df


def aslist(x):
    return [] if x is None else (x if isinstance(x, list) else [x])


def norm(s) -> str:
    s = str(s).replace("(Intercept)", "Intercept")
    s = re.sub(r"\[T\.([^\]]*)\]", r"\1", s)
    s = re.sub(r"\[([^\]]*)\]", r"\1", s)
    s = re.sub(r"I\((\w+)\s*(\*\*|\^)\s*2\)", r"\1^2", s)
    s = s.replace("**", "^").replace(" ", "")
    m = re.match(r"^(sd_|cor_)(.*)\|([^|]*)$", s)
    if m:
        group = ":".join(sorted(re.sub(r"\.\d+$", "", m.group(3)).split(":")))
        s = f"{m.group(1)}{m.group(2)}|{group}"
    return s


def close(a, b, rtol, atol=0.0) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


# (rtol, atol) of each compared quantity: a little above the largest deviation from lmerTest /
# pbkrtest measured over all reference and coding cases (MIXEDPY_MEASURE_TOLERANCES=<file> writes
# the measured maxima at the end of a run: for each kind the largest |ours - R| / |R| beyond atol).
TOL = {  # measured maximum (at c1b5204) in the comment
    "coef_df": (6e-3, 1e-3),  # 4.5e-3 orange_slope (Intercept)
    "coef_p": (1.2e-2, 1e-6),  # 9.0e-3 orange_slope (Intercept)
    "anova_F": (1.2e-3, 0.0),  # 9.3e-4 orange_slope anova1 age
    "anova_den_df": (1.2e-3, 1e-3),  # 8.0e-4 orange_slope anova1 age
    "anova_p": (7e-3, 1e-6),  # 5.3e-3 orange_slope anova1 age
    "kr_F": (1.2e-3, 0.0),  # 9.3e-4 orange_slope age
    "kr_den_df": (1e-4, 1e-3),  # 0 beyond the 1e-3 floor
    "kr_p": (5e-4, 1e-6),  # 3.6e-4 orange_slope age
    "lrt_chisq": (1e-6, 0.0),  # 7.6e-9 dialyzer_poly
    "lrt_p": (1e-6, 0.0),  # 1.4e-9 numnum_reml
}
DEVIATIONS: dict = {}


def check(kind: str, ours, theirs, where=None) -> bool:
    """close(ours, theirs, *TOL[kind]), recording the largest deviation of each kind."""
    rtol, atol = TOL[kind]
    a, b = float(ours), float(theirs)
    if not (math.isnan(a) or math.isnan(b)):
        need = max(0.0, abs(a - b) - atol) / abs(b) if b else (0.0 if abs(a - b) <= atol else math.inf)
        if need > DEVIATIONS.get(kind, (-1.0,))[0]:
            DEVIATIONS[kind] = (need, where)
    return close(a, b, rtol, atol)


def skip_if_objective_only(m, ref):
    """The reference to compare with: lme4's, or where mixedpy's optimum is better than lme4's (lme4
    stopped short on a badly scaled covariate) lmerTest's on the rescaled covariate mapped back
    (expected_rescaled/, make_ref_rescaled.R: df, t, p and F do not depend on the unit); skipped
    when there is none."""
    ours = m.reml_criterion if ref["reml"] else m.deviance
    theirs = ref["reml_criterion"] if ref["reml"] else ref["deviance"]
    if ours < theirs - 1e-3:
        rescaled = rescaled_reference(ref["name"])
        if rescaled is None:
            pytest.skip("mixedpy's optimum is better than lme4's: reference inference not comparable")
        return rescaled
    return ref


@pytest.mark.parametrize("name", NAMES)
def test_satterthwaite_coefficients(name):
    m, _, ref, _ = fitted(name)
    ref = skip_if_objective_only(m, ref)
    ct = m.coef_table
    idx = {norm(n): n for n in ct.index}
    fx = ref["fixef"]
    for k, n in enumerate(aslist(fx["names"])):
        row = ct.loc[idx[norm(n)]]
        assert check("coef_df", row["df"], aslist(fx["df"])[k], (name, n)), (n, row["df"], aslist(fx["df"])[k])
        assert check("coef_p", row["p"], aslist(fx["p"])[k], (name, n)), (n, row["p"], aslist(fx["p"])[k])


ANOVA_PARTS = [(n, key) for n in NAMES for key in ("anova1", "anova2", "anova3", "anova3_kr")]


@pytest.mark.parametrize("name,key", ANOVA_PARTS)
def test_anova(name, key):
    m, _, ref, _ = fitted(name)
    ref = skip_if_objective_only(m, ref)
    a = ref.get(key)
    if not a:
        pytest.skip(f"no {key} in the reference")
    if key == "anova3_kr" and name == "insteval_crossed":
        pytest.skip("Kenward-Roger is not computed for InstEval (n = 73421)")
    kw = {"anova1": {"type": 1}, "anova2": {"type": 2}, "anova3": {"type": 3},
          "anova3_kr": {"type": 3, "ddf": "kenward-roger"}}[key]
    tab = m.anova(**kw)
    assert list(tab.columns) == ["sum_sq", "mean_sq", "num_df", "den_df", "F", "p"]
    tidx = {norm(i): i for i in tab.index}
    terms = aslist(a["terms"])
    assert len(tab) == len(terms)
    for k, term in enumerate(terms):
        row = tab.loc[tidx[norm(term)]]
        kind = "kr" if key == "anova3_kr" else "anova"
        where = (name, key, term)
        assert check(f"{kind}_F", row["F"], aslist(a["F"])[k], where), (term, row["F"], aslist(a["F"])[k])
        assert row["num_df"] == aslist(a["NumDF"])[k]
        assert check(f"{kind}_den_df", row["den_df"], aslist(a["DenDF"])[k], where), (term, row["den_df"])
        assert check(f"{kind}_p", row["p"], aslist(a["p"])[k], where), (term, row["p"], aslist(a["p"])[k])


def _check_ci(tab, c, ref, rtol, key):
    mine = {norm(i): i for i in tab.index}
    flagged = set()
    for w in aslist(c.get("warnings")):
        hit = re.match(r"^(?:non-monotonic profile|bad spline fit) for (.*?)(?:: .*)?$", str(w))
        if hit:
            flagged.add(norm(hit.group(1)))
    se = {norm(n): s for n, s in zip(aslist(ref["fixef"]["names"]), aslist(ref["fixef"]["se"]))}
    bad = []
    for k, name in enumerate(aslist(c["names"])):
        n = norm(name)
        if n in flagged:
            continue
        assert n in mine, f"{name} missing from {list(tab.index)}"
        lo, hi = aslist(c["lower"])[k], aslist(c["upper"])[k]
        for side, r in (("lower", lo), ("upper", hi)):
            try:
                r = float(r)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(r):
                continue
            if key == "wald":
                atol = 1e-3 * abs(float(hi) - float(lo)) / 2
            else:
                atol = 5e-3 * abs(1.0 if n.startswith("cor_") else se.get(n, ref["sigma"]))
            o = tab.loc[mine[n], side]
            if not close(o, r, rtol, atol):
                bad.append(f"{name} {side}: {o} vs {r}")
    assert not bad, bad


@pytest.mark.parametrize("name", NAMES)
def test_confint_wald(name):
    m, _, ref, _ = fitted(name)
    ref = skip_if_objective_only(m, ref)
    tab = m.confint(method="wald")
    assert list(tab.columns) == ["lower", "upper"]
    _check_ci(tab, ref["confint_wald"], ref, 1e-3, "wald")


# lme4 and mixedpy disagree beyond the tolerance on a few profile rows (see the xfail reasons)
PROFILE_XFAIL = {
    "machines_factor_slope": (
        "lme4's lower bound of cor_MachineC.MachineA comes from a spline whose end point is not on the "
        "profile: at rho = -1 lme4's optimizer went through correlation matrices that are not positive "
        "semidefinite (lme4's safe_chol factors them anyway), reaching zeta = -6.37 with "
        "cor_MachineB.MachineA = -1 and cor_MachineC.MachineB = 0.17 (eigenvalue -0.33), where the "
        "constrained profile (cor_MachineB.MachineA = -cor_MachineC.MachineB) gives -8.19; mixedpy's "
        "spline through its own grid gives -0.1450 against lme4's -0.1392 (the exact root: -0.1331, "
        "test_profile_matches_exact_r_profile).  The upper bound of cor_MachineC.MachineB now agrees"),
}


@pytest.mark.parametrize("name", NAMES)
def test_confint_profile(name):
    m, _, ref, _ = fitted(name)
    ref = skip_if_objective_only(m, ref)
    c = ref.get("confint_profile")
    if not c:
        pytest.skip("lme4 gave no profile intervals for this case (none from the rescaled fit either)")
    if name in PROFILE_XFAIL:
        pytest.xfail(PROFILE_XFAIL[name])
    _check_ci(m.confint(method="profile"), c, ref, 5e-3, "profile")


EXACT_PROFILE = sorted(p.stem for p in (REF / "expected_exact_profile").glob("*.json"))


@pytest.mark.parametrize("name", EXACT_PROFILE)
def test_profile_matches_exact_r_profile(name):
    """Variance-parameter bounds against R's exact profile (reference/profile_exact.R)."""
    import json

    m, _, ref, _ = fitted(name)
    ex = json.loads((REF / "expected_exact_profile" / f"{name}.json").read_text())
    tab = m.confint(method="profile", which="theta_", exact=True)
    mine = {norm(i): i for i in tab.index}
    for k, n in enumerate(aslist(ex["names"])):
        scale = 1.0 if n.startswith("cor_") else ref["sigma"]
        for side in ("lower", "upper"):
            o, r = tab.loc[mine[norm(n)], side], aslist(ex[side])[k]
            assert close(o, r, 1e-3, 1e-3 * scale), (n, side, o, r)
        # R's zeta at lme4's own bounds: off the cutoff where lme4 and mixedpy disagree
        for side in ("lower", "upper"):
            if not close(tab.loc[mine[norm(n)], side], aslist(ex[f"lme4_{side}"])[k], 5e-3, 5e-3 * scale):
                assert abs(abs(aslist(ex[f"zeta_at_lme4_{side}"])[k]) - ex["cutoff"]) > 1e-2, (n, side)


@pytest.mark.parametrize("name", NAMES)
def test_lrt_drop(name):
    m, case, ref, df = fitted(name)
    ref = skip_if_objective_only(m, ref)
    lr = ref.get("lrt_drop")
    if not lr:
        pytest.skip("no likelihood-ratio reference (none from the rescaled fit either)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mixedpy.fit(lr["formula0"], df, reml=bool(case["reml"]))
    tab = mixedpy.compare(m0, m)
    assert list(tab.columns) == ["npar", "aic", "bic", "loglik", "deviance", "chisq", "df", "p"]
    row = tab.iloc[-1]
    assert check("lrt_chisq", row["chisq"], lr["chisq"], name), (row["chisq"], lr["chisq"])
    assert row["df"] == lr["df"]
    assert check("lrt_p", row["p"], lr["p"], name), (row["p"], lr["p"])
    assert close(tab["loglik"].iloc[0], lr["loglik0"], 0, 1e-3)
    assert close(tab["loglik"].iloc[-1], lr["loglik1"], 0, 1e-3)
    # the method form gives the same table
    pd.testing.assert_frame_equal(m0.compare(m), tab)


# --- unit checks ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sleep():
    return mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))


def test_contrast_matches_coefficient_t_test(sleep):
    row = sleep.coef_table.loc["Days"]
    tab = sleep.contrast({"Days": 1.0})
    assert tab.shape == (1, 6)
    assert close(tab["F"].iloc[0], row["t"] ** 2, 1e-10)
    assert close(tab["den_df"].iloc[0], row["df"], 1e-10)
    assert close(tab["p"].iloc[0], row["p"], 1e-8)
    same = sleep.test(np.array([[0.0, 1.0]]))
    pd.testing.assert_frame_equal(tab, same)


def test_contrast_rhs_and_multi_row(sleep):
    shifted = sleep.contrast({"Days": 1.0}, rhs=sleep.fixef["Days"])
    assert shifted["F"].iloc[0] < 1e-12
    joint = sleep.contrast(np.eye(2))
    assert joint["num_df"].iloc[0] == 2
    assert joint["den_df"].iloc[0] > 0


def test_contrast_kenward_roger_and_residual(sleep):
    kr = sleep.contrast({"Days": 1.0}, ddf="kenward-roger")
    assert close(kr["den_df"].iloc[0], 17.0, 1e-6)
    res = sleep.contrast({"Days": 1.0}, ddf="residual")
    assert res["den_df"].iloc[0] == sleep.nobs - 2
    none = sleep.contrast({"Days": 1.0}, ddf="none")
    assert np.isinf(none["den_df"].iloc[0])


def test_bad_arguments(sleep):
    with pytest.raises(ModelSpecError):
        sleep.anova(type=4)
    with pytest.raises(ModelSpecError):
        sleep.anova(ddf="bogus")
    with pytest.raises(ModelSpecError):
        sleep.contrast({"Nope": 1.0})
    with pytest.raises(ModelSpecError):
        sleep.contrast(np.ones((1, 3)))
    with pytest.raises(ModelSpecError):
        sleep.confint(method="bogus")
    with pytest.raises(ModelSpecError):
        mixedpy.compare(sleep)


def test_kenward_roger_size_limit(monkeypatch, sleep):
    from mixedpy.inference import kenward_roger
    monkeypatch.setattr(kenward_roger, "MAX_DENSE", 10)
    m = mixedpy.fit("Reaction ~ Days + (1 | Subject)", mixedpy.datasets.load("sleepstudy"))
    with pytest.raises(ModelSpecError, match="180 observations, 18 random effects"):
        m.anova(ddf="kenward-roger")


@pytest.mark.parametrize("name", ["sleepstudy_slope_reml", "penicillin_crossed", "ham_3way"])
def test_kenward_roger_woodbury_products_equal_dense(name):
    """The Σ⁻¹ products through Woodbury's identity (no n × n matrix) equal the dense ones."""
    import scipy.sparse as sp

    from mixedpy.inference.kenward_roger import _products_dense, _products_woodbury
    m, *_ = fitted(name)
    X, Z = np.asarray(m.workspace.X), sp.csc_matrix(m.random.Z)
    Lam, s2 = m.random.Lambda(m.theta), float(m.sigma) ** 2
    a = _products_dense(X, Z, s2 * (Lam @ Lam.T), s2)
    b = _products_woodbury(X, Z, Lam, s2)
    for field in ("TT", "V", "M", "UtTT", "UtU", "trace_S2", "XtS3X"):
        x, y = np.asarray(getattr(a, field)), np.asarray(getattr(b, field))
        assert np.allclose(x, y, rtol=1e-7, atol=1e-10 * np.abs(x).max()), field


def test_kenward_roger_beyond_dense_n(monkeypatch):
    """pbkrtest's type III KR table on 9000 rows of InstEval (tests/reference/kr_large.R), computed
    here through Woodbury's identity: MAX_DENSE is lowered below n so no n × n matrix is allowed."""
    import json

    from mixedpy.inference import kenward_roger
    ref = json.loads((REF / "expected_kr_large" / "insteval_9000.json").read_text())
    d = pd.read_csv(REF / "data" / "InstEval.csv").iloc[:ref["rows"]]
    for f in ("s", "d", "dept", "service"):
        d[f] = pd.Categorical(d[f])
    m = mixedpy.fit(ref["formula"], d)
    assert m.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-6)
    assert m.random.q < ref["rows"]
    monkeypatch.setattr(kenward_roger, "MAX_DENSE", m.random.q)
    kr = m.anova(type=3, ddf="kenward-roger")
    for k, term in enumerate(ref["terms"]):
        assert kr.loc[term, "den_df"] == pytest.approx(ref["DenDF"][k], rel=1e-2), term
        assert kr.loc[term, "F"] == pytest.approx(ref["F"][k], rel=2e-3, abs=1e-6), term


def test_type3_is_coding_independent_of_term_order():
    d = pd.read_csv(REF / "data" / "cake.csv")
    for f in ("recipe", "temperature", "replicate"):
        d[f] = pd.Categorical(d[f])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mixedpy.fit("angle ~ recipe * temperature + (1 | recipe:replicate)", d)
        b = mixedpy.fit("angle ~ temperature * recipe + (1 | recipe:replicate)", d)
    ta, tb = a.anova(type=3), b.anova(type=3)
    assert close(ta.loc["recipe", "F"], tb.loc["recipe", "F"], 1e-8)
    assert close(ta.loc["temperature", "F"], tb.loc["temperature", "F"], 1e-8)


def test_bootstrap_reproducible():
    m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    a = m.confint(method="bootstrap", nsim=15, seed=3, progress=False)
    b = m.confint(method="bootstrap", nsim=15, seed=3, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.index) == ["sd_(Intercept)|Batch", "sigma", "(Intercept)"]
    assert (a["lower"] <= a["upper"]).all()
    assert a.attrs["draws"].shape == (15, 3)


# --- other contrast codings: tests/reference/cases_coding.json, expected_coding/ ------------------
CODING = coding_names()
_C_CALL = re.compile(r"C\(\s*`?([\w.]+)`?\s*(?:,(?:[^()]|\((?:[^()]|\([^()]*\))*\))*)?\)")


def r_spelling(label: str) -> str:
    """A mixedpy term or coefficient label with formulaic's ``C(var, coding)`` written ``var``."""
    return _C_CALL.sub(r"\1", str(label))


def check_same_coefficients(ours, theirs) -> None:
    """Same number of coefficients, and each R name starts with our variables, part by part."""
    assert len(ours) == len(theirs), (list(ours), theirs)
    for o, t in zip(ours, theirs):
        o_parts = [re.sub(r"\[.*$", "", part) for part in r_spelling(o).split(":")]
        t_parts = str(t).split(":")
        assert len(o_parts) == len(t_parts) and all(tp.startswith(op) for op, tp in zip(o_parts, t_parts)), (o, t)


def test_r_spelling():
    assert r_spelling("C(Product, contr.sum()):C(Information, Sum())") == "Product:Information"
    assert r_spelling("C(age, contr.poly())[.L]:Sex[T.Male]") == "age[.L]:Sex[T.Male]"
    assert r_spelling("C(Diet, np.array([[1, 0], [0, 1]]))[1]") == "Diet[1]"
    assert r_spelling("Time") == "Time"


@pytest.mark.parametrize("name", CODING)
def test_coding_coefficients(name):
    m, _, ref, _ = fitted(name)
    ct, fx = m.coef_table, ref["fixef"]
    check_same_coefficients(ct.index, aslist(fx["names"]))
    scale = max(abs(v) for v in aslist(fx["estimate"]))
    for k in range(len(ct)):
        row = ct.iloc[k]
        assert close(row["estimate"], aslist(fx["estimate"])[k], 1e-4, 1e-6 * scale), ct.index[k]
        assert close(row["se"], aslist(fx["se"])[k], 2e-3), ct.index[k]
        assert check("coef_df", row["df"], aslist(fx["df"])[k], (name, ct.index[k])), ct.index[k]
        assert check("coef_p", row["p"], aslist(fx["p"])[k], (name, ct.index[k])), ct.index[k]


CODING_ANOVA = [(n, key) for n in CODING for key in ("anova1", "anova2", "anova3", "anova3_kr")]


@pytest.mark.parametrize("name,key", CODING_ANOVA)
def test_coding_anova(name, key):
    """lmerTest's tables of models fitted with sum / Helmert / polynomial codings."""
    m, _, ref, _ = fitted(name)
    a = ref[key]
    kw = {"anova1": {"type": 1}, "anova2": {"type": 2}, "anova3": {"type": 3},
          "anova3_kr": {"type": 3, "ddf": "kenward-roger"}}[key]
    tab = m.anova(**kw)
    assert [r_spelling(t) for t in tab.index] == aslist(a["terms"])
    for k in range(len(tab)):
        row = tab.iloc[k]
        kind = "kr" if key == "anova3_kr" else "anova"
        where = (name, key, tab.index[k])
        assert check(f"{kind}_F", row["F"], aslist(a["F"])[k], where), (tab.index[k], row["F"], aslist(a["F"])[k])
        assert row["num_df"] == aslist(a["NumDF"])[k]
        assert check(f"{kind}_den_df", row["den_df"], aslist(a["DenDF"])[k], where), (tab.index[k], row["den_df"])
        assert check(f"{kind}_p", row["p"], aslist(a["p"])[k], where), (tab.index[k], row["p"], aslist(a["p"])[k])


# the two others take 20-30 s to profile; their treatment-coded twins are profiled above
CODING_PROFILE = [n for n in CODING if n not in ("ham_sum_3way", "chickweight_sum_uncorr")]


@pytest.mark.parametrize("name", CODING_PROFILE)
def test_coding_confint_profile(name):
    m, _, ref, _ = fitted(name)
    c = ref["confint_profile"]
    tab = m.confint(method="profile")
    names = aslist(c["names"])
    nvar = sum(1 for n in names if n.startswith(("sd_", "cor_")) or n == "sigma")
    assert [norm(n) for n in tab.index[:nvar]] == [norm(n) for n in names[:nvar]]
    check_same_coefficients(tab.index[nvar:], names[nvar:])
    se = dict(zip(aslist(ref["fixef"]["names"]), aslist(ref["fixef"]["se"])))
    for k, n in enumerate(names):
        atol = 5e-3 * (1.0 if n.startswith("cor_") else se.get(n, ref["sigma"]))
        assert close(tab["lower"].iloc[k], aslist(c["lower"])[k], 5e-3, atol), n
        assert close(tab["upper"].iloc[k], aslist(c["upper"])[k], 5e-3, atol), n


@pytest.fixture(scope="module")
def chick():
    d = pd.read_csv(REF / "data" / "ChickWeight.csv")
    for f in ("Chick", "Diet"):
        d[f] = pd.Categorical(d[f])
    return d


def _fit_quiet(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data)


CODINGS = ["Treatment(reference=3)", "contr.treatment(base=4)", "contr.sum()", "Helmert()", "Diff()",
           "Poly()", "np.array([[1, 2, 0], [0, 1, 3], [5, 0, 1], [1, 1, 1]])",
           "[[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [1, 0, 0, 0]]"]  # the last spans the intercept


@pytest.mark.parametrize("coding", CODINGS)
def test_anova_does_not_depend_on_coding(chick, coding):
    """Unbalanced numeric x factor model: types I, II, III (and KR) as with treatment coding."""
    base = _fit_quiet("weight ~ Time * Diet + (Time || Chick)", chick)
    m = _fit_quiet(f"weight ~ Time * C(Diet, {coding}) + (Time || Chick)", chick)
    for kw in ({"type": 1}, {"type": 2}, {"type": 3}, {"type": 3, "ddf": "kenward-roger"}):
        a, b = base.anova(**kw), m.anova(**kw)
        assert [r_spelling(t) for t in b.index] == list(a.index)
        # 1e-6: the coding map is rounded to 7 significant digits (zapsmall, as lmerTest)
        assert np.allclose(b["F"], a["F"], rtol=1e-6), (kw, b["F"], a["F"])
        assert np.allclose(b["den_df"], a["den_df"], rtol=1e-4), (kw, b["den_df"], a["den_df"])
        assert list(b["num_df"]) == list(a["num_df"])


def test_type3_needs_a_spanning_coding(chick):
    m = _fit_quiet("weight ~ Time * C(Diet, [[1, 0], [0, 1], [-1, -1], [0, 0]]) + (Time || Chick)", chick)
    assert len(m.anova(type=1)) == 3  # sequential tests need no re-coding
    with pytest.raises(ModelSpecError, match=r"C\(Diet, \[\[1, 0\]"):
        m.anova(type=3)


def test_contrast_under_sum_coding_matches_lmertest(chick):
    """Diet 2 - Diet 1 at Time 0 is S.2 - S.1 under sum coding: lmerTest's t test of Diet2."""
    _, ref, _ = load_case("chickweight_uncorr")
    fx = ref["fixef"]
    k = aslist(fx["names"]).index("Diet2")
    m = _fit_quiet("weight ~ Time * C(Diet, contr.sum()) + (Time || Chick)", chick)
    tab = m.contrast({"C(Diet, contr.sum())[S.2]": 1.0, "C(Diet, contr.sum())[S.1]": -1.0})
    assert check("anova_F", tab["F"].iloc[0], aslist(fx["t"])[k] ** 2, "sum coding contrast")
    assert check("coef_df", tab["den_df"].iloc[0], aslist(fx["df"])[k], "sum coding contrast")
    assert check("coef_p", tab["p"].iloc[0], aslist(fx["p"])[k], "sum coding contrast")
    row = np.zeros((1, len(m.fixef)))
    row[0, [2, 3]] = [-1.0, 1.0]
    pd.testing.assert_frame_equal(m.test(row), tab)


@pytest.mark.parametrize("coding", ["contr.sum", "Sum"])
def test_bare_coding_names(chick, coding):
    ref = _fit_quiet("weight ~ Time * C(Diet, contr.sum()) + (Time || Chick)", chick).anova()
    m = _fit_quiet(f"weight ~ Time * C(Diet, {coding}) + (Time || Chick)", chick)
    assert np.allclose(m.anova()["F"], ref["F"], rtol=1e-10)


@pytest.mark.parametrize("key,ddf,type_", [("anova3", "satterthwaite", 3), ("anova1", "satterthwaite", 1),
                                           ("anova2", "satterthwaite", 2), ("anova3_kr", "kenward-roger", 3)])
def test_aliased_term_keeps_an_na_row(key, ddf, type_):
    """lmerTest lists a fully aliased term (Days2 = 2 Days + 1) with NA (expected_aliased/, made by
    make_ref.R from tests/reference/data/sleep2.csv)."""
    import json
    ref = json.loads((REF / "expected_aliased" / "sleep_rankdef.json").read_text())
    d = pd.read_csv(REF / "data" / "sleep2.csv")
    d["Subject"] = pd.Categorical(d["Subject"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit(ref["formula"], d)
    tab = m.anova(type=type_, ddf=ddf)
    a = ref[key]
    assert list(tab.index) == a["terms"]
    for k, term in enumerate(a["terms"]):
        if a["F"][k] == "NA":
            assert tab.loc[term].isna().all()
        else:
            assert tab.loc[term, "F"] == pytest.approx(a["F"][k], rel=2e-3)
            assert tab.loc[term, "den_df"] == pytest.approx(a["DenDF"][k], rel=1e-2)


@pytest.mark.parametrize("scale", [200.0, 1000.0])
def test_satterthwaite_df_invariant_to_covariate_units(scale):
    """A random slope on a covariate in large units has a tiny θ; the difference steps of the
    Hessian are relative (as numDeriv's in lmerTest), so the df do not move with the units."""
    d = mixedpy.datasets.load("sleepstudy")
    d["Dbig"] = d["Days"] * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
        b = mixedpy.fit("Reaction ~ Dbig + (Dbig | Subject)", d)
    assert b.theta[2] < 2e-3
    assert b.coef_table["df"].to_numpy() == pytest.approx(a.coef_table["df"].to_numpy(), rel=1e-5)
    assert b.anova().loc["Dbig", "den_df"] == pytest.approx(a.anova().loc["Days", "den_df"], rel=1e-5)
