"""The engine for models with a residual covariance Σ = σ² R(φ) (and prior weights).

Whitening: with T = R(φ)^(-1/2) (block-diagonal by subject, :mod:`mixedpy.covariance.residual`),
the model Ty = TXβ + TZb + Te has residuals σ²I, so lme4's profiled deviance of the whitened data
(:class:`mixedpy.objective.Workspace`; for GLS without random terms just dense XᵀX) plus log|R(φ)|
is the deviance of the model.  The parameter vector the orchestrator optimizes is (θ, φ): θ as in
lme4, φ the free residual parameters (:meth:`ResidualDesign.start`).

Glossary
--------
params    (θ, φ) — θ first, so ``term.T(params)`` and ``Λ(params)`` read their θ part unchanged
X̃, Z̃, ỹ   T X, T Z, T y (sparse T: no dense n × n matrix)
ldL2      in the :class:`DevianceParts` returned here: log|A(θ)| + log|R(φ)|
G_s       for the φ-gradient of GLS:  L_s⁻ᵀ (I − X̃_s M⁻¹ X̃_sᵀ − c r̃_s r̃_sᵀ) L_s⁻¹ with M = X̃ᵀX̃,
          c = m / pwrss (the REML term X̃M⁻¹X̃ᵀ is dropped for ML), so that
          ∂d/∂φ_k = Σ_s ⟨G_s, ∂R_s/∂φ_k⟩
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .covariance.residual import ResidualDesign
from .design.random import RandomDesign
from .deviance import DevianceParts, dof
from .objective import Workspace

FD_STEP = 1e-5  # central-difference step of the φ-gradient when there are random terms


def nested_in_subjects(random: RandomDesign, residual: ResidualDesign) -> bool:
    """Whether every random term's level is constant within each residual subject (then a whitened
    row still belongs to one level per term, and the blocked engine applies).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
    ...                 residual='ar1(Days | Subject)')
    >>> ws = m.workspace
    >>> nested_in_subjects(m.random, m.spec.residual)
    True
    """
    sc = residual.subject_codes
    if sc is None or residual.structure is None or residual.term.name == "het":
        return True
    for t in random.terms:
        first = np.full(int(sc.max()) + 1, -1, dtype=np.int64)
        first[sc] = t.codes
        if np.any(first[sc] != t.codes):
            return False
    return True


class WhitenedWorkspace:
    """The workspace protocol (:mod:`mixedpy.model.protocol`) for Σ = σ² R(φ).

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    random : RandomDesign
    residual : ResidualDesign
    engine : str
        Engine of the whitened random-effects part (``"auto"``; ``"sparse"`` is forced when a
        random term crosses the residual subjects).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"),
    ...                 residual="ar1(Days | Subject)")
    >>> type(m.workspace).__name__, len(m.theta)
    ('WhitenedWorkspace', 1)
    """

    has_gradient = True

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign, residual: ResidualDesign,
                 engine: str = "auto", structures: list | None = None):
        self.X, self.y, self.random, self.residual = X, y, random, residual
        # relmat terms (multi-trait animal models): the whitened data go to Henderson's MME with K⁻¹
        self.structures = list(structures) if structures is not None else None
        self.has_gradient = self.structures is None
        self.n, self.p = X.shape
        self.ntheta, self.nphi = random.ntheta, residual.nphi
        self.engine = engine if nested_in_subjects(random, residual) else "sparse"
        self._cache_key = None
        self._cache = None

    # --- φ → whitened problem --------------------------------------------------------------------
    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(θ, φ) from the optimized vector.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> theta, phi = ws.split(m.theta)
        >>> len(theta), len(phi)
        (1, 1)
        """
        params = np.asarray(params, dtype=float)
        return params[:self.ntheta], params[self.ntheta:]

    def at(self, phi: np.ndarray) -> dict:
        """The whitened problem at φ (cached for the last φ): T, log|R|, X̃, ỹ and the inner
        workspace (None for GLS).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> w = ws.at(ws.split(m.theta)[1])
        >>> sorted(w), w['X'].shape
        (['W', 'X', 'inner', 'y'], (180, 2))
        """
        phi = np.asarray(phi, dtype=float)
        key = phi.tobytes()
        if key == self._cache_key:
            return self._cache
        out = self._build(phi)
        self._cache_key, self._cache = key, out
        return out

    def _build(self, phi: np.ndarray) -> dict:
        W = self.residual.whitening(phi)
        Xw = np.asarray(W.T @ self.X)
        yw = np.asarray(W.T @ self.y).ravel()
        inner = None
        if self.random.terms:
            Zw = sp.csc_matrix(W.T @ self.random.Z)
            terms = tuple(dataclasses.replace(t, X=np.asarray(W.T @ t.X)) for t in self.random.terms)
            rw = dataclasses.replace(self.random, Z=Zw, terms=terms)
            if self.structures is not None:
                from .genetics.mme import MMEWorkspace
                inner = MMEWorkspace(Xw, yw, rw, self.structures)
            else:
                inner = Workspace(Xw, yw, rw, self.engine)
        return {"W": W, "X": Xw, "y": yw, "inner": inner}

    # --- the deviance --------------------------------------------------------------------------------
    def parts(self, params: np.ndarray) -> DevianceParts:
        """Every piece of the deviance at (θ, φ); ``ldL2`` includes log|R(φ)|.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> p = ws.parts(m.theta)
        >>> bool(np.isclose(p.deviance(reml=True), m.reml_criterion)), p.beta.round(2).tolist()
        (True, [252.84, 10.47])
        """
        params = np.asarray(params, dtype=float)
        theta, phi = self.split(params)
        w = self.at(phi)
        if w["inner"] is not None:
            pt = w["inner"].parts(theta)
            return dataclasses.replace(pt, theta=params.copy(), ldL2=pt.ldL2 + w["W"].logdet)
        return self._gls_parts(w, params)

    def _gls_parts(self, w: dict, params: np.ndarray) -> DevianceParts:
        """GLS on the whitened data ``w`` (no random terms)."""
        Xw, yw = w["X"], w["y"]
        M = Xw.T @ Xw
        if self.p:
            cf = la.cho_factor(M, lower=True, check_finite=False)
            beta = la.cho_solve(cf, Xw.T @ yw, check_finite=False)
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        else:
            beta, ldRX2 = np.zeros(0), 0.0
        r = yw - Xw @ beta
        return DevianceParts(theta=params.copy(), beta=beta, u=np.zeros(0), pwrss=float(r @ r),
                             ldL2=w["W"].logdet, ldRX2=ldRX2, RXtRX=M, n=self.n, p=self.p, resid=r)

    def deviance(self, params: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance (REML criterion when ``reml``) at (θ, φ).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> bool(np.isclose(ws.deviance(m.theta), m.reml_criterion))
        True
        """
        try:
            return float(self.parts(params).deviance(reml))
        except (np.linalg.LinAlgError, la.LinAlgError, ValueError, FloatingPointError):
            return np.inf

    def deviance_and_gradient(self, params: np.ndarray, reml: bool = True) -> tuple[float, np.ndarray]:
        """The deviance and its gradient in (θ, φ): analytic for GLS; with random terms (or sparse
        Kronecker whitening) analytic in θ (the whitened workspace's) and in φ
        (:mod:`mixedpy.whitened_gradient`); central differences in φ only for GLS on grids and
        engines without entries of A⁻¹.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> d, g = ws.deviance_and_gradient(m.theta)
        >>> bool(np.isclose(d, m.reml_criterion)), g.shape
        (True, (2,))
        """
        params = np.asarray(params, dtype=float)
        try:
            if not self.random.terms and not self.residual.kron:
                return self._gls_gradient(params, reml)
            theta, phi = self.split(params)
            w = self.at(phi)
            if w["inner"] is None:
                f, g_theta = self.parts(params).deviance(reml), np.zeros(0)
            else:
                f, g_theta = w["inner"].deviance_and_gradient(theta, reml)
                f = f + w["W"].logdet
            if w["inner"] is not None:
                from .whitened_gradient import phi_gradient
                g_phi = phi_gradient(self, params, reml)
                if g_phi is not None:
                    return float(f), np.concatenate([g_theta, g_phi])
            g_phi = np.zeros(self.nphi)
            for k in range(self.nphi):
                h = FD_STEP * max(1.0, abs(phi[k]))
                up, dn = params.copy(), params.copy()
                up[self.ntheta + k] += h
                dn[self.ntheta + k] -= h
                g_phi[k] = (self._fresh_deviance(up, reml) - self._fresh_deviance(dn, reml)) / (2 * h)
            return float(f), np.concatenate([g_theta, g_phi])
        except (np.linalg.LinAlgError, la.LinAlgError, ValueError, FloatingPointError):
            return np.inf, np.zeros(len(params))

    def _fresh_deviance(self, params: np.ndarray, reml: bool) -> float:
        theta, phi = self.split(params)
        w = self._build(phi)
        if w["inner"] is None:
            return float(self._gls_parts(w, params).deviance(reml))
        return float(w["inner"].deviance(theta, reml) + w["W"].logdet)

    def _gls_gradient(self, params: np.ndarray, reml: bool) -> tuple[float, np.ndarray]:
        pt = self.parts(params)
        if not self.nphi:
            return float(pt.deviance(reml)), np.zeros(0)
        g_a, g_pw = self._gls_piece_gradients(params, pt, reml)
        return float(pt.deviance(reml)), g_a + dof(self.n, self.p, reml) / pt.pwrss * g_pw

    def _gls_piece_gradients(self, params: np.ndarray, pt: DevianceParts, reml: bool):
        """∂φ of a = log|R| (+ log|XᵀR⁻¹X| for REML) and of pwrss (GLS), through the
        per-subject matrices L⁻ᵀ(I − X̃M⁻¹X̃ᵀ)L⁻¹ and −L⁻ᵀr̃r̃ᵀL⁻¹."""
        _, phi = self.split(params)
        w = self.at(phi)
        Xw, r = w["X"], pt.resid
        # X̃M⁻¹X̃ᵀ = BBᵀ with B = X̃ L_M⁻ᵀ (one dense triangular solve), then per subject
        # L⁻ᵀ(I − BBᵀ)L⁻¹ = L⁻ᵀL⁻¹ − CCᵀ with C = L⁻ᵀB (batched matmuls)
        B = None
        if reml and self.p:
            LM = np.linalg.cholesky(pt.RXtRX)
            B = la.solve_triangular(LM, Xw.T, lower=True, check_finite=False).T
        Ga, Gp = [], []
        for b, Linv in zip(self.residual.batches, w["W"].Linv):
            LinvT = np.swapaxes(Linv, 1, 2)
            G = LinvT @ Linv
            if B is not None:
                C = LinvT @ B[b.rows]
                G = G - C @ np.swapaxes(C, 1, 2)
            Ga.append(G)
            Lr = (LinvT @ r[b.rows][:, :, None])[:, :, 0]
            Gp.append(-Lr[:, :, None] * Lr[:, None, :])
        return self.residual.gradient(phi, Ga), self.residual.gradient(phi, Gp)

    def varpar_pieces(self, params: np.ndarray, reml: bool):
        """(a, pwrss, vec (RXᵀRX)⁻¹) and the analytic gradients of a and pwrss in (θ, φ), for
        :mod:`mixedpy.inference.varpar`'s Hessian (None where some piece has no analytic gradient).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> pieces = ws.varpar_pieces(m.theta, reml=True)
        >>> type(pieces).__name__
        'tuple'
        """
        if not self.nphi or self.structures is not None or (self.residual.kron and not self.random.terms):
            return None
        if self.random.terms:
            return self._random_varpar_pieces(params, reml)
        pt = self.parts(params)
        g_a, g_pw = self._gls_piece_gradients(params, pt, reml)
        a = pt.ldL2 + (pt.ldRX2 if reml else 0.0)
        return np.concatenate([[a, pt.pwrss], np.linalg.inv(pt.RXtRX).ravel()]), np.vstack([g_a, g_pw])

    def _random_varpar_pieces(self, params: np.ndarray, reml: bool):
        from .gradient import gradient_pieces
        from .whitened_gradient import phi_pieces
        theta, phi = self.split(params)
        inner = self.at(phi)["inner"]
        pt = inner.parts(theta)
        th = gradient_pieces(inner, pt, want_ldrx2=reml)
        ph = phi_pieces(self, params, reml)
        if th is None or ph is None:
            return None
        a = pt.ldL2 + self.at(phi)["W"].logdet + (pt.ldRX2 if reml else 0.0)
        f = np.concatenate([[a, pt.pwrss], np.linalg.inv(pt.RXtRX).ravel()])
        return f, np.vstack([np.concatenate([th[0] + th[1], ph[0]]), np.concatenate([th[2], ph[1]])])

    # --- the solution's pieces ----------------------------------------------------------------------
    def blups(self, parts: DevianceParts) -> np.ndarray:
        """b at the estimates (from the inner workspace of the whitened problem).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> bool(np.allclose(ws.blups(ws.parts(m.theta)), m.solution.b))
        True
        """
        if not self.random.q:
            return np.zeros(0)
        _, phi = self.split(parts.theta)
        return self.at(phi)["inner"].blups(parts)  # Λu (Λ form) or the MME's b

    def conditional_variances(self, params: np.ndarray, sigma: float) -> list[np.ndarray]:
        """Per term, nlev × k × k blocks of Var(b | y, β = β̂) (from the whitened problem).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> [c.shape for c in ws.conditional_variances(m.theta, m.sigma)]
        [(18, 1, 1)]
        """
        theta, phi = self.split(params)
        inner = self.at(phi)["inner"]
        return [] if inner is None else inner.conditional_variances(theta, sigma)

    def mme_system(self, params: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, list[str]]:
        """Henderson's MME with R(φ)⁻¹: C = [[XᵀR⁻¹X, XᵀR⁻¹Z], [ZᵀR⁻¹X, ZᵀR⁻¹Z + σ²G⁻¹]].

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit('Reaction ~ Days + (1 | Subject)', mixedpy.datasets.load('sleepstudy'),
        ...                 residual='ar1(Days | Subject)')
        >>> ws = m.workspace
        >>> C, rhs, names = ws.mme_system(m.theta)
        >>> C.shape, names[:1]
        ((20, 20), ['Subject:308:(Intercept)'])
        """
        theta, phi = self.split(params)
        w = self.at(phi)
        if w["inner"] is not None:
            return w["inner"].mme_system(theta)
        return sp.csc_matrix(w["X"].T @ w["X"]), w["X"].T @ w["y"], []
