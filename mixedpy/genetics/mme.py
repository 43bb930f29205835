"""The profiled deviance through Henderson's mixed model equations (the G⁻¹ form).

For random terms whose covariance involves a known relationship matrix K, lme4's Λ-form needs a
factor of K, which for a pedigree is dense.  The MME form needs K⁻¹, which for a pedigree is sparse
(Henderson's rules), so this workspace works with

    C(θ) = Zᵀ Z + Γ(θ)⁻¹          (q × q sparse SPD; its elimination order analysed once)

where Var(b) = σ² Γ(θ) and, for term j with k_j columns, Γ_j = K_j ⊗ T_j T_jᵀ (K_j = I for ordinary
terms).  Terms given a dense K use a factor K = F Fᵀ instead: their effects are b = (F ⊗ I) a with
iid a and design Z (F ⊗ I), so singular (semidefinite) K need no inverse; below, Z and Γ are those of
the working coefficients (b, or a for such terms).

Why this is the same deviance as lme4's
---------------------------------------
With Λ a factor of Γ (ΛΛᵀ = Γ), A = ΛᵀZᵀZΛ + I satisfies |A| = |Γ| |ZᵀZ + Γ⁻¹| and
Λ A⁻¹ Λᵀ = (ZᵀZ + Γ⁻¹)⁻¹, so with C = ZᵀZ + Γ⁻¹::

    ldL2   = log|A| = log|C| + log|Γ|,   log|Γ_j| = k_j log|K_j| + nlev_j log|T_j T_jᵀ|
    RXtRX  = XᵀX − XᵀZ C⁻¹ ZᵀX            (the Schur complement of C in the full MME matrix)
    β̂      = RXtRX⁻¹ (Xᵀy − XᵀZ C⁻¹ Zᵀy),  b̂ = C⁻¹ Zᵀ(y − Xβ̂)
    pwrss  = ‖y − Xβ̂ − Zb̂‖² + b̂ᵀ Γ⁻¹ b̂     (= ‖r‖² + ‖u‖² with u = Λ⁻¹ b)
    log|V/σ²| = log|I + ZΓZᵀ| = ldL2,  and REML adds ldRX2 = log|RXtRX|

and the ML and REML deviances are exactly those of :class:`mixedpy.objective.DevianceParts`.
A θ element on its bound 0 makes Γ singular; diagonal elements of T are therefore evaluated at no
less than ``THETA_FLOOR`` (1e-7) for a one-column term: the deviance is even in each such element, so
the error is O(1e-14).  For a term with several columns at a boundary (a correlation of ±1), Γ⁻¹'s
entries of order floor⁻² meet ZᵀZ's in one matrix and the factorization loses floor⁻²·ε of its
digits (1e-2 in the deviance at 1e-7); there the floor is ``VECTOR_FLOOR`` (1e-4), which balances that
rounding against the O(floor²) change of the deviance (both ~1e-7; :func:`floored_factor`).

Working coefficients and cross-products
---------------------------------------
With M = blockdiag(I, or F_j ⊗ I_k for factor terms) the working design is Z M, so the working
cross-products Mᵀ(ZᵀZ)M, Mᵀ ZᵀX and Mᵀ Zᵀy are formed once from the sparse ZᵀZ, ZᵀX, Zᵀy
(never the dense n × r product Z F); residuals use b = M a and the sparse Z.

The factorization is a dense Cholesky of C assembled in place (ZᵀZ plus Γ⁻¹'s entries) when q is
small, the matrix dense or a term uses a factor; otherwise a block elimination by independent sets
ending in a dense Cholesky (:mod:`mixedpy.genetics.elimination`; its ordering is analysed once).
For a single one-column dense-K term, C = (ZF)ᵀ(ZF) + θ⁻²I is diagonalized once instead
(``_SpectralFactor``), so a new θ costs O(q²) per solve or draw (the Gibbs sampler's case; REML fits
of that model use :mod:`mixedpy.genetics.tridiagonal`).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from ..design.random import RandomDesign
from ..deviance import DevianceParts
from ..errors import ModelSpecError
from .elimination import EliminationFactor
from .relmat import TermStructure

THETA_FLOOR = 1e-7
VECTOR_FLOOR = 1e-4
DENSE_MAX = 2500


class _DenseFactor:
    """Dense Cholesky with the interface of :class:`EliminationFactor` (plus the full inverse)."""

    def refactor_dense(self, C: np.ndarray) -> None:
        """Factor the full symmetric matrix C (overwritten)."""
        self.shape = C.shape
        self.cf = la.cho_factor(C, lower=True, overwrite_a=True, check_finite=False)
        self._inv = None

    def logdet(self) -> float:
        return 2.0 * float(np.sum(np.log(np.diag(self.cf[0]))))

    def solve(self, B: np.ndarray) -> np.ndarray:
        return la.cho_solve(self.cf, B, check_finite=False)

    def inverse(self) -> np.ndarray:
        if self._inv is None:
            self._inv = self.solve(np.eye(self.shape[0]))
        return self._inv

    def inverse_blocks(self, blocks: np.ndarray) -> np.ndarray:
        inv = self.inverse()
        return inv[blocks[:, :, None], blocks[:, None, :]]

    def draw(self, z: np.ndarray) -> np.ndarray:
        """x = L⁻ᵀ z, so that x ~ N(0, C⁻¹) when z ~ N(0, I)."""
        return la.solve_triangular(self.cf[0], z, lower=True, trans="T", check_finite=False)


class _SpectralFactor:
    """C = M + λI from one eigendecomposition M = W diag(s) Wᵀ: a single one-column dense-K term,
    whose Γ⁻¹ is λI (λ = θ⁻²), so each new θ costs O(1) to "factor" and O(q²) per solve or draw."""

    def __init__(self, M: np.ndarray):
        s, self.W = la.eigh(M, check_finite=False)
        self.s = np.maximum(s, 0.0)   # M = (Z F)ᵀ(Z F) is positive semidefinite
        self.shape = M.shape
        self.set_shift(1.0)

    def set_shift(self, lam: float) -> None:
        self.d = self.s + lam
        self._inv = None

    def logdet(self) -> float:
        return float(np.sum(np.log(self.d)))

    def solve(self, B: np.ndarray) -> np.ndarray:
        WtB = self.W.T @ B
        return self.W @ (WtB / (self.d[:, None] if WtB.ndim == 2 else self.d))

    def inverse(self) -> np.ndarray:
        if self._inv is None:
            self._inv = (self.W / self.d) @ self.W.T
        return self._inv

    def inverse_blocks(self, blocks: np.ndarray) -> np.ndarray:
        inv = self.inverse()
        return inv[blocks[:, :, None], blocks[:, None, :]]

    def draw(self, z: np.ndarray) -> np.ndarray:
        """x = W diag(d)^-½ z, so that x ~ N(0, C⁻¹) when z ~ N(0, I)."""
        return self.W @ (z / np.sqrt(self.d))


def _upper_keys(M: sp.spmatrix, q: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    M = sp.triu(sp.coo_matrix(M), format="coo")
    return (M.col.astype(np.int64) + offset) * q + (M.row.astype(np.int64) + offset), M.data


def _factor_t(F: np.ndarray, rows, k: int) -> np.ndarray:
    """(F ⊗ I_k)ᵀ R for R (dense or sparse) with nlev·k level-major rows: r·k dense rows."""
    out = np.empty((F.shape[1], k, rows.shape[1]))
    for c in range(k):
        sub = rows[c::k]
        out[:, c, :] = (sub.T @ F).T if sp.issparse(sub) else F.T @ sub
    return out.reshape(F.shape[1] * k, rows.shape[1])


def penalty_pieces(terms, bases, offsets, q: int) -> list:
    """The penalty K⁻¹ ⊗ G⁻¹ of the MME by entries of G⁻¹: per term j and entry (a, b) of its
    k × k block, the (upper-triangle keys, values) of base_j ⊗ E_ab placed at ``offsets[j]`` (the
    symbolic pieces every value of C is assembled from).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> pcs = penalty_pieces(m.random.terms, [sp.identity(18)], [0], 36)
    >>> [(j, a, b) for j, a, b, _, _ in pcs]
    [(0, 0, 0), (0, 0, 1), (0, 1, 1)]
    """
    pieces = []
    for j, t in enumerate(terms):
        for a in range(t.k):
            for b in range(a, t.k):
                E = np.zeros((t.k, t.k))
                E[a, b] = E[b, a] = 1.0
                keys, vals = _upper_keys(sp.kron(bases[j], E), q, offsets[j])
                pieces.append((j, a, b, keys, vals))
    return pieces


def floored_factor(T: np.ndarray) -> np.ndarray:
    """T with diagonal elements below the floor in absolute value set to it: ``THETA_FLOOR`` for a
    1 × 1 T, ``VECTOR_FLOOR`` for a larger one (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> floored_factor(np.array([[0.0]])).tolist(), floored_factor(np.array([[1.0, 0.0], [2.0, 0.0]])).tolist()
    ([[1e-07]], [[1.0, 0.0], [2.0, 0.0001]])
    """
    T = np.array(T, dtype=float)
    floor = THETA_FLOOR if T.shape[0] == 1 else VECTOR_FLOOR
    d = np.diag(T)
    T[np.diag_indices_from(T)] = np.where(np.abs(d) < floor, floor, d)
    return T


class MMEWorkspace:
    """The profiled (RE)ML deviance through the MME (see the module docstring).

    Same interface as :class:`mixedpy.objective.Workspace`: ``deviance(theta, reml)``,
    ``parts(theta)``, ``update(theta)``, ``n``, ``p``, ``X``, ``y``, ``random``.  In the returned
    :class:`DevianceParts`, ``u`` holds the working coefficients (b, or a for factor terms); use
    :meth:`effects` for b.  ``Z`` is the sparse design of b (``random.Z``); ``ZtX``, ``Zty`` and
    ``factor`` (of C) are those of the working coefficients, ``woff``/``nlat`` their offset and
    number of levels per term.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    random : RandomDesign
        Relmat terms over all levels of their K.
    structures : list of TermStructure
        One per term of ``random``.
    dense : bool, optional
        Force (True) or forbid (False) the dense Cholesky; by default dense when q ≤ 2500, the
        pattern is more than 10% full or a term uses a factor.
    spectral : bool, optional
        For a single one-column dense-K term: factor C = (ZF)ᵀ(ZF) + θ⁻²I through one
        eigendecomposition of (ZF)ᵀ(ZF) instead of a Cholesky per θ (the default for that model;
        the Gibbs sampler's per-iteration cost drops from O(q³) to O(q²)).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.genetics.relmat import TermStructure
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()])
    >>> bool(abs(ws.deviance(m.theta, reml=True) - m.reml_criterion) < 1e-8)
    True
    """

    kind = "mme"

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign, structures: list,
                 dense: bool | None = None, spectral: bool | None = None, information: bool | None = None):
        self.X, self.y, self.random = np.asarray(X, dtype=float), np.asarray(y, dtype=float), random
        self.n, self.p = self.X.shape
        self.structures = list(structures) if structures else [TermStructure() for _ in random.terms]
        self.woff, self.nlat = [], []
        off = 0
        for t, st in zip(random.terms, self.structures):
            self.woff.append(off)
            self.nlat.append(st.nlatent(t.nlev))
            off += self.nlat[-1] * t.k
        self.q = off
        self.Z = sp.csc_matrix(random.Z)
        has_factor = any(st.kind == "factor" for st in self.structures)
        ZtZ = sp.csc_matrix(self.Z.T @ self.Z)
        self.ZtX = self._mt(np.asarray(self.Z.T @ self.X))
        self.Zty = self._mt(np.asarray(self.Z.T @ self.y).reshape(-1, 1)).ravel()
        self.XtX = self.X.T @ self.X
        self.Xty = self.X.T @ self.y
        self._bases = [sp.coo_matrix(st.Kinv if st.kind == "inverse" else sp.identity(nl))
                       for st, nl in zip(self.structures, self.nlat)]
        if dense is None:
            dense = self.q <= DENSE_MAX
            if not dense and not has_factor:
                self._build_pattern(ZtZ)
                dense = self._nnz > 0.1 * self.q * self.q
        self.dense = bool(dense) or has_factor
        self._last_theta = None
        if self.dense:
            W = self._mt(ZtZ)                        # Mᵀ ZᵀZ (q × q_b)
            C0 = self._mt(np.ascontiguousarray(W.T))  # Mᵀ ZᵀZ M
            self._ztz_dense = (C0 + C0.T) / 2
            single = len(random.terms) == 1 and self.structures[0].kind == "factor" and random.terms[0].k == 1
            if spectral and not single:
                raise ValueError("the spectral factor needs a single one-column dense-K term")
            self.spectral = single if spectral is None else bool(spectral)
            self.factor = _SpectralFactor(self._ztz_dense) if self.spectral else _DenseFactor()
        else:
            if not hasattr(self, "_nnz"):
                self._build_pattern(ZtZ)
            self.spectral = False
            self.factor = EliminationFactor(self._rows, self._indptr, (self.q, self.q))
        scalar = all(t.k == 1 for t in random.terms) and not has_factor and not self.spectral
        if information and not scalar:
            bad = [t.group for t, st in zip(random.terms, self.structures) if t.k != 1 or st.kind == "factor"]
            raise ModelSpecError(f"the information (AI-REML) steps need one-column random terms with a sparse "
                                 f"or no K; not {', '.join(map(repr, bad)) or 'the spectral factor'}")
        self.has_information = scalar and bool(not self.dense if information is None else information)
        self._traces = None

    # --- working coefficients --------------------------------------------------------------------
    def _mt(self, A) -> np.ndarray:
        """Mᵀ A (dense) for A with the rows of b (M = blockdiag(I, F ⊗ I_k))."""
        blocks = []
        for t, st in zip(self.random.terms, self.structures):
            rows = A[t.offset:t.offset + t.q]
            if st.kind == "factor":
                blocks.append(_factor_t(st.F, rows, t.k))
            else:
                blocks.append(rows.toarray() if sp.issparse(rows) else np.asarray(rows))
        return np.vstack(blocks) if blocks else np.zeros((0, A.shape[1]))

    # --- the fixed pattern of C(θ) (sparse elimination) ---------------------------------------------
    def _build_pattern(self, ZtZ: sp.spmatrix) -> None:
        q = self.q
        keys_ztz, vals_ztz = _upper_keys(ZtZ, q)
        pieces = penalty_pieces(self.random.terms, self._bases, self.woff, q)
        diag = np.arange(q, dtype=np.int64) * (q + 1)
        keys = np.unique(np.concatenate([keys_ztz, diag] + [p[3] for p in pieces]))
        self._rows = (keys % q).astype(np.int32) if q else np.zeros(0, np.int32)
        cols = keys // q if q else keys
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=q))]).astype(np.int32)
        self._nnz = len(keys)
        self._ztz = np.zeros(self._nnz)
        np.add.at(self._ztz, np.searchsorted(keys, keys_ztz), vals_ztz)
        self._pieces = [(j, a, b, np.searchsorted(keys, k), v) for j, a, b, k, v in pieces]

    def _upper(self, data: np.ndarray) -> sp.csc_matrix:
        return sp.csc_matrix((data, self._rows, self._indptr), shape=(self.q, self.q))

    def T(self, j: int, theta: np.ndarray) -> np.ndarray:
        """T_j at θ with its diagonal floored (:func:`floored_factor`).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.T(0, np.array([0.5])).tolist()
        [[0.5]]
        """
        return floored_factor(self.random.terms[j].T(np.asarray(theta, dtype=float)))

    def _pinv(self, theta: np.ndarray) -> list[np.ndarray]:
        """(T_j T_jᵀ)⁻¹ per term."""
        out = []
        for j in range(len(self.random.terms)):
            Tinv = la.solve_triangular(self.T(j, theta), np.eye(self.random.terms[j].k), lower=True)
            out.append(Tinv.T @ Tinv)
        return out

    def ginv_values(self, theta: np.ndarray) -> np.ndarray:
        """Upper triangle of Γ(θ)⁻¹ on the sparse pattern.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.ginv_values(np.array([0.5])).tolist()
        [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
        """
        data = np.zeros(self._nnz)
        Pinv = self._pinv(theta)
        for j, a, b, pos, vals in self._pieces:
            data[pos] += Pinv[j][a, b] * vals
        return data

    def values(self, theta: np.ndarray) -> np.ndarray:
        """Upper triangle of C(θ) = ZᵀZ + Γ(θ)⁻¹ on the sparse pattern (CSC order).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.values(np.array([0.5])).tolist()
        [9.0, 9.0, 9.0, 9.0, 9.0, 9.0]
        """
        return self._ztz + self.ginv_values(theta)

    def dense_matrix(self, theta: np.ndarray) -> np.ndarray:
        """C(θ) = ZᵀZ + Γ(θ)⁻¹ as a full dense matrix (dense workspaces).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()])
        >>> C = ws.dense_matrix(np.array([0.5]))
        >>> C.shape, C[0, :2].tolist()
        ((6, 6), [9.0, 0.0])
        """
        C = self._ztz_dense.copy()
        for j, (t, base, Pinv) in enumerate(zip(self.random.terms, self._bases, self._pinv(theta))):
            for a in range(t.k):
                for b in range(t.k):
                    C[self.woff[j] + base.row * t.k + a, self.woff[j] + base.col * t.k + b] += Pinv[a, b] * base.data
        return C

    def ginv_quad(self, theta: np.ndarray, a: np.ndarray) -> float:
        """aᵀ Γ(θ)⁻¹ a = Σ_j tr(P_j⁻¹ A_jᵀ K_j⁻¹ A_j) (A_j: term j's coefficients, levels × k).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.ginv_quad(np.array([0.5]), np.ones(6))
        24.0
        """
        out = 0.0
        for j, (t, base, Pinv) in enumerate(zip(self.random.terms, self._bases, self._pinv(theta))):
            A = a[self.woff[j]:self.woff[j] + self.nlat[j] * t.k].reshape(self.nlat[j], t.k)
            KA = self.structures[j].Kinv @ A if self.structures[j].kind == "inverse" else A
            out += float(np.sum(Pinv * (A.T @ KA)))
        return out

    def logdet_gamma(self, theta: np.ndarray) -> float:
        """log|Γ(θ)|: Σ_j nlatent_j log|T_j T_jᵀ|, plus k_j log|K_j| for terms given by K⁻¹.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> round(ws.logdet_gamma(np.array([0.5])), 4)
        -8.3178
        """
        out = 0.0
        for j, (t, st) in enumerate(zip(self.random.terms, self.structures)):
            T = self.T(j, theta)
            out += self.nlat[j] * 2.0 * float(np.sum(np.log(np.abs(np.diag(T)))))
            if st.kind == "inverse":
                out += t.k * st.logdetK
        return out

    # --- the deviance --------------------------------------------------------------------------------
    def update(self, theta: np.ndarray) -> None:
        """Refactor C(θ) for a new θ.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.update(np.array([0.5]))
        >>> round(float(ws.deviance(np.array([0.5]))), 4)
        320.8791
        """
        theta = np.asarray(theta, dtype=float)
        if not self.q or (self._last_theta is not None and np.array_equal(theta, self._last_theta)):
            return
        self._last_theta = None
        self._traces = None
        if self.spectral:
            self.factor.set_shift(float(self._pinv(theta)[0][0, 0]))
        elif self.dense:
            self.factor.refactor_dense(self.dense_matrix(theta))
        else:
            self.factor.refactor(self.values(theta))
        self._last_theta = theta.copy()

    def parts(self, theta: np.ndarray) -> DevianceParts:
        """The profiled deviance's pieces at θ (:class:`mixedpy.deviance.DevianceParts`).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> p = ws.parts(m.theta)
        >>> round(float(p.beta[0]), 4)
        1527.5
        """
        theta = np.asarray(theta, dtype=float)
        if not self.q:
            raise ValueError("the MME workspace needs at least one random term")
        self.update(theta)
        sol = self.factor.solve(np.column_stack([self.ZtX, self.Zty]))
        CinvW, Cinvv = sol[:, :-1], sol[:, -1]
        RXtRX = self.XtX - self.ZtX.T @ CinvW
        if self.p:
            cf = la.cho_factor(RXtRX, lower=True, check_finite=False)
            beta = la.cho_solve(cf, self.Xty - self.ZtX.T @ Cinvv, check_finite=False)
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        else:
            beta, ldRX2 = np.zeros(0), 0.0
        a = Cinvv - CinvW @ beta
        resid = self.y - self.X @ beta - self.Z @ self.effects(a)
        ldL2 = self.factor.logdet() + self.logdet_gamma(theta)
        return DevianceParts(theta=theta.copy(), beta=beta, u=a, pwrss=float(resid @ resid) + self.ginv_quad(theta, a),
                             ldL2=ldL2, ldRX2=ldRX2, RXtRX=RXtRX, n=self.n, p=self.p, resid=resid,
                             AinvW=CinvW)

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance (REML criterion when ``reml``) at θ.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> bool(abs(ws.deviance(m.theta, reml=True) - m.reml_criterion) < 1e-6)
        True
        """
        try:
            return self.parts(theta).deviance(reml)
        except (la.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            return np.inf

    # --- effects, conditional variances, the MME ----------------------------------------------------
    def effects(self, a: np.ndarray) -> np.ndarray:
        """b (level-major per term, as ``random.Z``'s columns) from working coefficients a.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.effects(np.arange(6.0)).tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        """
        out = np.zeros(self.random.q)
        for j, (t, st) in enumerate(zip(self.random.terms, self.structures)):
            aj = a[self.woff[j]:self.woff[j] + self.nlat[j] * t.k].reshape(self.nlat[j], t.k)
            bj = st.F @ aj if st.kind == "factor" else aj
            out[t.offset:t.offset + t.q] = bj.ravel()
        return out

    def conditional_variances(self, theta: np.ndarray, sigma: float) -> list[np.ndarray]:
        """Per term, nlev × k × k blocks of Var(b − b̂ | y, β = β̂) = σ² M C⁻¹ Mᵀ (lme4's condVar).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> cv = ws.conditional_variances(m.theta, m.sigma)
        >>> [c.shape for c in cv], bool(np.allclose(cv[0], m.condvar('Batch')[0]))
        ([(6, 1, 1)], True)
        """
        self.update(theta)
        out = []
        for j, (t, st) in enumerate(zip(self.random.terms, self.structures)):
            if st.kind == "factor":
                idx = self.woff[j] + np.arange(self.nlat[j] * t.k)
                Cj = self.factor.inverse()[np.ix_(idx, idx)].reshape(self.nlat[j], t.k, self.nlat[j], t.k)
                blocks = np.einsum("la,akbm,lb->lkm", st.F, Cj, st.F)
            else:
                blocks = self.factor.inverse_blocks(self.woff[j] + np.arange(t.nlev)[:, None] * t.k
                                                    + np.arange(t.k)[None, :])
            out.append(sigma ** 2 * blocks)
        return out

    has_gradient = False

    @property
    def factor_nnz(self) -> int:
        """Non-zeros of the factor of C (the lower triangle when dense).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.update(m.theta)
        >>> ws.factor_nnz > 0
        True
        """
        return int(self.factor.nnz) if not self.dense else self.q * (self.q + 1) // 2

    # --- gradient and average information (AI-REML) -------------------------------------------------
    def traces(self, theta: np.ndarray) -> np.ndarray:
        """t_j = tr(C(θ)⁻¹ M_j), M_j = K_j⁻¹ (or I) on term j's block: the derivative of log|C| along
        each term's penalty, from the factorization at θ (elimination: carried through its levels;
        dense: from C⁻¹).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.traces(np.array([0.5])).round(4).tolist()
        [0.6667]
        """
        theta = np.asarray(theta, dtype=float)
        if self._traces is not None and np.array_equal(theta, self._last_theta):
            return self._traces
        if self.dense:
            self.update(theta)
            inv = self.factor.inverse()
            t = [float(np.sum(b.data * inv[w + b.row, w + b.col])) for b, w in zip(self._bases, self.woff)]
        else:
            dirs = []
            for j in range(len(self.random.terms)):
                v = np.zeros(self._nnz)
                for jj, _, _, pos, vals in self._pieces:
                    if jj == j:
                        v[pos] += vals
                dirs.append(v)
            self._last_theta = None
            self.factor.refactor(self.values(theta), directions=dirs)
            self._last_theta = theta.copy()
            t = self.factor.traces
        self._traces = np.asarray(t, dtype=float)
        return self._traces

    def deviance_gradient_information(self, theta: np.ndarray, reml: bool = True):
        """(deviance, gradient, information) of the profiled deviance at θ (one-column terms).

        Gradient (exact): with Γ_j = θ_j² K_j, t_j = tr(C⁻¹M_j), W = C⁻¹ZᵀX, b̂ the BLUPs and
        m = n − p (REML) or n (ML),

            ∂d/∂θ_j = 2 q_j/θ_j − 2θ_j⁻³ [t_j + tr(RXᵀRX⁻¹ W_jᵀK_j⁻¹W_j) (REML) + m b̂_jᵀK_j⁻¹b̂_j / pwrss]

        Information: the average information of Gilmour, Thompson & Cullis (1995) in the variances
        φ = (σ²θ_1², …, σ²θ_m², σ²), AI = vᵀ P v with working variates v_j = Z_j b̂_j/φ_j,
        v_e = ê/σ² (P v by one more solve with the same factor), taken to θ with σ² profiled out
        (J = ∂φ/∂θ, J_s = ∂φ/∂σ²: H = JᵀAI J − JᵀAI J_s J_sᵀAI J / J_sᵀAI J_s).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> d, g, info = ws.deviance_gradient_information(m.theta)
        >>> bool(abs(d - m.reml_criterion) < 1e-6), g.shape, info.shape
        (True, (1,), (1, 1))
        """
        theta = np.asarray(theta, dtype=float)
        self.traces(theta)
        parts = self.parts(theta)
        t = self._traces
        m = self.n - self.p if reml else self.n
        sigma2 = parts.pwrss / m
        RXinv = np.linalg.inv(parts.RXtRX) if self.p else np.zeros((0, 0))
        nt = len(self.random.terms)
        g = np.zeros(nt)
        V = np.zeros((self.n, nt + 1))
        th = np.array([self.T(j, theta)[0, 0] for j in range(nt)])
        for j, (st, base) in enumerate(zip(self.structures, self._bases)):
            sl = slice(self.woff[j], self.woff[j] + self.nlat[j])
            b = parts.u[sl]
            Kb = st.Kinv @ b if st.kind == "inverse" else b
            quad = float(b @ Kb)
            trx = 0.0
            if reml and self.p:
                Wj = parts.AinvW[sl]
                KW = st.Kinv @ Wj if st.kind == "inverse" else Wj
                trx = float(np.sum(RXinv * (Wj.T @ KW)))
            g[j] = 2.0 * self.nlat[j] / th[j] - 2.0 / th[j] ** 3 * (t[j] + trx + m * quad / parts.pwrss)
            zb = np.zeros(self.random.q)
            zb[sl] = b
            V[:, j] = self.Z @ zb / (sigma2 * th[j] ** 2)
        V[:, nt] = parts.resid / sigma2
        PV = self._project(V, parts, reml) / sigma2
        AI = V.T @ PV
        AI = (AI + AI.T) / 2
        J = np.zeros((nt + 1, nt))
        J[np.arange(nt), np.arange(nt)] = 2.0 * sigma2 * th
        Js = np.append(th ** 2, 1.0)
        Hs = float(Js @ AI @ Js)
        cross = J.T @ AI @ Js
        H = J.T @ AI @ J - np.outer(cross, cross) / Hs
        return parts.deviance(reml), g, H

    def _project(self, V: np.ndarray, parts: DevianceParts, reml: bool) -> np.ndarray:
        """σ² P V (REML: residuals of the MME solved with V as the data) or σ² V⁻¹V (ML)."""
        ZtV = self._mt(np.asarray(self.Z.T @ V))
        CinvZtV = self.factor.solve(ZtV)
        if reml and self.p:
            beta = np.linalg.solve(parts.RXtRX, self.X.T @ V - self.ZtX.T @ CinvZtV)
            a = CinvZtV - parts.AinvW @ beta
            fitted = self.X @ beta
        else:
            a, fitted = CinvZtV, 0.0
        Zb = self.Z @ np.column_stack([self.effects(a[:, k]) for k in range(V.shape[1])])
        return V - fitted - Zb

    def deviance_and_gradient(self, theta: np.ndarray, reml: bool = True) -> tuple[float, np.ndarray]:
        """The profiled deviance and its exact gradient (see :meth:`deviance_gradient_information`).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> d, g = ws.deviance_and_gradient(m.theta)
        >>> bool(abs(d - m.reml_criterion) < 1e-6), bool(abs(g[0]) < 1e-3)
        (True, True)
        """
        f, g, _ = self.deviance_gradient_information(theta, reml)
        return f, g

    def blups(self, parts: DevianceParts) -> np.ndarray:
        """b from the working coefficients of :meth:`parts`.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> b = ws.blups(ws.parts(m.theta))
        >>> bool(np.allclose(b, m.solution.b))
        True
        """
        return self.effects(parts.u)

    def mme_system(self, theta: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, list[str]]:
        """The MME in the working coefficients, the right-hand side and their names.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> C, rhs, names = ws.mme_system(m.theta)
        >>> C.shape, names[:2]
        ((7, 7), ['Batch:A:(Intercept)', 'Batch:B:(Intercept)'])
        """
        C, rhs = self.mme_matrix(theta)
        return C, rhs, self.latent_names()

    def latent_names(self) -> list[str]:
        """Names of the working coefficients: ``group:level:column`` (``group:latent<i>:column`` for
        the latent effects of a dense-K term).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> ws.latent_names()[:2]
        ['Batch:A:(Intercept)', 'Batch:B:(Intercept)']
        """
        names = []
        for t, st, nl in zip(self.random.terms, self.structures, self.nlat):
            if st.kind == "factor":
                labels = [f"latent{i}" for i in range(nl)]
            else:
                labels = list(st.labels) if st.labels is not None else list(t.levels)
            names += [f"{t.group}:{lev}:{c}" for lev in labels for c in t.columns]
        return names

    def mme_matrix(self, theta: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
        """The full MME matrix [[XᵀX, XᵀZ], [ZᵀX, ZᵀZ + Γ⁻¹]] (working coefficients) and its rhs.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
        >>> ws = MMEWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], dense=False)
        >>> C, rhs = ws.mme_matrix(m.theta)
        >>> C.shape, rhs.shape
        ((7, 7), (7,))
        """
        if self.dense:
            Cuu = sp.csc_matrix(self.dense_matrix(theta))
        else:
            U = self._upper(self.values(theta))
            Cuu = sp.csc_matrix(U + U.T - sp.diags(U.diagonal()))
        ZtX = sp.csc_matrix(self.ZtX)
        C = sp.bmat([[sp.csc_matrix(self.XtX), ZtX.T], [ZtX, Cuu]], format="csc")
        return C, np.concatenate([self.Xty, self.Zty])
