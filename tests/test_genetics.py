"""Quantitative genetics: pedigrees (A, A⁻¹, inbreeding), GRM, relmat fits, known variances,
heritability.  Expected values come from Mrode (2014) "Linear Models for the Prediction of Animal
Breeding Values" or from independent dense computations written out here."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import optimize

import mixedpy
from mixedpy.errors import MixedpyError, ModelSpecError, PedigreeError
from mixedpy.genetics import pedigree as pedmod
from mixedpy.genetics.elimination import EliminationFactor
from mixedpy.genetics.mme import MMEWorkspace
from mixedpy.genetics.relmat import TermStructure

# Mrode, Table 2.1 (section 2.2): animals 1..6
MRODE_PED = pd.DataFrame({"animal": [3, 4, 5, 6], "sire": [1, 1, 4, 5], "dam": [2, np.nan, 3, 2]})
MRODE_A = np.array([
    [1.000, 0.000, 0.500, 0.500, 0.500, 0.250],
    [0.000, 1.000, 0.500, 0.000, 0.250, 0.625],
    [0.500, 0.500, 1.000, 0.250, 0.625, 0.563],
    [0.500, 0.000, 0.250, 1.000, 0.625, 0.313],
    [0.500, 0.250, 0.625, 0.625, 1.125, 0.688],
    [0.250, 0.625, 0.563, 0.313, 0.688, 1.125]])
# Mrode, section 2.4: A⁻¹ of the same pedigree accounting for inbreeding
MRODE_AINV = np.array([
    [1.833, 0.500, -1.000, -0.667, 0.000, 0.000],
    [0.500, 2.033, -1.000, 0.000, 0.533, -1.067],
    [-1.000, -1.000, 2.500, 0.500, -1.000, 0.000],
    [-0.667, 0.000, 0.500, 1.833, -1.000, 0.000],
    [0.000, 0.533, -1.000, -1.000, 2.533, -1.067],
    [0.000, -1.067, 0.000, 0.000, -1.067, 2.133]])

# Mrode, Example 3.1: pre-weaning gain of beef calves, σ²_a = 20, σ²_e = 40
MRODE_CALVES = pd.DataFrame({"calf": [4, 5, 6, 7, 8], "sex": ["M", "F", "F", "M", "M"],
                             "wwg": [4.5, 2.9, 3.9, 3.5, 5.0]})
MRODE_CALF_PED = pd.DataFrame({"animal": [1, 2, 3, 4, 5, 6, 7, 8], "sire": [0, 0, 0, 1, 3, 1, 4, 3],
                               "dam": [0, 0, 0, 0, 2, 2, 5, 6]})
MRODE_BLUE = {"M": 4.358, "F": 3.404}
MRODE_EBV = {1: 0.098, 2: -0.019, 3: -0.041, 4: -0.009, 5: -0.186, 6: 0.177, 7: -0.249, 8: 0.183}


def tabular_A(animals, sires, dams):
    """The tabular method, element by element (animals ordered parents first; parents None)."""
    pos = {a: i for i, a in enumerate(animals)}
    n = len(animals)
    A = np.zeros((n, n))
    for i in range(n):
        s, d = sires[i], dams[i]
        si, di = pos.get(s), pos.get(d)
        for j in range(i):
            v = 0.0
            if si is not None:
                v += 0.5 * A[j, si]
            if di is not None:
                v += 0.5 * A[j, di]
            A[i, j] = A[j, i] = v
        A[i, i] = 1.0 + (0.5 * A[si, di] if si is not None and di is not None else 0.0)
    return A


def random_pedigree(n_founders=30, n_gen=5, per_gen=60, seed=0, p_unknown=0.1):
    rng = np.random.default_rng(seed)
    rows = []
    males = list(range(1, n_founders // 2 + 1))
    females = list(range(n_founders // 2 + 1, n_founders + 1))
    nxt = n_founders + 1
    for _ in range(n_gen):
        new_m, new_f = [], []
        for _ in range(per_gen):
            s = int(rng.choice(males)) if rng.random() > p_unknown else None
            d = int(rng.choice(females)) if rng.random() > p_unknown else None
            rows.append((nxt, s, d))
            (new_m if rng.random() < 0.5 else new_f).append(nxt)
            nxt += 1
        males, females = males[-10:] + new_m, females[-20:] + new_f
    return pd.DataFrame(rows, columns=["animal", "sire", "dam"])


# --- pedigree --------------------------------------------------------------------------------------
def test_mrode_A_and_inbreeding():
    ped = mixedpy.Pedigree.from_frame(MRODE_PED)
    assert list(ped.ids) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(ped.A.to_numpy(), MRODE_A, atol=6e-4)
    np.testing.assert_allclose(ped.inbreeding.to_numpy(), [0, 0, 0, 0, 0.125, 0.125], atol=1e-12)
    np.testing.assert_allclose(ped.Ainv.toarray(), MRODE_AINV, atol=6e-4)


def test_ainv_times_a_is_identity_and_logdet():
    ped = mixedpy.Pedigree.from_frame(random_pedigree(seed=3))
    A = ped.A.to_numpy()
    assert sp.issparse(ped.Ainv)
    np.testing.assert_allclose(ped.Ainv @ A, np.eye(len(ped)), atol=1e-10)
    assert ped.logdet_A == pytest.approx(np.linalg.slogdet(A)[1], abs=1e-8)


def test_inbreeding_against_tabular_method():
    df = random_pedigree(n_founders=10, n_gen=8, per_gen=25, seed=5, p_unknown=0.05)
    ped = mixedpy.Pedigree.from_frame(df)
    ids = list(ped.ids)
    fr = ped.to_frame()
    A = tabular_A(ids, fr["sire"].tolist(), fr["dam"].tolist())
    assert ped.inbreeding.max() > 0.05  # the test pedigree is inbred
    np.testing.assert_allclose(ped.inbreeding.to_numpy(), np.diag(A) - 1, atol=1e-12)
    np.testing.assert_allclose(ped.A.to_numpy(), A, atol=1e-12)


def test_from_frame_unknown_codes_order_founders_and_dtypes():
    shuffled = pd.DataFrame({"id": ["e", "c", "d"], "s": ["c", "a", "a"], "d": ["d", "0", None]})
    ped = mixedpy.Pedigree.from_frame(shuffled, animal="id", sire="s", dam="d")
    assert set(ped.ids) == {"a", "c", "d", "e"}
    order = {a: i for i, a in enumerate(ped.ids)}
    assert order["a"] < order["c"] < order["e"] and order["d"] < order["e"]
    assert ped.inbreeding["e"] == pytest.approx(0.125)  # parents c and d are half sibs: F = ½ · ¼
    # float parent columns (NaN) match integer animal ids; 0 and "0" mean unknown
    ped2 = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [5, 3], "sire": [3.0, 0.0], "dam": [np.nan, 0.0]}))
    assert list(ped2.ids) == [3, 5] and ped2.sire.tolist() == [-1, 0]



@pytest.mark.parametrize("animal, parent", [(str, float), (int, str), (float, str), (str, int)])
def test_from_frame_matches_ids_across_column_types(animal, parent):
    # Mrode's pedigree with the animal column and the parent columns of different types (e.g. ids
    # converted to str while NaN made the parent columns float): the same animals, the same F
    base = pd.DataFrame({"animal": [1, 2, 3, 4, 5, 6], "sire": [0, 0, 1, 1, 4, 5], "dam": [0, 0, 2, 0, 3, 2]})
    conv = {int: lambda v: v, float: float, str: lambda v: str(v)}
    df = pd.DataFrame({"animal": [conv[animal](v) for v in base["animal"]],
                       "sire": [conv[parent](v) if v else np.nan for v in base["sire"]],
                       "dam": [conv[parent](v) if v else None for v in base["dam"]]}).iloc[[5, 2, 4, 3]]
    ped = mixedpy.Pedigree.from_frame(df)  # the founders 1 and 2 have no rows
    assert len(ped) == 6
    kind = str if animal is str else (int, np.integer)  # integral floats become ints
    assert all(isinstance(v, kind) for v in ped.ids)  # founders typed as the animals
    assert [key for key in map(pedmod.key_string, ped.ids)] == ["1", "2", "3", "4", "5", "6"]
    np.testing.assert_allclose(ped.inbreeding.to_numpy(), [0, 0, 0, 0, 0.125, 0.125], atol=1e-12)
    np.testing.assert_allclose(ped.A.to_numpy(), MRODE_A, atol=6e-4)
    twice = pd.concat([df, pd.DataFrame({"animal": [df["animal"].iloc[0]], "sire": ["9"], "dam": [None]})])
    with pytest.raises(PedigreeError, match="listed twice with different parents"):
        mixedpy.Pedigree.from_frame(twice)


@pytest.mark.parametrize("frame, fragment", [
    (pd.DataFrame({"animal": [1, 2], "sire": [2, 1], "dam": [0, 0]}), "own ancestor"),
    (pd.DataFrame({"animal": [1], "sire": [1], "dam": [0]}), "own ancestor"),
    (pd.DataFrame({"animal": [3, 3], "sire": [1, 2], "dam": [0, 0]}), "listed twice"),
    (pd.DataFrame({"animal": [3, 4], "sire": [1, 2], "dam": [2, 5]}), "both as a sire and as a dam"),
])
def test_pedigree_errors(frame, fragment):
    with pytest.raises(PedigreeError) as info:
        mixedpy.Pedigree.from_frame(frame)
    assert isinstance(info.value, MixedpyError) and isinstance(info.value, ValueError)
    assert fragment in str(info.value)


def test_dense_A_refused_beyond_named_size(monkeypatch):
    monkeypatch.setattr(pedmod, "MAX_DENSE_A", 5)
    ped = mixedpy.Pedigree.from_frame(MRODE_PED)
    with pytest.raises(PedigreeError, match="at most 5"):
        _ = ped.A
    assert ped.Ainv.shape == (6, 6)


# --- GRM ----------------------------------------------------------------------------------------------
def test_grm_vanraden_formula_with_missing():
    rng = np.random.default_rng(1)
    M = rng.integers(0, 3, size=(12, 40)).astype(float)
    M[rng.random(M.shape) < 0.05] = np.nan
    df = pd.DataFrame(M, index=[f"i{k}" for k in range(12)])
    G = mixedpy.grm(df)
    Mi = M.copy()
    for j in range(M.shape[1]):
        col = Mi[:, j]
        col[np.isnan(col)] = np.nanmean(M[:, j])
    p = Mi.mean(axis=0) / 2
    W = Mi - 2 * p
    expected = W @ W.T / (2 * np.sum(p * (1 - p)))
    np.testing.assert_allclose(G.to_numpy(), expected, atol=1e-12)
    assert list(G.index) == list(df.index) == list(G.columns)


# --- Mrode's animal model with known variances -----------------------------------------------------
def test_mrode_example_3_1_blue_and_blup():
    ped = mixedpy.Pedigree.from_frame(MRODE_CALF_PED)
    m = mixedpy.fit("wwg ~ 0 + sex + (1 | calf)", MRODE_CALVES, relmat={"calf": ped},
                    variances={"calf": 20.0, "Residual": 40.0})
    assert m.fixef["sex[M]"] == pytest.approx(MRODE_BLUE["M"], abs=1e-3)
    assert m.fixef["sex[F]"] == pytest.approx(MRODE_BLUE["F"], abs=1e-3)
    ebv = m.ranef["calf"].iloc[:, 0]
    assert set(ebv.index) == set(range(1, 9))  # animals without records included
    for animal, value in MRODE_EBV.items():
        assert ebv[animal] == pytest.approx(value, abs=1e-3)
    h = m.heritability("calf")
    assert h["estimate"] == pytest.approx(20 / 60)


# --- REML animal model against a dense computation --------------------------------------------------
def _simulated_animal_data(seed=11, n_rec=160):
    pdf = random_pedigree(n_founders=20, n_gen=4, per_gen=40, seed=seed)
    ped = mixedpy.Pedigree.from_frame(pdf)
    rng = np.random.default_rng(seed)
    A = ped.A.to_numpy()
    bv = np.linalg.cholesky(A) @ rng.normal(size=len(ped)) * np.sqrt(2.0)
    pos = rng.choice(len(ped) - 30, n_rec)  # repeated records; the last 30 animals have none
    x = rng.normal(size=n_rec)
    y = 1 + 0.5 * x + bv[pos] + rng.normal(size=n_rec) * 1.5
    data = pd.DataFrame({"y": y, "x": x, "animal": np.asarray(ped.ids)[pos]})
    return ped, A, pos, data


def _dense_reml(y, X, K_rows):
    n = len(y)

    def crit(logv):
        sa, se = np.exp(logv)
        V = sa * K_rows + se * np.eye(n)
        Vi = np.linalg.inv(V)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y
                + (n - X.shape[1]) * np.log(2 * np.pi))

    res = optimize.minimize(crit, [0.0, 0.0], method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    return np.exp(res.x), res.fun, crit


def test_reml_animal_model_matches_dense_reml():
    ped, A, pos, data = _simulated_animal_data()
    m = mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": ped})
    y = data["y"].to_numpy()
    X = np.column_stack([np.ones(len(y)), data["x"].to_numpy()])
    Z = np.zeros((len(y), len(ped)))
    Z[np.arange(len(y)), pos] = 1
    (sa, se), crit_min, crit = _dense_reml(y, X, Z @ A @ Z.T)
    vc = m.varcorr.set_index("group")["variance"]
    assert vc["animal"] == pytest.approx(sa, rel=1e-4)
    assert vc["Residual"] == pytest.approx(se, rel=1e-4)
    assert m.reml_criterion == pytest.approx(crit_min, abs=1e-6)
    # BLUE and BLUP: β = (X'V⁻¹X)⁻¹X'V⁻¹y, b = σ²_a A Z'V⁻¹(y − Xβ), at the fitted variances
    sa_m, se_m = vc["animal"], vc["Residual"]
    Vi = np.linalg.inv(sa_m * Z @ A @ Z.T + se_m * np.eye(len(y)))
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    b = sa_m * A @ Z.T @ Vi @ (y - X @ beta)
    np.testing.assert_allclose(m.fixef.to_numpy(), beta, rtol=1e-7)
    r = m.ranef["animal"].iloc[:, 0]
    assert len(r) == len(ped)
    np.testing.assert_allclose(r.loc[list(ped.ids)].to_numpy(), b, atol=1e-7)
    # conditional SDs: σ²_e (Z'Z + λA⁻¹)⁻¹ (β given)
    C = Z.T @ Z + se_m / sa_m * np.linalg.inv(A)
    pev = se_m * np.diag(np.linalg.inv(C))
    np.testing.assert_allclose(m.ranef_se["animal"].iloc[:, 0].loc[list(ped.ids)].to_numpy(),
                               np.sqrt(pev), rtol=1e-6)
    # heritability: delta method on the dense REML Hessian in (σ²_a, σ²_e)
    h = m.heritability("animal")
    assert h["estimate"] == pytest.approx(sa / (sa + se), rel=1e-4)

    def crit_v(v):
        return crit(np.log(v))
    v0 = np.array([sa, se])
    H = np.zeros((2, 2))
    eps = 1e-4 * v0
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * eps[i], np.eye(2)[j] * eps[j]
            H[i, j] = (crit_v(v0 + ei + ej) - crit_v(v0 + ei - ej) - crit_v(v0 - ei + ej)
                       + crit_v(v0 - ei - ej)) / (4 * eps[i] * eps[j])
    cov = 2 * np.linalg.inv(H)
    g = np.array([se, -sa]) / (sa + se) ** 2
    assert h["se"] == pytest.approx(np.sqrt(g @ cov @ g), rel=2e-3)


def test_relmat_identity_reproduces_plain_fit():
    d = mixedpy.datasets.load("dyestuff")
    batches = sorted(d["Batch"].astype(str).unique())
    K = pd.DataFrame(np.eye(len(batches)), index=batches, columns=batches)
    plain = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d)
    rel = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d, relmat={"Batch": K})
    assert rel.reml_criterion == pytest.approx(plain.reml_criterion, abs=1e-7)
    np.testing.assert_allclose(rel.varcorr["variance"], plain.varcorr["variance"], rtol=1e-5)
    np.testing.assert_allclose(rel.fixef, plain.fixef, rtol=1e-8)
    np.testing.assert_allclose(rel.ranef["Batch"].to_numpy(), plain.ranef["Batch"].to_numpy(), rtol=1e-4)


@pytest.mark.parametrize("name, formula", [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
])
def test_mme_workspace_equals_lambda_form(name, formula):
    m = mixedpy.fit(formula, mixedpy.datasets.load(name))
    for dense in (True, False):
        ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()] * len(m.random.terms), dense=dense)
        if not dense:
            ws.factor.dense_min = 4
        for theta in (m.theta, 0.5 * np.abs(m.theta) + 0.1):
            for reml in (True, False):
                assert ws.deviance(theta, reml) == pytest.approx(m.workspace.deviance(theta, reml), abs=1e-8)


def test_elimination_factor_against_dense():
    ped = mixedpy.Pedigree.from_frame(random_pedigree(n_founders=40, n_gen=6, per_gen=120, seed=2))
    n = len(ped)
    rec = np.random.default_rng(0).choice(n, n // 2, replace=False)
    C = sp.csc_matrix(sp.diags(np.bincount(rec, minlength=n).astype(float)) + 1.7 * ped.Ainv)
    U = sp.triu(C, format="csc")
    f = EliminationFactor(U.indices, U.indptr, U.shape, dense_min=50)
    f.refactor(U.data)
    assert len(f.levels) > 1
    Cd = C.toarray()
    inv = np.linalg.inv(Cd)
    assert f.logdet() == pytest.approx(np.linalg.slogdet(Cd)[1], abs=1e-8)
    B = np.random.default_rng(1).normal(size=(n, 2))
    np.testing.assert_allclose(Cd @ f.solve(B), B, atol=1e-10)
    np.testing.assert_allclose(f.inverse_blocks(np.arange(n)[:, None])[:, 0, 0], np.diag(inv), atol=1e-12)
    # draws: x = U⁻¹ w with Cov(x) = C⁻¹ exactly — check by the linear map applied to unit vectors
    E = np.eye(n)
    D = np.column_stack([f.draw(E[:, i]) for i in range(n)])
    np.testing.assert_allclose(D @ D.T, inv, atol=1e-10)


def test_genomic_relmat_psd_matches_dense_reml():
    rng = np.random.default_rng(7)
    n_ind, n_mark = 60, 200
    M = pd.DataFrame(rng.binomial(2, rng.uniform(0.1, 0.9, n_mark), size=(n_ind, n_mark)),
                     index=[f"g{i}" for i in range(n_ind)])
    G = mixedpy.grm(M)
    assert np.linalg.eigvalsh(G.to_numpy())[0] < 1e-8  # centred: singular
    pos = rng.choice(n_ind, 150)
    Gn = G.to_numpy()
    u = np.linalg.cholesky(Gn + 1e-6 * np.eye(n_ind)) @ rng.normal(size=n_ind)
    y = 2 + u[pos] + rng.normal(size=150)
    data = pd.DataFrame({"y": y, "id": np.asarray(G.index)[pos]})
    m = mixedpy.fit("y ~ 1 + (1 | id)", data, relmat={"id": G})
    Z = np.zeros((150, n_ind))
    Z[np.arange(150), pos] = 1
    (sa, se), crit_min, _ = _dense_reml(y, np.ones((150, 1)), Z @ Gn @ Z.T)
    assert type(m.workspace).__name__ == "TridiagonalWorkspace"   # the GBLUP fast path
    vc = m.varcorr.set_index("group")["variance"]
    assert vc["id"] == pytest.approx(sa, rel=1e-4)
    assert vc["Residual"] == pytest.approx(se, rel=1e-4)
    assert m.reml_criterion == pytest.approx(crit_min, abs=1e-6)
    # BLUE, BLUP (every individual of G, 60) and conditional SDs at the fitted variances
    sa_m, se_m = vc["id"], vc["Residual"]
    X = np.ones((150, 1))
    V = sa_m * Z @ Gn @ Z.T + se_m * np.eye(150)
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    b = sa_m * Gn @ Z.T @ Vi @ (y - X @ beta)
    assert m.fixef.iloc[0] == pytest.approx(beta[0], rel=1e-8)
    np.testing.assert_allclose(m.ranef["id"].iloc[:, 0].loc[list(G.index)].to_numpy(), b, atol=1e-8)
    GZt = Gn @ Z.T
    pev = sa_m * np.diag(Gn) - sa_m ** 2 * np.sum((GZt @ Vi) * GZt, axis=1)
    np.testing.assert_allclose(m.ranef_se["id"].iloc[:, 0].loc[list(G.index)].to_numpy(), np.sqrt(pev),
                               rtol=1e-6)


def _genomic_case(seed=3, n_ind=40, n_rec=90, with_x_term=False):
    """Repeated records, some individuals without records, a covariate; singular G."""
    rng = np.random.default_rng(seed)
    M = rng.binomial(2, rng.uniform(0.1, 0.9, 150), size=(n_ind, 150))
    ids = [f"g{i}" for i in range(n_ind)]
    G = mixedpy.grm(pd.DataFrame(M, index=ids))
    pos = rng.choice(n_ind - 5, n_rec)             # the last 5 individuals have no record
    x = rng.normal(size=n_rec)
    u = np.linalg.cholesky(G.to_numpy() + 1e-6 * np.eye(n_ind)) @ rng.normal(size=n_ind)
    y = 3 + 0.4 * x + (x if with_x_term else 1.0) * u[pos] + rng.normal(size=n_rec)
    return G, pd.DataFrame({"y": y, "x": x, "id": np.asarray(ids)[pos]})


@pytest.mark.parametrize("spectral", [False, True])
@pytest.mark.parametrize("formula", ["y ~ x + (1 | id)", "y ~ x + (0 + x | id)", "y ~ 0 + (1 | id)"])
def test_tridiagonal_workspace_equals_general(formula, spectral):
    from mixedpy.genetics.tridiagonal import TridiagonalWorkspace
    from mixedpy.model.spec import model_spec
    from mixedpy.model.workspace import workspace_for
    G, data = _genomic_case(with_x_term="0 + x" in formula)
    s = model_spec(formula, data, relmat={"id": G})
    fast = workspace_for(s)
    assert isinstance(fast, TridiagonalWorkspace)
    # the general workspace: a dense Cholesky per θ, or one eigendecomposition (spectral)
    general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures, spectral=spectral)
    assert general.spectral is spectral
    for theta in (0.0, 0.3, 1.0, 4.0):
        th = np.array([theta])
        for reml in (True, False):
            assert fast.deviance(th, reml) == pytest.approx(general.deviance(th, reml), rel=1e-10)
        if theta == 0.0:
            continue   # the general workspace floors θ at 1e-7 there: b differs at O(1e-14)
        pf, pg = fast.parts(th), general.parts(th)
        np.testing.assert_allclose(pf.beta, pg.beta, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fast.effects(pf.u), general.effects(pg.u), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(pf.resid, pg.resid, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fast.conditional_variances(th, 1.3)[0], general.conditional_variances(th, 1.3)[0],
                                   rtol=1e-7, atol=1e-12)
    # the fitted models: the same optimum whichever workspace
    m = mixedpy.fit(formula, data, relmat={"id": G})
    from mixedpy.optimize import minimize_deviance
    opt = minimize_deviance(lambda th: general.deviance(th, True), s.random.theta0, s.random.lower, "bobyqa")
    assert m.reml_criterion == pytest.approx(opt.fun, rel=1e-6)
    assert m.theta[0] == pytest.approx(opt.theta[0], rel=1e-4)
    assert len(m.ranef["id"]) == 40


def test_relmat_not_psd_errors_name_the_term():
    G, data = _genomic_case()
    bad = G.copy()
    bad.iloc[0, 1] = bad.iloc[1, 0] = 3.0          # |K01| > sqrt(K00 K11): indefinite
    full = data.assign(id=np.repeat(list(G.index), 3)[:len(data)])   # every individual has records
    for frame in (data, full):                      # K checked whole / through the tridiagonal T
        with pytest.raises(mixedpy.errors.DataError, match=r"relmat\['id'\].*not positive semidefinite"):
            mixedpy.fit("y ~ x + (1 | id)", frame, relmat={"id": bad})
    data2 = data.assign(g=np.arange(len(data)) % 4)
    with pytest.raises(mixedpy.errors.DataError, match=r"relmat\['id'\].*not positive semidefinite"):
        mixedpy.fit("y ~ x + (1 | id) + (1 | g)", data2, relmat={"id": bad})   # general workspace
    asym = G.copy()
    asym.iloc[0, 1] += 0.5
    with pytest.raises(mixedpy.errors.ModelSpecError, match=r"relmat\['id'\].*not symmetric"):
        mixedpy.fit("y ~ x + (1 | id)", data, relmat={"id": asym})


def test_dense_relmat_with_other_terms_matches_dense_reml():
    """The general workspace with a dense K and an iid term: against a dense REML."""
    G, data = _genomic_case(seed=8, n_rec=120)
    data["g"] = np.arange(len(data)) % 6
    data["y"] += np.array([-1.5, 0.8, 1.9, -0.4, 0.2, -1.1])[data["g"]]
    m = mixedpy.fit("y ~ x + (1 | id) + (1 | g)", data, relmat={"id": G})
    assert m.workspace.kind == "mme" and m.workspace.dense
    y = data["y"].to_numpy()
    X = np.column_stack([np.ones(len(y)), data["x"].to_numpy()])
    pos = pd.Index(G.index).get_indexer(data["id"])
    Zi = np.eye(len(G))[pos]
    Zg = np.eye(6)[data["g"].to_numpy()]
    Kr, Gr = Zi @ G.to_numpy() @ Zi.T, Zg @ Zg.T
    n = len(y)

    def crit(logv):
        va, vg, ve = np.exp(logv)
        V = va * Kr + vg * Gr + ve * np.eye(n)
        Vi = np.linalg.inv(V)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y + (n - 2) * np.log(2 * np.pi)

    vc = m.varcorr.set_index("group")["variance"]
    at_fit = np.log([vc["id"], vc["g"], vc["Residual"]])
    assert m.reml_criterion == pytest.approx(crit(at_fit), abs=1e-7)
    res = optimize.minimize(crit, at_fit + 0.3, method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 6000})
    assert m.reml_criterion == pytest.approx(res.fun, abs=1e-6)
    np.testing.assert_allclose(np.exp(res.x), [vc["id"], vc["g"], vc["Residual"]], rtol=2e-3)


def test_relmat_errors():
    ped = mixedpy.Pedigree.from_frame(MRODE_CALF_PED)
    bad = MRODE_CALVES.assign(calf=[4, 5, 6, 7, 99])
    with pytest.raises(mixedpy.errors.DataError, match="99"):
        mixedpy.fit("wwg ~ sex + (1 | calf)", bad, relmat={"calf": ped})
    with pytest.raises(mixedpy.errors.ModelSpecError, match="animal"):
        mixedpy.fit("wwg ~ sex + (1 | calf)", MRODE_CALVES, relmat={"animal": ped})
    with pytest.raises(mixedpy.errors.ModelSpecError, match="Residual"):
        mixedpy.fit("wwg ~ sex + (1 | calf)", MRODE_CALVES, relmat={"calf": ped}, variances={"calf": 1.0})


def test_kenward_roger_for_relmat_terms_close_to_satterthwaite():
    # relmat terms enter KR in latent form (tests/test_model_core.py checks Φ_A against pbkrtest's
    # formulas written densely); here: both df methods give a sensible, similar denominator df
    ped, _, _, data = _simulated_animal_data()
    m = mixedpy.fit("y ~ x + (1 | animal)", data, relmat={"animal": ped})
    kr = m.anova(ddf="kenward-roger")["den_df"].iloc[0]
    satt = m.anova(ddf="satterthwaite")["den_df"].iloc[0]
    assert 1 < kr < len(data) and kr == pytest.approx(satt, rel=0.1)


def test_mme_engine_at_a_correlation_of_one_equals_the_lambda_form():
    """A two-column relmat term at the boundary (correlation 1, slope 'θ' 0): with K = I the MME
    engine's REML criterion equals lme4's Λ-form one (was 1.2e-2 too low with a 1e-7 floor)."""
    import warnings
    d = mixedpy.datasets.load("sleepstudy")
    rng = np.random.default_rng(3)
    subj = d["Subject"].astype(str)
    lev = sorted(subj.unique())
    um = dict(zip(lev, rng.normal(size=len(lev))))
    d["y"] = (250 + 10 * d["Days"] + 20 * subj.map(um) + 2 * subj.map(um) * d["Days"]
              + rng.normal(scale=25, size=len(d)))
    K = pd.DataFrame(np.eye(len(lev)), index=lev, columns=lev)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mixedpy.fit("y ~ Days + (Days | Subject)", d)
        m1 = mixedpy.fit("y ~ Days + (Days | Subject)", d, relmat={"Subject": K})
    assert m0.theta[2] == 0.0 and m0.varcorr["sd_cor"].iloc[2] == pytest.approx(1.0)
    assert m1.workspace.deviance(m0.theta, True) == pytest.approx(m0.reml_criterion, abs=1e-6)
    assert m1.reml_criterion == pytest.approx(m0.reml_criterion, abs=1e-6)
    np.testing.assert_allclose(m1.coef_table["se"], m0.coef_table["se"], rtol=1e-5)
