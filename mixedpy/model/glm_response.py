"""The response side of a generalized linear mixed model: y, prior weights and offset, checked as glmer.

* binomial: a 0/1 (or boolean, or two-level factor: the first level is failure) column; a proportion
  with ``weights=`` the number of trials; or ``cbind(successes, failures)`` on the left (each side any
  expression of columns, e.g. ``cbind(incidence, size - incidence)``), which becomes the proportion
  successes / trials with the trials as prior weights, as glmer does;
* Poisson: non-negative counts (non-integer values are fitted with a warning, as R);
* ``offset(expr)`` terms of the fixed part are taken out of X and summed into the offset.

All checks raise a :class:`~mixedpy.errors.DataError` naming the column (or expression) before any
numerics.

Examples
--------
>>> import mixedpy, pandas as pd
>>> d = pd.DataFrame({"s": [1, 2], "n": [3, 4]})
>>> y, wt = glm_response("cbind(s, n - s)", d, mixedpy.families.Binomial(), None)
>>> y.round(3).tolist(), wt.tolist()
([0.333, 0.5], [3.0, 4.0])
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from ..design.fixed import response_vector
from ..errors import DataError, DataTypeError, MixedpyWarning, ModelSpecError
from ..formula.parse import split_terms

MAX_AGQ = 100


def _top_level_split(text: str, sep: str = ",") -> list[str]:
    depth, out, start = 0, [], 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [p.strip() for p in out]


def split_offsets(fixed: str) -> tuple[str, tuple[str, ...]]:
    """The fixed part without its ``offset(...)`` terms, and the offset expressions.

    Examples
    --------
    >>> split_offsets("x + offset(log(t)) + z")
    ('x + z', ('log(t)',))
    >>> split_offsets("offset(log(t))")
    ('1', ('log(t)',))
    """
    kept, offsets = [], []
    for sign, piece in split_terms(fixed):
        m = re.fullmatch(r"offset\((.*)\)", piece.strip(), flags=re.DOTALL)
        if m:
            if sign == "-":
                raise ModelSpecError(f"cannot subtract an offset: -{piece}")
            offsets.append(m.group(1).strip())
        else:
            kept.append((sign, piece))
    text = " ".join(f"{s} {p}" for s, p in kept).strip().removeprefix("+ ")
    if not kept or all(s == "-" for s, _ in kept):
        text = ("1 " + text).strip()
    return text, tuple(offsets)


def _expression(expr: str, data: pd.DataFrame, what: str = "response") -> np.ndarray:
    """A numeric expression of columns (a plain column, or any formulaic expression via I(...));
    errors name ``what`` it is (the response, an offset)."""
    bare = expr.strip().strip("`")
    if bare in data.columns and pd.api.types.is_bool_dtype(data[bare].dtype):
        return data[bare].to_numpy(dtype=float)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            return response_vector(bare if bare in data.columns else f"I({expr})", data)
    except DataError as exc:
        raise DataError(str(exc).replace(f"response 'I({expr})'", f"{what} {expr!r}")
                        .replace(f"response {('I(' + expr + ')')!r}", f"{what} {expr!r}")) from None


def offset_vector(offsets: tuple[str, ...], data: pd.DataFrame) -> np.ndarray | None:
    """The sum of the offset expressions on the rows of ``data`` (None without offsets).

    Examples
    --------
    >>> import pandas as pd
    >>> offset_vector(("log(t)",), pd.DataFrame({"t": [1.0, 2.0]})).round(4).tolist()
    [0.0, 0.6931]
    """
    if not offsets:
        return None
    out = np.zeros(len(data))
    for expr in offsets:
        v = _expression(expr, data, "offset")
        if not np.all(np.isfinite(v)):
            raise DataError(f"offset({expr}) has non-finite values (e.g. log of zero) in "
                            f"{int((~np.isfinite(v)).sum())} rows")
        out += v
    return out


def _binary(col: pd.Series, name: str) -> np.ndarray:
    """A factor, boolean or text response as 0/1 (the first level is failure, as R)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=float)
    levels = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else pd.Index(sorted(col.unique()))
    if len(levels) > 2:
        raise DataError(f"binomial response {name!r} has {len(levels)} levels; a factor response needs "
                        "two (the first is failure)")
    return (col.to_numpy() != levels[0]).astype(float)


def glm_response(response: str, data: pd.DataFrame, family, weights: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(y, prior weights) of the family's response (see the module docstring).

    Parameters
    ----------
    response : str
        The left-hand side of the formula.
    data : DataFrame
        The model frame's rows.
    family : Family
    weights : ndarray or None
        Prior weights of these rows.

    Examples
    --------
    >>> import mixedpy, pandas as pd
    >>> glm_response("y", pd.DataFrame({"y": [True, False]}), mixedpy.families.Binomial(), None)[0].tolist()
    [1.0, 0.0]
    """
    wt = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=float).copy()
    lhs = response.strip()
    m = re.fullmatch(r"cbind\((.*)\)", lhs, flags=re.DOTALL)
    if m:
        if family.name != "binomial":
            raise ModelSpecError(f"cbind(successes, failures) is a binomial response; family is {family.name!r}")
        parts = _top_level_split(m.group(1))
        if len(parts) != 2:
            raise ModelSpecError(f"{lhs!r} needs exactly two columns: cbind(successes, failures)")
        s, f = (_expression(p, data) for p in parts)
        for expr, v in zip(parts, (s, f)):
            if np.any(v < 0):
                raise DataError(f"cbind(...) column {expr!r} has negative counts (e.g. {v[v < 0][0]!r})")
        n = s + f
        y = np.divide(s, n, out=np.zeros_like(s), where=n > 0)
        wt = wt * n
        _check_counts(wt * y, lhs)
        return y, wt
    name = lhs.strip("`")
    col = data[name] if name in data.columns else None
    if col is not None and family.name == "binomial" and not (pd.api.types.is_numeric_dtype(col.dtype)
                                                              and not pd.api.types.is_bool_dtype(col.dtype)):
        y = _binary(col, name)
    elif col is not None and not pd.api.types.is_numeric_dtype(col.dtype):
        raise DataTypeError(f"response {name!r} must be numeric for the {family.name} family, got {col.dtype}")
    else:
        y = _expression(lhs, data) if col is None else col.to_numpy(dtype=float)
    if family.name == "binomial":
        if np.any((y < 0) | (y > 1)):
            bad = y[(y < 0) | (y > 1)][0]
            raise DataError(f"binomial response {name!r} must be 0/1 or a proportion in [0, 1] (with "
                            f"weights= the trials), or cbind(successes, failures); got {bad!r}")
        _check_counts(wt * y, name)
    elif family.name == "poisson":
        if np.any(y < 0):
            raise DataError(f"Poisson response {name!r} must be non-negative counts; got {y[y < 0][0]!r}")
        if np.any(np.abs(y - np.round(y)) > 1e-7 * np.maximum(1, np.abs(y))):
            warnings.warn(f"non-integer x: the Poisson response {name!r} has non-integer values "
                          f"(e.g. {y[np.abs(y - np.round(y)) > 1e-7][0]!r}); fitted with the continuous "
                          "extension of the likelihood, as R", MixedpyWarning, stacklevel=4)
    return y, wt


def _check_counts(successes: np.ndarray, name: str) -> None:
    if np.any(np.abs(successes - np.round(successes)) > 1e-7 * np.maximum(1, np.abs(successes))):
        warnings.warn(f"non-integer #successes in a binomial glm: response {name!r} times the weights "
                      "is not a whole number everywhere (as R, the fit goes on)", MixedpyWarning, stacklevel=5)


def check_nagq(nagq, random) -> int:
    """nAGQ as glmer accepts it: 0 (PIRLS over u and β), 1 (Laplace) or more points of adaptive
    Gauss-Hermite quadrature for a single scalar random-effects term.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.design.random import random_design
    >>> from mixedpy.formula.parse import parse_formula
    >>> d = mixedpy.datasets.load("sleepstudy")
    >>> rd = random_design(parse_formula("Reaction ~ Days + (Days | Subject)").random, d)
    >>> check_nagq(1, rd)
    1
    >>> check_nagq(5, rd)
    Traceback (most recent call last):
    ...
    mixedpy.errors.ModelSpecError: nAGQ = 5 (adaptive Gauss-Hermite quadrature) needs a single scalar random-effects term such as (1 | g); this model has (Days | Subject)
    """
    if isinstance(nagq, (bool, np.bool_)) or not isinstance(nagq, (int, np.integer)) or nagq < 0:
        raise ModelSpecError(f"nAGQ must be a non-negative integer, got {nagq!r}")
    nagq = int(nagq)
    if nagq > MAX_AGQ:
        raise ModelSpecError(f"nAGQ = {nagq} is more than {MAX_AGQ} quadrature points")
    if nagq > 1 and (len(random.terms) != 1 or random.terms[0].k != 1):
        terms = ", ".join(str(t.source) for t in random.terms) or "no random term"
        raise ModelSpecError(f"nAGQ = {nagq} (adaptive Gauss-Hermite quadrature) needs a single scalar "
                             f"random-effects term such as (1 | g); this model has {terms}")
    return nagq
