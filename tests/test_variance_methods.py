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
    kw = dict(method="bayes", n_iter=1500, burn=300, seed=42, progress=False)
    m1 = mixedpy.fit("y ~ x + (1 | g)", d, **kw)
    m2 = mixedpy.fit("y ~ x + (1 | g)", d, **kw)
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
    m3 = mixedpy.fit("y ~ x + (1 | g)", d, **{**kw, "seed": 43})
    assert not m3.posterior.equals(m1.posterior)
    h = m1.heritability("g")
    draws = post["var:g"] / (post["var:g"] + post["var:Residual"])
    assert h["estimate"] == pytest.approx(draws.mean()) and h["se"] == pytest.approx(draws.std())


def test_bayes_with_pedigree_thin_and_priors():
    from tests.test_genetics import MRODE_CALF_PED, MRODE_CALVES
    ped = mixedpy.Pedigree.from_frame(MRODE_CALF_PED)
    m = mixedpy.fit("wwg ~ 0 + sex + (1 | calf)", MRODE_CALVES, relmat={"calf": ped}, method="bayes",
                    n_iter=400, burn=100, thin=3, seed=1, progress=False,
                    prior={"calf": (10.0, 20.0), "Residual": (10.0, 40.0)})
    assert len(m.posterior) == 100
    assert len(m.ranef["calf"]) == 8
    with pytest.raises(ModelSpecError, match="unknown component"):
        mixedpy.fit("wwg ~ 0 + sex + (1 | calf)", MRODE_CALVES, relmat={"calf": ped}, method="bayes",
                    n_iter=10, burn=2, progress=False, prior={"animal": (1.0, 1.0)})


def test_method_option():
    d = mixedpy.datasets.load("dyestuff")
    a = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, method="ml")
    b = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, reml=False)
    assert a.deviance == pytest.approx(b.deviance)
    with pytest.raises(ModelSpecError, match="bayes"):
        mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, n_iter=10)
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
