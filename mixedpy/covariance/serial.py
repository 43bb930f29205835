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
    """ρ^|i−j| (complex-safe).

    Examples
    --------
    >>> ar1_correlation(0.5, 3).tolist()
    [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
    """
    lags = _lags(d)
    powers = [np.ones((), dtype=dtype_of(rho))]
    for _ in range(d - 1):
        powers.append(powers[-1] * rho)
    return np.stack(powers)[lags] if d > 1 else np.ones((1, 1), dtype=dtype_of(rho))


def toeplitz_correlation(partial, d: int):
    """Autocorrelations from partial autocorrelations (Durbin-Levinson), as a d × d Toeplitz
    correlation matrix: positive definite for any partial autocorrelations in (−1, 1).

    Examples
    --------
    >>> toeplitz_correlation(np.array([0.5, 0.0]), 3).round(4).tolist()
    [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
    """
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
    """corr(i, j) = ρ_i ρ_(i+1) ⋯ ρ_(j−1) for i < j (first-order antedependence).

    Examples
    --------
    >>> ante_correlation(np.array([0.5, 0.4]), 3).round(4).tolist()
    [[1.0, 0.5, 0.2], [0.5, 1.0, 0.4], [0.2, 0.4, 1.0]]
    """
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
    """First-order autoregressive: σ² ρ^|i−j| (SAS TYPE=AR(1)).

    Examples
    --------
    >>> s = AR1(3)
    >>> s.npar, s.sas
    (2, 'AR(1)')
    >>> s.matrix(np.array([0.0, 1.0])).round(4).tolist()
    [[1.0, 0.7071, 0.5], [0.7071, 1.0, 0.7071], [0.5, 0.7071, 1.0]]
    """
    name, sas, title = "ar1", "AR(1)", "first-order autoregressive"

    @property
    def ncor(self) -> int:
        """One correlation parameter (none when d = 1).

        Examples
        --------
        >>> AR1(3).ncor, AR1(1).ncor
        (1, 0)
        """
        return 1 if self.dim > 1 else 0

    def correlation(self, cpar):
        """ρ^|i−j| with ρ = bounded(cpar[0]) (complex-safe).

        Examples
        --------
        >>> AR1(3).correlation(np.array([1.0])).round(4).tolist()
        [[1.0, 0.7071, 0.5], [0.7071, 1.0, 0.7071], [0.5, 0.7071, 1.0]]
        """
        return ar1_correlation(bounded(cpar[0]) if self.ncor else 0.0, self.dim)

    def sas_correlation(self, r):
        """ρ^|i−j| from SAS's AR(1) value ρ.

        Examples
        --------
        >>> AR1(3).sas_correlation(np.array([0.5])).tolist()
        [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
        """
        return ar1_correlation(r[0] if self.ncor else 0.0, self.dim)

    def report(self, par, s2):
        """SAS's AR(1) and Residual values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in AR1(3).report(np.array([0.0, 1.0]), 2.0)]
        [('AR(1)', 0.7071), ('Residual', 2.0)]
        """
        par = np.asarray(par, dtype=float)
        rho = float(bounded(par[self.nvar])) if self.ncor else 0.0
        return [("AR(1)", rho)] + self._variances(par, s2)


class AR1H(AR1):
    """Heterogeneous first-order autoregressive: d variances, one ρ (SAS TYPE=ARH(1)).

    Examples
    --------
    >>> s = AR1H(3)
    >>> s.npar
    4
    >>> s.matrix(np.array([0.0, 0.0, np.log(2.0), 1.0])).round(4).tolist()
    [[1.0, 0.7071, 1.0], [0.7071, 1.0, 1.4142], [1.0, 1.4142, 4.0]]
    """
    name, sas, title = "ar1h", "ARH(1)", "heterogeneous first-order autoregressive"
    hetero = True

    def report(self, par, s2):
        """SAS's Var(i) and ARH(1) values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in AR1H(2).report(np.array([0.0, 0.5, 1.0]), 2.0)]
        [('Var(1)', 2.0), ('Var(2)', 5.4366), ('ARH(1)', 0.7071)]
        """
        par = np.asarray(par, dtype=float)
        return self._variances(par, s2) + [("ARH(1)", float(bounded(par[self.nvar])))]


class Toep(_Serial):
    """Toeplitz: one variance, d − 1 lag correlations through partial autocorrelations (SAS TYPE=TOEP).

    Examples
    --------
    >>> s = Toep(3)
    >>> s.npar
    3
    >>> s.matrix(np.array([0.0, 1.0, 0.0])).round(4).tolist()
    [[1.0, 0.7071, 0.5], [0.7071, 1.0, 0.7071], [0.5, 0.7071, 1.0]]
    """
    name, sas, title = "toep", "TOEP", "Toeplitz"

    def correlation(self, cpar):
        """The Toeplitz correlation matrix from unconstrained partial autocorrelations.

        Examples
        --------
        >>> Toep(3).correlation(np.array([1.0, 0.0])).round(4).tolist()
        [[1.0, 0.7071, 0.5], [0.7071, 1.0, 0.7071], [0.5, 0.7071, 1.0]]
        """
        return toeplitz_correlation(bounded(cpar), self.dim)

    def sas_matrix(self, v):
        """The matrix from SAS's TOEP(2), …, TOEP(d), Residual values (covariances).

        Examples
        --------
        >>> Toep(3).sas_matrix(np.array([0.5, 0.25, 1.0])).tolist()
        [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
        """
        if self.hetero:
            return super().sas_matrix(v)
        cov = [v[-1]] + [v[k] for k in range(self.dim - 1)]
        return np.stack(cov)[_lags(self.dim)]

    def sas_correlation(self, r):
        """The Toeplitz correlation matrix from its lag correlations.

        Examples
        --------
        >>> Toep(3).sas_correlation(np.array([0.5, 0.25])).tolist()
        [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
        """
        return np.stack([np.ones((), dtype=dtype_of(r))] + [r[k] for k in range(self.dim - 1)])[_lags(self.dim)]

    def report(self, par, s2):
        """SAS's TOEP(k) covariances and Residual at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in Toep(3).report(np.array([0.0, 1.0, 0.0]), 2.0)]
        [('TOEP(2)', 1.4142), ('TOEP(3)', 1.0), ('Residual', 2.0)]
        """
        par = np.asarray(par, dtype=float)
        S = s2 * self.matrix(par)
        return [(f"TOEP({k + 1})", float(S[0, k])) for k in range(1, self.dim)] + [("Residual", float(S[0, 0]))]


class ToepH(Toep):
    """Heterogeneous Toeplitz: d variances and d − 1 lag correlations (SAS TYPE=TOEPH).

    Examples
    --------
    >>> s = ToepH(3)
    >>> s.npar
    5
    >>> s.matrix(np.array([0.0, 0.0, 0.0, 1.0, 0.0])).round(4).tolist()
    [[1.0, 0.7071, 0.5], [0.7071, 1.0, 0.7071], [0.5, 0.7071, 1.0]]
    """
    name, sas, title = "toeph", "TOEPH", "heterogeneous Toeplitz"
    hetero = True

    def report(self, par, s2):
        """SAS's Var(i) and TOEPH(k) correlations at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in ToepH(2).report(np.array([0.0, 0.5, 1.0]), 2.0)]
        [('Var(1)', 2.0), ('Var(2)', 5.4366), ('TOEPH(1)', 0.7071)]
        """
        par = np.asarray(par, dtype=float)
        C = self.correlation(par[self.nvar:])
        return self._variances(par, s2) + [(f"TOEPH({k})", float(C[0, k])) for k in range(1, self.dim)]


class AD(_Serial):
    """First-order antedependence: one variance, d − 1 neighbour correlations (SAS TYPE=ANTE(1)).

    Examples
    --------
    >>> s = AD(3)
    >>> s.npar
    3
    >>> s.matrix(np.array([0.0, 1.0, 0.0])).round(4).tolist()
    [[1.0, 0.7071, 0.0], [0.7071, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    name, sas, title = "ad", "ANTE(1)", "first-order antedependence"

    def correlation(self, cpar):
        """corr(i, j) = ρ_i ⋯ ρ_(j−1) with ρ = bounded(cpar).

        Examples
        --------
        >>> AD(3).correlation(np.array([1.0, 1.0])).round(4).tolist()
        [[1.0, 0.7071, 0.5], [0.7071, 1.0, 0.7071], [0.5, 0.7071, 1.0]]
        """
        return ante_correlation(bounded(cpar), self.dim)

    def sas_correlation(self, r):
        """The antedependence correlation matrix from SAS's Rho(k) values.

        Examples
        --------
        >>> AD(3).sas_correlation(np.array([0.5, 0.4])).round(4).tolist()
        [[1.0, 0.5, 0.2], [0.5, 1.0, 0.4], [0.2, 0.4, 1.0]]
        """
        return ante_correlation(r, self.dim)

    def sas_variance(self, v):
        """The variance among SAS's values (the first).

        Examples
        --------
        >>> float(AD(3).sas_variance(np.array([2.0, 0.5, 0.4])))
        2.0
        """
        return v[0]

    def sas_cor_values(self, v):
        """The Rho(k) values among SAS's values (after the variance).

        Examples
        --------
        >>> AD(3).sas_cor_values(np.array([2.0, 0.5, 0.4])).tolist()
        [0.5, 0.4]
        """
        return v[1:]

    def report(self, par, s2):
        """SAS's Residual and Rho(k) values at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> [(n, round(v, 4)) for n, v in AD(3).report(np.array([0.0, 1.0, 0.0]), 2.0)]
        [('Residual', 2.0), ('Rho(1)', 0.7071), ('Rho(2)', 0.0)]
        """
        par = np.asarray(par, dtype=float)
        r = bounded(par[self.nvar:])
        return self._variances(par, s2) + [(f"Rho({k + 1})", float(r[k])) for k in range(self.dim - 1)]


class ADH(AD):
    """Heterogeneous first-order antedependence: d variances, d − 1 neighbour correlations.

    Examples
    --------
    >>> s = ADH(3)
    >>> s.npar
    5
    >>> s.matrix(np.array([0.0, 0.0, np.log(2.0), 1.0, 0.0])).round(4).tolist()
    [[1.0, 0.7071, 0.0], [0.7071, 1.0, 0.0], [0.0, 0.0, 4.0]]
    """
    name, sas, title = "adh", "ANTE(1)", "heterogeneous first-order antedependence"
    hetero = True
