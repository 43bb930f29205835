"""The profiled deviance, written once for every engine and every caller.

Every engine (dense augmented, blocked Schur, sparse LDLᵀ, Henderson's MME with K⁻¹, tridiagonal
GBLUP) reduces a model at θ to the same four numbers, and the deviance is a function of them only.

Glossary
--------
ldL2     log det A(θ)  (A = ΛᵀZᵀZΛ + I, or its MME equivalent log|C_zz| + log|Γ|)
ldRX2    log det RXᵀRX (the Schur complement of the fixed effects)
pwrss    penalized weighted residual sum of squares ‖y − Xβ − ZΛu‖² + ‖u‖²
n, p     observations and fixed-effect columns

Deviance (−2 log-likelihood)::

    at σ² given:  ldL2 [+ ldRX2] + m log(2π σ²) + pwrss / σ²        m = n (ML) or n − p (REML)
    σ² profiled:  ldL2 [+ ldRX2] + m (1 + log(2π pwrss / m))         (σ̂² = pwrss / m)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG2PI = float(np.log(2 * np.pi))


def dof(n: int, p: int, reml: bool) -> int:
    """The divisor of σ̂²: n − p for REML, n for ML.

    Examples
    --------
    >>> dof(30, 1, reml=True), dof(30, 1, reml=False)
    (29, 30)
    """
    return n - p if reml else n


def profiled_deviance(ldL2: float, ldRX2: float, pwrss: float, n: int, p: int, reml: bool) -> float:
    """−2 log-likelihood (REML criterion when ``reml``) with σ² profiled out.

    Examples
    --------
    >>> round(float(profiled_deviance(0.0, 0.0, 10.0, 10, 0, reml=False)), 6)  # σ̂² = 1: n (1 + log 2π)
    28.378771
    """
    m = dof(n, p, reml)
    return ldL2 + (ldRX2 if reml else 0.0) + m * (1.0 + LOG2PI + np.log(pwrss / m))


def deviance_at_sigma(ldL2: float, ldRX2: float, pwrss: float, n: int, p: int, sigma2: float,
                      reml: bool) -> float:
    """−2 log-likelihood at a given residual variance σ² (equals :func:`profiled_deviance` at
    σ² = pwrss / m).

    Examples
    --------
    >>> bool(abs(deviance_at_sigma(0.0, 0.0, 10.0, 10, 0, 1.0, False) - 28.378771) < 1e-6)
    True
    """
    m = dof(n, p, reml)
    return ldL2 + (ldRX2 if reml else 0.0) + m * (LOG2PI + np.log(sigma2)) + pwrss / sigma2


@dataclass(frozen=True)
class DevianceParts:
    """Everything the deviance at one θ is made of (what inference and the solution reuse).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit('Yield ~ 1 + (1 | Batch)', mixedpy.datasets.load('dyestuff'))
    >>> parts = m.workspace.parts(m.theta)
    >>> bool(np.isclose(parts.deviance(reml=True), m.reml_criterion)), round(float(parts.sigma2(reml=True)), 2)
    (True, 2451.25)
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    pwrss: float
    ldL2: float
    ldRX2: float
    RXtRX: np.ndarray
    n: int
    p: int
    resid: np.ndarray | None = None
    AinvW: np.ndarray | None = None

    def deviance(self, reml: bool) -> float:
        """The profiled deviance (σ² at its estimate).

        Examples
        --------
        >>> p = DevianceParts(theta=np.array([1.0]), beta=np.zeros(0), u=np.zeros(0), pwrss=10.0, ldL2=0.0,
        ...                   ldRX2=0.0, RXtRX=np.zeros((0, 0)), n=10, p=0)
        >>> round(float(p.deviance(reml=False)), 6)
        28.378771
        """
        return profiled_deviance(self.ldL2, self.ldRX2, self.pwrss, self.n, self.p, reml)

    def deviance_at(self, sigma2: float, reml: bool) -> float:
        """The deviance at a given residual variance σ².

        Examples
        --------
        >>> p = DevianceParts(theta=np.array([1.0]), beta=np.zeros(0), u=np.zeros(0), pwrss=10.0, ldL2=0.0,
        ...                   ldRX2=0.0, RXtRX=np.zeros((0, 0)), n=10, p=0)
        >>> round(float(p.deviance_at(1.0, reml=False)), 6), round(float(p.deviance_at(2.0, reml=False)), 6)
        (28.378771, 30.310242)
        """
        return deviance_at_sigma(self.ldL2, self.ldRX2, self.pwrss, self.n, self.p, sigma2, reml)

    def sigma2(self, reml: bool) -> float:
        """σ̂² = pwrss / (n − p) (REML) or pwrss / n (ML).

        Examples
        --------
        >>> p = DevianceParts(theta=np.array([1.0]), beta=np.zeros(0), u=np.zeros(0), pwrss=10.0, ldL2=0.0,
        ...                   ldRX2=0.0, RXtRX=np.zeros((0, 0)), n=10, p=0)
        >>> p.sigma2(reml=False)
        1.0
        """
        return self.pwrss / dof(self.n, self.p, reml)
