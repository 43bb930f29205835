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
from .model.deviance import DevianceParts
from .objective import Workspace


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


def solve_at(ws: Workspace, theta: np.ndarray, reml: bool) -> Solution:
    """β̂, b̂, σ̂ and Var(β̂) at θ."""
    parts = ws.parts(theta)
    sigma2 = parts.sigma2(reml)
    b = ws.random.Lambda(theta) @ parts.u
    vcov = sigma2 * np.linalg.inv(parts.RXtRX) if ws.p else np.zeros((0, 0))
    return Solution(theta=np.asarray(theta, dtype=float), beta=parts.beta, b=b, u=parts.u,
                    sigma=float(np.sqrt(sigma2)), vcov=vcov, parts=parts)


def term_blocks(term: ReTerm) -> np.ndarray:
    """Indices (into b) of each level's k effects: nlev × k."""
    return term.offset + np.arange(term.nlev)[:, None] * term.k + np.arange(term.k)[None, :]


def conditional_variances(ws: Workspace, sol: Solution) -> list[np.ndarray]:
    """Per term, an nlev × k × k array of Var(b_level | y) = σ² T (A⁻¹)_block Tᵀ."""
    ws.update(sol.theta)
    out = []
    for term in ws.random.terms:
        blocks = ws.system.inverse_blocks(term_blocks(term))
        T = term.T(sol.theta)
        out.append(sol.sigma ** 2 * np.einsum("ab,lbc,dc->lad", T, blocks, T))
    return out


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
    G : scipy.sparse.csc_matrix
        Var(b).
    """

    C: sp.csc_matrix
    rhs: np.ndarray
    solution: np.ndarray
    names: list
    G: sp.csc_matrix


def mme(ws: Workspace, sol: Solution, names: list) -> MME:
    """Henderson's MME (needs a non-singular G: every variance component positive)."""
    Lam = ws.random.Lambda(sol.theta)
    G = sp.csc_matrix(sol.sigma ** 2 * (Lam @ Lam.T))
    lam_diag = Lam.diagonal()
    if ws.random.q and np.any(lam_diag == 0):
        raise np.linalg.LinAlgError("G is singular (a variance component is 0): Henderson's MME "
                                    "need G⁻¹; use the Λ-form of the objective instead")
    Lam_inv = sp.block_diag([sp.kron(sp.eye(t.nlev), np.linalg.inv(t.T(sol.theta)))
                             for t in ws.random.terms], format="csc")
    Ginv_scaled = sp.csc_matrix(Lam_inv.T @ Lam_inv)  # σ² G⁻¹ = (ΛΛᵀ)⁻¹
    ZtX = sp.csc_matrix(ws.ZtX)
    C = sp.bmat([[sp.csc_matrix(ws.XtX), ZtX.T], [ZtX, sp.csc_matrix(ws.ZtZ) + Ginv_scaled]], format="csc")
    rhs = np.concatenate([ws.Xty, ws.Zty])
    solution = sp.linalg.spsolve(C, rhs)
    return MME(C=C, rhs=rhs, solution=np.asarray(solution), names=names, G=G)
