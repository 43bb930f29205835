"""Property tests: invariances of the fit, and robustness on random small data frames."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import mixedpy
from mixedpy.datasets import load
from mixedpy.errors import MixedpyError

# no example database (nothing written to the repository) and no shrinking: every shrink step is a refit
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow],
                phases=[Phase.explicit, Phase.reuse, Phase.generate])
SLEEP_F = "Reaction ~ Days + (Days | Subject)"


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, **kw)


@functools.lru_cache(maxsize=None)
def _base(reml: bool = True):
    d = load("sleepstudy")
    return d, _fit(SLEEP_F, d, reml=reml)


def _compare_varcorr(vc, vr, scale=1.0, rtol=1e-5):
    """vc == scale² × vr for variances, |scale| × vr for SDs; covariances and correlations
    (rows with a term2) to an absolute tolerance relative to the SDs involved."""
    assert vc[["group", "term1", "term2"]].equals(vr[["group", "term1", "term2"]])
    is_cov = vr["term2"].notna().to_numpy()
    var_c, var_r = vc["variance"].to_numpy(), vr["variance"].to_numpy()
    sd_c, sd_r = vc["sd_cor"].to_numpy(), vr["sd_cor"].to_numpy()
    np.testing.assert_allclose(var_c[~is_cov], scale ** 2 * var_r[~is_cov], rtol=rtol)
    np.testing.assert_allclose(sd_c[~is_cov], abs(scale) * sd_r[~is_cov], rtol=rtol)
    for i in np.flatnonzero(is_cov):
        row = vr.iloc[i]
        sds = vr[(vr["group"] == row["group"]) & vr["term2"].isna()].set_index("term1")["sd_cor"]
        bound = scale ** 2 * sds[row["term1"]] * sds[row["term2"]]
        assert abs(var_c[i] - scale ** 2 * var_r[i]) <= 1e-4 * bound, (i, var_c[i], scale ** 2 * var_r[i])
        assert abs(sd_c[i] - sd_r[i]) <= 1e-4, (i, sd_c[i], sd_r[i])


def _assert_same_fit(m, ref, rtol=1e-5):
    np.testing.assert_allclose(m.objective, ref.objective, rtol=1e-9)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=rtol)
    assert list(m.fixef.index) == list(ref.fixef.index)
    np.testing.assert_allclose(m.sigma, ref.sigma, rtol=rtol)
    _compare_varcorr(m.varcorr, ref.varcorr, 1.0, rtol)


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
    _compare_varcorr(m.varcorr, ref.varcorr, a)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-4, atol=1e-5)
    # the BLUPs scale by a
    np.testing.assert_allclose(m.ranef["Subject"].to_numpy(), a * ref.ranef["Subject"].to_numpy(),
                               rtol=1e-4, atol=1e-4 * abs(a))


# --- random small data frames ------------------------------------------------------------------------
FORMULAS = ["y ~ x + (1 | g)", "y ~ 1 + (x | g)", "y ~ x", "y ~ x + (1 | g) + (1 | h)",
            "y ~ (1 + x || g)", "y ~ x + (1 | g/h)", "y ~ 0 + x + (1 | g:h)", "y ~ x + x^2 + (1 | h)",
            "y ~ g + (1 | h)", "y ~ x * g + (1 | h)"]

_finite = st.floats(-100.0, 100.0)
values = st.one_of(_finite, _finite, _finite, st.integers(-3, 3).map(float),
                   st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e12, -1e-12, 0.0]))


@st.composite
def frames(draw):
    n = draw(st.integers(0, 20))
    y = draw(st.lists(values, min_size=n, max_size=n))
    x = draw(st.lists(values, min_size=n, max_size=n))
    g = draw(st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["a", "b", "c"])), min_size=n, max_size=n))
    h = draw(st.lists(st.sampled_from(["u", "v", None]), min_size=n, max_size=n))
    df = pd.DataFrame({"y": pd.Series(y, dtype=float), "x": pd.Series(x, dtype=float),
                       "g": pd.Series(g, dtype=object), "h": pd.Series(h, dtype=object)})
    if draw(st.booleans()):
        df["g"] = df["g"].astype(str)
    return df


def _df(**cols):
    return pd.DataFrame(cols)


@settings(max_examples=80, **SETTINGS)
@given(df=frames(), formula=st.sampled_from(FORMULAS), reml=st.booleans())
# degenerate cases found by this test, kept as explicit examples:
# a response fitted exactly by the fixed effects (pwrss = 0) …
@example(df=_df(y=[1.0, 0.0, 3.0, 5.0], x=[1.0, 0.0, 3.0, 5.0], g=list("baab")), formula="y ~ x + (1 | g)",
         reml=True)
@example(df=_df(y=[1.0, 2.0, 3.0, 4.0, 5.0], x=[1.0, 2.0, 3.0, 4.0, 5.0], g=list("aabcd")),
         formula="y ~ 0 + x + (1 | g)", reml=False)
# … and a badly scaled random-slope column
@example(df=_df(y=[1.0, 2.0, 3.0, 4.0], x=[1e12, 1.0, 2.0, 3.0], g=list("abab")), formula="y ~ 1 + (x | g)",
         reml=True)
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
