"""Adaptive Gauss-Hermite quadrature of a GLMM with one scalar random-effects term (glmer's nAGQ > 1).

Given β and θ the groups are independent.  For group j with conditional mode û_j and
s_j = (A_jj)^(-1/2) (A = MᵀWM + I is diagonal for one scalar term) and
g_j(u) = −2 Σ_{i in j} log p(y_i | u) + u²::

    −2 log ∫ p(y_j | u) φ(u) du ≈ g_j(û_j) + log A_jj − 2 log Σ_k w_k exp(−(g_j(û_j + s_j z_k) − g_j(û_j) − z_k²)/2)

with z_k, w_k the nodes and normalized weights of the (probabilists') Gauss-Hermite rule.  One node
(z = 0, w = 1) gives the Laplace approximation exactly.

Examples
--------
>>> import numpy as np
>>> z, w = gh_rule(3)
>>> z.round(4).tolist(), round(float(w.sum()), 12)
([-1.7321, 0.0, 1.7321], 1.0)
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import logsumexp


def gh_rule(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) of the k-point Gauss-Hermite rule for N(0, 1).

    Examples
    --------
    >>> z, w = gh_rule(1)
    >>> z.tolist(), w.tolist()
    ([0.0], [1.0])
    """
    z, w = hermegauss(k)
    return z, w / w.sum()


def agq_deviance(ws, state: dict, nagq: int) -> float:
    """−2 log-likelihood by adaptive Gauss-Hermite quadrature at the PIRLS ``state`` of ``ws``
    (a :class:`~mixedpy.pirls.PirlsWorkspace` with one scalar term, its factor at û).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.pirls import PirlsWorkspace
    >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                mixedpy.datasets.load("cbpp"), family="binomial")
    >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
    >>> theta, beta = np.array([0.6]), np.array([-1.4, -1.0, -1.1, -1.6])
    >>> st = ws.pirls(theta, beta)
    >>> bool(np.isclose(agq_deviance(ws, st, 1), ws.laplace(theta, beta)))
    True
    """
    term = ws.random.terms[0]
    codes, nlev = term.codes, term.nlev
    fam, y, wt = ws.family, ws.y, ws.wt
    u = state["u"]
    v = ws.V[:, 0]
    W = state["W"]
    A = 1.0 + np.bincount(codes, weights=W * v * v, minlength=nlev)
    s = 1.0 / np.sqrt(A)
    eta_fixed = state["eta"] - v * u[codes]
    z, w = gh_rule(nagq)
    # per group and node: g_j(û + s z_k)
    U = u[:, None] + s[:, None] * z[None, :]                     # nlev × K
    eta = eta_fixed[:, None] + v[:, None] * U[codes]              # n × K
    mu = fam.link.linkinv(eta)
    ll = fam.loglik_terms(y[:, None], mu, wt[:, None])
    G = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(nlev, len(codes)))
    g = -2.0 * (G @ ll) + U ** 2                                  # nlev × K
    g0 = g[:, [int(np.argmin(np.abs(z)))]] if nagq % 2 == 1 else \
        (-2.0 * (G @ fam.loglik_terms(y, state["mu"], wt)) + u ** 2)[:, None]
    inner = logsumexp(np.log(w)[None, :] - 0.5 * (g - g0 - z[None, :] ** 2), axis=1)
    return float(np.sum(g0[:, 0] + np.log(A) - 2.0 * inner))
