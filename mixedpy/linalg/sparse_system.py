"""A(θ) = ΛᵀZᵀZΛ + I as a general sparse matrix, factored by a sparse LDLᵀ (the general engine).

Λᵀ ZᵀZ Λ is bilinear in θ: with E_r the 0/1 pattern of θ_r in Λ it equals Σ_rs θ_r θ_s E_rᵀ ZᵀZ E_s.
The products E_rᵀ ZᵀZ E_s are formed once and scattered onto the fixed pattern of A, so each θ
costs one weighted sum of stored values and one numeric refactorization (the symbolic analysis —
ordering and elimination tree — is done once).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .selinv import inverse_blocks
from .sparse_ldl import SparseLDL

DENSE_INVERSE_Q = 1500  # up to this q, A⁻¹'s blocks come from the dense inverse (faster than selinv)


class SparseSystem:
    """A(θ) on a fixed sparse pattern with a sparse LDLᵀ; works for any random-effects structure.

    Parameters
    ----------
    ZtZ : scipy.sparse matrix (q × q)
    Lambda_rows, Lambda_cols, lind : ndarray
        Pattern of Λ and the θ element each entry holds.
    theta0 : ndarray
        A θ with the full pattern non-zero, for the symbolic analysis.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, mixedpy
    >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
    >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
    >>> theta = np.array([1.0, 0.0, 1.0])
    >>> S.update(theta)
    >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
    >>> bool(np.isclose(S.logdet(), np.linalg.slogdet(A)[1]))
    True
    """

    def __init__(self, ZtZ: sp.spmatrix, Lambda_rows: np.ndarray, Lambda_cols: np.ndarray,
                 lind: np.ndarray, ntheta: int):
        self.q = ZtZ.shape[0]
        self._build_pattern(sp.csc_matrix(ZtZ), Lambda_rows, Lambda_cols, lind, ntheta)
        self.ldl = SparseLDL(self.matrix_upper(np.full(ntheta, 0.5)))

    def _build_pattern(self, ZtZ, rows, cols, lind, ntheta: int) -> None:
        q = self.q
        E = [sp.csc_matrix((np.ones(int((lind == r).sum())), (rows[lind == r], cols[lind == r])),
                           shape=(q, q)) for r in range(ntheta)]
        EtZtZ = [sp.csc_matrix(Er.T @ ZtZ) for Er in E]
        pairs = []
        for r in range(ntheta):
            for s in range(r, ntheta):
                M = EtZtZ[r] @ E[s]
                if r != s:
                    M = M + (EtZtZ[s] @ E[r])
                M = sp.triu(M, format="coo")
                if M.nnz:
                    pairs.append((r, s, M.col.astype(np.int64) * q + M.row, M.data))
        diag = np.arange(q, dtype=np.int64) * (q + 1)
        keys = np.unique(np.concatenate([p[2] for p in pairs] + [diag]))
        self._rows = (keys % q).astype(np.int32)
        self._cols = (keys // q).astype(np.int32)
        self._diag_pos = np.searchsorted(keys, diag)
        self._pairs = [(r, s, np.searchsorted(keys, k), v) for r, s, k, v in pairs]
        self._nnz = len(keys)

    def values(self, theta: np.ndarray) -> np.ndarray:
        """Upper triangle of A(θ) on the stored pattern (CSC order).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
        >>> theta = np.array([1.0, 0.0, 1.0])
        >>> S.values(theta)[:3].round(3).tolist()
        [11.0, 45.0, 286.0]
        """
        data = np.zeros(self._nnz)
        data[self._diag_pos] = 1.0
        for r, s, pos, vals in self._pairs:
            data[pos] += (theta[r] * theta[s]) * vals
        return data

    def matrix_upper(self, theta: np.ndarray) -> sp.csc_matrix:
        """Upper triangle of A(θ) as a CSC matrix.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
        >>> theta = np.array([1.0, 0.0, 1.0])
        >>> U = S.matrix_upper(theta)
        >>> U.shape, float(U[0, 0])
        ((36, 36), 11.0)
        """
        return sp.csc_matrix((self.values(theta), (self._rows, self._cols)), shape=(self.q, self.q))

    def update(self, theta: np.ndarray) -> None:
        """Refactor A(θ) for a new θ (numeric factorization only).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
        >>> theta = np.array([1.0, 0.0, 1.0])
        >>> S.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> bool(np.allclose(A @ S.solve(np.ones(r.q)), 1.0))
        True
        """
        self.ldl.refactor(self.values(theta))

    def logdet(self) -> float:
        """log det A(θ) of the current factor.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
        >>> theta = np.array([1.0, 0.0, 1.0])
        >>> S.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> round(S.logdet(), 4)
        126.3956
        """
        return self.ldl.logdet()

    def solve(self, B: np.ndarray) -> np.ndarray:
        """A(θ)⁻¹ B with the current factor.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
        >>> theta = np.array([1.0, 0.0, 1.0])
        >>> S.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> bool(np.allclose(A @ S.solve(np.ones((r.q, 2))), 1.0))
        True
        """
        return self.ldl.solve(B)

    def dense_inverse(self) -> np.ndarray:
        """A⁻¹ (q × q) from the current factor by two dense triangular solves (small q only).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
        >>> theta = np.array([1.0, 0.0, 1.0])
        >>> S.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> bool(np.allclose(S.dense_inverse(), np.linalg.inv(A)))
        True
        """
        L, d, perm = self.ldl.factors()
        Ui = la.solve_triangular(L.toarray() + np.eye(self.q), np.eye(self.q), lower=True,
                                 unit_diagonal=True, check_finite=False)  # (I + L)⁻¹
        inv_p = (Ui.T / d) @ Ui
        out = np.empty_like(inv_p)
        out[np.ix_(perm, perm)] = inv_p
        return out

    def inverse_blocks(self, blocks: np.ndarray) -> np.ndarray:
        """Diagonal blocks of A⁻¹ for the index blocks (nblock × k) of the current factor (from the
        dense inverse up to DENSE_INVERSE_Q, else by selected inversion).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> S = SparseSystem(r.Z.T @ r.Z, r.Lambda_rows, r.Lambda_cols, r.lind, r.ntheta)
        >>> theta = np.array([1.0, 0.0, 1.0])
        >>> S.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> from mixedpy.solution import term_blocks
        >>> blocks = S.inverse_blocks(term_blocks(r.terms[0]))
        >>> blocks.shape, bool(np.allclose(blocks[1], np.linalg.inv(A)[2:4, 2:4]))
        ((18, 2, 2), True)
        """
        if self.q <= DENSE_INVERSE_Q:
            Ainv = self.dense_inverse()
            return Ainv[blocks[:, :, None], blocks[:, None, :]]
        L, d, perm = self.ldl.factors()
        return inverse_blocks(L, d, perm, blocks)
