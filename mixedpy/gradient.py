"""Analytic gradient of the profiled deviance in θ.

With r = y − Xβ̂ − ZΛu (the residual at θ), E_r = ∂Λ/∂θ_r, M = RXᵀRX and G = ZᵀV₀⁻¹X
(V₀ = I + ZΛΛᵀZᵀ, so G = ZᵀX − ZᵀZΛA⁻¹ΛᵀZᵀX without forming V₀)::

    ∂ pwrss  = −2 (Zᵀr)ᵀ E_r u                         (envelope theorem: β, u are optimal)
    ∂ ldRX2  = −2 tr(M⁻¹ Gᵀ E_r Λᵀ G)
    ∂ ldL2   =  tr(A⁻¹ ∂A) = 2 Σ_levels [(I − B_l) T⁻¹]ᵀ on the θ_r positions of T

where B_l are the diagonal blocks of A⁻¹ (the identity A⁻¹ΛᵀZᵀZ = (I − A⁻¹)Λ⁻¹ needs only them).
That identity needs T invertible.  A term with T = 0 has a decoupled identity block in A, so its
log-determinant derivative is 0; any other singular T falls back to central differences.

    ML:   ∂d = ∂ldL2 + n ∂pwrss / pwrss
    REML: ∂d = ∂ldL2 + ∂ldRX2 + (n − p) ∂pwrss / pwrss
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg as la

from .deviance import DevianceParts

if TYPE_CHECKING:  # the workspace imports this module; only the annotations need it
    from .objective import Workspace


def _sum_pairs(values_rows: np.ndarray, values_cols: np.ndarray, ws: Workspace) -> np.ndarray:
    """Σ over the entries e of Λ holding θ_r of ⟨rows[row_e], cols[col_e]⟩, for every r."""
    rd = ws.random
    prod = values_rows[rd.Lambda_rows] * values_cols[rd.Lambda_cols]
    if prod.ndim > 1:
        prod = prod.sum(axis=1)
    return np.bincount(rd.lind, weights=prod, minlength=rd.ntheta)


def _logdet_gradient(ws: Workspace, theta: np.ndarray) -> np.ndarray | None:
    """∂ log det A(θ) / ∂θ, or None when some T is singular."""
    g = np.zeros(ws.random.ntheta)
    first = getattr(ws.system, "first_term_logdet_jacobian", None)
    for i, term in enumerate(ws.random.terms):
        T = term.T(theta)
        if not T.any():
            continue  # the term's block of A is I and decoupled: its entries have zero derivative
        if i == 0 and first is not None:  # no T⁻¹ needed for the block-diagonal term
            r, c = term.tril()
            g[term.theta_offset:term.theta_offset + term.ntheta] = 2.0 * first()[c, r]
            continue
        if np.min(np.abs(np.diag(T))) < 1e-10 * max(1.0, np.max(np.abs(T))):
            return None
        B = ws.system.inverse_blocks(_blocks(term)).sum(axis=0)
        J = (term.nlev * np.eye(term.k) - B) @ np.linalg.inv(T)  # Σ_l (I − B_l) T⁻¹
        r, c = term.tril()
        g[term.theta_offset:term.theta_offset + term.ntheta] = 2.0 * J[c, r]
    return g


def _blocks(term) -> np.ndarray:
    return term.offset + np.arange(term.nlev)[:, None] * term.k + np.arange(term.k)[None, :]


def _central_difference(ws: Workspace, theta: np.ndarray, reml: bool) -> np.ndarray:
    g = np.zeros_like(theta)
    lower = ws.random.lower
    for i in range(len(theta)):
        h = 1e-6 * max(1.0, abs(theta[i]))
        up, dn = theta.copy(), theta.copy()
        up[i] += h
        dn[i] = max(theta[i] - h, lower[i])
        g[i] = (ws.deviance(up, reml) - ws.deviance(dn, reml)) / (up[i] - dn[i])
    ws.update(theta)
    return g


def gradient_pieces(ws: Workspace, parts: DevianceParts, want_ldrx2: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(∂ ldL2, ∂ ldRX2, ∂ pwrss) at ``parts.theta``, analytic; None where a T is singular
    (other than the first term's).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.objective import Workspace
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine="sparse")
    >>> [g.shape for g in gradient_pieces(ws, ws.parts(m.theta))]
    [(3,), (3,), (3,)]
    """
    theta = parts.theta
    if ws.augmented is not None:
        dlogdet, dldrx2, dpwrss = ws.augmented.gradient_pieces(theta)
        return dlogdet, (dldrx2 if want_ldrx2 else np.zeros_like(dldrx2)), dpwrss
    dlogdet = _logdet_gradient(ws, theta)
    if dlogdet is None:
        return None
    Lam, LamT = ws.lam(theta)
    resid = parts.resid if parts.resid is not None else ws.y - ws.X @ parts.beta - ws.Z @ (Lam @ parts.u)
    Ztr = ws.Zt @ resid
    dpwrss = -2.0 * _sum_pairs(Ztr, parts.u, ws)
    dldrx2 = np.zeros_like(dlogdet)
    if want_ldrx2 and ws.p:
        AinvW = parts.AinvW if parts.AinvW is not None else ws.system.solve(LamT @ ws.ZtX)
        G = ws.ZtX - ws.ZtZ @ (Lam @ AinvW.reshape(ws.random.q, ws.p))
        P = la.solve(parts.RXtRX, G.T, assume_a="pos", check_finite=False).T  # G M⁻¹
        H = np.asarray(LamT @ G)
        dldrx2 = -2.0 * _sum_pairs(P, H, ws)
    return dlogdet, dldrx2, dpwrss


def deviance_gradient(ws: Workspace, parts: DevianceParts, reml: bool) -> np.ndarray:
    """Gradient of the profiled deviance at ``parts.theta`` (the factor of A must be current).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.objective import Workspace
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine="sparse")
    >>> theta = np.array([0.5, 0.1, 0.3])
    >>> g = deviance_gradient(ws, ws.parts(theta), reml=True)
    >>> h = 1e-6 * np.eye(3)
    >>> fd = [(ws.deviance(theta + h[i]) - ws.deviance(theta - h[i])) / 2e-6 for i in range(3)]
    >>> bool(np.allclose(g, fd, rtol=1e-5, atol=1e-4))
    True
    """
    pieces = gradient_pieces(ws, parts, want_ldrx2=reml)
    if pieces is None:
        return _central_difference(ws, parts.theta, reml)
    dlogdet, dldrx2, dpwrss = pieces
    nres = ws.n - ws.p if reml else ws.n
    return dlogdet + dldrx2 + nres * dpwrss / parts.pwrss
