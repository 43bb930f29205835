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
import scipy.sparse as sp
import scipy.sparse.linalg as spla

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

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("yield ~ env + fa(0 + env | genotype, 1)", mixedpy.datasets.load("met"))
    >>> fl = m.loadings("genotype")
    >>> type(fl).__name__, fl.loadings.shape, fl.specific.shape
    ('FactorLoadings', (6, 1), (6,))
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


# --- prediction error variances and reliabilities ------------------------------------------------
def _inner(result):
    ws = result.workspace
    if hasattr(ws, "split") and hasattr(ws, "at"):  # residual structures: the whitened engine
        return ws.at(ws.split(result.theta)[1])["inner"]
    return ws


def _fixed_rows(result) -> np.ndarray:
    """C⁻¹ZᵀX in the rows of b (q × p): how the uncertainty of β̂ enters b̂."""
    AW = result.solution.parts.AinvW
    inner = _inner(result)
    if hasattr(inner, "effects"):
        return np.column_stack([inner.effects(AW[:, i]) for i in range(AW.shape[1])])
    return result.random.Lambda(np.asarray(result.theta)[:result.random.ntheta]) @ AW


def prediction_error_variances(result, group: str) -> np.ndarray:
    """PEV blocks Var(b_i − b̂_i) (nlev × k × k) of a term, from the full MME inverse: the
    conditional variances at β̂ (lme4's condVar) plus σ² W RXᵀRX⁻¹ Wᵀ, W = C⁻¹ZᵀX (the part due to
    estimating β), as BLUPF90 and ASReml report them.

    Examples
    --------
    >>> import mixedpy, numpy as np
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> prediction_error_variances(m, "Batch").shape
    (6, 1, 1)
    """
    j, t = _term(result, group)
    cv = np.asarray(result.workspace.conditional_variances(result.theta, result.sigma)[j])
    if not result.fixed.X.shape[1]:
        return cv
    W = _fixed_rows(result)
    idx = t.offset + np.arange(t.nlev)[:, None] * t.k + np.arange(t.k)[None, :]
    Wt = W[idx]                                          # nlev × k × p
    RXi = np.linalg.inv(result.solution.parts.RXtRX)
    return cv + result.sigma ** 2 * np.einsum("lap,pq,lbq->lab", Wt, RXi, Wt)


def reliabilities(result, group: str) -> pd.DataFrame:
    """Reliability r² = 1 − PEV / (G_tt K_ii) and accuracy r per level and column (trait) of a term,
    PEV from :func:`prediction_error_variances`, K_ii = 1 + F_i for a pedigree (1 otherwise).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> r = reliabilities(m, "Batch")
    >>> list(r.columns), bool((r["reliability"] < 1).all())
    (['level', 'term', 'pev', 'reliability', 'accuracy'], True)
    """
    j, t = _term(result, group)
    pev = prediction_error_variances(result, group)
    G = result.term_covariance(t)
    Kii = np.ones(t.nlev)
    st = result.structures[j] if result.structures is not None else None
    if st is not None and getattr(st, "pedigree", None) is not None:
        Kii = 1.0 + st.pedigree.inbreeding.to_numpy()
    elif st is not None and st.K is not None:
        Kii = np.diag(st.K)
    rows = []
    levels = st.labels if st is not None and st.labels is not None else t.levels
    for a, col in enumerate(t.columns):
        v = pev[:, a, a]
        rel = 1.0 - v / (G[a, a] * Kii) if G[a, a] > 0 else np.zeros(t.nlev)
        rows.append(pd.DataFrame({"level": list(levels), "term": col, "pev": v, "reliability": rel,
                                  "accuracy": np.sqrt(np.clip(rel, 0, None))}))
    return pd.concat(rows, ignore_index=True)


# --- heritabilities and genetic correlations with delta-method SEs --------------------------------
def _delta_se(result, stat) -> tuple[float, float]:
    """stat(params, σ) and its delta-method SE (A = 2H⁻¹ in (params, σ), central differences)."""
    from .varpar import varpar_info
    x = np.append(result.params, result.sigma)
    value = float(stat(x))
    if result.method not in ("reml", "ml"):
        return value, np.nan
    A = varpar_info(result).vcov_varpar
    grad = np.zeros(len(x))
    for i in range(len(x)):
        h = 1e-5 * max(1.0, abs(x[i]))
        up, dn = x.copy(), x.copy()
        up[i] += h
        dn[i] -= h
        grad[i] = (stat(up) - stat(dn)) / (2 * h)
    var = float(grad @ A @ grad)
    return value, float(np.sqrt(var)) if var >= 0 else np.nan


def _covariances(result, x: np.ndarray) -> tuple[list, np.ndarray]:
    """Per term its G, and the residual matrix (or σ² as 1 × 1), at x = (params, σ)."""
    pm = result.spec.parameters
    theta = pm.theta(x[:-1])
    s2 = x[-1] ** 2
    Gs = []
    for t in result.random.terms:
        T = t.T(theta)
        Gs.append(s2 * T @ T.T)
    rd = result.spec.residual
    if rd is not None and rd.structure is not None and rd.ngroups == 1:
        R = s2 * rd.structure.matrix(rd.full(theta[result.random.ntheta:])[0])
    else:
        R = np.array([[s2]])
    return Gs, R


def trait_heritability(result, group: str) -> pd.DataFrame:
    """Narrow-sense h² = G_tt / (G_tt + R_tt) for each trait t (column) of a term, with
    delta-method SEs.  R is the residual structure's matrix (``residual="us(trait | id)"``) or σ²;
    other random terms are not part of the denominator (give them as you want them with
    :func:`entry_mean_heritability`).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> round(float(trait_heritability(m, "Batch")["estimate"].iloc[0]), 4)
    0.4185
    """
    j, t = _term(result, group)
    rows = []
    for a, col in enumerate(t.columns):
        def h2(x, a=a):
            Gs, R = _covariances(result, x)
            r = R[a, a] if R.shape[0] == t.k else R[0, 0]
            return Gs[j][a, a] / (Gs[j][a, a] + r)
        est, se = _delta_se(result, h2)
        rows.append((col, est, se))
    return pd.DataFrame(rows, columns=["trait", "estimate", "se"])


def genetic_correlations(result, group: str) -> pd.DataFrame:
    """Correlations G_ab / √(G_aa G_bb) between the columns (traits, environments) of a term, with
    delta-method SEs.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> round(float(genetic_correlations(m, "Subject")["estimate"].iloc[0]), 3)
    0.066
    """
    j, t = _term(result, group)
    rows = []
    for a in range(t.k):
        for b in range(a + 1, t.k):
            def rg(x, a=a, b=b):
                G = _covariances(result, x)[0][j]
                return G[a, b] / np.sqrt(G[a, a] * G[b, b])
            est, se = _delta_se(result, rg)
            rows.append((t.columns[a], t.columns[b], est, se))
    return pd.DataFrame(rows, columns=["term1", "term2", "estimate", "se"])


def _scalar_variance(result, j: int, column: int | None) -> float:
    G = result.term_covariance(result.random.terms[j])
    return float(G[column or 0, column or 0])


def generalized_heritability(result, group: str, column: int | str | None = None) -> float:
    """Cullis, Smith & Coombes (2006): H² = 1 − v̄ / (2 σ²_g), v̄ the mean over all pairs of levels
    (genotypes) of the PEV of the difference of their BLUPs, PEV from the MME without the fixed
    effects' contribution (β treated as known; as in the paper, β̂'s uncertainty cancels in
    differences for a balanced trial).  For a k-column term (``diag(0 + env | genotype)``),
    ``column`` picks the environment.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> round(generalized_heritability(m, "Batch"), 4)  # balanced: the entry-mean H²
    0.7825
    """
    j, t = _term(result, group)
    a = 0 if column is None else (t.columns.index(column) if isinstance(column, str) else int(column))
    C, _, _ = result.workspace.mme_system(result.theta)
    p = result.fixed.X.shape[1]
    inner = _inner(result)
    woff = inner.woff[j] if hasattr(inner, "woff") else t.offset
    if hasattr(inner, "structures") and inner.structures and inner.structures[j].kind == "factor":
        raise ModelSpecError("the generalized heritability needs the effects themselves (a pedigree or "
                             "no relmat), not a dense-K term's latent effects")
    idx = p + woff + np.arange(t.nlev) * t.k + a
    C = sp.csc_matrix(C)
    keep = np.ones(C.shape[0], dtype=bool)
    keep[:p] = False  # β known: the random block only
    Cuu = C[keep][:, keep]
    E = np.zeros((Cuu.shape[0], len(idx)))
    E[idx - p, np.arange(len(idx))] = 1.0
    P = spla.splu(sp.csc_matrix(Cuu)).solve(E)[idx - p] * result.sigma ** 2
    n = len(idx)
    d = np.diag(P)
    vbar = (2 * n * d.sum() - 2 * P.sum()) / (n * (n - 1))
    return float(1.0 - vbar / (2 * _scalar_variance(result, j, a)))


def entry_mean_heritability(result, group: str, divisors: dict | None = None) -> float:
    """Broad-sense heritability on an entry-mean basis, H² = σ²_g / (σ²_g + Σ_k σ²_k / d_k), over
    the other random terms k whose grouping contains ``group`` (``genotype:env``) and the residual.

    ``divisors`` maps term labels (and ``"Residual"``) to d_k; by default d_k is the harmonic mean
    over genotypes of the number of levels of term k per genotype (environments), and for the
    residual of the number of records per genotype (plots).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> round(entry_mean_heritability(m, "Batch"), 4)
    0.7825
    """
    j, t = _term(result, group)
    if t.k != 1:
        raise ModelSpecError(f"the entry-mean heritability needs a one-column term; {group!r} has {t.k}")
    divisors = dict(divisors or {})
    vg = _scalar_variance(result, j, 0)
    labels = result.random.term_labels()
    codes = t.codes
    noise = 0.0
    for k, (lab, u) in enumerate(zip(labels, result.random.terms)):
        if k == j or group not in u.group.split(":") or u.k != 1:
            continue
        if lab in divisors:
            d = float(divisors[lab])
        else:
            per = np.array([len(np.unique(u.codes[codes == g])) for g in range(t.nlev)], dtype=float)
            d = len(per) / np.sum(1.0 / per)
        noise += _scalar_variance(result, k, 0) / d
    if "Residual" in divisors:
        d = float(divisors["Residual"])
    else:
        per = np.bincount(codes, minlength=t.nlev).astype(float)
        per = per[per > 0]
        d = len(per) / np.sum(1.0 / per)
    noise += result.sigma ** 2 / d
    return float(vg / (vg + noise))
