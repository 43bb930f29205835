"""emmeans for GLMMs on the link and response scales against R's emmeans on glmer fits
(tests/reference/glmer_ref.R: cbpp; tests/reference/glmm_emmeans_ref.R: Poisson, probit, VerbAgg)."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.errors import ModelSpecError

REF = Path(__file__).parent / "reference"
SE_TOL = 2e-3


def _fit(formula, data, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, family=family)


@pytest.fixture(scope="module")
def cbpp():
    return _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixedpy.datasets.load("cbpp"),
                "binomial")


def _check_means(tab, ref, col):
    # estimates to 1e-4 relative or 1e-3 of their SE (a mean near 0 on the link scale)
    np.testing.assert_allclose(tab[col], ref[col], rtol=1e-4, atol=1e-3 * min(ref["SE"]))
    np.testing.assert_allclose(tab["se"], ref["SE"], rtol=SE_TOL)
    lo = ref.get("asymp.LCL", ref.get("lower.CL"))
    hi = ref.get("asymp.UCL", ref.get("upper.CL"))
    np.testing.assert_allclose(tab["lower"], lo, rtol=SE_TOL, atol=1e-6)
    np.testing.assert_allclose(tab["upper"], hi, rtol=SE_TOL, atol=1e-6)
    assert np.all(np.isinf(tab["df"]))


def test_cbpp_means_link_and_response_scale(cbpp):
    ref = json.loads((REF / "expected_glmer" / "cbpp_logit.json").read_text())
    _check_means(cbpp.emmeans("period").table, ref["emmeans_link"], "emmean")
    resp = cbpp.emmeans("period", type="response").table
    assert list(resp.columns) == ["period", "prob", "se", "df", "lower", "upper"]
    _check_means(resp, ref["emmeans_response"], "prob")


def test_cbpp_pairs_tukey_z(cbpp):
    ref = json.loads((REF / "expected_glmer" / "cbpp_logit.json").read_text())["emmeans_pairs"]
    pr = cbpp.emmeans("period").pairs()
    assert pr["contrast"].tolist() == ref["contrast"]
    np.testing.assert_allclose(pr["estimate"], ref["estimate"], rtol=1e-4)
    np.testing.assert_allclose(pr["se"], ref["SE"], rtol=SE_TOL)
    np.testing.assert_allclose(pr["z"], ref["z.ratio"], rtol=SE_TOL)
    np.testing.assert_allclose(pr["p"], ref["p.value"], rtol=1e-2, atol=1e-5)


def test_odds_ratios_are_exp_of_the_link_contrasts(cbpp):
    link = cbpp.emmeans("period").pairs()
    resp = cbpp.emmeans("period", type="response").pairs()
    assert resp["contrast"].iloc[0] == "period1 / period2"
    np.testing.assert_allclose(resp["odds_ratio"], np.exp(link["estimate"]), rtol=1e-12)
    np.testing.assert_allclose(resp["se"], np.exp(link["estimate"]) * link["se"], rtol=1e-12)
    np.testing.assert_allclose(resp["p"], link["p"], rtol=1e-12)


CASES = {
    "grouseticks_year": ("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                         "grouseticks", "poisson", "rate", "ratio"),
    "contra_probit_livch": ("use ~ age + urban + livch + (1 | district)", "contraception",
                            mixedpy.families.Binomial(link="probit"), "prob", None),
    "verbagg_btype": ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "verbagg", "binomial",
                      "prob", "odds_ratio"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_means_and_pairs_match_emmeans(case):
    path = REF / "expected_glmer_emmeans" / f"{case}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not generated")
    ref = json.loads(path.read_text())
    formula, data, family, col, ratio = CASES[case]
    m = _fit(formula, mixedpy.datasets.load(data), family)
    assert m.neg2loglik <= ref["minus2logLik"] + 1e-4
    spec = ref["specs"]
    link = m.emmeans(spec)
    _check_means(link.table, ref["emmeans_link"], "emmean")
    assert col in ref["emmeans_response"], list(ref["emmeans_response"])
    _check_means(m.emmeans(spec, type="response").table, ref["emmeans_response"], col)
    pl = link.pairs()
    np.testing.assert_allclose(pl["estimate"], ref["pairs_link"]["estimate"], rtol=1e-4,
                               atol=1e-3 * min(ref["pairs_link"]["SE"]))
    np.testing.assert_allclose(pl["se"], ref["pairs_link"]["SE"], rtol=SE_TOL)
    np.testing.assert_allclose(pl["p"], ref["pairs_link"]["p.value"], rtol=1e-2, atol=1e-5)
    pr = m.emmeans(spec, type="response").pairs()
    if ratio is None:  # probit: emmeans keeps the contrasts on the link scale
        np.testing.assert_allclose(pr["estimate"], ref["pairs_response"]["estimate"], rtol=1e-4,
                                   atol=1e-3 * min(ref["pairs_response"]["SE"]))
    else:
        np.testing.assert_allclose(pr[ratio], ref["pairs_response"][ratio.replace("_", ".")], rtol=1e-4)
        np.testing.assert_allclose(pr["se"], ref["pairs_response"]["SE"], rtol=SE_TOL)
        assert pr["contrast"].tolist() == ref["pairs_response"]["contrast"]


def test_glmm_emmeans_errors(cbpp):
    with pytest.raises(ModelSpecError, match="type"):
        cbpp.emmeans("period", type="probability")
    from mixedpy.inference.linfct import LinearInference
    with pytest.raises(ModelSpecError, match="asymptotic"):
        LinearInference(cbpp, "kenward-roger")
    # emmeans' default ddf (Kenward-Roger, for LMMs) becomes z inference for a GLMM
    assert np.isinf(mixedpy.inference.emmeans.emmeans(cbpp, "period").table["df"]).all()
    with pytest.raises(ModelSpecError, match="'herd2'"):
        cbpp.emmeans("herd2")


def test_lmm_response_scale_is_the_link_scale():
    m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    a, b = m.emmeans("recipe").table, mixedpy.inference.emmeans.emmeans(m, "recipe", type="response").table
    pd.testing.assert_frame_equal(a, b)


def test_poisson_offset_enters_the_means_at_its_mean():
    """emmeans treats an offset as a covariate at its mean (``.offset.``): log-rate means include
    mean(log(exposure)); R script in /tests/reference (data simulated there, seed 11)."""
    ref = json.loads((REF / "expected_glmer_emmeans" / "poisson_offset_trt.json").read_text())
    d = pd.read_csv(REF / "data" / "poisson_offset.csv")
    d["site"] = d["site"].astype(str).astype("category")
    m = _fit(ref["formula"], d, "poisson")
    assert m.neg2loglik <= ref["minus2logLik"] + 1e-4
    _check_means(m.emmeans("trt").table, ref["emmeans_link"], "emmean")
    _check_means(m.emmeans("trt", type="response").table, ref["emmeans_response"], "rate")
    pl = m.emmeans("trt").pairs()
    np.testing.assert_allclose(pl["estimate"], ref["pairs_link"]["estimate"], rtol=1e-4)
    np.testing.assert_allclose(pl["se"], ref["pairs_link"]["SE"], rtol=SE_TOL)
