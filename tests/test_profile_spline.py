"""lme4's profile grid and spline inversion (mixedpy.inference.profile_spline) against R.

tests/reference/profile_grid.R wrote, from R: splines::backSpline(interpSpline(x, z)) predictions on
fixed bent profiles (backspline.json), and for a few reference cases every point of lme4's own
profile grid (profile.merMod) with lme4's 95 % bounds (<case>.json).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import REF, fit_case, load_case
from test_inference import norm

import mixedpy
from mixedpy.inference.lrt import ml_fit
from mixedpy.inference.profile import _grid_shift, _zeta_function, build_profiles
from mixedpy.inference.profile_spline import (SplineError, back_spline, eval_poly_spline, grid_cutoff,
                                              profile_grid, spline_bounds)

GRID = REF / "expected_profile_grid"
BACKSPLINE = json.loads((GRID / "backspline.json").read_text())
GRID_CASES = sorted(p.stem for p in GRID.glob("*.json") if p.stem != "backspline")


@pytest.mark.parametrize("k", range(len(BACKSPLINE)))
def test_back_spline_matches_r(k):
    s = BACKSPLINE[k]
    knots, coef = back_spline(np.array(s["x"], float), np.array(s["z"], float))
    for at, want in zip(s["at"], s["pred"]):
        got = eval_poly_spline(knots, coef, at)
        if want is None:
            assert np.isnan(got), (at, got)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (at, got, want)


def test_spline_bounds_outside_the_grid_are_the_parameter_bounds():
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    z = np.array([-1.0, -0.5, 0.0, 1.0, 2.5])  # ζ never reaches -1.96 before the bound at 0
    lo, hi = spline_bounds(x, z, 1.959964, 0.0, np.inf)
    assert lo == 0.0 and 1.5 < hi < 2.0


def test_spline_errors_where_lme4s_spline_fails():
    with pytest.raises(SplineError, match="monotone"):
        back_spline(np.array([0.0, 1, 2, 3, 4]), np.array([-2.0, -1, 0, -0.5, 2]))
    with pytest.raises(SplineError, match="at least 4"):
        back_spline(np.array([0.0, 1, 2]), np.array([-2.0, 0, 2]))


def test_grid_steps_like_lme4_on_a_known_profile():
    """ζ(x) = 2(x − 1): first step 1 %, the next capped at 10 × that, then steps of δ/2 in x,
    stopping past the cutoff."""
    cutoff, delta = grid_cutoff(3)
    x, z = profile_grid(lambda v: 2 * (v - 1.0), 1.0, 1.01, 0.0, np.inf, cutoff, delta)
    up = np.diff(np.r_[1.01, x[x > 1.01]])
    assert up[0] == pytest.approx(0.1) and np.allclose(up[1:], delta / 2)
    assert z.max() > cutoff and z[-2] <= cutoff
    assert x.min() == 0.0  # the lower bound is reached (ζ(0) = -2 > -cutoff) and the grid stops there


def _ours(name):
    return fit_case(name)  # the session's shared fit of the reference case


def _flagged(name) -> set:
    """Parameters whose profile lme4 itself flagged (non-monotone, bad spline): not comparable."""
    _, ref, _ = load_case(name)
    out = set()
    for w in (ref.get("confint_profile") or {}).get("warnings") or []:
        if w.startswith(("non-monotonic profile for ", "bad spline fit for ")):
            out.add(norm(w.split(" for ", 1)[1].split(":")[0]))
    return out


@pytest.mark.parametrize("name", GRID_CASES)
def test_grid_points_match_lme4(name):
    """lme4's profile grid (x and ζ) where it decides the 95 % bounds (|ζ| ≤ 3), every parameter
    whose profile lme4 did not flag.  (Further out lme4's inner optimizations are sometimes a little
    short of the minimum, which moves its later grid points.)"""
    ref = json.loads((GRID / f"{name}.json").read_text())
    fit = ml_fit(_ours(name))
    dev0 = float(fit.workspace.deviance(np.asarray(fit.theta, float), reml=False))
    profiles = {norm(p.name): p for p in build_profiles(fit)}
    cutoff, delta = grid_cutoff(len(profiles))
    flagged = _flagged(name)
    compared = 0
    for r in ref["profiles"]:
        if norm(r["name"]) in flagged:
            continue
        pr = profiles[norm(r["name"])]
        x, z = profile_grid(_zeta_function(pr, dev0), pr.estimate, _grid_shift(pr, delta),
                            pr.lower_bound, pr.upper_bound, cutoff, delta)
        rx = np.array(r["x"], float)
        rz = np.array([np.nan if v is None else v for v in r["zeta"]], float)
        inner = np.isfinite(rz) & (np.abs(rz) <= 3)
        ours = np.abs(z) <= 3
        assert ours.sum() == inner.sum(), (r["name"], x[ours], rx[inner])
        scale = pr.scale if not r["name"].startswith("cor_") else 1.0
        assert np.allclose(x[ours], rx[inner], rtol=2e-4, atol=2e-4 * scale), (r["name"], x, rx)
        assert np.allclose(z[ours], rz[inner], rtol=2e-3, atol=2e-3), (r["name"], z, rz)
        compared += 1
    assert compared >= len(ref["profiles"]) - len(flagged)


@pytest.mark.parametrize("name", GRID_CASES)
def test_profile_confint_matches_lme4_bounds(name):
    ref = json.loads((GRID / f"{name}.json").read_text())
    tab = _ours(name).confint(method="profile")
    mine = {norm(i): i for i in tab.index}
    flagged = _flagged(name)
    for r in ref["profiles"]:
        if norm(r["name"]) in flagged:
            continue
        scale = 1.0 if r["name"].startswith("cor_") else abs(r["upper"] - r["lower"])
        for side in ("lower", "upper"):
            if r[side] is None or not np.isfinite(r[side]):
                continue
            got = tab.loc[mine[norm(r["name"])], side]
            assert got == pytest.approx(r[side], rel=1e-3, abs=1e-3 * scale), (r["name"], side)


def test_exact_profile_option_solves_the_profile():
    m = _ours("sleepstudy_slope_ml")
    from mixedpy.inference.profile import _zeta
    fit = ml_fit(m)
    dev0 = float(fit.workspace.deviance(np.asarray(fit.theta, float), reml=False))
    tab = m.confint(method="profile", exact=True, which="theta_")
    for pr in build_profiles(fit):
        if pr.is_fixed:
            continue
        for side, zc in (("lower", -1.959964), ("upper", 1.959964)):
            assert _zeta(pr, tab.loc[pr.name, side], dev0) == pytest.approx(zc, abs=2e-3)


def test_profile_which_is_checked():
    m = _ours("sleepstudy_slope_ml")
    with pytest.raises(mixedpy.errors.ModelSpecError, match="which"):
        m.confint(method="profile", which="sigmas")


def test_exact_profile_does_not_fall_into_the_zero_variance_minimum():
    """An uncentred covariate (x around 50): started cold near cor = -1 the inner minimization finds
    a local minimum with sd_x1 = 0 (zeta -5.26 where the profile is -1.02; lme4's own grid point
    there is that wrong value).  The exact roots must equal the lme4-style bounds computed along
    warm-started grid points (R's L-BFGS-B / nlminb on lme4's devfun2 give the root -0.9681)."""
    import pandas as pd
    d = pd.read_csv(REF / "data" / "numnum.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("y2 ~ x1 * F + (1 + x1 | g)", d, reml=False)
        exact = m.confint(method="profile", which="theta_", exact=True)
        grid = m.confint(method="profile", which="theta_")
    row = "cor_x1.(Intercept)|g"
    assert exact.loc[row, "lower"] == pytest.approx(-0.9681, abs=2e-4)
    assert exact.loc[row, "upper"] > exact.loc[row, "lower"] + 0.1
    assert np.allclose(exact.to_numpy(), grid.to_numpy(), rtol=1e-3, atol=1e-3)
