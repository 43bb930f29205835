"""The model frame of a fit with ``residual=`` or ``weights=``: the SPEC's columns and the weights
are checked and aligned with the rows the formula uses, and the ResidualDesign is built.

Rows with a missing value in a SPEC column or weight are dropped with the formula's incomplete
rows (one RowsDroppedWarning each); the caller's DataFrame is never modified.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..covariance.parse import parse_residual
from ..covariance.residual import ResidualDesign, residual_design
from ..design.frame import ModelFrame, as_dataframe, make_frame
from ..errors import ColumnNotFoundError, DataError, ModelSpecError, RowsDroppedWarning


def _weights(weights, df: pd.DataFrame) -> np.ndarray:
    if isinstance(weights, str):
        if weights not in df.columns:
            raise ColumnNotFoundError(f"column {weights!r} (weights) is not in the data")
        col = df[weights]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            raise DataError(f"weights column {weights!r} must be numeric, got {col.dtype}")
        return col.to_numpy(dtype=float, na_value=np.nan)
    try:
        w = np.asarray(weights, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ModelSpecError(f"weights must be a column name or an array of numbers, got "
                             f"{type(weights).__name__}") from None
    if len(w) != len(df):
        raise DataError(f"weights has {len(w)} values for {len(df)} rows of data")
    return w


def residual_frame(formula, data, residual: str | None, weights) -> tuple[ModelFrame, ResidualDesign]:
    """The frame and the residual design (see the module docstring).

    Examples
    --------
    >>> import mixedpy
    >>> frame, rd = residual_frame("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"),
    ...                            "ar1(Days | Subject)", None)
    >>> rd.nphi, len(rd.batches), rd.batches[0].rows.shape
    (1, 1, (18, 10))
    """
    df = as_dataframe(data)
    term = parse_residual(residual) if residual is not None else None
    cols = term.columns if term is not None else []
    for c in cols:
        if c not in df.columns:
            raise ColumnNotFoundError(f"column {c!r} (residual={residual!r}) is not in the data")
    ok = np.ones(len(df), dtype=bool)
    for c in cols:
        ok &= ~df[c].isna().to_numpy()
    w = None
    if weights is not None:
        w = _weights(weights, df)
        if np.any(np.isinf(w)):
            raise DataError("weights has infinite values")
        ok &= ~np.isnan(w)
        if np.any(w[ok] <= 0):
            bad = df.index[ok & (w <= 0)][0]
            raise DataError(f"weights must be positive; row {bad!r} has {w[df.index.get_loc(bad)]!r}"
                            if df.index.is_unique else "weights must be positive")
    positional = df.set_axis(pd.RangeIndex(len(df)), axis=0)
    if not ok.all():
        warnings.warn(f"{int((~ok).sum())} of {len(df)} rows dropped for missing values in the "
                      f"residual columns or weights", RowsDroppedWarning, stacklevel=4)
        positional = positional.loc[ok]
    frame = make_frame(formula, positional)
    pos = frame.data.index.to_numpy()
    used = np.zeros(len(df), dtype=bool)
    used[pos] = True
    data_out = frame.data.set_axis(df.index[pos], axis=0)
    frame = ModelFrame(data=data_out, formula=frame.formula, dropped_rows=df.index[~used])
    aux = pd.DataFrame({c: df[c].to_numpy()[pos] for c in cols}, index=data_out.index)
    for c in cols:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            aux[c] = pd.Categorical(aux[c], categories=df[c].cat.categories, ordered=df[c].cat.ordered)
    rd = residual_design(term, aux, None if w is None else w[pos].copy())
    return frame, rd
