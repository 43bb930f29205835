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


class SpExp(CovStructure):
    """Exponential spatial correlation exp(−d / range) of Euclidean distances (par: log σ,
    log range).  ``dim`` is the number of coordinates."""

    name, sas, title = "sp_exp", "SP(EXP)", "exponential spatial (continuous-time AR(1))"
    geometric = True

    @property
    def npar(self) -> int:
        return 2

    def geometry(self, coords: np.ndarray) -> np.ndarray:
        diff = coords[:, :, None, :] - coords[:, None, :, :]
        return np.sqrt(np.sum(diff * diff, axis=-1))

    def blocks(self, par, geometry):
        return np.exp(2 * par[0]) * np.exp(-geometry / np.exp(par[1]))

    def sas_blocks(self, v, geometry):
        return v[1] * np.exp(-geometry / v[0])

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        return [("SP(EXP)", float(np.exp(par[1]))), ("Residual", float(s2 * np.exp(2 * par[0])))]


class AR1xAR1(CovStructure):
    """Separable first-order autoregressive in rows and columns (par: log σ, then the row and
    column correlations through a / √(1 + a²)); lags are differences of the row and column
    values (numbers) or of their level positions (factors)."""

    name, sas, title = "ar1xar1", "AR(1)*AR(1)", "separable AR(1) ⊗ AR(1)"
    geometric = True

    @property
    def npar(self) -> int:
        return 3

    def geometry(self, coords: np.ndarray) -> np.ndarray:
        return np.abs(coords[:, :, None, :] - coords[:, None, :, :])

    def blocks(self, par, geometry):
        rr, rc = bounded(par[1]), bounded(par[2])
        return np.exp(2 * par[0]) * rr ** geometry[..., 0] * rc ** geometry[..., 1]

    def sas_blocks(self, v, geometry):
        return v[2] * v[0] ** geometry[..., 0] * v[1] ** geometry[..., 1]

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        return [("AR(1) row", float(bounded(par[1]))), ("AR(1) col", float(bounded(par[2]))),
                ("Residual", float(s2 * np.exp(2 * par[0])))]
