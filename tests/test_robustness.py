"""Badly scaled covariates and responses still reach lme4's optimum (tests/reference values)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedpy

REF = json.loads((Path(__file__).parent / "reference" / "expected" / "sleepstudy_slope_reml.json").read_text())


@pytest.mark.parametrize("sx, sy", [(1e6, 1.0), (1e-4, 1.0), (1.0, 1e6), (1e6, 1e-6), (1e-3, 1e5)])
def test_rescaled_sleepstudy_matches_lme4(sx, sy):
    d = mixedpy.datasets.load("sleepstudy")
    d["Days"] = d["Days"] * sx
    d["Reaction"] = d["Reaction"] * sy
    with warnings.catch_warnings():
        warnings.simplefilter("error", mixedpy.errors.SingularFitWarning)
        m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
    est = np.array(REF["fixef"]["estimate"]) * np.array([sy, sy / sx])
    assert np.allclose(m.fixef.to_numpy(), est, rtol=1e-5)
    sd = np.array(REF["varcorr"]["sdcor"])  # (Intercept) sd, Days sd, correlation, residual sd
    got = m.varcorr["sd_cor"].to_numpy()
    assert np.allclose(got, sd * np.array([sy, sy / sx, 1.0, sy]), rtol=2e-4)
    assert not m.is_singular
    # the REML criterion moves by the Jacobian of the rescaling: 2 (n − p) log sy + 2 log(sx)
    expected = REF["reml_criterion"] + 2 * (180 - 2) * np.log(sy) + 2 * np.log(sx)
    assert m.reml_criterion == pytest.approx(expected, rel=1e-8)


def test_non_convergence_gets_a_second_opinion_in_plain_words():
    from mixedpy import fitting
    from mixedpy.optimize import OptSummary

    d = mixedpy.datasets.load("sleepstudy")
    m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
    o = m.optinfo
    stuck = OptSummary(o.method, o.theta0, o.theta * 1.1, m.workspace.deviance(o.theta * 1.1), o.nfev,
                       False, "stopped early", o.gradient)
    with pytest.warns(mixedpy.errors.ConvergenceWarning, match="refit from a different start") as rec:
        best = fitting._second_opinion(lambda th: m.workspace.deviance(th, True), stuck, m.random.lower,
                                       np.ones(3))
    assert "deviance evaluations" in str(rec[0].message) and "gradient" in str(rec[0].message)
    assert best.fun == pytest.approx(REF["reml_criterion"], abs=1e-6)
