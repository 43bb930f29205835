"""Average-information REML for multi-trait (k-column) animal models with a residual structure.

The model (:func:`mixedpy.fit_multitrait`'s long form, or any ``fit`` with relmat terms and a
``residual=`` structure) is

    y = Xβ + Σ_j Z_j u_j + e,   Var(u_j) = K_j ⊗ Σ_j,   Var(e) = blockdiag_s R_s

with Σ_j = σ² T_j T_jᵀ (θ: the lower triangles T_j, as lme4) and R_s = σ² R_s(φ) the submatrix of
the residual structure's d × d matrix on the observed traits of subject s (σ² profiled out).
:class:`AIWorkspace` is a :class:`~mixedpy.whitened.WhitenedWorkspace` (every solution piece is
the parent's) whose deviance evaluations reuse ONE sparse pattern of the MME matrix

    C = Zᵀ R⁻¹ Z + blockdiag_j K_j⁻¹ ⊗ (T_j T_jᵀ)⁻¹          (σ² = 1 units)

(only numeric refactorizations per iterate) and which adds the exact gradient and the average
information (Gilmour, Thompson & Cullis 1995), so that the orchestrator
(:func:`mixedpy.fitting.optimize_theta`) takes Newton steps (:func:`mixedpy.optimize.minimize_information`).

Gradient
--------
Exact; P₀ is the REML projection at σ² = 1, s = σ̂² = pwrss / m, ê the residuals, û the BLUPs::

    ∂d/∂x = tr(P₀ ∂V₀/∂x) − (P₀y)ᵀ ∂V₀/∂x (P₀y) / s    (σ̂² is profiled: its derivative vanishes)

    term j:    ∂d/∂Σ_j = n_j Σ_j⁻¹ − Σ_j⁻¹ (τ_j + U_jᵀ K_j⁻¹ U_j / s) Σ_j⁻¹,   ∂d/∂θ = 2 (∂d/∂Σ_j · T_j)[r, c]
               τ_j[a, b] = tr(C_full⁻¹ (K_j⁻¹ ⊗ E_ab)) = tr(C⁻¹ (K_j⁻¹ ⊗ E_ab)) + tr(Q⁻¹ W_aᵀ K_j⁻¹ W_b)
    residual:  ∂d/∂φ_i = Σ_s ⟨R_s⁻¹ − H̃_s Q⁻¹ H̃_sᵀ − ẽ_s ẽ_sᵀ / s, ∂R_s/∂φ_i⟩ − tr(C⁻¹ Zᵀ D_i Z)
               D_i = blockdiag_s R_s⁻¹ (∂R_s/∂φ_i) R_s⁻¹,  ẽ = R⁻¹ê,  H̃ = R⁻¹(X − Z W)

where W = C⁻¹ZᵀR⁻¹X and Q = XᵀR⁻¹X − XᵀR⁻¹Z W (the REML pieces; ML drops them).  The traces
tr(C⁻¹ M) along the k(k+1)/2 directions K_j⁻¹ ⊗ (E_ab + E_ba) per term and Zᵀ D_i Z per φ_i come
with the factorization itself (:meth:`mixedpy.genetics.elimination.EliminationFactor.refactor`'s
``directions``; dense: from C⁻¹).

Average information
-------------------
Working variates v_x = (∂V₀/∂x) P₀ y — term j: Z (I ⊗ ∂Σ_j Σ_j⁻¹) û, residual:
(∂R_s/∂φ_i) ẽ_s, σ²: (Zû + ê)/s — give AI = vᵀ P₀ v / s by one more solve with the same factor;
σ² is profiled out of it as in :meth:`mixedpy.genetics.mme.MMEWorkspace.deviance_gradient_information`.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .covariance.base import matrix_jacobian
from .covariance.residual import ResidualDesign
from .design.random import RandomDesign
from .deviance import DevianceParts, dof, profiled_deviance
from .genetics.elimination import EliminationFactor
from .genetics.mme import DENSE_MAX, _upper_keys, floored_factor, penalty_pieces
from .threads import LARGE_SCHUR, blas_limit

# The sparse elimination hands over to the dense core at this density of the remaining matrix (the
# factorization alone prefers 8 %): every sparse level also carries the trace directions, and on a
# 20,000-animal 2-trait pedigree 3 % halves an evaluation with the gradient (core 10,700 instead of
# 9,600 rows, but 20 sparse levels instead of 30, the late ones the costly ones).
DENSE_FRACTION = 0.03
from .whitened import WhitenedWorkspace


def ai_capable(random: RandomDesign, residual: ResidualDesign, structures) -> bool:
    """Whether :class:`AIWorkspace` applies: random terms with a sparse K⁻¹ or iid levels (no dense
    factor), a non-spatial residual structure of one group without prior weights.

    Examples
    --------
    >>> import mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
    ...                            fixed="sex", random="animal", relmat={"animal": ped})
    >>> ai_capable(m.random, m.spec.residual, m.spec.structures)
    True
    """
    if structures is None or not random.terms or residual.structure is None:
        return False
    return (all(st.kind in ("inverse", "iid") for st in structures) and not residual.geometric
            and not residual.kron and residual.weights is None and residual.ngroups == 1
            and residual.nphi > 0)


class AIWorkspace(WhitenedWorkspace):
    """:class:`~mixedpy.whitened.WhitenedWorkspace` with relmat terms plus a fixed-pattern deviance,
    its exact gradient and the average information in (θ, φ) (see the module docstring).

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    random : RandomDesign
    residual : ResidualDesign
    structures : list of TermStructure
        One per term (``"inverse"`` or ``"iid"``; see :func:`ai_capable`).
    dense : bool, optional
        Dense Cholesky of C (default when q ≤ 2500 or the pattern is more than 10 % full) or the
        sparse elimination (:class:`~mixedpy.genetics.elimination.EliminationFactor`).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
    ...                            fixed="sex", random="animal", relmat={"animal": ped})
    >>> ws = m.workspace
    >>> type(ws).__name__, len(m.theta)  # θ: G₀'s factor (3), φ: R₀'s relative to σ² (2)
    ('AIWorkspace', 5)
    >>> d, g, H = ws.deviance_gradient_information(m.theta)
    >>> bool(np.isclose(d, m.reml_criterion)), g.shape, H.shape
    (True, (5,), (5, 5))
    """

    has_information = True

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign, residual: ResidualDesign,
                 structures: list, engine: str = "auto", dense: bool | None = None):
        super().__init__(X, y, random, residual, engine, structures)
        self.has_gradient = True
        self.Zs = sp.csc_matrix(random.Z)
        self.q = random.q
        self._bases = [sp.coo_matrix(st.Kinv if st.kind == "inverse" else sp.identity(t.nlev))
                       for st, t in zip(self.structures, random.terms)]
        self._last_parts = None
        self._build_pattern()
        if dense is None:
            dense = self.q <= DENSE_MAX or self._nnz > 0.1 * self.q * self.q
        self.dense = bool(dense)
        self.factor = None if self.dense else EliminationFactor(self._rows, self._indptr, (self.q, self.q),
                                                                dense_fraction=DENSE_FRACTION)

    # --- the fixed pattern of C ------------------------------------------------------------------
    def _build_pattern(self) -> None:
        """Upper-triangle keys of ZᵀSZ (S: same-subject pairs) ∪ K_j⁻¹ ⊗ 1 1ᵀ ∪ the diagonal."""
        q, n = self.q, self.n
        rows, cols = [], []
        for b in self.residual.batches:
            m = b.rows.shape[1]
            rows.append(np.repeat(b.rows, m, axis=1).ravel())
            cols.append(np.tile(b.rows, (1, m)).ravel())
        S = sp.csr_matrix((np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n, n))
        absZ = self.Zs.copy()
        absZ.data = np.ones_like(absZ.data)
        keys_z, _ = _upper_keys(absZ.T @ S @ absZ, q)
        pieces = penalty_pieces(self.random.terms, self._bases, [t.offset for t in self.random.terms], q)
        diag = np.arange(q, dtype=np.int64) * (q + 1)
        keys = np.unique(np.concatenate([keys_z, diag] + [p[3] for p in pieces]))
        self._keys = keys
        self._rows = (keys % q).astype(np.int32)
        self._cols = (keys // q).astype(np.int32)
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(self._cols, minlength=q))]).astype(np.int32)
        self._nnz = len(keys)
        self._pieces = [(j, a, b, np.searchsorted(keys, k), v) for j, a, b, k, v in pieces]
        self._offdiag = self._rows != self._cols

    def _on_pattern(self, M: sp.spmatrix) -> np.ndarray:
        """Values of the symmetric sparse M on the pattern (upper triangle)."""
        keys, vals = _upper_keys(M, self.q)
        pos = np.searchsorted(self._keys, keys)
        if len(keys) and (pos.max() >= self._nnz or np.any(self._keys[pos] != keys)):
            raise ValueError("an entry outside the analysed pattern of the MME")
        out = np.zeros(self._nnz)
        np.add.at(out, pos, vals)
        return out

    def _sigma(self, j: int, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """T_j (diagonal floored: :func:`~mixedpy.genetics.mme.floored_factor`) and Σ_j = T_j T_jᵀ."""
        T = floored_factor(self.random.terms[j].T(theta))
        return T, T @ T.T

    # --- one evaluation ----------------------------------------------------------------------------
    def _large(self):
        """BLAS threads for the factorization and solves: ``n_threads`` when C is large, else one
        (everything else in an evaluation is many small blocks: one thread, see :mod:`mixedpy.threads`)."""
        return blas_limit(large=self.q >= LARGE_SCHUR, n_threads=getattr(self, "n_threads", None))

    def _evaluate(self, params: np.ndarray, reml: bool, derivatives: bool) -> dict:
        # far steps can overflow R(φ) = exp(…): then the deviance is infinite, without warnings
        with blas_limit(large=False), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._evaluate_at(np.asarray(params, dtype=float), reml, derivatives)
        if not np.isfinite(out["f"]) or ("g" in out and not np.all(np.isfinite(out["g"]))):
            raise FloatingPointError("the deviance is not finite here")
        return out

    def _evaluate_at(self, params: np.ndarray, reml: bool, derivatives: bool) -> dict:
        theta, phi = self.split(params)
        wh = self.residual.whitening(phi)
        Tw = wh.T
        Xw = np.asarray(Tw @ self.X)
        yw = np.asarray(Tw @ self.y).ravel()
        Zw = sp.csr_matrix(Tw @ self.Zs)
        ZtZ = sp.csr_matrix(Zw.T @ Zw)
        vals = self._on_pattern(ZtZ)
        Ts, Sig, Siginv = [], [], []
        logdet_g = 0.0
        for j, (t, st) in enumerate(zip(self.random.terms, self.structures)):
            T, S = self._sigma(j, theta)
            Ti = la.solve_triangular(T, np.eye(t.k), lower=True)
            Ts.append(T)
            Sig.append(S)
            Siginv.append(Ti.T @ Ti)
            logdet_g += t.nlev * 2.0 * float(np.sum(np.log(np.abs(np.diag(T)))))
            if st.kind == "inverse":
                logdet_g += t.k * st.logdetK
        for j, a, b, pos, v in self._pieces:
            vals[pos] += Siginv[j][a, b] * v
        dirs = []
        Rinv, dR = None, None
        if derivatives:
            for j, a, b, pos, v in self._pieces:
                d = np.zeros(self._nnz)
                d[pos] = v
                dirs.append(d)
            Rinv, dR, Ddirs = self._residual_directions(phi, wh)
            dirs += Ddirs
        if self.dense:
            C = np.zeros((self.q, self.q))
            C[self._rows, self._cols] = vals
            C[self._cols, self._rows] = vals
            with self._large():
                cf = la.cho_factor(C, lower=True, overwrite_a=True, check_finite=False)
            logdet_c = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))

            def solve(B):
                with self._large():
                    return la.cho_solve(cf, B, check_finite=False)
            traces = None
            if dirs:
                inv = solve(np.eye(self.q))
                w = np.where(self._offdiag, 2.0, 1.0) * inv[self._rows, self._cols]
                traces = np.array([float(w @ d) for d in dirs])
        else:
            with self._large():
                self.factor.refactor(vals, directions=dirs or None)
            logdet_c = self.factor.logdet()

            def solve(B):
                with self._large():
                    return self.factor.solve(B)
            traces = np.asarray(self.factor.traces) if dirs else None
        ZtX = np.asarray(Zw.T @ Xw)
        Zty = np.asarray(Zw.T @ yw).ravel()
        sol = solve(np.column_stack([ZtX, Zty]))
        Wc, c = sol[:, :self.p], sol[:, self.p]
        Q = Xw.T @ Xw - ZtX.T @ Wc
        if self.p:
            qf = la.cho_factor(Q, lower=True, check_finite=False)
            beta = la.cho_solve(qf, Xw.T @ yw - ZtX.T @ c, check_finite=False)
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(qf[0]))))
        else:
            qf, beta, ldRX2 = None, np.zeros(0), 0.0
        u = c - Wc @ beta
        ew = yw - Xw @ beta - Zw @ u
        quads, Us = [], []
        for j, (t, st) in enumerate(zip(self.random.terms, self.structures)):
            U = u[t.offset:t.offset + t.q].reshape(t.nlev, t.k)
            KU = st.Kinv @ U if st.kind == "inverse" else U
            Us.append((U, KU))
            quads.append(U.T @ KU)
        pwrss = float(ew @ ew) + sum(float(np.sum(Si * M)) for Si, M in zip(Siginv, quads))
        ldL2 = logdet_c + logdet_g + wh.logdet
        f = float(profiled_deviance(ldL2, ldRX2, pwrss, self.n, self.p, reml))
        self._last_parts = (params.tobytes(), DevianceParts(
            theta=params.copy(), beta=beta, u=u, pwrss=pwrss, ldL2=ldL2, ldRX2=ldRX2, RXtRX=Q, n=self.n,
            p=self.p, resid=ew, AinvW=Wc))
        out = {"f": f}
        if not derivatives:
            return out
        m = dof(self.n, self.p, reml)
        s = pwrss / m
        Qinv = la.cho_solve(qf, np.eye(self.p), check_finite=False) if (reml and self.p) else None
        # --- gradient: random terms ------------------------------------------------------------
        g_theta = np.zeros(self.ntheta)
        dsig = []       # per θ element: (term, ∂Σ)
        for j, (t, st) in enumerate(zip(self.random.terms, self.structures)):
            tau = np.zeros((t.k, t.k))
            for i, (jj, a, b, _, _) in enumerate(self._pieces):
                if jj == j:
                    tau[a, b] = tau[b, a] = traces[i] / (2.0 if a != b else 1.0)
            if Qinv is not None:
                Wj = Wc[t.offset:t.offset + t.q].reshape(t.nlev, t.k, self.p)
                KW = np.stack([(st.Kinv @ Wj[:, a] if st.kind == "inverse" else Wj[:, a]) for a in range(t.k)], 1)
                tau += np.einsum("lap,pr,lbr->ab", Wj, Qinv, KW)
            Si = Siginv[j]
            Gam = t.nlev * Si - Si @ (tau + quads[j] / s) @ Si
            r, cc = t.tril()
            for e, (ri, ci) in enumerate(zip(r, cc)):
                E = np.zeros((t.k, t.k))
                E[ri, ci] = 1.0
                dS = E @ Ts[j].T + Ts[j] @ E.T
                g_theta[t.theta_offset + e] = float(np.sum(Gam * dS))
                dsig.append((j, dS))
        # --- gradient: residual ------------------------------------------------------------------
        e_raw = self.y - self.X @ beta - self.Zs @ u
        et = np.asarray(Tw.T @ ew).ravel()                        # R⁻¹ ê
        Ht = np.asarray(Tw.T @ (Xw - Zw @ Wc)) if Qinv is not None else None   # R⁻¹ (X − Z W)
        Gb = []
        for b, Ri in zip(self.residual.batches, Rinv):
            eb = et[b.rows]
            G = Ri - eb[:, :, None] * eb[:, None, :] / s
            if Ht is not None:
                Hb = Ht[b.rows]
                G = G - Hb @ Qinv @ np.swapaxes(Hb, 1, 2)
            Gb.append(G)
        nG = sum(1 for _ in self._pieces)
        g_phi = self.residual.gradient(phi, Gb) - traces[nG:]
        g = np.concatenate([g_theta, g_phi])
        # --- average information -----------------------------------------------------------------
        V = np.zeros((self.n, len(params) + 1))
        for col, (j, dS) in enumerate(dsig):
            t = self.random.terms[j]
            U = Us[j][0]
            zb = np.zeros(self.q)
            zb[t.offset:t.offset + t.q] = (U @ Siginv[j] @ dS).ravel()
            V[:, col] = self.Zs @ zb
        for i in range(self.nphi):
            col = np.zeros(self.n)
            for b, D in zip(self.residual.batches, dR[i]):
                col[b.rows] = (D @ et[b.rows][:, :, None])[:, :, 0]
            V[:, self.ntheta + i] = col
        V[:, -1] = (self.y - self.X @ beta) / s
        Vw = np.asarray(Tw @ V)
        a = solve(np.asarray(Zw.T @ Vw))
        if Qinv is not None:
            bv = Qinv @ (Xw.T @ Vw - ZtX.T @ a)
            rw = Vw - Xw @ bv - Zw @ (a - Wc @ bv)
        else:
            rw = Vw - Zw @ a
        AI = Vw.T @ rw / s
        AI = (AI + AI.T) / 2
        Hs = AI[-1, -1]
        cross = AI[:-1, -1]
        H = AI[:-1, :-1] - np.outer(cross, cross) / Hs
        out.update(g=g, H=H, e=e_raw)
        return out

    def _residual_directions(self, phi: np.ndarray, wh) -> tuple[list, list, list]:
        """Per batch R_s⁻¹, per φ_i per batch ∂R_s/∂φ_i, and the directions Zᵀ D_i Z on the pattern."""
        st = self.residual.structure
        J = matrix_jacobian(st, self.residual.full(phi)[0])[1:]
        Rinv = [np.swapaxes(Li, 1, 2) @ Li for Li in wh.Linv]
        dR = [[Ji[b.geometry[:, :, None], b.geometry[:, None, :]] for b in self.residual.batches] for Ji in J]
        dirs = []
        for i in range(len(J)):
            rr, cc, vv = [], [], []
            for b, Ri, D in zip(self.residual.batches, Rinv, dR[i]):
                m = b.rows.shape[1]
                M = Ri @ D @ Ri
                rr.append(np.repeat(b.rows, m, axis=1).ravel())
                cc.append(np.tile(b.rows, (1, m)).ravel())
                vv.append(M.ravel())
            Dm = sp.csr_matrix((np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))), shape=(self.n, self.n))
            dirs.append(self._on_pattern(sp.csr_matrix(self.Zs.T @ Dm @ self.Zs)))
        return Rinv, dR, dirs

    # --- starting values ---------------------------------------------------------------------------
    def starting_params(self) -> np.ndarray | None:
        """Starting (θ, φ) from moments: P, the covariance between the traits of the least-squares
        residuals (over the subjects observing both), split as R₀ = P/2 and G₀ = P/(2 · terms)
        (heritability ½ as in the default start, but with the traits' own scales and correlation);
        None when the structure is not ``us``/``diag`` of the terms' dimension or P is not positive
        definite.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
        >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
        ...                            fixed="sex", random="animal", relmat={"animal": ped})
        >>> m.workspace.starting_params().round(3).tolist()
        [1.0, 1.22, 0.399, -0.918, 1.22]
        """
        st = self.residual.structure
        d = st.dim
        if st.name not in ("us", "diag") or any(t.k != d for t in self.random.terms):
            return None
        beta = np.linalg.lstsq(self.X, self.y, rcond=None)[0] if self.p else np.zeros(0)
        e = self.y - self.X @ beta
        S, N = np.zeros((d, d)), np.zeros((d, d))
        for b in self.residual.batches:
            g, E = b.geometry, e[b.rows]
            np.add.at(S, (g[:, :, None], g[:, None, :]), E[:, :, None] * E[:, None, :])
            np.add.at(N, (g[:, :, None], g[:, None, :]), 1.0)
        P = np.where(N > 0, S / np.maximum(N, 1.0), 0.0)
        if st.name == "diag":
            P = np.diag(np.diag(P))
        if not P[0, 0] > 0:
            return None
        try:
            L = np.linalg.cholesky(P / P[0, 0])
        except np.linalg.LinAlgError:
            return None
        r, c = np.tril_indices(d, -1)
        par = np.log(np.diag(L)) if st.name == "diag" else np.concatenate([np.log(np.diag(L)), L[r, c]])
        phi = par[1:]
        if not np.allclose(st.matrix(self.residual.full(phi)[0]), P / P[0, 0], rtol=1e-8, atol=1e-10):
            return None
        theta = np.zeros(self.ntheta)
        LG = L / np.sqrt(len(self.random.terms))
        for t in self.random.terms:
            tr, tc = t.tril()
            theta[t.theta_offset:t.theta_offset + t.ntheta] = LG[tr, tc]
        return np.concatenate([theta, phi])   # G₀, R₀ positive definite: a finite deviance

    # --- the protocol ------------------------------------------------------------------------------
    def parts(self, params: np.ndarray) -> DevianceParts:
        """The deviance's pieces at (θ, φ) from the fixed-pattern factorization (those of the last
        evaluation when it was at these parameters): the parent's, whitened residuals included.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.whitened import WhitenedWorkspace
        >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
        >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
        ...                            fixed="sex", random="animal", relmat={"animal": ped})
        >>> s = m.spec
        >>> ref = WhitenedWorkspace(s.fixed.X, s.fixed.y, s.random, s.residual, "auto", list(s.structures))
        >>> x = np.array([0.7, 0.3, 0.8, -0.2, 0.1])
        >>> a, b = m.workspace.parts(x), ref.parts(x)
        >>> bool(np.allclose(a.beta, b.beta) and np.allclose(a.u, b.u) and np.isclose(a.ldL2, b.ldL2))
        True
        """
        params = np.asarray(params, dtype=float)
        last = getattr(self, "_last_parts", None)
        if last is None or last[0] != params.tobytes():
            self._evaluate(params, True, False)
        return self._last_parts[1]

    def deviance(self, params: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance at (θ, φ) on the fixed pattern (equal to the parent's).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
        >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
        ...                            fixed="sex", random="animal", relmat={"animal": ped})
        >>> bool(np.isclose(m.workspace.deviance(m.theta), m.reml_criterion, rtol=0, atol=1e-8))
        True
        """
        try:
            return self._evaluate(params, reml, False)["f"]
        except (np.linalg.LinAlgError, la.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            return np.inf

    def deviance_gradient_information(self, params: np.ndarray, reml: bool = True):
        """(deviance, exact gradient, average information) in (θ, φ) (see the module docstring).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
        >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
        ...                            fixed="sex", random="animal", relmat={"animal": ped})
        >>> x = np.array([0.7, 0.3, 0.8, -0.2, 0.1])
        >>> d, g, H = m.workspace.deviance_gradient_information(x)
        >>> h = 1e-6 * np.eye(len(x))[0]
        >>> fd = (m.workspace.deviance(x + h) - m.workspace.deviance(x - h)) / 2e-6
        >>> bool(np.isclose(g[0], fd, rtol=1e-5)), H.shape
        (True, (5, 5))
        """
        try:
            out = self._evaluate(params, reml, True)
        except (np.linalg.LinAlgError, la.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            k = len(np.asarray(params))
            return np.inf, np.zeros(k), np.eye(k)
        return out["f"], out["g"], out["H"]

    def deviance_and_gradient(self, params: np.ndarray, reml: bool = True) -> tuple[float, np.ndarray]:
        """The deviance and its exact gradient in (θ, φ).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
        >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
        ...                            fixed="sex", random="animal", relmat={"animal": ped})
        >>> d, g = m.workspace.deviance_and_gradient(m.theta)
        >>> g.shape
        (5,)
        """
        f, g, _ = self.deviance_gradient_information(params, reml)
        return f, g
