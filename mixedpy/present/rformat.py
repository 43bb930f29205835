"""R's formatting of numbers and names: ``format``, ``round``, ``signif``, ``zapsmall``,
``format.pval`` and ``abbreviate``, digit for digit as R prints them.

* :func:`r_format` is R's ``format(x, digits, nsmall)``: one common number of decimals per vector,
  fixed notation unless scientific is narrower, trailing zeros kept only when a neighbour needs them;
* :func:`format_pval` is ``format.pval`` (fixed down to 1e-4, scientific below, ``< eps`` for tiny values);
* :func:`abbreviate` / :func:`abbreviate_all` are R's ``abbreviate`` (lme4's names in the correlation
  of the fixed effects).

Examples
--------
>>> r_signif(0.0012345, 3), r_round(2.5, 0)
(0.00123, 2.0)
>>> abbreviate_all(["temperature", "temp"], 4)
['tmpr', 'temp']
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

__all__ = ["EPS", "abbreviate", "abbreviate_all", "format_pval", "r_format", "r_round", "r_signif",
           "zapsmall"]

EPS = float(np.finfo(float).eps)   # .Machine$double.eps, format.pval's threshold
_KP_MAX = 22


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
    """R's ``round(x, digits)`` (the correctly rounded decimal, halves to even).

    Examples
    --------
    >>> r_round(2.5, 0), r_round(0.125, 2)
    (2.0, 0.12)
    """
    return round(float(x), digits) if math.isfinite(x) else float(x)


def r_signif(x: float, digits: int) -> float:
    """R's ``signif(x, digits)``.

    Examples
    --------
    >>> r_signif(123456, 2), r_signif(0.0012345, 3)
    (120000.0, 0.00123)
    """
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
    """``abbreviate`` of a vector: minlength grows for names whose abbreviations collide.

    Examples
    --------
    >>> abbreviate_all(["(Intercept)", "Days"], 6)
    ['(Intr)', 'Days']
    """
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
