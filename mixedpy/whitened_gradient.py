"""The analytic φ-gradient of the deviance of a whitened model with random terms.

With T = R(φ)^(-1/2) the deviance is d(θ, φ) = log|R(φ)| + f(TX, TZ, Ty; θ), f lme4's profiled
deviance of the whitened data (:mod:`mixedpy.objective`).  Hence, for each φ_k, with
dX = ∂T X, dZ = ∂T Z, dy = ∂T y (∂T sparse, on T's pattern:
:meth:`~mixedpy.covariance.residual.ResidualDesign.whitening_derivatives`)::

    ∂ log|A|  = 2 ⟨A⁻¹, ΛᵀZ̃ᵀ dZ Λ⟩                       A = ΛᵀZ̃ᵀZ̃Λ + I
    ∂ log|M|  = 2 ⟨F M⁻¹, dX⟩ − 2 ⟨F M⁻¹, dZ Λ ΛᵀZ̃ᵀF⟩     M = RXᵀRX, F = Ṽ⁻¹X̃ = X̃ − Z̃Λ A⁻¹W
    ∂ pwrss   = 2 r̃ᵀ (dy − dX β − dZ b)                   (envelope: β, u optimal)
    ∂d        = ∂ log|R| + ∂ log|A| [+ ∂ log|M|] + m ∂pwrss / pwrss

This equals tr(P ∂V) − m (Py)ᵀ∂V(Py)/pwrss for V = σ²(ZΛΛᵀZᵀ + R) (REML; ML without the X part),
written through the whitened workspace's factor.  ΛᵀZ̃ᵀ dZ Λ lies on the pattern of A, so only the
entries of A⁻¹ there are needed: the whole A⁻¹ from the factor when q is small, the selected
inverse of the sparse LDLᵀ factor, or the diagonal blocks of a block-diagonal A.  No n × n matrix.

Glossary
--------
X̃, Z̃, ỹ   the whitened data (T X, T Z, T y);  r̃ the whitened residual, b = Λu
m         n − p (REML) or n (ML)
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .deviance import dof
from .linalg.selinv import inverse_entries

DENSE_AINV_Q = 3000  # A⁻¹ formed from the factor up to this q


def ainv_inner_product(inner, theta: np.ndarray) -> Callable[[sp.spmatrix], float] | None:
    """D ↦ ⟨A⁻¹, D⟩ for sparse D on the pattern of A(θ) of the whitened workspace ``inner``, or
    None when the engine offers no entries of A⁻¹ (blocked with a dense Schur part, large q).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (1 | Subject)", mixedpy.datasets.load("sleepstudy"),
    ...                 residual="ar1(Days | Subject)")
    >>> ws = m.workspace
    >>> import scipy.sparse as sp
    >>> theta, phi = ws.split(m.theta)
    >>> inner = ws.at(phi)["inner"]
    >>> f = ainv_inner_product(inner, theta)
    >>> ZL = sp.csr_matrix(inner.random.Z) @ inner.random.Lambda(theta)
    >>> A = (ZL.T @ ZL).toarray() + np.eye(inner.random.q)  # A(θ) of the whitened problem
    >>> bool(np.isclose(f(sp.identity(inner.random.q, format="csr")), np.trace(np.linalg.inv(A))))
    True
    """
    inner.update(theta)
    system, q = inner.system, inner.random.q
    if q <= DENSE_AINV_Q:
        Ainv = system.dense_inverse() if hasattr(system, "dense_inverse") else system.solve(np.eye(q))
        return lambda D: float(np.sum(D.multiply(Ainv)))
    if hasattr(system, "ldl"):
        L, d, perm = system.ldl.factors()

        def sparse(D: sp.spmatrix) -> float:
            D = sp.coo_matrix(D)
            return float(D.data @ inverse_entries(L, d, perm, D.row, D.col))
        return sparse
    if getattr(system, "q2", 1) == 0:
        k = system.k1
        blocks = system.first_term_inverse_blocks()

        def blocked(D: sp.spmatrix) -> float:
            D = sp.coo_matrix(D)
            same = D.row // k == D.col // k
            vals = blocks[D.row[same] // k, D.row[same] % k, D.col[same] % k]
            return float(D.data[same] @ vals)
        return blocked
    return None


def phi_pieces(ws, params: np.ndarray, reml: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """∂φ of a = log|R| + log|A| (+ log|M| for REML) and of pwrss for a
    :class:`~mixedpy.whitened.WhitenedWorkspace` with random terms (module docstring), or None
    when the inner engine cannot give A⁻¹'s entries.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (1 | Subject)", mixedpy.datasets.load("sleepstudy"),
    ...                 residual="ar1(Days | Subject)")
    >>> ws = m.workspace
    >>> [piece.shape for piece in phi_pieces(ws, m.theta, reml=True)]
    [(1,), (1,)]
    """
    theta, phi = ws.split(params)
    w = ws.at(phi)
    inner = w["inner"]
    pt = inner.parts(theta)
    ainv = ainv_inner_product(inner, theta)
    if ainv is None:
        return None
    Lam = ws.random.Lambda(theta)
    ZL = sp.csr_matrix(inner.random.Z @ Lam)              # Z̃Λ
    b = Lam @ pt.u
    r, beta = pt.resid, pt.beta
    use_x = reml and ws.p
    if use_x:
        F = w["X"] - ZL @ pt.AinvW                          # Ṽ⁻¹X̃
        FM = la.solve(pt.RXtRX, F.T, assume_a="pos", check_finite=False).T
        ZLtF = np.asarray(ZL.T @ F)
    g_a, g_pw = np.zeros(ws.nphi), np.zeros(ws.nphi)
    for k, (dT, dlog) in enumerate(ws.residual.whitening_derivatives(phi, w["W"].Linv)):
        dZ = sp.csr_matrix(dT @ ws.random.Z)
        dX = np.asarray(dT @ ws.X)
        dy = np.asarray(dT @ ws.y).ravel()
        dZL = dZ @ Lam
        g_a[k] = dlog + 2.0 * ainv(ZL.T @ dZL)
        if use_x:
            g_a[k] += 2.0 * float(np.sum(FM * dX)) - 2.0 * float(np.sum(FM * (dZL @ ZLtF)))
        g_pw[k] = 2.0 * float(r @ (dy - dX @ beta - dZ @ b))
    return g_a, g_pw


def phi_gradient(ws, params: np.ndarray, reml: bool) -> np.ndarray | None:
    """∂d/∂φ (module docstring), or None when the inner engine cannot give A⁻¹'s entries.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (1 | Subject)", mixedpy.datasets.load("sleepstudy"),
    ...                 residual="ar1(Days | Subject)")
    >>> ws = m.workspace
    >>> g = phi_gradient(ws, m.theta, reml=True)
    >>> g.shape, bool(abs(g[0]) < 1e-2)  # at the optimum
    ((1,), True)
    """
    pieces = phi_pieces(ws, params, reml)
    if pieces is None:
        return None
    theta, phi = ws.split(params)
    pwrss = ws.at(phi)["inner"].parts(theta).pwrss
    return pieces[0] + dof(ws.n, ws.p, reml) / pwrss * pieces[1]
