"""Selected inversion (Takahashi's recurrence): entries of A⁻¹ on the pattern of its LDLᵀ factor.

Needed for conditional variances of the random effects (diagonal blocks of A⁻¹) without forming A⁻¹.
With A[p][:, p] = (I + L) D (I + L)ᵀ and Σ = (A[p][:, p])⁻¹, for j = q−1, …, 0 and R = rows of L[:, j]::

    Σ[R, j] = −Σ[R, R] L[R, j]
    Σ[j, j] = 1/d_j − L[R, j]ᵀ Σ[R, j]

Σ[R, R] only involves entries inside the filled pattern (the elimination-tree property), so the
pattern of L holds everything the recurrence touches.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def selected_inverse(L: sp.csc_matrix, d: np.ndarray) -> tuple[np.ndarray, sp.csc_matrix]:
    """Diagonal and strictly-lower part (on L's pattern) of ((I + L) diag(d) (I + L)ᵀ)⁻¹.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> L = sp.csc_matrix(np.array([[0, 0, 0], [0.5, 0, 0], [0.25, 0.1, 0]]))
    >>> d = np.array([2.0, 1.0, 3.0])
    >>> Lu = np.eye(3) + L.toarray(); A = Lu @ np.diag(d) @ Lu.T
    >>> diag, low = selected_inverse(L, d)
    >>> bool(np.allclose(diag, np.diag(np.linalg.inv(A))))
    True
    """
    L = sp.csc_matrix(L)
    L.sort_indices()
    q = L.shape[0]
    indptr, indices, data = L.indptr, L.indices.astype(np.int64), L.data
    cols = np.repeat(np.arange(q, dtype=np.int64), np.diff(indptr))
    keys = cols * q + indices  # sorted: CSC order with sorted rows
    sig_low = np.zeros_like(data)
    sig_diag = np.zeros(q)
    for j in range(q - 1, -1, -1):
        lo, hi = indptr[j], indptr[j + 1]
        if lo == hi:
            sig_diag[j] = 1.0 / d[j]
            continue
        rows, lv = indices[lo:hi], data[lo:hi]
        a, b = np.tril_indices(len(rows), k=-1)  # a > b: entry (rows[a], rows[b]) lower
        S = np.diag(sig_diag[rows])
        if len(a):
            vals = sig_low[np.searchsorted(keys, rows[b] * q + rows[a])]
            S[a, b] = vals
            S[b, a] = vals
        z = -S @ lv
        sig_low[lo:hi] = z
        sig_diag[j] = 1.0 / d[j] - lv @ z
    return sig_diag, sp.csc_matrix((sig_low, L.indices, L.indptr), shape=L.shape)


def inverse_blocks(L: sp.csc_matrix, d: np.ndarray, perm: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Diagonal k×k blocks of A⁻¹ for consecutive index blocks ``blocks`` (nblock × k array of
    indices into A), given A[perm][:, perm] = (I + L) diag(d) (I + L)ᵀ.

    Any two indices of one block are adjacent in the graph of A, hence stored in L's pattern.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from mixedpy.linalg.sparse_ldl import SparseLDL
    >>> A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    >>> L, d, perm = SparseLDL(sp.triu(sp.csc_matrix(A), format="csc")).factors()
    >>> blocks = inverse_blocks(L, d, perm, np.array([[0, 1]]))
    >>> bool(np.allclose(blocks[0], np.linalg.inv(A)[:2, :2]))
    True
    """
    sig_diag, sig_low = selected_inverse(L, d)
    q = L.shape[0]
    where = np.empty(q, dtype=np.int64)
    where[perm] = np.arange(q)  # position of original index i in the permuted order
    nb, k = blocks.shape
    out = np.zeros((nb, k, k))
    pos = where[blocks]
    for a in range(k):
        out[:, a, a] = sig_diag[pos[:, a]]
    if k > 1:
        lowc = sig_low.tocsc()
        lowc.sort_indices()
        keys = np.repeat(np.arange(q, dtype=np.int64), np.diff(lowc.indptr)) * q + lowc.indices
        for a in range(k):
            for b in range(a):
                r, c = np.maximum(pos[:, a], pos[:, b]), np.minimum(pos[:, a], pos[:, b])
                idx = np.searchsorted(keys, c * q + r)
                found = (idx < len(keys)) & (keys[np.minimum(idx, len(keys) - 1)] == c * q + r)
                vals = np.where(found, lowc.data[np.minimum(idx, len(keys) - 1)], 0.0)
                out[:, a, b] = out[:, b, a] = vals
    return out


def inverse_entries(L: sp.csc_matrix, d: np.ndarray, perm: np.ndarray, rows: np.ndarray,
                    cols: np.ndarray) -> np.ndarray:
    """Entries (rows[i], cols[i]) of A⁻¹, each a pair adjacent in the graph of A (or on the
    diagonal), given A[perm][:, perm] = (I + L) diag(d) (I + L)ᵀ.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> L = sp.csc_matrix(np.array([[0, 0, 0], [0.5, 0, 0], [0.25, 0.1, 0]]))
    >>> d = np.array([2.0, 1.0, 3.0]); Lu = np.eye(3) + L.toarray()
    >>> Ainv = np.linalg.inv(Lu @ np.diag(d) @ Lu.T)
    >>> bool(np.allclose(inverse_entries(L, d, np.arange(3), np.array([0, 2]), np.array([2, 2])),
    ...                  Ainv[[0, 2], [2, 2]]))
    True
    """
    sig_diag, sig_low = selected_inverse(L, d)
    q = L.shape[0]
    where = np.empty(q, dtype=np.int64)
    where[perm] = np.arange(q)
    pr, pc = where[rows], where[cols]
    hi, lo = np.maximum(pr, pc), np.minimum(pr, pc)
    lowc = sig_low.tocsc()
    lowc.sort_indices()
    keys = np.repeat(np.arange(q, dtype=np.int64), np.diff(lowc.indptr)) * q + lowc.indices
    idx = np.minimum(np.searchsorted(keys, lo * q + hi), max(len(keys) - 1, 0))
    found = (len(keys) > 0) & (keys[idx] == lo * q + hi) if len(keys) else np.zeros(len(rows), bool)
    off = np.where(found, lowc.data[idx] if len(keys) else 0.0, 0.0)
    return np.where(pr == pc, sig_diag[pr], off)
