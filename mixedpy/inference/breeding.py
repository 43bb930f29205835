"""Breeder statistics: factor-analytic loadings, heritabilities, genetic correlations, reliabilities.

Which heritability is which
---------------------------
``trait_heritability``       h² = G_tt / (G_tt + R_tt) per trait t of a multi-trait (or one-trait)
                             animal model: the narrow-sense heritability of a single record
``entry_mean_heritability``  H² = σ²_g / (σ²_g + Σ_k σ²_k / d_k): the broad-sense heritability of a
                             genotype's mean over the trial, d_k the (harmonic) mean number of levels of
                             term k (genotype × environment: environments; residual: plots) per genotype
``generalized_heritability`` H²_C = 1 − v̄ / (2 σ²_g), v̄ the mean PEV of the differences of BLUPs of all
                             pairs of genotypes (Cullis, Smith & Coombes 2006): the same as the entry-mean
                             H² for balanced data, and meaningful for unbalanced trials too

Standard errors are by the delta method from the asymptotic covariance of the model's variance
parameters (A = 2H⁻¹ in (params, σ), :mod:`mixedpy.inference.varpar`), with the derivatives of the
statistic taken by central differences.

Glossary
--------
G        a term's k × k covariance (traits or environments), σ² T Tᵀ
PEV      prediction error variance Var(b − b̂) = σ² (C⁻¹)_bb from the MME
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ModelSpecError


def _term(result, group: str):
    labels = result.random.term_labels()
    if group not in labels:
        raise ModelSpecError(f"{group!r} is not a random-effect group of the model; use one of "
                             f"{', '.join(map(repr, labels))}")
    j = labels.index(group)
    return j, result.random.terms[j]


@dataclass(frozen=True)
class FactorLoadings:
    """Factor-analytic summary of one term (see :func:`factor_loadings`).

    Attributes
    ----------
    loadings : DataFrame
        Rotated loadings (rows: the term's columns, e.g. environments; columns FA1 … FAk), in the
        units of the effects (√ of variances).
    specific : Series
        Specific variances Ψ (0 for ``rr``).
    percent : Series
        % of the total genetic variance tr(G) explained by each factor (and ``"specific"``).
    G : DataFrame
        The estimated covariance matrix Λ Λᵀ + Ψ.
    """

    loadings: pd.DataFrame
    specific: pd.Series
    percent: pd.Series
    G: pd.DataFrame


def factor_loadings(result, group: str) -> FactorLoadings:
    """Loadings of an ``fa(expr | g, k)`` or ``rr(expr | g, k)`` term rotated to principal axes
    (:func:`mixedpy.covariance.factor_analytic.rotate_loadings`: orthogonal columns, the first
    explaining the most variance, each column summing to a positive number), the specific variances
    and the % of genetic variance tr(G) each factor explains.

    Examples
    --------
    >>> import mixedpy
    >>> met = mixedpy.datasets.load("met")
    >>> m = mixedpy.fit("yield ~ env + fa(0 + env | genotype, 1)", met)
    >>> fl = m.loadings("genotype")
    >>> fl.loadings.shape, bool(fl.percent.sum() > 99.99)
    ((6, 1), True)
    """
    from ..covariance.factor_analytic import FA, RR, rotate_loadings
    j, t = _term(result, group)
    st = result.spec.parameters.structures[j]
    if not isinstance(st, RR):
        raise ModelSpecError(f"term {group!r} is not a factor-analytic term; write fa(... | {t.group}, k)")
    par = result.spec.parameters.term_params(result.params, j)
    s = float(result.sigma)
    L = rotate_loadings(s * st.loadings(par))
    psi = s ** 2 * st.specific(par) if isinstance(st, FA) else np.zeros(t.k)
    total = float(np.sum(L ** 2) + psi.sum())
    names = [f"FA{i + 1}" for i in range(st.rank)]
    pct = pd.Series(np.append(100 * np.sum(L ** 2, axis=0), 100 * psi.sum()) / total, index=[*names, "specific"])
    G = L @ L.T + np.diag(psi)
    return FactorLoadings(loadings=pd.DataFrame(L, index=t.columns, columns=names),
                          specific=pd.Series(psi, index=t.columns), percent=pct,
                          G=pd.DataFrame(G, index=t.columns, columns=t.columns))
