"""Random terms with a known relationship matrix K (``relmat=``): Var(b) = σ²_term K ⊗ TTᵀ/θ-scale.

A relmat term's levels are all the labels of K (every animal of a pedigree, with or without
records), matched to the data's levels by their string keys (``3``, ``3.0`` and ``"3"`` agree).

Structures (how the workspace treats a term's covariance, see :mod:`mixedpy.genetics.mme`)
---------------------------------------------------------------------------------------------
iid       K = I (an ordinary random term)
inverse   K⁻¹ known and sparse (a pedigree's A⁻¹ by Henderson's rules; log|K| = Σ log d_i)
factor    K = F Fᵀ with F dense n × r (a square DataFrame K: Cholesky, or eigenvectors scaled by
          the square roots of the positive eigenvalues when K is only positive semidefinite); the
          effects are b = (F ⊗ I_k) a with iid a, so a singular K needs no inverse
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as la
import scipy.sparse as sp

from ..design.fixed import model_matrix, rename
from ..design.frame import grouping_factor
from ..design.random import RandomDesign, ReTerm, assemble, random_design
from ..errors import DataError, DataTypeError, ModelSpecError
from .pedigree import Pedigree, key_string

PSD_TOL = 1e-8


@dataclass(frozen=True)
class TermStructure:
    """Covariance structure of one random term (see the module glossary).

    Attributes
    ----------
    kind : {"iid", "inverse", "factor"}
    Kinv : scipy.sparse.csc_matrix or None
        K⁻¹ (``inverse``).
    logdetK : float
        log |K| (``inverse``; 0 otherwise, the factor's latent effects being iid).
    F : ndarray or None
        n × r factor with K = F Fᵀ (``factor``).
    labels : pandas.Index or None
        The original labels of K's levels (pedigree ids), for ``ranef``.
    """

    kind: str = "iid"
    Kinv: sp.csc_matrix | None = None
    logdetK: float = 0.0
    F: np.ndarray | None = None
    labels: pd.Index | None = None

    def nlatent(self, nlev: int) -> int:
        return self.F.shape[1] if self.kind == "factor" else nlev


def relmat_structure(K) -> TermStructure:
    """The structure of a ``relmat`` entry: a :class:`Pedigree` or a square labelled DataFrame.

    Examples
    --------
    >>> import pandas as pd
    >>> K = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["a", "b"], columns=["a", "b"])
    >>> s = relmat_structure(K)
    >>> s.kind, s.F.shape
    ('factor', (2, 2))
    """
    if isinstance(K, Pedigree):
        return TermStructure("inverse", Kinv=K.Ainv, logdetK=K.logdet_A, labels=K.ids)
    if not isinstance(K, pd.DataFrame):
        raise DataTypeError(f"a relmat entry must be a mixedpy.Pedigree or a square pandas DataFrame "
                            f"labelled by level, got {type(K).__name__}")
    if K.shape[0] != K.shape[1]:
        raise ModelSpecError(f"the relationship matrix must be square, got shape {K.shape}")
    if K.index.has_duplicates:
        raise ModelSpecError(f"the relationship matrix has duplicated label {K.index[K.index.duplicated()][0]!r}")
    if set(map(key_string, K.index)) != set(map(key_string, K.columns)):
        raise ModelSpecError("the relationship matrix must have the same labels on its rows and columns")
    cols = pd.Index([key_string(c) for c in K.columns]).get_indexer([key_string(i) for i in K.index])
    M = K.to_numpy(dtype=float)[:, cols]
    if not np.isfinite(M).all():
        raise DataError("the relationship matrix has non-finite entries")
    scale = max(float(np.max(np.abs(M))), 1e-300)
    if np.max(np.abs(M - M.T)) > 1e-8 * scale:
        raise ModelSpecError("the relationship matrix is not symmetric")
    M = (M + M.T) / 2
    try:
        F = la.cholesky(M, lower=True)
        if np.min(np.abs(np.diag(F))) < 1e-7 * np.sqrt(scale):
            raise la.LinAlgError("nearly singular")
    except la.LinAlgError:
        vals, vecs = la.eigh(M)
        if vals[0] < -PSD_TOL * max(vals[-1], 1e-300) * len(vals):
            raise DataError(f"the relationship matrix is not positive semidefinite (smallest eigenvalue "
                            f"{vals[0]:.3g})") from None
        keep = vals > PSD_TOL * vals[-1]
        F = vecs[:, keep] * np.sqrt(vals[keep])
    return TermStructure("factor", F=F, labels=K.index)


def _relmat_term(src, data: pd.DataFrame, st: TermStructure) -> ReTerm:
    mm = model_matrix(src.expr, data, f"random term {src}")
    X = np.asarray(mm, dtype=float)
    if X.shape[1] == 0 or not np.isfinite(X).all():
        raise DataError(f"random term {src} has no columns or non-finite values")
    codes, levels = grouping_factor(data, src.group)
    keys = pd.Index([key_string(v) for v in st.labels])
    pos = keys.get_indexer([key_string(v) for v in levels])
    if np.any(pos < 0):
        missing = [str(levels[i]) for i in np.flatnonzero(pos < 0)[:5]]
        raise DataError(f"level(s) {', '.join(map(repr, missing))} of {src.name!r} in the data are not "
                        f"in its relationship matrix / pedigree ({int(np.sum(pos < 0))} missing)")
    return ReTerm(group=src.name, columns=rename(mm.columns), levels=keys, codes=pos[codes], X=X, offset=0,
                  theta_offset=0, spec=mm.model_spec, source=src)


def relmat_design(random_terms: tuple, data: pd.DataFrame, relmat: dict | None
                  ) -> tuple[RandomDesign, list[TermStructure]]:
    """The random design with relmat terms over all levels of their K, and each term's structure.

    Relmat terms come first (in formula order), then the others in lme4's order.
    """
    relmat = dict(relmat or {})
    names = {t.name for t in random_terms}
    unknown = [k for k in relmat if k not in names]
    if unknown:
        raise ModelSpecError(f"relmat key(s) {', '.join(map(repr, unknown))} are not grouping factors of "
                             f"the formula's random terms ({', '.join(sorted(names)) or 'none'})")
    structures = {k: relmat_structure(v) for k, v in relmat.items()}
    rel_terms = [_relmat_term(t, data, structures[t.name]) for t in random_terms if t.name in relmat]
    other = random_design(tuple(t for t in random_terms if t.name not in relmat), data)
    terms = rel_terms + list(other.terms)
    design = assemble(terms, len(data))
    return design, [structures.get(t.group, TermStructure()) if t.group in relmat else TermStructure()
                    for t in design.terms]
