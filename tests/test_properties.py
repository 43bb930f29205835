"""Property tests: invariances of the fit, and robustness on random small data frames."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedpy
from mixedpy.datasets import load
from mixedpy.errors import MixedpyError

SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLEEP_F = "Reaction ~ Days + (Days | Subject)"


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, **kw)


@functools.lru_cache(maxsize=None)
def _base(reml: bool = True):
    d = load("sleepstudy")
    return d, _fit(SLEEP_F, d, reml=reml)


def _assert_same_fit(m, ref, rtol=1e-5):
    np.testing.assert_allclose(m.objective, ref.objective, rtol=1e-9)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=rtol)
    assert list(m.fixef.index) == list(ref.fixef.index)
    np.testing.assert_allclose(m.sigma, ref.sigma, rtol=rtol)
    vc, vr = m.varcorr, ref.varcorr
    assert vc[["group", "term1", "term2"]].equals(vr[["group", "term1", "term2"]])
    np.testing.assert_allclose(vc["variance"].to_numpy(), vr["variance"].to_numpy(), rtol=10 * rtol, atol=1e-6)
    np.testing.assert_allclose(vc["sd_cor"].to_numpy(), vr["sd_cor"].to_numpy(), rtol=10 * rtol, atol=1e-6)


# --- row order --------------------------------------------------------------------------------------------
@settings(max_examples=12, **SETTINGS)
@given(perm=st.permutations(list(range(180))))
def test_row_order_invariance(perm):
    d, ref = _base()
    shuffled = d.iloc[list(perm)]
    m = _fit(SLEEP_F, shuffled)
    _assert_same_fit(m, ref)
    # fitted values travel with their rows
    np.testing.assert_allclose(m.fitted().loc[d.index].to_numpy(), ref.fitted().to_numpy(), rtol=1e-5)


@settings(max_examples=8, **SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_row_order_invariance_crossed(seed):
    d = load("penicillin")
    f = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    ref = _fit(f, d)
    m = _fit(f, d.sample(frac=1.0, random_state=np.random.RandomState(seed)))
    _assert_same_fit(m, ref)


# --- group labels -------------------------------------------------------------------------------------
@settings(max_examples=12, **SETTINGS)
@given(perm=st.permutations(list(range(18))),
       style=st.sampled_from(["int", "str", "category", "float"]))
def test_group_relabelling_invariance(perm, style):
    d, ref = _base()
    old = sorted(d["Subject"].astype(int).unique())
    mapping = {o: perm[i] for i, o in enumerate(old)}
    codes = d["Subject"].astype(int).map(mapping)
    d2 = d.copy()
    if style == "int":
        d2["Subject"] = codes.astype(int)
    elif style == "str":
        d2["Subject"] = "subj-" + codes.astype(str)
    elif style == "category":
        d2["Subject"] = pd.Categorical("L" + codes.astype(str))
    else:
        d2["Subject"] = codes.astype(float) + 0.5
    m = _fit(SLEEP_F, d2)
    _assert_same_fit(m, ref)
    assert m.ngroups == {"Subject": 18}
    # each subject keeps its BLUPs under its new label
    new_labels = d2.drop_duplicates("Subject").set_index(d.drop_duplicates("Subject")["Subject"].astype(int))
    re_new, re_old = m.ranef["Subject"], ref.ranef["Subject"]
    for o in old:
        lab = str(new_labels.loc[o, "Subject"])
        np.testing.assert_allclose(re_new.loc[lab].to_numpy(), re_old.loc[str(o)].to_numpy(), rtol=1e-4,
                                   atol=1e-4)


# --- affine transforms of the response ----------------------------------------------------------------
@settings(max_examples=15, **SETTINGS)
@given(a=st.one_of(st.floats(0.05, 20.0), st.floats(-20.0, -0.05)),
       c=st.floats(-1000.0, 1000.0),
       reml=st.booleans())
def test_affine_response(a, c, reml):
    d, ref = _base(reml)
    d2 = d.copy()
    d2["Reaction"] = a * d["Reaction"] + c
    m = _fit(SLEEP_F, d2, reml=reml)
    n, p = 180, 2
    shift = 2 * (n - p if reml else n) * np.log(abs(a))
    np.testing.assert_allclose(m.objective, ref.objective + shift, rtol=1e-9, atol=1e-7)
    b = ref.fixef
    np.testing.assert_allclose(m.fixef["(Intercept)"], a * b["(Intercept)"] + c, rtol=1e-5,
                               atol=1e-5 * abs(a) * abs(b["(Intercept)"]))
    np.testing.assert_allclose(m.fixef["Days"], a * b["Days"], rtol=1e-5)
    np.testing.assert_allclose(m.sigma, abs(a) * ref.sigma, rtol=1e-5)
    vc, vr = m.varcorr, ref.varcorr
    is_cor = vr["term2"].notna().to_numpy()
    np.testing.assert_allclose(vc["sd_cor"].to_numpy()[~is_cor], abs(a) * vr["sd_cor"].to_numpy()[~is_cor],
                               rtol=1e-4)
    np.testing.assert_allclose(vc["sd_cor"].to_numpy()[is_cor], vr["sd_cor"].to_numpy()[is_cor], rtol=1e-3,
                               atol=1e-4)
    np.testing.assert_allclose(vc["variance"].to_numpy(), a ** 2 * vr["variance"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-4, atol=1e-5)
    # the BLUPs scale by a
    np.testing.assert_allclose(m.ranef["Subject"].to_numpy(), a * ref.ranef["Subject"].to_numpy(),
                               rtol=1e-4, atol=1e-4 * abs(a))


# --- random small data frames ------------------------------------------------------------------------
FORMULAS = ["y ~ x + (1 | g)", "y ~ 1 + (x | g)", "y ~ x", "y ~ x + (1 | g) + (1 | h)",
            "y ~ (1 + x || g)", "y ~ x + (1 | g/h)", "y ~ 0 + x + (1 | g:h)", "y ~ x + x^2 + (1 | h)",
            "y ~ g + (1 | h)", "y ~ x * g + (1 | h)"]

values = st.one_of(st.floats(-1e3, 1e3), st.just(float("nan")), st.just(0.0), st.just(1.0),
                   st.sampled_from([float("inf"), float("-inf"), 1e12, -1e-12]))


@st.composite
def frames(draw):
    n = draw(st.integers(0, 14))
    y = draw(st.lists(values, min_size=n, max_size=n))
    x = draw(st.lists(values, min_size=n, max_size=n))
    g = draw(st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["a", "b", "c"])), min_size=n, max_size=n))
    h = draw(st.lists(st.sampled_from(["u", "v", None]), min_size=n, max_size=n))
    df = pd.DataFrame({"y": pd.Series(y, dtype=float), "x": pd.Series(x, dtype=float),
                       "g": pd.Series(g, dtype=object), "h": pd.Series(h, dtype=object)})
    if draw(st.booleans()):
        df["g"] = df["g"].astype(str)
    return df


@settings(max_examples=60, **SETTINGS)
@given(df=frames(), formula=st.sampled_from(FORMULAS), reml=st.booleans())
def test_random_frames_raise_only_mixedpy_errors(df, formula, reml):
    try:
        m = _fit(formula, df, reml=reml)
    except MixedpyError:
        return
    # when a fit is returned it is a consistent one
    used = df.drop(index=m.dropped_rows)
    np.testing.assert_allclose((m.fitted() + m.residuals()).to_numpy(), used["y"].to_numpy(), rtol=1e-6,
                               atol=1e-6 * max(1.0, float(np.abs(used["y"]).max())))
    assert m.nobs == len(used)
    assert np.isfinite(m.objective) or np.isnan(m.objective) or m.objective == -np.inf
