"""Kenward-Roger's adjusted covariance of β̂ and scaled F test, as pbkrtest implements them.

The marginal covariance is Σ = Σ_r γ_r G_r with one γ per variance/covariance of each random term
(G_r = Z_t (I ⊗ E_r) Z_tᵀ, E_r the indicator of entry r of the term's covariance; for a term with
a covariance structure E_r = ∂G(ψ)/∂ψ_r, see :func:`_derivatives`) plus the residual variance (G = I).  With Φ = Var(β̂) (REML), P_r = −Xᵀ Σ⁻¹ G_r Σ⁻¹ X,
Q_rs = Xᵀ Σ⁻¹ G_r Σ⁻¹ G_s Σ⁻¹ X and the expected information
I_rs = tr(Σ⁻¹G_rΣ⁻¹G_s) − 2 tr(Φ Q_rs) + tr(Φ P_r Φ P_s), W = 2 I⁻¹ and
Φ_A = Φ + 2 Φ [Σ_rs W_rs (Q_rs − P_r Φ P_s)] Φ.  The R_rs terms are ignored (as pbkrtest).
The F statistic is scaled and its df computed as in Kenward & Roger (1997) / pbkrtest.

Products with G_r use its low-rank form through Z: with M = ZᵀΣ⁻¹Z, V = ZᵀΣ⁻¹X and D_r the q × q
pattern, P_r = −VᵀD_rV, Q_rs = VᵀD_rMD_sV and tr(Σ⁻¹G_rΣ⁻¹G_s) = tr(D_rMD_sM).  Σ⁻¹ itself is never
formed when there are more observations than random effects: Woodbury's identity gives every product
from q × q matrices, so the limit is min(n, q) ≤ ``MAX_DENSE``, not n.

Cost (``_products_sparse``): no dense q × q factorization and no q × q × q product, only O(q²)
memory passes.  With A = ΛᵀZᵀZΛ + I factored by a sparse LDLᵀ, C = ΛA⁻¹Λᵀ costs one sparse solve
per row; with N = ZᵀZ, NC and NCN (so M = (N − NCN)/σ² and B = I − CN) are sparse × dense products
(O(q² · nonzeros per row of N)).  The traces use the structure of D_r = I_nlev ⊗ E_r on its term's
columns: tr(D_rMD_sM) only needs the (term r, term s) block of M, contracted over levels in one
k_r·k_s × k_r·k_s Gram matrix per pair of terms; tr(D_r ZᵀΣ⁻²Z) only the diagonal k × k blocks
of ZᵀΣ⁻²Z = BᵀM/σ².  On a 7,230-row model with q = 3,502 (egsingle's shape, two grouping factors
and a correlated slope) a KR type III table went from ~35-60 s to ~1.5 s; pbkrtest takes ~28 s
(benchmarks/bench_kr.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import qdldl
import scipy.linalg as la
import scipy.sparse as sp

from ..errors import ModelSpecError
from ..threads import blas_limit
from .kr_ddf import kr_ddf
from .latent_design import _latent_design
from .satterthwaite import FTest

MAX_DENSE = 8000  # largest dense n × n (or, through Woodbury's identity, q × q) matrix


@dataclass(frozen=True)
class KRAdjusted:
    """pbkrtest's ``vcovAdj``: Φ_A with the P matrices and W needed by the F test.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> kr = compute_vcov_adjusted(m)
    >>> isinstance(kr, KRAdjusted), kr.PhiA.shape, len(kr.P), kr.W.shape
    (True, (1, 1), 2, (2, 2))
    """

    Phi: np.ndarray
    PhiA: np.ndarray
    P: list
    W: np.ndarray


def _reml_fit(result):
    """The REML fit of the same model (refitted through the core: relmat and options kept)."""
    return result.reml_fit


def _derivatives(fit, terms) -> list:
    """Per random term, the k × k derivative matrices of its covariance, one per variance
    parameter: the indicators E_ab of its entries for lme4's unstructured term (pbkrtest's
    parameters), ∂G(ψ)/∂ψ_r (complex step) for a term with a structure (diag: the E_aa only; cs:
    I and J's span; fa: the tangent of the loadings and specific variances).  pbkrtest's Φ_A and
    df depend on the derivatives only through their span (W transforms with the Jacobian), so
    any parameterization of the same structure gives the same test."""
    from ..model.parameters import COMPLEX_STEP
    pmap = fit.spec.parameters
    out = []
    for j, t in enumerate(terms):
        st, k = pmap.structures[j], t.k
        if st is None:
            mats = []
            for a in range(k):
                for b in range(a, k):
                    E = np.zeros((k, k))
                    E[a, b] = E[b, a] = 1.0
                    mats.append(E)
        else:
            par = np.asarray(pmap.term_params(fit.params, j), dtype=float)
            mats = []
            for i in range(st.npar):
                z = par.astype(complex)
                z[i] += 1j * COMPLEX_STEP
                mats.append(np.asarray(st.matrix(z)).imag / COMPLEX_STEP)
        out.append(mats)
    return out


def _patterns(random, derivs) -> list:
    """q × q sparse D_r = I ⊗ E_r on its term's columns for each variance parameter."""
    out = []
    for t, mats in zip(random.terms, derivs):
        for E in mats:
            block = sp.kron(sp.eye(t.nlev), sp.csr_matrix(E), format="csr")
            out.append(sp.block_diag([sp.csr_matrix((t.offset, t.offset)), block,
                                      sp.csr_matrix((random.q - t.offset - t.q,) * 2)], format="csr"))
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
    C = Λ (ΛᵀZᵀZΛ + I)⁻¹ Λᵀ (q × q), and Σ⁻¹Z = σ⁻² Z B with B = I − C ZᵀZ.

    The plain dense version (q × q × q products, all of ZᵀΣ⁻²Z): the reference that the tests hold
    ``_products_sparse`` (which ``vcov_adjusted`` uses) and ``_products_dense`` to."""
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


def _term_blocks(terms) -> list:
    """(first column, number of levels, k) of each random term (Z's columns are level-major)."""
    return [(t.offset, t.nlev, t.k) for t in terms]


def _diagonal_blocks(S: np.ndarray, blocks) -> list:
    """The nlev × k × k diagonal blocks of a dense q × q S on each term's columns."""
    out = []
    for o, nlev, k in blocks:
        Sb = S[o:o + nlev * k, o:o + nlev * k].reshape(nlev, k, nlev, k)
        out.append(np.einsum("lalb->lab", Sb).copy())
    return out


@dataclass(frozen=True)
class _KRProducts:
    """What Kenward-Roger needs of Σ⁻¹ (as ``_SigmaProducts``, but ZᵀΣ⁻²Z only by its diagonal
    blocks on each term's levels: ``UtU_blocks[t]`` is nlev × k × k)."""

    TT: np.ndarray
    V: np.ndarray
    M: np.ndarray
    UtTT: np.ndarray
    UtU_blocks: list
    trace_S2: float
    XtS3X: np.ndarray


def _transpose(S: np.ndarray, out: np.ndarray | None = None, tile: int = 64) -> np.ndarray:
    """A C-ordered copy of Sᵀ (into ``out`` if given), tile by tile: cache-friendly, ~2x faster
    than a plain copy of S.T."""
    r, c = S.shape
    out = np.empty((c, r)) if out is None else out
    for i in range(0, r, tile):
        for j in range(0, c, tile):
            out[j:j + tile, i:i + tile] = S[i:i + tile, j:j + tile].T
    return out


def _lambda_inverse_lambda_t(Lam: sp.spmatrix, N: sp.spmatrix) -> np.ndarray:
    """C = Λ A⁻¹ Λᵀ (dense, C order) with A = ΛᵀNΛ + I factored by a sparse LDLᵀ (QDLDL): row i of
    C is Λ A⁻¹ (row i of Λ)ᵀ, one sparse solve per row of Λ that is not zero."""
    q = N.shape[0]
    Lam = sp.csr_matrix(Lam)
    A = sp.csc_matrix(Lam.T @ N @ Lam + sp.eye(q, format="csc"))
    solver = qdldl.Solver(sp.triu(A, format="csc"), upper=True)
    C = np.zeros((q, q))
    rhs = np.zeros(q)
    for i in np.flatnonzero(np.diff(Lam.indptr)):
        lo, hi = Lam.indptr[i], Lam.indptr[i + 1]
        rhs[Lam.indices[lo:hi]] = Lam.data[lo:hi]
        C[i] = Lam @ solver.solve(rhs)
        rhs[Lam.indices[lo:hi]] = 0.0
    return C


def _products_sparse(X: np.ndarray, Z: sp.csc_matrix, Lam: sp.spmatrix, s2: float, blocks) -> _KRProducts:
    """The Woodbury products of ``_products_woodbury`` without dense q × q factorizations or
    q × q × q products: C = Λ A⁻¹ Λᵀ by sparse LDLᵀ solves of A = ΛᵀZᵀZΛ + I, then only
    sparse × dense products with N = ZᵀZ (Σ⁻¹ = σ⁻²(I − Z C Zᵀ), Σ⁻¹Z = σ⁻² Z B with B = I − CN,
    M = ZᵀΣ⁻¹Z = (N − NCN)/σ², ZᵀΣ⁻²Z = BᵀNB/σ⁴ = Bᵀ M/σ²; N, C, NCN symmetric).  Every dense
    q × q step runs on rows of C-ordered arrays (one tiled transpose)."""
    n, q = X.shape[0], Z.shape[1]
    N = sp.csr_matrix(Z.T @ Z)
    C = _lambda_inverse_lambda_t(Lam, N)
    ZtX = np.asarray(Z.T @ X)
    CZtX = C @ ZtX
    TT = (X - Z @ CZtX) / s2
    ZtT = np.asarray(Z.T @ TT)
    XtS3X = (TT.T @ TT - ZtT.T @ (C @ ZtT)) / s2
    NC = np.asarray(N @ C)
    CN = _transpose(NC, out=C)                              # C's memory is reused (C no longer needed)
    del C
    # tr(Σ⁻²) σ⁴ = tr((I − ZCZᵀ)²) = n − 2 tr(CN) + tr(CNCN)
    trace_S2 = float(n - 2 * np.trace(NC) + np.einsum("ij,ij->", NC, CN)) / s2 ** 2
    M = np.asarray(N @ CN)                                  # N C N
    del CN
    M = np.negative(M, out=M)
    Nc = N.tocoo()
    np.add.at(M, (Nc.row, Nc.col), Nc.data)                 # σ² M = N − NCN
    M /= s2
    BT = np.negative(NC, out=NC)
    BT[np.diag_indices(q)] += 1.0                           # Bᵀ = I − NC
    UtTT = (BT @ ZtT) / s2
    UtU_blocks = []
    for o, nlev, k in blocks:                               # diagonal blocks of Bᵀ M / σ²
        rows = slice(o, o + nlev * k)
        UtU_blocks.append(np.einsum("lax,lbx->lab", BT[rows].reshape(nlev, k, q),
                                    M[rows].reshape(nlev, k, q)) / s2)
    return _KRProducts(TT=TT, V=(ZtX - N @ CZtX) / s2, M=M, UtTT=UtTT, UtU_blocks=UtU_blocks,
                       trace_S2=trace_S2, XtS3X=XtS3X)


def _params(derivs) -> list:
    """(term, E_r) for each variance parameter (pbkrtest's order for unstructured terms)."""
    return [(t, E) for t, mats in enumerate(derivs) for E in mats]


def _trace_pairs(M: np.ndarray, blocks, params) -> np.ndarray:
    """tr(D_r M D_s M) for every pair of parameters.  With D_r = I ⊗ E_r on term t's columns and
    M_tu[g, α, h, δ] the (term t, term u) block of M by levels and columns,
    tr(D_r M D_s M) = Σ E_r[α,β] E_s[γ,δ] H[(β,γ),(α,δ)], H[(β,γ),(α,δ)] = Σ_gh M_tu[g,β,h,γ] M_tu[g,α,h,δ]."""
    m = len(params)
    K = np.zeros((m, m))
    H = {}
    for t, (ot, nt, kt) in enumerate(blocks):
        for u in range(t, len(blocks)):
            ou, nu, ku = blocks[u]
            Mtu = M[ot:ot + nt * kt, ou:ou + nu * ku].reshape(nt, kt, nu, ku)
            G = np.ascontiguousarray(Mtu.transpose(1, 3, 0, 2)).reshape(kt * ku, nt * nu)
            H[t, u] = (G @ G.T).reshape(kt, ku, kt, ku)       # [β, γ, α, δ]
    for r, (t, Er) in enumerate(params):
        for s in range(r, m):
            u, Es = params[s]
            K[r, s] = K[s, r] = float(np.einsum("ab,cd,bcad->", Er, Es, H[t, u]))
    return K


def vcov_adjusted(result) -> KRAdjusted:
    """Kenward-Roger adjusted Var(β̂) of the REML fit (a ML fit is refitted with REML first),
    computed once per fit (the result's ``kr_adjusted``).  Terms with a relationship matrix K enter
    in their latent form Z (L_K ⊗ I) (see :mod:`.latent_design`).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> kr = vcov_adjusted(m)
    >>> bool(kr.PhiA[1, 1] >= kr.Phi[1, 1] - 1e-10)
    True
    """
    return result.kr_adjusted


def compute_vcov_adjusted(result) -> KRAdjusted:
    """The computation behind :func:`vcov_adjusted`.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> compute_vcov_adjusted(m).PhiA.round(3).tolist()
    [[375.717]]
    """
    if result.method not in ("reml", "ml"):
        raise ModelSpecError(f"Kenward-Roger needs a REML or ML fit; this fit's method is {result.method!r}")
    fit = _reml_fit(result)
    if getattr(fit.spec, "residual", None) is not None:  # Σ = σ²R(φ): SAS's DDFM=KR pieces
        from .kr_residual import kr_pieces
        return kr_pieces(fit)
    ws, rd = fit.workspace, _latent_design(fit)
    n, q = ws.n, rd.q
    if min(n, q) > MAX_DENSE:
        raise ModelSpecError(f"Kenward-Roger needs dense {min(n, q)} × {min(n, q)} matrices "
                             f"({n} observations, {q} random effects); it is limited to {MAX_DENSE} "
                             "(use ddf='satterthwaite')")
    X = np.asarray(ws.X)
    Z = sp.csc_matrix(rd.Z)
    Lam = rd.Lambda(fit.theta)
    s2 = float(fit.sigma) ** 2
    blocks = _term_blocks(rd.terms)
    with blas_limit(large=min(n, q) >= 1500, n_threads=fit.spec.n_threads):
        if n <= q:
            pr = _products_dense(X, Z, s2 * (Lam @ Lam.T), s2)
            UtU_blocks = _diagonal_blocks(pr.UtU, blocks)
        else:
            pr = _products_sparse(X, Z, Lam, s2, blocks)
            UtU_blocks = pr.UtU_blocks
        derivs = _derivatives(fit, rd.terms)
        params = _params(derivs)
        Phi = np.asarray(fit.solution.vcov)
        TT, V, M, UtTT = pr.TT, pr.V, pr.M, pr.UtTT
        Ds = _patterns(rd, derivs)
        m = len(Ds) + 1
        DV = [D @ V for D in Ds]
        MDV = np.split(M @ np.hstack(DV), m - 1, axis=1) if DV else []
        P = [-(V.T @ dv) for dv in DV] + [-(TT.T @ TT)]
        Q = {}
        K = np.zeros((m, m))
        K[:m - 1, :m - 1] = _trace_pairs(M, blocks, params)
        for r in range(m - 1):
            for s in range(r, m - 1):
                Q[r, s] = DV[r].T @ MDV[s]
            t, Er = params[r]
            Q[r, m - 1] = DV[r].T @ UtTT
            K[r, m - 1] = K[m - 1, r] = float(np.einsum("ab,lba->", Er, UtU_blocks[t]))
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
    return KRAdjusted(Phi=Phi, PhiA=PhiA, P=P, W=W)


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
    q = int(np.linalg.matrix_rank(L))
    df2, scaling = kr_ddf(L, kr.Phi, kr.P, kr.W, q)
    PhiA = kr.PhiA
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

