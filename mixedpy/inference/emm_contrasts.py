"""Contrast families of estimated marginal means, as emmeans' ``*.emmc`` functions.

Each family is a coefficient matrix (levels × contrasts) with contrast names spelled as emmeans
does, the default p-value adjustment of the family and whether it is one set of pairwise
comparisons (the only family Tukey's method applies to).

========================  ============================================  ==========
method                    names                                         adjust
========================  ============================================  ==========
``"pairwise"``            ``"A - B"`` for every pair, first - later     tukey
``"revpairwise"``         ``"B - A"``, later - earlier                  tukey
``"poly"``                ``linear``, ``quadratic``, ``cubic``, …       none
``"trt.vs.ctrl"``         ``"B - A"`` (``ref``: control level(s))       dunnettx
``"trt.vs.ctrl1"``/``k``  control first / last level                    dunnettx
``"eff"``                 ``"A effect"``                                fdr
``"consec"``              ``"B - A"`` for consecutive levels            mvt
``"del.eff"``             ``"A effect"`` (vs the mean of the others)    fdr
dict                      its keys, weights in level order or by level  none
========================  ============================================  ==========
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ModelSpecError

PARENS = re.compile(r"-|\+|/|\*")
POLY_NAMES = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, 21)]


@dataclass(frozen=True)
class ContrastFamily:
    """Coefficients (levels × contrasts), contrast names, default adjustment, pairwise flag.

    Examples
    --------
    >>> import numpy as np
    >>> f = ContrastFamily(np.array([[1.0], [-1.0]]), ["A - B"], "none", pairwise=True)
    >>> f.coef.shape, f.names, f.pairwise
    ((2, 1), ['A - B'], True)
    """

    coef: np.ndarray
    names: list
    adjust: str
    pairwise: bool = False
    fam_size: int | None = None


def paren(label: str) -> str:
    """Level labels with ``-``, ``+``, ``/`` or ``*`` are parenthesized in contrast names (emmeans).

    Examples
    --------
    >>> paren("a-b"), paren("ab")
    ('(a-b)', 'ab')
    """
    return f"({label})" if PARENS.search(label) else label


def _ref_positions(levels: list, ref, raw: list | None = None) -> list:
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    raw = raw or levels
    out = []
    for r in refs:
        if isinstance(r, (int, np.integer)) and not any(str(r) in (lv, rw) for lv, rw in zip(levels, raw)):
            if not 1 <= int(r) <= len(levels):
                raise ModelSpecError(f"ref {r} is out of range: {len(levels)} levels (1-based)")
            out.append(int(r) - 1)
        elif str(r) in levels:
            out.append(levels.index(str(r)))
        elif str(r) in raw:
            out.append(raw.index(str(r)))
        else:
            raise ModelSpecError(f"ref {r!r} is not a level (levels: {', '.join(levels)})")
    return out


def poly_coefficients(k: int, max_degree: int | None = None) -> np.ndarray:
    """emmeans' integer orthogonal polynomial coefficients (``poly.emmc``), k × degree.

    Examples
    --------
    >>> (poly_coefficients(3) + 0.0).tolist()
    [[-1.0, 1.0], [0.0, -2.0], [1.0, 1.0]]
    """
    deg = min(6, k - 1) if max_degree is None else min(max_degree, k - 1, 20)
    x = np.arange(1, k + 1, dtype=float)
    V = np.vander(x - x.mean(), deg + 1, increasing=True)
    Q, _ = np.linalg.qr(V)
    Q = Q[:, 1:deg + 1]
    out = np.zeros((k, deg))
    for j in range(deg):
        con = Q[:, j] * np.sign(Q[-1, j])  # R's poly: increasing in the last level
        pos = con > 0.01
        con = con / np.min(con[pos])
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        out[:, j] = np.round(con)
    return out


def contrast_family(method, labels: list, ref=1, reverse: bool = False, exclude=(),
                    raw_labels: list | None = None) -> ContrastFamily:
    """The coefficients of a contrast family for means with the given labels.

    Examples
    --------
    >>> fam = contrast_family("trt.vs.ctrl", ["a", "b", "c"])
    >>> fam.names, fam.coef[:, 0].tolist()
    (['b - a', 'c - a'], [-1.0, 1.0, 0.0])
    """
    labels = [str(x) for x in labels]
    raw = [str(x) for x in raw_labels] if raw_labels is not None else labels
    k = len(labels)
    lv = [paren(x) for x in labels]
    if isinstance(method, dict):
        cols, names = [], []
        for name, w in method.items():
            if isinstance(w, dict):
                bad = [key for key in w if str(key) not in labels and str(key) not in raw]
                if bad:
                    raise ModelSpecError(f"contrast {name!r}: {', '.join(map(repr, bad))} not among the "
                                         f"means ({', '.join(labels)})")
                vec = np.zeros(k)
                for key, val in w.items():
                    vec[labels.index(str(key)) if str(key) in labels else raw.index(str(key))] = float(val)
            else:
                vec = np.asarray(w, dtype=float).ravel()
                if len(vec) != k:
                    raise ModelSpecError(f"contrast {name!r} has {len(vec)} weights for {k} means "
                                         f"({', '.join(labels)})")
            cols.append(vec)
            names.append(str(name))
        return ContrastFamily(np.column_stack(cols) if cols else np.zeros((k, 0)), names, "none")
    m = str(method)
    excl = set(_ref_positions(labels, list(exclude), raw)) if exclude else set()
    if m in ("pairwise", "revpairwise"):
        cols, names = [], []
        pairs = ([(i, j) for i in range(k - 1) for j in range(i + 1, k)] if m == "pairwise"
                 else [(i, j) for i in range(1, k) for j in range(i)])     # revpairwise
        for i, j in pairs:
            if i in excl or j in excl:
                continue
            c = np.zeros(k)
            c[i], c[j] = 1, -1
            cols.append(c)
            names.append(f"{lv[i]} - {lv[j]}")
        coef = np.column_stack(cols) if cols else np.zeros((k, 0))
        if reverse:
            coef = -coef
            names = [" - ".join(n.split(" - ")[::-1]) for n in names]
        return ContrastFamily(coef, names, "tukey", pairwise=True, fam_size=k - len(excl))
    if m == "poly":
        if k < 2:
            return ContrastFamily(np.zeros((k, 0)), [], "none")
        P = poly_coefficients(k)
        return ContrastFamily(P, POLY_NAMES[:P.shape[1]], "none")
    if m in ("trt.vs.ctrl", "trt.vs.ctrl1", "trt.vs.ctrlk", "dunnett"):
        refs = [k - 1] if m == "trt.vs.ctrlk" else [0] if m == "trt.vs.ctrl1" else _ref_positions(labels, ref, raw)
        cnm = lv[refs[0]] if len(refs) == 1 else "avg(" + ",".join(lv[r] for r in refs) + ")"
        cols, names = [], []
        for i in range(k):
            if i in refs or i in excl:
                continue
            c = np.zeros(k)
            c[refs] = -1.0 / len(refs)
            c[i] = 1.0
            cols.append(-c if reverse else c)
            names.append(f"{cnm} - {lv[i]}" if reverse else f"{lv[i]} - {cnm}")
        return ContrastFamily(np.column_stack(cols) if cols else np.zeros((k, 0)), names, "dunnettx")
    if m in ("eff", "del.eff"):
        keep = [i for i in range(k) if i not in excl]
        w = np.zeros(k)
        w[keep] = 1.0 / len(keep)
        cols = []
        for i in keep:
            c = -w.copy()
            c[i] += 1
            cols.append(c)
        coef = np.column_stack(cols) if cols else np.zeros((k, 0))
        if m == "del.eff":
            coef = coef * len(keep) / (len(keep) - 1)
        return ContrastFamily(coef, [f"{lv[i]} effect" for i in keep], "fdr")
    if m == "consec":
        keep = [i for i in range(k) if i not in excl]
        cols, names = [], []
        for a, b in itertools.pairwise(keep):
            c = np.zeros(k)
            c[a], c[b] = (1, -1) if reverse else (-1, 1)
            cols.append(c)
            names.append(f"{lv[a]} - {lv[b]}" if reverse else f"{lv[b]} - {lv[a]}")
        return ContrastFamily(np.column_stack(cols) if cols else np.zeros((k, 0)), names, "mvt")
    raise ModelSpecError(f"contrast method {method!r} is not supported; use pairwise, revpairwise, "
                         "poly, trt.vs.ctrl, eff, del.eff, consec or a dict of weights")
