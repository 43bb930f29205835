"""A model's random design in latent form: terms with a relationship matrix K enter as Z (L_K ⊗ I)
with iid latent effects (L_K L_Kᵀ = K), so Kenward-Roger's algebra for iid terms applies to them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class _LatentTerm:
    """A random term in its latent form b = (L_K ⊗ I_k) u, u iid per latent level (L_K L_Kᵀ = K)."""

    k: int
    nlev: int
    offset: int
    theta_offset: int
    ntheta: int
    source: object

    @property
    def q(self) -> int:
        return self.nlev * self.k

    def T(self, theta):
        return self.source.T(theta)


@dataclass(frozen=True)
class _LatentDesign:
    """Z̃ = Z (L_K ⊗ I_k) per term and its terms: Σ = Z̃ (I ⊗ σ²TTᵀ) Z̃ᵀ + σ²I is the model's
    Σ = Z (K ⊗ σ²TTᵀ) Zᵀ + σ²I, and the derivative patterns I ⊗ E_ab map to K ⊗ E_ab, so pbkrtest's
    algorithm applies unchanged to relationship-matrix terms."""

    Z: sp.csc_matrix
    terms: tuple

    @property
    def q(self) -> int:
        return int(self.Z.shape[1])

    def Lambda(self, theta) -> sp.csc_matrix:
        return sp.block_diag([sp.kron(sp.identity(t.nlev), t.T(theta)) for t in self.terms], format="csc")


def _latent_design(result):
    """The random design of ``result`` in latent form (the design itself when no term has a K)."""
    rd, structures = result.random, result.structures
    if structures is None or all(st.kind == "iid" for st in structures):
        return rd
    Z = sp.csc_matrix(rd.Z)
    blocks, terms, off = [], [], 0
    for t, st in zip(rd.terms, structures):
        Zt = Z[:, t.offset:t.offset + t.q]
        if st.kind == "iid":
            L = None
            nlat = t.nlev
        else:
            L = st.F if st.kind == "factor" else st.draw(np.eye(t.nlev))
            nlat = L.shape[1]
            Zt = sp.csc_matrix(Zt @ sp.kron(sp.csc_matrix(L), sp.identity(t.k)))
        blocks.append(Zt)
        terms.append(_LatentTerm(k=t.k, nlev=nlat, offset=off, theta_offset=t.theta_offset,
                                 ntheta=t.ntheta, source=t))
        off += nlat * t.k
    return _LatentDesign(Z=sp.csc_matrix(sp.hstack(blocks)), terms=tuple(terms))
