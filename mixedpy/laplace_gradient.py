"""The analytic gradient of a GLMM's Laplace deviance in (θ, β), canonical links.

With s = ∂ log p(y | η)/∂η = wt (y − μ), W the working weights, W' = dW/dη, h_i = m_iᵀ A⁻¹ m_i
(m_i row i of M = ZΛ), v = A⁻¹ Mᵀ(h∘W') and M_k = ∂M/∂θ_k, the deviance
D = −2 log p(y | û) + ‖û‖² + log det A (û the conditional modes) has (envelope theorem on û, and
dû/dx = A⁻¹ ∂(Mᵀs − u)/∂x, A being the Hessian of the penalized deviance / 2 for canonical links)::

    ∂D/∂β   = Xᵀ(−2 s + h∘W') − (MᵀWX)ᵀ v
    ∂D/∂θ_k = (−2 s + h∘W' − W∘(M v))ᵀ (M_k û) + (M_k v)ᵀ s + 2 Σ_i W_i m_iᵀ A⁻¹ m_k,i

All pieces come from the final PIRLS factor: A⁻¹ is needed only at the pairs of columns a row of
Z touches (dense or blocked engines).  Non-canonical links (whose observed and expected
information differ) and quadrature deviances use finite differences instead.

Examples
--------
>>> import numpy as np, mixedpy
>>> from mixedpy.model.spec import model_spec
>>> from mixedpy.pirls import PirlsWorkspace
>>> from mixedpy.hessian import fd_gradient
>>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
...                mixedpy.datasets.load("cbpp"), family="binomial")
>>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
>>> x = np.array([0.7, -1.3, -1.0, -1.1, -1.5])
>>> f, g = laplace_gradient(ws, x)
>>> bool(np.allclose(g, fd_gradient(ws.deviance, x, step=1e-5), atol=1e-5))
True
"""
from __future__ import annotations

import numpy as np


def has_analytic_gradient(ws) -> bool:
    """Whether :func:`laplace_gradient` applies: a plain :class:`~mixedpy.pirls.PirlsWorkspace`
    (not a subclass with another layout), canonical link, Laplace (nAGQ ≤ 1), a dense or blocked factor.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.pirls import PirlsWorkspace
    >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                mixedpy.datasets.load("cbpp"), family="binomial")
    >>> has_analytic_gradient(PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights))
    True
    """
    from .pirls import PirlsWorkspace
    if type(ws) is not PirlsWorkspace:  # the formulas read its layout of M = ZΛ (rows V on columns C)
        return False
    fam = ws.family
    return bool(fam.is_canonical and fam.name in ("binomial", "poisson") and ws.nagq <= 1
                and not ws._sparse and ws.q > 0)


def _row_pair_inverse(ws) -> np.ndarray:
    """Q[i, a, b] = (A⁻¹)[C_ia, C_ib] from the current factor."""
    C = ws.C
    K = C.shape[1]
    a, b = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
    rows, cols = C[:, a.ravel()].ravel(), C[:, b.ravel()].ravel()
    if ws._blocked is not None:
        vals = ws.factor.entries(rows, cols)
    else:
        vals = ws.factor.inverse()[rows, cols]
    return vals.reshape(len(C), K, K)


def _dW(ws, mu: np.ndarray) -> np.ndarray:
    """dW/dη for the canonical links: binomial W = wt μ(1 − μ), Poisson W = wt μ."""
    if ws.family.name == "binomial":
        return ws.wt * mu * (1 - mu) * (1 - 2 * mu)
    return ws.wt * mu


def laplace_gradient(ws, params: np.ndarray) -> tuple[float, np.ndarray]:
    """(D, ∂D/∂(θ, β)) at ``params`` = (θ, β) (see the module docstring).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.pirls import PirlsWorkspace
    >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                mixedpy.datasets.load("cbpp"), family="binomial")
    >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
    >>> f, g = laplace_gradient(ws, np.array([0.64226, -1.39853, -0.99233, -1.12867, -1.58031]))
    >>> round(f, 4), bool(np.max(np.abs(g)) < 1e-3)
    (184.0526, True)
    """
    params = np.asarray(params, dtype=float)
    nth = ws.random.ntheta
    theta, beta = params[:nth], params[nth:]
    st = ws.pirls(theta, beta)
    D = ws._laplace_of(st)
    mu, W, u = st["mu"], st["W"], st["u"]
    s = ws.wt * (ws.y - mu)
    V, C, X = ws.V, ws.C, ws.X
    Q = _row_pair_inverse(ws)
    h = np.einsum("ia,iab,ib->i", V, Q, V)
    hW = h * _dW(ws, mu)
    v = ws.factor.solve(ws._Mt(hW))
    Mv = ws.M @ v
    MtWX = ws._Mt(W[:, None] * X)
    g_beta = X.T @ (-2 * s + hW) - MtWX.T @ v
    e = -2 * s + hW - W * Mv
    QV = np.einsum("iab,ia->ib", Q, V)  # row i: m_iᵀ A⁻¹ on its columns
    g_theta = np.zeros(nth)
    j = 0
    for t in ws.random.terms:
        r, c = t.tril()
        for k in range(t.ntheta):
            col = j + c[k]
            dv = t.X[:, r[k]]                          # M_k: only column ``col`` of row i, value dv_i
            Mk_u = dv * u[C[:, col]]
            Mk_v = dv * v[C[:, col]]
            g_theta[t.theta_offset + k] = e @ Mk_u + Mk_v @ s + 2 * np.sum(W * QV[:, col] * dv)
        j += t.k
    return float(D), np.concatenate([g_theta, g_beta])
