"""Kenward-Roger with random terms and a residual structure together (SAS DDFM=KR) against a dense
definitional oracle written here from the formulas of Kenward & Roger (1997), as SAS applies them:

    V(ψ) built directly from the data (n × n), ψ = SAS's covariance parameters (the variances and
    covariances of G, then the residual structure's parameters in ``residual_parameters`` order);
    H = the observed Hessian of −2 log L_REML(ψ) by central differences of the dense REML function;
    W = 2H⁻¹; V_i, V_ij by central differences of V(ψ);
    Φ_A = Φ + 2Φ[Σ_ij W_ij (Q_ij − P_iΦP_j − ¼R_ij)]Φ.

No package fits these models with KR df besides SAS (not available here), so the oracle is the
definition; the REML criterion of the oracle at ψ̂ must equal mixedpy's, which ties ψ's order and
meaning to the fit.
"""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.errors import ModelSpecError
from mixedpy.inference.kr_ddf import kr_ddf
from mixedpy.inference.kr_residual import coefficient_kr, kr_pieces

DATA = Path(__file__).parent / "reference" / "data" / "nlme_o.csv"


def _reml(V, X, y):
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    n, p = X.shape
    return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + r @ Vi @ r
            + (n - p) * np.log(2 * np.pi))


def _oracle(Vfun, psi, X, y):
    k = len(psi)
    f = lambda ps: _reml(Vfun(ps), X, y)
    H = np.zeros((k, k))
    hs = 1e-4 * np.maximum(1.0, np.abs(psi))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * hs[i], np.eye(k)[j] * hs[j]
            H[i, j] = (f(psi + ei + ej) - f(psi + ei - ej) - f(psi - ei + ej) + f(psi - ei - ej)) / (4 * hs[i] * hs[j])
    H = (H + H.T) / 2
    W = 2 * np.linalg.inv(H)
    h = 1e-6 * np.maximum(1.0, np.abs(psi))
    Vd = [(Vfun(psi + np.eye(k)[i] * h[i]) - Vfun(psi - np.eye(k)[i] * h[i])) / (2 * h[i]) for i in range(k)]
    Vdd = {}
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * 1e-4 * max(1, abs(psi[i])), np.eye(k)[j] * 1e-4 * max(1, abs(psi[j]))
            Vdd[i, j] = (Vfun(psi + ei + ej) - Vfun(psi + ei - ej) - Vfun(psi - ei + ej) + Vfun(psi - ei - ej)) \
                / (4 * ei.sum() * ej.sum())
    Vi = np.linalg.inv(Vfun(psi))
    Phi = np.linalg.inv(X.T @ Vi @ X)
    P = [-X.T @ Vi @ D @ Vi @ X for D in Vd]
    U = np.zeros_like(Phi)
    for i in range(k):
        for j in range(k):
            Q = X.T @ Vi @ Vd[i] @ Vi @ Vd[j] @ Vi @ X
            R = X.T @ Vi @ Vdd[i, j] @ Vi @ X
            U += W[i, j] * (Q - P[i] @ Phi @ P[j] - 0.25 * R)
    return Phi, Phi + 2 * Phi @ U @ Phi, P, W, f


def _fit(formula, residual):
    o = pd.read_csv(DATA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return o, mixedpy.fit(formula, o, residual=residual)


def _check(m, Vfun, psi):
    X, y = m.fixed.X, m.fixed.y
    Phi, PhiA, P, W, f = _oracle(Vfun, psi, X, y)
    assert f(psi) == pytest.approx(m.reml_criterion, abs=1e-6)
    kr = kr_pieces(m)
    np.testing.assert_allclose(kr.Phi, Phi, rtol=1e-7, atol=1e-12 * np.abs(Phi).max())
    np.testing.assert_allclose(kr.W, W, rtol=2e-4, atol=1e-8 * np.abs(W).max())
    np.testing.assert_allclose(kr.PhiA, PhiA, rtol=1e-4, atol=1e-8 * np.abs(PhiA).max())
    se, df = coefficient_kr(m)
    p = X.shape[1]
    df_oracle = [kr_ddf(np.eye(p)[i:i + 1], Phi, P, W)[0] for i in range(p)]
    np.testing.assert_allclose(se, np.sqrt(np.diag(PhiA)), rtol=1e-4)
    np.testing.assert_allclose(df, df_oracle, rtol=1e-3)
    table = m.coefficients(ddf="kenward-roger")
    np.testing.assert_allclose(table["se"], se, rtol=1e-12)
    np.testing.assert_allclose(table["df"], df, rtol=1e-12)
    return kr


def test_random_intercept_with_ar1_residual_equals_dense_oracle():
    o, m = _fit("distance ~ age + Sex + (1 | Subject)", "ar1(occ | Subject)")
    subj = o["Subject"].to_numpy()
    same = subj[:, None] == subj[None, :]
    lag = np.abs(o["occ"].to_numpy()[:, None] - o["occ"].to_numpy()[None, :])
    tau2 = float(m.term_covariance(m.random.terms[0])[0, 0])
    rp = m.residual_parameters.set_index("parameter")["estimate"]
    psi = np.array([tau2, rp["AR(1)"], rp["Residual"]])
    kr = _check(m, lambda ps: same * (ps[0] + ps[2] * ps[1] ** lag), psi)
    assert kr.names == ["Subject: (Intercept)", "AR(1)", "Residual"]


def test_correlated_slope_with_heterogeneous_residual_equals_dense_oracle():
    o, m = _fit("distance ~ age * Sex + (age | Subject)", "het(Sex)")
    subj = o["Subject"].to_numpy()
    same = subj[:, None] == subj[None, :]
    Zi = np.column_stack([np.ones(len(o)), o["age"].to_numpy()])
    male = (o["Sex"] == "Male").to_numpy()
    G = m.term_covariance(m.random.terms[0])
    rp = m.residual_parameters
    s_f = float(rp.loc[rp["group"].str.contains("Female"), "estimate"].iloc[0])
    s_m = float(rp.loc[~rp["group"].str.contains("Female"), "estimate"].iloc[0])
    psi = np.array([G[0, 0], G[0, 1], G[1, 1], s_f, s_m])

    def V(ps):
        Gm = np.array([[ps[0], ps[1]], [ps[1], ps[2]]])
        return same * (Zi @ Gm @ Zi.T) + np.diag(np.where(male, ps[4], ps[3]))
    _check(m, V, psi)


def test_kr_anova_runs_for_mixed_residual_model_and_differs_from_satterthwaite():
    _, m = _fit("distance ~ age + Sex + (1 | Subject)", "ar1(occ | Subject)")
    kr = m.anova(ddf="kenward-roger")
    sat = m.anova(ddf="satterthwaite")
    assert list(kr.index) == list(sat.index)
    assert np.all(np.isfinite(kr["F"])) and np.all(kr["p"] > 0)
    se_kr = m.coefficients(ddf="kenward-roger")["se"]
    se_sat = m.coefficients(ddf="satterthwaite")["se"]
    assert np.any(np.abs(se_kr - se_sat) > 1e-6 * se_sat)  # Φ_A ≠ Φ (with SAS's R_ij it may be smaller)


def test_crossed_random_effects_form_one_block(monkeypatch):
    """Crossed terms link every observation: one dense component, limited in size."""
    import mixedpy.inference.kr_residual as krr
    d = mixedpy.datasets.load("penicillin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", d, residual="het(sample)")
    kr = kr_pieces(m)
    assert kr.Phi.shape == (1, 1) and kr.PhiA[0, 0] > 0
    monkeypatch.setattr(krr, "MAX_COMPONENT", 100)
    with pytest.raises(ModelSpecError, match="144 × 144"):
        kr_pieces(m)
