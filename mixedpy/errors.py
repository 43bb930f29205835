"""One exception tree and the warning classes of mixedpy.

Every error mixedpy raises is a :class:`MixedpyError` and also a subclass of the builtin
``ValueError``, ``TypeError``, ``KeyError`` or ``ImportError`` it corresponds to, so ``except ValueError``
in user code keeps working.  Messages name the column, term, level or value at fault.

Warnings have their own classes so that users can filter them precisely::

    import warnings, mixedpy
    warnings.simplefilter("ignore", mixedpy.errors.SingularFitWarning)
"""
from __future__ import annotations

__all__ = [
    "ColumnNotFoundError",
    "ColumnsDroppedWarning",
    "ConvergenceWarning",
    "DataError",
    "DataTypeError",
    "FormulaError",
    "MissingDependencyError",
    "MixedpyError",
    "MixedpyWarning",
    "ModelSpecError",
    "NegativeVarianceWarning",
    "PedigreeError",
    "ProfileWarning",
    "RowsDroppedWarning",
    "SingularFitWarning",
    "SplineError",
    "UnidentifiableWarning",
]


class MixedpyError(Exception):
    """Base class of every exception mixedpy raises for bad input.

    Examples
    --------
    >>> issubclass(FormulaError, MixedpyError), issubclass(FormulaError, ValueError)
    (True, True)
    >>> import mixedpy
    >>> try:
    ...     mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="magic")
    ... except MixedpyError as err:
    ...     print(type(err).__name__, "|", err)
    ModelSpecError | method 'magic' is not supported; use one of reml, ml, anova, bayes
    """


class FormulaError(MixedpyError, ValueError):
    """The model formula is malformed (syntax, empty grouping, unknown operator).

    Examples
    --------
    >>> import mixedpy
    >>> try:
    ...     mixedpy.fit("Yield ~ 1 + (1 | )", mixedpy.datasets.load("dyestuff"))
    ... except FormulaError as err:
    ...     print(type(err).__name__, "|", err)
    FormulaError | random term (1 | ) has no grouping factor after '|'
    """


class DataError(MixedpyError, ValueError):
    """The data cannot support the model (non-finite values, too few rows or levels).

    Examples
    --------
    >>> import mixedpy
    >>> try:
    ...     mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff").head(1))
    ... except DataError as err:
    ...     print(type(err).__name__, "|", err)
    DataError | 1 observations are too few for 1 fixed-effect coefficients
    """


class ColumnNotFoundError(MixedpyError, KeyError):
    """A column named in the formula is not in the data.

    Examples
    --------
    >>> import mixedpy
    >>> try:
    ...     mixedpy.fit("Yield ~ 1 + (1 | Plate)", mixedpy.datasets.load("dyestuff"))
    ... except KeyError as err:
    ...     print(type(err).__name__, "|", err)
    ColumnNotFoundError | column 'Plate' (grouping factor of (1 | Plate)) is not in the data
    """

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class DataTypeError(MixedpyError, TypeError):
    """An argument has the wrong type (e.g. ``data`` is not a DataFrame, a response is not numeric).

    Examples
    --------
    >>> import mixedpy
    >>> try:
    ...     mixedpy.fit("Batch ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    ... except TypeError as err:
    ...     print(type(err).__name__, "|", err)
    DataTypeError | response 'Batch' must be numeric, got dtype category
    """


class ModelSpecError(MixedpyError, ValueError):
    """An option of the fit is invalid (unknown method, bad ``relmat`` or ``variances`` entry).

    Examples
    --------
    >>> import mixedpy
    >>> try:
    ...     mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="magic")
    ... except ValueError as err:
    ...     print(type(err).__name__, "|", err)
    ModelSpecError | method 'magic' is not supported; use one of reml, ml, anova, bayes
    """


class PedigreeError(MixedpyError, ValueError):
    """A pedigree is inconsistent (an animal its own ancestor, listed twice with different parents,
    a sire also used as a dam).

    Examples
    --------
    >>> import pandas as pd
    >>> import mixedpy
    >>> try:
    ...     mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [1, 2], "sire": [2, 1], "dam": [None, None]}))
    ... except PedigreeError as err:
    ...     print(type(err).__name__, "|", err)
    PedigreeError | animal 1 is its own ancestor (offspring → parent: 1 → 2 → 1); check the pedigree for swapped ids
    """


class MissingDependencyError(MixedpyError, ImportError):
    """An optional dependency is not installed: matplotlib (the ``plot`` extra), bed-reader (the ``gwas``
    extra) or dask (the ``dask`` extra).

    Examples
    --------
    >>> issubclass(MissingDependencyError, ImportError), issubclass(MissingDependencyError, MixedpyError)
    (True, True)
    """


class SplineError(MixedpyError, ValueError):
    """lme4 would fail to build or invert the spline through a likelihood profile (non-monotone, too
    few points); :func:`mixedpy.inference.profile.profile_intervals` then uses the exact roots.

    Examples
    --------
    >>> import numpy as np
    >>> from mixedpy.inference.profile_spline import back_spline
    >>> try:
    ...     back_spline(np.arange(5.0), np.array([0.0, 1.0, 0.5, 2.0, 3.0]))
    ... except SplineError as err:
    ...     print(err)
    profile is not monotone
    """


class FrozenResultError(MixedpyError, AttributeError):
    """An attempt to change a fitted result (results are frozen: use ``result.refit(...)``).

    Examples
    --------
    >>> import mixedpy
    >>> try:
    ...     mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).sigma = 1.0
    ... except FrozenResultError as err:
    ...     print(type(err).__name__, "|", err)
    FrozenResultError | LmmResult is frozen: cannot set 'sigma'
    """


class MixedpyWarning(UserWarning):
    """Base class of mixedpy's warnings.

    Examples
    --------
    >>> all(issubclass(w, MixedpyWarning) for w in (SingularFitWarning, ConvergenceWarning, RowsDroppedWarning))
    True
    """


class SingularFitWarning(MixedpyWarning):
    """The estimated random-effects covariance is singular (a variance at 0 or a correlation at ±1).

    Examples
    --------
    >>> import warnings, mixedpy
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff2"))
    >>> [w.category.__name__ for w in caught]
    ['SingularFitWarning']
    """


class ConvergenceWarning(MixedpyWarning):
    """The optimizer stopped without meeting its convergence criteria.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ConvergenceWarning)  # non-convergence becomes an error
    ...     issubclass(ConvergenceWarning, UserWarning)
    True
    """


class RowsDroppedWarning(MixedpyWarning):
    """Rows with missing values in a used column were dropped before fitting.

    Examples
    --------
    >>> import warnings, mixedpy
    >>> d = mixedpy.datasets.load("dyestuff")
    >>> d["Yield"] = d["Yield"].where(d.index > 0)  # first row missing
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", d)
    >>> [w.category.__name__ for w in caught]
    ['RowsDroppedWarning']
    """


class ColumnsDroppedWarning(MixedpyWarning):
    """Aliased (linearly dependent) fixed-effect columns were dropped.

    Examples
    --------
    >>> import warnings, mixedpy
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mixedpy.fit("Yield ~ 1 + x + (1 | Batch)", mixedpy.datasets.load("dyestuff").assign(x=1.0))
    >>> [w.category.__name__ for w in caught]
    ['ColumnsDroppedWarning']
    """


class NegativeVarianceWarning(MixedpyWarning):
    """A method-of-moments (ANOVA) estimate of a variance component is negative.

    Examples
    --------
    >>> import warnings, mixedpy
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff2"), method="anova")
    >>> [w.category.__name__ for w in caught]
    ['NegativeVarianceWarning']
    """


class ProfileWarning(MixedpyWarning):
    """A likelihood profile is not monotone where lme4 would interpolate it, so its exact roots were used.

    Examples
    --------
    >>> issubclass(ProfileWarning, MixedpyWarning)
    True
    """


class UnidentifiableWarning(MixedpyWarning):
    """Two random terms group the observations identically (e.g. ``(1 | d) + (1 | d:dept)`` when every
    d belongs to one dept): only the sum of their variances is determined.

    Examples
    --------
    >>> issubclass(UnidentifiableWarning, MixedpyWarning)
    True
    """
