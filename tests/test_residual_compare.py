"""compare() between residual structures: REML likelihood-ratio tests without the ML refit when the
fixed parts agree, against nlme's anova(gls1, gls2) / anova(lme1, lme2)
(tests/reference/nlme_compare_ref.R on Orthodont)."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.errors import ModelSpecError

REF = Path(__file__).parent / "reference"
CASES = json.loads((REF / "expected_nlme_compare" / "orthodont.json").read_text())


def _fit(formula, residual):
    data = pd.read_csv(REF / "data" / "nlme_o.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, residual=residual or None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reml_lrt_equals_nlme_anova(name):
    ref = CASES[name]
    small, big = _fit(ref["formula"], ref["small"]), _fit(ref["formula"], ref["big"])
    t = mixedpy.compare(small, big)
    assert "without refitting" in t.note
    assert t["npar"].tolist() == ref["df"]
    assert np.allclose(t["loglik"], ref["logLik"], atol=2e-4)
    assert np.allclose(t["aic"], ref["AIC"], atol=4e-4)
    assert np.allclose(t["bic"], ref["BIC"], atol=4e-4)
    assert t["chisq"].iloc[1] == pytest.approx(ref["L.Ratio"], abs=4e-4)
    assert t["p"].iloc[1] == pytest.approx(ref["p"], rel=1e-3)
    assert small.compare(big, refit=False)["chisq"].iloc[1] == t["chisq"].iloc[1]


def test_ml_refit_when_asked_or_fixed_parts_differ():
    a = _fit("distance ~ age + Sex", "cs(occ | Subject)")
    b = _fit("distance ~ age * Sex", "cs(occ | Subject)")
    assert "refitted with ML" in mixedpy.compare(a, b).note
    assert "refitted with ML" in mixedpy.compare(a, _fit("distance ~ age + Sex", "us(occ | Subject)"),
                                                 refit=True).note
    with pytest.raises(ModelSpecError, match="identical fixed parts"):
        mixedpy.compare(a, b, refit=False)
    with pytest.raises(ModelSpecError, match="'yes'"):
        mixedpy.compare(a, b, refit="yes")
