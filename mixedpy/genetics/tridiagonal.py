"""The deviance of a model whose random part is one dense-K term (GBLUP), O(n) per θ.

Model: y = Xβ + Zb + e with one random term of one column (``(1 | id)``, or ``(0 + x | id)``),
b ~ N(0, σ²θ² K) for a dense relationship matrix K and e ~ N(0, σ²I), so V/σ² = I + θ² Z K Zᵀ.

Glossary
--------
rec      the levels with records (m of them); D = diag(c), c = Σ z² over each level's records
N        D^½ K_rec D^½ (m × m).  U = Z_rec D^-½ has orthonormal columns and Z K Zᵀ = U N Uᵀ
Q, T     N = Q T Qᵀ with T tridiagonal (LAPACK ``dsytrd`` once; Q kept as Householder reflectors,
         applied with ``dormqr``)
hat      x̂ = Qᵀ D^-½ Z_recᵀ x (m): the coordinates of x in span(Z), in the basis U Q
within   x_w = x − Z_rec D⁻¹ Z_recᵀ x: the part of x orthogonal to span(Z)

In the basis [U Q, complement], V/σ² is I + θ²T on the hat part and I on the within part, so for
any θ, with S = (I + θ²T)⁻¹ [ŷ X̂] by an O(m) tridiagonal LDLᵀ (``dpttrf``/``dpttrs``)::

    ldL2  = log|V/σ²| = log|I + θ²T|                      (Σ log of the LDLᵀ pivots)
    RXtRX = XᵀV⁻¹X σ² = X_wᵀX_w + X̂ᵀ(I + θ²T)⁻¹X̂,  β̂ = RXtRX⁻¹ (X_wᵀy_w + X̂ᵀ(I + θ²T)⁻¹ŷ)
    pwrss = (y − Xβ̂)ᵀ(V/σ²)⁻¹(y − Xβ̂) = ‖y_w − X_wβ̂‖² + r̂ᵀ(I + θ²T)⁻¹r̂,  r̂ = ŷ − X̂β̂

which are lme4's pieces (:class:`mixedpy.objective.DevianceParts`), so the ML and REML criteria
are exactly those of the other workspaces; only the O(m³) reduction is done once (about a third
of a full eigendecomposition, FaST-LMM's approach).  θ = 0 needs no special care (V = I).

At the solution, b̂ = θ² K Zᵀ(V/σ²)⁻¹r = θ² K_{·rec} D^½ Q (I + θ²T)⁻¹ r̂ for every level of K, and
the conditional variances (lme4's condVar, β given) are
σ²[θ² K_ll − θ⁴ ‖R⁻¹ D^½ K_{rec,l}‖²] with R Rᵀ = I + θ²N (one Cholesky, when asked for).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.linalg import lapack

from ..design.random import RandomDesign
from ..errors import DataError
from ..deviance import DevianceParts, profiled_deviance
from ..threads import blas_limit
from .relmat import PSD_TOL, check_psd, not_psd_error


def single_dense_term(random: RandomDesign, structures: list) -> bool:
    """Whether the random part is one single-column term with a dense K (this workspace's case).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mixedpy.genetics.mme import MMEWorkspace
    >>> from mixedpy.model.spec import model_spec
    >>> rng = np.random.default_rng(0)
    >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
    >>> ids = [f"i{k}" for k in range(30)]
    >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
    >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
    >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
    >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
    >>> single_dense_term(s.random, s.structures)
    True
    """
    return (len(random.terms) == 1 and structures[0].kind == "factor" and random.terms[0].k == 1)


def tridiagonal_solve(diag: np.ndarray, off: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pivots of the LDLᵀ, M⁻¹B) for the SPD tridiagonal M = tridiag(off, diag, off) (``dpttrf``).

    Examples
    --------
    >>> import numpy as np
    >>> diag, off = np.array([2.0, 2.0, 2.0]), np.array([-1.0, -1.0])
    >>> pivots, X = tridiagonal_solve(diag, off, np.ones((3, 1)))
    >>> X[:, 0].round(4).tolist()
    [1.5, 2.0, 1.5]
    """
    if len(diag) == 1:   # LAPACK's wrappers want a non-empty off-diagonal
        if not diag[0] > 0:
            raise la.LinAlgError("I + θ²T is not positive definite")
        return diag, B / diag[0]
    dd, ee, info = lapack.dpttrf(diag, off)
    if info != 0 or np.any(dd <= 0):
        raise la.LinAlgError("I + θ²T is not positive definite")
    S, info = lapack.dpttrs(dd, ee, B)
    if info != 0:
        raise la.LinAlgError("tridiagonal solve failed")
    return dd, S


class Householder:
    """Q of a ``dsytrd`` reduction (lower storage), applied to blocks of vectors with ``dormqr``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import lapack
    >>> A = np.array([[4.0, 1.0, 2.0], [1.0, 3.0, 0.5], [2.0, 0.5, 2.0]])
    >>> a, d, e, tau, info = lapack.dsytrd(A, lower=1)
    >>> Q = Householder(a, tau).apply(np.eye(3), transpose=False)
    >>> T = np.diag(d) + np.diag(e, 1) + np.diag(e, -1)
    >>> bool(np.allclose(Q @ T @ Q.T, A))
    True
    """

    def __init__(self, a: np.ndarray, tau: np.ndarray):
        self.m = a.shape[0]
        self._a = np.asfortranarray(a[1:, :-1]) if self.m > 1 else None
        self._tau = tau

    def apply(self, B: np.ndarray, transpose: bool) -> np.ndarray:
        """Qᵀ B (``transpose``) or Q B.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy.linalg import lapack
        >>> A = np.array([[4.0, 1.0, 2.0], [1.0, 3.0, 0.5], [2.0, 0.5, 2.0]])
        >>> a, d, e, tau, info = lapack.dsytrd(A, lower=1)
        >>> H = Householder(a, tau)
        >>> B = np.arange(6.0).reshape(3, 2)
        >>> bool(np.allclose(H.apply(H.apply(B, transpose=True), transpose=False), B))
        True
        """
        B = np.asarray(B, dtype=float)
        out = np.array(B.reshape(-1, 1) if B.ndim == 1 else B, order="F", copy=True)
        if self.m > 1 and out.shape[1]:
            lwork = max(1, 64 * out.shape[1])
            res = lapack.dormqr("L", "T" if transpose else "N", self._a, self._tau, out[1:], lwork=lwork,
                                overwrite_c=0)
            if res[-1] != 0:
                raise DataError(f"applying the tridiagonal reduction failed (LAPACK dormqr info {res[-1]})")
            out[1:] = res[0]
        return out


class TridiagonalWorkspace:
    """Profiled (RE)ML deviance of a single dense-K term by one tridiagonal reduction (see the
    module docstring).

    Same interface as :class:`mixedpy.genetics.mme.MMEWorkspace` (``deviance``, ``parts``,
    ``update``, ``effects``, ``conditional_variances``, ``n``, ``p``, ``X``, ``y``, ``random``);
    here the working coefficients ``u`` are b itself, for every level of K.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    random : RandomDesign
        One term with one column, over all levels of K.
    structures : list of one TermStructure
        Its ``factor`` structure (the dense K).

    Examples
    --------
    >>> import numpy as np, pandas as pd, mixedpy
    >>> from mixedpy.genetics.mme import MMEWorkspace
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.model.workspace import workspace_for
    >>> rng = np.random.default_rng(0)
    >>> W = rng.normal(size=(30, 60)); K = W @ W.T / 60
    >>> ids = [f"i{k}" for k in range(30)]
    >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
    >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
    >>> ws = workspace_for(s)
    >>> type(ws).__name__
    'TridiagonalWorkspace'
    >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
    >>> bool(np.isclose(ws.deviance([0.7]), general.deviance([0.7]), rtol=1e-10))
    True
    """

    kind = "tridiagonal"
    dense = True

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign, structures: list):
        if not single_dense_term(random, structures):
            raise ValueError("TridiagonalWorkspace needs exactly one single-column dense-K term")
        self.X, self.y, self.random = np.asarray(X, dtype=float), np.asarray(y, dtype=float), random
        self.n, self.p = self.X.shape
        self.structures = list(structures)
        self.K = structures[0].K
        self.Z = sp.csc_matrix(random.Z)
        self.q = random.q
        self.nlat, self.woff = [random.q], [0]
        c = np.asarray(self.Z.multiply(self.Z).sum(axis=0)).ravel()
        self.rec = np.flatnonzero(c > 0)
        self.sqrt_c = np.sqrt(c[self.rec])
        YX = np.column_stack([self.y, self.X])
        ZtYX = np.asarray(self.Z.T @ YX)[self.rec]
        means = np.zeros((self.q, YX.shape[1]))
        means[self.rec] = ZtYX / c[self.rec, None]
        self._within = YX - self.Z @ means                       # [y_w, X_w]
        self._wcross = self._within.T @ self._within
        with blas_limit():
            N = self.K[np.ix_(self.rec, self.rec)] * np.outer(self.sqrt_c, self.sqrt_c)
            m = len(self.rec)
            if m > 1:
                lwork = int(lapack.dsytrd_lwork(m, lower=1)[0])
                # N is symmetric: its transpose is the same matrix in Fortran order (no copy by f2py)
                a, self.d, self.e, tau, info = lapack.dsytrd(N.T, lower=1, lwork=max(lwork, 1), overwrite_a=1)
                if info != 0:
                    raise DataError(f"tridiagonal reduction of the relationship matrix failed (LAPACK info {info})")
            else:   # one level with records: N is already "tridiagonal"
                a, self.d, self.e, tau = N, np.diag(N).copy(), np.zeros(0), np.zeros(0)
            self._check_psd(structures[0], m)
            self.Q = Householder(a, tau)
            self._hat = self.Q.apply(ZtYX / self.sqrt_c[:, None], transpose=True)   # [ŷ, X̂]
        self._last = None

    def _check_psd(self, st, m: int) -> None:
        """K must be positive semidefinite: T is similar to N, congruent to K_rec, so T's smallest
        eigenvalue (bisection, O(m) a step) decides when every level has records; otherwise K is
        checked by a Cholesky factorization (:func:`~mixedpy.genetics.relmat.check_psd`)."""
        if m < self.q:
            check_psd(self.K, st.name)
        elif m > 1:
            low = float(la.eigvalsh_tridiagonal(self.d, self.e, select="i", select_range=(0, 0),
                                                check_finite=False)[0])
            N_diag_max = float(np.max(self.sqrt_c ** 2 * np.diag(self.K)[self.rec]))
            if low < -PSD_TOL * m * N_diag_max:
                raise not_psd_error(st.name, low)

    # --- the deviance --------------------------------------------------------------------------------
    def _pieces(self, theta: np.ndarray) -> dict:
        """β̂, pwrss, ldL2, ldRX2, RXtRX, r̂ and (I + θ²T)⁻¹r̂ at θ (O(m p) work)."""
        theta = np.asarray(theta, dtype=float)
        if self._last is not None and np.array_equal(theta, self._last[0]):
            return self._last[1]
        dd, S = tridiagonal_solve(1.0 + float(theta[0]) ** 2 * self.d, float(theta[0]) ** 2 * self.e, self._hat)
        M = self._hat.T @ S + self._wcross
        RXtRX = M[1:, 1:]
        if self.p:
            cf = la.cho_factor(RXtRX, lower=True, check_finite=False)
            beta = la.cho_solve(cf, M[1:, 0], check_finite=False)
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        else:
            beta, ldRX2 = np.zeros(0), 0.0
        r_hat = self._hat[:, 0] - self._hat[:, 1:] @ beta
        s = S[:, 0] - S[:, 1:] @ beta                            # (I + θ²T)⁻¹ r̂ (S is linear in [ŷ X̂])
        r_w = self._within[:, 0] - self._within[:, 1:] @ beta
        out = {"beta": beta, "pwrss": float(r_w @ r_w + r_hat @ s), "ldL2": float(np.sum(np.log(dd))),
                   "ldRX2": ldRX2, "RXtRX": RXtRX, "s": s}
        self._last = (theta.copy(), out)
        return out

    def update(self, theta: np.ndarray) -> None:
        """Compute (and cache) the pieces of the deviance at θ.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mixedpy.genetics.mme import MMEWorkspace
        >>> from mixedpy.model.spec import model_spec
        >>> rng = np.random.default_rng(0)
        >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
        >>> ids = [f"i{k}" for k in range(30)]
        >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
        >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
        >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> ws.update(np.array([0.7]))
        >>> bool(np.isclose(ws.deviance([0.7]), general.deviance([0.7]), rtol=1e-10))
        True
        """
        self._pieces(theta)

    def parts(self, theta: np.ndarray) -> DevianceParts:
        """The profiled deviance's pieces at θ (:class:`mixedpy.deviance.DevianceParts`).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mixedpy.genetics.mme import MMEWorkspace
        >>> from mixedpy.model.spec import model_spec
        >>> rng = np.random.default_rng(0)
        >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
        >>> ids = [f"i{k}" for k in range(30)]
        >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
        >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
        >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> bool(np.allclose(ws.parts(np.array([0.7])).beta, general.parts(np.array([0.7])).beta))
        True
        """
        theta = np.asarray(theta, dtype=float)
        P = self._pieces(theta)
        w = np.zeros(self.q)
        w[self.rec] = self.sqrt_c * self.Q.apply(P["s"], False)[:, 0]      # Zᵀ(V/σ²)⁻¹r
        b = float(theta[0]) ** 2 * (self.K @ w)
        resid = self.y - self.X @ P["beta"] - self.Z @ b
        return DevianceParts(theta=theta.copy(), beta=P["beta"], u=b, pwrss=P["pwrss"], ldL2=P["ldL2"],
                             ldRX2=P["ldRX2"], RXtRX=P["RXtRX"], n=self.n, p=self.p, resid=resid)

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance (REML criterion when ``reml``) at θ.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mixedpy.genetics.mme import MMEWorkspace
        >>> from mixedpy.model.spec import model_spec
        >>> rng = np.random.default_rng(0)
        >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
        >>> ids = [f"i{k}" for k in range(30)]
        >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
        >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
        >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> bool(np.isclose(ws.deviance([0.7], reml=False), general.deviance([0.7], reml=False), rtol=1e-10))
        True
        """
        try:
            P = self._pieces(theta)
        except (la.LinAlgError, ValueError, FloatingPointError):
            return np.inf
        return profiled_deviance(P["ldL2"], P["ldRX2"], P["pwrss"], self.n, self.p, reml)

    # --- effects, conditional variances, the MME ----------------------------------------------------
    def effects(self, u: np.ndarray) -> np.ndarray:
        """b from the working coefficients (here b itself).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mixedpy.genetics.mme import MMEWorkspace
        >>> from mixedpy.model.spec import model_spec
        >>> rng = np.random.default_rng(0)
        >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
        >>> ids = [f"i{k}" for k in range(30)]
        >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
        >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
        >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> ws.effects([1.0, 2.0]).tolist()
        [1.0, 2.0]
        """
        return np.asarray(u, dtype=float)

    def conditional_variances(self, theta: np.ndarray, sigma: float) -> list[np.ndarray]:
        """[nlev × 1 × 1] Var(b − b̂ | y, β = β̂) = σ²[θ²K − θ⁴ K Zᵀ(I + θ²ZKZᵀ)⁻¹ZK] (diagonal).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mixedpy.genetics.mme import MMEWorkspace
        >>> from mixedpy.model.spec import model_spec
        >>> rng = np.random.default_rng(0)
        >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
        >>> ids = [f"i{k}" for k in range(30)]
        >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
        >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
        >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> cv = ws.conditional_variances(np.array([0.7]), 1.0)
        >>> ref = general.conditional_variances(np.array([0.7]), 1.0)
        >>> cv[0].shape, bool(np.allclose(cv[0], ref[0]))
        ((30, 1, 1), True)
        """
        t2 = float(np.asarray(theta, dtype=float)[0]) ** 2
        with blas_limit():
            A = np.eye(len(self.rec)) + t2 * self.K[np.ix_(self.rec, self.rec)] * np.outer(self.sqrt_c, self.sqrt_c)
            R = la.cholesky(A, lower=True, overwrite_a=True, check_finite=False)
            Y = la.solve_triangular(R, self.sqrt_c[:, None] * self.K[self.rec], lower=True, check_finite=False)
        pev = t2 * np.diag(self.K) - t2 * t2 * np.einsum("ij,ij->j", Y, Y)
        return [sigma ** 2 * np.maximum(pev, 0.0)[:, None, None]]

    has_gradient = False

    def blups(self, parts: DevianceParts) -> np.ndarray:
        """b (the working coefficients are b itself here).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mixedpy.genetics.mme import MMEWorkspace
        >>> from mixedpy.model.spec import model_spec
        >>> rng = np.random.default_rng(0)
        >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
        >>> ids = [f"i{k}" for k in range(30)]
        >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
        >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
        >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> b = ws.blups(ws.parts(np.array([0.7])))
        >>> bool(np.allclose(b, general.blups(general.parts(np.array([0.7])))))
        True
        """
        return np.asarray(parts.u, dtype=float)

    def mme_system(self, theta: np.ndarray):
        """The MME of the general :class:`~mixedpy.genetics.mme.MMEWorkspace` of this model (built on
        demand: its MME are in the latent effects of K = F Fᵀ).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from mixedpy.genetics.mme import MMEWorkspace
        >>> from mixedpy.model.spec import model_spec
        >>> rng = np.random.default_rng(0)
        >>> F = rng.normal(size=(30, 60)); K = F @ F.T / 60
        >>> ids = [f"i{k}" for k in range(30)]
        >>> d = pd.DataFrame({"y": rng.normal(size=50), "id": rng.choice(ids, 50)})
        >>> s = model_spec("y ~ 1 + (1 | id)", d, relmat={"id": pd.DataFrame(K, index=ids, columns=ids)})
        >>> ws = TridiagonalWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> general = MMEWorkspace(s.fixed.X, s.fixed.y, s.random, s.structures)
        >>> C, rhs, names = ws.mme_system(np.array([0.7]))
        >>> C.shape, len(names), names[0]  # 1 fixed effect, 30 latent effects
        ((31, 31), 30, 'id:latent0:(Intercept)')
        """
        if not hasattr(self, "_mme"):
            from .mme import MMEWorkspace
            self._mme = MMEWorkspace(self.X, self.y, self.random, self.structures)
        return self._mme.mme_system(theta)

