"""Predictions for new data: X_new β̂ plus, optionally, the BLUPs of levels seen in the fit.

Rows of new data with a level the fit has not seen get 0 for that term's random effects (the
population-level prediction), as lme4's ``predict(..., allow.new.levels = TRUE)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .design.fixed import new_fixed_matrix
from .design.frame import as_dataframe, used_columns
from .errors import ColumnNotFoundError, DataError


def _term_contribution(result, term, data: pd.DataFrame) -> np.ndarray:
    try:
        Xt = np.asarray(term.spec.get_model_matrix(data, na_action="ignore"), dtype=float)
    except Exception as exc:  # formulaic raises several kinds for unusable data
        raise DataError(f"cannot build random term {term.source} for new data: {exc}") from None
    cols = list(term.source.group)
    labels = data[cols].astype(str).agg(":".join, axis=1) if len(cols) > 1 else data[cols[0]].astype(str)
    pos = term.levels.get_indexer(pd.Index(labels))
    b = result.solution.b[term.offset:term.offset + term.q].reshape(term.nlev, term.k)
    known = pos >= 0
    out = np.zeros(len(data))
    out[known] = np.einsum("ik,ik->i", Xt[known], b[pos[known]])
    return out


def predict(result, newdata: object, include_random: bool = True) -> pd.Series:
    """Predictions of a fitted model for the rows of ``newdata`` (see module docstring)."""
    data = as_dataframe(newdata).copy()
    data.columns = [str(c) for c in data.columns]
    f = result.frame.formula
    needed = [c for c in used_columns(f, list(result.frame.data.columns)) if c != f.response.strip("`")]
    if not include_random:
        needed = [c for c in needed if c not in f.grouping_columns or c in
                  used_columns(type(f)(f.response, f.fixed, (), f.text), list(result.frame.data.columns))]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ColumnNotFoundError(f"newdata lacks column(s) {', '.join(map(repr, missing))} needed for prediction")
    for c in needed:  # keep the fitted model's categories so contrasts line up
        fitted_col = result.frame.data[c]
        if isinstance(fitted_col.dtype, pd.CategoricalDtype) and c not in f.grouping_columns:
            unknown = set(data[c].dropna().astype(str)) - set(fitted_col.cat.categories.astype(str))
            if unknown:
                raise DataError(f"newdata column {c!r} has level(s) {sorted(unknown)} not seen in the fit")
            data[c] = pd.Categorical(data[c].astype(fitted_col.cat.categories.dtype),
                                     categories=fitted_col.cat.categories)
    pred = new_fixed_matrix(result.fixed, data) @ result.solution.beta
    if include_random:
        for term in result.random.terms:
            pred = pred + _term_contribution(result, term, data)
    return pd.Series(pred, index=data.index, name="predicted")
