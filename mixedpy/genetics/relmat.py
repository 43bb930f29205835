"""Random terms with a known relationship matrix K (``relmat=``): Var(b) = σ²_term K ⊗ TTᵀ/θ-scale.

A relmat term's levels are all the labels of K (every animal of a pedigree, with or without
records), matched to the data's levels by their string keys (``3``, ``3.0`` and ``"3"`` agree).

Structures (how the workspace treats a term's covariance, see :mod:`mixedpy.genetics.mme`)
---------------------------------------------------------------------------------------------
iid       K = I (an ordinary random term)
inverse   K⁻¹ known and sparse (a pedigree's A⁻¹ by Henderson's rules; log|K| = Σ log d_i)
factor    K dense (a square DataFrame), K = F Fᵀ with F dense n × r (Cholesky, or eigenvectors
          scaled by the square roots of the positive eigenvalues when K is only positive
          semidefinite; computed when first needed); the effects are b = (F ⊗ I_k) a with iid a,
          so a singular K needs no inverse.  A model whose random part is one such intercept-like
          term never needs F (:mod:`mixedpy.genetics.tridiagonal`).

K is checked to be positive semidefinite (no eigenvalue below −δ, δ = ``PSD_TOL`` · n · max Kᵢᵢ)
where it is first factored: by :func:`dense_factor`, or by the tridiagonal workspace.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

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
    K : ndarray or None
        The dense K (``factor``), rows and columns in the order of ``labels``.
    labels : pandas.Index or None
        The original labels of K's levels (pedigree ids), for ``ranef``.
    name : str or None
        The relmat key (grouping factor), for messages.

    Examples
    --------
    >>> import numpy as np
    >>> s = TermStructure("factor", K=np.array([[1.0, 0.5], [0.5, 1.0]]), name="animal")
    >>> s.kind, s.name, TermStructure().kind
    ('factor', 'animal', 'iid')
    """

    kind: str = "iid"
    Kinv: sp.csc_matrix | None = None
    logdetK: float = 0.0
    K: np.ndarray | None = None
    labels: pd.Index | None = None
    name: str | None = None
    pedigree: Pedigree | None = field(default=None, repr=False, compare=False)  # "inverse" from a Pedigree

    @cached_property
    def F(self) -> np.ndarray | None:
        """n × r factor with K = F Fᵀ (``factor``; None otherwise), computed on first use.

        Examples
        --------
        >>> import numpy as np
        >>> TermStructure("factor", K=np.array([[1.0, 0.5], [0.5, 1.0]])).F.round(4).tolist()
        [[1.0, 0.0], [0.5, 0.866]]
        >>> TermStructure().F is None
        True
        """
        return dense_factor(self.K, self.name) if self.kind == "factor" else None

    def nlatent(self, nlev: int) -> int:
        """Number of latent iid effects per term column: rank K (the columns of F) for ``factor``,
        else ``nlev``.

        Examples
        --------
        >>> import numpy as np
        >>> TermStructure("factor", K=np.ones((3, 3))).nlatent(3), TermStructure().nlatent(3)
        (1, 3)
        """
        return self.F.shape[1] if self.kind == "factor" else nlev

    def draw(self, z: np.ndarray) -> np.ndarray:
        """Correlated draws from standard normal ones: rows of ``L z`` with L Lᵀ = K (z has one row
        per level of K; K = I for "iid").  For "inverse" L = P'(I + L₁)⁻ᵀ D^(-1/2) from the sparse
        LDLᵀ of K⁻¹, so K itself is never formed.

        Examples
        --------
        >>> import numpy as np
        >>> s = TermStructure("factor", K=np.array([[1.0, 0.5], [0.5, 1.0]]))
        >>> s.draw(np.array([1.0, 0.0])).round(4).tolist()
        [1.0, 0.5]
        >>> TermStructure().draw(np.array([1.0, 2.0])).tolist()
        [1.0, 2.0]
        """
        z = np.asarray(z, dtype=float)
        if self.kind == "iid":
            return z
        if self.kind == "factor":
            F = self.F
            return F @ z[:F.shape[1]]
        from scipy.sparse.linalg import spsolve_triangular

        from ..linalg.sparse_ldl import SparseLDL
        f = SparseLDL(sp.triu(self.Kinv, format="csc"))
        L, d, perm = f.factors()
        U = sp.csr_matrix((sp.identity(L.shape[0]) + L).T)
        xp = spsolve_triangular(U, z / np.sqrt(d)[:, None] if z.ndim == 2 else z / np.sqrt(d), lower=False)
        out = np.empty_like(xp)
        out[perm] = xp
        return out


def psd_tolerance(K: np.ndarray) -> float:
    """δ = ``PSD_TOL`` · n · max Kᵢᵢ: eigenvalues of K above −δ count as 0.

    Examples
    --------
    >>> import numpy as np
    >>> psd_tolerance(np.array([[1.0, 0.5], [0.5, 1.0]]))
    2e-08
    """
    return PSD_TOL * K.shape[0] * max(float(np.max(np.diag(K))) if K.size else 0.0, 1e-300)


def not_psd_error(name: str | None, smallest: float) -> DataError:
    """The :class:`DataError` for a relationship matrix that is not positive semidefinite.

    Examples
    --------
    >>> print(not_psd_error("animal", -0.25))
    relmat['animal']: the relationship matrix is not positive semidefinite (smallest eigenvalue -0.25)
    """
    what = f"relmat[{name!r}]: the" if name is not None else "the"
    return DataError(f"{what} relationship matrix is not positive semidefinite (smallest eigenvalue "
                     f"{smallest:.3g})")


def dense_factor(K: np.ndarray, name: str | None = None) -> np.ndarray:
    """F with K = F Fᵀ: the Cholesky factor of a positive definite K, else the eigenvectors of the
    eigenvalues above ``PSD_TOL`` · λ_max scaled by their square roots (r = rank K columns).

    Raises :class:`DataError` (naming the relmat key ``name``) when K is not positive semidefinite.

    Examples
    --------
    >>> import numpy as np
    >>> K = np.array([[1.0, 1.0], [1.0, 1.0]])   # singular
    >>> F = dense_factor(K)
    >>> F.shape, bool(np.allclose(F @ F.T, K))
    ((2, 1), True)
    """
    scale = max(float(np.max(np.abs(K))), 1e-300) if K.size else 1.0
    try:
        F = la.cholesky(K, lower=True, check_finite=False)
        if np.min(np.abs(np.diag(F))) < 1e-7 * np.sqrt(scale):
            raise la.LinAlgError("nearly singular")
        return F
    except la.LinAlgError:
        vals, vecs = la.eigh(K, check_finite=False)
        if vals[0] < -psd_tolerance(K):
            raise not_psd_error(name, float(vals[0])) from None
        keep = vals > PSD_TOL * vals[-1]
        return vecs[:, keep] * np.sqrt(vals[keep])


def check_psd(K: np.ndarray, name: str | None = None) -> None:
    """Raise :class:`DataError` (with the smallest eigenvalue) unless K is positive semidefinite up
    to δ (:func:`psd_tolerance`): one Cholesky factorization of K + δI.

    Examples
    --------
    >>> import numpy as np
    >>> check_psd(np.array([[1.0, 0.5], [0.5, 1.0]]))  # fine: returns None
    >>> check_psd(np.array([[1.0, 2.0], [2.0, 1.0]]), "id")
    Traceback (most recent call last):
    ...
    mixedpy.errors.DataError: relmat['id']: the relationship matrix is not positive semidefinite (smallest eigenvalue -1)
    """
    try:
        la.cholesky(K + psd_tolerance(K) * np.eye(K.shape[0]), lower=True, check_finite=False)
    except la.LinAlgError:
        smallest = float(la.eigvalsh(K, subset_by_index=[0, 0], check_finite=False)[0])
        raise not_psd_error(name, smallest) from None


def relmat_structure(K, name: str | None = None) -> TermStructure:
    """The structure of a ``relmat`` entry (key ``name``): a :class:`Pedigree` or a square labelled
    DataFrame (checked for symmetry here, for positive semidefiniteness where it is factored).

    Examples
    --------
    >>> import pandas as pd
    >>> K = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=["a", "b"], columns=["a", "b"])
    >>> s = relmat_structure(K)
    >>> s.kind, s.K.shape, s.F.shape
    ('factor', (2, 2), (2, 2))
    """
    if isinstance(K, Pedigree):
        return TermStructure("inverse", Kinv=K.Ainv, logdetK=K.logdet_A, labels=K.ids, name=name, pedigree=K)
    if isinstance(K, RelInverse):  # a given K⁻¹ (single-step H⁻¹ …): like a pedigree's A⁻¹
        return TermStructure("inverse", Kinv=K.Kinv, logdetK=K.logdetK, labels=K.labels, name=name)
    if not isinstance(K, pd.DataFrame):
        raise DataTypeError(f"a relmat entry must be a mixedpy.Pedigree, a mixedpy.RelInverse or a square "
                            f"pandas DataFrame labelled by level, got {type(K).__name__}")
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
    return TermStructure("factor", K=M, labels=K.index, name=name)


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


def _named_structure(key, K) -> TermStructure:
    """relmat_structure(K), its errors prefixed with the relmat key they concern."""
    try:
        return relmat_structure(K, key)
    except (DataError, DataTypeError, ModelSpecError) as err:
        raise type(err)(f"relmat[{key!r}]: {err}") from None


def relmat_design(random_terms: tuple, data: pd.DataFrame, relmat: dict | None
                  ) -> tuple[RandomDesign, list[TermStructure]]:
    """The random design with relmat terms over all levels of their K, and each term's structure.

    Relmat terms come first (in formula order), then the others in lme4's order.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import mixedpy
    >>> from mixedpy.design.frame import make_frame
    >>> frame = make_frame("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> K = pd.DataFrame(np.eye(6), index=list("ABCDEF"), columns=list("ABCDEF"))
    >>> design, structures = relmat_design(frame.formula.random, frame.data, {"Batch": K})
    >>> design.terms[0].group, len(design.terms[0].levels), [s.kind for s in structures]
    ('Batch', 6, ['factor'])
    """
    relmat = dict(relmat or {})
    names = {t.name for t in random_terms}
    unknown = [k for k in relmat if k not in names]
    if unknown:
        raise ModelSpecError(f"relmat key(s) {', '.join(map(repr, unknown))} are not grouping factors of "
                             f"the formula's random terms ({', '.join(sorted(names)) or 'none'})")
    structures = {k: _named_structure(k, v) for k, v in relmat.items()}
    rel_terms = [_relmat_term(t, data, structures[t.name]) for t in random_terms if t.name in relmat]
    other = random_design(tuple(t for t in random_terms if t.name not in relmat), data)
    terms = rel_terms + list(other.terms)
    design = assemble(terms, len(data))
    return design, [structures.get(t.group, TermStructure()) if t.group in relmat else TermStructure()
                    for t in design.terms]


class RelInverse:
    """A relationship matrix given by its inverse K⁻¹ (e.g. single-step H⁻¹, or an A⁻¹ from
    elsewhere), for ``relmat=``: used as a :class:`Pedigree` is, through its sparse inverse, with
    log|K| = −log|K⁻¹| from a sparse LDLᵀ (checked positive definite here).

    Parameters
    ----------
    matrix : DataFrame, ndarray or scipy.sparse matrix
        K⁻¹, symmetric positive definite; a DataFrame gives the labels itself.
    labels : sequence, optional
        The level of each row (required unless ``matrix`` is a DataFrame).

    Attributes
    ----------
    Kinv : scipy.sparse.csc_matrix
    labels : pandas.Index
    logdetK : float
        log |K|.

    Examples
    --------
    >>> import numpy as np
    >>> Ki = RelInverse(np.array([[2.0, -1.0], [-1.0, 2.0]]), labels=["a", "b"])
    >>> Ki.shape, bool(abs(Ki.logdetK + np.log(3.0)) < 1e-12)
    ((2, 2), True)
    """

    def __init__(self, matrix, labels=None):
        if isinstance(matrix, pd.DataFrame):
            if labels is None:
                labels = matrix.index
            if [key_string(c) for c in matrix.columns] != [key_string(i) for i in matrix.index]:
                raise ModelSpecError("RelInverse: the DataFrame must have the same labels, in the same "
                                     "order, on its rows and columns")
            matrix = matrix.to_numpy(dtype=float)
        if labels is None:
            raise ModelSpecError("RelInverse needs labels (the level of each row) unless given a DataFrame")
        try:
            M = sp.csc_matrix(matrix, dtype=float)
        except (TypeError, ValueError):
            raise DataTypeError(f"RelInverse: the inverse relationship matrix must be a numeric matrix, "
                                f"got {type(matrix).__name__}") from None
        labels = pd.Index(list(labels))
        if M.shape[0] != M.shape[1] or M.shape[0] != len(labels):
            raise ModelSpecError(f"RelInverse: a square matrix with one label per row is needed, got shape "
                                 f"{M.shape} and {len(labels)} labels")
        if labels.has_duplicates:
            raise ModelSpecError(f"RelInverse: duplicated label {labels[labels.duplicated()][0]!r}")
        if not np.isfinite(M.data).all():
            raise DataError("RelInverse: the matrix has non-finite entries")
        scale = max(float(abs(M).max()), 1e-300) if M.nnz else 1.0
        if M.nnz and abs(M - M.T).max() > 1e-8 * scale:
            raise ModelSpecError("RelInverse: the matrix is not symmetric")
        M = sp.csc_matrix((M + M.T) / 2)
        M.eliminate_zeros()
        from ..linalg.sparse_ldl import SparseLDL
        try:
            d = SparseLDL(sp.triu(M, format="csc")).factors()[1]
        except (ValueError, RuntimeError, ArithmeticError):  # qdldl raises on a zero pivot
            d = np.zeros(1)
        if not np.all(d > 0):
            raise DataError("RelInverse: the inverse relationship matrix is not positive definite")
        self.Kinv, self.labels, self.logdetK = M, labels, -float(np.sum(np.log(d)))

    @property
    def shape(self) -> tuple[int, int]:
        """(levels, levels).

        Examples
        --------
        >>> import numpy as np
        >>> RelInverse(np.array([[2.0, -1.0], [-1.0, 2.0]]), labels=["a", "b"]).shape
        (2, 2)
        """
        return self.Kinv.shape

    def to_numpy(self) -> np.ndarray:
        """K⁻¹ as a dense array.

        Examples
        --------
        >>> import numpy as np
        >>> RelInverse(np.array([[2.0, -1.0], [-1.0, 2.0]]), labels=["a", "b"]).to_numpy().tolist()
        [[2.0, -1.0], [-1.0, 2.0]]
        """
        return self.Kinv.toarray()

    def to_frame(self) -> pd.DataFrame:
        """K⁻¹ as a dense DataFrame labelled by level.

        Examples
        --------
        >>> import numpy as np
        >>> RelInverse(np.array([[2.0, -1.0], [-1.0, 2.0]]), labels=["a", "b"]).to_frame()
             a    b
        a  2.0 -1.0
        b -1.0  2.0
        """
        return pd.DataFrame(self.to_numpy(), index=self.labels, columns=self.labels)

    def __repr__(self) -> str:
        return f"RelInverse({self.shape[0]} levels, {self.Kinv.nnz} non-zeros)"
