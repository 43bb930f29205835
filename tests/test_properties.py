"""Property tests: invariances of the fit, and robustness on random small data frames."""
from __future__ import annotations

import functools
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
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


def _dense_objective(X, Z, Lam, y, reml):
    """−2 log (restricted) likelihood with σ² profiled out, from dense V/σ² = ZΛΛᵀZᵀ + I (the
    textbook GLS formulas; nothing of mixedpy's solver), and the GLS fitted values Xβ̂ + Zb̂."""
    n, p = X.shape
    ZL = Z @ Lam
    V0 = ZL @ ZL.T + np.eye(n)
    L = np.linalg.cholesky(V0)
    Xs, ys = np.linalg.solve(L, X), np.linalg.solve(L, y)
    beta, *_ = np.linalg.lstsq(Xs, ys, rcond=None)
    r = y - X @ beta
    rs = ys - Xs @ beta
    rss = float(rs @ rs)
    ld = 2.0 * np.sum(np.log(np.diag(L)))
    b = ZL.T @ np.linalg.solve(V0, r) if Z.shape[1] else np.zeros(0)
    fitted = X @ beta + ZL @ b
    dof = n - p if reml else n
    if rss <= 0.0:
        return -np.inf, fitted, rss
    dev = ld + dof * (np.log(2 * np.pi * rss / dof) + 1)
    if reml:
        dev += np.linalg.slogdet(Xs.T @ Xs)[1]
    return dev, fitted, rss


def _check_against_dense(m, df, formula, reml):
    # the rows used are those with none of the model's variables missing
    # (NaN / None), counted here from the data
    cols = _formula_variables(formula)
    used = df[df[cols].notna().all(axis=1)]
    assert sorted(m.dropped_rows) == sorted(set(df.index) - set(used.index))
    assert m.nobs == len(used)
    y = used["y"].to_numpy(float)
    np.testing.assert_array_equal(np.asarray(m.workspace.y, float), y)
    # its objective is the dense textbook criterion at its θ, and no worse than at θ = 0 (the
    # linear model, always feasible); its fitted values are the dense GLS / BLUP ones at its θ
    X = np.asarray(m.workspace.X, float)
    Z = np.asarray(m.random.Z.toarray() if hasattr(m.random.Z, "toarray") else m.random.Z, float)
    theta = np.asarray(m.theta, float)
    Lam = np.asarray(m.random.Lambda(theta).toarray(), float) if len(theta) else np.zeros((0, 0))
    dev, fitted, rss = _dense_objective(X, Z, Lam, y, reml)
    scale = max(1.0, float(np.abs(y).max()))
    ZL = Z @ Lam if Lam.size else np.zeros((len(y), 0))
    # cond(V/σ²) <= 1 + ‖ZΛ‖²_F; beyond 1e8 (or an X that badly conditioned) doubles do not settle it
    if 1.0 + float(np.sum(ZL ** 2)) > 1e8 or (X.shape[1] and np.linalg.cond(X) > 1e8):
        event("too ill-conditioned for the dense oracle")
        return
    event("compared with the dense oracle")
    if np.isfinite(dev):
        assert m.objective == pytest.approx(dev, rel=1e-6, abs=1e-5), (m.objective, dev)
        dev0, *_ = _dense_objective(X, Z, np.zeros_like(Lam), y, reml)
        assert m.objective <= dev0 + 1e-6 * max(1.0, abs(dev0))
    else:  # y is in the span of the fixed effects: a perfect fit
        assert m.objective < -1e3 or m.objective == -np.inf, m.objective
    np.testing.assert_allclose(m.fitted().to_numpy(), fitted, rtol=1e-5, atol=1e-6 * scale)


def _formula_variables(formula):
    return [v for v in ("y", "x", "g", "h") if re.search(rf"\b{v}\b", formula)]


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
        event("refused with a MixedpyError")
        return
    event("fitted")
    _check_against_dense(m, df, formula, reml)


@st.composite
def clean_frames(draw):
    """Finite data, enough rows and levels: most of these fit, so the dense checks run."""
    n = draw(st.integers(8, 30))
    num = st.one_of(st.floats(-100.0, 100.0), st.integers(-5, 5).map(float))
    return pd.DataFrame({"y": draw(st.lists(num, min_size=n, max_size=n)),
                         "x": draw(st.lists(num, min_size=n, max_size=n)),
                         "g": draw(st.lists(st.sampled_from(list("abcd")), min_size=n, max_size=n)),
                         "h": draw(st.lists(st.sampled_from(["u", "v", "w"]), min_size=n, max_size=n))})


@settings(max_examples=40, **SETTINGS)
@given(df=clean_frames(), formula=st.sampled_from(FORMULAS), reml=st.booleans())
def test_random_clean_frames_against_dense(df, formula, reml):
    """The objective at the returned θ is the dense textbook criterion, no worse than θ = 0, and
    the fitted values are the dense GLS + BLUP ones."""
    try:
        m = _fit(formula, df, reml=reml)
    except MixedpyError:
        event("refused with a MixedpyError")
        return
    event("fitted")
    _check_against_dense(m, df, formula, reml)
