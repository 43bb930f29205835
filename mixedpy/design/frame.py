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

from ..errors import ColumnNotFoundError, DataError, DataTypeError, MixedpyWarning, RowsDroppedWarning
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

    Examples
    --------
    >>> import mixedpy
    >>> mf = make_frame("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> mf.data.shape, mf.formula.response, len(mf.dropped_rows)
    ((30, 2), 'Yield', 0)
    """

    data: pd.DataFrame
    formula: ModelFormula
    dropped_rows: pd.Index

    @property
    def nobs(self) -> int:
        """Number of complete rows.

        Examples
        --------
        >>> import mixedpy
        >>> make_frame("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).nobs
        30
        """
        return len(self.data)


def as_dataframe(data: object) -> pd.DataFrame:
    """Any DataFrame in, a pandas DataFrame with NumPy-backed columns out.

    Accepted: pandas (NumPy, nullable or pyarrow dtypes), polars, a pyarrow Table, any other eager
    frame that `narwhals <https://narwhals-dev.github.io/narwhals/>`_ supports, and anything
    ``pandas.DataFrame`` accepts (a dict of columns, records).  Columns become what the formula
    machinery expects: numbers as ``int64``/``float64`` (a missing value makes ``NaN``), text as
    ``object`` with ``NaN`` for missing, booleans as ``bool`` (``object`` when a value is missing),
    and categoricals as pandas Categoricals **in their own level order** (pandas categories, a
    polars ``Enum``'s categories, a pyarrow dictionary's order; a polars ``Categorical`` has no
    level order of its own and sorts like text).  The caller's frame is never modified: a pandas
    frame whose columns are all NumPy-backed is returned as is, otherwise a new frame is made.

    Parameters
    ----------
    data : DataFrame-like
        The data.

    Returns
    -------
    pandas.DataFrame
        The same rows and columns (a pandas index is kept; other frames get 0..n-1).

    Raises
    ------
    DataTypeError
        When ``data`` is not a table (naming its type), or a lazy frame that must be collected.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1.5, 2.0], "phase": ["early", "late"]}).convert_dtypes()
    >>> [str(t) for t in df.dtypes]
    ['Float64', 'string']
    >>> out = as_dataframe(df)
    >>> str(out["y"].dtype), out["phase"].tolist()
    ('float64', ['early', 'late'])
    >>> as_dataframe({"x": [1, 2]}).shape
    (2, 1)
    """
    if isinstance(data, pd.DataFrame):
        return _numpy_backed_frame(data)
    if data is None or isinstance(data, (str, bytes, int, float)):
        raise DataTypeError(f"data must be a DataFrame (pandas, polars, pyarrow, ...), got {type(data).__name__}")
    native = _narwhals_frame(data)
    if native is not None:
        return native
    try:
        return _numpy_backed_frame(pd.DataFrame(data))
    except (ValueError, TypeError) as exc:
        raise DataTypeError(f"data must be a DataFrame (pandas, polars, pyarrow, ...) or convertible to "
                            f"one, got {type(data).__name__}: {exc}") from None


def _needs_conversion(dtype) -> bool:
    """Whether a pandas column is backed by anything other than NumPy (nullable, pyarrow, ``string``)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return _needs_conversion(dtype.categories.dtype)
    if isinstance(dtype, np.dtype):
        return False
    if isinstance(dtype, pd.StringDtype) and dtype.na_value is not pd.NA:
        return False  # pandas 3's default "str": NaN for missing, handled everywhere
    return isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
        dtype, (pd.DatetimeTZDtype, pd.PeriodDtype, pd.IntervalDtype, pd.SparseDtype))


def _numpy_backed_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` itself when every column is NumPy-backed, otherwise a new frame whose extension
    columns are converted by :func:`numpy_backed` (the others are shared, never written to)."""
    convert = [i for i, d in enumerate(df.dtypes) if _needs_conversion(d)]
    if not convert:
        return df
    cols = {i: df.iloc[:, i] for i in range(df.shape[1])}
    for i in convert:
        cols[i] = numpy_backed(cols[i])
    out = pd.concat(list(cols.values()), axis=1)
    out.columns = df.columns
    out.attrs = dict(df.attrs)
    return out


def numpy_backed(col: pd.Series) -> pd.Series:
    """One pandas column with NumPy storage (see :func:`as_dataframe` for the mapping).

    Examples
    --------
    >>> import pandas as pd
    >>> numpy_backed(pd.Series([1, None, 3], dtype="Int64")).tolist()
    [1.0, nan, 3.0]
    >>> numpy_backed(pd.Series(pd.Categorical(["b", "a"], categories=["b", "a"]))).cat.categories.tolist()
    ['b', 'a']
    """
    dtype, name, index = col.dtype, col.name, col.index
    if not _needs_conversion(dtype):
        return col
    if isinstance(dtype, pd.CategoricalDtype):
        cats = pd.Index(_plain_values(pd.Series(dtype.categories)), dtype=object)
        cat = pd.Categorical.from_codes(col.cat.codes.to_numpy(), categories=cats, ordered=dtype.ordered)
        return pd.Series(cat, index=index, name=name)
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        if pa.types.is_dictionary(dtype.pyarrow_dtype):  # a pyarrow "categorical": its dictionary order
            chunked = pa.chunked_array(col.array.__arrow_array__()).unify_dictionaries()
            cat = chunked.to_pandas()
            return numpy_backed(pd.Series(pd.Categorical(cat), index=index, name=name))
        if pa.types.is_temporal(dtype.pyarrow_dtype):
            return pd.Series(col.to_numpy(), index=index, name=name)
    return pd.Series(_plain_values(col), index=index, name=name)


def _plain_values(col: pd.Series) -> np.ndarray:
    """The values of a non-NumPy column as a NumPy array: float (NaN) or int64 numbers, bool, or
    object (text, booleans with a missing value) with ``NaN`` for missing."""
    dtype = col.dtype
    missing = col.isna().to_numpy()
    if pd.api.types.is_bool_dtype(dtype):
        if not missing.any():
            return col.to_numpy(dtype=bool)
        out = col.to_numpy(dtype=object, na_value=np.nan)
        return out
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype) and not missing.any():
            return col.to_numpy(dtype=np.int64)
        try:
            return col.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise DataTypeError(f"column {col.name!r} ({dtype}) cannot be read as numbers: {exc}") from None
    return col.to_numpy(dtype=object, na_value=np.nan)


def _narwhals_frame(data: object) -> pd.DataFrame | None:
    """A polars / pyarrow / other eager frame as pandas, column by column through narwhals; None when
    narwhals does not know ``data``."""
    import narwhals.stable.v2 as nw

    try:
        frame = nw.from_native(data, eager_only=True)
    except TypeError:
        try:
            nw.from_native(data)
        except TypeError:
            return None
        raise DataTypeError(f"data is a lazy frame ({type(data).__name__}): collect it first "
                            "(e.g. .collect())") from None
    cols = {}
    for name in frame.columns:
        cols[name] = _narwhals_column(frame.get_column(name), nw)
    return pd.DataFrame(cols, index=pd.RangeIndex(len(frame)))


def _narwhals_column(s, nw) -> object:
    dtype = s.dtype
    name = s.name
    if dtype.is_numeric():
        values = s.to_numpy()
        if dtype.is_integer() and s.null_count() == 0:
            return values.astype(np.int64)
        try:
            return np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataTypeError(f"column {name!r} ({dtype}) cannot be read as numbers: {exc}") from None
    if dtype == nw.Boolean:
        values = np.asarray(s.to_list(), dtype=object)
        if s.null_count() == 0:
            return values.astype(bool)
        values[s.is_null().to_numpy()] = np.nan
        return values
    if dtype == nw.Enum or dtype == nw.Categorical:
        values = np.empty(len(s), dtype=object)
        values[:] = s.to_list()  # the level values (strings, or e.g. numbers in a pyarrow dictionary)
        if dtype == nw.Enum:
            levels = list(dtype.categories)
        elif nw.get_native_namespace(s).__name__ == "polars":
            levels = sorted(v for v in set(values) if v is not None)  # polars: lexical order
        else:
            levels = [v for v in s.cat.get_categories().to_list() if v is not None]
        return pd.Categorical(values, categories=pd.Index(levels))
    if dtype == nw.String:
        values = np.asarray(s.to_list(), dtype=object)
        values[s.is_null().to_numpy()] = np.nan
        return values
    if dtype.is_temporal():
        return s.to_numpy()
    values = np.empty(len(s), dtype=object)  # lists, structs, ...: kept as objects; checked when used
    values[:] = s.to_list()
    return values


def referenced_names(expr: str) -> list[str]:
    """Identifiers an expression refers to: backticked names and bare names not called as functions.

    Examples
    --------
    >>> referenced_names("log(y) + C(a, levels=['x']) + `b c` + np.sqrt(d)")
    ['y', 'a', 'b c', 'd']
    """
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
    """The data columns the formula uses, in a stable order; raises for unknown names.

    Examples
    --------
    >>> from mixedpy.formula import parse_formula
    >>> f = parse_formula("y ~ x + (1 | g)", ["y", "x", "g", "z"], ["y", "x"])
    >>> used_columns(f, ["y", "x", "g", "z"])
    ['y', 'x', 'g']
    >>> used_columns(parse_formula("y ~ xx", ["y", "xx"], ["y"]), ["y", "x"])
    Traceback (most recent call last):
    ...
    mixedpy.errors.ColumnNotFoundError: column 'xx' (fixed effects) is not in the data; did you mean 'x'?
    """
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
    """Numeric and not boolean (booleans are factors in formulas).

    Examples
    --------
    >>> import numpy as np
    >>> is_number(np.dtype(float)), is_number(np.dtype(bool)), is_number(np.dtype(object))
    (True, False, False)
    """
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def complete_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows without missing values; raises for infinite numbers (naming the column and a row).

    Examples
    --------
    >>> import pandas as pd
    >>> complete_rows(pd.DataFrame({"y": [1.0, None, 3.0], "g": ["a", "b", None]})).tolist()
    [True, False, False]
    """
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


def check_column_types(frame: pd.DataFrame, formula: ModelFormula) -> None:
    """Raise :class:`DataTypeError` naming the first used column whose values a model cannot use:
    nested values (lists, dicts, arrays), complex numbers, and dates or times outside grouping factors.

    Examples
    --------
    >>> import pandas as pd
    >>> from mixedpy.formula import parse_formula
    >>> df = pd.DataFrame({"y": [1.0, 2.0], "x": [[1], [2]]})
    >>> check_column_types(df, parse_formula("y ~ x", ["y", "x"], ["y"]))
    Traceback (most recent call last):
    ...
    mixedpy.errors.DataTypeError: column 'x' holds list values; a model needs one number or one level per row
    """
    in_terms = set(referenced_names(formula.response)) | set(referenced_names(formula.fixed))
    for t in formula.random:
        in_terms |= set(referenced_names(t.expr))
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_complex_dtype(col.dtype):
            raise DataTypeError(f"column {name!r} holds complex numbers; mixedpy needs real numbers")
        if col.dtype == object:
            nested = col.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray))).to_numpy(dtype=bool)
            if nested.any():
                kind = type(col.to_numpy()[nested][0]).__name__
                raise DataTypeError(f"column {name!r} holds {kind} values; a model needs one number or one "
                                    "level per row")
        if name in in_terms and (pd.api.types.is_datetime64_any_dtype(col.dtype)
                                 or pd.api.types.is_timedelta64_dtype(col.dtype)):
            raise DataTypeError(f"column {name!r} holds dates or times ({col.dtype}); use numbers in the "
                                "formula (e.g. days since the start) or a factor (C(...) of its text)")


def make_frame(formula: str | ModelFormula, data: object, binary_warning: bool = True) -> ModelFrame:
    """Parse the formula against the data, check the columns and drop incomplete rows.

    ``data`` is any DataFrame :func:`as_dataframe` accepts (pandas, polars, pyarrow, ...).

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
    check_column_types(sub, formula)
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
    if binary_warning:  # a GLMM (family=...) does not warn
        warn_binary_response(sub, formula)
    return ModelFrame(data=sub, formula=formula, dropped_rows=dropped)


def warn_binary_response(frame: pd.DataFrame, formula: ModelFormula) -> None:
    """A 0/1 response without ``family=`` is fitted as a Gaussian linear mixed model (a linear
    probability model): say so, and point to ``family="binomial"``, instead of fitting it without a word.

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> from mixedpy.formula import parse_formula
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_binary_response(pd.DataFrame({"y": [0, 1, 1]}), parse_formula("y ~ 1", ["y"], ["y"]))
    >>> "0 and 1" in str(w[0].message)
    True
    """
    name = formula.response.strip().strip("`")
    if name not in frame.columns or not is_number(frame[name].dtype):
        return
    values = np.unique(frame[name].to_numpy(dtype=float))
    if len(values) == 2 and set(values.tolist()) == {0.0, 1.0}:
        warnings.warn(f"the response {name!r} has only the values 0 and 1: mixedpy fits it as a Gaussian "
                      "linear mixed model (a linear probability model); generalized mixed models "
                      "are fitted with family='binomial' (as lme4's glmer)", MixedpyWarning, stacklevel=5)


def level_labels(values) -> pd.Index:
    """The spelling of grouping levels: ``str`` of each value, except that whole numbers stored as
    floats (a column of integer ids that a missing value turned into float) are spelled as the
    integers they are, so that 308.0 and 308 are one level, as R's factor() makes them.

    Examples
    --------
    >>> level_labels([308.0, 309.5, 1]).tolist()
    ['308', '309.5', '1']
    """
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
    missing: the labels :func:`grouping_factor` gives the fitted levels.

    Examples
    --------
    >>> import pandas as pd
    >>> group_labels(pd.DataFrame({"a": ["x", "y", None], "b": [1, 2, 3]}), ["a", "b"]).tolist()
    ['x:1', 'y:2', nan]
    """
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

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"g": pd.Categorical(["b", "a", "b"], categories=["b", "a", "c"])})
    >>> codes, labels = grouping_factor(df, ("g",))
    >>> codes.tolist(), labels.tolist()
    ([0, 1, 0], ['b', 'a'])
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
