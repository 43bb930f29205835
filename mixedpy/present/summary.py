"""A summary that prints like lmerTest's ``summary()`` and renders as HTML in notebooks.

The text follows R's printing rules so that the numbers line up with what students see in R:

* numbers are formatted as R's ``format(x, digits)`` does (one common number of decimals per block,
  fixed notation unless scientific is narrower, trailing zeros kept only when a neighbour needs them);
* the coefficient table is ``printCoefmat(digits = 4)`` (estimates, standard errors and df formatted
  together, t values rounded to 3 decimals, p values by ``format.pval``, significance stars);
* the random-effects table is lme4's ``formatVC`` (variances and SDs to 4 significant digits,
  correlations to 2 decimals) and coefficient names in the correlation table are abbreviated with R's
  ``abbreviate``.

A fit without random terms is summarized like R's ``summary(lm(...))``.

Examples
--------
>>> import mixedpy
>>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
>>> print("\\n".join(str(m.summary()).splitlines()[2:10]))
   Data: sleepstudy
<BLANKLINE>
REML criterion at convergence: 1743.6
<BLANKLINE>
Scaled residuals: 
    Min      1Q  Median      3Q     Max 
-3.9536 -0.4634  0.0231  0.4634  5.1793 
<BLANKLINE>
"""
from __future__ import annotations

import html
import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
from scipy import stats

DIGITS = 4          # summary.merMod / summary.lm: max(3, getOption("digits") - 3)
COR_MAX = 12        # getOption("lme4.summary.cor.max")
EPS = float(np.finfo(float).eps)
WIDTH = 80          # getOption("width"), for wrapping named vectors
LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
_KP_MAX = 22


# --- R's number formatting ------------------------------------------------------------------------
def _scientific(x: float, digits: int) -> tuple[int, int, int, bool]:
    """R's ``scientific()``: (negative, exponent, significant digits, rounding widens) of x at ``digits``."""
    if x == 0:
        return 0, 0, 1, False
    neg = int(x < 0)
    r = abs(x)
    dec = Decimal(r)
    kp = dec.adjusted() - digits + 1
    scaled = dec.scaleb(-kp)
    if scaled < 10 ** (digits - 1):
        scaled *= 10
        kp -= 1
    alpha = int(scaled.to_integral_value(rounding=ROUND_HALF_EVEN))
    nsig = digits
    for _ in range(digits):
        if alpha % 10:
            break
        alpha //= 10
        nsig -= 1
    if nsig == 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = min(max(digits - kpower, 0), _KP_MAX)
    widens = 0 < kpower <= _KP_MAX and r < 10.0 ** kpower - 0.5 / 10.0 ** rgt
    return neg, kpower, nsig, widens


def _special(x: float) -> str:
    return "NaN" if math.isnan(x) else ("Inf" if x > 0 else "-Inf")


def r_format(values, digits: int = 7, nsmall: int = 0, na: str = "NaN") -> list[str]:
    """R's ``format(x, digits, nsmall)`` of a numeric vector: common decimals and a common width.

    Examples
    --------
    >>> r_format([251.405, 6.825, 17.0], digits=4)
    ['251.405', '  6.825', ' 17.000']
    >>> r_format([3.26e-06], digits=3)
    ['3.26e-06']
    """
    xs = [float(v) for v in np.ravel(np.asarray(values, dtype=float))]
    finite = [x for x in xs if math.isfinite(x)]
    if not finite:
        out = [na if math.isnan(x) else _special(x) for x in xs]
        w = max((len(s) for s in out), default=0)
        return [s.rjust(w) for s in out]
    neg = 0
    rgt = mxsl = mxns = mxe = -(10 ** 9)
    mne = 10 ** 9
    mxl = -(10 ** 9)
    for x in finite:
        neg_i, kpower, nsig, widens = _scientific(x, digits)
        left = kpower + 1 - int(widens)
        sleft = neg_i + (1 if left <= 0 else left)
        neg = max(neg, neg_i)
        rgt = max(rgt, nsig - left)
        mxl = max(mxl, left)
        mxsl = max(mxsl, sleft)
        mxns = max(mxns, nsig)
        mxe, mne = max(mxe, kpower), min(mne, kpower)
    if mxl < 0:
        mxsl = 1 + neg
    rgt = max(rgt, 0)
    w_fixed = mxsl + rgt + (rgt != 0)
    e = 2 if (mxe >= 100 or mne <= -99) else 1
    d = mxns - 1
    w_sci = neg + (d > 0) + d + 4 + e
    if w_fixed <= w_sci:
        rgt = max(rgt, nsmall)

        def enc(x):
            return f"{(x if x != 0 else 0.0):.{rgt}f}"
    else:
        def enc(x):
            return f"{x:.{d}e}"
    out = [enc(x) if math.isfinite(x) else (na if math.isnan(x) else _special(x)) for x in xs]
    w = max(len(s) for s in out)
    return [s.rjust(w) for s in out]


def r_round(x: float, digits: int) -> float:
    """R's ``round(x, digits)`` (the correctly rounded decimal, halves to even)."""
    return round(float(x), digits) if math.isfinite(x) else float(x)


def r_signif(x: float, digits: int) -> float:
    """R's ``signif(x, digits)``."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return round(float(x), digits - 1 - math.floor(math.log10(abs(x))))


def zapsmall(x: np.ndarray, digits: int) -> np.ndarray:
    """R's ``zapsmall`` (R < 4.4, as lme4's reference output): round to ``digits − log10(max |x|)``
    decimals, that count itself rounded to the nearest integer as ``round()`` does.

    Examples
    --------
    >>> zapsmall(np.array([-3.953612, 0.023098, 5.179331]), 5).tolist()
    [-3.9536, 0.0231, 5.1793]
    """
    x = np.asarray(x, dtype=float)
    mx = float(np.max(np.abs(x[np.isfinite(x)]))) if np.isfinite(x).any() else 0.0
    d = max(0, math.floor(digits - math.log10(mx) + 0.5)) if mx > 0 else digits
    return np.array([r_round(v, d) for v in x])


def format_pval(pv, digits: int, eps: float = EPS) -> list[str]:
    """R's ``format.pval``: fixed notation down to 1e-4, scientific below, ``< eps`` for tiny values.

    Examples
    --------
    >>> format_pval([3.26e-06, 1e-20], digits=3)
    ['3.26e-06', '< 2e-16']
    >>> format_pval([0.681, 1e-20], digits=3)
    ['0.681', '<2e-16']
    """
    pv = np.asarray(pv, dtype=float)
    out = ["NA"] * len(pv)
    ok = ~np.isnan(pv)
    p = pv[ok]
    r = [""] * len(p)
    is0 = p < eps
    rest = np.flatnonzero(~is0)
    if len(rest):
        vals = p[rest]
        expo = np.floor(np.log10(np.where(vals > 0, vals, 1e-50)))
        fixp = (expo >= -3) | ((expo == -4) & (digits > 1))
        for mask in (fixp, ~fixp):
            if mask.any():
                for i, s in zip(rest[mask], r_format(vals[mask], digits)):
                    r[i] = s
    if is0.any():
        dig = max(1, digits - 2)
        if len(rest):
            nc = max(len(r[i]) for i in rest)
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            sep = "" if dig == 1 and nc <= 6 else " "
        else:
            sep = "" if dig == 1 else " "
        tiny = "<" + sep + r_format([eps], dig)[0]
        for i in np.flatnonzero(is0):
            r[i] = tiny
    for i, s in zip(np.flatnonzero(ok), r):
        out[i] = s
    return out


def _stars(p: float) -> str:
    """``symnum`` with lmerTest's cutpoints (intervals closed on the right)."""
    if not np.isfinite(p):
        return ""
    return "***" if p <= 0.001 else "**" if p <= 0.01 else "*" if p <= 0.05 else "." if p <= 0.1 else " "


def abbreviate(name: str, minlength: int) -> str:
    """R's ``abbreviate(name, minlength)`` for one name (drop lower-case vowels from the right, then
    lower-case letters, then anything but the first character).

    Examples
    --------
    >>> abbreviate("(Intercept)", 6), abbreviate("recipeB", 6), abbreviate("Days", 6)
    ('(Intr)', 'recipB', 'Days')
    """
    s = name.strip()
    if len(s) <= minlength:
        return s
    b = list(s)
    nspace = 0
    trailing = True
    for i in range(len(b) - 1, 0, -1):  # trailing blanks go, inner blanks are word boundaries
        if b[i].isspace():
            if trailing:
                del b[i]
            else:
                nspace += 1
        else:
            trailing = False
        if len(b) - nspace <= minlength:
            return _drop_spaces(b, minlength)

    def first(i):
        return b[i - 1].isspace()

    def last(i):
        return not b[i - 1].isspace() and (i + 1 >= len(b) or b[i + 1].isspace())

    rules = [lambda i: b[i] in "aeiou" and last(i), lambda i: b[i] in "aeiou" and not first(i),
             lambda i: b[i].islower() and last(i), lambda i: b[i].islower() and not first(i),
             lambda i: not first(i) and not b[i].isspace()]
    for rule in rules:
        for i in range(len(b) - 1, 0, -1):
            if i < len(b) and rule(i):
                del b[i]
            if len(b) - nspace <= minlength:
                return _drop_spaces(b, minlength)
    return _drop_spaces(b, minlength)


def _drop_spaces(b: list, minlength: int) -> str:
    if len(b) > minlength:
        b = [b[0]] + [c for c in b[1:] if not c.isspace()]
    return "".join(b)


def abbreviate_all(names, minlength: int) -> list[str]:
    """``abbreviate`` of a vector: minlength grows for names whose abbreviations collide."""
    names = [str(n).strip() for n in names]
    uniq = list(dict.fromkeys(names))
    x = [abbreviate(n, minlength) for n in uniq]
    todo = [False] * len(uniq)
    m = minlength
    while True:
        seen, dup = set(), [False] * len(x)
        for i, a in enumerate(x):
            dup[i] = a in seen
            seen.add(a)
        if not any(dup):
            break
        m += 1
        bad = {x[i] for i in range(len(x)) if dup[i]}
        todo = [t or a in bad for t, a in zip(todo, x)]
        x = [abbreviate(n, m) if t else a for n, a, t in zip(uniq, x, todo)]
    lookup = dict(zip(uniq, x))
    return [lookup[n] for n in names]


# --- R's printing of vectors and matrices ---------------------------------------------------------
def print_matrix(cells, row_names, col_names, right: bool) -> list[str]:
    """``print.default`` of a character matrix with ``quote = FALSE``."""
    ncol = len(col_names)
    widths = [max([len(col_names[j])] + [len(r[j]) for r in cells]) for j in range(ncol)]
    rw = max([len(r) for r in row_names] + [0])

    def just(s, w):
        return s.rjust(w) if right else s.ljust(w)

    lines = [" " * rw + "".join(" " + just(c, w) for c, w in zip(col_names, widths))]
    for name, row in zip(row_names, cells):
        lines.append(name.ljust(rw) + "".join(" " + just(c, w) for c, w in zip(row, widths)))
    return lines


def print_named(names, values, width: int = WIDTH) -> list[str]:
    """``print`` of a named vector (already formatted): right-justified fields, wrapped at ``width``.

    Examples
    --------
    >>> for line in print_named(["Min", "Median", "Max"], r_format([-3.9536, 0.0231, 5.1793], 4)):
    ...     print(repr(line))
    '    Min  Median     Max '
    '-3.9536  0.0231  5.1793 '
    """
    w = max([len(n) for n in names] + [len(v) for v in values])
    per = max(1, width // (w + 1))
    lines = []
    for s in range(0, len(names), per):
        lines.append("".join(n.rjust(w) + " " for n in names[s:s + per]))
        lines.append("".join(v.rjust(w) + " " for v in values[s:s + per]))
    return lines


def coefmat(table: pd.DataFrame, cs: list[int], tst: list[int], has_p: bool,
            digits: int = DIGITS) -> tuple[list[str], list[str], list[list[str]], bool]:
    """``printCoefmat``: (row names, column names, cells, stars shown) of a numeric coefficient table.

    ``cs``: columns formatted together (estimates, SEs and, as lmerTest, df), ``tst``: test statistics
    (rounded to ``digits − 1`` decimals), ``has_p``: the last column is a p value.

    Examples
    --------
    >>> tab = pd.DataFrame({"Estimate": [251.405105, 10.467286], "Std. Error": [6.824597, 1.545790],
    ...                     "df": [17.000, 16.99999], "t value": [36.838090, 6.771481],
    ...                     "Pr(>|t|)": [1.171558e-17, 3.263824e-06]}, index=["(Intercept)", "Days"])
    >>> rows, cols, cells, stars = coefmat(tab, [0, 1, 2], [3], True)
    >>> print("\\n".join(print_matrix(cells, rows, cols, right=True)))
                Estimate Std. Error      df t value Pr(>|t|)    
    (Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***
    Days          10.467      1.546  17.000   6.771 3.26e-06 ***
    """
    xm = table.to_numpy(dtype=float).copy()
    n, nc = xm.shape
    dig_tst = max(1, min(5, digits - 1))
    cf = [["" for _ in range(nc)] for _ in range(n)]

    def put(col, strings, rows=None):
        for i, s in zip(range(n) if rows is None else rows, strings):
            cf[i][col] = s

    if cs:
        block = xm[:, cs]
        acs = np.abs(block[np.isfinite(block)])
        acs = acs[acs != 0]
        digmin = 1 + np.floor(np.log10([acs.min(), acs.max()])) if len(acs) else np.array([1.0])
        dround = int(max(1, np.max(digits - digmin)))
        rounded = np.vectorize(lambda v: r_round(v, dround))(block) if block.size else block
        strings = r_format(rounded.ravel(), digits, na="NA")  # matrix: one common format
        for k, col in enumerate(cs):
            put(col, [strings[i * len(cs) + k] for i in range(n)])
    for col in tst:
        put(col, r_format([r_round(v, dig_tst) for v in xm[:, col]], digits, na="NA"))
    pcol = nc - 1 if has_p else None
    for col in range(nc):
        if col not in cs and col not in tst and col != pcol:
            put(col, r_format(xm[:, col], digits, na="NA"))
    # entries that print as 0 but are not (or vice versa) are reformatted with one digit less
    fix = [(i, j) for i in range(n) for j in range(nc) if j not in tst and j != pcol
           and np.isfinite(xm[i, j]) and (xm[i, j] == 0) != (float(cf[i][j]) == 0)]
    if fix:
        for (i, j), s in zip(fix, r_format([xm[i, j] for i, j in fix], max(1, digits - 1))):
            cf[i][j] = s
    for i in range(n):
        for j in range(nc):
            if j != pcol and math.isnan(xm[i, j]):
                cf[i][j] = "NA"
    columns = list(map(str, table.columns))
    stars = False
    if has_p:
        pv = xm[:, pcol]
        ok = np.isfinite(pv)
        if ok.any():
            for i, s in zip(np.flatnonzero(ok), format_pval(pv[ok], dig_tst)):
                cf[i][pcol] = s
            stars = bool(np.any(pv[ok] < 0.1))
        if stars:
            sym = [_stars(p) for p in pv]
            w = max(len(s) for s in sym)
            for i in range(n):
                cf[i].append(sym[i].ljust(w))
            columns.append("")
    return [str(r) for r in table.index], columns, cf, stars


def varcorr_cells(blocks, sigma: float, digits: int = DIGITS) -> tuple[list[str], list[list[str]]]:
    """lme4's ``formatVC``: (column names, rows) of the random-effects table.

    ``blocks`` is a list of (group label, term names, k × k covariance matrix), ``sigma`` the residual SD.
    """
    covs = [np.atleast_2d(np.asarray(S, dtype=float)) for _, _, S in blocks]
    sds = np.concatenate([np.sqrt(np.diag(S)) for S in covs] + [[sigma]])
    var_s = r_format(sds ** 2, digits)
    sd_s = r_format(sds, digits)
    maxlen = max([S.shape[0] for S in covs] + [1])
    rows, i = [], 0
    for (label, names, _), S in zip(blocks, covs):
        k = S.shape[0]
        sd = np.sqrt(np.diag(S))
        with np.errstate(invalid="ignore", divide="ignore"):
            C = np.where(np.outer(sd, sd) > 0, S / np.outer(sd, sd), np.nan)
        np.fill_diagonal(C, 1.0)
        dig = max(2, digits - 2)
        cc = r_format([r_round(v, dig) for v in C.ravel()], 7, nsmall=dig)
        for a, name in enumerate(names):
            cor = [cc[a * k + b] for b in range(a)] + [""] * (maxlen - 1 - a)
            rows.append([label if a == 0 else "", str(name), var_s[i], sd_s[i]] + cor[:maxlen - 1])
            i += 1
    rows.append(["Residual", "", var_s[i], sd_s[i]] + [""] * (maxlen - 1))
    cols = ["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] + [""] * (maxlen - 2) if maxlen > 1 else [])
    return cols, rows


def correlation_cells(V: np.ndarray, names: list[str]):
    """lme4's "Correlation of Fixed Effects": (row names, column names, cells) from Var(β̂)."""
    V = np.asarray(V, dtype=float)
    p = V.shape[0]
    sd = np.sqrt(np.diag(V))
    C = V / np.outer(sd, sd)
    s = r_format([r_round(v, 3) for v in C.ravel()], 7, nsmall=3)
    rows = abbreviate_all(names, 11)[1:]
    cols = abbreviate_all(names, 6)[:-1]
    cells = [[s[i * p + j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    return rows, cols, cells


def lm_footer(sigma: float, rdf: int, r2: float | None = None, adj_r2: float | None = None,
              fstat: float | None = None, df1: int | None = None, digits: int = DIGITS) -> list[str]:
    """The last lines of R's ``summary(lm(...))``: residual SE, R², F statistic.

    Examples
    --------
    >>> lm_footer(0.28797, 4, 0.69767, 0.54651, 4.6156, 2)[0]
    'Residual standard error: 0.288 on 4 degrees of freedom'
    """
    lines = [f"Residual standard error: {r_format([r_signif(sigma, digits)])[0]} on {rdf} degrees of freedom"]
    if fstat is not None:
        pval = float(stats.f.sf(fstat, df1, rdf))
        lines.append(f"Multiple R-squared:  {r2:.{digits}g},\tAdjusted R-squared:  {adj_r2:.{digits}g} ")
        lines.append(f"F-statistic: {fstat:.{digits}g} on {df1} and {rdf} DF,  p-value: "
                     f"{format_pval([pval], digits)[0]}")
    return lines


# --- the summary ----------------------------------------------------------------------------------
class Summary:
    """Printable summary of a fit (``str()`` for the terminal, ``_repr_html_`` for notebooks).

    Parameters
    ----------
    result : LmmResult
    correlation : bool, optional
        Show the correlation of the fixed effects (default: when there are at most 12 of them).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> s = m.summary()
    >>> print("\\n".join(s.lines()[10:15]))
    Random effects:
     Groups   Name        Variance Std.Dev.
     Batch    (Intercept) 1764     42.00   
     Residual             2451     49.51   
    Number of obs: 30, groups:  Batch, 6
    >>> s.fixed_table().loc["(Intercept)", ["Estimate", "Std. Error"]].tolist()
    ['1527.50', '  19.38']
    >>> "<table" in s._repr_html_()
    True
    """

    def __init__(self, result, correlation: bool | None = None):
        self.result = result
        self.correlation = correlation

    # ---- pieces -------------------------------------------------------------------------------
    @property
    def _mixed(self) -> bool:
        return bool(self.result.random.terms)

    @property
    def _has_df(self) -> bool:
        return bool(np.isfinite(self.result.coef_table["df"]).all())

    def title(self) -> str:
        m = self.result
        if not self._mixed:
            return "Linear model fit by least squares [mixedpy]"
        method = str(getattr(m, "method", "reml" if m.reml else "ml")).lower()
        how = {"reml": "REML", "ml": "maximum likelihood", "anova": "ANOVA (method of moments)",
               "bayes": "Bayesian MCMC"}.get(method, method)
        if self._has_df:
            return f"Linear mixed model fit by {how}. t-tests use Satterthwaite's method [mixedpy]"
        return f"Linear mixed model fit by {how} [mixedpy]"

    def header(self) -> list[str]:
        m = self.result
        lines = [self.title(), f"Formula: {m.formula}", f"   Data: {m.data_name}", ""]
        method = str(getattr(m, "method", "reml" if m.reml else "ml")).lower()
        if not self._mixed or method not in ("reml", "ml"):
            return lines
        if m.reml:
            crit = r_format([r_round(m.reml_criterion, 1)])[0].strip()
            lines.append(f"REML criterion at convergence: {crit}")
        else:
            vals = [r_round(v, 1) for v in (m.aic, m.bic, m.loglik, m.deviance)]
            strings = r_format(vals + [float(m.df_resid)])[:4] + [r_format([m.df_resid])[0]]
            lines += print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strings)
        return lines + [""]

    def residual_lines(self) -> list[str]:
        m = self.result
        if self._mixed:
            r = m.residuals(scaled=True).to_numpy()
            title = "Scaled residuals: "
        else:
            r = m.residuals().to_numpy()
            title = "Residuals:"
        if self._mixed or m.nobs - len(m.coef_names) > 5:
            q = zapsmall(np.quantile(r, [0, 0.25, 0.5, 0.75, 1]), DIGITS + 1)
            body = print_named(["Min", "1Q", "Median", "3Q", "Max"], r_format(q, DIGITS))
        else:
            body = print_named([str(i) for i in m.residuals().index], r_format(r, DIGITS))
        return [title] + body + [""]

    def random_cells(self) -> tuple[list[str], list[list[str]]]:
        """lme4's ``formatVC``: column names and rows of the random-effects table."""
        m = self.result
        blocks = [(label, list(t.columns), m.term_covariance(t))
                  for label, t in zip(m.random.varcorr_labels(), m.random.terms)]
        return varcorr_cells(blocks, m.sigma)

    def random_table(self) -> pd.DataFrame:
        """The random-effects table as formatted strings."""
        cols, rows = self.random_cells()
        return pd.DataFrame(rows, columns=cols)

    def _coef_numeric(self) -> tuple[pd.DataFrame, list[int], list[int], bool]:
        ct = self.result.coef_table
        if self._mixed and self._has_df:
            tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["se"], "df": ct["df"],
                                "t value": ct["t"], "Pr(>|t|)": ct["p"]}, index=ct.index)
            return tab, [0, 1, 2], [3], True
        if self._mixed:
            tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["se"], "t value": ct["t"]},
                               index=ct.index)
            return tab, [0, 1], [2], False
        tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["se"], "t value": ct["t"],
                            "Pr(>|t|)": ct["p"]}, index=ct.index)
        return tab, [0, 1], [2], True

    def fixed_cells(self):
        """``printCoefmat`` pieces of the fixed-effects table: (row names, columns, cells, stars)."""
        return coefmat(*self._coef_numeric())

    def fixed_table(self) -> pd.DataFrame:
        """The fixed-effects table as formatted strings (as printed)."""
        rows, cols, cells, _ = self.fixed_cells()
        return pd.DataFrame(cells, index=rows, columns=cols)

    def _show_correlation(self) -> bool:
        p = len(self.result.coef_names)
        if self.correlation is not None:
            return bool(self.correlation) and p > 1
        return self._mixed and 1 < p <= COR_MAX

    def correlation_cells(self):
        """(row names, column names, cells) of the correlation of the fixed effects, or None."""
        V = self.result.vcov
        return None if V.shape[0] < 2 else correlation_cells(V.to_numpy(), list(V.index))

    def correlation_table(self) -> pd.DataFrame | None:
        cc = self.correlation_cells()
        return None if cc is None else pd.DataFrame(cc[2], index=cc[0], columns=cc[1])

    def _groups_line(self) -> str:
        m = self.result
        groups = "; ".join(f"{g}, {n}" for g, n in m.ngroups.items())
        return f"Number of obs: {m.nobs}, groups:  {groups}"

    def _lm_footer(self) -> list[str]:
        m = self.result
        n, p = m.nobs, len(m.coef_names)
        y = np.asarray(m.fixed.y, dtype=float)
        rss = float(np.sum(m.residuals().to_numpy() ** 2))
        df_int = 1 if "(Intercept)" in m.coef_names else 0
        if p <= df_int or n <= p:
            return lm_footer(m.sigma, n - p)
        tss = float(np.sum((y - y.mean()) ** 2)) if df_int else float(np.sum(y ** 2))
        r2 = 1 - rss / tss
        adj = 1 - (1 - r2) * ((n - df_int) / (n - p))
        fstat = ((tss - rss) / (p - df_int)) / (rss / (n - p))
        return lm_footer(m.sigma, n - p, r2, adj, fstat, p - df_int)

    # ---- text -----------------------------------------------------------------------------------
    def lines(self) -> list[str]:
        m = self.result
        out = self.header() + self.residual_lines()
        if self._mixed:
            cols, rows = self.random_cells()
            out += ["Random effects:"] + print_matrix(rows, [""] * len(rows), cols, right=False)
            out += [self._groups_line()]
        rows, cols, cells, stars = self.fixed_cells()
        if self._mixed:
            out += [""]
        if rows:
            out += ["Fixed effects:" if self._mixed else "Coefficients:"]
            out += print_matrix(cells, rows, cols, right=True)
            if stars:
                out += ["---", "Signif. codes:  " + LEGEND]
        else:
            out += ["No fixed effect coefficients"]
        if not self._mixed:
            out += [""] + self._lm_footer()
        p = len(m.coef_names)
        if self._show_correlation():
            rn, cn, cc = self.correlation_cells()
            out += ["", "Correlation of Fixed Effects:"] + print_matrix(cc, rn, cn, right=False)
        elif self._mixed and self.correlation is None and p > COR_MAX:
            out += ["", f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                    "Use s = m.summary(); s.correlation = True; print(s)  or  m.vcov  if you need it."]
        if self._mixed:
            opt = getattr(m, "optinfo", None)
            if opt is not None and not getattr(opt, "converged", True):
                out += [f"optimizer ({opt.method}) did not converge: {opt.message}"]
            if m.is_singular:
                out += ["boundary (singular) fit: see LmmResult.is_singular"]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return str(self)

    # ---- HTML -----------------------------------------------------------------------------------
    @staticmethod
    def _html_table(cells, row_names, col_names, caption: str, numeric_from: int) -> str:
        """Columns from ``numeric_from`` on are right-aligned, except an unnamed last one (the stars)."""
        esc = html.escape
        corner = [""] if row_names is not None else []
        head = "".join(f"<th>{esc(c)}</th>" for c in corner + list(col_names))
        ncol = len(col_names)

        def align(j):
            return "right" if j >= numeric_from and not (j == ncol - 1 and col_names[j] == "") else "left"

        body = []
        for i, row in enumerate(cells):
            tds = "".join(f"<td style='text-align:{align(j)}'>{esc(c.strip())}</td>"
                          for j, c in enumerate(row))
            rn = f"<th style='text-align:left'>{esc(row_names[i])}</th>" if row_names is not None else ""
            body.append(f"<tr>{rn}{tds}</tr>")
        return (f"<table class='mixedpy-table'><caption style='text-align:left;font-weight:bold'>"
                f"{esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def _repr_html_(self) -> str:
        m = self.result
        esc = html.escape
        head = self.header()
        parts = ["<div class='mixedpy-summary'>", f"<p><b>{esc(head[0])}</b><br>",
                 "<br>".join(esc(h) for h in head[1:3]) + "</p>"]
        extra = [h for h in head[4:] if h]
        if extra:
            parts.append("<pre style='margin:0'>" + esc("\n".join(extra)) + "</pre>")
        if self._mixed:
            cols, rows = self.random_cells()
            parts.append(self._html_table(rows, None, cols, "Random effects", 2))
            parts.append(f"<p>{esc(self._groups_line())}</p>")
        rows, cols, cells, _ = self.fixed_cells()
        if rows:
            cols = [c if c else "" for c in cols]
            parts.append(self._html_table(cells, rows, cols, "Fixed effects" if self._mixed
                                          else "Coefficients", 0))
        if not self._mixed:
            parts.append("<p>" + "<br>".join(esc(s) for s in self._lm_footer()) + "</p>")
        if self._show_correlation():
            rn, cn, cc = self.correlation_cells()
            parts.append(self._html_table(cc, rn, cn, "Correlation of fixed effects", 0))
        if self._mixed and m.is_singular:
            parts.append("<p><i>boundary (singular) fit: a variance is estimated as 0</i></p>")
        parts.append("</div>")
        return "\n".join(parts)
