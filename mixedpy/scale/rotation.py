"""The association test of a marker scan: the rotation by the null covariance and one chunk of markers.

With V = L Lᵀ (the null covariance of the records), ỹ = L⁻¹y, X̃ = L⁻¹X, Q̃ an orthonormal basis of
X̃ and r̃ = ỹ − Q̃Q̃ᵀỹ, a marker x is tested from xᵀPx = ‖x̃⊥‖² and xᵀPy = x̃⊥ᵀr̃ with
x̃⊥ = (I − Q̃Q̃ᵀ)L⁻¹x: a Wald χ²₁ test with all variance components fixed (``"wald"``) or an F test
with the scale re-estimated per marker (``"f"``).  See :mod:`mixedpy.scale.scan`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as la
from scipy import stats

from ..threads import blas_limit

__all__ = ["SCAN_COLUMNS", "Rotation", "test_chunk", "whiten"]

SCAN_COLUMNS = ["effect", "se", "statistic", "p", "allele_freq", "n"]


@dataclass
class Rotation:
    """Everything a chunk of markers needs (scattered once to Dask workers).

    Attributes
    ----------
    L : ndarray
        Lower Cholesky factor of V (records × records).
    Q : ndarray
        Orthonormal basis of L⁻¹X.
    r : ndarray
        L⁻¹y minus its projection on Q (the whitened GLS residual of the null model).
    record_ind : ndarray or None
        For each record, the position of its individual among the genotype rows read (None: the
        records are the genotype rows, in order).
    ind_records : ndarray
        Number of records of each of those individuals.
    test : str
        ``"wald"`` or ``"f"``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 0.5, 3.0, 2.5, 1.5])
    >>> L, Q, r, beta = whiten(np.eye(6), np.ones((6, 1)), y)
    >>> rot = Rotation(L, Q, r, None, np.ones(6), "wald")
    >>> rot.rr
    4.375
    """

    L: np.ndarray
    Q: np.ndarray
    r: np.ndarray
    record_ind: np.ndarray | None
    ind_records: np.ndarray
    test: str
    rr: float = field(init=False)

    def __post_init__(self):
        self.rr = float(self.r @ self.r)

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom with one marker in the model: n − p − 1.

        Examples
        --------
        >>> import numpy as np
        >>> y = np.array([1.0, 2.0, 0.5, 3.0, 2.5, 1.5])
        >>> L, Q, r, beta = whiten(np.eye(6), np.ones((6, 1)), y)
        >>> Rotation(L, Q, r, None, np.ones(6), "f").df_resid
        4
        """
        n, p = self.Q.shape
        return n - p - 1


def whiten(V: np.ndarray, X: np.ndarray, y: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(L, Q̃, r̃, β̂) of the null model with covariance V (overwritten by its Cholesky factor L):
    V = L Lᵀ, Q̃ an orthonormal basis of L⁻¹X, r̃ = L⁻¹y − Q̃Q̃ᵀL⁻¹y and β̂ the GLS fixed effects.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 0.5, 3.0, 2.5, 1.5])
    >>> L, Q, r, beta = whiten(np.eye(6), np.ones((6, 1)), y)
    >>> beta.round(4).tolist(), Q.shape
    ([1.75], (6, 1))
    >>> r.round(2).tolist()
    [-0.75, 0.25, -1.25, 1.25, 0.75, -0.25]
    """
    L = la.cholesky(V.T, lower=True, overwrite_a=True, check_finite=False)  # V symmetric: Vᵀ is F-ordered
    Xt = la.solve_triangular(L, X, lower=True, check_finite=False)
    yt = la.solve_triangular(L, y, lower=True, check_finite=False)
    if X.shape[1]:
        Q, R = la.qr(Xt, mode="economic")
        beta = la.solve_triangular(R, Q.T @ yt, check_finite=False)
    else:
        Q, beta = np.zeros((len(y), 0)), np.zeros(0)
    r = yt - Q @ (Q.T @ yt)
    return L, Q, r, beta


def test_chunk(rot: Rotation, G: np.ndarray, owned: bool = False) -> np.ndarray:
    """Test a chunk of markers: genotype rows (individuals, in ``rot``'s order) × markers.

    ``owned=True`` lets the computation overwrite ``G`` (it then needs no copy of the chunk).
    Returns an array markers × 6 with the columns of :data:`SCAN_COLUMNS`.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 0.5, 3.0, 2.5, 1.5])
    >>> L, Q, r, beta = whiten(np.eye(6), np.ones((6, 1)), y)
    >>> rot = Rotation(L, Q, r, None, np.ones(6), "wald")
    >>> G = np.array([[0, 1], [1, 1], [2, 0], [0, 2], [1, 1], [2, 0]], dtype=float)
    >>> out = test_chunk(rot, G)
    >>> out.shape
    (2, 6)
    >>> out[:, 3].round(4).tolist()  # p-values
    [0.3173, 0.1023]
    """
    G = np.asarray(G, dtype=float)
    n_ind, c = G.shape
    miss = np.isnan(G)
    complete = not miss.any()
    if rot.record_ind is None and owned:
        Xr = np.asfortranarray(G)  # the TRSM buffer, no copy when G is Fortran-ordered already
    elif rot.record_ind is None:
        Xr = np.array(G, dtype=float, order="F", copy=True)
    else:
        Xr = None
    B = Xr if Xr is not None else (G if owned or complete else np.array(G, copy=True))
    if complete:
        cnt = np.full(c, float(n_ind))
        n_rec = np.full(c, rot.ind_records.sum())
    else:
        np.copyto(B, 0.0, where=miss)
        cnt = n_ind - miss.sum(axis=0).astype(float)
        n_rec = rot.ind_records.sum() - rot.ind_records @ miss
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = B.sum(axis=0) / cnt
        spread = np.einsum("ij,ij->j", B, B) / cnt - mean ** 2
    if not complete:  # mean imputation of missing genotypes
        np.copyto(B, np.broadcast_to(mean, B.shape), where=miss)
    del miss
    if Xr is None:
        Xr = np.array(B[rot.record_ind], dtype=float, order="F", copy=True)
    Xt = la.solve_triangular(rot.L, Xr, lower=True, check_finite=False, overwrite_b=True)
    total = np.einsum("ij,ij->j", Xt, Xt)
    # OpenBLAS's trsm gives the same bits with any thread count, its gemm/gemv reductions over n do
    # not: the small products below run on one thread, so local and Dask results are identical
    with blas_limit(large=False):
        if rot.Q.shape[1]:
            P = rot.Q.T @ Xt
            if Xt.flags.f_contiguous:
                Xt = la.blas.dgemm(-1.0, rot.Q, P, beta=1.0, c=Xt, overwrite_c=True)  # Xt −= Q P in place
            else:
                Xt -= rot.Q @ P
        ss = np.einsum("ij,ij->j", Xt, Xt)
        xy = Xt.T @ rot.r
    bad = (cnt == 0) | ~(spread > 1e-12) | ~(ss > 1e-10 * total)
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = xy / ss
        if rot.test == "wald":
            se = 1.0 / np.sqrt(ss)
            stat = xy * effect
            p = stats.chi2.sf(stat, 1)
        else:
            df = rot.df_resid
            s2 = (rot.rr - xy * effect) / df
            se = np.sqrt(s2 / ss)
            stat = (effect / se) ** 2
            p = stats.f.sf(stat, 1, df)
    out = np.column_stack([effect, se, stat, p, mean / 2.0, np.asarray(n_rec, dtype=float)])
    out[bad, :4] = np.nan
    return out
