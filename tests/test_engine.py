"""The engine against dense textbook linear algebra.

Everything "expected" here is computed densely from the data with numpy: the marginal covariance
V = Z G Zᵀ + σ² I, GLS β̂, profiled σ², Henderson's equations.  Z and G are built from the data by
this file, not taken from mixedpy.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as la
import scipy.sparse as sp

import mixedpy
from mixedpy.datasets import load
from mixedpy.design.fixed import fixed_design
from mixedpy.design.frame import make_frame
from mixedpy.design.random import random_design
from mixedpy.linalg import SparseLDL
from mixedpy.linalg.selinv import inverse_blocks, selected_inverse
from mixedpy.objective import Workspace

LOG2PI = np.log(2 * np.pi)


# --- dense model descriptions ------------------------------------------------------------------------
class Dense:
    """y, X, and a θ → (Z, Λ) map built by hand, level-major inside each term (lme4's layout)."""

    def __init__(self, y, X, blocks):
        # blocks: list of (codes, nlev, Xterm); θ for each term = column-major lower triangle of T
        self.y, self.X = np.asarray(y, float), np.asarray(X, float)
        self.n, self.p = self.X.shape
        self.blocks = blocks
        zs = []
        for codes, nlev, Xt in blocks:
            k = Xt.shape[1]
            Zt = np.zeros((self.n, nlev * k))
            for i in range(self.n):
                Zt[i, codes[i] * k:(codes[i] + 1) * k] = Xt[i]
            zs.append(Zt)
        self.Z = np.hstack(zs)
        self.q = self.Z.shape[1]

    def Lambda(self, theta):
        mats, pos = [], 0
        for codes, nlev, Xt in self.blocks:
            k = Xt.shape[1]
            T = np.zeros((k, k))
            for c in range(k):           # column-major lower triangle
                for r in range(c, k):
                    T[r, c] = theta[pos]
                    pos += 1
            mats.append(np.kron(np.eye(nlev), T))
        assert pos == len(theta)
        out = np.zeros((self.q, self.q))
        o = 0
        for M in mats:
            out[o:o + M.shape[0], o:o + M.shape[0]] = M
            o += M.shape[0]
        return out

    def V0(self, theta):
        """V / σ² = Z Λ Λᵀ Zᵀ + I."""
        ZL = self.Z @ self.Lambda(theta)
        return ZL @ ZL.T + np.eye(self.n)

    def gls(self, theta):
        """GLS with V0 = V/σ²: (V0, chol(V0), XᵀV0⁻¹X, β̂, r = y − Xβ̂, rᵀV0⁻¹r)."""
        V0 = self.V0(theta)
        cf = la.cho_factor(V0, lower=True)
        ViX, Viy = la.cho_solve(cf, self.X), la.cho_solve(cf, self.y)
        XtViX = self.X.T @ ViX
        beta = np.linalg.solve(XtViX, self.X.T @ Viy)
        r = self.y - self.X @ beta
        return V0, cf, XtViX, beta, r, float(r @ la.cho_solve(cf, r))

    def deviance(self, theta, reml):
        V0, cf, XtViX, beta, r, rss = self.gls(theta)
        ld_V0 = 2.0 * np.sum(np.log(np.diag(cf[0])))
        if reml:
            nmp = self.n - self.p
            s2 = rss / nmp
            # −2 log restricted likelihood with σ² profiled out
            return ld_V0 + np.linalg.slogdet(XtViX)[1] + nmp * (LOG2PI + np.log(s2)) + rss / s2
        s2 = rss / self.n
        return ld_V0 + self.n * (LOG2PI + np.log(s2)) + rss / s2


def _codes(col):
    levels = sorted(pd.unique(col.astype(str)))
    return np.searchsorted(levels, col.astype(str).to_numpy()), len(levels)


@pytest.fixture(scope="module")
def sleep():
    d = load("sleepstudy")
    days = d["Days"].to_numpy(float)
    X = np.column_stack([np.ones(len(d)), days])
    # Subject levels are integers: order them numerically like the data's categories
    levels = sorted(pd.unique(d["Subject"].astype(int)))
    codes = np.searchsorted(levels, d["Subject"].astype(int).to_numpy())
    dense = Dense(d["Reaction"], X, [(codes, len(levels), X)])
    return d, dense


@pytest.fixture(scope="module")
def peni():
    d = load("penicillin")
    X = np.ones((len(d), 1))
    cp, npl = _codes(d["plate"])
    cs, nsa = _codes(d["sample"])
    one = np.ones((len(d), 1))
    dense = Dense(d["diameter"], X, [(cp, npl, one), (cs, nsa, one)])  # lme4: more levels first
    return d, dense


SLEEP_F = "Reaction ~ Days + (Days | Subject)"
PENI_F = "diameter ~ 1 + (1 | plate) + (1 | sample)"


ENGINES = ["blocked", "sparse", "auto"]  # "auto" is the augmented dense engine for these small models


def _workspace(formula, data, engine="auto"):
    frame = make_frame(formula, data)
    fixed = fixed_design(frame.formula.response, frame.formula.fixed, frame.data)
    random = random_design(frame.formula.random, frame.data)
    return Workspace(fixed.X, fixed.y, random, engine)


# --- the augmented dense engine (small models) against the general ones ------------------------------
def _assert_same_objective(aug, gen, theta, reml, atol=0.0):
    fa, ga = aug.deviance_and_gradient(theta, reml)
    fg, gg = gen.deviance_and_gradient(theta, reml)
    assert fa == pytest.approx(fg, rel=1e-10)
    np.testing.assert_allclose(ga, gg, rtol=1e-6, atol=max(atol, 1e-8), err_msg=str(theta))


def test_auto_uses_augmented_engine_for_small_models(sleep, peni):
    assert _workspace(SLEEP_F, sleep[0]).augmented is not None
    assert _workspace(SLEEP_F, sleep[0], "blocked").augmented is None


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("which", ["sleep", "peni"])
def test_augmented_gradient_and_pieces_match_general_engine(which, reml, sleep, peni):
    from mixedpy.gradient import gradient_pieces

    (d, _), formula, thetas = {"sleep": (sleep, SLEEP_F, SLEEP_THETAS), "peni": (peni, PENI_F, PENI_THETAS)}[which]
    aug, gen = _workspace(formula, d), _workspace(formula, d, "sparse")
    for theta in map(np.array, thetas):
        _assert_same_objective(aug, gen, theta, reml, atol=1e-6 * max(1.0, np.abs(gen.deviance_and_gradient(theta, reml)[1]).max()))
        if theta.min() > 0:  # the general engine's pieces need T invertible
            for a, b in zip(gradient_pieces(aug, aug.parts(theta), reml), gradient_pieces(gen, gen.parts(theta), reml)):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(b).max()))
        pa, pg = aug.parts(theta), gen.parts(theta)
        for name in ("beta", "u", "RXtRX", "AinvW", "resid"):
            np.testing.assert_allclose(getattr(pa, name), getattr(pg, name), rtol=1e-7, atol=1e-8, err_msg=name)


def test_augmented_engine_keeps_digits_for_a_response_with_a_large_mean(sleep):
    d = sleep[0].assign(Reaction=sleep[0]["Reaction"] + 1e7)
    aug, gen = _workspace(SLEEP_F, d), _workspace(SLEEP_F, d, "blocked")
    base = _workspace(SLEEP_F, sleep[0], "blocked")
    theta = np.array([0.9667, 0.0152, 0.2309])
    # shifting y by a constant (the intercept absorbs it) leaves the REML criterion unchanged
    assert aug.deviance(theta) == pytest.approx(base.deviance(theta), rel=1e-10)
    assert gen.deviance(theta) == pytest.approx(base.deviance(theta), rel=1e-9)


def test_augmented_engine_for_many_rows_and_few_levels():
    rng = np.random.default_rng(7)
    n = 6000
    g, h = rng.integers(0, 25, n), rng.integers(0, 8, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=25)[g] * 0.7 + rng.normal(size=8)[h] + x * rng.normal(size=25)[g] * 0.3 \
        + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "g": g, "h": h})
    f = "y ~ x + (x | g) + (1 | h)"
    aug, gen = _workspace(f, d), _workspace(f, d, "blocked")
    assert aug.augmented is not None and not aug.dense
    theta = np.array([0.8, 0.1, 0.3, 1.2])
    for reml in (True, False):
        _assert_same_objective(aug, gen, theta, reml)
    np.testing.assert_allclose(aug.parts(theta).resid, gen.parts(theta).resid, atol=1e-8)


def test_augmented_engine_without_fixed_effects(sleep):
    f = "Reaction ~ 0 + (Days | Subject)"
    aug, gen = _workspace(f, sleep[0]), _workspace(f, sleep[0], "sparse")
    assert aug.p == 0 and aug.augmented is not None
    for reml in (True, False):
        _assert_same_objective(aug, gen, np.array([3.0, 0.5, 0.4]), reml)


# --- the profiled deviance ---------------------------------------------------------------------------
SLEEP_THETAS = [[1.0, 0.0, 1.0], [0.5, 0.1, 0.8], [2.0, -0.3, 0.1], [0.05, 0.7, 0.0], [0.9667, 0.0152, 0.2309]]
PENI_THETAS = [[1.0, 1.0], [0.3, 2.5], [1.54, 3.51], [4.0, 0.0], [0.0, 0.5]]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("which", ["sleep", "peni"])
def test_deviance_against_dense(which, reml, engine, sleep, peni):
    (d, dense), formula, thetas = {"sleep": (sleep, SLEEP_F, SLEEP_THETAS), "peni": (peni, PENI_F, PENI_THETAS)}[which]
    ws = _workspace(formula, d, engine)
    for theta in thetas:
        np.testing.assert_allclose(ws.deviance(np.array(theta), reml),
                                   dense.deviance(np.array(theta), reml), rtol=1e-8, err_msg=str(theta))


@pytest.mark.parametrize("engine", ENGINES)
def test_penicillin_term_order_independent_of_formula_order(peni, engine):
    d, dense = peni
    ws = _workspace("diameter ~ 1 + (1 | sample) + (1 | plate)", d, engine)
    for theta in PENI_THETAS[:3]:
        np.testing.assert_allclose(ws.deviance(np.array(theta)), dense.deviance(np.array(theta), True),
                                   rtol=1e-8)


@pytest.mark.parametrize("engine", ENGINES)
def test_deviance_repeated_theta_is_stable(sleep, engine):
    """Refactoring at a new θ and coming back gives the same value (no stale factor)."""
    d, dense = sleep
    ws = _workspace(SLEEP_F, d, engine)
    a = ws.deviance(np.array(SLEEP_THETAS[1]))
    ws.deviance(np.array(SLEEP_THETAS[2]))
    b = ws.deviance(np.array(SLEEP_THETAS[1]))
    assert a == b


@pytest.mark.parametrize("reml", [True, False])
def test_fit_is_a_dense_minimum(sleep, reml):
    """At mixedpy's θ̂ the dense deviance has a (numerically) zero gradient, and no nearby θ is
    better."""
    d, dense = sleep
    m = mixedpy.fit(SLEEP_F, d, reml=reml)
    th = m.theta
    f0 = dense.deviance(th, reml)
    np.testing.assert_allclose(m.objective, f0, rtol=1e-8)
    h = 1e-4
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        g = (dense.deviance(th + e, reml) - dense.deviance(th - e, reml)) / (2 * h)
        assert abs(g) < 0.05, (i, g)
    rng = np.random.default_rng(1)
    for _ in range(4):
        step = rng.normal(size=3) * 0.02
        assert dense.deviance(th + step, reml) >= f0 - 1e-7


# --- estimates at the fit ---------------------------------------------------------------------------
def _check_estimates(m, dense, reml, _unused=None):
    theta = m.theta
    V0, cf, XtViX, beta, r, rss = dense.gls(theta)
    s2 = rss / (dense.n - dense.p if reml else dense.n)
    np.testing.assert_allclose(m.fixef.to_numpy(), beta, rtol=1e-7)
    np.testing.assert_allclose(m.sigma ** 2, s2, rtol=1e-7)
    # Var(β̂) = σ² (Xᵀ V0⁻¹ X)⁻¹
    np.testing.assert_allclose(m.vcov.to_numpy(), s2 * np.linalg.inv(XtViX), rtol=1e-6)
    # BLUP = G Zᵀ V⁻¹ (y − Xβ̂) with G = σ² ΛΛᵀ, V = σ² V0
    Lam = dense.Lambda(theta)
    G = s2 * Lam @ Lam.T
    V = s2 * V0
    blup = G @ dense.Z.T @ np.linalg.solve(V, dense.y - dense.X @ beta)
    # conditional variance σ² Λ (ΛᵀZᵀZΛ + I)⁻¹ Λᵀ, and the equivalent G − G Zᵀ V⁻¹ Z G
    A = Lam.T @ dense.Z.T @ dense.Z @ Lam + np.eye(dense.q)
    condvar = s2 * Lam @ np.linalg.inv(A) @ Lam.T
    np.testing.assert_allclose(condvar, G - G @ dense.Z.T @ np.linalg.solve(V, dense.Z @ G),
                               atol=1e-8 * np.abs(G).max())
    return blup, condvar


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reml", [True, False])
def test_estimates_sleepstudy(sleep, reml, engine):
    d, dense = sleep
    m = mixedpy.fit(SLEEP_F, d, reml=reml, engine=engine)
    blup, condvar = _check_estimates(m, dense, reml, None)
    re = m.ranef["Subject"]
    assert list(re.columns) == ["(Intercept)", "Days"]
    assert list(re.index.astype(int)) == sorted(d["Subject"].astype(int).unique())
    np.testing.assert_allclose(re.to_numpy(), blup.reshape(18, 2), rtol=1e-6, atol=1e-8)
    se = m.ranef_se["Subject"]
    np.testing.assert_allclose(se.to_numpy(), np.sqrt(np.diag(condvar)).reshape(18, 2), rtol=1e-6)
    # the full 2×2 conditional covariance blocks (off-diagonals from the selected inverse)
    (blocks,) = m.condvar("Subject")
    for lev in range(18):
        np.testing.assert_allclose(blocks[lev], condvar[2 * lev:2 * lev + 2, 2 * lev:2 * lev + 2],
                                   rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("engine", ENGINES)
def test_estimates_penicillin(peni, engine):
    d, dense = peni
    m = mixedpy.fit(PENI_F, d, engine=engine)
    blup, condvar = _check_estimates(m, dense, True, None)
    npl = d["plate"].nunique()
    np.testing.assert_allclose(m.ranef["plate"]["(Intercept)"].to_numpy(), blup[:npl], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m.ranef["sample"]["(Intercept)"].to_numpy(), blup[npl:], rtol=1e-6, atol=1e-9)
    sd = np.sqrt(np.diag(condvar))
    np.testing.assert_allclose(m.ranef_se["plate"]["(Intercept)"].to_numpy(), sd[:npl], rtol=1e-6)
    np.testing.assert_allclose(m.ranef_se["sample"]["(Intercept)"].to_numpy(), sd[npl:], rtol=1e-6)


@pytest.fixture(scope="module")
def crossed_slopes():
    """Simulated crossed design with a correlated slope on the second (smaller) factor."""
    rng = np.random.default_rng(7)
    n = 120
    g1 = rng.integers(0, 15, n)
    g2 = rng.integers(0, 4, n)
    x = rng.normal(size=n)
    y = (1 + 0.5 * x + rng.normal(size=15)[g1] + rng.normal(size=4)[g2]
         + rng.normal(size=4)[g2] * x + rng.normal(size=n))
    d = pd.DataFrame({"y": y, "x": x, "g1": [f"a{i:02d}" for i in g1], "g2": [f"b{i}" for i in g2]})
    X = np.column_stack([np.ones(n), x])
    c1, n1 = _codes(d["g1"])
    c2, n2 = _codes(d["g2"])
    dense = Dense(y, X, [(c1, n1, np.ones((n, 1))), (c2, n2, X)])
    return d, dense


@pytest.mark.parametrize("engine", ENGINES)
def test_estimates_crossed_with_slopes(crossed_slopes, engine):
    d, dense = crossed_slopes
    m = mixedpy.fit("y ~ x + (1 | g1) + (1 + x | g2)", d, engine=engine)
    for theta in ([1.0, 1.0, 0.0, 1.0], [0.4, 0.8, -0.3, 0.5]):
        np.testing.assert_allclose(m.workspace.deviance(np.array(theta)), dense.deviance(np.array(theta), True),
                                   rtol=1e-8)
    blup, condvar = _check_estimates(m, dense, True, None)
    n1 = d["g1"].nunique()
    np.testing.assert_allclose(m.ranef["g1"].to_numpy().ravel(), blup[:n1], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(m.ranef["g2"].to_numpy(), blup[n1:].reshape(-1, 2), rtol=1e-6, atol=1e-8)
    sd = np.sqrt(np.diag(condvar))
    np.testing.assert_allclose(m.ranef_se["g1"].to_numpy().ravel(), sd[:n1], rtol=1e-6)
    np.testing.assert_allclose(m.ranef_se["g2"].to_numpy(), sd[n1:].reshape(-1, 2), rtol=1e-6)
    (blocks,) = m.condvar("g2")
    for lev in range(blocks.shape[0]):
        i = n1 + 2 * lev
        np.testing.assert_allclose(blocks[lev], condvar[i:i + 2, i:i + 2], rtol=1e-6, atol=1e-10)


def test_fitted_equals_dense_conditional_mean(sleep):
    d, dense = sleep
    m = mixedpy.fit(SLEEP_F, d)
    V0, cf, XtViX, beta, r, rss = dense.gls(m.theta)
    Lam = dense.Lambda(m.theta)
    b = Lam @ Lam.T @ dense.Z.T @ np.linalg.solve(V0, r)
    np.testing.assert_allclose(m.fitted().to_numpy(), dense.X @ beta + dense.Z @ b, rtol=1e-8)


# --- Henderson's mixed model equations --------------------------------------------------------------
@pytest.mark.parametrize("which", ["sleep", "peni"])
def test_mme(which, sleep, peni):
    d, dense = sleep if which == "sleep" else peni
    m = mixedpy.fit(SLEEP_F if which == "sleep" else PENI_F, d, engine="sparse" if which == "sleep" else "blocked")
    e = m.mme()
    s2 = m.sigma ** 2
    Lam = dense.Lambda(m.theta)
    G = s2 * Lam @ Lam.T
    X, Z = dense.X, dense.Z
    # Henderson: [[XᵀR⁻¹X, XᵀR⁻¹Z], [ZᵀR⁻¹X, ZᵀR⁻¹Z + G⁻¹]] with R = σ² I, scaled by σ²
    C = np.block([[X.T @ X, X.T @ Z], [Z.T @ X, Z.T @ Z + s2 * np.linalg.inv(G)]])
    rhs = np.concatenate([X.T @ dense.y, Z.T @ dense.y])
    Cm = e.C.toarray() if sp.issparse(e.C) else np.asarray(e.C)
    np.testing.assert_allclose(Cm, C, rtol=1e-7, atol=1e-9 * np.abs(C).max())
    np.testing.assert_allclose(e.rhs, rhs, rtol=1e-12)
    Gm = e.G.toarray() if sp.issparse(e.G) else np.asarray(e.G)
    np.testing.assert_allclose(Gm, G, rtol=1e-10, atol=1e-12 * np.abs(G).max())
    # the solution is (β̂, b̂): compare with mixedpy's estimates and with the dense solve
    sol = np.asarray(e.solution)
    p = len(m.fixef)
    np.testing.assert_allclose(sol[:p], m.fixef.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(sol[p:], m.solution.b, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sol, np.linalg.solve(C, rhs), rtol=1e-6, atol=1e-8)
    assert len(e.names) == len(sol)
    assert e.names[:p] == list(m.fixef.index)


def test_mme_names_level_major(sleep):
    d, dense = sleep
    m = mixedpy.fit(SLEEP_F, d)
    names = m.mme().names
    first = str(sorted(d["Subject"].astype(int).unique())[0])
    assert names[2:4] == [f"Subject:{first}:(Intercept)", f"Subject:{first}:Days"]


# --- sparse LDLᵀ and the selected inverse --------------------------------------------------------------
def _random_spd(q, density, seed, blocks=None):
    rng = np.random.default_rng(seed)
    B = sp.random(q, q, density=density, random_state=rng, format="csc")
    A = (B @ B.T).toarray()
    if blocks:  # dense diagonal k×k blocks (like the random-effects levels)
        for s in range(0, q, blocks):
            M = rng.normal(size=(blocks, blocks))
            A[s:s + blocks, s:s + blocks] += M @ M.T
    A += np.diag(rng.uniform(0.5, 2.0, q))
    return A


@pytest.mark.parametrize("seed", range(6))
def test_sparse_ldl_logdet_and_solve(seed):
    q = [5, 20, 37, 60, 1, 90][seed]
    A = _random_spd(q, 0.08, seed)
    f = SparseLDL(sp.triu(sp.csc_matrix(A), format="csc"))
    np.testing.assert_allclose(f.logdet(), np.linalg.slogdet(A)[1], rtol=1e-10, atol=1e-10)
    rng = np.random.default_rng(100 + seed)
    b = rng.normal(size=q)
    np.testing.assert_allclose(f.solve(b), np.linalg.solve(A, b), rtol=1e-8, atol=1e-10)
    Bm = rng.normal(size=(q, 3))
    np.testing.assert_allclose(f.solve(Bm), np.linalg.solve(A, Bm), rtol=1e-8, atol=1e-10)
    L, dvec, perm = f.factors()
    Lu = np.eye(q) + L.toarray()
    np.testing.assert_allclose(Lu @ np.diag(dvec) @ Lu.T, A[np.ix_(perm, perm)], rtol=1e-9, atol=1e-10)


def test_sparse_ldl_refactor():
    A1 = _random_spd(30, 0.1, 1)
    U = sp.triu(sp.csc_matrix(A1), format="csc")
    U.sort_indices()
    f = SparseLDL(U)
    # same pattern, new values
    A2 = A1.copy()
    A2[np.abs(A1) > 0] *= 1.5
    A2 += np.diag(np.ones(30))
    U2 = sp.csc_matrix((np.asarray(A2[U.nonzero()]).ravel(), U.indices, U.indptr), shape=U.shape)
    # values in CSC order of U's pattern
    vals = np.array([A2[U.indices[k], j] for j in range(30) for k in range(U.indptr[j], U.indptr[j + 1])])
    f.refactor(vals)
    np.testing.assert_allclose(f.logdet(), np.linalg.slogdet(A2)[1], rtol=1e-10)
    b = np.arange(30.0)
    np.testing.assert_allclose(f.solve(b), np.linalg.solve(A2, b), rtol=1e-8, atol=1e-10)
    del U2


@pytest.mark.parametrize("seed", range(6))
def test_selected_inverse(seed):
    q = [4, 15, 33, 50, 70, 2][seed]
    A = _random_spd(q, 0.1, 10 + seed)
    f = SparseLDL(sp.triu(sp.csc_matrix(A), format="csc"))
    L, dvec, perm = f.factors()
    diag, low = selected_inverse(L, dvec)
    Sigma = np.linalg.inv(A[np.ix_(perm, perm)])
    np.testing.assert_allclose(diag, np.diag(Sigma), rtol=1e-8)
    low = sp.coo_matrix(low)
    np.testing.assert_allclose(low.data, Sigma[low.row, low.col], rtol=1e-7, atol=1e-10 * np.abs(Sigma).max())
    assert np.all(low.row > low.col)
    # one value for every stored entry of L (the pattern the recurrence works on)
    assert low.nnz == sp.csc_matrix(L).nnz


@pytest.mark.parametrize("k", [1, 2, 3])
def test_inverse_blocks(k):
    q = 12 * k
    A = _random_spd(q, 0.03, 40 + k, blocks=k)
    f = SparseLDL(sp.triu(sp.csc_matrix(A), format="csc"))
    L, dvec, perm = f.factors()
    blocks = np.arange(q).reshape(-1, k)
    out = inverse_blocks(L, dvec, perm, blocks)
    Ainv = np.linalg.inv(A)
    for i, idx in enumerate(blocks):
        np.testing.assert_allclose(out[i], Ainv[np.ix_(idx, idx)], rtol=1e-7, atol=1e-12)


def test_design_Z_and_Lambda_match_dense(sleep, peni):
    for (d, dense), formula in ((sleep, SLEEP_F), (peni, PENI_F)):
        ws = _workspace(formula, d)
        theta = np.array((SLEEP_THETAS if dense.p == 2 else PENI_THETAS)[1])
        np.testing.assert_allclose(ws.random.Z.toarray(), dense.Z)
        np.testing.assert_allclose(ws.random.Lambda(theta).toarray(), dense.Lambda(theta))


@pytest.mark.parametrize("n", [1, 7, 511, 512, 513, 1100])
def test_tiled_dense_copies_match_numpy(n):
    from mixedpy.linalg.dense_copies import symmetrize_lower, transpose_copy

    M = np.random.default_rng(n).normal(size=(n, n + 5))
    np.testing.assert_array_equal(transpose_copy(M), M.T)
    S = M[:, :n].copy()
    np.testing.assert_array_equal(symmetrize_lower(S.copy()), np.tril(S) + np.tril(S, -1).T)


def test_pair_map_chunks_agree_with_one_piece_and_dense():
    from mixedpy.linalg.blocked_system import pair_map

    rng = np.random.default_rng(3)
    nlev, k1, q2 = 40, 2, 9
    C = sp.random(nlev * k1, q2, density=0.3, random_state=4, format="csr")
    D = rng.normal(size=(nlev, k1, k1))
    Dfull = sp.block_diag(list(D)).toarray()
    expected = (C.T @ Dfull @ C).ravel()
    for chunk in (4_000_000, 30, 1):
        K = pair_map(C, nlev, k1, chunk_entries=chunk)
        np.testing.assert_allclose(K @ D.ravel(), expected, rtol=1e-12, atol=1e-12)
