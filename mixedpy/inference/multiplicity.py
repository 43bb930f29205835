"""P-value adjustments for families of t tests, as emmeans' ``.adj.p.value``.

Methods (``adjust``):

``"tukey"``       ptukey(√2 |t|, k, df) upper tail, k = means in the family (pairwise comparisons only;
                  emmeans switches other families to Šidák, as here)
``"sidak"``       1 − (1 − p)^m, m = tests in the family
``"bonferroni"``  min(1, m p)
``"holm"``        Holm's step-down
``"fdr"`` / ``"BH"``  Benjamini-Hochberg
``"dunnettx"``    emmeans' approximation of Dunnett's (a Tukey/Šidák blend, ``.pdunnx``)
``"mvt"``         P(max |T_i| ≥ |t|) for T multivariate t with the contrasts' correlation
                  (randomized Genz quasi-Monte Carlo: scipy ``multivariate_t``; mvtnorm's ``pmvt``
                  in emmeans, with the df truncated to an integer as emmeans does)
``"scheffe"``     F(t²/r; r, df) with r the rank of the family
``"none"``

A family with one test is not adjusted (except by Scheffé), as in emmeans; the size of a family
counts its non-estimable (NaN) contrasts, as emmeans does.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import ModelSpecError

METHODS = ("tukey", "sidak", "bonferroni", "holm", "hochberg", "hommel", "fdr", "BH", "BY",
           "dunnettx", "mvt", "scheffe", "none")


def adjust_method(adjust: str) -> str:
    """Canonical name of a multiplicity adjustment (case-insensitive; raises ModelSpecError).

    Examples
    --------
    >>> adjust_method("BONF"), adjust_method("Tukey"), adjust_method("bh")
    ('bonferroni', 'tukey', 'BH')
    """
    a = str(adjust)
    low = a.lower()
    for m in METHODS:
        if low == m.lower():
            return m
    if low in ("bonf", "bonferoni"):
        return "bonferroni"
    raise ModelSpecError(f"adjust {adjust!r} is not supported; use one of {', '.join(METHODS)}")


def ptukey_upper(q: np.ndarray, k: float, df: np.ndarray) -> np.ndarray:
    """Upper tail of the studentized range distribution (R's ``ptukey(q, k, df, lower = FALSE)``).

    Examples
    --------
    >>> import numpy as np
    >>> ptukey_upper(np.array([3.5]), 3, np.array([20.0])).round(4).tolist()
    [0.0559]
    """
    q = np.atleast_1d(np.asarray(q, dtype=float))
    df = np.broadcast_to(np.asarray(df, dtype=float), q.shape)
    out = np.empty_like(q)
    for i, (qi, di) in enumerate(zip(q, df)):
        if not np.isfinite(qi):
            out[i] = np.nan
            continue
        di = 1e6 if not np.isfinite(di) or di > 1e6 else di
        out[i] = float(stats.studentized_range.sf(qi, k, di))
    return np.clip(out, 0.0, 1.0)


def _ptukey_lower(q, k, df):
    return 1.0 - ptukey_upper(q, k, df)


def pdunnx(x: np.ndarray, k: int, df: np.ndarray) -> np.ndarray:
    """emmeans' ``.pdunnx``: approximate Dunnett CDF of |t| for k comparisons with a control.

    Examples
    --------
    >>> import numpy as np
    >>> pdunnx(np.array([2.5]), 3, np.array([20.0])).round(4).tolist()
    [0.9438]
    """
    twt = (k - 1) / k
    fam = (1 + np.sqrt(1 + 8 * k)) / 2
    tukey = _ptukey_lower(np.sqrt(2) * x, fam, df)
    sidak = stats.f.cdf(x ** 2, 1, df) ** k
    return twt * tukey + (1 - twt) * sidak


def _p_adjust(p: np.ndarray, method: str, n: int | None = None) -> np.ndarray:
    """R's ``p.adjust(p, method, n)``: missing p stay missing; n defaults to the non-missing count."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    lp = len(q)
    n = lp if n is None else int(n)
    if lp == 0:
        return out
    if method == "bonferroni":
        r = np.minimum(1.0, n * q)
    elif method == "holm":
        o = np.argsort(q, kind="stable")
        r = np.empty(lp)
        r[o] = np.minimum(1.0, np.maximum.accumulate((n - np.arange(lp)) * q[o]))
    elif method in ("fdr", "BH", "BY", "hochberg"):
        o = np.argsort(q, kind="stable")[::-1]
        i = np.arange(lp, 0, -1)
        factor = {"fdr": n / i, "BH": n / i, "hochberg": n + 1 - i,
                  "BY": np.sum(1.0 / np.arange(1, n + 1)) * n / i}[method]
        r = np.empty(lp)
        r[o] = np.minimum(1.0, np.minimum.accumulate(factor * q[o]))
    elif method == "hommel":
        r = _hommel(np.concatenate([q, np.ones(n - lp)]))[:lp] if n > lp else _hommel(q)
    else:
        r = q
    out[ok] = r
    return out


def _hommel(p: np.ndarray) -> np.ndarray:
    n = len(p)
    o = np.argsort(p, kind="stable")
    ps = p[o]
    q = pa = np.full(n, np.min(n * ps / np.arange(1, n + 1)))
    q, pa = q.copy(), pa.copy()
    for m in range(n - 1, 1, -1):
        i1 = np.arange(0, n - m + 1)
        i2 = np.arange(n - m + 1, n)
        q1 = np.min(m * ps[i2] / np.arange(2, m + 1))
        q[i1] = np.minimum(m * ps[i1], q1)
        q[i2] = q[n - m]
        pa = np.maximum(pa, q)
    r = np.empty(n)
    r[o] = np.maximum(pa, ps)
    return r


def _fix_df(df: float) -> float:
    """emmeans' ``.fix.df`` for ``pmvt``: integer df, 0 (normal) for infinite or > 9999."""
    d = max(1.0, df) if df > 0 else df
    if not np.isfinite(d) or d > 9999:
        return 0
    return int(np.floor(d + 0.25))


def pmvt_max(t: float, df: float, corr: np.ndarray, seed: int = 20240613) -> float:
    """P(max_i |T_i| < |t|) for T multivariate t (integer df, 0 = normal) with correlation ``corr``.

    Examples
    --------
    >>> import numpy as np
    >>> round(pmvt_max(2.5, 20, np.array([[1.0, 0.5], [0.5, 1.0]])), 3)
    0.961
    """
    k = corr.shape[0]
    a = abs(float(t))
    d = _fix_df(df)
    corr = (corr + corr.T) / 2
    if np.linalg.eigvalsh(corr)[0] < 1e-8:  # singular (e.g. all pairs of 3 means): scipy's Genz
        corr = (1 - 1e-6) * corr + 1e-6 * np.eye(k)  # integration needs a positive definite matrix
    rng = np.random.default_rng(seed)
    if d == 0:
        dist = stats.multivariate_normal(mean=np.zeros(k), cov=corr)
        return float(dist.cdf(np.full(k, a), lower_limit=np.full(k, -a), rng=rng))
    dist = stats.multivariate_t(loc=np.zeros(k), shape=corr, df=d)
    return float(dist.cdf(np.full(k, a), lower_limit=np.full(k, -a), random_state=rng,
                          maxpts=max(100000, 2000 * k)))


def adjust_pvalues(t: np.ndarray, df: np.ndarray, adjust: str, n_means: int | None = None,
                   corr: np.ndarray | None = None, rank: int | None = None) -> tuple[np.ndarray, str]:
    """Adjusted two-sided p values for one family of t statistics.

    Parameters
    ----------
    t, df : ndarray (m,)
    adjust : str
        One of :data:`METHODS`.
    n_means : int, optional
        Number of means compared (Tukey's k); without it Tukey becomes Šidák (emmeans does so for
        any family that is not one set of pairwise comparisons).
    corr : ndarray (m, m), optional
        Correlation of the estimates (``"mvt"``).
    rank : int, optional
        Rank of the family (``"scheffe"``; default m).

    Returns
    -------
    (p, method actually used)

    Examples
    --------
    >>> p, how = adjust_pvalues(np.array([2.5, 1.0, -0.3]), np.full(3, 10.0), "bonferroni")
    >>> [round(float(x), 4) for x in p], how
    ([0.0943, 1.0, 1.0], 'bonferroni')
    """
    method = adjust_method(adjust)
    t = np.asarray(t, dtype=float)
    df = np.asarray(df, dtype=float)
    df = np.where(np.isnan(df), np.inf, df)
    m = len(t)  # emmeans counts the non-estimable contrasts of the family too
    if m <= 1 and method != "scheffe":
        method = "none"
    if method == "tukey" and n_means is None:
        method = "sidak"
    p_unadj = 2 * stats.t.sf(np.abs(t), df)
    if method == "none":
        return p_unadj, method
    if method in ("bonferroni", "holm", "hochberg", "hommel", "fdr", "BH", "BY"):
        return _p_adjust(p_unadj, method, n=m), method
    if method == "sidak":
        return 1 - (1 - p_unadj) ** m, method
    if method == "tukey":
        return ptukey_upper(np.sqrt(2) * np.abs(t), n_means, np.round(df, 7)), method
    if method == "scheffe":
        r = rank or m
        return stats.f.sf(t ** 2 / r, r, df), method
    if method == "dunnettx":
        return 1 - pdunnx(np.abs(t), m, df), method
    if method == "mvt":
        if corr is None:
            raise ModelSpecError("adjust='mvt' needs the correlation of the estimates")
        ok = np.isfinite(t)
        out = np.full(len(t), np.nan)
        C = corr[np.ix_(ok, ok)]
        out[ok] = [1 - pmvt_max(ti, di, C) for ti, di in zip(t[ok], df[ok])]
        return out, method
    raise ModelSpecError(f"adjust {adjust!r} is not supported")
