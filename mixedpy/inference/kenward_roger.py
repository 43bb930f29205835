"""Kenward-Roger's adjusted covariance of β̂ and scaled F test, as pbkrtest implements them.

The marginal covariance is Σ = Σ_r γ_r G_r with one γ per variance/covariance of each random term
(G_r = Z_t (I ⊗ E_r) Z_tᵀ, E_r the indicator of entry r of the term's covariance) plus the
residual variance (G = I).  With Φ = Var(β̂) (REML), P_r = −Xᵀ Σ⁻¹ G_r Σ⁻¹ X,
Q_rs = Xᵀ Σ⁻¹ G_r Σ⁻¹ G_s Σ⁻¹ X and the expected information
I_rs = tr(Σ⁻¹G_rΣ⁻¹G_s) − 2 tr(Φ Q_rs) + tr(Φ P_r Φ P_s), W = 2 I⁻¹ and
Φ_A = Φ + 2 Φ [Σ_rs W_rs (Q_rs − P_r Φ P_s)] Φ.  The R_rs terms are ignored (as pbkrtest).
The F statistic is scaled and its df computed as in Kenward & Roger (1997) / pbkrtest.

Products with G_r use its low-rank form through Z: with M = ZᵀΣ⁻¹Z, V = ZᵀΣ⁻¹X and D_r the q × q
pattern, P_r = −VᵀD_rV, Q_rs = VᵀD_rMD_sV and tr(Σ⁻¹G_rΣ⁻¹G_s) = tr(D_rMD_sM).  Σ⁻¹ itself is never
formed when there are more observations than random effects: Woodbury's identity gives every product
from q × q matrices (``_products_woodbury``), so the limit is min(n, q) ≤ ``MAX_DENSE``, not n.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy import stats

from ..errors import ModelSpecError
from ..threads import blas_limit
from .satterthwaite import FTest

MAX_DENSE = 8000  # largest dense n × n (or, through Woodbury's identity, q × q) matrix


@dataclass(frozen=True)
class KRAdjusted:
    """pbkrtest's ``vcovAdj``: Φ_A with the P matrices and W needed by the F test."""

    Phi: np.ndarray
    PhiA: np.ndarray
    P: list
    W: np.ndarray


def _reml_fit(result):
    if result.reml:
        return result
    from ..api import fit
    return fit(result.frame.formula.text, result.frame.data, reml=True)


def _patterns(random) -> list:
    """q × q sparse D_r for each variance/covariance parameter (pbkrtest's order)."""
    out = []
    for t in random.terms:
        for a in range(t.k):
            for b in range(a, t.k):
                E = np.zeros((t.k, t.k))
                E[a, b] = E[b, a] = 1.0
                block = sp.kron(sp.eye(t.nlev), sp.csr_matrix(E), format="csr")
                D = sp.block_diag([sp.csr_matrix((t.offset, t.offset)), block,
                                   sp.csr_matrix((random.q - t.offset - t.q,) * 2)], format="csr")
                out.append(D)
    return out


@dataclass(frozen=True)
class _SigmaProducts:
    """The products with Σ⁻¹ that Kenward-Roger needs (T = Σ⁻¹X, U = Σ⁻¹Z)."""

    TT: np.ndarray        # Σ⁻¹ X                 n × p
    V: np.ndarray         # Zᵀ Σ⁻¹ X              q × p
    M: np.ndarray         # Zᵀ Σ⁻¹ Z              q × q
    UtTT: np.ndarray      # Zᵀ Σ⁻² X              q × p
    UtU: np.ndarray       # Zᵀ Σ⁻² Z              q × q
    trace_S2: float       # tr(Σ⁻²)
    XtS3X: np.ndarray     # Xᵀ Σ⁻³ X              p × p


def _products_dense(X: np.ndarray, Z: sp.csc_matrix, G: sp.spmatrix, s2: float) -> _SigmaProducts:
    """By a dense n × n Σ (fewer observations than random effects)."""
    n = X.shape[0]
    Sigma = np.asarray((Z @ G @ Z.T).todense()) + s2 * np.eye(n)
    S = la.cho_solve(la.cho_factor(Sigma, lower=True), np.eye(n))
    TT = S @ X
    U = np.asarray((Z.T @ S).T)
    return _SigmaProducts(TT=TT, V=U.T @ X, M=np.asarray(Z.T @ U), UtTT=U.T @ TT, UtU=U.T @ U,
                          trace_S2=float(np.sum(S * S)), XtS3X=TT.T @ S @ TT)


def _products_woodbury(X: np.ndarray, Z: sp.csc_matrix, Lam: sp.spmatrix, s2: float) -> _SigmaProducts:
    """Without any n × n matrix: Σ = σ²(I + ZΛΛᵀZᵀ), so Σ⁻¹ = σ⁻²(I − Z C Zᵀ) with
    C = Λ (ΛᵀZᵀZΛ + I)⁻¹ Λᵀ (q × q), and Σ⁻¹Z = σ⁻² Z B with B = I − C ZᵀZ."""
    n, q = X.shape[0], Z.shape[1]
    ZtZ = np.asarray((Z.T @ Z).todense())
    ZtX = np.asarray(Z.T @ X)
    LamD = Lam.toarray()
    A = LamD.T @ ZtZ @ LamD + np.eye(q)
    cf = la.cho_factor(A, lower=True)
    C = LamD @ la.cho_solve(cf, LamD.T)
    CZtZ = C @ ZtZ
    B = np.eye(q) - CZtZ
    TT = (X - Z @ (C @ ZtX)) / s2
    ZtT = np.asarray(Z.T @ TT)
    M = (ZtZ @ B) / s2
    return _SigmaProducts(
        TT=TT, V=(ZtX - ZtZ @ (C @ ZtX)) / s2, M=(M + M.T) / 2, UtTT=(B.T @ ZtT) / s2,
        UtU=(B.T @ (ZtZ @ B)) / s2 ** 2,
        trace_S2=float(n - 2 * np.trace(CZtZ) + np.sum(CZtZ * CZtZ.T)) / s2 ** 2,
        XtS3X=(TT.T @ TT - ZtT.T @ (C @ ZtT)) / s2)


def vcov_adjusted(result) -> KRAdjusted:
    """Kenward-Roger adjusted Var(β̂) of the REML fit (a ML fit is refitted with REML first).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> kr = vcov_adjusted(m)
    >>> bool(kr.PhiA[1, 1] >= kr.Phi[1, 1] - 1e-10)
    True
    """
    cached = result.__dict__.get("_kr_adjusted")
    if cached is not None:
        return cached
    related = [t.group for t, st in zip(result.random.terms, getattr(result, "structures", ()))
               if getattr(st, "kind", "iid") != "iid"]
    if related:
        raise ModelSpecError(f"Kenward-Roger is not available for terms with a relationship matrix "
                             f"(relmat {', '.join(map(repr, related))}); use ddf='satterthwaite'")
    fit = _reml_fit(result)
    ws, rd = fit.workspace, fit.random
    n, q = ws.n, rd.q
    if min(n, q) > MAX_DENSE:
        raise ModelSpecError(f"Kenward-Roger needs dense {min(n, q)} × {min(n, q)} matrices "
                             f"({n} observations, {q} random effects); it is limited to {MAX_DENSE} "
                             "(use ddf='satterthwaite')")
    X = np.asarray(ws.X)
    Z = sp.csc_matrix(rd.Z)
    Lam = rd.Lambda(fit.theta)
    s2 = float(fit.sigma) ** 2
    with blas_limit(large=min(n, q) >= 1500):
        if n <= q:
            pr = _products_dense(X, Z, s2 * (Lam @ Lam.T), s2)
        else:
            pr = _products_woodbury(X, Z, Lam, s2)
    Phi = np.asarray(fit.solution.vcov)
    TT, V, M, UtTT, UtU = pr.TT, pr.V, pr.M, pr.UtTT, pr.UtU
    Ds = _patterns(rd)
    m = len(Ds) + 1
    DM = [D @ M for D in Ds]
    DV = [D @ V for D in Ds]
    P = [-(V.T @ dv) for dv in DV] + [-(TT.T @ TT)]
    Q = {}
    K = np.zeros((m, m))
    for r in range(m - 1):
        for s in range(r, m - 1):
            Q[r, s] = V.T @ (Ds[r] @ (M @ DV[s]))
            K[r, s] = K[s, r] = float(np.sum(DM[r] * DM[s].T))
        Q[r, m - 1] = DV[r].T @ UtTT
        K[r, m - 1] = K[m - 1, r] = float(np.sum(Ds[r].multiply(UtU)))
    Q[m - 1, m - 1] = pr.XtS3X
    K[m - 1, m - 1] = pr.trace_S2
    IE2 = np.zeros((m, m))
    for i in range(m):
        PhiPi = Phi @ P[i]
        for j in range(i, m):
            IE2[i, j] = IE2[j, i] = (K[i, j] - 2 * np.sum(Phi * Q[i, j]) + np.sum(PhiPi * (P[j] @ Phi)))
    eig = np.linalg.eigvalsh(IE2)
    W = 2 * (np.linalg.inv(IE2) if np.min(np.abs(eig)) > 1e-10 else np.linalg.pinv(IE2))
    W = (W + W.T) / 2
    UU = np.zeros_like(Phi)
    for i in range(m - 1):
        for j in range(i + 1, m):
            UU += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j])
    UU = UU + UU.T
    for i in range(m):
        UU += W[i, i] * (Q[i, i] - P[i] @ Phi @ P[i])
    PhiA = Phi + 2 * Phi @ UU @ Phi
    out = KRAdjusted(Phi=Phi, PhiA=PhiA, P=P, W=W)
    result.__dict__["_kr_adjusted"] = out
    return out


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    return 1.0 if abs(x) < tol and abs(y) < tol else x / y


def kr_test(result, L: np.ndarray, rhs=0.0) -> FTest:
    """Kenward-Roger F test of L β = rhs (pbkrtest's ``KRmodcomp`` as lmerTest reports it).

    Returns the scaled F (``F.scaling`` × Wald/q with Φ_A), its df, and σ (sum of squares from
    the unscaled statistic, as lmerTest).

    Examples
    --------
    >>> import mixedpy, numpy as np
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> t = kr_test(m, np.array([[0.0, 1.0]]))
    >>> round(t.F, 3), round(t.den_df, 2)
    (45.853, 17.0)
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    kr = vcov_adjusted(result)
    Phi, PhiA, P, W = kr.Phi, kr.PhiA, kr.P, kr.W
    q = int(np.linalg.matrix_rank(L))
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TPhi = Theta @ Phi
    us = [TPhi @ Pi @ Phi for Pi in P]
    A1 = A2 = 0.0
    m = len(P)
    for i in range(m):
        for j in range(i, m):
            e = 1.0 if i == j else 2.0
            A1 += e * W[i, j] * np.trace(us[i]) * np.trace(us[j])
            A2 += e * W[i, j] * np.sum(us[i] * us[j].T)
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    V0 = 1 + c1 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    rho = (_div_zero(1 - A2 / q, V1)) ** 2 * V0 / V2 / q
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    beta = np.asarray(result.solution.beta if result.reml else _reml_fit(result).solution.beta)
    rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
    if np.any(rhs != 0):
        beta = beta - np.linalg.pinv(L) @ rhs
    Lb = L @ beta
    wald = float(Lb @ np.linalg.solve(L @ PhiA @ L.T, Lb))
    FU = wald / q
    sigma = float(result.sigma if result.reml else _reml_fit(result).sigma)
    return _ScaledF(F=float(FU * scaling), num_df=q, den_df=float(df2), sigma=sigma, unscaled=FU)


@dataclass(frozen=True)
class _ScaledF(FTest):
    unscaled: float = np.nan

    @property
    def mean_sq(self) -> float:
        return self.unscaled * self.sigma ** 2


def kr_p_value(t: FTest) -> float:
    return float(stats.f.sf(t.F, t.num_df, t.den_df))
