"""The solution at the estimates: BLUE β̂, BLUP b̂, σ̂, Var(β̂), conditional variances of b, the MME.

Everything here is computed from the objective's :class:`DevianceParts` at θ̂ and the factor of A(θ̂);
nothing re-derives the likelihood.

Glossary
--------
b        Λ u, the BLUPs of the random effects (level-major within each term)
condvar  diagonal k×k blocks of Var(b | y, β = β̂) = σ² Λ A⁻¹ Λᵀ (lme4's ``condVar``)
G        Var(b) = σ² Λ Λᵀ;  R = σ² I
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .design.random import RandomDesign, ReTerm
from .deviance import DevianceParts


@dataclass(frozen=True)
class Solution:
    """Estimates at θ̂ (see the module glossary)."""

    theta: np.ndarray
    beta: np.ndarray
    b: np.ndarray
    u: np.ndarray
    sigma: float
    vcov: np.ndarray
    parts: DevianceParts


def solve_at(ws, theta: np.ndarray, sigma2: float | None = None, reml: bool = True) -> Solution:
    """β̂, b̂, σ̂ and Var(β̂) = σ² (RXᵀRX)⁻¹ at θ from any workspace (the protocol of
    :mod:`mixedpy.model.protocol`); σ² is the profiled estimate unless given."""
    parts = ws.parts(theta)
    if sigma2 is None:
        sigma2 = parts.sigma2(reml)
    vcov = sigma2 * np.linalg.inv(parts.RXtRX) if ws.p else np.zeros((0, 0))
    return Solution(theta=np.asarray(theta, dtype=float), beta=parts.beta, b=ws.blups(parts), u=parts.u,
                    sigma=float(np.sqrt(sigma2)), vcov=vcov, parts=parts)


def term_blocks(term: ReTerm) -> np.ndarray:
    """Indices (into b) of each level's k effects: nlev × k."""
    return term.offset + np.arange(term.nlev)[:, None] * term.k + np.arange(term.k)[None, :]


def ranef_frames(random: RandomDesign, values: np.ndarray) -> dict:
    """Group name → DataFrame (levels × term columns); terms sharing a factor are side by side."""
    out = {}
    for group, terms in random.groups().items():
        frames = [pd.DataFrame(values[term_blocks(t)], index=t.levels, columns=t.columns) for t in terms]
        df = pd.concat(frames, axis=1) if len(frames) > 1 else frames[0]
        df.index.name = group
        out[group] = df
    return out


@dataclass(frozen=True)
class MME:
    """Henderson's mixed model equations at the estimates: ``C [β; b] = rhs``.

    ``C = [[XᵀX, XᵀZ], [ZᵀX, ZᵀZ + σ² G⁻¹]]`` with ``G = Var(b) = σ² ΛΛᵀ`` (R = σ² I), so the
    residual variance cancels; ``solution`` reproduces β̂ (BLUE) and b̂ (BLUP).

    Attributes
    ----------
    C : scipy.sparse.csc_matrix
    rhs : ndarray
    solution : ndarray
    names : list of str
        Fixed-effect names, then ``group:level:term`` for each random effect.
    G : scipy.sparse.csc_matrix or None
        Var(b) (None when the MME are in latent effects).
    """

    C: sp.csc_matrix
    rhs: np.ndarray
    solution: np.ndarray
    names: list
    G: sp.csc_matrix
