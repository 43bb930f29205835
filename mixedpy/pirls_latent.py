"""The PIRLS engine for GLMMs with relationship matrices (threshold animal models and their kin).

A random term with a relationship matrix K enters in its latent form: b = (L_K ⊗ I_k) b̃ with
L_K L_Kᵀ = K and b̃ iid across levels (:func:`latent_map`), so the model is lme4's with the design
Z̃ = Z (L_K ⊗ I) — whose rows are no longer one level per term, which is why this engine is not
:class:`~mixedpy.pirls.PirlsWorkspace`'s row-pattern one.  With M = Z̃Λ(θ) the spherical
conditional modes u maximize

    log p(y | η = offset + Xβ + Mu) − ½ uᵀu

by penalized IRLS (Fisher weights W = w μ'(η)² / V(μ), as glmer for every link: for non-canonical
links the Laplace determinant uses the expected information, as lme4), with step halving; the
Laplace deviance is −2 log p(y | û) + ûᵀû + log|MᵀWM + I|.  A = MᵀWM + I is factored densely up to
``DENSE_Q`` random effects, else by a sparse LDLᵀ whose pattern is fixed once.

The workspace answers the same calls as :class:`~mixedpy.pirls.PirlsWorkspace` (``pirls``,
``deviance``, ``laplace``, ``rx``, ``blups``, ``conditional_variances``), so the estimation stages
and the result are the common ones; b = (L_K ⊗ I)Λû is reported on the levels of K.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .design.random import RandomDesign
from .errors import ModelSpecError
from .linalg.sparse_ldl import SparseLDL
from .pirls import _LogLik, glm_start

DENSE_Q = 3000
TOL = 1e-12
MAX_ITER = 200
MAX_HALVINGS = 30


def latent_map(random: RandomDesign, structures) -> sp.csr_matrix:
    """M_K = blockdiag over terms of L_K ⊗ I_k (I for a term without K): b = M_K b̃.

    Examples
    --------
    >>> import numpy as np, pandas as pd, mixedpy
    >>> from mixedpy.design.frame import make_frame
    >>> from mixedpy.genetics.relmat import relmat_design
    >>> f = make_frame("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> K = pd.DataFrame(np.eye(6) + 0.5 * (np.arange(6)[:, None] == np.arange(6) + 1), index=list("ABCDEF"),
    ...                  columns=list("ABCDEF"))
    >>> K = (K + K.T) / 2
    >>> r, st = relmat_design(f.formula.random, f.data, {"Batch": K})
    >>> M = latent_map(r, st).toarray()
    >>> bool(np.allclose(M @ M.T, K.to_numpy()))
    True
    """
    blocks = []
    for t, st in zip(random.terms, structures):
        if st is None or st.kind == "iid":
            blocks.append(sp.identity(t.q, format="csr"))
            continue
        L = np.asarray(st.draw(np.eye(t.nlev)), dtype=float)
        if L.shape != (t.nlev, t.nlev):  # a low-rank K = F Fᵀ: a square root of K itself
            w, V = np.linalg.eigh(L @ L.T)
            L = V * np.sqrt(np.maximum(w, 0.0))
        L[np.abs(L) < 1e-14 * np.abs(L).max()] = 0.0
        blocks.append(sp.kron(sp.csr_matrix(L), sp.identity(t.k), format="csr"))
    return sp.block_diag(blocks, format="csr")


class LatentPirlsWorkspace:
    """PIRLS and the Laplace deviance on the latent design (see the module docstring).

    Examples
    --------
    >>> import numpy as np, pandas as pd, mixedpy, warnings
    >>> warnings.simplefilter("ignore")
    >>> d = mixedpy.datasets.load("cbpp")
    >>> K = pd.DataFrame(np.eye(15), index=d["herd"].cat.categories, columns=d["herd"].cat.categories)
    >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial",
    ...                 relmat={"herd": K})
    >>> type(m.workspace).__name__, round(m.neg2loglik, 4)   # K = I: the ordinary GLMM
    ('LatentPirlsWorkspace', 184.0526)
    """

    _sparse = True  # no analytic Laplace gradient (that is the row-pattern engine's)

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign, structures, family, weights=None,
                 offset=None, nagq: int = 1):
        if nagq > 1:
            raise ModelSpecError(f"nAGQ = {nagq} (quadrature) is not available with relmat; use nAGQ = 1 or 0")
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        self.n, self.p = self.X.shape
        self.random, self.family, self.nagq = random, family, int(nagq)
        self.wt = np.ones(self.n) if weights is None else np.asarray(weights, dtype=float)
        self.offset = np.zeros(self.n) if offset is None else np.asarray(offset, dtype=float)
        self.K = latent_map(random, structures)
        self.Zt = sp.csc_matrix(random.Z @ self.K)      # Z̃ (n × q)
        self.q = self.Zt.shape[1]
        self.ll = _LogLik(family, self.y, self.wt)
        self.u = np.zeros(self.q)
        self.dense = self.q <= DENSE_Q
        if not self.dense:
            Lp = random.Lambda(np.ones(random.ntheta)).copy()
            Lp.data[:] = 1.0
            Mp = abs(self.Zt) @ Lp
            pattern = sp.triu((Mp.T @ Mp) + sp.identity(self.q), format="csc")
            pattern.data[:] = 1.0
            pattern.sort_indices()
            self._pattern = pattern
            init = sp.csc_matrix((np.where(self._diag_mask(pattern), self.q + 1.0, 1.0), pattern.indices,
                                  pattern.indptr), shape=pattern.shape)
            self.factor = SparseLDL(init)
        self.state: dict = {}

    @staticmethod
    def _diag_mask(P: sp.csc_matrix) -> np.ndarray:
        cols = np.repeat(np.arange(P.shape[1]), np.diff(P.indptr))
        return P.indices == cols

    # --- linear algebra of A = MᵀWM + I ------------------------------------------------------------
    def _factor(self, M: sp.csr_matrix, W: np.ndarray):
        A = (M.T @ sp.diags(W) @ M).tocsc() + sp.identity(self.q, format="csc")
        if self.dense:
            C = la.cho_factor(A.toarray(), lower=True)
            return ("dense", C)
        U = sp.triu(A, format="csc") + 0.0 * self._pattern
        U.sort_indices()
        self.factor.refactor(U.data)
        return ("sparse", self.factor)

    @staticmethod
    def _solve(F, b):
        kind, f = F
        return la.cho_solve(f, b) if kind == "dense" else f.solve(b)

    @staticmethod
    def _logdet(F) -> float:
        kind, f = F
        return float(2 * np.sum(np.log(np.diag(f[0])))) if kind == "dense" else float(f.logdet())

    def _M(self, theta) -> sp.csr_matrix:
        return sp.csr_matrix(self.Zt @ self.random.Lambda(np.asarray(theta, dtype=float)))

    def _eval(self, eta, u):
        link = self.family.link
        mu = link.linkinv(eta)
        kern = self.ll.kernel(mu)
        return mu, -2.0 * kern + float(u @ u), kern

    # --- PIRLS -------------------------------------------------------------------------------------
    def pirls(self, theta: np.ndarray, beta: np.ndarray | None = None, u0: np.ndarray | None = None) -> dict:
        """Conditional modes û (and β̂ when ``beta`` is None) at θ by penalized IRLS.

        Examples
        --------
        >>> import numpy as np, pandas as pd, mixedpy, warnings
        >>> warnings.simplefilter("ignore")
        >>> d = mixedpy.datasets.load("cbpp")
        >>> K = pd.DataFrame(np.eye(15), index=d["herd"].cat.categories, columns=d["herd"].cat.categories)
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
        ...                 family="binomial", relmat={"herd": K})
        >>> st = m.workspace.pirls(m.theta, None)   # β in the PIRLS (glmer's nAGQ = 0 step)
        >>> st["beta"].round(4).tolist()
        [-1.3605, -0.9761, -1.111, -1.5596]
        """
        M = self._M(theta)
        X, link, fam = self.X, self.family.link, self.family
        joint = beta is None
        u = (self.u if u0 is None else np.asarray(u0, dtype=float)).copy()
        if joint:
            beta = self.state.get("beta") if self.state.get("beta") is not None else self._beta0()
        beta = np.asarray(beta, dtype=float).copy()
        eta = self.offset + X @ beta + M @ u
        mu, pdev, kern = self._eval(eta, u)
        F, W = None, None
        for it in range(MAX_ITER):
            me = link.mu_eta(eta)
            W = self.wt * me ** 2 / fam.variance(mu)
            r = (self.y - mu) / me
            F = self._factor(M, W)
            gu = M.T @ (W * r) - u
            if joint and self.p:
                AiMWX = self._solve(F, np.asarray(M.T @ (W[:, None] * X)))
                S = X.T @ (W[:, None] * X) - (X.T @ (W[:, None] * (M @ AiMWX)))
                Aig = self._solve(F, gu)
                gb = X.T @ (W * r)
                db = np.linalg.solve(S, gb - X.T @ (W * (M @ Aig)))
                du = Aig - AiMWX @ db
            else:
                du, db = self._solve(F, gu), None
            step = 1.0
            for _ in range(MAX_HALVINGS):
                u_new = u + step * du
                b_new = beta + step * db if db is not None else beta
                eta_new = self.offset + X @ b_new + M @ u_new
                mu_new, pdev_new, kern_new = self._eval(eta_new, u_new)
                if np.isfinite(pdev_new) and pdev_new <= pdev + 1e-12 * abs(pdev):
                    break
                step /= 2
            else:
                break
            dec = pdev - pdev_new
            u, beta, eta, mu, pdev, kern = u_new, b_new, eta_new, mu_new, pdev_new, kern_new
            if dec < TOL * max(1.0, abs(pdev)) and step == 1.0:
                break
        me = link.mu_eta(eta)
        W = self.wt * me ** 2 / fam.variance(mu)
        F = self._factor(M, W)
        self.u = u.copy()
        self.state = {"u": u, "beta": beta, "eta": eta, "mu": mu, "W": W, "pdev": pdev, "kernel": kern,
                      "ldL2": self._logdet(F), "iterations": it, "theta": np.asarray(theta, float).copy(),
                      "_F": F, "_M": M}
        return self.state

    def _beta0(self) -> np.ndarray:
        return glm_start(self.X, self.y, self.wt, self.offset, self.family)

    def laplace(self, theta: np.ndarray, beta: np.ndarray | None = None) -> float:
        """−2 log-likelihood by the Laplace approximation at (θ, β) (β from the PIRLS when None).

        Examples
        --------
        >>> import numpy as np, pandas as pd, mixedpy, warnings
        >>> warnings.simplefilter("ignore")
        >>> d = mixedpy.datasets.load("cbpp")
        >>> K = pd.DataFrame(np.eye(15), index=d["herd"].cat.categories, columns=d["herd"].cat.categories)
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
        ...                 family="binomial", relmat={"herd": K})
        >>> round(m.workspace.laplace(m.theta, m.fixef.to_numpy()), 4)
        184.0526
        """
        st = self.pirls(theta, beta)
        return float(-2.0 * self.ll.loglik(st["mu"], st["kernel"]) + st["u"] @ st["u"] + st["ldL2"])

    def deviance(self, params: np.ndarray, reml: bool = False) -> float:
        """params = θ (β in the PIRLS) or (θ, β); ``inf`` where undefined.

        Examples
        --------
        >>> import numpy as np, pandas as pd, mixedpy, warnings
        >>> warnings.simplefilter("ignore")
        >>> d = mixedpy.datasets.load("cbpp")
        >>> K = pd.DataFrame(np.eye(15), index=d["herd"].cat.categories, columns=d["herd"].cat.categories)
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
        ...                 family="binomial", relmat={"herd": K})
        >>> bool(m.workspace.deviance(np.array([0.6])) > 0)
        True
        """
        params = np.asarray(params, dtype=float)
        nth = self.random.ntheta
        try:
            if len(params) == nth:
                return self.laplace(params, None)
            return self.laplace(params[:nth], params[nth:])
        except (la.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError):
            self.u = np.zeros(self.q)
            return np.inf

    # --- the solution's pieces ---------------------------------------------------------------------
    def rx(self, theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """RXᵀRX = XᵀWX − XᵀWM A⁻¹ MᵀWX at the modes (its inverse is glmer's RX-based vcov).

        Examples
        --------
        >>> import numpy as np, pandas as pd, mixedpy, warnings
        >>> warnings.simplefilter("ignore")
        >>> d = mixedpy.datasets.load("cbpp")
        >>> K = pd.DataFrame(np.eye(15), index=d["herd"].cat.categories, columns=d["herd"].cat.categories)
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
        ...                 family="binomial", relmat={"herd": K})
        >>> m.workspace.rx(m.theta, m.fixef.to_numpy()).shape
        (4, 4)
        """
        st = self.pirls(theta, beta)
        W, M, F, X = st["W"], st["_M"], st["_F"], self.X
        MWX = np.asarray(M.T @ (W[:, None] * X))
        return X.T @ (W[:, None] * X) - MWX.T @ self._solve(F, MWX)

    def blups(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """b = (L_K ⊗ I) Λ(θ) û on the levels of K.

        Examples
        --------
        >>> import numpy as np, pandas as pd, mixedpy, warnings
        >>> warnings.simplefilter("ignore")
        >>> d = mixedpy.datasets.load("cbpp")
        >>> K = pd.DataFrame(np.eye(15), index=d["herd"].cat.categories, columns=d["herd"].cat.categories)
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
        ...                 family="binomial", relmat={"herd": K})
        >>> m.workspace.blups(m.theta, m.workspace.u).shape
        (15,)
        """
        return self.K @ (self.random.Lambda(np.asarray(theta, dtype=float)) @ np.asarray(u, dtype=float))

    def conditional_variances(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        """Per term, nlev × k × k blocks of Var(b | y) ≈ (L_K ⊗ I) Λ A⁻¹ Λᵀ (L_K ⊗ I)ᵀ at the modes
        (dense A⁻¹; lme4's condVar, on the levels of K).

        Examples
        --------
        >>> import numpy as np, pandas as pd, mixedpy, warnings
        >>> warnings.simplefilter("ignore")
        >>> d = mixedpy.datasets.load("cbpp")
        >>> K = pd.DataFrame(np.eye(15), index=d["herd"].cat.categories, columns=d["herd"].cat.categories)
        >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
        ...                 family="binomial", relmat={"herd": K})
        >>> [c.shape for c in m.workspace.conditional_variances(m.theta, m.fixef.to_numpy())]
        [(15, 1, 1)]
        """
        st = self.pirls(theta, beta)
        Ainv = self._solve(st["_F"], np.eye(self.q))
        B = (self.K @ self.random.Lambda(np.asarray(theta, dtype=float))).toarray()
        V = B @ Ainv @ B.T
        out = []
        for t in self.random.terms:
            idx = t.offset + np.arange(t.nlev)[:, None] * t.k + np.arange(t.k)[None, :]
            out.append(V[idx[:, :, None], idx[:, None, :]])
        return out
