"""method="anova" (moments) and method="bayes" (Gibbs), plus the method option itself."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.errors import ModelSpecError, NegativeVarianceWarning


def balanced_one_way(a=8, n=5, sa=2.0, se=1.0, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(a), n)
    y = 10 + rng.normal(scale=np.sqrt(sa), size=a)[g] + rng.normal(scale=np.sqrt(se), size=a * n)
    return pd.DataFrame({"y": y, "g": [f"g{k}" for k in g]})


def test_anova_balanced_one_way_mean_squares():
    d = balanced_one_way()
    a, n = 8, 5
    means = d.groupby("g")["y"].mean()
    grand = d["y"].mean()
    ms_a = n * ((means - grand) ** 2).sum() / (a - 1)
    ms_e = ((d["y"] - d.groupby("g")["y"].transform("mean")) ** 2).sum() / (a * (n - 1))
    m = mixedpy.fit("y ~ 1 + (1 | g)", d, method="anova")
    vc = m.varcorr.set_index("group")["variance"]
    assert vc["g"] == pytest.approx((ms_a - ms_e) / n, rel=1e-10)
    assert vc["Residual"] == pytest.approx(ms_e, rel=1e-10)
    assert m.anova_table.loc["g", "mean_sq"] == pytest.approx(ms_a, rel=1e-10)
    # balanced: the ANOVA estimates are the REML estimates when positive
    r = mixedpy.fit("y ~ 1 + (1 | g)", d)
    np.testing.assert_allclose(m.varcorr["variance"], r.varcorr["variance"], rtol=1e-5)
    # delta-method SE of h² from Var(MS) = 2 MS² / (df + 2)
    h = m.heritability("g")
    va, ve = (ms_a - ms_e) / n, ms_e
    cov = np.array([[2 * ms_a ** 2 / (a + 1) / n ** 2 + 2 * ms_e ** 2 / (a * (n - 1) + 2) / n ** 2,
                     -2 * ms_e ** 2 / (a * (n - 1) + 2) / n],
                    [-2 * ms_e ** 2 / (a * (n - 1) + 2) / n, 2 * ms_e ** 2 / (a * (n - 1) + 2)]])
    g = np.array([ve, -va]) / (va + ve) ** 2
    assert h["estimate"] == pytest.approx(va / (va + ve))
    assert h["se"] == pytest.approx(np.sqrt(g @ cov @ g), rel=1e-10)


def test_anova_negative_estimate_reported_with_warning():
    d = mixedpy.datasets.load("dyestuff2")
    with pytest.warns(NegativeVarianceWarning):
        m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, method="anova")
    v = m.varcorr.set_index("group")["variance"]
    means = d.groupby("Batch", observed=True)["Yield"].mean()
    ms_a = 5 * ((means - d["Yield"].mean()) ** 2).sum() / 5
    ms_e = ((d["Yield"] - d.groupby("Batch", observed=True)["Yield"].transform("mean")) ** 2).sum() / 24
    assert v["Batch"] == pytest.approx((ms_a - ms_e) / 5) and v["Batch"] < 0


def test_anova_restrictions():
    sleep = mixedpy.datasets.load("sleepstudy")
    with pytest.raises(ModelSpecError, match="intercepts"):
        mixedpy.fit("Reaction ~ Days + (Days | Subject)", sleep, method="anova")


def _simulated_two_factor(seed=4):
    rng = np.random.default_rng(seed)
    a, n = 40, 6
    g = np.repeat(np.arange(a), n)
    x = rng.normal(size=a * n)
    y = 5 + 0.8 * x + rng.normal(scale=1.2, size=a)[g] + rng.normal(size=a * n)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def test_bayes_near_reml_and_reproducible():
    d = _simulated_two_factor()
    reml = mixedpy.fit("y ~ x + (1 | g)", d)
    kw = {"n_iter": 1500, "burn": 300, "seed": 42, "progress": False}
    m1 = mixedpy.fit_bayes("y ~ x + (1 | g)", d, **kw)
    m2 = mixedpy.fit_bayes("y ~ x + (1 | g)", d, **kw)
    pd.testing.assert_frame_equal(m1.posterior, m2.posterior)
    assert m1.posterior.shape == (1200, 4)
    assert list(m1.posterior.columns) == ["(Intercept)", "x", "var:g", "var:Residual"]
    post = m1.posterior
    for name in ("(Intercept)", "x"):
        assert abs(m1.fixef[name] - reml.fixef[name]) < 0.5 * post[name].std()
    vr = reml.varcorr.set_index("group")["variance"]
    vb = m1.varcorr.set_index("group")["variance"]
    assert vb["Residual"] == pytest.approx(vr["Residual"], rel=0.1)
    assert vb["g"] == pytest.approx(vr["g"], rel=0.25)
    assert abs(vb["g"] - post["var:g"].mean()) < 1e-12
    ci = m1.credible_intervals()
    assert (ci.iloc[:, 2] < ci["mean"]).all() and (ci["mean"] < ci.iloc[:, 3]).all()
    assert "credible" in str(m1.summary())
    m3 = mixedpy.fit_bayes("y ~ x + (1 | g)", d, **{**kw, "seed": 43})
    assert not m3.posterior.equals(m1.posterior)
    h = m1.heritability("g")
    draws = post["var:g"] / (post["var:g"] + post["var:Residual"])
    assert h["estimate"] == pytest.approx(draws.mean()) and h["se"] == pytest.approx(draws.std())


def test_bayes_with_pedigree_thin_and_priors():
    from tests.test_genetics import MRODE_CALF_PED, MRODE_CALVES
    ped = mixedpy.Pedigree.from_frame(MRODE_CALF_PED)
    m = mixedpy.fit_bayes("wwg ~ 0 + sex + (1 | calf)", MRODE_CALVES, relmat={"calf": ped},
                    n_iter=400, burn=100, thin=3, seed=1, progress=False,
                    prior={"calf": (10.0, 20.0), "Residual": (10.0, 40.0)})
    assert len(m.posterior) == 100
    assert len(m.ranef["calf"]) == 8
    with pytest.raises(ModelSpecError, match="unknown component"):
        mixedpy.fit_bayes("wwg ~ 0 + sex + (1 | calf)", MRODE_CALVES, relmat={"calf": ped},
                    n_iter=10, burn=2, progress=False, prior={"animal": (1.0, 1.0)})


def test_method_option():
    d = mixedpy.datasets.load("dyestuff")
    a = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, method="ml")
    b = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, reml=False)
    assert a.deviance == pytest.approx(b.deviance)
    with pytest.raises(ModelSpecError, match="bayes"):
        mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, options=mixedpy.GibbsOptions(n_iter=10))
    with pytest.raises(ModelSpecError):
        mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, method="anova", variances={"Batch": 1.0, "Residual": 1.0})


def test_known_variances_without_relmat_match_dense_blup():
    d = mixedpy.datasets.load("dyestuff")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, variances={"Batch": 1500.0, "Residual": 2500.0})
    y = d["Yield"].to_numpy(dtype=float)
    codes = pd.Categorical(d["Batch"]).codes
    Z = np.eye(6)[codes]
    V = 1500 * Z @ Z.T + 2500 * np.eye(30)
    Vi = np.linalg.inv(V)
    X = np.ones((30, 1))
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    b = 1500 * Z.T @ Vi @ (y - X @ beta)
    assert m.fixef.iloc[0] == pytest.approx(beta[0])
    np.testing.assert_allclose(m.ranef["Batch"].iloc[:, 0].to_numpy(), b, rtol=1e-9)
    assert m.sigma == pytest.approx(50.0)
    assert m.vcov.iloc[0, 0] == pytest.approx(np.linalg.inv(X.T @ Vi @ X)[0, 0])


# --- ANOVA: unbalanced designs against dense projections, scale -----------------------------------------
def _dense_henderson3(X, y, Zs):
    """Henderson III written out with dense projection matrices (independent of mixedpy)."""
    n = len(y)

    def proj(M):
        return M @ np.linalg.pinv(M)

    blocks = [X]
    P = [proj(X)]
    for Z in Zs:
        blocks.append(Z)
        P.append(proj(np.column_stack(blocks)))
    rank = [np.linalg.matrix_rank(np.column_stack(blocks[:j + 1])) for j in range(len(blocks))]
    m = len(Zs)
    E, ss, df = np.zeros((m + 1, m + 1)), np.zeros(m + 1), np.zeros(m + 1)
    for j in range(m):
        D = P[j + 1] - P[j]
        ss[j] = y @ D @ y
        df[j] = rank[j + 1] - rank[j]
        E[j, :m] = [np.trace(Z.T @ D @ Z) for Z in Zs]
        E[j, m] = df[j]
    ss[m] = y @ (np.eye(n) - P[m]) @ y
    df[m] = E[m, m] = n - rank[m]
    return np.linalg.solve(E, ss), df


@pytest.mark.parametrize("design", ["crossed", "nested"])
def test_anova_unbalanced_against_dense_projections(design):
    rng = np.random.default_rng(12)
    n = 140
    a = rng.integers(0, 9, n)
    b = a * 3 + rng.integers(0, 3, n) if design == "nested" else rng.integers(0, 6, n)
    x = rng.normal(size=n) * 50 + 400
    y = 7 + 0.02 * x + rng.normal(scale=1.5, size=9)[a] + rng.normal(size=b.max() + 1)[b] + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "a": [f"a{k}" for k in a], "b": [f"b{k}" for k in b]})
    m = mixedpy.fit("y ~ x + (1 | a) + (1 | b)", d, method="anova")
    X = np.column_stack([np.ones(n), x])
    la_, lb = sorted(set(d["a"])), sorted(set(d["b"]))
    Za = (d["a"].to_numpy()[:, None] == np.array(la_)).astype(float)
    Zb = (d["b"].to_numpy()[:, None] == np.array(lb)).astype(float)
    est, df = _dense_henderson3(X, y, [Za, Zb])
    vc = m.varcorr.set_index("group")["variance"]
    np.testing.assert_allclose([vc["a"], vc["b"], vc["Residual"]], est, rtol=1e-8)
    np.testing.assert_allclose(m.anova_table["df"].to_numpy(), df)


def test_anova_50000_records_two_factors_without_dense_matrices():
    import tracemalloc
    rng = np.random.default_rng(1)
    n, qa, qb = 50_000, 1000, 200
    a, b = rng.integers(0, qa, n), rng.integers(0, qb, n)
    x = rng.normal(size=n)
    y = (5 + 0.3 * x + rng.normal(scale=np.sqrt(2.0), size=qa)[a] + rng.normal(scale=1.0, size=qb)[b]
         + rng.normal(scale=np.sqrt(3.0), size=n))
    d = pd.DataFrame({"y": y, "x": x, "a": a, "b": b})
    tracemalloc.start()
    try:
        m = mixedpy.fit("y ~ x + (1 | a) + (1 | b)", d, method="anova")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150e6   # one dense n × q_a matrix alone would take 400 MB
    # connected crossed design: rank [1, x, Z_a, Z_b] = 2 + qa + qb − 2
    assert m.anova_table["df"].tolist() == [qa - 1, qb - 1, n - qa - qb]
    vc = m.varcorr.set_index("group")["variance"]
    assert vc["a"] == pytest.approx(2.0, abs=0.3)
    assert vc["b"] == pytest.approx(1.0, abs=0.35)
    assert vc["Residual"] == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("formula, term", [
    ("Reaction ~ Days + (Days | Subject)", "(Days | Subject)"),
    ("Reaction ~ Days + (Days || Subject)", "(0 + Days | Subject)"),
])
def test_anova_slopes_error_names_the_term(formula, term):
    with pytest.raises(ModelSpecError) as info:
        mixedpy.fit(formula, mixedpy.datasets.load("sleepstudy"), method="anova")
    assert "needs random intercepts" in str(info.value) and term in str(info.value)
    assert isinstance(info.value, mixedpy.errors.MixedpyError)


# --- Bayes: vector-valued terms (inverse-Wishart) ----------------------------------------------------------
def _sleep_like(n_sub=200, n_days=10, seed=5):
    rng = np.random.default_rng(seed)
    S = np.array([[600.0, 15.0], [15.0, 35.0]])
    b = rng.multivariate_normal([0, 0], S, size=n_sub)
    sub = np.repeat(np.arange(n_sub), n_days)
    days = np.tile(np.arange(n_days), n_sub)
    y = 250 + 10 * days + b[sub, 0] + b[sub, 1] * days + rng.normal(scale=25, size=len(sub))
    return pd.DataFrame({"Reaction": y, "Days": days, "Subject": [f"s{i}" for i in sub]})


def test_bayes_correlated_slopes_near_reml_200_subjects():
    d = _sleep_like()
    f = "Reaction ~ Days + (1 + Days | Subject)"
    reml = mixedpy.fit(f, d)
    m = mixedpy.fit_bayes(f, d, n_iter=1500, burn=300, seed=11, progress=False)
    post = m.posterior
    assert list(post.columns) == ["(Intercept)", "Days", "var:Subject:(Intercept)", "var:Subject:Days",
                                  "cov:Subject:(Intercept):Days", "cor:Subject:(Intercept):Days", "var:Residual"]
    r = reml.varcorr
    b = m.varcorr
    pairs = [("var:Subject:(Intercept)", 0), ("var:Subject:Days", 1), ("cov:Subject:(Intercept):Days", 2),
             ("var:Residual", 3)]
    for col, row in pairs:
        # posterior mean reported in varcorr, near the REML estimate (within half a posterior SD)
        assert b["variance"].iloc[row] == pytest.approx(post[col].mean(), rel=1e-12)
        assert abs(b["variance"].iloc[row] - r["variance"].iloc[row]) < 0.5 * post[col].std()
    sd0, sd1 = np.sqrt(post["var:Subject:(Intercept)"].mean()), np.sqrt(post["var:Subject:Days"].mean())
    assert b["sd_cor"].iloc[0] == pytest.approx(sd0) and b["sd_cor"].iloc[1] == pytest.approx(sd1)
    assert b["sd_cor"].iloc[2] == pytest.approx(post["cov:Subject:(Intercept):Days"].mean() / (sd0 * sd1))
    assert abs(post["cor:Subject:(Intercept):Days"].mean() - r["sd_cor"].iloc[2]) < 0.5 * post[
        "cor:Subject:(Intercept):Days"].std()
    np.testing.assert_allclose(post["cor:Subject:(Intercept):Days"],
                               post["cov:Subject:(Intercept):Days"]
                               / np.sqrt(post["var:Subject:(Intercept)"] * post["var:Subject:Days"]))
    for name in ("(Intercept)", "Days"):
        assert abs(m.fixef[name] - reml.fixef[name]) < 0.5 * post[name].std()
    text = str(m.summary())
    assert "credible" in text and "cor:Subject:(Intercept):Days" in text
    ci = m.credible_intervals()
    assert (ci.iloc[:, 2] < ci["mean"]).all() and (ci["mean"] < ci.iloc[:, 3]).all()
    h = m.heritability("Subject")
    draws = post["var:Subject:(Intercept)"] / (post["var:Subject:(Intercept)"] + post["var:Residual"])
    assert h["estimate"] == pytest.approx(draws.mean())
    assert m.prior["Subject"][0] == "inverse-Wishart" and m.prior["Subject"][1] == 5.0


def test_bayes_uncorrelated_terms_stay_scalar_and_reproducible():
    d = _sleep_like(n_sub=60, seed=2)
    kw = {"n_iter": 200, "burn": 50, "seed": 3, "progress": False}
    m1 = mixedpy.fit_bayes("Reaction ~ Days + (1 + Days || Subject)", d, **kw)
    assert list(m1.posterior.columns) == ["(Intercept)", "Days", "var:Subject", "var:Subject.1", "var:Residual"]
    assert len(m1.varcorr) == 3
    m2 = mixedpy.fit_bayes("Reaction ~ Days + (1 + Days || Subject)", d, **kw)
    pd.testing.assert_frame_equal(m1.posterior, m2.posterior)
    v1 = mixedpy.fit_bayes("Reaction ~ Days + (1 + Days | Subject)", d, **kw)
    v2 = mixedpy.fit_bayes("Reaction ~ Days + (1 + Days | Subject)", d, **kw)
    pd.testing.assert_frame_equal(v1.posterior, v2.posterior)
    pd.testing.assert_frame_equal(v1.ranef["Subject"], v2.ranef["Subject"])
    v3 = mixedpy.fit_bayes("Reaction ~ Days + (1 + Days | Subject)", d, **{**kw, "seed": 4})
    assert not v3.posterior.equals(v1.posterior)


def test_inverse_wishart_draw_against_known_moments():
    from scipy import stats

    from mixedpy.variance.bayes import draw_inverse_wishart
    rng = np.random.default_rng(2024)
    S = np.array([[4.0, 1.0, -0.5], [1.0, 2.0, 0.3], [-0.5, 0.3, 1.0]])
    nu, k, N = 20.0, 3, 20000
    draws = np.array([draw_inverse_wishart(rng, nu, S) for _ in range(N)])
    mean = S / (nu - k - 1)
    se = draws.std(axis=0) / np.sqrt(N)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * se)
    var_diag = 2 * np.diag(S) ** 2 / ((nu - k - 1) ** 2 * (nu - k - 3))
    np.testing.assert_allclose(draws[:, [0, 1, 2], [0, 1, 2]].var(axis=0), var_diag, rtol=0.1)
    assert np.all(np.linalg.eigvalsh(draws) > 0)
    # marginal of Σ_11: IW_1(ν − k + 1, S_11) = inverse gamma((ν − k + 1)/2, S_11/2)
    ks = stats.kstest(draws[:, 0, 0], stats.invgamma((nu - k + 1) / 2, scale=S[0, 0] / 2).cdf)
    assert ks.pvalue > 1e-3
    # k = 1: scale / χ²(ν), the scaled-inverse-χ² full conditional of a scalar component
    one = np.array([draw_inverse_wishart(rng, 6.0, [[3.0]])[0, 0] for _ in range(4000)])
    assert stats.kstest(one, stats.invgamma(3.0, scale=1.5).cdf).pvalue > 1e-3


@pytest.mark.parametrize("prior, fragment", [
    ({"Subject": (5.0, np.eye(3))}, r"prior\['Subject'\].*2 × 2"),
    ({"Subject": (5.0, [[1.0, 2.0], [2.0, 1.0]])}, r"prior\['Subject'\].*positive semidefinite"),
    ({"Subject": (5.0, [[1.0, 0.5], [0.0, 1.0]])}, r"prior\['Subject'\].*symmetric"),
    ({"Subject": (5.0, -1.0)}, r"prior\['Subject'\].*non-negative"),
    ({"Subject": (-300.0, 1.0)}, r"prior\['Subject'\].*improper"),
    ({"Subject": 3.0}, r"prior\['Subject'\] must be a pair"),
    ({"Subject": (np.inf, 1.0)}, r"prior\['Subject'\].*finite"),
    ({"Residual": (4.0, -2.0)}, r"prior\['Residual'\].*non-negative"),
    ({"Residual": (-2.0, 1.0)}, r"prior\['Residual'\].*flat prior"),
    ({"Residual": (4.0, np.eye(2))}, r"prior\['Residual'\].*number"),
    ({"Days": (4.0, 1.0)}, r"unknown component 'Days'"),
])
def test_bayes_prior_validation_names_the_component(prior, fragment):
    d = mixedpy.datasets.load("sleepstudy")
    with pytest.raises(ModelSpecError, match=fragment) as info:
        mixedpy.fit_bayes("Reaction ~ Days + (Days | Subject)", d, n_iter=10, burn=2,
                    progress=False, prior=prior)
    assert isinstance(info.value, mixedpy.errors.MixedpyError)


def test_bayes_prior_matrix_and_scalar_scale_accepted():
    d = mixedpy.datasets.load("sleepstudy")
    kw = {"n_iter": 30, "burn": 5, "seed": 1, "progress": False}
    m = mixedpy.fit_bayes("Reaction ~ Days + (Days | Subject)", d, prior={"Subject": (6, 100.0)}, **kw)
    assert m.prior["Subject"][1] == 6.0
    np.testing.assert_allclose(m.prior["Subject"][2], 100.0 * np.eye(2))
    m = mixedpy.fit_bayes("Reaction ~ Days + (Days | Subject)", d,
                    prior={"Subject": (4, [[500.0, 0.0], [0.0, 30.0]]), "Residual": (-2, 0)}, **kw)
    assert m.prior["Residual"] == ("scaled-inv-chi2", -2.0, 0.0)


def test_bayes_with_relationship_matrices():
    from tests.test_genetics import _genomic_case, _simulated_animal_data
    ped, _A, _pos, data = _simulated_animal_data()
    kw = {"n_iter": 120, "burn": 20, "seed": 5, "progress": False}
    m = mixedpy.fit_bayes("y ~ x + (1 + x | animal)", data, relmat={"animal": ped}, **kw)    # A⁻¹, vector term
    assert m.ranef["animal"].shape == (len(ped), 2)
    assert "cov:animal:(Intercept):x" in m.posterior.columns
    G, gd = _genomic_case()
    reml = mixedpy.fit("y ~ x + (1 | id)", gd, relmat={"id": G})
    g = mixedpy.fit_bayes("y ~ x + (1 | id)", gd, relmat={"id": G}, **{**kw, "n_iter": 1500, "burn": 300})
    assert g.ranef["id"].shape == (40, 1)                                               # dense K, latent form
    for col, row in (("var:id", 0), ("var:Residual", 1)):
        assert abs(g.varcorr["variance"].iloc[row] - reml.varcorr["variance"].iloc[row]) < 0.6 * g.posterior[col].std()
    gv = mixedpy.fit_bayes("y ~ x + (1 + x | id)", gd, relmat={"id": G}, **kw)               # dense K, vector term
    assert gv.ranef["id"].shape == (40, 2)
    again = mixedpy.fit_bayes("y ~ x + (1 + x | id)", gd, relmat={"id": G}, **kw)
    pd.testing.assert_frame_equal(gv.posterior, again.posterior)


def test_anova_input_errors_name_the_term():
    from mixedpy.variance.anova import anova_components
    from tests.test_genetics import MRODE_CALF_PED, MRODE_CALVES
    ped = mixedpy.Pedigree.from_frame(MRODE_CALF_PED)
    with pytest.raises(ModelSpecError, match="relmat.*'calf'"):
        mixedpy.fit("wwg ~ sex + (1 | calf)", MRODE_CALVES, relmat={"calf": ped}, method="anova")
    Z = np.kron(np.eye(3), np.ones((2, 1)))
    Z[0, 1] = 1.0                                   # a record in two levels: not a random intercept
    with pytest.raises(ModelSpecError, match="'g'"):
        anova_components(np.ones((6, 1)), np.arange(6.0), [Z], ["g"])


def test_bayes_progress_bar(capsys):
    d = mixedpy.datasets.load("dyestuff")
    mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", d, n_iter=50, burn=10, seed=1, progress=True)
    assert "Gibbs" in capsys.readouterr().err
    mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", d, n_iter=50, burn=10, seed=1, progress=False)
    assert "Gibbs" not in capsys.readouterr().err


def test_bayes_seeded_chain_independent_of_blas_threads():
    # a seeded chain must not depend on the BLAS thread count: with a singular genomic K (more
    # individuals than markers) the basis of its eigenvectors, and so every latent draw, changed
    # with the thread count; a seeded fit therefore runs on one thread whatever n_threads says
    rng = np.random.default_rng(5)
    n = 600
    ids = [f"i{k}" for k in range(n)]
    G = mixedpy.grm(pd.DataFrame(rng.binomial(2, 0.3, (n, 300)), index=ids))
    data = pd.DataFrame({"id": ids, "y": rng.normal(size=n)})
    kw = {"relmat": {"id": G}, "n_iter": 30, "burn": 10, "seed": 2, "progress": False}
    runs = [mixedpy.fit_bayes("y ~ 1 + (1 | id)", data, n_threads=nt, **kw).posterior for nt in (1, 2, None)]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    pd.testing.assert_frame_equal(runs[0], runs[2], check_exact=True)
