"""Single-step relationship inverse H⁻¹ (Legarra, Aguilar & Misztal 2009; Aguilar et al. 2010).

    H⁻¹ = A⁻¹ + [[0, 0], [0, τ G_w⁻¹ − ω A₂₂⁻¹]]         (rows/columns of the genotyped animals: 2)
    G_w = α G + β A₂₂                                    (blending, BLUPF90's AlphaBeta; 0.95/0.05)

A is the pedigree relationship matrix, A₂₂ its block of the genotyped animals, G the genomic
relationship matrix (:func:`mixedpy.grm`).  τ and ω are BLUPF90's TauOmega tuning (1, 1 is the
original single-step).  With τ = ω = 1, H⁻¹ is the inverse of Legarra's H =
A + [[A₁₂A₂₂⁻¹(G_w − A₂₂)A₂₂⁻¹A₂₁, A₁₂A₂₂⁻¹(G_w − A₂₂)], [(G_w − A₂₂)A₂₂⁻¹A₂₁, G_w − A₂₂]].

A₂₂ is formed densely for the genotyped animals only (m × m, m = number genotyped); H⁻¹ is returned
sparse as a :class:`~mixedpy.genetics.relmat.RelInverse`, which ``relmat=`` takes as it takes a
pedigree's A⁻¹.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError, ModelSpecError
from .pedigree import Pedigree, key_string
from .relmat import RelInverse


def Hinv(pedigree: Pedigree, grm: pd.DataFrame, *, alpha: float = 0.95, beta: float = 0.05,
         tau: float = 1.0, omega: float = 1.0) -> RelInverse:
    """H⁻¹ for single-step GBLUP (see the module docstring), labelled by the pedigree's ids.

    Parameters
    ----------
    pedigree : Pedigree
        Every animal, genotyped or not.
    grm : DataFrame
        The genomic relationship matrix of the genotyped animals (labels: pedigree ids).
    alpha, beta : float
        Blending G_w = αG + βA₂₂ (BLUPF90's defaults 0.95, 0.05; α = 1, β = 0 for none).
    tau, omega : float
        Scaling of G_w⁻¹ and A₂₂⁻¹ (BLUPF90's TauOmega; 1, 1 by default).

    Returns
    -------
    RelInverse
        H⁻¹ over the pedigree's ids (sparse: A⁻¹ plus the dense block of the genotyped animals),
        ready for ``relmat={"animal": Hinv(...)}``; ``.to_frame()`` gives it as a DataFrame.

    Examples
    --------
    >>> import numpy as np, pandas as pd, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> G = pd.DataFrame(np.eye(2) * 1.1 + 0.1, index=[7, 8], columns=[7, 8])
    >>> Hinv(ped, G).shape
    (8, 8)
    >>> cal = mixedpy.datasets.load("mrode_calves")
    >>> m = mixedpy.fit("wwg ~ sex + (1 | animal)", cal, relmat={"animal": Hinv(ped, G)},
    ...                 variances={"animal": 20.0, "Residual": 40.0})
    >>> m.ranef["animal"].shape
    (8, 1)
    """
    if not isinstance(pedigree, Pedigree):
        raise ModelSpecError(f"Hinv needs a mixedpy.Pedigree, got {type(pedigree).__name__}")
    if not isinstance(grm, pd.DataFrame) or grm.shape[0] != grm.shape[1]:
        raise ModelSpecError("grm must be a square DataFrame labelled by the genotyped animals' ids")
    for name, v in (("alpha", alpha), ("beta", beta), ("tau", tau), ("omega", omega)):
        if not np.isfinite(v) or v < 0:
            raise ModelSpecError(f"{name} must be a non-negative number, got {v!r}")
    if alpha == 0 and beta == 0:
        raise ModelSpecError("alpha and beta cannot both be 0 (G_w = αG + βA22)")
    keys = pd.Index([key_string(i) for i in pedigree.ids])
    geno = [key_string(i) for i in grm.index]
    pos = keys.get_indexer(geno)
    if np.any(pos < 0):
        missing = [g for g, p in zip(geno, pos) if p < 0][:5]
        raise DataError(f"genotyped animal(s) {', '.join(missing)} of the grm are not in the pedigree")
    cols = pd.Index([key_string(c) for c in grm.columns]).get_indexer(geno)
    if np.any(cols < 0):
        raise ModelSpecError("the grm must have the same labels on its rows and columns")
    G = grm.to_numpy(dtype=float)[:, cols]
    if not np.all(np.isfinite(G)) or np.max(np.abs(G - G.T)) > 1e-8 * max(1.0, np.max(np.abs(G))):
        raise DataError("the grm must be finite and symmetric")
    A22 = _a22(pedigree, pos)
    Gw = alpha * G + beta * A22
    try:
        block = tau * np.linalg.inv(Gw) - omega * np.linalg.inv(A22)
    except np.linalg.LinAlgError:
        raise DataError("the blended G (alpha G + beta A22) or A22 is singular; blend with beta > 0") from None
    m = len(pos)
    rows, cols_ = np.repeat(pos, m), np.tile(pos, m)
    Hi = sp.csc_matrix(pedigree.Ainv, dtype=float) + sp.csc_matrix((block.ravel(), (rows, cols_)),
                                                                   shape=pedigree.Ainv.shape)
    return RelInverse(Hi, labels=pedigree.ids)


def _a22(pedigree: Pedigree, pos: np.ndarray) -> np.ndarray:
    """The block of A for the genotyped animals, by solving A⁻¹ x = e_j (sparse) for them."""
    import scipy.sparse.linalg as spla
    n = len(pedigree.ids)
    E = np.zeros((n, len(pos)))
    E[pos, np.arange(len(pos))] = 1.0
    X = spla.splu(sp.csc_matrix(pedigree.Ainv)).solve(E)
    return X[pos]
