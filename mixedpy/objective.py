"""The profiled deviance of a linear mixed model as a function of θ (lme4's formulation).

Model: y = Xβ + Zb + ε, b = Λ(θ)u, u ~ N(0, σ²I), ε ~ N(0, σ²I).

Glossary
--------
A(θ)     Λᵀ ZᵀZ Λ + I  (q × q sparse, SPD), factored as LDLᵀ with the pattern analysed once
v        Λᵀ Zᵀ y;  W = Λᵀ Zᵀ X
RXtRX    XᵀX − Wᵀ A⁻¹ W   (= RXᵀ RX in lme4's notation)
beta     solution of RXtRX β = Xᵀy − Wᵀ A⁻¹ v  (the BLUE at θ)
u        A⁻¹ (v − W β)  (spherical random effects);  b = Λ u  (the BLUP)
pwrss    penalized weighted residual sum of squares ‖y − Xβ − ZΛu‖² + ‖u‖²
ldL2     log det A (= log |L|² in lme4)
ldRX2    log det RXtRX

Deviance (−2 log-likelihood, σ and β profiled out)::

    ML:   ldL2 + n (1 + log(2π pwrss / n))
    REML: ldL2 + ldRX2 + (n − p)(1 + log(2π pwrss / (n − p)))

A(θ) is handled by one of two engines, chosen once per model (:func:`make_system`): the blocked
engine (first term block-diagonal, dense Schur complement for the rest; fastest for the usual
one-big-factor designs) or the general sparse LDLᵀ engine.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .design.random import RandomDesign
from .linalg.blocked_system import MAX_DENSE, BlockedSystem
from .linalg.sparse_system import SparseSystem
from .deviance import DevianceParts
from .objective_dense import AugmentedObjective, use_augmented

MAX_PAIR_ENTRIES = 60_000_000
DENSE_ENTRIES = 100_000  # n·q up to which Z is kept dense on the fitting path


def make_system(Z: sp.spmatrix, ZtZ: sp.spmatrix, random: RandomDesign, engine: str = "auto"):
    """The factorization engine for A(θ): ``"blocked"``, ``"sparse"`` or ``"auto"`` (blocked when
    the Schur complement of the first term is small enough to be dense).

    Examples
    --------
    >>> import mixedpy
    >>> r = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy')).random
    >>> type(make_system(r.Z, r.Z.T @ r.Z, r)).__name__, type(make_system(r.Z, r.Z.T @ r.Z, r, 'sparse')).__name__
    ('BlockedSystem', 'SparseSystem')
    """
    t1 = random.terms[0]
    q2 = random.q - t1.q
    if engine == "auto":
        C = sp.csr_matrix(ZtZ[:t1.q, t1.q:])
        per_level = np.bincount(np.arange(t1.q) // t1.k, weights=np.diff(C.indptr), minlength=t1.nlev)
        engine = "blocked" if q2 <= MAX_DENSE and float(per_level @ per_level) <= MAX_PAIR_ENTRIES else "sparse"
    if engine == "blocked":
        return BlockedSystem(Z, t1.X, t1.codes, t1.nlev, random.Lambda_rows, random.Lambda_cols,
                             random.lind, slice(t1.theta_offset, t1.theta_offset + t1.ntheta))
    return SparseSystem(ZtZ, random.Lambda_rows, random.Lambda_cols, random.lind, random.ntheta)


class Workspace:
    """Cross-products and the symbolic factorization, built once per model.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    random : RandomDesign
    engine : {"auto", "blocked", "sparse"}
        Factorization of A(θ) (see :func:`make_system`).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ws = m.workspace
    >>> bool(abs(ws.deviance(m.theta, reml=True) - m.reml_criterion) < 1e-8)
    True
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign, engine: str = "auto"):
        self.X, self.y, self.random = X, y, random
        self.n, self.p = X.shape
        self._engine = engine
        self._system = None
        Z = random.Z
        self.Z = Z
        self.Zt = sp.csr_matrix(Z.T)
        self.ZtZ = sp.csr_matrix(self.Zt @ Z)
        self.ZtX = np.asarray(self.Zt @ X)
        self.Zty = np.asarray(self.Zt @ y).ravel()
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self._last_theta = None
        self._sparse = (Z, self.ZtZ)
        # small models: dense products (numpy's per-call cost is a fraction of scipy.sparse's)
        self.dense = random.q * self.n <= DENSE_ENTRIES
        if self.dense:
            self.Z, self.Zt, self.ZtZ = Z.toarray(), self.Zt.toarray(), self.ZtZ.toarray()
            self._Lam = np.zeros((random.q, random.q))
        # smaller still: the whole objective from one dense factor (mixedpy.objective_dense)
        self.augmented = None
        if engine == "auto" and use_augmented(random.q, self.p, len(random.terms)):
            ZtZ = self.ZtZ if self.dense else self.ZtZ.toarray()
            self.augmented = AugmentedObjective(ZtZ, self.ZtX, self.Zty, X, y, random.Lambda_rows,
                                                random.Lambda_cols, random.lind, random.ntheta)

    @property
    def system(self):
        """The factorization engine for A(θ) (built on first use: small models fit without it).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> type(ws.system).__name__
        'SparseSystem'
        """
        if self._system is None and self.random.q:
            self._system = make_system(*self._sparse, self.random, self._engine)
        return self._system

    def lam(self, theta: np.ndarray):
        """(Λ, Λᵀ) at θ for products on the fitting path (reused buffers: valid until the next call).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> Lam, LamT = ws.lam(np.array([1.0, 2.0, 3.0]))
        >>> Lam[:2, :2].tolist()
        [[1.0, 0.0], [2.0, 3.0]]
        """
        if not self.dense:
            return self.random.lambda_pair(theta)
        rd = self.random
        self._Lam[rd.Lambda_rows, rd.Lambda_cols] = theta[rd.lind]
        return self._Lam, self._Lam.T

    # --- the deviance ------------------------------------------------------------------------------
    def update(self, theta: np.ndarray) -> None:
        """Refactor A at θ (numeric factorization only; skipped when θ is unchanged).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> ws.update(m.theta)
        >>> bool(np.isclose(ws.system.logdet(), ws.parts(m.theta).ldL2))
        True
        """
        theta = np.asarray(theta, dtype=float)
        if self.system is None or (self._last_theta is not None and np.array_equal(theta, self._last_theta)):
            return
        self.system.update(theta)
        self._last_theta = theta.copy()

    def parts(self, theta: np.ndarray) -> DevianceParts:
        """All pieces of the profiled deviance at θ.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> p = ws.parts(m.theta)
        >>> p.beta.round(3).tolist(), bool(np.isclose(p.deviance(reml=True), m.reml_criterion))
        ([251.405, 10.467], True)
        """
        theta = np.asarray(theta, dtype=float)
        if self.augmented is not None:
            return self._augmented_parts(theta)
        self.update(theta)
        Lam, LamT = self.lam(theta)
        W = LamT @ self.ZtX
        v = LamT @ self.Zty
        if self.system is None:
            AinvW, Ainvv, ldL2 = W, v, 0.0
        else:
            sol = self.system.solve(np.column_stack([W, v]))
            AinvW, Ainvv, ldL2 = sol[:, :-1], sol[:, -1], self.system.logdet()
        RXtRX = self.XtX - W.T @ AinvW
        if self.p:
            cf = la.cho_factor(RXtRX, lower=True, check_finite=False)
            beta = la.cho_solve(cf, self.Xty - W.T @ Ainvv, check_finite=False)
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        else:
            beta, ldRX2 = np.zeros(0), 0.0
        u = Ainvv - AinvW @ beta
        resid = self.y - self.X @ beta - self.Z @ (Lam @ u) if self.random.q else self.y - self.X @ beta
        pwrss = float(resid @ resid + u @ u)
        return DevianceParts(theta=theta.copy(), beta=beta, u=u, pwrss=pwrss, ldL2=ldL2,
                             ldRX2=ldRX2, RXtRX=RXtRX, n=self.n, p=self.p, resid=resid, AinvW=AinvW)

    def _augmented_parts(self, theta: np.ndarray) -> DevianceParts:
        s = self.augmented.solution(theta)
        Lam, _ = self.lam(theta)
        resid = self.y - self.X @ s["beta"] - self.Z @ (Lam @ s["u"])
        return DevianceParts(theta=theta.copy(), n=self.n, p=self.p, resid=resid, **s)

    def deviance_and_gradient(self, theta: np.ndarray, reml: bool = True) -> tuple[float, np.ndarray]:
        """Profiled deviance and its analytic gradient in θ (see :mod:`mixedpy.gradient`).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> d, g = ws.deviance_and_gradient(m.theta)
        >>> bool(np.isclose(d, m.reml_criterion)), bool(np.all(np.abs(g) < 1e-2))
        (True, True)
        """
        if self.augmented is not None:
            return self.augmented.deviance_and_gradient(theta, reml)
        from .gradient import deviance_gradient
        try:
            parts = self.parts(theta)
            return parts.deviance(reml), deviance_gradient(self, parts, reml)
        except (la.LinAlgError, ValueError, FloatingPointError):
            return np.inf, np.zeros(len(theta))

    has_gradient = True

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance (REML criterion when ``reml``) at θ.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> bool(np.isclose(ws.deviance(m.theta), m.reml_criterion))
        True
        """
        if self.augmented is not None:
            return self.augmented.deviance(theta, reml)
        try:
            return self.parts(theta).deviance(reml)
        except (la.LinAlgError, ValueError, FloatingPointError):
            return np.inf

    # --- the solution's pieces (the workspace protocol: mixedpy.model.protocol) ------------------
    def blups(self, parts: DevianceParts) -> np.ndarray:
        """b = Λ(θ) u from the spherical effects of :meth:`parts`.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> bool(np.allclose(ws.blups(ws.parts(m.theta)), m.solution.b))
        True
        """
        return self.random.Lambda(parts.theta) @ parts.u if self.random.q else np.zeros(0)

    def conditional_variances(self, theta: np.ndarray, sigma: float) -> list[np.ndarray]:
        """Per term, an nlev × k × k array of Var(b_level | y) = σ² T (A⁻¹)_block Tᵀ (lme4's condVar).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> cv = ws.conditional_variances(m.theta, m.sigma)
        >>> [c.shape for c in cv], bool(np.allclose(cv[0], m.condvar('Subject')[0]))
        ([(18, 2, 2)], True)
        """
        theta = np.asarray(theta, dtype=float)
        if not self.random.q:
            return []
        self._last_theta = None  # the augmented path never factors A: force it here
        self.update(theta)
        out = []
        for term in self.random.terms:
            idx = term.offset + np.arange(term.nlev)[:, None] * term.k + np.arange(term.k)[None, :]
            blocks = self.system.inverse_blocks(idx)
            T = term.T(theta)
            out.append(sigma ** 2 * np.einsum("ab,lbc,dc->lad", T, blocks, T))
        return out

    def mme_system(self, theta: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, list[str]]:
        """Henderson's MME at θ: C = [[XᵀX, XᵀZ], [ZᵀX, ZᵀZ + σ²G⁻¹]] with σ²G⁻¹ = (ΛΛᵀ)⁻¹, its
        right-hand side and the names of the random effects (needs every variance positive).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> ws = Workspace(m.fixed.X, m.fixed.y, m.random, engine='sparse')
        >>> C, rhs, names = ws.mme_system(m.theta)
        >>> C.shape, names[:2]
        ((38, 38), ['Subject:308:(Intercept)', 'Subject:308:Days'])
        """
        theta = np.asarray(theta, dtype=float)
        rd = self.random
        if rd.q and np.any(rd.Lambda(theta).diagonal() == 0):
            raise np.linalg.LinAlgError("G is singular (a variance component is 0): Henderson's MME "
                                        "need G⁻¹; use the Λ-form of the objective instead")
        Lam_inv = sp.block_diag([sp.kron(sp.eye(t.nlev), np.linalg.inv(t.T(theta))) for t in rd.terms],
                                format="csc")
        ZtZ = sp.csc_matrix(self.ZtZ) + sp.csc_matrix(Lam_inv.T @ Lam_inv)
        ZtX = sp.csc_matrix(self.ZtX)
        C = sp.bmat([[sp.csc_matrix(self.XtX), ZtX.T], [ZtX, ZtZ]], format="csc")
        names = [f"{t.group}:{lev}:{c}" for t in rd.terms for lev in t.levels for c in t.columns]
        return C, np.concatenate([self.Xty, self.Zty]), names
