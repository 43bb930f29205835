"""Kenward-Roger for models with a residual structure, with or without random terms (SAS DDFM=KR).

The covariance parameters are SAS's (the values of ``residual_parameters``: UN(i,j); AR(1) and the
variance; variances and correlations of heterogeneous structures …), because the second-derivative
term R_ij of Kenward & Roger (1997) depends on the parameterization and SAS includes it.  With
Σ = blockdiag_s Σ_s(ψ), Φ = (XᵀΣ⁻¹X)⁻¹ and per parameter Σ_i = ∂Σ/∂ψ_i, Σ_ij = ∂²Σ/∂ψ_i∂ψ_j::

    P_i  = −Xᵀ Σ⁻¹ Σ_i Σ⁻¹ X          Q_ij = Xᵀ Σ⁻¹ Σ_i Σ⁻¹ Σ_j Σ⁻¹ X      R_ij = Xᵀ Σ⁻¹ Σ_ij Σ⁻¹ X
    W    = 2 H⁻¹, H the observed Hessian of −2 log L_REML in ψ (analytic, below)
    Φ_A  = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_i Φ P_j − ¼ R_ij)] Φ          (``linear=True``: no R_ij)

    H_ij = tr(PΣ_ij) − tr(PΣ_iPΣ_j) + 2 eᵀΣ_i P Σ_j e − eᵀΣ_ij e,   e = Σ⁻¹(y − Xβ̂),
           P = Σ⁻¹ − Σ⁻¹XΦXᵀΣ⁻¹

Every product is taken subject by subject in the batches of the residual design (no n × n
matrix).  Σ_i comes from the complex step, Σ_ij from central differences of complex steps.
The df of a contrast follow Kenward & Roger (as mmrm's ``h_kr_df`` and pbkrtest).

With random terms, Σ is replaced by V = Z̃ (I ⊗ G) Z̃ᵀ + Σ on the connected components of the data
(observations sharing a random-effect level or a residual block; :class:`_MixedBlocks`), and ψ
starts with SAS's parameters of G (variances and covariances of an unstructured term).  The
algebra is the same; a component larger than ``MAX_COMPONENT`` rows (crossed designs put every
row in one component) is refused with an error naming its size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import ModelSpecError

H_COMPLEX = 1e-30
H_REAL = 1e-5
MAX_COMPONENT = 4000  # largest dense block of V (observations linked by random effects)


@dataclass(frozen=True)
class KRResidual:
    """Kenward-Roger pieces (fields as :class:`mixedpy.inference.kenward_roger.KRAdjusted`).

    Attributes
    ----------
    Phi, PhiA : ndarray (p, p)
        Var(β̂) and its adjusted version.
    P : list of ndarray
    W : ndarray
        Asymptotic covariance of the SAS covariance parameters (2 H⁻¹).
    names : list of str

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> kr = kr_pieces(m)
    >>> type(kr).__name__, kr.Phi.shape, kr.names
    ('KRResidual', (2, 2), ['AR(1)', 'Residual'])
    """

    Phi: np.ndarray
    PhiA: np.ndarray
    P: list
    W: np.ndarray
    names: list


def _psi(result):
    rd = result.spec.residual
    par, s2 = result._residual_par(), result.sigma ** 2
    values, names, group = [], [], []
    for g in range(rd.ngroups):
        rep = rd.structure.report(par[g], s2)
        values += [v for _, v in rep]
        names += [n if rd.ngroups == 1 else f"{n} {rd.group_levels[g]}" for n, _ in rep]
        group += [g] * len(rep)
    return np.array(values), names, np.array(group)


def _blocks(rd, psi, group_of):
    """Σ_s(ψ) batch by batch (complex-safe), prior weights applied."""
    st = rd.structure
    per = [psi[group_of == g] for g in range(rd.ngroups)]
    out = []
    if getattr(st, "geometric", False):
        for b in rd.batches:
            blocks = np.stack([st.sas_blocks(per[g], rd.geometry_of(b)) for g in range(rd.ngroups)])
            out.append(blocks[b.group, np.arange(len(b.group))])
    else:
        Ms = np.stack([st.sas_matrix(per[g]) for g in range(rd.ngroups)])
        for b in rd.batches:
            v = rd.geometry_of(b)
            out.append(Ms[b.group[:, None, None], v[:, :, None], v[:, None, :]])
    if rd.weights is not None:
        for k, b in enumerate(rd.batches):
            d = 1.0 / np.sqrt(rd.weights[b.rows])
            out[k] = out[k] * d[:, :, None] * d[:, None, :]
    return out


class _ResidualBlocks:
    """Σ(ψ) subject by subject: the residual blocks of a model without random terms."""

    def __init__(self, fit):
        self.rd = fit.spec.residual
        self.psi, self.names, self.group_of = _psi(fit)
        self.rows = [b.rows for b in self.rd.batches]

    def blocks(self, psi) -> list:
        return _blocks(self.rd, psi, self.group_of)

    def nonlinear(self, i: int, j: int) -> bool:
        return bool(self.group_of[i] == self.group_of[j])


class _MixedBlocks:
    """V(ψ) = Z̃ (I ⊗ G(ψ_G)) Z̃ᵀ + Σ(ψ_R) on the independent blocks of the data.

    Observations linked by a random-effect level or by a residual block form one component of V;
    V is dense within a component and zero between them, so components of equal size are stacked
    into batches (s × m × m) and the algebra of :func:`kr_pieces` runs on them unchanged.  ψ_G are
    SAS's parameters of each random term: the variances and covariances of an unstructured term
    (linear in V), the reported values of a structured one (``report``/``sas_matrix``), else
    σ̂²·G(par) in the structure's own parameters.
    """

    def __init__(self, fit):
        from scipy.sparse.csgraph import connected_components

        from .latent_design import _latent_design
        rd = fit.spec.residual
        self.rd = rd
        psi_r, names_r, group_r = _psi(fit)
        self._group_r = group_r
        lat = _latent_design(fit)
        Z = sp.csr_matrix(lat.Z)
        n = Z.shape[0]
        self._g_terms, psi_g, names_g, self._g_owner = [], [], [], []
        pmap, s2 = fit.spec.parameters, float(fit.sigma) ** 2
        for j, (tl, t) in enumerate(zip(lat.terms, fit.random.terms)):
            vals, build, linear, labels = self._term_parameters(fit, pmap, j, t, s2)
            self._g_terms.append((tl, build, len(psi_g), len(vals), linear))
            psi_g += list(vals)
            names_g += [f"{t.group}: {lab}" for lab in labels]
            self._g_owner += [j if not linear else -1 - j] * len(vals)
        self.nG = len(psi_g)
        self.psi = np.concatenate([np.asarray(psi_g, dtype=float), psi_r])
        self.names = names_g + list(names_r)
        # --- components: observations linked through Z̃'s columns and the residual blocks ---
        blk = np.full(n, -1)
        for k, b in enumerate(rd.batches):
            base = sum(bb.rows.shape[0] for bb in rd.batches[:k])
            blk[b.rows] = base + np.arange(b.rows.shape[0])[:, None]
        nb = int(blk.max()) + 1
        Zc = Z.tocoo()
        inc = sp.csr_matrix((np.ones(Zc.nnz + n), (np.concatenate([Zc.row, np.arange(n)]),
                                                     np.concatenate([Zc.col, Z.shape[1] + blk]))),
                            shape=(n, Z.shape[1] + nb))
        adj = sp.bmat([[None, inc], [inc.T, None]], format="csr")
        _, label = connected_components(adj, directed=False)
        comp = np.unique(label[:n], return_inverse=True)[1]
        size = np.bincount(comp)
        if size.max() > MAX_COMPONENT:
            raise ModelSpecError(f"Kenward-Roger with random terms and a residual structure needs dense "
                                 f"{size.max()} × {size.max()} blocks of V (observations linked by random "
                                 f"effects); it is limited to {MAX_COMPONENT} (use ddf='satterthwaite')")
        order = np.argsort(comp, kind="stable")
        starts = np.concatenate([[0], np.cumsum(size)])
        self.rows, where = [], np.zeros((n, 3), dtype=int)
        for bi, m in enumerate(np.unique(size)):
            cs = np.flatnonzero(size == m)
            R = np.stack([order[starts[c]:starts[c] + m] for c in cs])
            self.rows.append(R)
            where[R.ravel(), 0] = bi
            where[R.ravel(), 1] = np.repeat(np.arange(len(cs)), m)
            where[R.ravel(), 2] = np.tile(np.arange(m), len(cs))
        # Z̃ per batch and term: s × m × L × k, L the most levels a component of the batch uses
        self._Zd = []
        for R in self.rows:
            per = []
            for tl, *_ in self._g_terms:
                Zt = Z[:, tl.offset:tl.offset + tl.q]
                subs = [Zt[r] for r in R]
                levs = [np.unique(z.indices // tl.k) for z in subs]
                L = max(1, max(len(lv) for lv in levs))
                D = np.zeros((len(R), R.shape[1], L, tl.k))
                for c, (z, lv) in enumerate(zip(subs, levs)):
                    if len(lv):
                        cols = (lv[:, None] * tl.k + np.arange(tl.k)).ravel()
                        D[c, :, :len(lv), :] = z[:, cols].toarray().reshape(R.shape[1], len(lv), tl.k)
                per.append(D)
            self._Zd.append(per)
        # Σ's entries (in the order of _blocks' output) and where they go in the batches
        ri = np.concatenate([np.repeat(b.rows[:, :, None], b.rows.shape[1], 2).ravel() for b in rd.batches])
        ci = np.concatenate([np.repeat(b.rows[:, None, :], b.rows.shape[1], 1).ravel() for b in rd.batches])
        self._entries = []
        for bi in range(len(self.rows)):
            sel = np.flatnonzero(where[ri, 0] == bi)
            self._entries.append((sel, where[ri[sel], 1], where[ri[sel], 2], where[ci[sel], 2]))

    @staticmethod
    def _term_parameters(fit, pmap, j, t, s2):
        st = pmap.structures[j]
        if st is None:
            k = t.k
            iu = np.triu_indices(k)
            G = fit.term_covariance(t)

            def build(v, k=k, iu=iu):
                M = np.zeros((k, k), dtype=np.result_type(v.dtype, float))
                M[iu] = v
                return M + np.triu(M, 1).T
            labels = [f"{t.columns[a]}" if a == b else f"{t.columns[a]},{t.columns[b]}" for a, b in zip(*iu)]
            return G[iu], build, True, labels
        par = np.asarray(pmap.term_params(fit.params, j), dtype=float)
        if hasattr(st, "sas_matrix"):
            rep = st.report(par, s2)
            vals = np.array([v for _, v in rep], dtype=float)
            if np.allclose(st.sas_matrix(vals), s2 * np.asarray(st.matrix(par)), rtol=1e-8, atol=1e-10):
                return vals, st.sas_matrix, False, [n_ for n_, _ in rep]
        return par, (lambda v, st=st: s2 * st.matrix(v)), False, list(st.par_names())

    def blocks(self, psi) -> list:
        dt = np.result_type(np.asarray(psi).dtype, float)
        res = _blocks(self.rd, psi[self.nG:], self._group_r)
        vals = np.concatenate([b.ravel() for b in res])
        out = []
        for R, Zd, (sel, c, li, lj) in zip(self.rows, self._Zd, self._entries):
            s, m = R.shape
            V = np.zeros((s, m, m), dtype=dt)
            V[c, li, lj] = vals[sel]
            for (tl, build, off, npar, _), D in zip(self._g_terms, Zd):
                G = build(psi[off:off + npar])
                Zf = D.reshape(s, m, -1)
                ZG = np.einsum("slk,kh->slh", D.reshape(s, -1, tl.k), G).reshape(s, m, -1)
                V += ZG @ Zf.transpose(0, 2, 1)
            out.append(V)
        return out

    def nonlinear(self, i: int, j: int) -> bool:
        if i < self.nG and j < self.nG:
            return self._g_owner[i] >= 0 and self._g_owner[i] == self._g_owner[j]
        if i >= self.nG and j >= self.nG:
            return bool(self._group_r[i - self.nG] == self._group_r[j - self.nG])
        return False


def kr_pieces(result, linear: bool = False) -> KRResidual:
    """Φ, Φ_A, P and W of a REML fit with a residual structure (see the module docstring); with
    random terms too, V = Z̃GZ̃ᵀ + Σ on its independent blocks (:class:`_MixedBlocks`).

    Examples
    --------
    >>> import mixedpy, warnings
    >>> warnings.simplefilter("ignore")
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> kr = kr_pieces(m)
    >>> bool(kr.PhiA[1, 1] >= kr.Phi[1, 1])
    True
    """
    fit = result if result.reml else result.reml_fit
    rd = fit.spec.residual
    if rd is None or rd.structure is None:
        raise ModelSpecError("this model has no residual structure")
    model = _MixedBlocks(fit) if fit.random.terms else _ResidualBlocks(fit)
    psi, k = model.psi, len(model.psi)
    X, y, beta = fit.fixed.X, fit.fixed.y, np.asarray(fit.solution.beta)
    S = model.blocks(psi)
    d1 = []
    for i in range(k):
        z = psi.astype(complex)
        z[i] += 1j * H_COMPLEX
        d1.append([blk.imag / H_COMPLEX for blk in model.blocks(z)])
    d2 = {}
    for i in range(k):
        for j in range(i, k):
            if not model.nonlinear(i, j):
                continue
            h = H_REAL * max(1.0, abs(psi[j]))
            z = psi.astype(complex)
            z[i] += 1j * H_COMPLEX
            up, dn = z.copy(), z.copy()
            up[j] += h
            dn[j] -= h
            d2[i, j] = [(a.imag - b.imag) / (2 * h * H_COMPLEX)
                        for a, b in zip(model.blocks(up), model.blocks(dn))]
    Phi, PhiA, P, W = _kr_algebra(X, y - X @ beta, model.rows, S, d1, d2, linear)
    return KRResidual(Phi=Phi, PhiA=PhiA, P=P, W=W, names=model.names)


def _kr_algebra(X, r, rows, S, d1, d2, linear):
    """Φ, Φ_A, P_i and W = 2H⁻¹ from the blocks of Σ (or V), their first and second derivatives."""
    k = len(d1)
    p = X.shape[1]
    Si = [np.linalg.inv(s) for s in S]
    SX = [si @ X[R] for si, R in zip(Si, rows)]
    e = [np.einsum("sij,sj->si", si, r[R]) for si, R in zip(Si, rows)]
    Phi = np.linalg.inv(sum(np.einsum("sip,siq->pq", X[R], sx) for R, sx in zip(rows, SX)))
    # per parameter (batched matmuls, no product of more than two blocks at once): D_i = Σ_i,
    # D_iΣ⁻¹X, Σ⁻¹D_iΣ⁻¹X, Σ⁻¹D_i, D_i e, Σ⁻¹D_i e, P_i and Xᵀ Σ⁻¹ D_i e
    DSX = [[dd @ sx for dd, sx in zip(d1[i], SX)] for i in range(k)]
    SDSX = [[si @ v for si, v in zip(Si, DSX[i])] for i in range(k)]
    SD = [[si @ dd for si, dd in zip(Si, d1[i])] for i in range(k)]
    a = [[np.einsum("sij,sj->si", dd, ee) for dd, ee in zip(d1[i], e)] for i in range(k)]
    Sa = [[np.einsum("sij,sj->si", si, ai) for si, ai in zip(Si, a[i])] for i in range(k)]
    P = [-sum(np.einsum("sip,siq->pq", sx, v) for sx, v in zip(SX, DSX[i])) for i in range(k)]
    Xa = [sum(np.einsum("sip,si->p", sx, ai) for sx, ai in zip(SX, a[i])) for i in range(k)]
    Q = np.zeros((k, k, p, p))
    H = np.zeros((k, k))
    R = np.zeros((k, k, p, p))
    for i in range(k):
        for j in range(i, k):
            Q[i, j] = sum(np.einsum("sip,siq->pq", u, v) for u, v in zip(DSX[i], SDSX[j]))
            Q[j, i] = Q[i, j].T
            tr_ij = sum(float(np.einsum("sab,sba->", u, v)) for u, v in zip(SD[i], SD[j]))
            tr_PiPj = tr_ij - 2 * np.sum(Phi * Q[i, j]) + np.sum((Phi @ P[i]) * (Phi @ P[j]).T)
            quad = sum(float(np.sum(ai * bj)) for ai, bj in zip(a[i], Sa[j])) - Xa[i] @ Phi @ Xa[j]
            h_ij = -tr_PiPj + 2 * quad
            if (i, j) in d2:
                R[i, j] = sum(np.einsum("sip,siq->pq", sx, dd @ sx) for sx, dd in zip(SX, d2[i, j]))
                R[j, i] = R[i, j]
                tr_Pij = (sum(float(np.einsum("sij,sji->", si, dd)) for si, dd in zip(Si, d2[i, j]))
                          - np.sum(Phi * R[i, j]))
                h_ij += tr_Pij - sum(float(np.sum(ee * np.einsum("sij,sj->si", dd, ee)))
                                     for ee, dd in zip(e, d2[i, j]))
            H[i, j] = H[j, i] = h_ij
    W = 2 * np.linalg.pinv((H + H.T) / 2)
    U = np.zeros((p, p))
    for i in range(k):
        for j in range(k):
            U += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j] - (0.0 if linear else 0.25) * R[i, j])
    PhiA = Phi + 2 * Phi @ U @ Phi
    return Phi, (PhiA + PhiA.T) / 2, P, W


def kr_df(kr: KRResidual, L: np.ndarray) -> tuple[float, float]:
    """Kenward-Roger denominator df and F scale of the hypothesis L β = 0 (mmrm's ``h_kr_df``).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> df, scale = kr_df(kr_pieces(m), np.array([[0.0, 1.0]]))
    >>> round(df, 3), round(scale, 4)
    (90.234, 1.0)
    """
    from .kr_ddf import kr_ddf
    return kr_ddf(L, kr.Phi, kr.P, kr.W)


def coefficient_kr(result, linear: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Kenward-Roger SE (from Φ_A) and df of every coefficient (SAS DDFM=KR's solution table).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> se, df = coefficient_kr(m)
    >>> se.round(4).tolist(), df.round(3).tolist()
    ([11.2394, 1.725], [37.57, 90.234])
    """
    kr = kr_pieces(result, linear=linear)
    p = kr.Phi.shape[0]
    se = np.sqrt(np.diag(kr.PhiA))
    df = np.array([kr_df(kr, np.eye(p)[i]) [0] for i in range(p)])
    return se, df
