"""The deviance and Var(β̂) as functions of the variance parameters varpar = (θ, σ), as lmerTest.

With σ not profiled out, the deviance at (θ, σ) is built from the profiled pieces at θ::

    ML:   ldL2 + n log(2πσ²) + pwrss/σ²
    REML: ldL2 + ldRX2 + (n − p) log(2πσ²) + pwrss/σ²

and Var(β̂)(θ, σ) = σ² RXtRX(θ)⁻¹.  Its dependence on σ is analytic; the θ-derivatives of
``a(θ) = ldL2 (+ ldRX2)``, ``pwrss(θ)`` and ``RXtRX(θ)⁻¹`` come from Richardson-extrapolated central
differences (numDeriv's steps, as lmerTest).  The asymptotic covariance of varpar is ``A = 2 H⁻¹``
(Moore-Penrose, eigenvalues ≤ 1e-8 dropped) with H the Hessian of the deviance of the fit's
criterion (REML or ML).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..threads import workspace_limit
from .richardson import gen_d

EIGEN_TOL = 1e-8


@dataclass(frozen=True)
class VarparInfo:
    """What Satterthwaite's method needs from a fit.

    Attributes
    ----------
    varpar : ndarray
        (θ, σ) at the estimates.
    vcov_beta : ndarray (p, p)
        Var(β̂).
    hessian : ndarray
        Hessian of the deviance in varpar.
    vcov_varpar : ndarray
        A = 2 H⁻¹ (Moore-Penrose).
    jac : ndarray (nvarpar, p, p)
        ∂Var(β̂)/∂varpar_i.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> v = m.varpar_info
    >>> v.varpar.round(4).tolist(), v.hessian.shape, v.jac.shape
    ([0.9667, 0.0152, 0.2309, 25.5918], (4, 4), (4, 2, 2))
    """

    varpar: np.ndarray
    vcov_beta: np.ndarray
    hessian: np.ndarray
    vcov_varpar: np.ndarray
    jac: np.ndarray


def pseudo_inverse(H: np.ndarray, tol: float = EIGEN_TOL) -> np.ndarray:
    """Moore-Penrose inverse of a symmetric matrix keeping eigenvalues above ``tol`` (lmerTest).

    Examples
    --------
    >>> import numpy as np
    >>> pseudo_inverse(np.diag([2.0, 1e-12])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    vals, vecs = np.linalg.eigh((H + H.T) / 2)
    pos = vals > tol
    return (vecs[:, pos] / vals[pos]) @ vecs[:, pos].T


def _theta_pieces(result):
    """θ ↦ [a(θ), pwrss(θ), vec(RXtRX(θ)⁻¹)] for the fit's criterion (of the model's parameters
    ψ ↦ θ(ψ) when random terms have covariance structures: :mod:`mixedpy.model.parameters`)."""
    ws, reml = result.workspace, result.reml
    to_theta = result.spec.parameters.theta if result.estimates.params is not None else (lambda x: x)

    def f(theta: np.ndarray) -> np.ndarray:
        parts = ws.parts(to_theta(theta))
        a = parts.ldL2 + (parts.ldRX2 if reml else 0.0)
        return np.concatenate([[a, parts.pwrss], np.linalg.inv(parts.RXtRX).ravel()])

    return f


@dataclass(frozen=True)
class _Derivs:
    f0: np.ndarray
    gradient: np.ndarray   # (len(f0), k)
    hessian: np.ndarray    # (2, k, k): of a(θ) and pwrss(θ)


def _analytic_pieces(result, theta: np.ndarray):
    """(a, pwrss, vec RXtRX⁻¹) and the analytic gradients of a and pwrss at θ (None if unavailable)."""
    from ..gradient import gradient_pieces

    ws = result.workspace
    if hasattr(ws, "varpar_pieces"):  # residual structures (mixedpy.whitened): GLS pieces, analytic
        return ws.varpar_pieces(theta, result.reml)
    if getattr(ws, "system", None) is None or not hasattr(ws, "lam"):
        return None  # e.g. the G⁻¹-form workspace of relmat fits: Richardson on the deviance
    parts = ws.parts(theta)
    pieces = gradient_pieces(ws, parts, want_ldrx2=result.reml)
    if pieces is None:
        return None
    dld, dldrx, dpw = pieces
    a = parts.ldL2 + (parts.ldRX2 if result.reml else 0.0)
    f = np.concatenate([[a, parts.pwrss], np.linalg.inv(parts.RXtRX).ravel()])
    return f, np.vstack([dld + dldrx, dpw])


ZERO_TOL = 1.78e-5  # numDeriv's zero.tol, sqrt(double.eps / 7e-7): below it the step is absolute


def _steps(random, theta: np.ndarray) -> np.ndarray:
    """Difference steps for θ, relative to each element's natural size, the norm of its row of the
    term's factor T (as numDeriv's relative steps in lmerTest, but also right for an off-diagonal θ
    near 0): a random slope on a covariate in large units has θ ≈ 1e-4, far below the 1e-5 step
    that suits θ ≈ 1; absolute 1e-5 where the whole row is below numDeriv's zero tolerance."""
    h = np.full(len(theta), 1e-5)
    for t in random.terms:
        norms = np.linalg.norm(t.T(theta), axis=1)
        rows, _ = t.tril()
        for i, r in enumerate(rows):
            j = t.theta_offset + i
            size = max(abs(theta[j]), norms[r])
            if size >= ZERO_TOL:
                h[j] = 1e-5 * size
    return h


def _derivatives(result, theta: np.ndarray):
    """Hessians of a(θ) and pwrss(θ) by central differences of their analytic gradients (accurate
    to ~1e-8, where second differences of the deviance lose half the digits), first derivatives
    of RXtRX⁻¹ by central differences; Richardson on the deviance where no analytic gradient."""
    base = None if result.estimates.params is not None else _analytic_pieces(result, theta)
    if base is None:
        return gen_d(_theta_pieces(result), theta)
    f0, g0 = base
    k = len(theta)
    grad = np.zeros((len(f0), k))
    grad[:2] = g0
    hess = np.zeros((2, k, k))
    steps = _steps(result.random, theta)
    for j in range(k):
        h = steps[j]
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        fu, gu = _analytic_pieces(result, up) or (None, None)
        fd, gd = _analytic_pieces(result, dn) or (None, None)
        if fu is None or fd is None:
            return gen_d(_theta_pieces(result), theta)
        hess[:, :, j] = (gu - gd) / (2 * h)
        grad[2:, j] = (fu[2:] - fd[2:]) / (2 * h)
    hess = (hess + hess.transpose(0, 2, 1)) / 2
    return _Derivs(f0=f0, gradient=grad, hessian=hess)


def varpar_info(result) -> VarparInfo:
    """Hessian of the deviance in (θ, σ), A = 2H⁻¹ and the Jacobian of Var(β̂) (computed once per
    fit: the result's ``varpar_info``).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> info = varpar_info(m)
    >>> info.vcov_varpar.shape, info.jac.shape
    ((4, 4), (4, 2, 2))
    """
    return result.varpar_info


def compute_varpar_info(result) -> VarparInfo:
    """The computation behind :func:`varpar_info`.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> v = compute_varpar_info(m)
    >>> v.vcov_beta.shape, v.vcov_varpar.shape
    ((2, 2), (4, 4))
    """
    ws = result.workspace
    params = result.estimates.params  # the model's parameters (ψ) of structured random terms
    theta = np.asarray(result.theta if params is None else params, dtype=float)
    sigma = float(result.sigma)
    p = ws.p
    c = ws.n - p if result.reml else ws.n
    with workspace_limit(ws):
        D = _derivatives(result, theta)
        ws.parts(np.asarray(result.theta, dtype=float))  # leave the workspace at the estimates
    pwrss = D.f0[1]
    Vu = D.f0[2:].reshape(p, p)
    k = len(theta)
    H = np.zeros((k + 1, k + 1))
    H[:k, :k] = D.hessian[0] + D.hessian[1] / sigma ** 2
    H[:k, k] = H[k, :k] = -2.0 * D.gradient[1] / sigma ** 3
    H[k, k] = -2.0 * c / sigma ** 2 + 6.0 * pwrss / sigma ** 4
    jac = np.zeros((k + 1, p, p))
    for i in range(k):
        jac[i] = sigma ** 2 * D.gradient[2:, i].reshape(p, p)
    jac[k] = 2.0 * sigma * Vu
    info = VarparInfo(varpar=np.append(theta, sigma), vcov_beta=np.asarray(result.solution.vcov),
                      hessian=H, vcov_varpar=2.0 * pseudo_inverse(H), jac=jac)
    return info
