"""AR(1) ⊗ AR(1) field-trial residuals: the fit against a brute-force dense REML (numpy, the n × n
V = σ²(R_row ⊗ R_col) + σ_g² ZZᵀ optimized by scipy), the sparse Kronecker whitening against the
dense Cholesky path, grids with missing plots, and a 200 × 200-plot field."""
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import mixedpy
from mixedpy.errors import DataError


def field(nr, nc, ngeno, seed, rho=(0.6, 0.4), sg=0.8):
    rng = np.random.default_rng(seed)
    r, c = np.divmod(np.arange(nr * nc), nc)
    e = rng.normal(size=(nr, nc))
    for j in range(1, nc):  # separable AR(1) errors
        e[:, j] = rho[1] * e[:, j - 1] + np.sqrt(1 - rho[1] ** 2) * e[:, j]
    for i in range(1, nr):
        e[i, :] = rho[0] * e[i - 1, :] + np.sqrt(1 - rho[0] ** 2) * e[i, :]
    geno = rng.integers(0, ngeno, nr * nc)
    g = rng.normal(size=ngeno) * sg
    d = pd.DataFrame({"row": r + 1, "col": c + 1, "geno": [f"G{k:03d}" for k in geno],
                      "x": rng.normal(size=nr * nc)})
    d["y"] = 10 + 0.5 * d["x"] + g[geno] + e.ravel()
    return d.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # any row order


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixedpy.fit(formula, data, **kw)


def ar1(n, rho):
    i = np.arange(n)
    return rho ** np.abs(i[:, None] - i[None, :])


def dense_reml(X, y, V):
    n, p = X.shape
    L = np.linalg.cholesky(V)
    Xt, yt = np.linalg.solve(L, X), np.linalg.solve(L, y)
    M = Xt.T @ Xt
    beta = np.linalg.solve(M, Xt.T @ yt)
    r = yt - Xt @ beta
    return 2 * np.sum(np.log(np.diag(L))) + np.linalg.slogdet(M)[1] + r @ r + (n - p) * np.log(2 * np.pi)


def test_fit_equals_brute_force_dense_reml():
    d = field(10, 12, 30, seed=1)
    m = _fit("y ~ x + (1 | geno)", d, residual="ar1xar1(row, col)")
    assert m.spec.residual.kron
    X = np.column_stack([np.ones(len(d)), d["x"]])
    y = d["y"].to_numpy()
    Z = (d["geno"].to_numpy()[:, None] == np.unique(d["geno"])[None, :]).astype(float)
    ZZt = Z @ Z.T
    dr = np.abs(d["row"].to_numpy()[:, None] - d["row"].to_numpy()[None, :])
    dc = np.abs(d["col"].to_numpy()[:, None] - d["col"].to_numpy()[None, :])

    def crit(v):  # v = (log σ², atanh ρ_r, atanh ρ_c, log σ_g²)
        rr, rc = np.tanh(v[1]), np.tanh(v[2])
        V = np.exp(v[0]) * rr ** dr * rc ** dc + np.exp(v[3]) * ZZt
        return dense_reml(X, y, V)

    best = optimize.minimize(crit, np.zeros(4), method="BFGS", options={"gtol": 1e-9})
    best = optimize.minimize(crit, best.x, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    assert m.reml_criterion == pytest.approx(best.fun, abs=1e-6)
    # and the criterion at mixedpy's estimates is the dense one
    rp = m.residual_parameters.set_index("parameter")["estimate"]
    sg2 = m.varcorr.set_index("group").loc["geno", "variance"]
    v = [np.log(rp["Residual"]), np.arctanh(rp["AR(1) row"]), np.arctanh(rp["AR(1) col"]), np.log(sg2)]
    assert crit(np.array(v)) == pytest.approx(m.reml_criterion, abs=1e-8)


def test_sparse_kronecker_whitening_equals_dense_path():
    d = field(40, 50, 60, seed=2)
    m = _fit("y ~ x", d, residual="ar1xar1(row, col)")
    rd = m.spec.residual
    assert rd.kron and rd.batches[0].geometry is None
    phi = np.array([0.9, -0.4])  # free φ: the row and column correlation parameters
    sparse, dense = rd.whitening(phi), rd.whitening(phi, dense=True)
    assert sparse.logdet == pytest.approx(dense.logdet, rel=1e-12)
    assert sparse.T.nnz <= 4 * rd.n
    P_s = (sparse.T.T @ sparse.T).toarray()
    P_d = (dense.T.T @ dense.T).toarray()
    assert np.allclose(P_s, P_d, atol=1e-10)
    # and the fitted criterion equals a dense REML at the estimates
    phi_hat = np.asarray(m.theta)
    R = rd.batch_blocks(phi_hat)[0][0]
    V = np.zeros((rd.n, rd.n))
    rows = rd.batches[0].rows[0]
    V[np.ix_(rows, rows)] = R
    X = np.column_stack([np.ones(len(d)), d["x"]])
    assert dense_reml(X, d["y"].to_numpy(), m.sigma ** 2 * V) == pytest.approx(m.reml_criterion, rel=1e-10)


def test_blocks_and_missing_plots():
    """Two blocks (grids), then a missing plot: the dense path, same criterion as the dense oracle."""
    a, b = field(6, 7, 10, seed=3), field(6, 7, 10, seed=4)
    a["block"], b["block"] = "A", "B"
    d = pd.concat([a, b], ignore_index=True)
    m = _fit("y ~ x", d, residual="ar1xar1(row, col | block)")
    assert m.spec.residual.kron
    gap = d.drop(index=[5]).reset_index(drop=True)
    m2 = _fit("y ~ x", gap, residual="ar1xar1(row, col | block)")
    assert not m2.spec.residual.kron
    # the grid path and the dense path agree on the complete data at any φ
    phi = np.array([0.5, -0.2])
    ws = m.workspace
    dense = m.spec.residual.whitening(phi, dense=True)
    Xw, yw = dense.T @ ws.X, dense.T @ ws.y
    beta = np.linalg.solve(Xw.T @ Xw, Xw.T @ yw)
    r = yw - Xw @ beta
    n, p = ws.X.shape
    crit = dense.logdet + np.linalg.slogdet(Xw.T @ Xw)[1] + (n - p) * (1 + np.log(2 * np.pi * (r @ r) / (n - p)))
    assert ws.deviance(phi, True) == pytest.approx(crit, rel=1e-12)
    dup = pd.concat([d, d.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match="more than one observation at row"):
        _fit("y ~ x", dup, residual="ar1xar1(row, col | block)")


def test_large_single_block_field_fits_in_seconds():
    d = field(200, 200, 400, seed=5)
    t0 = time.perf_counter()
    m = _fit("y ~ x", d, residual="ar1xar1(row, col)")
    seconds = time.perf_counter() - t0
    rp = m.residual_parameters.set_index("parameter")["estimate"]
    assert seconds < 30
    # genotype effects are left in the residual here: its correlations stay positive
    assert 0.3 < rp["AR(1) row"] < 0.9 and 0.1 < rp["AR(1) col"] < 0.7
