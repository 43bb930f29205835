"""Structures with a serial order of the d time levels: autoregressive, Toeplitz, antedependence,
each homogeneous or heterogeneous (one standard deviation per level).

=========  ===========  ==========================================================  ============
name       SAS TYPE=    correlation of levels i < j                                 parameters
=========  ===========  ==========================================================  ============
ar1        AR(1)        ρ^(j−i)                                                     2
ar1h       ARH(1)       ρ^(j−i), variances σ_i²                                     d + 1
toep       TOEP         ρ_(j−i) (partial autocorrelations in (−1, 1): always p.d.)   d
toeph      TOEPH        ρ_(j−i), variances σ_i²                                     2d − 1
ad         (mmrm ad)    ρ_i ρ_(i+1) ⋯ ρ_(j−1)                                        d
adh        ANTE(1)      ρ_i ⋯ ρ_(j−1), variances σ_i²                               2d − 1
=========  ===========  ==========================================================  ============

Correlations come from unconstrained numbers through a / √(1 + a²).

Examples
--------
>>> import numpy as np
>>> AR1(3).matrix(np.array([0.0, 1.0])).round(4)[0].tolist()
[1.0, 0.7071, 0.5]
"""
from __future__ import annotations

import numpy as np

from .base import CovStructure, bounded, dtype_of


def _lags(d: int) -> np.ndarray:
    i = np.arange(d)
    return np.abs(i[:, None] - i[None, :])


def ar1_correlation(rho, d: int):
    """ρ^|i−j| (complex-safe)."""
    lags = _lags(d)
    powers = [np.ones((), dtype=dtype_of(rho))]
    for _ in range(d - 1):
        powers.append(powers[-1] * rho)
    return np.stack(powers)[lags] if d > 1 else np.ones((1, 1), dtype=dtype_of(rho))


def toeplitz_correlation(partial, d: int):
    """Autocorrelations from partial autocorrelations (Durbin-Levinson), as a d × d Toeplitz
    correlation matrix: positive definite for any partial autocorrelations in (−1, 1)."""
    dt = dtype_of(partial)
    rho = [np.ones((), dtype=dt)]
    phi: list = []
    for k in range(1, d):
        pk = partial[k - 1]
        if k == 1:
            rho.append(pk)
            phi = [pk]
            continue
        num = sum(phi[j] * rho[k - 1 - j] for j in range(k - 1))
        den = 1 - sum(phi[j] * rho[j + 1] for j in range(k - 1))
        rho.append(num + pk * den)
        phi = [phi[j] - pk * phi[k - 2 - j] for j in range(k - 1)] + [pk]
    return np.stack(rho)[_lags(d)]


def ante_correlation(rhos, d: int):
    """corr(i, j) = ρ_i ρ_(i+1) ⋯ ρ_(j−1) for i < j (first-order antedependence)."""
    C = np.ones((d, d), dtype=dtype_of(rhos))
    for i in range(d):
        acc = np.ones((), dtype=dtype_of(rhos))
        for j in range(i + 1, d):
            acc = acc * rhos[j - 1]
            C[i, j] = C[j, i] = acc
    return C


class _Serial(CovStructure):
    """Variances (one or d) times a correlation matrix with ``ncor`` parameters."""

    hetero = False

    @property
    def nvar(self) -> int:
        return self.dim if self.hetero else 1

    @property
    def ncor(self) -> int:
        return self.dim - 1

    @property
    def npar(self) -> int:
        return self.nvar + self.ncor

    def correlation(self, cpar):
        raise NotImplementedError

    def matrix(self, par):
        sd = np.exp(par[:self.nvar])
        C = self.correlation(par[self.nvar:])
        if self.hetero:
            return sd[:, None] * C * sd[None, :]
        return sd[0] * sd[0] * C

    def sas_matrix(self, v):
        """The matrix from the values :meth:`report` lists (SAS's parameters), complex-safe."""
        if self.hetero:
            sd = np.sqrt(v[:self.dim])
            return sd[:, None] * self.sas_correlation(v[self.dim:]) * sd[None, :]
        return self.sas_variance(v) * self.sas_correlation(self.sas_cor_values(v))

    def sas_variance(self, v):
        return v[-1]

    def sas_cor_values(self, v):
        return v[:-1]

    def _variances(self, par, s2):
        v = s2 * np.exp(2 * np.asarray(par, dtype=float)[:self.nvar])
        if self.hetero:
            return [(f"Var({i + 1})", float(v[i])) for i in range(self.dim)]
        return [("Residual", float(v[0]))]


class AR1(_Serial):
    name, sas, title = "ar1", "AR(1)", "first-order autoregressive"

    @property
    def ncor(self) -> int:
        return 1 if self.dim > 1 else 0

    def correlation(self, cpar):
        return ar1_correlation(bounded(cpar[0]) if self.ncor else 0.0, self.dim)

    def sas_correlation(self, r):
        return ar1_correlation(r[0] if self.ncor else 0.0, self.dim)

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        rho = float(bounded(par[self.nvar])) if self.ncor else 0.0
        return [("AR(1)", rho)] + self._variances(par, s2)


class AR1H(AR1):
    name, sas, title = "ar1h", "ARH(1)", "heterogeneous first-order autoregressive"
    hetero = True

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        return self._variances(par, s2) + [("ARH(1)", float(bounded(par[self.nvar])))]


class Toep(_Serial):
    name, sas, title = "toep", "TOEP", "Toeplitz"

    def correlation(self, cpar):
        return toeplitz_correlation(bounded(cpar), self.dim)

    def sas_matrix(self, v):
        if self.hetero:
            return super().sas_matrix(v)
        cov = [v[-1]] + [v[k] for k in range(self.dim - 1)]
        return np.stack(cov)[_lags(self.dim)]

    def sas_correlation(self, r):
        return np.stack([np.ones((), dtype=dtype_of(r))] + [r[k] for k in range(self.dim - 1)])[_lags(self.dim)]

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        S = s2 * self.matrix(par)
        return [(f"TOEP({k + 1})", float(S[0, k])) for k in range(1, self.dim)] + [("Residual", float(S[0, 0]))]


class ToepH(Toep):
    name, sas, title = "toeph", "TOEPH", "heterogeneous Toeplitz"
    hetero = True

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        C = self.correlation(par[self.nvar:])
        return self._variances(par, s2) + [(f"TOEPH({k})", float(C[0, k])) for k in range(1, self.dim)]


class AD(_Serial):
    name, sas, title = "ad", "ANTE(1)", "first-order antedependence"

    def correlation(self, cpar):
        return ante_correlation(bounded(cpar), self.dim)

    def sas_correlation(self, r):
        return ante_correlation(r, self.dim)

    def sas_variance(self, v):
        return v[0]

    def sas_cor_values(self, v):
        return v[1:]

    def report(self, par, s2):
        par = np.asarray(par, dtype=float)
        r = bounded(par[self.nvar:])
        return self._variances(par, s2) + [(f"Rho({k + 1})", float(r[k])) for k in range(self.dim - 1)]


class ADH(AD):
    name, sas, title = "adh", "ANTE(1)", "heterogeneous first-order antedependence"
    hetero = True
