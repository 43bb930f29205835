"""Estimated marginal means of residual-structure models against SAS PROC MIXED (LSMEANS with
DDFM=KR) on fev_data: the difference of the two ARMCD means is the treatment coefficient, whose
Kenward-Roger SE and df SAS reports (openpharma/mmrm, tests/testthat/test-kenwardroger.R)."""
from __future__ import annotations

import warnings

import pytest

import mixedpy

# SAS PROC MIXED, FEV1 ~ ARMCD, REML, DDFM=KR: (SE, df) of the treatment difference
SAS_KR = {"ar1": (0.958654, 188.4693)}


@pytest.fixture(scope="module")
def fev():
    return mixedpy.datasets.load("fev_data")


@pytest.mark.parametrize("structure", sorted(SAS_KR))
def test_lsmeans_difference_equals_sas_kenward_roger(fev, structure):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("FEV1 ~ ARMCD", fev, residual=f"{structure}(AVISIT | USUBJID)")
    pairs = m.emmeans("ARMCD").pairs(adjust="none")
    se, df = SAS_KR[structure]
    assert pairs["se"].iloc[0] == pytest.approx(se, rel=1e-5)
    assert pairs["df"].iloc[0] == pytest.approx(df, rel=1e-5)
    coef = m.coefficients(ddf="kenward-roger").loc["ARMCD[T.TRT]"]
    assert abs(pairs["estimate"].iloc[0]) == pytest.approx(abs(coef["estimate"]), rel=1e-10)
    # Satterthwaite means use the unadjusted covariance, as the Satterthwaite coefficient table
    satt = m.emmeans("ARMCD", ddf="satterthwaite").pairs(adjust="none")
    assert satt["se"].iloc[0] == pytest.approx(m.coefficients(ddf="satterthwaite").loc["ARMCD[T.TRT]", "se"],
                                               rel=1e-10)
