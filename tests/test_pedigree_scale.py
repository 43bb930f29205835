"""Animal models at scale (issue #19), checked on small pedigrees against dense oracles: the
Meuwissen-Luo inbreeding against the tabular A, the gradient and AI-REML optimum against the REML
deviance written with numpy (V = σ²(I + θ² Z A Zᵀ)), the forward-mode traces against C⁻¹, the PCG
solution against the direct one, and the approximate reliabilities against the exact PEV."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import mixedpy
from mixedpy.errors import ModelSpecError
from mixedpy.genetics.elimination import EliminationFactor
from mixedpy.genetics.inbreeding import meuwissen_luo
from mixedpy.genetics.mme import MMEWorkspace
from mixedpy.genetics.pcg import PCGWorkspace, block_pcg
from mixedpy.model.spec import model_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from pedigree_bench import simulate_pedigree, simulate_records

SHAPES = {
    "many_sires": {"n_gen": 4, "per": 250, "n_sires": 25, "n_dams": 100, "overlap": 1, "unknown_sire": 0.1, "unknown_dam": 0.1},
    "few_sires_inbred": {"n_gen": 5, "per": 200, "n_sires": 3, "n_dams": 40, "overlap": 2, "unknown_sire": 0.0,
                             "unknown_dam": 0.0},
}


@pytest.fixture(scope="module", params=list(SHAPES))
def animal_data(request):
    ped_df = simulate_pedigree(**SHAPES[request.param])
    ped = mixedpy.Pedigree.from_frame(ped_df[["animal", "sire", "dam"]])
    data, _ = simulate_records(ped, ped_df, 450)
    data["herd"] = np.random.default_rng(5).integers(0, 30, len(data))
    return ped, data


def _tabular_A(sire, dam):
    n = len(sire)
    A = np.zeros((n, n))
    for i in range(n):
        s, d = sire[i], dam[i]
        row = 0.5 * ((A[s, :i] if s >= 0 else 0.0) + (A[d, :i] if d >= 0 else 0.0))
        A[i, :i] = A[:i, i] = row
        A[i, i] = 1.0 + (0.5 * A[s, d] if s >= 0 and d >= 0 else 0.0)
    return A


def test_meuwissen_luo_matches_tabular(animal_data):
    ped, _ = animal_data
    A = _tabular_A(ped.sire, ped.dam)
    F, _d = meuwissen_luo(ped.sire.astype(np.int64), ped.dam.astype(np.int64))
    np.testing.assert_allclose(F, np.diag(A) - 1.0, atol=1e-12)
    assert np.max(F) > 0.1    # both shapes have inbred animals
    np.testing.assert_allclose(ped.inbreeding.to_numpy(), F)


def _dense_reml(ped, data, formula, theta, reml=True):
    """The REML (ML) deviance from V = σ²(I + Σ θ_j² Z_j K_j Z_jᵀ) with σ² profiled, in numpy."""
    spec = model_spec(formula, data, relmat={"animal": ped})
    X, y = spec.fixed.X, spec.fixed.y
    Z = spec.random.Z.toarray()
    A = ped.A.to_numpy()
    V = np.eye(len(y))
    for t, th in zip(spec.random.terms, theta):
        Zj = Z[:, t.offset:t.offset + t.q]
        K = A if t.group == "animal" else np.eye(t.q)
        V += th ** 2 * Zj @ K @ Zj.T
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    n, p = X.shape
    m = n - p if reml else n
    q = r @ Vi @ r
    dev = np.linalg.slogdet(V)[1] + m * (1 + np.log(2 * np.pi * q / m))
    return dev + (np.linalg.slogdet(XtViX)[1] if reml else 0.0)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_matches_dense_formula(animal_data, dense, reml):
    ped, data = animal_data
    formula = "y ~ sex + (1 | animal) + (1 | herd)"
    spec = model_spec(formula, data, relmat={"animal": ped})
    ws = MMEWorkspace(spec.fixed.X, spec.fixed.y, spec.random, list(spec.structures), dense=dense,
                      information=True)
    if not dense:
        ws.factor.dense_min = 100    # several elimination levels before the dense core
    theta = np.array([0.8, 0.3])
    f, g, H = ws.deviance_gradient_information(theta, reml)
    assert f == pytest.approx(_dense_reml(ped, data, formula, theta, reml), abs=1e-7)
    h = 1e-5
    num = [(_dense_reml(ped, data, formula, theta + h * e, reml) - _dense_reml(ped, data, formula, theta - h * e,
                                                                             reml)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)
    assert np.all(np.linalg.eigvalsh(H) > 0)


def test_traces_against_inverse():
    import scipy.sparse as sp
    M = sp.random(400, 400, density=0.01, random_state=3)
    C = sp.csc_matrix(M @ M.T + 2 * sp.identity(400))
    U = sp.triu(C, format="csc")
    U.sort_indices()
    UD = U.copy()
    UD.data = np.random.default_rng(4).normal(size=UD.nnz)
    D = (UD + UD.T - sp.diags(UD.diagonal())).toarray()
    f = EliminationFactor(U.indices, U.indptr, U.shape, dense_min=50)
    f.refactor(U.data, directions=[UD.data])
    assert len(f.levels) > 1
    assert f.logdet() == pytest.approx(np.linalg.slogdet(C.toarray())[1], rel=1e-12)
    assert f.traces[0] == pytest.approx(np.sum(np.linalg.inv(C.toarray()) * D), rel=1e-9)


def test_ai_reml_optimum_equals_dense_reml(animal_data):
    ped, data = animal_data
    formula = "y ~ sex + (1 | animal)"
    spec = model_spec(formula, data, relmat={"animal": ped})
    ws = MMEWorkspace(spec.fixed.X, spec.fixed.y, spec.random, list(spec.structures), information=True)
    from mixedpy.optimize import minimize_information
    opt = minimize_information(lambda th: ws.deviance_gradient_information(th, True),
                               lambda th: ws.deviance(th, True), np.array([1.0]), np.array([0.0]))
    assert opt.converged and opt.method == "ai-newton" and opt.nfev <= 8
    ref = optimize.minimize_scalar(lambda t: _dense_reml(ped, data, formula, [t]), bounds=(0.05, 3),
                                   method="bounded", options={"xatol": 1e-8})
    assert opt.fun == pytest.approx(ref.fun, abs=1e-6)
    assert opt.theta[0] == pytest.approx(ref.x, rel=1e-4)


def test_information_on_sparse_engine_only(animal_data):
    ped, data = animal_data
    spec = model_spec("y ~ sex + (1 | animal)", data, relmat={"animal": ped})
    ws = MMEWorkspace(spec.fixed.X, spec.fixed.y, spec.random, list(spec.structures), dense=False)
    assert ws.has_information and ws.factor_nnz == 0
    assert not MMEWorkspace(spec.fixed.X, spec.fixed.y, spec.random, list(spec.structures)).has_information
    ws.deviance(np.array([0.8]))
    assert ws.factor_nnz > 0


def test_pcg_equals_direct(animal_data):
    ped, data = animal_data
    v = {"animal": 0.4, "Residual": 0.6}
    direct = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped}, variances=v)
    spec = model_spec("y ~ sex + (1 | animal)", data, relmat={"animal": ped}, variances=v)
    ws = PCGWorkspace(spec.fixed.X, spec.fixed.y, spec.random, list(spec.structures), tol=1e-12)
    parts = ws.parts(direct.theta)
    np.testing.assert_allclose(parts.beta, direct.solution.beta, atol=1e-8)
    np.testing.assert_allclose(ws.blups(parts), direct.solution.b, atol=1e-8)
    assert ws.solver_info.converged and ws.solver_info.relative_residual < 1e-11
    pcg = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped}, variances=v, engine="pcg")
    assert pcg.solver_info.iterations > 0 and pcg.solver_info.relative_residual <= 1e-9
    np.testing.assert_allclose(pcg.ranef["animal"].to_numpy(), direct.ranef["animal"].to_numpy(), atol=1e-6)


def test_approximate_reliabilities_close_to_exact(animal_data):
    ped, data = animal_data
    v = {"animal": 0.4, "Residual": 0.6}
    exact = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped}, variances=v).reliability("animal")
    approx = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped}, variances=v,
                         engine="pcg").reliability("animal")
    assert np.mean(np.abs(exact - approx)) < 0.03           # the tolerance stated in approximate_pev
    assert np.max(np.abs(exact - approx)) < 0.15
    assert np.corrcoef(exact, approx)[0, 1] > 0.99


def test_block_pcg_and_bad_inputs(animal_data):
    ped, data = animal_data
    with pytest.raises(ModelSpecError, match="pcg"):
        mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped}, engine="pcg")
    spec = model_spec("y ~ sex + (1 | animal)", data, relmat={"animal": ped})
    with pytest.raises(ModelSpecError, match="0.0"):
        PCGWorkspace(spec.fixed.X, spec.fixed.y, spec.random, list(spec.structures), tol=0.0)
    with pytest.raises(ModelSpecError, match="-3"):
        PCGWorkspace(spec.fixed.X, spec.fixed.y, spec.random, list(spec.structures), max_iter=-3)
    spec2 = model_spec("y ~ sex + (1 + sex | herd)", data)
    with pytest.raises(ModelSpecError, match="'herd'"):
        MMEWorkspace(spec2.fixed.X, spec2.fixed.y, spec2.random, [], information=True)
    with pytest.raises(ModelSpecError, match="'nope'"):
        mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped},
                    variances={"animal": 0.4, "Residual": 0.6}).reliability("nope")
    import scipy.sparse as sp
    A = sp.diags([-1.0, 3.0, -1.0], [-1, 0, 1], shape=(30, 30), format="csr")
    X, _it, res = block_pcg(A, np.arange(30.0), tol=1e-12)
    assert res < 1e-12 and np.allclose(A @ X, np.arange(30.0))
    assert isinstance(pd.Series(dtype=float), pd.Series)


def test_fit_takes_ai_newton_path_and_agrees_with_bobyqa():
    ped_df = simulate_pedigree(n_gen=4, per=800, n_sires=40, n_dams=300, overlap=1, unknown_sire=0.05,
                               unknown_dam=0.05)
    ped = mixedpy.Pedigree.from_frame(ped_df[["animal", "sire", "dam"]])
    data, _ = simulate_records(ped, ped_df, 1500)
    ai = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped})   # 3,200 animals: sparse engine
    bq = mixedpy.fit("y ~ sex + (1 | animal)", data, relmat={"animal": ped}, optimizer="bobyqa")
    assert ai.optinfo.method == "ai-newton" and ai.optinfo.converged and ai.optinfo.nfev < bq.optinfo.nfev
    assert ai.reml_criterion == pytest.approx(bq.reml_criterion, abs=1e-6)
    assert ai.theta[0] == pytest.approx(bq.theta[0], rel=1e-3)
    rel = ai.reliability("animal")
    assert len(rel) == len(ped) and rel.between(0, 1).all()
