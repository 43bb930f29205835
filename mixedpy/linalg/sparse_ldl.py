"""Sparse LDLᵀ factorization of a symmetric positive definite matrix with a fixed pattern.

Backed by QDLDL (a compiled sparse LDLᵀ with an AMD fill-reducing ordering, installed from a wheel
everywhere).  The symbolic analysis (ordering, elimination tree) is done once in the constructor;
:meth:`refactor` does the numeric factorization only, for new values on the same pattern.

Glossary
--------
A      the symmetric matrix, given by its upper triangle in CSC form
P      fill-reducing permutation: A[p][:, p] = (I + L) D (I + L)ᵀ
L, D   strictly lower unit-triangular factor and the diagonal of the LDLᵀ factorization
"""
from __future__ import annotations

import numpy as np
import qdldl
import scipy.sparse as sp


class SparseLDL:
    """LDLᵀ of a sparse SPD matrix whose sparsity pattern never changes.

    Parameters
    ----------
    upper : scipy.sparse matrix
        Upper triangle (diagonal included) of the initial matrix. Its pattern, including explicit
        zeros, is the pattern of every later matrix given to :meth:`refactor`.

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np
    >>> A = sp.csc_matrix(np.array([[4.0, 1.0], [0.0, 3.0]]))
    >>> f = SparseLDL(A)
    >>> bool(abs(f.logdet() - np.log(11.0)) < 1e-12)
    True
    >>> f.solve(np.array([1.0, 2.0])).round(4).tolist()
    [0.0909, 0.6364]
    """

    def __init__(self, upper: sp.spmatrix):
        upper = sp.csc_matrix(upper)
        upper.sort_indices()
        self.indices = upper.indices.copy()
        self.indptr = upper.indptr.copy()
        self.shape = upper.shape
        self._solver = qdldl.Solver(upper, upper=True)
        self._factors = None

    def matrix(self, data: np.ndarray) -> sp.csc_matrix:
        """The upper triangle with the stored pattern and the given values.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> f = SparseLDL(sp.csc_matrix(np.array([[4.0, 1.0], [0.0, 3.0]])))
        >>> f.matrix(np.array([2.0, 0.5, 1.0])).toarray().tolist()
        [[2.0, 0.5], [0.0, 1.0]]
        """
        return sp.csc_matrix((data, self.indices, self.indptr), shape=self.shape)

    def refactor(self, data: np.ndarray) -> None:
        """Numeric refactorization for new values (CSC order of the stored pattern).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> f = SparseLDL(sp.csc_matrix(np.array([[4.0, 1.0], [0.0, 3.0]])))
        >>> f.refactor(np.array([2.0, 0.5, 1.0]))  # A = [[2, 0.5], [0.5, 1]], det 1.75
        >>> round(f.logdet(), 6)
        0.559616
        """
        self._solver.update(self.matrix(data), upper=True)
        self._factors = None

    def _parts(self):
        if self._factors is None:
            self._factors = self._solver.factors()
        return self._factors

    def logdet(self) -> float:
        """log det A.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> f = SparseLDL(sp.csc_matrix(np.array([[4.0, 1.0], [0.0, 3.0]])))
        >>> round(f.logdet(), 6) == round(float(np.log(11.0)), 6)
        True
        """
        d = self._parts()[1]
        return float(np.sum(np.log(d)))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A⁻¹ b for a vector or the columns of a matrix.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> f = SparseLDL(sp.csc_matrix(np.array([[4.0, 1.0], [0.0, 3.0]])))
        >>> f.solve(np.eye(2)).round(4).tolist()
        [[0.2727, -0.0909], [-0.0909, 0.3636]]
        """
        b = np.asarray(b, dtype=float)
        if b.ndim == 1:
            return self._solver.solve(b)
        if b.shape[1] == 0:
            return np.zeros_like(b)
        return np.column_stack([self._solver.solve(np.ascontiguousarray(b[:, j])) for j in range(b.shape[1])])

    def factors(self) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
        """``(L, d, p)`` with ``A[p][:, p] = (I + L) diag(d) (I + L)ᵀ`` and L strictly lower.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> f = SparseLDL(sp.csc_matrix(np.array([[4.0, 1.0], [0.0, 3.0]])))
        >>> L, d, p = f.factors()
        >>> Lu = np.eye(2) + L.toarray()
        >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
        >>> bool(np.allclose(Lu @ np.diag(d) @ Lu.T, A[np.ix_(p, p)]))
        True
        """
        L, d, p = self._parts()
        return sp.csc_matrix(L), np.asarray(d), np.asarray(p)
