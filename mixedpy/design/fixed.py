"""Fixed-effects design: the response y and the matrix X through formulaic, with lme4's rank check.

Aliased columns (linearly dependent on earlier ones) are dropped with a warning, keeping the
earlier columns, as lme4 does.  The formulaic ``ModelSpec`` is kept so that ``predict`` builds X for
new data with the same levels and contrasts.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import formulaic
import numpy as np
import pandas as pd

from ..errors import ColumnsDroppedWarning, DataError, DataTypeError, FormulaError
from .plain import PlainSpec, plain_columns, plain_matrix

INTERCEPT = "(Intercept)"


@dataclass(frozen=True)
class FixedDesign:
    """Response and fixed-effects matrix.

    Attributes
    ----------
    y : ndarray (n,)
    X : ndarray (n, p), full column rank
    names : list of str
        Column names of X (formulaic spelling, ``(Intercept)`` for the intercept).
    spec : formulaic.ModelSpec
        Spec of the full (before dropping) X, for new data.
    kept : ndarray of int
        Positions of the kept columns in the spec's matrix.
    dropped : list of str
        Names of aliased columns that were dropped.
    terms : dict
        Formula term (as written by formulaic, e.g. ``recipe:temperature``) → positions in X.
    response : str
        Name of the response.

    Examples
    --------
    >>> import mixedpy
    >>> fd = fixed_design("angle", "recipe", mixedpy.datasets.load("cake"))
    >>> fd.X.shape, fd.names, fd.terms
    ((270, 3), ['(Intercept)', 'recipe[T.B]', 'recipe[T.C]'], {'(Intercept)': [0], 'recipe': [1, 2]})
    """

    y: np.ndarray
    X: np.ndarray
    names: list[str]
    spec: object
    kept: np.ndarray
    dropped: list[str]
    terms: dict
    response: str
    has_intercept: bool


def rename(columns) -> list[str]:
    """formulaic's column names with ``Intercept`` spelt as lme4's ``(Intercept)``.

    Examples
    --------
    >>> rename(["Intercept", "Days"])
    ['(Intercept)', 'Days']
    """
    return [INTERCEPT if c == "Intercept" else str(c) for c in columns]


def model_matrix(expr: str, data: pd.DataFrame, where: str):
    """formulaic's model matrix of ``expr`` (NA rows kept), its errors as :class:`FormulaError`.

    Examples
    --------
    >>> import mixedpy
    >>> mm = model_matrix("1 + Days", mixedpy.datasets.load("sleepstudy").head(3), "fixed-effects matrix")
    >>> mm.shape, list(mm.columns)
    ((3, 2), ['Intercept', 'Days'])
    """
    try:
        return formulaic.model_matrix(expr, data, na_action="ignore")
    except (formulaic.errors.FormulaicError, SyntaxError, NameError) as exc:
        raise FormulaError(f"cannot build the {where} from {expr!r}: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise FormulaError(f"cannot build the {where} from {expr!r}: {type(exc).__name__}: {exc}") from None


def response_vector(expr: str, data: pd.DataFrame) -> np.ndarray:
    """The response as a float vector: a numeric column directly, else a formulaic expression.

    Examples
    --------
    >>> import mixedpy
    >>> d = mixedpy.datasets.load("sleepstudy").head(2)
    >>> response_vector("Reaction", d).round(3).tolist(), response_vector("log(Reaction)", d).round(4).tolist()
    ([249.56, 258.705], [5.5197, 5.5557])
    """
    col = data[expr.strip("`")] if expr.strip("`") in data.columns else None
    if col is not None and not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        raise DataTypeError(f"response {expr.strip('`')!r} must be numeric, got dtype {col.dtype}")
    if col is not None:  # a plain column: no need for formulaic
        return col.to_numpy(dtype=float)
    mm = model_matrix(f"{expr} ~ 1", data, "response").lhs
    if mm.shape[1] != 1:
        raise DataTypeError(f"response {expr!r} must be one numeric column, got {mm.shape[1]} columns "
                            f"({', '.join(map(str, mm.columns))})")
    y = np.asarray(mm, dtype=float).ravel()
    if not np.isfinite(y).all():
        raise DataError(f"response {expr!r} has non-finite values (e.g. log of zero) in "
                        f"{int((~np.isfinite(y)).sum())} rows")
    return y


def independent_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Positions of columns that are not (numerically) combinations of earlier ones.

    Greedy in column order like R's ``qr(X, LAPACK = FALSE)`` used by lme4: a column is aliased
    when its residual after projection on the kept columns is below ``tol`` times its norm.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 1.0, 2.0], [1.0, 2.0, 3.0], [1.0, 3.0, 4.0]])  # column 3 = column 1 + column 2
    >>> independent_columns(X).tolist()
    [0, 1]
    """
    if X.shape[1] == 0:
        return np.arange(0)
    R = np.linalg.qr(X, mode="r")
    keep: list[int] = []
    for j in range(X.shape[1]):
        norm = np.linalg.norm(R[:, j])
        if norm == 0:
            continue
        if keep:
            Q, _ = np.linalg.qr(R[:, keep])
            resid = R[:, j] - Q @ (Q.T @ R[:, j])
        else:
            resid = R[:, j]
        if np.linalg.norm(resid) > tol * norm:
            keep.append(j)
    return np.asarray(keep, dtype=int)


def term_positions(term_indices: dict, kept: np.ndarray) -> dict:
    """Formula term → positions of its columns among the kept columns of X.

    Examples
    --------
    >>> import numpy as np
    >>> term_positions({"1": [0], "a": [1], "b": [2]}, np.array([0, 2]))
    {'(Intercept)': [0], 'a': [], 'b': [1]}
    """
    where = {int(k): i for i, k in enumerate(kept)}
    out = {}
    for term, idx in term_indices.items():
        pos = [where[i] for i in idx if i in where]
        name = str(term)
        out["(Intercept)" if name == "1" else name] = pos
    return out


class LazySpec:
    """The formulaic ModelSpec of an expression, built on first use (a plain design needs it only
    for predictions on new data and for anova contrasts).

    Examples
    --------
    >>> import mixedpy
    >>> cake = mixedpy.datasets.load("cake")
    >>> LazySpec("1 + recipe", cake).get_model_matrix(cake.head(1)).values.tolist()
    [[1.0, 0.0, 0.0]]
    """

    def __init__(self, expr: str, data: pd.DataFrame):
        self._expr, self._data, self._spec = expr, data, None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._spec is None:
            self._spec = model_matrix(self._expr, self._data, "fixed-effects matrix").model_spec
        return getattr(self._spec, name)


def _design_matrix(fixed: str, data: pd.DataFrame) -> tuple[np.ndarray, list, object, dict]:
    """(X, column names, spec, term → column indices), plain designs without formulaic."""
    plain = plain_columns(fixed, data)
    if plain is not None:
        intercept, cols = plain
        names = (["1"] if intercept else []) + cols
        return (plain_matrix(intercept, cols, data), PlainSpec(intercept, cols).column_names,
                LazySpec(fixed, data), {name: [j] for j, name in enumerate(names)})
    mm = model_matrix(fixed, data, "fixed-effects matrix")
    return np.asarray(mm, dtype=float), list(mm.columns), mm.model_spec, mm.model_spec.term_indices


def fixed_design(response: str, fixed: str, data: pd.DataFrame, y: np.ndarray | None = None) -> FixedDesign:
    """Build y and X, dropping aliased columns of X with a :class:`ColumnsDroppedWarning` (``y``
    given: the response as built elsewhere, e.g. a GLMM's ``cbind(...)`` proportion).

    Examples
    --------
    >>> import mixedpy
    >>> fd = fixed_design("Reaction", "1 + Days", mixedpy.datasets.load("sleepstudy"))
    >>> fd.X.shape, fd.names, fd.has_intercept
    ((180, 2), ['(Intercept)', 'Days'], True)
    """
    y = response_vector(response, data) if y is None else np.asarray(y, dtype=float)
    X, columns, spec, term_indices = _design_matrix(fixed, data)
    if not np.isfinite(X).all():
        bad = [c for c, ok in zip(columns, np.isfinite(X).all(axis=0)) if not ok]
        raise DataError(f"fixed-effects column(s) {', '.join(map(str, bad))} have non-finite values")
    names = rename(columns)
    kept = independent_columns(X)
    dropped = [names[j] for j in range(X.shape[1]) if j not in set(kept.tolist())]
    if dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient: dropping {len(dropped)} aliased "
                      f"column(s) {', '.join(dropped)}", ColumnsDroppedWarning, stacklevel=3)
    return FixedDesign(y=y, X=X[:, kept], names=[names[j] for j in kept], spec=spec,
                       kept=kept, dropped=dropped, terms=term_positions(term_indices, kept),
                       response=response.strip("`"), has_intercept="(Intercept)" in names)


def new_fixed_matrix(design: FixedDesign, data: pd.DataFrame) -> np.ndarray:
    """X for new data with the fitted model's levels and contrasts (kept columns only).

    Examples
    --------
    >>> import mixedpy
    >>> cake = mixedpy.datasets.load("cake")
    >>> fd = fixed_design("angle", "recipe", cake)
    >>> new_fixed_matrix(fd, cake.head(1)).tolist()
    [[1.0, 0.0, 0.0]]
    """
    try:
        mm = design.spec.get_model_matrix(data, na_action="ignore")
    except Exception as exc:  # formulaic raises a variety of errors for unusable new data
        raise DataError(f"cannot build the fixed-effects matrix for new data: {exc}") from None
    return np.asarray(mm, dtype=float)[:, design.kept]
