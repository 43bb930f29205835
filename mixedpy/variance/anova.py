"""ANOVA (method of moments) estimates of variance components: Henderson's Method III.

For y = Xβ + Σ_j Z_j b_j + e with iid random intercepts b_j ~ N(0, σ²_j I) and e ~ N(0, σ²_e I),
the sums of squares are the sequential reductions ("fitting constants", Type I): with Q_0 an
orthonormal basis of X and Q_j one of the part of Z_j not spanned by X, Z_1, …, Z_{j−1}::

    SS_j = ‖Q_jᵀ y‖²   on df_j = rank increment,    SS_e = ‖y‖² − Σ_{j≥0} ‖Q_jᵀ y‖²  on n − rank

Each Q_j annihilates X, so E(SS_j) = Σ_l σ²_l ‖Q_jᵀ Z_l‖²_F + σ²_e df_j (the expected mean squares;
the coefficient of σ²_l is 0 for l < j), and E(SS_e) = σ²_e (n − rank).  Equating observed and
expected sums of squares gives a triangular linear system for the components.  For a balanced
one-way design this is the classical (MS_A − MS_E)/n.  Estimates are reported as they are, even
negative (with a :class:`~mixedpy.errors.NegativeVarianceWarning`); the BLUE/BLUP are then computed
with negative components set to 0.

Sampling covariance: treating SS_i as independent σ-scaled χ²'s (exact for balanced designs),
Var(SS_i) is estimated by 2 SS_i² / (df_i + 2), and Cov(σ̂²) = E⁻¹ diag(Var SS) E⁻ᵀ.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import scipy.linalg as la

from ..errors import DataError, ModelSpecError, NegativeVarianceWarning
from ..optimize import OptSummary

RANK_TOL = 1e-9


def _orth_increment(B: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the part of span(M) orthogonal to the orthonormal columns B."""
    R = M - B @ (B.T @ M) if B.shape[1] else M.copy()
    R = R - B @ (B.T @ R) if B.shape[1] else R  # re-orthogonalize
    if R.shape[1] == 0:
        return np.zeros((M.shape[0], 0))
    U, s, _ = la.svd(R, full_matrices=False)
    scale = max(float(np.linalg.norm(M, 2)) if M.size else 0.0, 1.0)
    return U[:, s > RANK_TOL * scale * max(M.shape)]


def anova_components(X: np.ndarray, y: np.ndarray, Zs: list, names: list) -> dict:
    """Sequential sums of squares, their expectations and the moment estimates.

    Parameters
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
    Zs : list of (n, q_j) arrays or sparse matrices
        Indicator matrices of the random intercepts, in the order of fitting.
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
    n = len(y)
    B = _orth_increment(np.zeros((n, 0)), X)
    bases = []
    for Z in Zs:
        Zd = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z, dtype=float)
        Q = _orth_increment(B, Zd)
        bases.append(Q)
        B = np.column_stack([B, Q])
    m = len(Zs)
    E = np.zeros((m + 1, m + 1))
    ss, df = np.zeros(m + 1), np.zeros(m + 1)
    for j, Q in enumerate(bases):
        ss[j] = float(np.sum((Q.T @ y) ** 2))
        df[j] = Q.shape[1]
        for l in range(j, m):
            Zl = Zs[l].toarray() if hasattr(Zs[l], "toarray") else np.asarray(Zs[l], dtype=float)
            E[j, l] = float(np.sum((Q.T @ Zl) ** 2))
        E[j, m] = df[j]
    df[m] = n - B.shape[1]
    if df[m] <= 0:
        raise DataError("no residual degrees of freedom left for the ANOVA estimate of the residual variance")
    ss[m] = float(y @ y - np.sum((B.T @ y) ** 2))
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
        table[f"E:{lab}"] = E[:, l] / df
    return {"table": table, "estimates": pd.Series(est, index=labels, name="variance"),
            "vcov": pd.DataFrame(cov, index=labels, columns=labels)}


def fit_anova(formula: str, data, *, relmat: dict | None = None, data_name: str = "data"):
    """Fit by the method of moments (``fit(..., method="anova")``); see the module docstring.

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
    from ..genetics.fitting import MMEResult, setup, solution_at
    if relmat:
        raise ModelSpecError("method='anova' does not take relmat: the moment equations assume iid "
                             "random intercepts; use REML for relationship matrices")
    t0 = time.perf_counter()
    s = setup(formula, data, None)
    for t in s.random.terms:
        if t.k != 1 or t.columns[0] != "(Intercept)":
            raise ModelSpecError(f"method='anova' supports random intercepts (1 | g) only; "
                                 f"({' + '.join(t.columns)} | {t.group}) is not one")
    # fit in formula order
    order = {str(src): i for i, src in enumerate(s.frame.formula.random)}
    idx = sorted(range(len(s.random.terms)), key=lambda j: order.get(str(s.random.terms[j].source), j))
    labels = s.random.term_labels()
    Zs = [s.random.Z[:, s.random.terms[j].offset:s.random.terms[j].offset + s.random.terms[j].q] for j in idx]
    out = anova_components(s.fixed.X, s.fixed.y, Zs, [labels[j] for j in idx])
    est = out["estimates"]
    neg = [k for k, v in est.items() if v < 0]
    if neg:
        warnings.warn(f"negative ANOVA estimate(s) of variance component(s) {', '.join(map(repr, neg))}: "
                      "reported as they are; the BLUE/BLUP use 0 for them", NegativeVarianceWarning,
                      stacklevel=3)
    s2 = float(est["Residual"])
    if s2 <= 0:
        raise DataError("the ANOVA estimate of the residual variance is not positive")
    theta = np.zeros(s.random.ntheta)
    for lab, t in zip(labels, s.random.terms):
        theta[t.theta_offset] = np.sqrt(max(float(est[lab]), 0.0) / s2)
    sol = solution_at(s.workspace, theta, s2)
    opt = OptSummary("anova", theta, theta, np.nan, 0, True, "method of moments (Henderson III)",
                     np.zeros(len(theta)), time.perf_counter() - t0)
    result = MMEResult(formula=formula, frame=s.frame, fixed=s.fixed, random=s.random, workspace=s.workspace,
                       opt=opt, solution=sol, reml=True, method="anova", data_name=data_name,
                       structures=s.structures, variances=est.to_dict(), vcov_variances=out["vcov"])
    result.anova_table = out["table"]
    return result
