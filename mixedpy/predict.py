"""Predictions for new data: X_new β̂ plus, optionally, the BLUPs of levels seen in the fit.

Rows of new data with a level the fit has not seen get 0 for that term's random effects (the
population-level prediction), as lme4's ``predict(..., allow.new.levels = TRUE)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .design.fixed import new_fixed_matrix
from .design.frame import as_dataframe, group_labels, used_columns
from .errors import ColumnNotFoundError, DataError


def _term_contribution(result, term, data: pd.DataFrame) -> np.ndarray:
    try:
        Xt = np.asarray(term.spec.get_model_matrix(data, na_action="ignore"), dtype=float)
    except Exception as exc:  # formulaic raises several kinds for unusable data
        raise DataError(f"cannot build random term {term.source} for new data: {exc}") from None
    labels = group_labels(data, list(term.source.group))
    pos = term.levels.get_indexer(pd.Index(labels))  # NaN (a missing group) and new levels: -1
    b = result.solution.b[term.offset:term.offset + term.q].reshape(term.nlev, term.k)
    known = pos >= 0
    out = np.zeros(len(data))
    out[known] = np.einsum("ik,ik->i", Xt[known], b[pos[known]])
    return out


def _as_fitted_levels(data: pd.DataFrame, c: str, fitted_col: pd.Series) -> None:
    """Give a factor column of new data the fitted column's levels; a level the fit never saw is
    an error (a string column would otherwise be coded as the reference level)."""
    if isinstance(fitted_col.dtype, pd.CategoricalDtype):
        levels = fitted_col.cat.categories
    elif fitted_col.dtype.kind in "OSU" or pd.api.types.is_string_dtype(fitted_col.dtype):
        levels = pd.Index(sorted(fitted_col.dropna().unique()))
    else:
        return
    new = data[c]
    unknown = set(new.dropna().astype(str)) - set(levels.astype(str))
    if unknown:
        raise DataError(f"newdata column {c!r} has level(s) {sorted(unknown)} not seen in the fit "
                        f"(levels: {', '.join(map(str, levels[:10]))}{' …' if len(levels) > 10 else ''})")
    by_label = dict(zip(levels.astype(str), levels))
    data[c] = pd.Categorical(new.map(lambda v: by_label[str(v)] if pd.notna(v) else v), categories=levels)


def predict(result, newdata: object, include_random: bool = True) -> pd.Series:
    """Predictions of a fitted model for the rows of ``newdata`` (see module docstring).

    Examples
    --------
    >>> import mixedpy
    >>> d = mixedpy.datasets.load("dyestuff")
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d)
    >>> predict(m, d.head(2)).round(3).tolist(), predict(m, d.head(2), include_random=False).round(3).tolist()
    ([1509.893, 1509.893], [1527.5, 1527.5])
    """
    data = as_dataframe(newdata).copy()
    data.columns = [str(c) for c in data.columns]
    f = result.frame.formula
    needed = [c for c in used_columns(f, list(result.frame.data.columns)) if c != f.response.strip("`")]
    in_fixed = used_columns(type(f)(f.response, f.fixed, (), f.text), list(result.frame.data.columns))
    # columns other than pure grouping factors: a missing value there makes the prediction NaN
    fixed_cols = [c for c in needed if c not in f.grouping_columns or c in in_fixed]
    if not include_random:
        needed = fixed_cols
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ColumnNotFoundError(f"newdata lacks column(s) {', '.join(map(repr, missing))} needed for prediction")
    for c in fixed_cols:  # the fitted model's levels, so that contrasts line up
        _as_fitted_levels(data, c, result.frame.data[c])
    pred = np.asarray(new_fixed_matrix(result.fixed, data) @ result.solution.beta, dtype=float)
    pred[data[fixed_cols].isna().any(axis=1).to_numpy()] = np.nan  # as R: NA in, NA out
    if include_random:
        for term in result.random.terms:
            pred = pred + _term_contribution(result, term, data)
    return pd.Series(pred, index=data.index, name="predicted")
