"""The Laplace deviance of a generalized linear mixed model by penalized iteratively reweighted least
squares (lme4's PIRLS), on one sparse pattern analysed once.

Model: η = offset + Xβ + ZΛ(θ)u, u ~ N(0, I), y_i | u ~ family(μ_i = g⁻¹(η_i)) with prior weights.

Glossary::

    M        ZΛ(θ) (n × q, the pattern of Z); stored as per-row values ``V`` (n × K) on the columns ``C``
    W        working weights wt (dμ/dη)² / V(μ) — the *expected* information, also for non-canonical links
             (probit, cloglog), as glmer's PIRLS
    A        MᵀWM + I (q × q sparse SPD), factored by a sparse LDLᵀ whose symbolic analysis is done once
             (:class:`~mixedpy.linalg.sparse_ldl.SparseLDL`; a dense Cholesky for small q)
    pdev     penalized deviance Σ dev_resid(y, μ) + ‖u‖², minimized over u (and β for nAGQ = 0)
    ldL2     log det A at the conditional modes û
    laplace  −2 log L ≈ −2 Σ log p(y_i | û) + ‖û‖² + ldL2 (glmer's ``-2*logLik``; R's ``family$aic`` term)
    RX       RXᵀRX = XᵀWX − XᵀWM A⁻¹ MᵀWX, the Schur complement of β (vcov(β) without the Hessian)

Each PIRLS iteration: weights, one scatter of the row products onto A's stored pattern, one numeric
refactorization, one solve; steps are halved while the penalized deviance does not decrease.  The
iteration stops when the Newton decrement δᵀ∇ is below 1e-20 × pdev (far tighter than glmer's default
``tolPwrss``, which leaves the −2 log-likelihood up to ~3e-3 above the Laplace optimum), and the
factor is then taken at û itself.  û is warm-started from the previous evaluation.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .design.random import RandomDesign
from .linalg.selinv import inverse_blocks
from .linalg.sparse_ldl import SparseLDL

DENSE_Q = 100      # up to this q, A is factored densely
BLOCKED_Q2 = 2000  # beyond the first term's columns, up to this many: blocked (dense Schur complement)
BLOCKED_ENTRIES = 20_000_000  # ... and at most this many entries in the dense off-diagonal block
BLOCKED_SPARSITY = 20  # ... of which at least 1 in this many is non-zero
DECREMENT_TOL = 1e-20  # log det A is first-order in û's error (‖Δu‖ ≈ √decrement): converge fully
MAX_ITER = 100
MAX_HALVINGS = 30


class _DenseFactor:
    """Dense Cholesky on the same interface as SparseLDL (refactor by upper-pattern values)."""

    def __init__(self, q: int, rows: np.ndarray, cols: np.ndarray):
        self.q, self.rows, self.cols = q, rows, cols
        self.cf = None

    def refactor(self, data: np.ndarray) -> None:
        A = np.zeros((self.q, self.q))
        A[self.rows, self.cols] = data
        self.cf = la.cho_factor(A, lower=False, check_finite=False)

    def solve(self, b: np.ndarray) -> np.ndarray:
        return la.cho_solve(self.cf, b, check_finite=False)

    def logdet(self) -> float:
        return 2.0 * float(np.sum(np.log(np.diag(self.cf[0]))))

    def inverse(self) -> np.ndarray:
        return la.cho_solve(self.cf, np.eye(self.q), check_finite=False)


class _BlockedFactor:
    """A = [[D, B], [Bᵀ, A₂₂]] with D the first term's block diagonal (nlev × k × k, each row of Z
    meets one level of it), B and A₂₂ dense: D by batched Cholesky, the Schur complement
    S = A₂₂ − Bᵀ D⁻¹ B densely (the usual GLMM layout: one many-level factor, a few small ones)."""

    def __init__(self, C: np.ndarray, k1: int, nlev1: int, q: int):
        self.k1, self.nlev1, self.q1, self.q = k1, nlev1, k1 * nlev1, q
        self.q2 = q - self.q1
        K = C.shape[1]
        self.level = C[:, 0] // k1
        a, b = np.triu_indices(k1)
        self.d_pairs = (a, b, self.level[:, None] * (k1 * k1) + a * k1 + b)   # into D's flat blocks
        ia, jb = np.meshgrid(np.arange(k1), np.arange(k1, K), indexing="ij")
        ia, jb = ia.ravel(), jb.ravel()
        self.b_pairs = (ia, jb, (C[:, ia] * self.q2 + (C[:, jb] - self.q1)).ravel())  # into B (q1 × q2)
        a2, b2 = np.triu_indices(K - k1)
        a2, b2 = a2 + k1, b2 + k1
        self.s_pairs = (a2, b2, ((C[:, a2] - self.q1) * self.q2 + (C[:, b2] - self.q1)).ravel())
        self._s_diag = np.diag_indices(self.q2)

    def refactor_rows(self, W: np.ndarray, V: np.ndarray) -> None:
        k1, q1, q2 = self.k1, self.q1, self.q2
        if k1 == 1:
            D = np.bincount(self.level, weights=W * (V[:, 0] * V[:, 0]), minlength=self.nlev1).reshape(-1, 1, 1)
        else:
            a, b, idx = self.d_pairs
            D = np.bincount(idx.ravel(), weights=(W[:, None] * V[:, a] * V[:, b]).ravel(),
                            minlength=self.nlev1 * k1 * k1).reshape(self.nlev1, k1, k1)
        if k1 > 1:  # symmetrize the blocks (only a ≤ b was scattered)
            lower = np.tril_indices(k1, -1)
            D[:, lower[0], lower[1]] = D[:, lower[1], lower[0]]
        D = D + np.eye(k1)[None]
        WV = W[:, None] * V
        ia, jb, idx = self.b_pairs
        B = np.bincount(idx, weights=(WV[:, ia] * V[:, jb]).ravel(),
                        minlength=q1 * q2).reshape(q1, q2).astype(float, copy=False)
        a2, b2, idx = self.s_pairs
        S = np.bincount(idx, weights=(WV[:, a2] * V[:, b2]).ravel(),
                        minlength=q2 * q2).reshape(q2, q2).astype(float, copy=False)
        S[self._s_diag] += 1.0  # only the upper triangle is filled, and only it is read below
        if k1 == 1:
            self.Dinv = 1.0 / D[:, 0, 0]
            self.ldD = float(np.sum(np.log(D[:, 0, 0])))
            DiB = self.Dinv[:, None] * B
        else:
            Lc = np.linalg.cholesky(D)
            self.Dinv = np.linalg.inv(D)
            self.ldD = 2.0 * float(np.sum(np.log(np.diagonal(Lc, axis1=1, axis2=2))))
            DiB = np.einsum("lab,lbj->laj", self.Dinv, B.reshape(self.nlev1, k1, q2)).reshape(q1, q2)
        self.B, self.DiB = B, DiB
        S = S - B.T @ DiB
        self.cf = la.cho_factor(S, lower=False, check_finite=False) if q2 else None

    def _dinv(self, x: np.ndarray) -> np.ndarray:
        if self.k1 == 1:
            return self.Dinv[:, None] * x if x.ndim == 2 else self.Dinv * x
        shp = x.shape
        xr = x.reshape(self.nlev1, self.k1, -1)
        return np.einsum("lab,lbj->laj", self.Dinv, xr).reshape(shp)

    def solve(self, r: np.ndarray) -> np.ndarray:
        q1 = self.q1
        r1, r2 = r[:q1], r[q1:]
        y1 = self._dinv(r1)
        if not self.q2:
            return y1
        x2 = la.cho_solve(self.cf, r2 - self.B.T @ y1, check_finite=False)
        x1 = y1 - self.DiB @ x2
        return np.concatenate([x1, x2], axis=0)

    def logdet(self) -> float:
        return self.ldD + (2.0 * float(np.sum(np.log(np.diag(self.cf[0])))) if self.q2 else 0.0)

    def entries(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(A⁻¹)[rows, cols] for index pairs on A's pattern (two first-term indices are of one level).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("r2 ~ Anger + (1 | id) + (1 | item)", mixedpy.datasets.load("verbagg"),
        ...                family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> st = ws.pirls(np.array([1.0, 0.5]), np.array([0.0, 0.05]))
        >>> r, c = ws.C[:3, 0], ws.C[:3, 1]
        >>> A = (ws.M.T @ sp.diags(st["W"]) @ ws.M + sp.eye(ws.q)).toarray()
        >>> bool(np.allclose(ws.factor.entries(r, c), np.linalg.inv(A)[r, c]))
        True
        """
        q1, k1 = self.q1, self.k1
        Sinv = la.cho_solve(self.cf, np.eye(self.q2), check_finite=False) if self.q2 else np.zeros((0, 0))
        GS = self.DiB @ Sinv                                     # −(A⁻¹)₁₂
        G = self.DiB.reshape(self.nlev1, k1, self.q2)
        Dinv = self.Dinv[:, None, None] if k1 == 1 else self.Dinv
        blocks = Dinv + np.einsum("laj,lbj->lab", GS.reshape(self.nlev1, k1, self.q2), G)
        out = np.empty(len(rows))
        r1, c1 = rows < q1, cols < q1
        both = r1 & c1
        out[both] = blocks[rows[both] // k1, rows[both] % k1, cols[both] % k1]
        m = r1 & ~c1
        out[m] = -GS[rows[m], cols[m] - q1]
        m = ~r1 & c1
        out[m] = -GS[cols[m], rows[m] - q1]
        m = ~r1 & ~c1
        out[m] = Sinv[rows[m] - q1, cols[m] - q1]
        return out

    def inverse_blocks(self, idx: np.ndarray) -> np.ndarray:
        """Diagonal blocks (index blocks of one term, nblock × k) of A⁻¹."""
        Sinv = la.cho_solve(self.cf, np.eye(self.q2), check_finite=False) if self.q2 else np.zeros((0, 0))
        if idx.min() >= self.q1:
            j = idx - self.q1
            return Sinv[j[:, :, None], j[:, None, :]]
        k1 = self.k1
        G = self.DiB.reshape(self.nlev1, k1, self.q2)           # D⁻¹B per level
        Dinv = self.Dinv[:, None, None] if k1 == 1 else self.Dinv
        return Dinv + np.einsum("laj,jm,lbm->lab", G, Sinv, G)


class _LogLik:
    """log p(y | μ) split into a μ-dependent kernel and a constant, evaluated with as few
    transcendental calls as the data allow (one log per row for 0/1 data)."""

    def __init__(self, family, y: np.ndarray, wt: np.ndarray):
        from scipy import special
        self.name = family.name
        if self.name == "binomial":
            m = np.round(wt)
            k = np.round(wt * y)
            self.exact = bool(np.allclose(m, wt) and np.allclose(k, wt * y))
            self.a, self.b = (k, m - k) if self.exact else (wt * y, wt * (1 - y))
            self.const = float(np.sum(special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1)))
            self.binary = bool(np.all(self.a + self.b == 1) and np.all((self.a == 0) | (self.a == 1)))
            self.success = self.a > 0.5
            self.rounded = (k, m - k)
        else:
            self.exact, self.a, self.wt = True, wt * y, wt
            self.const = float(-np.sum(wt * special.gammaln(y + 1)))
        self.family, self.y, self.wtv = family, y, wt

    def kernel(self, mu: np.ndarray) -> float:
        """The μ-dependent part of Σ log p(y | μ) (the part the PIRLS minimizes −2 times)."""
        if self.name == "binomial":
            if self.binary:
                return float(np.sum(np.log(np.where(self.success, mu, 1.0 - mu))))
            from scipy import special
            return float(np.sum(special.xlogy(self.a, mu) + special.xlog1py(self.b, -mu)))
        from scipy import special
        return float(np.sum(special.xlogy(self.a, mu) - self.wt * mu))

    def loglik(self, mu: np.ndarray, kernel: float | None = None) -> float:
        """Σ log p(y | μ) as R's ``family$aic`` / −2 (rounded binomial counts)."""
        if self.exact:
            return (self.kernel(mu) if kernel is None else kernel) + self.const
        from scipy import special
        k, f = self.rounded
        return float(np.sum(special.xlogy(k, mu) + special.xlog1py(f, -mu))) + self.const


def glm_start(X: np.ndarray, y: np.ndarray, wt: np.ndarray, offset: np.ndarray, family) -> np.ndarray:
    """A GLM start for β: one IRLS pass from the family's usual μ start (R's ``mustart``).

    Examples
    --------
    >>> import numpy as np
    >>> from mixedpy.families import Poisson
    >>> X = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> glm_start(X, np.array([1.0, 2.0, 4.0, 8.0]), np.ones(4), np.zeros(4), Poisson()).round(3).tolist()
    [0.003, 0.692]
    """
    mu = (wt * y + 0.5) / (wt + 1) if family.name == "binomial" else y + 0.1
    eta = family.link.linkfun(mu)
    mu_eta = family.link.mu_eta(eta)
    W = wt * mu_eta ** 2 / family.variance(mu)
    z = eta - offset + (y - mu) / mu_eta
    XtW = X.T * W
    return np.linalg.solve(XtW @ X, XtW @ z)


class PirlsWorkspace:
    """A GLMM's designs, the pattern of A and its symbolic factorization, built once; then the
    Laplace (or quadrature) deviance at any (θ, β) or, with β in the PIRLS, at any θ.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
        The response (binomial: the proportion of successes).
    random : RandomDesign
    family : Family
    weights : ndarray (n,)
        Prior weights (binomial: trials).
    offset : ndarray (n,) or None
    nagq : int
        0, 1 (Laplace) or the adaptive Gauss-Hermite points (one scalar term).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                mixedpy.datasets.load("cbpp"), family="binomial")
    >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights, s.offset)
    >>> beta = np.array([-1.39853208, -0.99233272, -1.12867207, -1.58031395])
    >>> round(ws.laplace(np.array([0.64226146]), beta), 5)
    184.05256
    """

    has_gradient = False

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign, family, weights=None,
                 offset=None, nagq: int = 1):
        self.X, self.y, self.random, self.family = np.asarray(X, float), np.asarray(y, float), random, family
        self.n, self.p = self.X.shape
        self.q = random.q
        self.nagq = nagq
        self.wt = np.ones(self.n) if weights is None else np.asarray(weights, dtype=float)
        self.offset = np.zeros(self.n) if offset is None else np.asarray(offset, dtype=float)
        rows = np.arange(self.n)
        self.C = np.column_stack([t.offset + t.codes[:, None] * t.k + np.arange(t.k)[None, :]
                                  for t in random.terms]) if random.terms else np.zeros((self.n, 0), int)
        self._build_pattern()
        self.V = np.zeros((self.n, self.C.shape[1]))
        self.M = sp.csr_matrix((self.V.ravel(), self.C.ravel(), np.arange(self.n + 1) * self.C.shape[1]),
                               shape=(self.n, self.q))
        self._sens = None
        self.Mt = self.M.T  # a CSC view sharing M's values (updated in place by set_theta)
        self.u = np.zeros(self.q)
        self._theta = None
        del rows
        self.state = None
        self.ll = _LogLik(family, self.y, self.wt)
        # links whose inverse stays inside the family's range need no check per evaluation
        self._range_safe = (family.name, family.link.name) in {
            ("binomial", "logit"), ("binomial", "probit"), ("binomial", "cauchit"), ("binomial", "cloglog"),
            ("poisson", "log")}

    # --- the pattern of A = MᵀWM + I -------------------------------------------------------------
    def _build_pattern(self) -> None:
        K, q = self.C.shape[1], self.q
        a, b = np.triu_indices(K)
        self.pa, self.pb = a, b
        ca, cb = self.C[:, a], self.C[:, b]
        keys = np.maximum(ca, cb).astype(np.int64) * q + np.minimum(ca, cb)
        diag = np.arange(q, dtype=np.int64) * (q + 1)
        uniq = np.unique(np.concatenate([keys.ravel(), diag]))
        self._target = np.searchsorted(uniq, keys).ravel()
        self._diag_pos = np.searchsorted(uniq, diag)
        self._nnz = len(uniq)
        self._rows, self._cols = (uniq % q).astype(np.int32), (uniq // q).astype(np.int32)
        terms = self.random.terms
        q2 = q - (terms[0].q if terms else 0)
        self._blocked = None
        if q <= DENSE_Q:
            self.factor = _DenseFactor(q, self._rows, self._cols)
        elif q2 <= BLOCKED_Q2 and terms[0].q * q2 <= BLOCKED_ENTRIES and self._dense_enough(terms[0].q):
            self.factor = self._blocked = _BlockedFactor(self.C, terms[0].k, terms[0].nlev, q)
        else:
            init = np.where(self._rows == self._cols, float(q + 1), 1.0)  # diagonally dominant: factorable
            upper = sp.csc_matrix((init, (self._rows, self._cols)), shape=(q, q))
            self.factor = SparseLDL(upper)
        self._sparse = q > DENSE_Q and self._blocked is None

    def _dense_enough(self, q1: int) -> bool:
        """Whether the block coupling the first term with the others is dense enough (crossed
        factors) for the blocked engine; nested factors leave it sparse: the sparse LDLᵀ wins."""
        q2 = self.q - q1
        off = (self._rows < q1) & (self._cols >= q1)
        return q2 == 0 or int(off.sum()) * BLOCKED_SPARSITY >= q1 * q2

    def set_theta(self, theta: np.ndarray) -> None:
        """M = ZΛ(θ) on Z's pattern (skipped when θ is unchanged).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> ws.set_theta(np.array([2.0]))
        >>> bool(np.allclose(ws.M.toarray(), (s.random.Z @ s.random.Lambda(np.array([2.0]))).toarray()))
        True
        """
        theta = np.asarray(theta, dtype=float)
        if self._theta is not None and np.array_equal(theta, self._theta):
            return
        j = 0
        for t in self.random.terms:
            self.V[:, j:j + t.k] = t.X @ t.T(theta)
            j += t.k
        self.M.data[:] = self.V.ravel()
        self._theta = theta.copy()

    def _refactor(self, W: np.ndarray) -> None:
        if self._blocked is not None:
            self._blocked.refactor_rows(W, self.V)
            return
        prod = (W[:, None] * self.V[:, self.pa] * self.V[:, self.pb]).ravel()
        data = np.bincount(self._target, weights=prod, minlength=self._nnz)
        data[self._diag_pos] += 1.0
        self.factor.refactor(data)

    def _Mt(self, r: np.ndarray) -> np.ndarray:
        return self.Mt @ r

    # --- PIRLS ----------------------------------------------------------------------------------
    def _eval(self, eta: np.ndarray, u: np.ndarray):
        """μ and the penalized deviance up to a constant: −2 Σ log p(y | μ) + ‖u‖² (its differences
        are those of Σ dev_resid + ‖u‖²)."""
        fam = self.family
        mu = fam.link.linkinv(eta)
        if not self._range_safe and not fam.valid_mu(mu):
            return mu, np.inf
        return mu, float(-2.0 * self.ll.kernel(mu) + u @ u)

    def pirls(self, theta: np.ndarray, beta: np.ndarray | None = None, u0: np.ndarray | None = None) -> dict:
        """Conditional modes û at θ with β fixed, or (û, β̂) jointly when ``beta`` is None (nAGQ = 0).

        Returns a dict: u, beta, eta, mu, W, pdev, ldL2, iterations (the factor of A is left at û).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> st = ws.pirls(np.array([0.6]))
        >>> st["beta"].round(3).tolist()
        [-1.353, -0.984, -1.119, -1.569]
        """
        self.set_theta(theta)
        joint = beta is None
        fam, X = self.family, self.X
        u = (self.u if u0 is None else np.asarray(u0, dtype=float)).copy()
        if joint:
            beta = self._beta0() if self.state is None or len(self.state.get("beta", ())) != self.p \
                else self.state["beta"].copy()
        beta = np.asarray(beta, dtype=float).copy()
        sens = self._sens
        if not joint and u0 is None and sens is not None and np.array_equal(sens[0], self._theta):
            u = sens[2] - sens[3] @ (beta - sens[1])  # û(β) to first order: dû/dβ = −A⁻¹MᵀWX
        fixed = self.offset + X @ beta
        eta = fixed + self.M @ u
        mu, pdev = self._eval(eta, u)
        if not np.isfinite(pdev):  # a warm start outside the family's range: start from u = 0
            u = np.zeros(self.q)
            eta = fixed.copy()
            mu, pdev = self._eval(eta, u)
        it = 0
        canonical = fam.is_canonical
        for it in range(1, MAX_ITER + 1):
            var = fam.variance(mu)
            if canonical:  # dμ/dη = V(μ)
                W, r = self.wt * var, self.wt * (self.y - mu)
            else:
                mu_eta = fam.link.mu_eta(eta)
                W = self.wt * mu_eta ** 2 / var
                r = self.wt * (self.y - mu) * mu_eta / var  # W times the working residual
            self._refactor(W)
            gu = self._Mt(r) - u
            if joint:
                MtWX = self._Mt(W[:, None] * X)
                sol = self.factor.solve(np.column_stack([MtWX, gu]))
                AiW, Aig = sol[:, :-1], sol[:, -1]
                RX = X.T @ (W[:, None] * X) - MtWX.T @ AiW
                gb = X.T @ r
                db = la.solve(RX, gb - MtWX.T @ Aig, assume_a="pos", check_finite=False)
                du = Aig - AiW @ db
                dec = float(du @ gu + db @ gb)
            else:
                du = self.factor.solve(gu)
                db = None
                dec = float(du @ gu)
            if dec < DECREMENT_TOL * max(1.0, pdev) or not np.isfinite(dec):
                break
            if np.max(np.abs(du)) <= 1e-14 * (1.0 + np.max(np.abs(u), initial=0.0)) and (
                    db is None or np.max(np.abs(db)) <= 1e-14 * (1.0 + np.max(np.abs(beta)))):
                break  # at the optimum to rounding
            step = 1.0
            for _ in range(MAX_HALVINGS):
                u_new = u + step * du
                if joint:
                    b_new = beta + step * db
                    fixed_new = self.offset + X @ b_new
                else:
                    fixed_new = fixed
                eta_new = fixed_new + self.M @ u_new
                mu_new, pdev_new = self._eval(eta_new, u_new)
                if pdev_new <= pdev + 1e-12 * abs(pdev):
                    break
                step /= 2
            else:
                break  # no decrease along the Newton direction: at the optimum to rounding
            u, eta, mu, pdev = u_new, eta_new, mu_new, pdev_new
            if joint:
                beta, fixed = b_new, fixed_new
        self.u = u.copy()
        if not joint and self.p:  # the sensitivity of û to β, for the next evaluation at this θ
            self._sens = (self._theta.copy(), beta.copy(), u.copy(), self.factor.solve(self._Mt(W[:, None] * X)))
        state = {"u": u, "beta": beta, "eta": eta, "mu": mu, "W": W, "pdev": pdev, "kernel": -(pdev - u @ u) / 2,
                 "ldL2": self.factor.logdet(), "iterations": it, "theta": np.asarray(theta, float).copy()}
        self.state = state
        return state

    def _beta0(self) -> np.ndarray:
        return glm_start(self.X, self.y, self.wt, self.offset, self.family)

    # --- deviances ------------------------------------------------------------------------------
    def laplace(self, theta: np.ndarray, beta: np.ndarray | None = None) -> float:
        """−2 log-likelihood by the Laplace approximation at (θ, β) (β from the PIRLS when None).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> round(ws.laplace(np.array([0.0]), np.zeros(4)), 4) == round(-2 * s.family.loglik(
        ...     s.fixed.y, np.full(56, 0.5), s.prior_weights), 4)
        True
        """
        st = self.pirls(theta, beta)
        return self._laplace_of(st)

    def _laplace_of(self, st: dict) -> float:
        return float(-2.0 * self.ll.loglik(st["mu"], st["kernel"]) + st["u"] @ st["u"] + st["ldL2"])

    def deviance(self, params: np.ndarray, reml: bool = False) -> float:
        """The objective the optimizer sees: params = θ (nAGQ = 0: β from the PIRLS) or (θ, β)
        (Laplace, or adaptive Gauss-Hermite for nAGQ > 1); ``inf`` where undefined.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> bool(ws.deviance(np.array([0.6])) > 0)
        True
        """
        params = np.asarray(params, dtype=float)
        nth = self.random.ntheta
        try:
            if len(params) == nth:
                return self.laplace(params, None)
            theta, beta = params[:nth], params[nth:]
            if self.nagq > 1:
                from .agq import agq_deviance
                st = self.pirls(theta, beta)
                return agq_deviance(self, st, self.nagq)
            return self.laplace(theta, beta)
        except (la.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            self.u = np.zeros(self.q)
            return np.inf

    # --- the solution's pieces ------------------------------------------------------------------
    def blups(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """b = Λ(θ) û, the conditional modes on the scale of the random effects.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> ws.blups(np.array([2.0]), np.ones(15))[:2].tolist()
        [2.0, 2.0]
        """
        return self.random.Lambda(np.asarray(theta, dtype=float)) @ u if self.q else np.zeros(0)

    def rx(self, theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """RXᵀRX at (θ, β) and the conditional modes there (glmer's vcov without the Hessian is its
        inverse).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> ws.rx(np.array([0.6]), np.array([-1.4, -1.0, -1.1, -1.6])).shape
        (4, 4)
        """
        st = self.pirls(theta, beta)
        W = st["W"]
        MtWX = self._Mt(W[:, None] * self.X)
        return self.X.T @ (W[:, None] * self.X) - MtWX.T @ self.factor.solve(MtWX)

    def conditional_variances(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        """Per term, nlev × k × k blocks of Var(b | y, θ, β) ≈ T (A⁻¹)_block Tᵀ at the modes (lme4's
        condVar for GLMMs).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> [c.shape for c in ws.conditional_variances(np.array([0.6]), np.array([-1.4, -1.0, -1.1, -1.6]))]
        [(15, 1, 1)]
        """
        self.pirls(theta, beta)
        theta = np.asarray(theta, dtype=float)
        out = []
        Ainv = None if self._sparse or self._blocked is not None else self.factor.inverse()
        for term in self.random.terms:
            idx = term.offset + np.arange(term.nlev)[:, None] * term.k + np.arange(term.k)[None, :]
            if self._blocked is not None:
                blocks = self._blocked.inverse_blocks(idx)
            elif Ainv is not None:
                blocks = Ainv[idx[:, :, None], idx[:, None, :]]
            else:
                L, d, perm = self.factor.factors()
                blocks = inverse_blocks(L, d, perm, idx)
            T = term.T(theta)
            out.append(np.einsum("ab,lbc,dc->lad", T, blocks, T))
        return out

    def mme_system(self, theta: np.ndarray, beta: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, list[str]]:
        """The final PIRLS iteration's mixed-model equations in (β, u): [[XᵀWX, XᵀWM], [MᵀWX, A]] and
        the names of the random unknowns.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> s = model_spec("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                mixedpy.datasets.load("cbpp"), family="binomial")
        >>> ws = PirlsWorkspace(s.fixed.X, s.fixed.y, s.random, s.family, s.prior_weights)
        >>> C, rhs, names = ws.mme_system(np.array([0.6]), np.array([-1.4, -1.0, -1.1, -1.6]))
        >>> C.shape, names[0]
        ((19, 19), 'herd:1:(Intercept)')
        """
        st = self.pirls(theta, beta)
        W = st["W"]
        WX = W[:, None] * self.X
        A = sp.csc_matrix(self.M.T @ sp.diags(W) @ self.M) + sp.eye(self.q)
        MtWX = sp.csc_matrix(self.M.T @ WX)
        C = sp.bmat([[sp.csc_matrix(self.X.T @ WX), MtWX.T], [MtWX, A]], format="csc")
        fam = self.family
        mu_eta = fam.link.mu_eta(st["eta"])
        z = st["eta"] - self.offset + (self.y - st["mu"]) / mu_eta  # working response
        rhs = np.concatenate([WX.T @ z, self.M.T @ (W * z)])
        names = [f"{t.group}:{lev}:{c}" for t in self.random.terms for lev in t.levels for c in t.columns]
        return C, rhs, names
