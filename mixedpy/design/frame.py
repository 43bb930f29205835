"""Data → model frame: checks on the columns, the missing-value policy, grouping-factor codes.

The caller's DataFrame is never modified: the frame holds a copy of the used columns only.
"""
from __future__ import annotations

import difflib
import keyword
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ColumnNotFoundError, DataError, DataTypeError, RowsDroppedWarning
from ..formula import ModelFormula, parse_formula

_IDENT = re.compile(r"`([^`]*)`|([A-Za-z_][A-Za-z0-9_.]*)")
_NOT_COLUMNS = {"np", "numpy", "True", "False", "None", "pi", "inf", "nan"}


@dataclass(frozen=True)
class ModelFrame:
    """The rows and columns a model uses, after dropping incomplete rows.

    Attributes
    ----------
    data : pandas.DataFrame
        Copy of the used columns of the complete rows (original index kept).
    formula : ModelFormula
        The parsed formula.
    dropped_rows : pandas.Index
        Index labels of the caller's rows dropped for missing values.
    """

    data: pd.DataFrame
    formula: ModelFormula
    dropped_rows: pd.Index

    @property
    def nobs(self) -> int:
        return len(self.data)


def as_dataframe(data: object) -> pd.DataFrame:
    """Accept a DataFrame or anything pandas turns into one (dict of columns, records)."""
    if isinstance(data, pd.DataFrame):
        return data
    if data is None or isinstance(data, (str, bytes, int, float)):
        raise DataTypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    try:
        return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise DataTypeError(f"data must be a pandas DataFrame (or convertible to one), got "
                            f"{type(data).__name__}: {exc}") from None


def referenced_names(expr: str) -> list[str]:
    """Identifiers an expression refers to: backticked names and bare names not called as functions."""
    names = []
    for m in _IDENT.finditer(re.sub(r"'[^']*'|\"[^\"]*\"", "''", expr)):
        if m.group(1) is not None:
            names.append(m.group(1))
            continue
        name, rest = m.group(2), expr[m.end():].lstrip()
        start = m.start()
        keyword_argument = rest.startswith("=") and not rest.startswith("==")  # C(x, levels=[...])
        if rest.startswith("(") or keyword_argument or (start > 0 and (expr[start - 1].isdigit()
                                                                        or expr[start - 1] == ".")):
            continue
        if keyword.iskeyword(name) or name in _NOT_COLUMNS or "." in name and name.split(".")[0] in _NOT_COLUMNS:
            continue
        names.append(name)
    return names


def _missing_column(name: str, columns: list[str], where: str) -> ColumnNotFoundError:
    close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ColumnNotFoundError(f"column {name!r} ({where}) is not in the data{hint}")


def _is_transform(name: str) -> bool:
    """Whether a bare name is one of formulaic's transforms or codings (``Sum``, ``contr.sum``)."""
    from formulaic.transforms import TRANSFORMS

    return name in TRANSFORMS or name.split(".")[0] in TRANSFORMS


def used_columns(formula: ModelFormula, columns: list[str]) -> list[str]:
    """The data columns the formula uses, in a stable order; raises for unknown names."""
    pieces = [(formula.response, "response"), (formula.fixed, "fixed effects")]
    pieces += [(t.expr, f"random term {t}") for t in formula.random]
    out: dict[str, None] = {}
    colset = set(columns)
    for expr, where in pieces:
        for name in referenced_names(expr):
            if name not in colset:
                if _is_transform(name):  # e.g. C(f, contr.sum) or C(f, Sum): a coding, not a column
                    continue
                raise _missing_column(name, columns, where)
            out[name] = None
    for t in formula.random:
        for g in t.group:
            if g not in colset:
                raise _missing_column(g, columns, f"grouping factor of {t}")
            out[g] = None
    return list(out)


def is_number(dtype) -> bool:
    """Numeric and not boolean (booleans are factors in formulas)."""
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def complete_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows without missing values; raises for infinite numbers (naming the column and a row)."""
    ok = np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        col = frame[name]
        if is_number(col.dtype):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(values).any():
                raise DataError(f"column {name!r} has infinite values (e.g. row "
                                f"{frame.index[np.isinf(values)][0]!r}); mixedpy needs finite numbers")
            ok &= ~np.isnan(values)
        else:
            ok &= ~col.isna().to_numpy()
    return ok


def make_frame(formula: str | ModelFormula, data: object) -> ModelFrame:
    """Parse the formula against the data, check the columns and drop incomplete rows.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1.0, 2.0, None, 4.0], "g": list("aabb")})
    >>> import warnings; warnings.simplefilter("ignore")
    >>> make_frame("y ~ 1 + (1 | g)", df).nobs
    3
    """
    df = as_dataframe(data)
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns):
        dup = pd.Index(columns)[pd.Index(columns).duplicated()][0]
        raise DataError(f"column name {dup!r} appears more than once in the data")
    numeric = [str(c) for c, d in df.dtypes.items() if is_number(d)]
    if not isinstance(formula, ModelFormula):
        formula = parse_formula(formula, columns, numeric)
    cols = used_columns(formula, columns)
    wanted = set(cols)
    # a copy of the used columns (the caller's frame is never touched)
    sub = pd.DataFrame({str(c): df[c].array.copy() for c in df.columns if str(c) in wanted}, index=df.index)
    complete = complete_rows(sub)
    if not complete.all():
        dropped = sub.index[~complete]
        warnings.warn(f"{len(dropped)} of {len(sub)} rows dropped for missing values in "
                      f"{', '.join(repr(c) for c in sub.columns[sub.isna().any()])}; "
                      "see the result's dropped_rows", RowsDroppedWarning, stacklevel=3)
        sub = sub.loc[complete]
    else:
        dropped = sub.index[:0]
    if len(sub) == 0:
        raise DataError("no complete rows left after dropping rows with missing values in "
                        f"{', '.join(repr(c) for c in cols)}")
    return ModelFrame(data=sub, formula=formula, dropped_rows=dropped)


def level_labels(values) -> pd.Index:
    """The spelling of grouping levels: ``str`` of each value, except that whole numbers stored as
    floats (a column of integer ids that a missing value turned into float) are spelled as the
    integers they are, so that 308.0 and 308 are one level, as R's factor() makes them."""
    idx = pd.Index(values)
    if idx.dtype.kind == "f":
        vals = idx.to_numpy(dtype=float)
        whole = np.isfinite(vals) & (vals == np.round(vals)) & (np.abs(vals) < 2 ** 53)
        out = np.array(idx.astype(str), dtype=object)
        out[whole] = [str(int(v)) for v in vals[whole]]
        out[np.isnan(vals)] = np.nan
        return pd.Index(out, dtype=object)
    return idx.astype(str)


def group_labels(data: pd.DataFrame, columns) -> pd.Series:
    """Each row's level label of the interaction of ``columns`` (``"a:b"``), NaN where a value is
    missing: the labels :func:`grouping_factor` gives the fitted levels."""
    parts = []
    for c in columns:
        lab = pd.Series(level_labels(data[c].to_numpy()), index=data.index, dtype=object)
        lab[data[c].isna().to_numpy()] = np.nan
        parts.append(lab)
    out = parts[0]
    for lab in parts[1:]:
        out = out.str.cat(lab, sep=":")  # NaN in any part gives NaN
    return out


def grouping_factor(frame: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (0..L-1) and level labels of the interaction of ``columns``.

    Levels of one column follow its categories (for a Categorical) or its sorted unique values;
    levels of an interaction are labelled ``"a_level:b_level"``.  Only observed levels are kept.
    """
    codes_list, labels_list = [], []
    for c in columns:
        col = frame[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cat = col.cat.remove_unused_categories()
        else:
            try:
                codes, uniques = pd.factorize(col, sort=True)
            except TypeError:  # mixed types that do not sort: sort their spellings
                codes, uniques = pd.factorize(col.astype(str), sort=True)
            codes_list.append(codes.astype(np.int64))
            labels_list.append(level_labels(uniques))
            continue
        codes_list.append(np.asarray(cat.cat.codes, dtype=np.int64))
        labels_list.append(level_labels(cat.cat.categories))
    if len(columns) == 1:
        return codes_list[0], labels_list[0]
    sizes = [len(lab) for lab in labels_list]
    combined = np.ravel_multi_index(codes_list, sizes)
    uniq, codes = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(uniq, sizes)
    pieces = [pd.Series(labels_list[k][parts[k]]) for k in range(len(columns))]
    labels = pieces[0].str.cat(pieces[1:], sep=":")
    return codes.astype(np.int64), pd.Index(labels)
