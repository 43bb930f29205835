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

Λᵀ ZᵀZ Λ is bilinear in θ: with E_r the 0/1 pattern of θ_r in Λ, it equals Σ_rs θ_r θ_s E_rᵀ ZᵀZ E_s.
The products E_rᵀ ZᵀZ E_s are formed once (scattered onto the fixed pattern of A), so each θ costs
one weighted sum of stored values and one numeric refactorization.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .design.random import RandomDesign
from .linalg import SparseLDL

LOG2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class DevianceParts:
    """Everything the deviance at one θ is made of (what inference and the solution reuse)."""

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    pwrss: float
    ldL2: float
    ldRX2: float
    RXtRX: np.ndarray
    n: int
    p: int

    def deviance(self, reml: bool) -> float:
        if reml:
            nmp = self.n - self.p
            return self.ldL2 + self.ldRX2 + nmp * (1.0 + LOG2PI + np.log(self.pwrss / nmp))
        return self.ldL2 + self.n * (1.0 + LOG2PI + np.log(self.pwrss / self.n))

    def sigma2(self, reml: bool) -> float:
        return self.pwrss / (self.n - self.p if reml else self.n)


class Workspace:
    """Cross-products and the symbolic factorization, built once per model.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    random : RandomDesign

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ws = m.workspace
    >>> round(ws.deviance(m.theta, reml=True), 4) == round(m.reml_criterion, 4)
    True
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, random: RandomDesign):
        self.X, self.y, self.random = X, y, random
        self.n, self.p = X.shape
        Z = random.Z
        self.Z = Z
        self.ZtZ = sp.csc_matrix(Z.T @ Z)
        self.ZtX = np.asarray(Z.T @ X)
        self.Zty = np.asarray(Z.T @ y).ravel()
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self._last_theta = None
        if random.q:
            self._build_pattern()
            self.factor = SparseLDL(self.factor_pattern())
        else:  # a linear model: no random effects, nothing to factor
            self._pairs, self._nnz, self.factor = [], 0, None

    # --- the pattern of A and the bilinear map θ → values -------------------------------------------
    def _indicator(self, r: int) -> sp.csc_matrix:
        rd = self.random
        mask = rd.lind == r
        return sp.csc_matrix((np.ones(int(mask.sum())), (rd.Lambda_rows[mask], rd.Lambda_cols[mask])),
                             shape=(rd.q, rd.q))

    def _build_pattern(self) -> None:
        q, m = self.random.q, self.random.ntheta
        E = [self._indicator(r) for r in range(m)]
        EtZtZ = [sp.csc_matrix(Er.T @ self.ZtZ) for Er in E]
        pairs, keys_list = [], []
        for r in range(m):
            for s in range(r, m):
                M = EtZtZ[r] @ E[s]
                if r != s:
                    M = M + (EtZtZ[s] @ E[r])
                M = sp.triu(M, format="coo")
                if M.nnz == 0:
                    continue
                pairs.append((r, s, M))
                keys_list.append(M.col.astype(np.int64) * q + M.row)
        diag = np.arange(q, dtype=np.int64) * (q + 1)
        keys = np.unique(np.concatenate(keys_list + [diag]))
        self._pattern_rows = (keys % q).astype(np.int32)
        self._pattern_cols = (keys // q).astype(np.int32)
        self._diag_pos = np.searchsorted(keys, diag)
        self._pairs = [(r, s, np.searchsorted(keys, M.col.astype(np.int64) * q + M.row), M.data)
                       for (r, s, M), _ in zip(pairs, keys_list)]
        self._nnz = len(keys)

    def A_values(self, theta: np.ndarray) -> np.ndarray:
        """Values of the upper triangle of A(θ) = ΛᵀZᵀZΛ + I on the stored pattern (CSC order)."""
        data = np.zeros(self._nnz)
        data[self._diag_pos] = 1.0
        for r, s, pos, vals in self._pairs:
            data[pos] += (theta[r] * theta[s]) * vals
        return data

    def factor_pattern(self) -> sp.csc_matrix:
        q = self.random.q
        theta = np.where(self.random.theta0 == 0, 0.5, self.random.theta0)
        return sp.csc_matrix((self.A_values(theta), (self._pattern_rows, self._pattern_cols)), shape=(q, q))

    def A(self, theta: np.ndarray) -> sp.csc_matrix:
        """A(θ) as a full symmetric sparse matrix (for teaching and checks)."""
        U = self.factor.matrix(self.A_values(np.asarray(theta, dtype=float)))
        return sp.csc_matrix(U + sp.triu(U, k=1).T)

    # --- the deviance ------------------------------------------------------------------------------
    def update(self, theta: np.ndarray) -> None:
        """Refactor A at θ (numeric factorization only; skipped when θ is unchanged)."""
        theta = np.asarray(theta, dtype=float)
        if self.factor is None or (self._last_theta is not None and np.array_equal(theta, self._last_theta)):
            return
        self.factor.refactor(self.A_values(theta))
        self._last_theta = theta.copy()

    def parts(self, theta: np.ndarray) -> DevianceParts:
        """All pieces of the profiled deviance at θ."""
        theta = np.asarray(theta, dtype=float)
        self.update(theta)
        Lam = self.random.Lambda(theta)
        LamT = Lam.T.tocsr()
        W = LamT @ self.ZtX
        v = LamT @ self.Zty
        if self.factor is None:
            AinvW, Ainvv, ldL2 = W, v, 0.0
        else:
            AinvW, Ainvv, ldL2 = self.factor.solve(W), self.factor.solve(v), self.factor.logdet()
        RXtRX = self.XtX - W.T @ AinvW
        if self.p:
            cf = la.cho_factor(RXtRX, lower=True)
            beta = la.cho_solve(cf, self.Xty - W.T @ Ainvv)
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        else:
            beta, ldRX2 = np.zeros(0), 0.0
        u = Ainvv - AinvW @ beta
        resid = self.y - self.X @ beta - self.Z @ (Lam @ u)
        pwrss = float(resid @ resid + u @ u)
        return DevianceParts(theta=theta.copy(), beta=beta, u=u, pwrss=pwrss, ldL2=ldL2,
                             ldRX2=ldRX2, RXtRX=RXtRX, n=self.n, p=self.p)

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Profiled deviance (REML criterion when ``reml``) at θ."""
        try:
            return self.parts(theta).deviance(reml)
        except (la.LinAlgError, ValueError, FloatingPointError):
            return np.inf
