"""Structures on coordinates rather than on time levels: each subject (block) has its own
matrix, computed from its observations' positions.

============  ==================  =========================================================  =====
name          SAS / nlme          matrix                                                     par
============  ==================  =========================================================  =====
sp_exp        SP(EXP), corCAR1    σ² exp(−‖s_i − s_j‖ / range)  (CAR(1): φ = exp(−1/range))   2
ar1xar1       AR(1)⊗AR(1)         σ² ρ_r^|Δrow| ρ_c^|Δcol|  (separable field-trial residual)  3
============  ==================  =========================================================  =====

The ``geometry`` of a batch of subjects with m observations each is computed once (distances, or
row and column lags) and ``blocks(par, geometry)`` gives the batch's m × m matrices at ``par``.

A block of ar1xar1 that is a complete nr × nc grid (uniform spacing; rows ordered row by row) is
never formed: the AR(1) precision is tridiagonal, R_r⁻¹ = B_rᵀB_r with B_r lower bidiagonal
(:func:`ar1_inverse_factor`), so R^(-1/2) = σ⁻¹ B_r ⊗ B_c has four non-zeros a row and
log|R| = m log σ² + nc (nr − 1) log(1 − ρ_r²) + nr (nc − 1) log(1 − ρ_c²)
(:func:`kron_whitening`).

Examples
--------
>>> import numpy as np
>>> s = SpExp(1)
>>> g = s.geometry(np.array([[[0.0], [1.0], [3.0]]]))
>>> s.blocks(np.array([0.0, 0.0]), g)[0].round(4)[0].tolist()
[1.0, 0.3679, 0.0498]
"""
from __future__ import annotations

import numpy as np

from .base import CovStructure, bounded


def ar1_inverse_factor(rho: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The lower bidiagonal B with B R Bᵀ = I for the n × n AR(1) correlation R = ρ^|i−j|, for
    each ρ of a vector: (diagonal (k, n), sub-diagonal (k, n), entry 0 unused).

    Examples
    --------
    >>> d, e = ar1_inverse_factor(np.array([0.5]), 3)
    >>> B = np.diag(d[0]) + np.diag(e[0, 1:], -1)
    >>> R = 0.5 ** np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
    >>> np.allclose(B @ R @ B.T, np.eye(3))
    True
    """
    rho = np.asarray(rho)[:, None]  # complex-safe (the φ-gradient takes complex steps)
    rho = rho.astype(np.result_type(rho.dtype, float))
    c = 1.0 / np.sqrt(1.0 - rho * rho)
    diag = np.broadcast_to(c, (len(rho), n)).copy()
    diag[:, 0] = 1.0
    sub = np.broadcast_to(-rho * c, (len(rho), n)).copy()
    sub[:, 0] = 0.0
    return diag, sub


def kron_whitening(scale: np.ndarray, rho_r: np.ndarray, rho_c: np.ndarray, nr: int, nc: int):
    """σ⁻¹ (B_r ⊗ B_c) for k grids of one shape nr × nc at once, in triplet form over the local
    positions p = i·nc + j, and each grid's log|σ² R_r ⊗ R_c|.

    Parameters
    ----------
    scale : ndarray (k,)
        σ of each grid.
    rho_r, rho_c : ndarray (k,)
        Correlations of neighbouring rows and columns (ρ^spacing).

    Returns
    -------
    (local_row, local_col, values (k, nnz)), logdet (k,)

    Examples
    --------
    >>> (r, c, v), ld = kron_whitening(np.ones(1), np.array([0.4]), np.array([0.3]), 2, 3)
    >>> T = np.zeros((6, 6)); T[r, c] = v[0]
    >>> R = np.kron(0.4 ** np.abs(np.subtract.outer(np.arange(2), np.arange(2))),
    ...             0.3 ** np.abs(np.subtract.outer(np.arange(3), np.arange(3))))
    >>> np.allclose(T @ R @ T.T, np.eye(6)), bool(np.isclose(ld[0], np.linalg.slogdet(R)[1]))
    (True, True)
    """
    dr, er = ar1_inverse_factor(rho_r, nr)
    dc, ec = ar1_inverse_factor(rho_c, nc)
    i, j = np.divmod(np.arange(nr * nc), nc)
    p = np.arange(nr * nc)
    parts = [(p, p, dr[:, i] * dc[:, j])]
    up, left = i >= 1, j >= 1
    parts.append((p[up], p[up] - nc, er[:, i[up]] * dc[:, j[up]]))
    parts.append((p[left], p[left] - 1, dr[:, i[left]] * ec[:, j[left]]))
    both = up & left
    parts.append((p[both], p[both] - nc - 1, er[:, i[both]] * ec[:, j[both]]))
    rows = np.concatenate([q[0] for q in parts])
    cols = np.concatenate([q[1] for q in parts])
    scale = np.asarray(scale)
    vals = np.concatenate([q[2] for q in parts], axis=1) / scale[:, None]
    logdet = (nr * nc * np.log(scale ** 2)
              + nc * (nr - 1) * np.log1p(-np.asarray(rho_r) ** 2) + nr * (nc - 1) * np.log1p(-np.asarray(rho_c) ** 2))
    return (rows, cols, vals), logdet


class SpExp(CovStructure):
    """Exponential spatial correlation exp(−d / range) of Euclidean distances (par: log σ,
    log range).  ``dim`` is the number of coordinates.

    Examples
    --------
    >>> s = SpExp(1)
    >>> g = s.geometry(np.array([[[0.0], [1.0], [3.0]]]))
    >>> s.npar, s.sas, s.geometric
    (2, 'SP(EXP)', True)
    >>> s.blocks(np.array([0.0, 0.0]), g)[0].round(4).tolist()
    [[1.0, 0.3679, 0.0498], [0.3679, 1.0, 0.1353], [0.0498, 0.1353, 1.0]]
    """

    name, sas, title = "sp_exp", "SP(EXP)", "exponential spatial (continuous-time AR(1))"
    geometric = True

    @property
    def npar(self) -> int:
        """Two parameters: log σ and log range.

        Examples
        --------
        >>> SpExp(2).npar
        2
        """
        return 2

    def geometry(self, coords: np.ndarray) -> np.ndarray:
        """Euclidean distances between the coordinates of each block (blocks × m × m).

        Examples
        --------
        >>> s = SpExp(1)
        >>> g = s.geometry(np.array([[[0.0], [1.0], [3.0]]]))
        >>> g[0].tolist()
        [[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]]
        """
        diff = coords[:, :, None, :] - coords[:, None, :, :]
        return np.sqrt(np.sum(diff * diff, axis=-1))

    def blocks(self, par, geometry):
        """σ² exp(−distance / range) for each block.

        Examples
        --------
        >>> s = SpExp(1)
        >>> g = s.geometry(np.array([[[0.0], [1.0], [3.0]]]))
        >>> s.blocks(np.array([0.0, np.log(2.0)]), g)[0].round(4).tolist()
        [[1.0, 0.6065, 0.2231], [0.6065, 1.0, 0.3679], [0.2231, 0.3679, 1.0]]
        """
        return np.exp(2 * par[0]) * np.exp(-geometry / np.exp(par[1]))

    def sas_blocks(self, v, geometry):
        """The blocks from SAS's (SP(EXP) range, Residual) values.

        Examples
        --------
        >>> s = SpExp(1)
        >>> g = s.geometry(np.array([[[0.0], [1.0], [3.0]]]))
        >>> s.sas_blocks(np.array([2.0, 1.0]), g)[0].round(4).tolist()
        [[1.0, 0.6065, 0.2231], [0.6065, 1.0, 0.3679], [0.2231, 0.3679, 1.0]]
        """
        return v[1] * np.exp(-geometry / v[0])

    def report(self, par, s2):
        """SAS's SP(EXP) (range) and Residual values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in SpExp(1).report(np.array([0.0, np.log(2.0)]), 3.0)]
        [('SP(EXP)', 2.0), ('Residual', 3.0)]
        """
        par = np.asarray(par, dtype=float)
        return [("SP(EXP)", float(np.exp(par[1]))), ("Residual", float(s2 * np.exp(2 * par[0])))]


class AR1xAR1(CovStructure):
    """Separable first-order autoregressive in rows and columns (par: log σ, then the row and
    column correlations through a / √(1 + a²)); lags are differences of the row and column
    values (numbers) or of their level positions (factors).

    Examples
    --------
    >>> s = AR1xAR1(2)
    >>> g = s.geometry(np.array([[[1.0, 1.0], [1.0, 2.0], [2.0, 1.0]]]))
    >>> s.npar, s.sas
    (3, 'AR(1)*AR(1)')
    >>> s.blocks(np.array([0.0, 1.0, 0.0]), g)[0].round(4).tolist()
    [[1.0, 0.0, 0.7071], [0.0, 1.0, 0.0], [0.7071, 0.0, 1.0]]
    """

    name, sas, title = "ar1xar1", "AR(1)*AR(1)", "separable AR(1) ⊗ AR(1)"
    geometric = True

    @property
    def npar(self) -> int:
        """Three parameters: log σ, row and column correlations.

        Examples
        --------
        >>> AR1xAR1(2).npar
        3
        """
        return 3

    def geometry(self, coords: np.ndarray) -> np.ndarray:
        """Absolute row and column lags between the points of each block (blocks × m × m × 2).

        Examples
        --------
        >>> s = AR1xAR1(2)
        >>> g = s.geometry(np.array([[[1.0, 1.0], [1.0, 2.0], [2.0, 1.0]]]))
        >>> g.shape, g[0, 0, 1].tolist()
        ((1, 3, 3, 2), [0.0, 1.0])
        """
        return np.abs(coords[:, :, None, :] - coords[:, None, :, :])

    def blocks(self, par, geometry):
        """σ² ρ_row^(row lag) ρ_col^(column lag) for each block.

        Examples
        --------
        >>> s = AR1xAR1(2)
        >>> g = s.geometry(np.array([[[1.0, 1.0], [1.0, 2.0], [2.0, 1.0]]]))
        >>> s.blocks(np.array([0.0, 1.0, 1.0]), g)[0].round(4).tolist()
        [[1.0, 0.7071, 0.7071], [0.7071, 1.0, 0.5], [0.7071, 0.5, 1.0]]
        """
        rr, rc = bounded(par[1]), bounded(par[2])
        return np.exp(2 * par[0]) * rr ** geometry[..., 0] * rc ** geometry[..., 1]

    def sas_blocks(self, v, geometry):
        """The blocks from SAS's (row ρ, column ρ, Residual) values.

        Examples
        --------
        >>> s = AR1xAR1(2)
        >>> g = s.geometry(np.array([[[1.0, 1.0], [1.0, 2.0], [2.0, 1.0]]]))
        >>> s.sas_blocks(np.array([0.5, 0.25, 2.0]), g)[0].tolist()
        [[2.0, 0.5, 1.0], [0.5, 2.0, 0.25], [1.0, 0.25, 2.0]]
        """
        return v[2] * v[0] ** geometry[..., 0] * v[1] ** geometry[..., 1]

    def report(self, par, s2):
        """SAS's row and column AR(1) and Residual values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in AR1xAR1(2).report(np.array([0.0, 1.0, 0.0]), 2.0)]
        [('AR(1) row', 0.7071), ('AR(1) col', 0.0), ('Residual', 2.0)]
        """
        par = np.asarray(par, dtype=float)
        return [("AR(1) row", float(bounded(par[1]))), ("AR(1) col", float(bounded(par[2]))),
                ("Residual", float(s2 * np.exp(2 * par[0])))]
