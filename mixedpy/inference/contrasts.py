"""Hypothesis matrices of the fixed-effect terms for type I, II and III tests, as lmerTest.

Type I   rows of the normalized Doolittle factor of X'X (sequential sums of squares).
Type II  marginal contrasts (identity rows) for terms contained in no other term; otherwise the
         Doolittle rows of the term after the columns unrelated to it (lmerTest's
         ``get_contrasts_type2_unfolded``).
Type III lmerTest's ``extract_contrasts_type3``: the coefficients are mapped onto the complete
         (rank-deficient, one column per cell) design, and each term's contrast is orthogonalized
         against the terms containing it, higher-order terms first.  The tests do not depend on
         the contrast coding.

A term T1 is *contained* in T2 when T2 has all of T1's variables and more, and the same numeric
variables (lmerTest's ``containment``).  With at most one term (or one column), types II and III
fall back to type I, as lmerTest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ModelSpecError

INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class TermInfo:
    """A fixed-effect term: its label, columns of X, variables and numeric variables."""

    label: str
    columns: list
    variables: frozenset
    numeric: frozenset

    @property
    def order(self) -> int:
        return len(self.variables)


def model_terms(result) -> list[TermInfo]:
    """The fixed-effect terms of a fit in formula order (the intercept excluded)."""
    spec = result.fixed.spec
    kinds = {name: str(getattr(state[0], "value", state[0])) for name, state in spec.encoder_state.items()}
    out = []
    for term in spec.terms:
        label = str(term)
        if label == "1":
            continue
        cols = result.fixed.terms.get(label, [])
        if not cols:
            continue
        variables = frozenset(str(f) for f in term.factors)
        numeric = frozenset(v for v in variables if kinds.get(v) != "categorical")
        out.append(TermInfo(label, list(cols), variables, numeric))
    return out


def containment(terms: list[TermInfo]) -> dict:
    """Term label → labels of the terms that contain it."""
    def contains(t1: TermInfo, t2: TermInfo) -> bool:
        return t1.variables < t2.variables and t1.numeric == t2.numeric
    return {t.label: [u.label for u in terms if contains(t, u)] for t in terms}


def doolittle_rows(XtX: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """t(L) of lmerTest's ``doolittle(X'X)``: unit upper-triangular rows U[i]/U[i, i]."""
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
    """Type I (sequential) hypothesis matrix of each term."""
    X = result.workspace.X
    terms = model_terms(result)
    if X.shape[1] == 0 or not terms:
        return {}
    Lt = doolittle_rows(X.T @ X)
    return {t.label: Lt[t.columns] for t in terms}


def _marginal(p: int, t: TermInfo) -> np.ndarray:
    return np.eye(p)[t.columns]


def type2(result) -> dict:
    """Type II hypothesis matrix of each term (lmerTest's unfolded type II)."""
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


def _term_cells(result, t: TermInfo) -> np.ndarray:
    """Complete (one column per cell) coding of a term: lmerTest's ``model.matrix(~ 0 + term)``."""
    import formulaic

    data = result.frame.data
    block = np.ones((len(data), 1))
    for v in sorted(t.variables):
        mm = np.asarray(formulaic.model_matrix(f"0 + {v}", data, na_action="ignore"), dtype=float)
        block = (block[:, :, None] * mm[:, None, :]).reshape(len(data), -1)
    return block


def _match_columns(X: np.ndarray, rdX: np.ndarray) -> np.ndarray:
    """For each column of X, the column of rdX equal to it (treatment coding makes them equal)."""
    idx = []
    for j in range(X.shape[1]):
        hit = np.flatnonzero(np.all(np.abs(rdX - X[:, [j]]) <= 1e-10 * (1 + np.abs(X[:, [j]])), axis=0))
        if len(hit) == 0:
            raise ModelSpecError("type III contrasts need treatment-coded factors (formulaic's default); "
                                 f"column {j} of X is not a cell indicator")
        idx.append(hit[0])
    return np.asarray(idx)


def _residualize(Y: np.ndarray, B: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(B, Y, rcond=None)
    return Y - B @ coef


def _zapsmall(a: np.ndarray, digits: int = 7) -> np.ndarray:
    mx = np.max(np.abs(a)) if a.size else 0.0
    if mx == 0:
        return a
    return np.round(a, max(0, digits - int(np.ceil(np.log10(mx)))) if mx > 0 else digits)


def type3(result) -> dict:
    """Type III hypothesis matrix of each term (lmerTest's ``get_contrasts_type3``)."""
    X = result.workspace.X
    terms = model_terms(result)
    p = X.shape[1]
    if p <= 1 or len(terms) <= 1:
        return type1(result)
    blocks = [_term_cells(result, t) for t in terms]
    rdX = np.hstack(([np.ones((X.shape[0], 1))] if result.fixed.has_intercept else []) + blocks)
    L = _zapsmall((np.linalg.pinv(X) @ rdX).T)  # rows: cells, columns: coefficients
    contained_in = containment(terms)
    by_label = {t.label: t for t in terms}
    for t in sorted(terms, key=lambda t: -t.order):  # stable: formula order within an order
        if contained_in[t.label]:
            cols = [c for u in contained_in[t.label] for c in by_label[u].columns]
            L[:, t.columns] = _zapsmall(_residualize(L[:, t.columns], L[:, cols]))
    L = L[_match_columns(X, rdX)]
    out = {}
    for t in terms:
        Lt = L[:, t.columns].T
        out[t.label] = Lt[np.abs(Lt).sum(axis=1) > 1e-8]
    return out


def hypothesis_matrices(result, type: int) -> dict:
    """Term label → hypothesis matrix for ANOVA ``type`` 1, 2 or 3."""
    fn = {1: type1, 2: type2, 3: type3}.get(int(type) if str(type).isdigit() else
                                             {"I": 1, "II": 2, "III": 3}.get(str(type), 0))
    if fn is None:
        raise ModelSpecError(f"anova type {type!r} is not supported; use 1, 2 or 3")
    return fn(result)


def coefficient_matrix(result, L) -> np.ndarray:
    """A hypothesis given as a matrix (rows × p), a vector, a dict {coef: weight} or a DataFrame."""
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
