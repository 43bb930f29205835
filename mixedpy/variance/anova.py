"""ANOVA (method of moments) estimates of variance components: Henderson's Method III.

For y = Xβ + Σ_j Z_j b_j + e with iid random intercepts b_j ~ N(0, σ²_j I) and e ~ N(0, σ²_e I),
the sums of squares are the sequential reductions ("fitting constants", Type I).  With P_j the
projection on span(X, Z_1, …, Z_j) (P_0 on span X) and RSS_j = ‖y − P_j y‖²::

    SS_j = RSS_{j−1} − RSS_j   on df_j = rank_j − rank_{j−1},    SS_e = RSS_m   on n − rank_m

P_j − P_{j−1} annihilates X, so E(SS_j) = Σ_l σ²_l [tr(Z_lᵀP_jZ_l) − tr(Z_lᵀP_{j−1}Z_l)] + σ²_e df_j
(the expected mean squares; the coefficient of σ²_l is 0 for l < j, as tr(Z_lᵀP_jZ_l) = ‖Z_l‖²_F
once Z_l is in), and E(SS_e) = σ²_e (n − rank_m).  Equating observed and expected sums of squares
gives a triangular linear system for the components.  For a balanced one-way design this is the
classical (MS_A − MS_E)/n.  Estimates are reported as they are, even negative (with a
:class:`~mixedpy.errors.NegativeVarianceWarning`); the BLUE/BLUP are then computed with negative
components set to 0.

Computation (no n × n or n × q dense matrix): P_0 from a thin SVD of X (n × p).  For j ≥ 1 the
factor with the most levels among Z_1…Z_j, Z_a, is absorbed (Z_aᵀZ_a = D is diagonal: one level a
record), P_j = Z_a D⁻¹ Z_aᵀ + P_{O_a} with O = [X, the other Z_i] and O_a = O − Z_a D⁻¹ Z_aᵀ O.  Only
cross-products are formed: X_a = X − Z_a D⁻¹Z_aᵀX explicitly (n × p), the count tables Z_iᵀZ_l
sparse, and the Gram matrix G = O_aᵀO_a (p + Σ_{i≠a} q_i square, dense); its pseudo-inverse comes
from an eigendecomposition after scaling to unit diagonal (columns absorbed entirely, e.g. a factor
nested in Z_a, are dropped).  Then RSS_j = ‖y_a‖² − h_aᵀG⁻h_a, rank_j = q_a + rank G and
tr(Z_lᵀP_jZ_l) = Σ_k ((Z_aᵀZ_l)²_{ik}) / D_i + tr(G⁻ B Bᵀ) with B = O_aᵀZ_l.

Sampling covariance: treating SS_i as independent σ-scaled χ²'s (exact for balanced designs),
Var(SS_i) is estimated by 2 SS_i² / (df_i + 2), and Cov(σ̂²) = E⁻¹ diag(Var SS) E⁻ᵀ.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as la
import scipy.sparse as sp

from ..errors import DataError, ModelSpecError, NegativeVarianceWarning
from ..estimates import Estimates
from ..optimize import OptSummary
from ..solution import solve_at
from ..threads import blas_limit

RANK_TOL = 1e-9      # singular values of X below this (relative) are 0
EIG_TOL = 1e-10      # eigenvalues of the unit-diagonal Gram matrix below this (relative) are 0
ABSORBED_TOL = 1e-11  # a column keeping less than this share of its squared norm is absorbed


@dataclass(frozen=True)
class Stage:
    """The fit of y on span(X, Z_1, …, Z_j): residual sum of squares, rank, and tr(Z_lᵀ P_j Z_l)
    for every random factor l.

    Examples
    --------
    >>> import numpy as np
    >>> s = Stage(rss=58830.0, rank=6, traces=np.array([0.0]))
    >>> s.rss, s.rank
    (58830.0, 6)
    """

    rss: float
    rank: int
    traces: np.ndarray


def _stage_fixed(X: np.ndarray, y: np.ndarray, Zs: list) -> Stage:
    """Stage 0: the projection on span X through a thin SVD (X is n × p)."""
    if X.shape[1]:
        U, s, _ = la.svd(X, full_matrices=False)
        Q = U[:, s > RANK_TOL * s[0] * max(X.shape)] if s[0] > 0 else U[:, :0]
    else:
        Q = np.zeros((len(y), 0))
    r = y - Q @ (Q.T @ y)
    traces = np.array([float(np.sum(np.asarray(Z.T @ Q) ** 2)) for Z in Zs])
    return Stage(float(r @ r), Q.shape[1], traces)


def _pseudo_root(G: np.ndarray, Gfull_diag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keep, W) with G⁻ = S W Wᵀ S on the kept columns, S = diag(G)^-½ (unit-diagonal scaling)."""
    d = np.diag(G).copy()
    keep = d > ABSORBED_TOL * np.maximum(Gfull_diag, 1e-300)
    sd = np.sqrt(d[keep])
    Gs = G[np.ix_(keep, keep)] / np.outer(sd, sd)
    if not len(sd):
        return keep, np.zeros((0, 0))
    vals, vecs = la.eigh(Gs, check_finite=False)
    pos = vals > EIG_TOL * max(float(vals[-1]), 1.0)
    return keep, (vecs[:, pos] / np.sqrt(vals[pos])) / sd[:, None]


def _stage(X: np.ndarray, y: np.ndarray, Zs: list, j: int, names: list) -> Stage:
    """Stage j ≥ 1: span(X, Z_1, …, Z_j) with its largest factor absorbed (module docstring)."""
    inside = list(range(j))
    a = max(inside, key=lambda i: Zs[i].shape[1])
    Za = Zs[a]
    D = np.asarray(Za.multiply(Za).sum(axis=0)).ravel()
    if (Za.T @ Za).nnz != np.count_nonzero(D):
        raise ModelSpecError(f"the ANOVA estimates need random intercepts (one level per record); the "
                             f"matrix of {names[a]!r} has records in several levels")
    Dinv = np.where(D > 0, 1.0 / np.where(D > 0, D, 1.0), 0.0)
    YX = np.column_stack([y, X])
    YXa = YX - Za @ (Dinv[:, None] * np.asarray(Za.T @ YX))      # [y_a, X_a]
    others = [Zs[i] for i in inside if i != a]
    N = [sp.csr_matrix(Za.T @ Zo) for Zo in others]               # count tables with Z_a
    # Gram of O_a = [X_a, Z_o − Z_a D⁻¹ N_o] and O_aᵀ y_a
    blocks_x = [YXa[:, 1:].T @ YXa[:, 1:]] + [np.asarray(Zo.T @ YXa[:, 1:]).T for Zo in others]
    rows = [np.hstack(blocks_x)] if X.shape[1] else []
    diag_full = [np.sum(X ** 2, axis=0)]
    for i, (Zi, Ni) in enumerate(zip(others, N)):
        row = [np.asarray(Zi.T @ YXa[:, 1:])]
        for Zk, Nk in zip(others, N):
            row.append((Zi.T @ Zk - Ni.T @ sp.diags(Dinv) @ Nk).toarray())
        rows.append(np.hstack(row))
        diag_full.append(np.asarray(Zi.multiply(Zi).sum(axis=0)).ravel())
    G = np.vstack(rows) if rows else np.zeros((0, 0))
    G = (G + G.T) / 2
    h = np.concatenate([YXa[:, 1:].T @ YXa[:, 0]] + [np.asarray(Zo.T @ YXa[:, 0]).ravel() for Zo in others])
    keep, W = _pseudo_root(G, np.concatenate(diag_full))
    rss = float(YXa[:, 0] @ YXa[:, 0]) - float(np.sum((W.T @ h[keep]) ** 2))
    traces = np.zeros(len(Zs))
    for l, Zl in enumerate(Zs):
        if l < j:
            traces[l] = float(Zl.multiply(Zl).sum())
            continue
        Nl = sp.csr_matrix(Za.T @ Zl)
        first = float(np.asarray(Nl.multiply(Nl).sum(axis=1)).ravel() @ Dinv)
        B = np.vstack([np.asarray(Zl.T @ YXa[:, 1:]).T]
                      + [(Zo.T @ Zl - No.T @ sp.diags(Dinv) @ Nl).toarray() for Zo, No in zip(others, N)])
        traces[l] = first + float(np.sum((W.T @ B[keep]) ** 2))
    return Stage(max(rss, 0.0), int(np.count_nonzero(D)) + W.shape[1], traces)


def anova_components(X: np.ndarray, y: np.ndarray, Zs: list, names: list) -> dict:
    """Sequential sums of squares, their expectations and the moment estimates.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    Zs : list of (n, q_j) sparse matrices or arrays
        Indicator matrices of the random intercepts (one level per record), in the order of fitting.
    names : list of str

    Returns
    -------
    dict
        ``table`` (DataFrame: df, SS, MS and the expected-mean-square coefficients per source),
        ``estimates`` (Series, including "Residual") and ``vcov`` (DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.repeat(np.arange(3), 2); y = np.array([1.0, 2.0, 4.0, 5.0, 9.0, 8.0])
    >>> Z = (g[:, None] == np.arange(3)).astype(float)
    >>> out = anova_components(np.ones((6, 1)), y, [Z], ["g"])
    >>> out["estimates"].round(4).tolist()   # ((MS_A − MS_E) / 2, MS_E)
    [12.0833, 0.5]
    """
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    y = np.asarray(y, dtype=float)
    Zs = [sp.csc_matrix(Z, dtype=float) for Z in Zs]
    n, m = len(y), len(Zs)
    stages = [_stage_fixed(X, y, Zs)] + [_stage(X, y, Zs, j, list(names)) for j in range(1, m + 1)]
    E = np.zeros((m + 1, m + 1))
    ss, df = np.zeros(m + 1), np.zeros(m + 1)
    for j in range(m):
        before, after = stages[j], stages[j + 1]
        ss[j] = before.rss - after.rss
        df[j] = after.rank - before.rank
        E[j, :m] = after.traces - before.traces
        E[j, m] = df[j]
    df[m] = n - stages[m].rank
    if df[m] <= 0:
        raise DataError("no residual degrees of freedom left for the ANOVA estimate of the residual variance")
    ss[m] = stages[m].rss
    E[m, m] = df[m]
    if np.any(df[:m] == 0):
        j = int(np.flatnonzero(df[:m] == 0)[0])
        raise DataError(f"the random term {names[j]!r} is confounded with the terms fitted before it "
                        "(no degrees of freedom): its ANOVA estimate is undefined")
    est = la.solve_triangular(E, ss, lower=False)
    var_ss = 2.0 * ss ** 2 / (df + 2.0)
    Einv = la.solve_triangular(E, np.eye(m + 1), lower=False)
    cov = Einv @ np.diag(var_ss) @ Einv.T
    labels = list(names) + ["Residual"]
    table = pd.DataFrame({"df": df, "sum_sq": ss, "mean_sq": ss / df}, index=labels)
    for l, lab in enumerate(labels):
        table[f"E:{lab}"] = np.triu(E)[:, l] / df
    return {"table": table, "estimates": pd.Series(est, index=labels, name="variance"),
            "vcov": pd.DataFrame(cov, index=labels, columns=labels)}


def estimate_anova(spec, ws) -> Estimates:
    """Variance components by the method of moments (``fit(..., method="anova")``); see the module
    docstring.

    Only random-intercept terms ``(1 | g)`` are supported, fitted in the order of the formula
    after the fixed effects.  The result's ``varcorr`` reports the moment estimates as they are;
    ``anova_table`` the sums of squares with the expected mean squares.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="anova")
    >>> m.varcorr["variance"].round(2).tolist()
    [1764.05, 2451.25]
    """
    t0 = time.perf_counter()
    random = spec.random
    for t in random.terms:
        if t.k != 1 or t.columns[0] != "(Intercept)":
            raise ModelSpecError(f"method='anova' (Henderson's Method III) needs random intercepts (1 | g); "
                                 f"the random term {t.source} has the column(s) {', '.join(t.columns)} for "
                                 f"{t.group!r}: fit random slopes by REML, ML or method='bayes'")
    # fit in formula order
    order = {str(src): i for i, src in enumerate(spec.frame.formula.random)}
    idx = sorted(range(len(random.terms)), key=lambda j: order.get(str(random.terms[j].source), j))
    labels = random.term_labels()
    Zs = [random.Z[:, random.terms[j].offset:random.terms[j].offset + random.terms[j].q] for j in idx]
    with blas_limit(n_threads=spec.n_threads):
        out = anova_components(spec.fixed.X, spec.fixed.y, Zs, [labels[j] for j in idx])
    est = out["estimates"]
    neg = [k for k, v in est.items() if v < 0]
    if neg:
        warnings.warn(f"negative ANOVA estimate(s) of variance component(s) {', '.join(map(repr, neg))}: "
                      "reported as they are; the BLUE/BLUP use 0 for them", NegativeVarianceWarning,
                      stacklevel=4)
    s2 = float(est["Residual"])
    if s2 <= 0:
        raise DataError("the ANOVA estimate of the residual variance is not positive")
    theta = np.zeros(random.ntheta)
    for lab, t in zip(labels, random.terms):
        theta[t.theta_offset] = np.sqrt(max(float(est[lab]), 0.0) / s2)
    with blas_limit(n_threads=spec.n_threads):
        sol = solve_at(ws, theta, sigma2=s2)
    opt = OptSummary("anova", theta, theta, np.nan, 0, True, "method of moments (Henderson III)",
                     np.zeros(len(theta)), time.perf_counter() - t0)
    return Estimates(opt=opt, solution=sol, raw_variances=est.to_dict(), vcov_variances=out["vcov"],
                     anova_table=out["table"])
