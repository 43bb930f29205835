"""ANOVA tables (lmerTest's ``anova``) and single hypothesis tests (lmerTest's ``contest``).

Denominator df: ``"satterthwaite"`` (default), ``"kenward-roger"`` (pbkrtest), ``"residual"``
(n − p, as for a linear model) or ``"none"`` (an asymptotic χ²/q test: infinite df).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecError
from .contrasts import coefficient_matrix, hypothesis_matrices
from .satterthwaite import FTest, satterthwaite_test

COLUMNS = ["sum_sq", "mean_sq", "num_df", "den_df", "F", "p"]
DDF = ("satterthwaite", "kenward-roger", "residual", "none")


def _ddf(ddf: str) -> str:
    d = str(ddf).lower().replace("_", "-").replace(" ", "-")
    d = {"kr": "kenward-roger", "kenwardroger": "kenward-roger", "satt": "satterthwaite",
         "lme4": "none"}.get(d, d)
    if d not in DDF:
        raise ModelSpecError(f"ddf {ddf!r} is not supported; use one of {', '.join(DDF)}")
    return d


def f_test(result, L: np.ndarray, rhs=0.0, ddf: str = "satterthwaite") -> FTest:
    """F test of L β = rhs with the chosen denominator df.

    Examples
    --------
    >>> import numpy as np
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> t = f_test(m, np.array([[0.0, 1.0]]))
    >>> round(t.F, 3), t.num_df, round(t.den_df, 4)
    (45.853, 1, 17.0)
    """
    d = _ddf(ddf)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if d == "kenward-roger" and result.random.terms:
        from .kenward_roger import kr_test
        return kr_test(result, L, rhs)
    if d == "satterthwaite" and result.random.terms:
        return satterthwaite_test(result, L, rhs)
    return _wald_test(result, L, rhs, np.inf if d == "none" else float(result.nobs - result.workspace.p))


def _wald_test(result, L: np.ndarray, rhs, den_df: float) -> FTest:
    rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
    V = np.asarray(result.solution.vcov)
    q = int(np.linalg.matrix_rank(L))
    r = L @ np.asarray(result.solution.beta) - rhs
    F = float(r @ np.linalg.pinv(L @ V @ L.T) @ r) / q
    return FTest(F, q, den_df, float(result.sigma))


def _row(t: FTest) -> list:
    p = float(stats.f.sf(t.F, t.num_df, t.den_df)) if np.isfinite(t.den_df) else \
        float(stats.chi2.sf(t.F * t.num_df, t.num_df))
    return [t.sum_sq, t.mean_sq, t.num_df, t.den_df, t.F, p]


def anova(result, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
    """ANOVA table of the fixed-effect terms, as lmerTest's ``anova(m, type, ddf)``.

    Parameters
    ----------
    result : LmmResult
    type : {1, 2, 3}
        Sequential (1), marginality-respecting (2) or coding-independent marginal (3) tests.
    ddf : {"satterthwaite", "kenward-roger", "residual", "none"}

    Returns
    -------
    pandas.DataFrame
        Indexed by term (``recipe:temperature``), columns ``sum_sq``, ``mean_sq``, ``num_df``,
        ``den_df``, ``F``, ``p``; the intercept has no row.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> m.anova().round(1).loc["Days", ["num_df", "den_df", "F"]].tolist()
    [1.0, 17.0, 45.9]
    """
    mats = hypothesis_matrices(result, type)
    rows = {label: _row(f_test(result, L, 0.0, ddf)) for label, L in mats.items()}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS) if rows else \
        pd.DataFrame(columns=COLUMNS, dtype=float)
    out = _with_aliased_terms(out, result.fixed.terms)
    out.index.name = "term"
    return out


def _with_aliased_terms(out: pd.DataFrame, terms: dict) -> pd.DataFrame:
    """A term whose columns were all dropped as aliased keeps its row, all NaN, as in lmerTest."""
    order = [t for t in terms if t != "(Intercept)"]
    empty = [t for t in order if len(terms[t]) == 0]
    if not empty:
        return out
    if set(out.index) <= set(order):
        return out.reindex(order)
    return pd.concat([out, pd.DataFrame(np.nan, index=empty, columns=COLUMNS)])


def contrast(result, L, rhs=0.0, ddf: str = "satterthwaite") -> pd.DataFrame:
    """F test of the hypothesis L β = rhs (lmerTest's ``contest``), as a one-row table.

    Parameters
    ----------
    result : LmmResult
    L : array-like (rows × p), vector, or dict {coefficient name: weight}
    rhs : float or array-like
    ddf : {"satterthwaite", "kenward-roger", "residual", "none"}

    Returns
    -------
    pandas.DataFrame
        One row with the columns of :func:`anova`.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> round(float(m.contrast({"Days": 1.0}, rhs=10.0)["F"].iloc[0]), 4)
    0.0914
    """
    Lm = coefficient_matrix(result, L)
    out = pd.DataFrame([_row(f_test(result, Lm, rhs, ddf))], columns=COLUMNS, index=["L beta = rhs"])
    out.index.name = "hypothesis"
    return out
