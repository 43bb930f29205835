"""Inference on residual-structure fits: Wald intervals of the covariance parameters against SAS
PROC MIXED's (covariances and correlations: Wald limits, alpha = 0.05; fev_data outputs of
openpharma/mmrm, tests/reference/expected_sas)."""
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy

REF = Path(__file__).parent / "reference"
FEV = Path(__file__).parent.parent / "mixedpy" / "datasets" / "fev_data.csv"  # shipped copy of mmrm's fev_data
SAS = json.loads((REF / "expected_sas" / "sas_mmrm.json").read_text())


@pytest.fixture(scope="module")
def fev():
    return pd.read_csv(FEV)


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, **kw)


def _sas_rows(case):
    """(name, group, estimate, lower, upper) of SAS's covariance / correlation rows (SAS's
    variances get Satterthwaite chi-square limits, not Wald: left out)."""
    out = []
    for c in SAS[case]["cov"]:
        tok = re.split(r"\s{2,}", c["row"].strip())
        name, nums = tok[0], [float(x) for x in tok[-4:]]
        group = tok[2] if len(tok) == 7 else ""
        if name.startswith("UN(") and name[3] == name[5] or name in ("Residual", "Variance") or name.startswith("Var("):
            continue
        out.append((name, group, c["estimate"], nums[2], nums[3]))
    return out


@pytest.mark.parametrize("case", ["sas_coef_ci_reml_un", "sas_coef_ci_reml_ar1", "sas_ar1_reml", "sas_cs_reml",
                                  "sas_group_ar1_reml", "sas_ar1_ml", "sas_csh_reml"])
def test_wald_limits_as_sas(fev, case):
    ref = SAS[case]
    m = _fit(ref["formula"], fev, residual=ref["residual"], reml=ref["reml"])
    ci = m.confint(method="wald")
    ests = m.residual_parameters
    names = [p if not g else f"{p}|{g}" for p, g in zip(ests["parameter"], ests["group"])]
    est = dict(zip(names, ests["estimate"]))
    assert set(names) <= set(ci.index)
    rows = _sas_rows(case)
    assert rows
    for name, group, e, lo, hi in rows:
        # SAS orders the visits differently (UN(i,j)): match the row by its estimate
        cand = [k for k in names if re.sub(r"\(\d,\d\)", "", k.split("|")[0]) == re.sub(r"\(\d,\d\)", "", name)
                and (not group or k.endswith(group))]
        k = min(cand, key=lambda k: abs(est[k] - e))
        assert est[k] == pytest.approx(e, rel=2e-3, abs=2e-3)
        width = ci.loc[k, "upper"] - ci.loc[k, "lower"]
        assert width == pytest.approx(hi - lo, rel=2e-3, abs=2e-4)
        assert (ci.loc[k, "upper"] + ci.loc[k, "lower"]) / 2 == pytest.approx(est[k], abs=1e-9)
    # fixed effects keep lme4's Wald intervals
    assert np.all(ci.loc[m.coef_names, "lower"] < m.fixef)
