"""The model core: one spec, refits that keep the model (relmat LRT, profile and bootstrap against
dense oracles written from the likelihood), frozen results, the workspace protocol, n_threads."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import mixedpy
from mixedpy.errors import FrozenResultError, ModelSpecError
from tests.test_genetics import random_pedigree
from mixedpy.model.protocol import implements_protocol
from mixedpy.model.spec import model_spec


# --- a pedigree animal model with herds, and its dense ML oracle -----------------------------------
def _animal_herd_data(records_per_animal: int, seed: int = 3):
    pdf = random_pedigree(n_founders=20, n_gen=2, per_gen=40, seed=seed)
    ped = mixedpy.Pedigree.from_frame(pdf)
    rng = np.random.default_rng(seed)
    A = ped.A.to_numpy()
    ids = np.asarray(ped.ids)
    animals = np.repeat(np.arange(len(ped)), records_per_animal)
    n = len(animals)
    herd = rng.integers(0, 12, n)
    bv = np.linalg.cholesky(A) @ rng.normal(size=len(ped)) * np.sqrt(3.0)
    hv = rng.normal(size=12) * 1.0
    x = rng.normal(size=n)
    y = 2 + 0.5 * x + bv[animals] + hv[herd] + rng.normal(size=n) * 1.5
    data = pd.DataFrame({"y": y, "x": x, "animal": ids[animals], "herd": [f"h{h}" for h in herd]})
    Za = np.zeros((n, len(ped)))
    Za[np.arange(n), animals] = 1.0
    Zh = np.zeros((n, 12))
    Zh[np.arange(n), herd] = 1.0
    return ped, data, Za @ A @ Za.T, Zh @ Zh.T, np.column_stack([np.ones(n), x]), y


def _dense_ml(y, X, Ks, fix=None):
    """−2 log L maximized over the variances (log scale) of V = Σ v_j K_j + v_e I; ``fix`` holds
    {j: variance} (j = len(Ks) is the residual)."""
    n = len(y)
    m = len(Ks) + 1
    fix = fix or {}
    free = [j for j in range(m) if j not in fix]

    def dev(logv):
        v = np.empty(m)
        v[free] = np.exp(logv)
        for j, val in fix.items():
            v[j] = val
        V = sum(vj * K for vj, K in zip(v, Ks)) + v[-1] * np.eye(n)
        c = np.linalg.cholesky(V)
        Xw = np.linalg.solve(c, X)
        yw = np.linalg.solve(c, y)
        beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
        r = yw - Xw @ beta
        return 2 * np.sum(np.log(np.diag(c))) + r @ r + n * np.log(2 * np.pi)

    if not free:
        return dev(np.zeros(0)), np.zeros(0)
    best = None
    for start in (0.0, 1.0):
        res = optimize.minimize(dev, np.full(len(free), start), method="L-BFGS-B",
                                options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
        if best is None or res.fun < best.fun:
            best = res
    return best.fun, np.exp(best.x)


@pytest.mark.parametrize("records", [1, 2])
def test_relmat_lrt_equals_dense_oracle(records):
    ped, data, KA, KH, X, y = _animal_herd_data(records)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mixedpy.fit("y ~ x + (1 | herd)", data)
        m1 = mixedpy.fit("y ~ x + (1 | herd) + (1 | animal)", data, relmat={"animal": ped})
        table = mixedpy.compare(m0, m1)
    dev0, _ = _dense_ml(y, X, [KH])
    dev1, _ = _dense_ml(y, X, [KH, KA])
    assert table["deviance"].iloc[0] == pytest.approx(dev0, abs=1e-4)
    assert table["deviance"].iloc[1] == pytest.approx(dev1, abs=1e-4)
    assert table["chisq"].iloc[1] == pytest.approx(dev0 - dev1, abs=2e-4)
    assert table["df"].iloc[1] == 1
    # the ML refit kept the pedigree: its deviance is the dense pedigree model's, not the iid one's
    assert m1.ml_fit.structures is not None and m1.ml_fit.structures[0].kind == "inverse"


def test_refit_keeps_known_variances_and_relmat():
    ped, data, KA, KH, X, y = _animal_herd_data(2)
    m = mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": ped})
    ml = m.refit(reml=False)
    dev, v = _dense_ml(y, X, [KA])
    assert ml.deviance == pytest.approx(dev, abs=1e-4)
    assert ml.varcorr["variance"].to_numpy() == pytest.approx(v, rel=2e-3)
    known = m.refit(variances={"animal": 3.0, "Residual": 2.0})
    assert known.method == "known" and known.structures is not None
    dev_known, _ = _dense_ml(y, X, [KA], fix={0: 3.0, 1: 2.0})
    assert known.refit(reml=False).deviance == pytest.approx(dev_known, abs=1e-6)


def test_profile_interval_of_relmat_fit_equals_dense_oracle():
    ped, data, KA, KH, X, y = _animal_herd_data(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": ped}, reml=False)
        ci = m.confint(method="profile", exact=True)
    dev_hat, v_hat = _dense_ml(y, X, [KA])
    cut = stats.chi2.ppf(0.95, 1)

    def excess(sd):  # profile deviance at the animal SD, minus the optimum, minus the cutoff
        return _dense_ml(y, X, [KA], fix={0: sd ** 2})[0] - dev_hat - cut

    sd_hat = np.sqrt(v_hat[0])
    lo = optimize.brentq(excess, 1e-3, sd_hat, xtol=1e-6)
    hi = optimize.brentq(excess, sd_hat, 5 * sd_hat, xtol=1e-6)
    row = ci.loc["sd_(Intercept)|animal"]
    assert row["lower"] == pytest.approx(lo, rel=2e-3)
    assert row["upper"] == pytest.approx(hi, rel=2e-3)


def test_bootstrap_simulates_from_the_relationship_matrix():
    from mixedpy.inference.bootstrap import simulate_responses
    ped, data, KA, KH, X, y = _animal_herd_data(1)
    data = data.iloc[:60]
    m = mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": ped},
                    variances={"animal": 4.0, "Residual": 1.0})
    sims = simulate_responses(m, 6000, seed=1)
    emp = np.cov(sims, rowvar=False)
    expected = 4.0 * KA[:60, :60] + np.eye(60)
    # related animals are correlated in the draws as A says (sampling error ~ 0.1 at 6000 draws)
    assert np.max(np.abs(emp - expected)) < 0.5
    related = (KA[:60, :60] > 0.2) & ~np.eye(60, dtype=bool)
    assert related.any()
    assert np.mean(emp[related]) == pytest.approx(np.mean(expected[related]), abs=0.15)


# --- frozen results ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sleep_fit():
    return mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))


def test_results_refuse_mutation(sleep_fit):
    m = sleep_fit
    for name, value in (("sigma", 1.0), ("theta", np.zeros(3)), ("fixef", None), ("coef_table", None),
                        ("anything_new", 1)):
        with pytest.raises(FrozenResultError, match=name):
            setattr(m, name, value)
    with pytest.raises(FrozenResultError):
        del m.sigma
    with pytest.raises(ValueError):
        m.theta[0] = 9.0
    with pytest.raises(ValueError):
        m.solution.beta[0] = 0.0
    with pytest.raises(AttributeError):
        m.spec.reml = False


def test_pandas_views_are_copies(sleep_fit):
    m = sleep_fit
    slope_308 = m.coef["Subject"].loc["308", "Days"]
    days = m.coef_table.loc["Days", "estimate"]
    f = m.fixef
    f["Days"] = 0.0
    m.coef_table.loc["Days", "estimate"] = 0.0
    m.varcorr.loc[0, "variance"] = -1.0
    m.ranef["Subject"].iloc[:, :] = 0.0
    m.vcov.iloc[:, :] = 0.0
    assert m.fixef["Days"] == days
    assert m.coef["Subject"].loc["308", "Days"] == slope_308
    assert m.coef_table.loc["Days", "estimate"] == days
    assert m.varcorr.loc[0, "variance"] > 0
    assert np.abs(m.ranef["Subject"].to_numpy()).sum() > 0
    assert np.all(np.diag(m.vcov.to_numpy()) > 0)


# --- the protocol, the spec, threads --------------------------------------------------------------
def test_every_engine_implements_the_protocol():
    ped, data, *_ = _animal_herd_data(1)
    G = mixedpy.grm(pd.DataFrame(np.random.default_rng(1).binomial(2, 0.3, (len(ped), 50)),
                                 index=np.asarray(ped.ids)))
    fits = [mixedpy.fit("y ~ x + (1 | herd)", data),
            mixedpy.fit("y ~ x + (1 | herd)", data, engine="sparse"),
            mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": ped}),
            mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": G})]
    kinds = {type(m.workspace).__name__ for m in fits}
    assert kinds == {"Workspace", "MMEWorkspace", "TridiagonalWorkspace"}
    for m in fits:
        assert implements_protocol(m.workspace)
        assert m.workspace.deviance(m.theta, True) == pytest.approx(m.reml_criterion, rel=1e-10)


def test_spec_refit_options_and_errors(sleep_fit):
    s = sleep_fit.spec
    assert s.replace(reml=False).method == "ml"
    with pytest.raises(ModelSpecError, match="formula"):
        s.replace(formula="y ~ 1")
    with pytest.raises(mixedpy.errors.DataError, match="180"):
        s.with_response(np.zeros(3))
    with pytest.raises(ModelSpecError, match="n_threads"):
        model_spec("Reaction ~ Days + (1 | Subject)", mixedpy.datasets.load("sleepstudy"), n_threads=0)
    with pytest.raises(ModelSpecError, match="start"):
        sleep_fit.refit(start=np.zeros(2))


def test_refit_with_held_parameter_matches_profile(sleep_fit):
    # θ₂ (the slope SD) held at its estimate: the others reach the same optimum
    held = sleep_fit.refit(fixed={2: float(sleep_fit.theta[2])})
    assert held.reml_criterion == pytest.approx(sleep_fit.reml_criterion, abs=1e-6)
    moved = sleep_fit.refit(fixed={2: 0.0})
    assert moved.theta[2] == 0.0 and moved.reml_criterion > sleep_fit.reml_criterion


def test_bootstrap_refit_of_response(sleep_fit):
    y2 = sleep_fit.fixed.y * 2.0 + 1.0
    m2 = sleep_fit.refit(y=y2)
    # a linear change of the response scales σ and the slope, shifts the intercept
    assert m2.sigma == pytest.approx(2 * sleep_fit.sigma, rel=1e-5)
    assert m2.fixef["Days"] == pytest.approx(2 * sleep_fit.fixef["Days"], rel=1e-5)
    assert m2.fixef["(Intercept)"] == pytest.approx(2 * sleep_fit.fixef["(Intercept)"] + 1, rel=1e-5)


def test_n_threads_gives_the_same_fit():
    d = mixedpy.datasets.load("sleepstudy")
    a = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d, n_threads=1)
    b = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d, n_threads=2)
    assert a.reml_criterion == pytest.approx(b.reml_criterion, abs=1e-9)
    assert a.spec.n_threads == 1 and a.refit(reml=False).spec.n_threads == 1


# --- Kenward-Roger on relationship-matrix fits: pbkrtest's formulas written densely ----------------
def _dense_kr(X, Gs, Phi):
    """pbkrtest's vcovAdj from Σ = Σ_r φ_r G_r, with the derivative matrices Gs (residual last)."""
    def adjusted(Sigma):
        Si = np.linalg.inv(Sigma)
        OO = [G @ Si @ X for G in Gs]
        P = [-X.T @ Si @ O for O in OO]
        Q = [[O1.T @ Si @ O2 for O2 in OO] for O1 in OO]
        HH = [G @ Si for G in Gs]
        m = len(Gs)
        IE2 = np.array([[np.sum(HH[r] * HH[s].T) - 2 * np.sum(Phi * Q[r][s]) + np.sum((Phi @ P[r]) * (P[s] @ Phi))
                         for s in range(m)] for r in range(m)])
        W = 2 * np.linalg.inv(IE2)
        UU = sum(W[r, s] * (Q[r][s] - P[r] @ Phi @ P[s]) for r in range(m) for s in range(m))
        return Phi + 2 * Phi @ UU @ Phi
    return adjusted


@pytest.mark.parametrize("records", [1, 2])
def test_kenward_roger_of_pedigree_fit_equals_dense_formulas(records):
    ped, data, KA, KH, X, y = _animal_herd_data(records)
    keep = data.index[:150] if records == 1 else data.index   # records == 1: fewer records than animals
    data, KA, X = data.loc[keep], KA[np.ix_(keep, keep)], X[keep]
    m = mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": ped})
    va, s2 = m.varcorr["variance"].to_numpy()
    Sigma = va * KA + s2 * np.eye(len(data))
    Phi = np.linalg.inv(X.T @ np.linalg.solve(Sigma, X))
    np.testing.assert_allclose(m.vcov.to_numpy(), Phi, rtol=1e-6)
    PhiA = _dense_kr(X, [KA, np.eye(len(data))], Phi)(Sigma)
    np.testing.assert_allclose(m.kr_adjusted.PhiA, PhiA, rtol=1e-6)
    table = m.anova(ddf="kenward-roger")
    assert np.isfinite(table.loc["x", "den_df"]) and table.loc["x", "den_df"] > 1
