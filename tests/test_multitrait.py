"""Multi-trait animal models (issue #15): known G₀ ⊗ A and R₀ ⊗ I reproduce Mrode (2014) Example 5.1
(BLUPF90's solutions and √PEV); REML with missing traits agrees with a dense definitional REML
(V = Z (A ⊗ G₀) Zᵀ + R written out, optimized by scipy); breeder statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import mixedpy
from mixedpy.errors import ModelSpecError
from mixedpy.inference import breeding

G0 = np.array([[20.0, 18.0], [18.0, 40.0]])
R0 = np.array([[40.0, 11.0], [11.0, 30.0]])


def mrode():
    ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    cal = mixedpy.datasets.load("mrode_calves")
    long = cal.melt(id_vars=["animal", "sex"], value_vars=["wwg", "pwg"], var_name="trait", value_name="y")
    long["trait"] = pd.Categorical(long["trait"], categories=["wwg", "pwg"])
    return ped, long


def test_mrode_5_1_known_matrices():
    ped, long = mrode()
    m = mixedpy.fit("y ~ 0 + trait:sex + (0 + trait | animal)", long, relmat={"animal": ped},
                    residual="us(trait | animal)", variances={"animal": G0, "Residual": R0})
    fe = m.fixef
    np.testing.assert_allclose([fe["trait[wwg]:sex[M]"], fe["trait[pwg]:sex[M]"], fe["trait[wwg]:sex[F]"],
                                fe["trait[pwg]:sex[F]"]], [4.3609, 6.7999, 3.3973, 5.8803], atol=6e-5)
    ebv = m.ranef["animal"]
    np.testing.assert_allclose(ebv.iloc[0].to_numpy(), [0.1509, 0.2796], atol=6e-5)
    pev = breeding.prediction_error_variances(m, "animal")
    np.testing.assert_allclose(np.sqrt(pev[0].diagonal()), [4.313321, 5.991810], atol=2e-6)
    np.testing.assert_allclose(m.term_covariance(m.random.terms[0]), G0, rtol=1e-12)
    np.testing.assert_allclose(m.residual_cov().to_numpy(), R0, rtol=1e-12)


def test_known_matrix_as_dataframe_and_errors():
    ped, long = mrode()
    G = pd.DataFrame(G0[::-1, ::-1], index=["pwg", "wwg"], columns=["pwg", "wwg"])   # reordered to the term
    m = mixedpy.fit("y ~ 0 + trait:sex + (0 + trait | animal)", long, relmat={"animal": ped},
                    residual="us(trait | animal)", variances={"animal": G, "Residual": R0})
    np.testing.assert_allclose(m.term_covariance(m.random.terms[0]), G0)
    for bad, match in [({"animal": np.eye(3), "Residual": R0}, "2 × 2"),
                       ({"animal": [[1, 2], [0, 1]], "Residual": R0}, "symmetric"),
                       ({"animal": [[1, 2], [2, 1]], "Residual": R0}, "semidefinite"),
                       ({"animal": G0, "Residual": 30.0}, "residual structure")]:
        with pytest.raises(ModelSpecError, match=match):
            mixedpy.fit("y ~ 0 + trait:sex + (0 + trait | animal)", long, relmat={"animal": ped},
                        residual="us(trait | animal)", variances=bad)


def _herd(seed=3, gens=2, per=30):
    rng = np.random.default_rng(seed)
    ids, sire, dam = list(range(1, 11)), [np.nan] * 10, [np.nan] * 10
    males, females, nxt = list(range(1, 6)), list(range(6, 11)), 11
    for _ in range(gens):
        cm, cf = [], []
        for i in range(per):
            ids.append(nxt)
            sire.append(rng.choice(males))
            dam.append(rng.choice(females))
            (cm if i % 2 == 0 else cf).append(nxt)
            nxt += 1
        males, females = cm, cf
    ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": ids, "sire": sire, "dam": dam}))
    A = ped.A.to_numpy()
    n = len(ids)
    G, R = np.array([[2.0, 0.8], [0.8, 1.5]]), np.array([[3.0, 1.0], [1.0, 2.0]])
    u = (np.linalg.cholesky(np.kron(A, G)) @ rng.standard_normal(2 * n)).reshape(n, 2)
    e = rng.standard_normal((n, 2)) @ np.linalg.cholesky(R).T
    sex = rng.choice(["F", "M"], n)
    Y = u + e + np.where(sex[:, None] == "M", [1.0, 2.0], [0.0, 0.5])
    wide = pd.DataFrame({"animal": ids, "sex": sex, "y1": Y[:, 0], "y2": Y[:, 1]}).iloc[10:]
    wide.loc[rng.random(len(wide)) < 0.2, "y2"] = np.nan
    wide.loc[rng.random(len(wide)) < 0.1, "y1"] = np.nan
    return ped, A, wide


def _dense_reml(long, A, ids):
    """−2 REML log-likelihood of the long data at (G₀, R₀), written densely."""
    X = np.column_stack([(long["trait"] == "y1"), (long["trait"] == "y2"),
                         (long["trait"] == "y1") & (long["sex"] == "M"),
                         (long["trait"] == "y2") & (long["sex"] == "M")]).astype(float)
    pos = {a: i for i, a in enumerate(ids)}
    a = long["animal"].map(pos).to_numpy()
    t = (long["trait"] == "y2").to_numpy().astype(int)
    y = long["y"].to_numpy()
    n, p = X.shape
    same = a[:, None] == a[None, :]

    def crit(G, R):
        V = A[np.ix_(a, a)] * G[np.ix_(t, t)] + same * R[np.ix_(t, t)]
        Vi = np.linalg.inv(V)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return float(np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y + (n - p) * np.log(2 * np.pi))

    return crit


def _chol_pars(G, R):
    lg, lr = np.linalg.cholesky(G), np.linalg.cholesky(R)
    return np.array([lg[0, 0], lg[1, 0], lg[1, 1], lr[0, 0], lr[1, 0], lr[1, 1]])


def _from_pars(x):
    lg = np.array([[x[0], 0], [x[1], x[2]]])
    lr = np.array([[x[3], 0], [x[4], x[5]]])
    return lg @ lg.T, lr @ lr.T


def test_multitrait_reml_with_missing_traits_equals_dense_oracle():
    ped, A, wide = _herd()
    long = wide.melt(id_vars=["animal", "sex"], value_vars=["y1", "y2"], var_name="trait", value_name="y").dropna()
    long["trait"] = pd.Categorical(long["trait"], categories=["y1", "y2"])
    m = mixedpy.fit("y ~ 0 + trait + trait:sex + (0 + trait | animal)", long, relmat={"animal": ped},
                    residual="us(trait | animal)")
    G, R = m.term_covariance(m.random.terms[0]), m.residual_cov().to_numpy()
    crit = _dense_reml(long, A, list(ped.ids.astype(int)))
    assert m.reml_criterion == pytest.approx(crit(G, R), abs=1e-6)      # the same likelihood
    best = minimize(lambda x: crit(*_from_pars(x)), _chol_pars(G, R) * 1.1, method="BFGS",
                    options={"gtol": 1e-7})
    assert m.reml_criterion <= best.fun + 1e-5                            # and its optimum
    Gd, Rd = _from_pars(best.x)
    np.testing.assert_allclose(G, Gd, atol=5e-3 * np.abs(Gd).max())
    np.testing.assert_allclose(R, Rd, atol=5e-3 * np.abs(Rd).max())
    # breeder statistics of the same fit
    h2 = breeding.trait_heritability(m, "animal")
    np.testing.assert_allclose(h2["estimate"], np.diag(G) / (np.diag(G) + np.diag(R)), rtol=1e-10)
    assert np.all(np.isfinite(h2["se"])) and np.all(h2["se"] > 0)
    rg = breeding.genetic_correlations(m, "animal")
    assert rg["estimate"].iloc[0] == pytest.approx(G[0, 1] / np.sqrt(G[0, 0] * G[1, 1]))
    assert np.isfinite(rg["se"].iloc[0])


def test_delta_se_against_numeric_sampling_covariance():
    """h² SE of a one-trait model equals the existing heritability()'s delta method."""
    m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    h = m.heritability("Batch")
    t = breeding.trait_heritability(m, "Batch")
    assert t["estimate"].iloc[0] == pytest.approx(h["estimate"], rel=1e-10)
    assert t["se"].iloc[0] == pytest.approx(h["se"], rel=1e-3)


def test_cullis_and_entry_mean_heritability_on_met():
    met = mixedpy.datasets.load("met")
    met = met[met["yield"].notna()]
    m = mixedpy.fit("yield ~ env + (1 | genotype) + (1 | genotype:env)", met)
    vc = m.varcorr.set_index("group")["variance"]
    ne = met["env"].nunique()
    per_g = met.groupby("genotype", observed=True).size()
    d_res = len(per_g) / np.sum(1.0 / per_g)
    em = vc["genotype"] / (vc["genotype"] + vc["genotype:env"] / ne + vc["Residual"] / d_res)
    assert breeding.entry_mean_heritability(m, "genotype") == pytest.approx(em, rel=1e-12)
    # Cullis: 1 − v̄/(2σ²_g), v̄ from the dense inverse of the random block of the MME
    C, _, names = m.workspace.mme_system(m.theta)
    p = m.fixed.X.shape[1]
    Cinv = np.linalg.inv(C.toarray()[p:, p:]) * m.sigma ** 2
    g = [i for i, nm in enumerate(names) if nm.startswith("genotype:") and nm.count(":") == 2]
    P = Cinv[np.ix_(g, g)]
    n = len(g)
    vbar = np.mean([P[i, i] + P[j, j] - 2 * P[i, j] for i in range(n) for j in range(i + 1, n)])
    H2c = breeding.generalized_heritability(m, "genotype")
    assert H2c == pytest.approx(1 - vbar / (2 * vc["genotype"]), rel=1e-10)
    assert abs(H2c - em) < 0.05   # nearly balanced: the two agree closely


def test_reliabilities_pedigree():
    ped, long = mrode()
    m = mixedpy.fit("y ~ 0 + trait:sex + (0 + trait | animal)", long, relmat={"animal": ped},
                    residual="us(trait | animal)", variances={"animal": G0, "Residual": R0})
    r = breeding.reliabilities(m, "animal")
    F = ped.inbreeding.to_numpy()
    pev = breeding.prediction_error_variances(m, "animal")
    np.testing.assert_allclose(r["reliability"].to_numpy()[:8], 1 - pev[:, 0, 0] / (20.0 * (1 + F)))


# --- the wide-format entry point (mixedpy.fit_multitrait) ----------------------------------------
def test_wide_entry_mrode_5_1():
    ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"], fixed="sex",
                               random="animal", relmat={"animal": ped},
                               variances={"animal": G0, "Residual": R0})
    fe = m.fixef
    male = [fe["trait[wwg]"] + fe["trait[wwg]:sex[T.M]"], fe["trait[pwg]"] + fe["trait[pwg]:sex[T.M]"]]
    np.testing.assert_allclose(male + [fe["trait[wwg]"], fe["trait[pwg]"]], [4.3609, 6.7999, 3.3973, 5.8803],
                               atol=6e-5)
    np.testing.assert_allclose(m.ranef["animal"].iloc[0].to_numpy(), [0.1509, 0.2796], atol=6e-5)
    pev = breeding.prediction_error_variances(m, "animal")
    np.testing.assert_allclose(np.sqrt(pev[0].diagonal()), [4.313321, 5.991810], atol=2e-6)


def test_wide_entry_equals_long_fit_and_dense_reml():
    ped, A, wide = _herd()
    m = mixedpy.fit_multitrait(wide, traits=["y1", "y2"], fixed="sex", random="animal", relmat={"animal": ped})
    long = wide.melt(id_vars=["animal", "sex"], value_vars=["y1", "y2"], var_name="trait", value_name="y").dropna()
    long["trait"] = pd.Categorical(long["trait"], categories=["y1", "y2"])
    ref = mixedpy.fit("y ~ 0 + trait + trait:sex + (0 + trait | animal)", long, relmat={"animal": ped},
                      residual="us(trait | animal)")
    assert m.nobs == len(long) == ref.nobs
    assert m.reml_criterion == pytest.approx(ref.reml_criterion, abs=1e-7)
    G, R = m.term_covariance(m.random.terms[0]), m.residual_cov().to_numpy()
    np.testing.assert_allclose(G, ref.term_covariance(ref.random.terms[0]), rtol=1e-4)
    np.testing.assert_allclose(R, ref.residual_cov().to_numpy(), rtol=1e-4)
    crit = _dense_reml(long, A, list(ped.ids.astype(int)))
    assert m.reml_criterion == pytest.approx(crit(G, R), abs=1e-6)


def test_wide_entry_bad_inputs():
    cal = mixedpy.datasets.load("mrode_calves")
    from mixedpy.errors import ColumnNotFoundError, DataError
    with pytest.raises(ModelSpecError, match="at least two"):
        mixedpy.fit_multitrait(cal, traits=["wwg"], random="animal")
    with pytest.raises(ColumnNotFoundError, match="'bw'"):
        mixedpy.fit_multitrait(cal, traits=["wwg", "bw"], random="animal")
    with pytest.raises(DataError, match="'sex' must be numeric"):
        mixedpy.fit_multitrait(cal, traits=["wwg", "sex"], random="animal")
    with pytest.raises(ModelSpecError, match="residual"):
        mixedpy.fit_multitrait(cal, traits=["wwg", "pwg"], random="animal", residual="ar1")
    with pytest.raises(ModelSpecError, match="'dam'"):
        mixedpy.fit_multitrait(cal, traits=["wwg", "pwg"], random="animal", relmat={"dam": None})
    with pytest.raises(ModelSpecError, match="'trait'"):
        mixedpy.fit_multitrait(cal.assign(trait=1), traits=["wwg", "pwg"], random="animal")


# --- average-information REML (issue #15: mixedpy.ai_reml.AIWorkspace) ---------------------------
def _herd_fit(**options):
    ped, A, wide = _herd()
    m = mixedpy.fit_multitrait(wide, traits=["y1", "y2"], fixed="sex", random="animal", relmat={"animal": ped},
                               **options)
    return ped, A, wide, m


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("reml", [True, False])
def test_ai_gradient_equals_central_differences(dense, reml):
    from mixedpy.ai_reml import AIWorkspace
    from mixedpy.whitened import WhitenedWorkspace
    _, _, _, m = _herd_fit()
    s = m.spec
    ws = AIWorkspace(s.fixed.X, s.fixed.y, s.random, s.residual, list(s.structures), dense=dense)
    if not dense:
        ws.factor.dense_min, ws.factor.dense_fraction = 20, 0.5   # levels before the dense core
    x = np.array([1.1, 0.2, 0.6, 0.3, -0.4])  # θ (G₀'s factor), φ (R₀): far from the optimum
    f, g, H = ws.deviance_gradient_information(x, reml)
    ref = WhitenedWorkspace(s.fixed.X, s.fixed.y, s.random, s.residual, "auto", list(s.structures))
    assert f == pytest.approx(ref.deviance(x, reml), abs=1e-9)      # the fixed-pattern deviance is the same
    if not dense:
        assert len(ws.factor.levels) > 0
    fd = np.zeros_like(x)
    for i in range(len(x)):
        h = 1e-5 * np.eye(len(x))[i]
        fd[i] = (ws.deviance(x + h, reml) - ws.deviance(x - h, reml)) / 2e-5
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(H) > 0)                          # the average information
    Hfd = np.array([(ws.deviance_and_gradient(x + 1e-5 * e, reml)[1]
                     - ws.deviance_and_gradient(x - 1e-5 * e, reml)[1]) / 2e-5 for e in np.eye(len(x))])
    assert np.max(np.abs(H - Hfd)) < 0.5 * np.max(np.abs(Hfd))         # approximates the Hessian


def test_ai_fit_equals_derivative_free_fit_and_dense_oracle():
    import warnings
    ped, A, wide, m = _herd_fit()
    assert type(m.workspace).__name__ == "AIWorkspace" and m.optinfo.method == "ai-newton"
    assert m.optinfo.converged and m.optinfo.nfev < 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = mixedpy.fit_multitrait(wide, traits=["y1", "y2"], fixed="sex", random="animal",
                                   relmat={"animal": ped}, optimizer="bobyqa")
    assert b.optinfo.method == "bobyqa"
    assert m.reml_criterion <= b.reml_criterion + 1e-6
    G, R = m.term_covariance(m.random.terms[0]), m.residual_cov().to_numpy()
    np.testing.assert_allclose(G, b.term_covariance(b.random.terms[0]), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(R, b.residual_cov().to_numpy(), rtol=1e-3, atol=1e-4)
    # the dense definitional REML (missing values of both traits): same likelihood, same optimum
    long = wide.melt(id_vars=["animal", "sex"], value_vars=["y1", "y2"], var_name="trait", value_name="y").dropna()
    long["trait"] = pd.Categorical(long["trait"], categories=["y1", "y2"])
    crit = _dense_reml(long, A, list(ped.ids.astype(int)))
    assert m.reml_criterion == pytest.approx(crit(G, R), abs=1e-6)
    best = minimize(lambda x: crit(*_from_pars(x)), _chol_pars(G, R) * 1.1, method="BFGS", options={"gtol": 1e-7})
    assert m.reml_criterion <= best.fun + 1e-6
    Gd, Rd = _from_pars(best.x)
    np.testing.assert_allclose(G, Gd, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(R, Rd, rtol=1e-3, atol=1e-4)
    # the solution pieces come from the same fixed-pattern factorization as the deviance
    np.testing.assert_allclose(m.ranef["animal"].to_numpy(), b.ranef["animal"].to_numpy(), atol=2e-3)


def test_ai_ml_fit_equals_derivative_free_fit():
    import warnings
    ped, _, wide, m = _herd_fit(reml=False)
    assert m.optinfo.method == "ai-newton" and m.optinfo.converged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = mixedpy.fit_multitrait(wide, traits=["y1", "y2"], fixed="sex", random="animal",
                                   relmat={"animal": ped}, reml=False, optimizer="bobyqa")
    assert m.deviance <= b.deviance + 1e-6
    np.testing.assert_allclose(m.term_covariance(m.random.terms[0]), b.term_covariance(b.random.terms[0]),
                               rtol=1e-3, atol=1e-4)


def test_ai_gradient_with_a_second_iid_term():
    """Two random terms (relmat 2-column animal, iid 1-column group) and the us residual: the
    fixed-pattern deviance is the whitened engine's, the gradient the central differences'."""
    from mixedpy.whitened import WhitenedWorkspace
    ped, _, wide = _herd()
    wide = wide.assign(grp=np.random.default_rng(5).choice(list("abcdef"), len(wide)))
    long = wide.melt(id_vars=["animal", "sex", "grp"], value_vars=["y1", "y2"], var_name="trait",
                     value_name="y").dropna()
    long["trait"] = pd.Categorical(long["trait"], categories=["y1", "y2"])
    m = mixedpy.fit("y ~ 0 + trait + trait:sex + (0 + trait | animal) + (1 | grp)", long, relmat={"animal": ped},
                    residual="us(trait | animal)")
    ws, s = m.workspace, m.spec
    assert type(ws).__name__ == "AIWorkspace" and m.optinfo.method == "ai-newton" and m.optinfo.converged
    x = m.theta + 0.1
    f, g, _ = ws.deviance_gradient_information(x)
    ref = WhitenedWorkspace(s.fixed.X, s.fixed.y, s.random, s.residual, "auto", list(s.structures))
    assert f == pytest.approx(ref.deviance(x), abs=1e-9)
    fd = np.array([(ws.deviance(x + 1e-5 * e) - ws.deviance(x - 1e-5 * e)) / 2e-5 for e in np.eye(len(x))])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


def test_ai_on_degenerate_data_falls_back_to_the_derivative_free_path():
    """Mrode's 8 records: the REML optimum is singular, the Newton steps do not converge, and the
    derivative-free path from the usual start gives today's optimum."""
    import warnings
    ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    cal = mixedpy.datasets.load("mrode_calves")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit_multitrait(cal, traits=["wwg", "pwg"], fixed="sex", random="animal", relmat={"animal": ped})
        b = mixedpy.fit_multitrait(cal, traits=["wwg", "pwg"], fixed="sex", random="animal", relmat={"animal": ped},
                                   optimizer="bobyqa")
    assert type(m.workspace).__name__ == "AIWorkspace"
    assert m.reml_criterion <= b.reml_criterion + 1e-6


def test_warm_start_from_the_first_animals_reaches_the_same_optimum(monkeypatch):
    """A large pedigree's REML starts at the estimates of its first 40 % (a closed population):
    the start changes, the optimum does not."""
    import warnings

    import mixedpy.api as api
    ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("cattle_pedigree"))
    d = mixedpy.datasets.load("cattle_records")
    d["w2"] = 0.5 * d["weight"] + np.random.default_rng(7).normal(scale=6.0, size=len(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold = mixedpy.fit_multitrait(d, ["weight", "w2"], "sex", "animal", relmat={"animal": ped})
        monkeypatch.setattr(api, "WARM_START_MIN", 100)
        warm = mixedpy.fit_multitrait(d, ["weight", "w2"], "sex", "animal", relmat={"animal": ped})
        # the start, by hand: the same model on the first 40 % of the pedigree and their records
        head = ped.to_frame().iloc[:int(0.4 * len(ped.ids))]
        sub = d[d["animal"].astype(str).isin(set(map(str, head["animal"])))]
        first = mixedpy.fit_multitrait(sub, ["weight", "w2"], "sex", "animal",
                                       relmat={"animal": mixedpy.Pedigree.from_frame(head)})
    np.testing.assert_allclose(warm.optinfo.theta0, first.theta, rtol=1e-10)   # the fit started there
    assert not np.allclose(first.theta, cold.theta, rtol=1e-3)                 # ... not at the optimum
    assert warm.reml_criterion == pytest.approx(cold.reml_criterion, abs=1e-6)
    np.testing.assert_allclose(warm.theta, cold.theta, rtol=5e-4, atol=2e-5)  # a flat direction
