"""Hypothesis matrices of the fixed-effect terms for type I, II and III tests, as lmerTest.

Type I   rows of the normalized Doolittle factor of X'X (sequential sums of squares).
Type II  marginal contrasts (identity rows) for terms contained in no other term; otherwise the
         Doolittle rows of the term after the columns unrelated to it (lmerTest's
         ``get_contrasts_type2_unfolded``).
Type III lmerTest's ``get_contrasts_type3``: on the treatment-coded design the coefficients are
         mapped onto the complete (rank-deficient, one column per cell) design, each term's
         contrast is orthogonalized against the terms containing it, higher-order terms first,
         and the result is carried over to the fitted coding (``recoding``).  The tests do not
         depend on the contrast coding (``C(f, contr.sum())``, Helmert, Poly, ...).

Types I and II are computed on the fitted X directly: they test a term after (type I) the terms
before it, or (type II) the terms not containing it, and those column spaces are the same under
every coding that spans the factors, so these tests do not depend on the coding either.

A term T1 is *contained* in T2 when T2 has all of T1's variables and more, and the same numeric
variables (lmerTest's ``containment``).  As in lmerTest, a term's variables here are only those R
codes by contrasts in it (``attr(terms, "factors") == 1``): in ``a + a:b`` without ``b``, ``a`` is
coded by indicators in ``a:b`` (code 2), so ``a:b`` counts as a term in ``b`` only and does not
contain ``a``; ``a`` then gets its marginal test in types II and III (see :func:`contrast_coded`).
With at most one term (or one column), types II and III fall back to type I, as lmerTest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ModelSpecError
from .recoding import TreatmentDesign, cell_matrix, treatment_design, zapsmall

INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class TermInfo:
    """A fixed-effect term: its label, columns of X, variables, numeric variables, formulaic factors.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> t = model_terms(m)[2]
    >>> t.label, t.columns[:2], sorted(t.variables), t.order
    ('recipe:temperature', [8, 9], ['recipe', 'temperature'], 2)
    """

    label: str
    columns: list
    variables: frozenset
    numeric: frozenset
    factors: tuple = ()
    coded: frozenset = None  # the variables R codes by contrasts in this term (None: all of them)

    @property
    def order(self) -> int:
        """Number of variables in the term (1 for main effects, 2 for two-way interactions …).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> [t.order for t in model_terms(m)]
        [1, 1, 2]
        """
        return len(self.variables)


def contrast_coded(term_variables: list) -> list:
    """For each term (variable sets, in R's term order), the variables R codes by contrasts in it.

    R's ``terms.formula`` (``TermCode`` in model.c) writes 1 in ``attr(terms, "factors")`` for
    variable v of term T when T without v is empty or lies within a preceding term, and 2 (coded
    by indicators: all levels) otherwise; lmerTest's ``term_contain`` only sees the 1s.

    Examples
    --------
    >>> [sorted(c) for c in contrast_coded([{"env"}, {"env", "rep"}])]
    [['env'], ['rep']]
    >>> [sorted(c) for c in contrast_coded([{"a"}, {"c"}, {"a", "c"}, {"a", "b"}])]
    [['a'], ['c'], ['a', 'c'], ['b']]
    """
    out = []
    for i, vars_t in enumerate(term_variables):
        vars_t = frozenset(vars_t)
        coded = set()
        for v in vars_t:
            rest = vars_t - {v}
            if not rest or any(rest <= frozenset(u) for u in term_variables[:i]):
                coded.add(v)
        out.append(frozenset(coded))
    return out


def model_terms(result) -> list[TermInfo]:
    """The fixed-effect terms of a fit in formula order (the intercept excluded).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> [(t.label, len(t.columns)) for t in model_terms(m)]
    [('recipe', 2), ('temperature', 5), ('recipe:temperature', 10)]
    """
    spec = result.fixed.spec
    kinds = {name: str(getattr(state[0], "value", state[0])) for name, state in spec.encoder_state.items()}
    all_terms = [term for term in spec.terms if str(term) != "1"]
    codes = contrast_coded([{str(f) for f in term.factors} for term in all_terms])
    out = []
    for term, coded in zip(all_terms, codes):
        label = str(term)
        cols = result.fixed.terms.get(label, [])
        if not cols:
            continue
        variables = frozenset(str(f) for f in term.factors)
        numeric = frozenset(v for v in variables if kinds.get(v) != "categorical")
        out.append(TermInfo(label, list(cols), variables, numeric, tuple(term.factors), coded))
    return out


def containment(terms: list[TermInfo]) -> dict:
    """Term label → labels of the terms that contain it (lmerTest's ``containment``).

    T1 is contained in T2 when T2's contrast-coded variables include all of T1's and more, and
    both have the same numeric ones among them (SAS's definition, as lmerTest applies it).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> containment(model_terms(m))
    {'recipe': ['recipe:temperature'], 'temperature': ['recipe:temperature'], 'recipe:temperature': []}
    """
    def coded(t: TermInfo) -> frozenset:
        return t.variables if t.coded is None else t.coded

    def contains(t1: TermInfo, t2: TermInfo) -> bool:
        v1, v2 = coded(t1), coded(t2)
        return v1 < v2 and (v1 & t1.numeric) == (v2 & t2.numeric)
    return {t.label: [u.label for u in terms if contains(t, u)] for t in terms}


def doolittle_rows(XtX: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """t(L) of lmerTest's ``doolittle(X'X)``: unit upper-triangular rows U[i]/U[i, i].

    Examples
    --------
    >>> import numpy as np
    >>> doolittle_rows(np.array([[4.0, 2.0], [2.0, 3.0]])).tolist()
    [[1.0, 0.5], [0.0, 1.0]]
    """
    n = XtX.shape[0]
    if n == 1:
        return np.ones((1, 1))
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = XtX[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = XtX[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L.T


def type1(result) -> dict:
    """Type I (sequential) hypothesis matrix of each term.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> {k: v.shape for k, v in type1(m).items()}
    {'recipe': (2, 18), 'temperature': (5, 18), 'recipe:temperature': (10, 18)}
    """
    X = result.workspace.X
    terms = model_terms(result)
    if X.shape[1] == 0 or not terms:
        return {}
    Lt = doolittle_rows(X.T @ X)
    return {t.label: Lt[t.columns] for t in terms}


def _marginal(p: int, t: TermInfo) -> np.ndarray:
    return np.eye(p)[t.columns]


def type2(result) -> dict:
    """Type II hypothesis matrix of each term (lmerTest's unfolded type II).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> {k: v.shape for k, v in type2(m).items()}
    {'recipe': (2, 18), 'temperature': (5, 18), 'recipe:temperature': (10, 18)}
    """
    X = result.workspace.X
    terms = model_terms(result)
    p = X.shape[1]
    if p <= 1 or len(terms) <= 1:
        return type1(result)
    contained_in = containment(terms)
    by_label = {t.label: t for t in terms}
    out = {}
    for t in terms:
        if not contained_in[t.label]:
            out[t.label] = _marginal(p, t)
            continue
        related = list(t.columns) + [c for u in contained_in[t.label] for c in by_label[u].columns]
        order = [j for j in range(p) if j not in set(related)] + related
        Xn = X[:, order]
        Lc = doolittle_rows(Xn.T @ Xn)
        rows = [i for i, j in enumerate(order) if j in set(t.columns)]
        L = np.zeros((len(rows), p))
        L[:, order] = Lc[rows]
        out[t.label] = L
    return out


def _residualize(Y: np.ndarray, B: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(B, Y, rcond=None)
    return Y - B @ coef


def _type3_treatment(result, td: TreatmentDesign, terms: list[TermInfo]) -> dict:
    """lmerTest's ``extract_contrasts_type3`` on the treatment-coded design: term → L_t (· × p_t).

    M (p_t × cells) writes β_t in the complete cell parametrization; its rows are the general form
    of the estimable functions.  Each term's rows are orthogonalized against those of the terms
    containing it (higher order first) and written back on β_t: k with k'M = l'.
    """
    n = td.X.shape[0]
    blocks = [cell_matrix(result, t.factors) for t in terms]
    rdX = np.hstack(([np.ones((n, 1))] if result.fixed.has_intercept else []) + blocks)
    M = zapsmall(np.linalg.pinv(td.X) @ rdX)
    L = M.T.copy()  # rows: cells, columns: treatment coefficients
    cols = {t.label: td.terms.get(t.label, []) for t in terms}
    contained_in = containment(terms)
    for t in sorted(terms, key=lambda t: -t.order):  # stable: formula order within an order
        if contained_in[t.label] and cols[t.label]:
            other = [c for u in contained_in[t.label] for c in cols[u]]
            L[:, cols[t.label]] = zapsmall(_residualize(L[:, cols[t.label]], L[:, other]))
    back = np.linalg.pinv(M)  # cells → β_t (lmerTest picks the cells equal to X_t's columns)
    out = {}
    for t in terms:
        Lt = zapsmall(L[:, cols[t.label]].T @ back)
        out[t.label] = Lt[np.abs(Lt).sum(axis=1) > 1e-8]
    return out


def type3(result) -> dict:
    """Type III hypothesis matrix of each term (lmerTest's ``get_contrasts_type3``).

    The hypotheses are built on the treatment-coded design and mapped to the fitted coding
    (:mod:`mixedpy.inference.recoding`), so the tests do not depend on the contrast coding.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> L = type3(m)["recipe"]  # recipe averaged over the temperatures
    >>> L.shape, L[0, :2].tolist(), round(float(L[0, 8]), 4)
    ((2, 18), [0.0, 1.0], 0.1667)
    """
    X = result.workspace.X
    terms = model_terms(result)
    if X.shape[1] <= 1 or len(terms) <= 1:
        return type1(result)
    td = treatment_design(result)
    return {label: L @ td.to_treatment for label, L in _type3_treatment(result, td, terms).items()}


def hypothesis_matrices(result, type: int) -> dict:
    """Term label → hypothesis matrix for ANOVA ``type`` 1, 2 or 3.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> list(hypothesis_matrices(m, "III"))
    ['recipe', 'temperature', 'recipe:temperature']
    """
    fn = {1: type1, 2: type2, 3: type3}.get(int(type) if str(type).isdigit() else
                                             {"I": 1, "II": 2, "III": 3}.get(str(type), 0))
    if fn is None:
        raise ModelSpecError(f"anova type {type!r} is not supported; use 1, 2 or 3")
    return fn(result)


def coefficient_matrix(result, L) -> np.ndarray:
    """A hypothesis given as a matrix (rows × p), a vector, a dict {coef: weight} or a DataFrame.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> coefficient_matrix(m, {"Days": 1.0}).tolist(), coefficient_matrix(m, [1.0, 0.0]).tolist()
    ([[0.0, 1.0]], [[1.0, 0.0]])
    """
    names = list(result.fixed.names)
    if isinstance(L, dict):
        row = np.zeros(len(names))
        for k, w in L.items():
            if k not in names:
                raise ModelSpecError(f"{k!r} is not a fixed-effect coefficient; have {', '.join(names)}")
            row[names.index(k)] = float(w)
        return row[None, :]
    if isinstance(L, pd.DataFrame):
        L = L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[1] != len(names):
        raise ModelSpecError(f"the hypothesis matrix has {L.shape[1]} columns for {len(names)} coefficients")
    return L
