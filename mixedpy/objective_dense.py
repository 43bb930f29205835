"""The profiled deviance of a small model from one dense Cholesky factor of an augmented matrix.

For models with few random effects (q + p small) the whole objective fits in one dense matrix, as in
MixedModels.jl: with the cross-products Ω = [Z X y]ᵀ [Z X y] computed once and Λ̃ = diag(Λ, I),

    M(θ) = Λ̃ᵀ Ω Λ̃ + diag(I_q, 0) = L Lᵀ     ((q + p + 1) square, one LAPACK ``potrf`` per θ)

and every piece of the deviance is a log-determinant of a leading block of M (whose Cholesky
factor is the leading block of L)::

    ldL2  = log det M_q                       (M_q = ΛᵀZᵀZΛ + I = A)
    ldRX2 = log det M_{q+p} − log det M_q      (RXᵀRX, the Schur complement of A)
    pwrss = det M / det M_{q+p}  = L[-1, -1]²

The gradient uses ∂ log det M_m / ∂θ_r = 2 Σ_e (M_m⁻¹ K_m)[col_e, row_e] over the entries e of Λ
holding θ_r, with K = Λ̃ᵀ Ω[:, :q] (leading m rows) — no T⁻¹, so boundary θ are fine.

The response is replaced by its least-squares residual on X before Ω is formed: the profiled pwrss
is unchanged (β absorbs any multiple of X's columns) and ``L[-1, -1]²`` then does not lose digits
to yᵀy when the response has a large mean.

Values agree with :class:`mixedpy.objective.Workspace`'s general engines to rounding; the workspace
uses this engine for small q + p + 1 (see :func:`use_augmented`).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg.lapack as lapack

from .deviance import profiled_deviance

# Sizes of M up to which one dense factor beats the blocked/sparse engines per evaluation (measured
# with one BLAS thread: e.g. q + p + 1 = 78 takes 0.47 ms against 0.45 ms blocked for one term, 0.48
# against 1.35 ms for two crossed terms; at 153, 1.6 against 0.5 and 1.5 against 1.4 ms).
MAX_AUGMENTED = 80
MAX_AUGMENTED_CROSSED = 128  # more than one term: the blocked engine's Schur complement costs more


def use_augmented(q: int, p: int, nterms: int = 1) -> bool:
    """Whether the dense augmented engine is the faster one for a model of this size.

    Examples
    --------
    >>> use_augmented(36, 2), use_augmented(5000, 2), use_augmented(0, 2)
    (True, False, False)
    """
    m = q + p + 1
    return 0 < q and (m <= MAX_AUGMENTED or (nterms > 1 and m <= MAX_AUGMENTED_CROSSED))


class AugmentedObjective:
    """Profiled deviance and its gradient through the augmented dense factor (module docstring).

    Parameters
    ----------
    ZtZ : ndarray (q, q)
    ZtX : ndarray (q, p)
    Zty : ndarray (q,)
    X : ndarray (n, p)
    y : ndarray (n,)
    Lambda_rows, Lambda_cols, lind : ndarray
        The θ → Λ pattern (:class:`mixedpy.design.random.RandomDesign`).
    ntheta : int

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> aug = m.workspace.augmented
    >>> bool(abs(aug.deviance(m.theta, reml=True) - m.reml_criterion) < 1e-8)
    True
    """

    def __init__(self, ZtZ, ZtX, Zty, X, y, Lambda_rows, Lambda_cols, lind, ntheta):
        self.n, self.p = X.shape
        self.q = q = ZtZ.shape[0]
        self.rows, self.cols, self.lind, self.ntheta = Lambda_rows, Lambda_cols, lind, ntheta
        # residualize y on X (see the module docstring): y = X β0 + y_r
        self.beta0 = np.linalg.lstsq(X, y, rcond=None)[0] if self.p else np.zeros(0)
        y_r = y - X @ self.beta0
        Zty_r = Zty - ZtX @ self.beta0
        m = q + self.p + 1
        Om = np.empty((m, m))
        Om[:q, :q] = ZtZ
        Om[:q, q:q + self.p] = ZtX
        Om[:q, -1] = Zty_r
        Om[q:q + self.p, q:q + self.p] = X.T @ X
        Om[q:q + self.p, -1] = X.T @ y_r
        Om[-1, -1] = y_r @ y_r
        self.Omega = np.triu(Om) + np.triu(Om, 1).T
        self._Lam = np.zeros((q, q))
        self._theta: np.ndarray | None = None
        self._L: np.ndarray | None = None
        self._K: np.ndarray | None = None

    # --- factor -------------------------------------------------------------------------------------
    def factor(self, theta: np.ndarray) -> np.ndarray:
        """L at θ (cached for the last θ); raises ``numpy.linalg.LinAlgError`` if M is not
        positive definite (a response the fixed effects fit exactly).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> aug = m.workspace.augmented
        >>> L = aug.factor(m.theta)
        >>> L.shape, bool(np.allclose(L, np.tril(L)))
        ((39, 39), True)
        """
        theta = np.asarray(theta, dtype=float)
        if self._theta is not None and np.array_equal(theta, self._theta):
            return self._L
        q = self.q
        Lam = self._Lam
        Lam[self.rows, self.cols] = theta[self.lind]
        R = Lam.T @ self.Omega[:q]                    # Λᵀ Ω[:q, :]  (q × m)
        M = self.Omega.copy()
        M[:q, :q] = R[:, :q] @ Lam
        M[:q, q:] = R[:, q:]
        M[q:, :q] = R[:, q:].T
        M[np.arange(q), np.arange(q)] += 1.0
        L, info = lapack.dpotrf(M, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"augmented matrix not positive definite (potrf info {info})")
        K = np.empty((M.shape[0], q))
        K[:q] = R[:, :q]
        K[q:] = self.Omega[q:, :q]
        self._theta, self._L, self._K = theta.copy(), L, K
        return L

    def logdets(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(ldL2, ldRX2, pwrss) at θ.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> aug = m.workspace.augmented
        >>> ldL2, ldRX2, pwrss = aug.logdets(m.theta)
        >>> p = m.workspace.parts(m.theta)
        >>> bool(np.allclose([ldL2, ldRX2, pwrss], [p.ldL2, p.ldRX2, p.pwrss]))
        True
        """
        L = self.factor(theta)
        d = np.log(np.diag(L))
        q, p = self.q, self.p
        return 2.0 * float(d[:q].sum()), 2.0 * float(d[q:q + p].sum()), float(L[-1, -1] ** 2)

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance (REML criterion when ``reml``) at θ; inf where M is not positive definite.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> aug = m.workspace.augmented
        >>> bool(np.isclose(aug.deviance(m.theta, reml=True), m.reml_criterion))
        True
        """
        try:
            ldL2, ldRX2, pwrss = self.logdets(theta)
        except np.linalg.LinAlgError:
            return np.inf
        return profiled_deviance(ldL2, ldRX2, pwrss, self.n, self.p, reml)

    # --- gradient -----------------------------------------------------------------------------------
    def _logdet_gradient(self, m: int) -> np.ndarray:
        """∂ log det M_m / ∂θ at the cached θ (M_m the leading m × m block)."""
        if m == 0:
            return np.zeros(self.ntheta)
        Lm = self._L[:m, :m]
        S, info = lapack.dpotrs(Lm, self._K[:m], lower=1)
        prod = S[self.cols, self.rows]
        return 2.0 * np.bincount(self.lind, weights=prod, minlength=self.ntheta)

    def gradient_pieces(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(∂ ldL2, ∂ ldRX2, ∂ pwrss) at θ (as :func:`mixedpy.gradient.gradient_pieces`).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> aug = m.workspace.augmented
        >>> [g.shape for g in aug.gradient_pieces(m.theta)]
        [(3,), (3,), (3,)]
        """
        ldL2, ldRX2, pwrss = self.logdets(theta)
        q, p = self.q, self.p
        g_q = self._logdet_gradient(q)
        g_qp = self._logdet_gradient(q + p) if p else g_q
        g_all = self._logdet_gradient(q + p + 1)
        return g_q, g_qp - g_q, pwrss * (g_all - g_qp)

    def deviance_and_gradient(self, theta: np.ndarray, reml: bool = True) -> tuple[float, np.ndarray]:
        """Deviance and its analytic gradient (inf and zeros where M is not positive definite).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> aug = m.workspace.augmented
        >>> d, g = aug.deviance_and_gradient(m.theta)
        >>> bool(np.isclose(d, m.reml_criterion)), g.shape, bool(np.all(np.abs(g) < 1e-2))
        (True, (3,), True)
        """
        try:
            ldL2, ldRX2, pwrss = self.logdets(theta)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros(self.ntheta)
        q, p = self.q, self.p
        nres = self.n - p if reml else self.n
        g_qp = self._logdet_gradient(q + p)
        g_all = self._logdet_gradient(q + p + 1)
        lead = g_qp if reml else (self._logdet_gradient(q) if p else g_qp)
        return profiled_deviance(ldL2, ldRX2, pwrss, self.n, p, reml), lead + nres * (g_all - g_qp)

    # --- the solution ---------------------------------------------------------------------------
    def solution(self, theta: np.ndarray) -> dict:
        """β̂, u, RXᵀRX, A⁻¹W and the deviance pieces at θ (for :class:`DevianceParts`).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (Days | Subject)', mixedpy.datasets.load('sleepstudy'))
        >>> aug = m.workspace.augmented
        >>> s = aug.solution(m.theta)
        >>> sorted(s), s['beta'].round(3).tolist()
        (['AinvW', 'RXtRX', 'beta', 'ldL2', 'ldRX2', 'pwrss', 'u'], [251.405, 10.467])
        """
        ldL2, ldRX2, pwrss = self.logdets(theta)
        L, q, p = self._L, self.q, self.p
        LZ, LXZ, LX = L[:q, :q], L[q:q + p, :q], L[q:q + p, q:q + p]
        beta_r = lapack.dtrtrs(LX, L[-1, q:q + p], lower=1, trans=1)[0] if p else np.zeros(0)
        u = lapack.dtrtrs(LZ, L[-1, :q] - LXZ.T @ beta_r, lower=1, trans=1)[0]
        AinvW = lapack.dtrtrs(LZ, LXZ.T, lower=1, trans=1)[0] if p else np.zeros((q, 0))
        return dict(beta=beta_r + self.beta0, u=u, RXtRX=LX @ LX.T, AinvW=AinvW, ldL2=ldL2,
                    ldRX2=ldRX2, pwrss=pwrss)
