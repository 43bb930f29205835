"""R's printing of formatted tables: ``print.default`` of a character matrix and of a named vector,
and ``printCoefmat`` (a coefficient table with significance stars).

Examples
--------
>>> for line in print_matrix([["1.0", "a"]], ["row"], ["x", "y"], right=True):
...     print(repr(line))
'      x y'
'row 1.0 a'
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .rformat import format_pval, r_format, r_round

__all__ = ["DIGITS", "LEGEND", "WIDTH", "coefmat", "print_matrix", "print_named"]

DIGITS = 4          # summary.merMod / summary.lm: max(3, getOption("digits") - 3)
WIDTH = 80          # getOption("width"), for wrapping named vectors
LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"


def _stars(p: float) -> str:
    """``symnum`` with lmerTest's cutpoints (intervals closed on the right)."""
    if not np.isfinite(p):
        return ""
    return "***" if p <= 0.001 else "**" if p <= 0.01 else "*" if p <= 0.05 else "." if p <= 0.1 else " "


def print_matrix(cells, row_names, col_names, right: bool) -> list[str]:
    """``print.default`` of a character matrix with ``quote = FALSE``.

    Examples
    --------
    >>> print_matrix([["1.0", "2.0"]], ["a"], ["x", "y"], True)
    ['    x   y', 'a 1.0 2.0']
    """
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
