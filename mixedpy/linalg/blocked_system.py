"""A(θ) = ΛᵀZᵀZΛ + I by blocks: the first term's block is block-diagonal, the rest a dense Schur
complement (the structure MixedModels.jl exploits; terms come sorted by number of levels).

Glossary
--------
block 1   the first random term: nlev₁ levels × k₁ columns; A₁₁ = blockdiag(T₁ᵀ N_l T₁ + I)
          with N_l the k₁×k₁ cross-product of level l
block 2   all other terms (q₂ columns); Λ₂ their part of Λ
C         Z₁ᵀZ₂ (q₁ × q₂, sparse, fixed)
D_l       T₁ (A₁₁)_l⁻¹ T₁ᵀ, so that A₂₁ A₁₁⁻¹ A₁₂ = Λ₂ᵀ (Cᵀ D C) Λ₂
S         Schur complement A₂₂ − A₂₁A₁₁⁻¹A₁₂ = Λ₂ᵀ (Z₂ᵀZ₂ − CᵀDC) Λ₂ + I (dense, Cholesky)

CᵀDC = Σ_l C_lᵀ D_l C_l is linear in the D_l: the sparse map K from the D_l to the entries of CᵀDC
is built once, so a new θ costs a sparse mat-vec, a dense rescale and one dense Cholesky of S.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .dense_copies import symmetrize_lower, transpose_copy

MAX_DENSE = 6000  # largest Schur complement (q₂) handled densely


def pair_map(C: sp.csr_matrix, nlev: int, k1: int, chunk_entries: int = 4_000_000) -> sp.csr_matrix:
    """The sparse map K with vec(CᵀDC) = K @ D.ravel(): rows are the q₂² entries (row-major) of
    CᵀDC, columns the (level, a, b) entries of D.  Built level-chunk by level-chunk to bound memory.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> C = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]]))
    >>> D = np.array([2.0, 3.0])  # one 1 × 1 block per level
    >>> (pair_map(C, 2, 1) @ D).reshape(2, 2).tolist(), (C.T @ np.diag(D) @ C).tolist()
    ([[5.0, 3.0], [3.0, 3.0]], [[5.0, 3.0], [3.0, 3.0]])
    """
    C = sp.csr_matrix(C)
    q2 = C.shape[1]
    row_of = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
    level_all = row_of // k1
    order = np.argsort(level_all, kind="stable")
    cols_all = C.indices[order].astype(np.int64)
    vals_all, tag_all, level_all = C.data[order], (row_of % k1)[order], level_all[order]
    counts = np.bincount(level_all, minlength=nlev)
    ends = np.cumsum(counts)
    pieces = []
    lo_level = 0
    while lo_level < nlev:  # whole levels per chunk, about chunk_entries pairs each
        sq = np.cumsum(counts[lo_level:] ** 2)
        hi_level = lo_level + max(1, int(np.searchsorted(sq, chunk_entries, side="right")))
        lo, hi = ends[lo_level] - counts[lo_level], ends[hi_level - 1]
        cols, vals, tag, level = cols_all[lo:hi], vals_all[lo:hi], tag_all[lo:hi], level_all[lo:hi]
        start = np.repeat((ends - counts)[lo_level:hi_level] - lo, counts[lo_level:hi_level])
        reps = counts[level]
        left = np.repeat(np.arange(len(cols)), reps)
        right = np.repeat(start, reps) + (np.arange(len(left)) - np.repeat(np.cumsum(reps) - reps, reps))
        # the chunk's levels own a contiguous block of K's columns: build it alone, then concatenate
        pieces.append(sp.csc_matrix((vals[left] * vals[right],
                                     (cols[left] * q2 + cols[right],
                                      (level[left] - lo_level) * k1 * k1 + tag[left] * k1 + tag[right])),
                                    shape=(q2 * q2, (hi_level - lo_level) * k1 * k1)))
        lo_level = hi_level
    K = pieces[0] if len(pieces) == 1 else sp.hstack(pieces, format="csc")
    return K.tocsr()  # CSR: both K @ D and Kᵀ @ R run 4-7x faster than on CSC (300k-row model)


class BlockedSystem:
    """A(θ) factored by blocks (see the module docstring).

    Parameters
    ----------
    Z : scipy.sparse (n × q)
    X1 : ndarray (n × k₁), codes1 : ndarray (n,), nlev1 : int
        The first term's model matrix and level codes.
    Lambda_rows, Lambda_cols, lind : ndarray
        Pattern of Λ and the θ element of each entry.
    theta1 : slice
        Position of the first term's θ elements.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, mixedpy
    >>> r = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin")).random
    >>> t = r.terms[0]  # plate: 24 levels
    >>> B = BlockedSystem(r.Z, t.X, t.codes, t.nlev, r.Lambda_rows, r.Lambda_cols, r.lind, slice(0, 1))
    >>> theta = np.array([1.5, 3.0])
    >>> B.update(theta)
    >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
    >>> B.q1, B.q2, bool(np.isclose(B.logdet(), np.linalg.slogdet(A)[1]))
    (24, 6, True)
    """

    def __init__(self, Z: sp.spmatrix, X1: np.ndarray, codes1: np.ndarray, nlev1: int,
                 Lambda_rows, Lambda_cols, lind, theta1: slice):
        self.k1, self.nlev1 = X1.shape[1], nlev1
        self.q1 = self.k1 * nlev1
        self.q = Z.shape[1]
        self.q2 = self.q - self.q1
        k1 = self.k1
        self.N1 = np.zeros((nlev1, k1, k1))
        for a in range(k1):
            for b in range(k1):
                self.N1[:, a, b] = np.bincount(codes1, weights=X1[:, a] * X1[:, b], minlength=nlev1)
        self.theta1 = theta1
        r, c = np.triu_indices(k1)
        self.tril1 = (c, r)  # column-major lower triangle, as θ is stored
        Z = sp.csc_matrix(Z)
        Z1, Z2 = Z[:, :self.q1], Z[:, self.q1:]
        self.C = sp.csr_matrix(Z1.T @ Z2)
        self.CT = sp.csr_matrix(self.C.T)
        self.Z2tZ2 = (Z2.T @ Z2).toarray() if self.q2 else np.zeros((0, 0))
        mask = Lambda_rows >= self.q1
        r2, c2 = Lambda_rows[mask] - self.q1, Lambda_cols[mask] - self.q1
        order = np.lexsort((c2, r2))
        self.L2_lind = lind[mask][order]
        self.Lambda2 = sp.csr_matrix((np.ones(len(order)), (r2[order], c2[order])), shape=(self.q2, self.q2))
        order_t = np.lexsort((r2, c2))
        self.L2T_lind = lind[mask][order_t]
        self.Lambda2T = sp.csr_matrix((np.ones(len(order)), (c2[order_t], r2[order_t])), shape=(self.q2, self.q2))
        self.lambda2_diagonal = bool(np.all(r2 == c2)) and len(r2) == self.q2
        self.diag_order = np.argsort(r2[order]) if self.lambda2_diagonal else None
        if self.q2:
            self.K = pair_map(self.C, nlev1, k1)

    def _T1(self, theta: np.ndarray) -> np.ndarray:
        T = np.zeros((self.k1, self.k1))
        T[self.tril1] = theta[self.theta1]
        return T

    def update(self, theta: np.ndarray) -> None:
        """Factor A(θ) for a new θ: the first term's blocks and the Cholesky of S.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin")).random
        >>> t = r.terms[0]  # plate: 24 levels
        >>> B = BlockedSystem(r.Z, t.X, t.codes, t.nlev, r.Lambda_rows, r.Lambda_cols, r.lind, slice(0, 1))
        >>> theta = np.array([1.5, 3.0])
        >>> B.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> round(B.logdet(), 4)
        93.8452
        """
        T1 = self._T1(theta)
        self.T1 = T1
        if self.k1 == 1:  # scalar first term: everything is elementwise
            A11 = (T1[0, 0] ** 2) * self.N1 + 1.0
            self.A11_inv = 1.0 / A11
            self._logdet = float(np.sum(np.log(A11)))
        else:
            A11 = np.einsum("ba,lbc,cd->lad", T1, self.N1, T1) + np.eye(self.k1)
            self.A11_inv = np.linalg.inv(A11)
            self._logdet = float(np.sum(np.linalg.slogdet(A11)[1]))
        if not self.q2:
            return
        self.Lambda2.data[:] = theta[self.L2_lind]
        self.Lambda2T.data[:] = theta[self.L2T_lind]
        D = np.einsum("ab,lbc,dc->lad", T1, self.A11_inv, T1)
        N = self.Z2tZ2 - (self.K @ D.ravel()).reshape(self.q2, self.q2)
        if self.lambda2_diagonal:                            # scalar terms: Λ₂ᵀ N Λ₂ = N ∘ λλᵀ
            lam = self.Lambda2.data[self.diag_order]
            S = N
            S *= lam[:, None]
            S *= lam[None, :]
        else:
            P = np.asarray(self.Lambda2T @ N)               # Λ₂ᵀ N
            S = np.asarray(self.Lambda2T @ transpose_copy(P))  # Λ₂ᵀ N Λ₂ (N symmetric)
        S[np.diag_indices_from(S)] += 1.0
        self.S_chol = la.cho_factor(S, lower=True, check_finite=False)
        self._logdet += 2.0 * float(np.sum(np.log(np.diag(self.S_chol[0]))))

    def logdet(self) -> float:
        """log det A(θ) at the last :meth:`update`.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin")).random
        >>> t = r.terms[0]  # plate: 24 levels
        >>> B = BlockedSystem(r.Z, t.X, t.codes, t.nlev, r.Lambda_rows, r.Lambda_cols, r.lind, slice(0, 1))
        >>> theta = np.array([1.5, 3.0])
        >>> B.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> bool(np.isclose(B.logdet(), np.linalg.slogdet(A)[1]))
        True
        """
        return self._logdet

    # --- products with the blocks ----------------------------------------------------------------
    def _lam1(self, V: np.ndarray, transpose: bool = False) -> np.ndarray:
        """Λ₁ V (or Λ₁ᵀ V) for V of shape (q₁, m)."""
        T = self.T1.T if transpose else self.T1
        W = V.reshape(self.nlev1, self.k1, -1)
        return np.einsum("ab,lbm->lam", T, W).reshape(self.q1, -1)

    def _a11inv(self, V: np.ndarray) -> np.ndarray:
        W = V.reshape(self.nlev1, self.k1, -1)
        return np.einsum("lab,lbm->lam", self.A11_inv, W).reshape(self.q1, -1)

    def _A12(self, V2: np.ndarray) -> np.ndarray:
        return self._lam1(np.asarray(self.C @ (self.Lambda2 @ V2)), transpose=True)

    def _A21(self, V1: np.ndarray) -> np.ndarray:
        return np.asarray(self.Lambda2T @ (self.CT @ self._lam1(V1)))

    def solve(self, B: np.ndarray) -> np.ndarray:
        """A(θ)⁻¹ B by block elimination (a vector or the columns of a matrix).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin")).random
        >>> t = r.terms[0]  # plate: 24 levels
        >>> B = BlockedSystem(r.Z, t.X, t.codes, t.nlev, r.Lambda_rows, r.Lambda_cols, r.lind, slice(0, 1))
        >>> theta = np.array([1.5, 3.0])
        >>> B.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> bool(np.allclose(A @ B.solve(np.ones(r.q)), 1.0))
        True
        """
        B = np.asarray(B, dtype=float)
        vec = B.ndim == 1
        B = B.reshape(self.q, -1)
        X1 = self._a11inv(B[:self.q1])
        if not self.q2:
            return X1.ravel() if vec else X1
        X2 = la.cho_solve(self.S_chol, B[self.q1:] - self._A21(X1), check_finite=False)
        X1 = X1 - self._a11inv(self._A12(X2))
        X = np.vstack([X1, X2])
        return X.ravel() if vec else X

    # --- selected inverse ------------------------------------------------------------------------
    def _S_inv(self) -> np.ndarray:
        if getattr(self, "_Sinv_for", None) is not self.S_chol:
            inv, info = la.lapack.dpotri(self.S_chol[0], lower=1)
            self._Sinv = symmetrize_lower(inv)
            self._Sinv_for = self.S_chol
        return self._Sinv

    def first_term_inverse_blocks(self) -> np.ndarray:
        """(A⁻¹)₁₁'s diagonal blocks, nlev₁ × k₁ × k₁:  A₁₁⁻¹ + A₁₁⁻¹ T₁ᵀ (C_l R C_lᵀ) T₁ A₁₁⁻¹ with
        R = Λ₂ S⁻¹ Λ₂ᵀ; C_l R C_lᵀ for all levels at once through the pair map K (Kᵀ R).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin")).random
        >>> t = r.terms[0]  # plate: 24 levels
        >>> B = BlockedSystem(r.Z, t.X, t.codes, t.nlev, r.Lambda_rows, r.Lambda_cols, r.lind, slice(0, 1))
        >>> theta = np.array([1.5, 3.0])
        >>> B.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> blocks = B.first_term_inverse_blocks()
        >>> blocks.shape, bool(np.allclose(blocks[:, 0, 0], np.diag(np.linalg.inv(A))[:24]))
        ((24, 1, 1), True)
        """
        out = self.A11_inv.copy()
        if not self.q2:
            return out
        Sinv = self._S_inv()
        R = np.asarray(self.Lambda2 @ transpose_copy(np.asarray(self.Lambda2 @ Sinv)))  # Λ₂ S⁻¹ Λ₂ᵀ
        CRC = (self.K.T @ R.ravel()).reshape(self.nlev1, self.k1, self.k1)
        self._CRC = CRC
        M = np.einsum("ba,lbc,cd->lad", self.T1, CRC, self.T1)
        return out + np.einsum("lab,lbc,lcd->lad", self.A11_inv, M, self.A11_inv)

    def first_term_logdet_jacobian(self) -> np.ndarray:
        """Σ_l [A⁻¹ Λᵀ ZᵀZ]_ll over the first term's levels (k₁ × k₁), without T₁⁻¹:
        Σ_l B_l T₁ᵀ N_l − A₁₁,l⁻¹ T₁ᵀ C_l R C_lᵀ  (B_l = (A⁻¹)_ll, R = Λ₂ S⁻¹ Λ₂ᵀ), so that
        ∂ log det A / ∂θ_r = 2 Σ over θ_r's positions (a, b) of T₁ of J[b, a].

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin")).random
        >>> t = r.terms[0]  # plate: 24 levels
        >>> B = BlockedSystem(r.Z, t.X, t.codes, t.nlev, r.Lambda_rows, r.Lambda_cols, r.lind, slice(0, 1))
        >>> theta = np.array([1.5, 3.0])
        >>> B.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> round(2 * float(B.first_term_logdet_jacobian()[0, 0]), 3)  # d log det A / d theta_1
        28.63
        """
        B = self.first_term_inverse_blocks()
        J = np.einsum("lab,cb,lcd->ad", B, self.T1, self.N1)
        if self.q2:
            J -= np.einsum("lab,cb,lcd->ad", self.A11_inv, self.T1, self._CRC)
        return J

    def inverse_blocks(self, blocks: np.ndarray) -> np.ndarray:
        """Diagonal blocks of A⁻¹ for index blocks (nblock × k) of one term (block 1 or block 2).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, mixedpy
        >>> r = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin")).random
        >>> t = r.terms[0]  # plate: 24 levels
        >>> B = BlockedSystem(r.Z, t.X, t.codes, t.nlev, r.Lambda_rows, r.Lambda_cols, r.lind, slice(0, 1))
        >>> theta = np.array([1.5, 3.0])
        >>> B.update(theta)
        >>> A = (r.Lambda(theta).T @ r.Z.T @ r.Z @ r.Lambda(theta) + sp.eye(r.q)).toarray()
        >>> from mixedpy.solution import term_blocks
        >>> blocks = B.inverse_blocks(term_blocks(r.terms[1]))
        >>> blocks.shape, bool(np.allclose(blocks[:, 0, 0], np.diag(np.linalg.inv(A))[24:]))
        ((6, 1, 1), True)
        """
        if blocks.min() >= self.q1:
            b = blocks - self.q1
            Sinv = self._S_inv()
            return Sinv[b[:, :, None], b[:, None, :]]
        return self.first_term_inverse_blocks()[blocks[:, 0] // self.k1]
