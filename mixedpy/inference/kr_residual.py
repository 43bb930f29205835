"""Kenward-Roger for models with a residual structure and no random terms (SAS DDFM=KR).

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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelSpecError

H_COMPLEX = 1e-30
H_REAL = 1e-5


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


def kr_pieces(result, linear: bool = False) -> KRResidual:
    """Φ, Φ_A, P and W of a REML fit with a residual structure (see the module docstring).

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
    if fit.random.terms:
        raise ModelSpecError("Kenward-Roger with both random terms and a residual structure is not "
                             "available yet; use ddf='satterthwaite'")
    if rd is None or rd.structure is None:
        raise ModelSpecError("this model has no residual structure")
    psi, names, group_of = _psi(fit)
    k = len(psi)
    X, y, beta = fit.fixed.X, fit.fixed.y, np.asarray(fit.solution.beta)
    r = y - X @ beta
    S = _blocks(rd, psi, group_of)
    d1 = []
    for i in range(k):
        z = psi.astype(complex)
        z[i] += 1j * H_COMPLEX
        d1.append([blk.imag / H_COMPLEX for blk in _blocks(rd, z, group_of)])
    d2 = {}
    for i in range(k):
        for j in range(i, k):
            if group_of[i] != group_of[j]:
                continue
            h = H_REAL * max(1.0, abs(psi[j]))
            z = psi.astype(complex)
            z[i] += 1j * H_COMPLEX
            up, dn = z.copy(), z.copy()
            up[j] += h
            dn[j] -= h
            d2[i, j] = [(a.imag - b.imag) / (2 * h * H_COMPLEX)
                        for a, b in zip(_blocks(rd, up, group_of), _blocks(rd, dn, group_of))]
    p = X.shape[1]
    Si = [np.linalg.inv(s) for s in S]
    SX = [si @ X[b.rows] for si, b in zip(Si, rd.batches)]
    e = [np.einsum("sij,sj->si", si, r[b.rows]) for si, b in zip(Si, rd.batches)]
    Phi = np.linalg.inv(sum(np.einsum("sip,siq->pq", X[b.rows], sx) for b, sx in zip(rd.batches, SX)))
    # per parameter: Σ⁻¹Σ_iΣ⁻¹X (batches), P_i, Σ_i e, Xᵀ Σ⁻¹ Σ_i e
    SiSX = [[np.einsum("sij,sjp->sip", dd, sx) for dd, sx in zip(d1[i], SX)] for i in range(k)]
    P = [-sum(np.einsum("sip,siq->pq", sx, a) for sx, a in zip(SX, SiSX[i])) for i in range(k)]
    a = [[np.einsum("sij,sj->si", dd, ee) for dd, ee in zip(d1[i], e)] for i in range(k)]
    Xa = [sum(np.einsum("sip,si->p", sx, ai) for sx, ai in zip(SX, a[i])) for i in range(k)]
    Q = np.zeros((k, k, p, p))
    H = np.zeros((k, k))
    R = np.zeros((k, k, p, p))
    for i in range(k):
        for j in range(i, k):
            Q[i, j] = sum(np.einsum("sip,sij,sjq->pq", u, si, v)
                          for u, si, v in zip(SiSX[i], Si, SiSX[j]))
            Q[j, i] = Q[i, j].T
            tr_ij = sum(float(np.einsum("sab,sbc,scd,sda->", si, di, si, dj))
                        for si, di, dj in zip(Si, d1[i], d1[j]))
            tr_PiPj = tr_ij - 2 * np.sum(Phi * Q[i, j]) + np.sum((Phi @ P[i]) * (Phi @ P[j]).T)
            quad = (sum(float(np.einsum("si,sij,sj->", ai, si, aj)) for ai, si, aj in zip(a[i], Si, a[j]))
                    - Xa[i] @ Phi @ Xa[j])
            h_ij = -tr_PiPj + 2 * quad
            if (i, j) in d2:
                R[i, j] = sum(np.einsum("sip,sij,sjq->pq", sx, dd, sx) for sx, dd in zip(SX, d2[i, j]))
                R[j, i] = R[i, j]
                tr_Pij = (sum(float(np.einsum("sij,sji->", si, dd)) for si, dd in zip(Si, d2[i, j]))
                          - np.sum(Phi * R[i, j]))
                h_ij += tr_Pij - sum(float(np.einsum("si,sij,sj->", ee, dd, ee)) for ee, dd in zip(e, d2[i, j]))
            H[i, j] = H[j, i] = h_ij
    W = 2 * np.linalg.pinv((H + H.T) / 2)
    U = np.zeros((p, p))
    for i in range(k):
        for j in range(k):
            U += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j] - (0.0 if linear else 0.25) * R[i, j])
    PhiA = Phi + 2 * Phi @ U @ Phi
    return KRResidual(Phi=Phi, PhiA=(PhiA + PhiA.T) / 2, P=P, W=W, names=names)


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
