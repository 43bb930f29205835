"""Plain designs: model matrices of expressions that are sums of numeric columns, without formulaic.

Most random terms (``(1 | g)``, ``(Days | Subject)``) and many fixed parts (``y ~ x + z``) are just an
optional intercept and numeric columns.  Building those through formulaic costs about a millisecond
each, which dominates a small fit; this module builds them directly, with formulaic's column order and
names (intercept first, then the columns as written, duplicates once).  Anything else — factors,
functions, interactions, removals other than a leading ``0 +`` — is left to formulaic (the functions
return None).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def plain_columns(expr: str, data: pd.DataFrame) -> tuple[bool, list[str]] | None:
    """(has intercept, numeric column names) when ``expr`` is a plain sum, else None.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 2.0], "g": ["a", "b"]})
    >>> plain_columns("1 + x", df), plain_columns("0 + x", df), plain_columns("g", df)
    ((True, ['x']), (False, ['x']), None)
    """
    tokens = [t.strip() for t in expr.split("+")]
    intercept, cols = True, []
    for i, tok in enumerate(tokens):
        if tok == "1":
            continue
        if tok in ("0", "-1") and i == 0:
            intercept = False
            continue
        if not _NAME.match(tok) or tok not in data.columns:
            return None
        dtype = data[tok].dtype
        if not (pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)) \
                or pd.api.types.is_bool_dtype(dtype):
            return None
        if tok not in cols:
            cols.append(tok)
    return intercept, cols


def plain_matrix(intercept: bool, cols: list[str], data: pd.DataFrame) -> np.ndarray:
    """The n × (intercept + len(cols)) float matrix.

    Examples
    --------
    >>> import pandas as pd
    >>> plain_matrix(True, ["x"], pd.DataFrame({"x": [2, 5]})).tolist()
    [[1.0, 2.0], [1.0, 5.0]]
    """
    n = len(data)
    X = np.empty((n, int(intercept) + len(cols)))
    if intercept:
        X[:, 0] = 1.0
    for j, c in enumerate(cols, start=int(intercept)):
        X[:, j] = data[c].to_numpy(dtype=float)
    return X


class PlainSpec:
    """Stands in for a formulaic ModelSpec of a plain expression (``get_model_matrix`` on new data).

    Examples
    --------
    >>> import pandas as pd
    >>> PlainSpec(True, ["x"]).get_model_matrix(pd.DataFrame({"x": [3.0]})).values.tolist()
    [[1.0, 3.0]]
    """

    def __init__(self, intercept: bool, cols: list[str]):
        self.intercept, self.cols = intercept, list(cols)

    @property
    def column_names(self) -> list[str]:
        """formulaic-style column names (``Intercept`` first when present).

        Examples
        --------
        >>> PlainSpec(True, ["x"]).column_names
        ['Intercept', 'x']
        """
        return (["Intercept"] if self.intercept else []) + self.cols

    def get_model_matrix(self, data: pd.DataFrame, na_action: str = "ignore") -> pd.DataFrame:
        """The model matrix of new data as a DataFrame (like formulaic's ``get_model_matrix``).

        Examples
        --------
        >>> import pandas as pd
        >>> PlainSpec(False, ["x"]).get_model_matrix(pd.DataFrame({"x": [1.5]})).values.tolist()
        [[1.5]]
        """
        missing = [c for c in self.cols if c not in data.columns]
        if missing:
            raise KeyError(f"column {missing[0]!r} is not in the new data")
        return pd.DataFrame(plain_matrix(self.intercept, self.cols, data), index=data.index,
                            columns=self.column_names)
