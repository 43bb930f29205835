"""Residual covariance structures against nlme's gls and lme (tests/reference/nlme_residual_ref.R,
one JSON per case in tests/reference/expected_nlme, data in tests/reference/data/nlme_*.csv).

nlme → mixedpy: varIdent(~1|g) = het(g); corAR1 = ar1(occasion | s); corAR1 + varIdent(~1|occasion)
= ar1h; corCAR1(~t|s) = sp_exp(t | s); corSymm + varIdent(~1|occasion) = us; corCompSymm = cs;
corExp(~x+y|b) = sp_exp(x, y | b).  −2 × nlme's REML logLik is lme4's REML criterion (the script
checks this on Orthodont).
"""
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy

REF = Path(__file__).parent / "reference"
CASES = {p.stem: json.loads(p.read_text()) for p in sorted((REF / "expected_nlme").glob("*.json"))}
_FITS: dict = {}


def fitted(name):
    if name not in _FITS:
        ref = CASES[name]
        data = pd.read_csv(REF / "data" / f"{ref['data']}.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[name] = (mixedpy.fit(ref["formula"], data, residual=ref["residual"]), data)
    return _FITS[name]


def _r_name(name: str) -> str:
    """mixedpy's coefficient name → R's (``Sex[T.Male]`` → ``SexMale``)."""
    name = re.sub(r"C\((\w+)\)", r"\1", name)
    return name.replace("[T.", "").replace("[", "").replace("]", "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_criterion_estimates_se(name):
    ref = CASES[name]
    m, _ = fitted(name)
    # nlme stops at its own tolerance: our optimum may only be lower, by at most 1e-4
    assert m.reml_criterion == pytest.approx(ref["m2rl"], abs=1e-4)
    ct = m.coef_table
    ct.index = [_r_name(c) for c in ct.index]
    ct = ct.loc[ref["coef_names"]]
    scale = np.max(np.abs(ref["estimate"]))
    assert np.allclose(ct["estimate"], ref["estimate"], rtol=1e-4, atol=1e-6 * scale)
    assert np.allclose(ct["se"], ref["se"], rtol=1e-3)
    assert m.sigma * 0 == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_residual_covariance(name):
    """The residual covariance σ² R of the first subject (nlme's getVarCov, conditional on the
    random effects) and the per-row residual SDs of varIdent."""
    ref = CASES[name]
    m, data = fitted(name)
    rd = m.spec.residual
    par = np.asarray(m.theta)[m.random.ntheta:]
    blocks = rd.batch_blocks(par)
    # per-row residual variance σ² R_ii
    var = np.zeros(m.nobs)
    for b, R in zip(rd.batches, blocks):
        var[b.rows] = np.diagonal(R, axis1=1, axis2=2)
    assert np.allclose(m.sigma * np.sqrt(var), ref["resid_sd"], rtol=1e-3)
    if ref.get("first_block") is not None:
        subject = data[rd.term.subject].iloc[0]
        rows = rd.subject_rows(subject)
        V = np.zeros((len(rows), len(rows)))
        for b, R in zip(rd.batches, blocks):
            hit = np.flatnonzero((b.rows == rows[0]).any(axis=1))
            if len(hit):
                V = m.sigma ** 2 * R[hit[0]]
        order = np.argsort(rows)  # R's block is in data-row order
        Vr = np.asarray(ref["first_block"])
        assert np.allclose(V[np.ix_(order, order)], Vr, rtol=2e-3, atol=2e-4 * np.abs(Vr).max())


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n]["random_sd"]))
def test_random_effect_sds(name):
    ref = CASES[name]
    m, _ = fitted(name)
    vc = m.varcorr
    sds = vc.loc[vc["term2"].isna() & (vc["group"] != "Residual"), "sd_cor"].to_numpy()
    assert np.allclose(np.sort(sds), np.sort(np.atleast_1d(ref["random_sd"])), rtol=2e-3, atol=1e-3 * ref["sigma"])


@pytest.mark.parametrize("name", sorted(n for n in CASES if "_gls_" in n))
def test_gls_residual_df_as_nlme(name):
    """gls's t tests use n − p degrees of freedom (mixedpy's ddf="residual")."""
    ref = CASES[name]
    m, _ = fitted(name)
    assert np.allclose(m.coefficients("residual")["df"], ref["nlme_df"])


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n].get("emmeans_satt_df") and n != "orth_gls_het"))
def test_satterthwaite_df_near_emmeans(name):
    """emmeans' Satterthwaite df for gls/lme come from numerical derivatives of nlme's approximate
    covariance of the variance parameters (apVar): close, but not exact (for varIdent by Sex on
    Orthodont the Female coefficients have exactly n_F − 2 = 42 df; emmeans gives 41.26)."""
    ref = CASES[name]
    m, _ = fitted(name)
    ct = m.coef_table
    ct.index = [_r_name(c) for c in ct.index]
    df_r = np.asarray(ref["emmeans_satt_df"], dtype=float)
    ok = np.isfinite(df_r)
    tol = 1e-2 if "_gls_" in name else 3e-2
    assert np.allclose(ct.loc[ref["coef_names"], "df"].to_numpy()[ok], df_r[ok], rtol=tol)


def test_het_satterthwaite_df_is_exact():
    """het(Sex) with age * Sex: the Female intercept and slope are a within-group GLS fit with
    exactly n_F − 2 df."""
    m, data = fitted("orth_gls_het")
    n_f = int((data["Sex"] == "Female").sum())
    assert np.allclose(m.coef_table["df"].iloc[:2], n_f - 2, rtol=1e-6)
