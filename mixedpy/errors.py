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
    """Base class of every exception mixedpy raises for bad input."""


class FormulaError(MixedpyError, ValueError):
    """The model formula is malformed (syntax, empty grouping, unknown operator)."""


class DataError(MixedpyError, ValueError):
    """The data cannot support the model (non-finite values, too few rows or levels)."""


class ColumnNotFoundError(MixedpyError, KeyError):
    """A column named in the formula is not in the data."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class DataTypeError(MixedpyError, TypeError):
    """An argument has the wrong type (e.g. ``data`` is not a DataFrame, a response is not numeric)."""


class ModelSpecError(MixedpyError, ValueError):
    """An option of the fit is invalid (unknown method, bad ``relmat`` or ``variances`` entry)."""


class PedigreeError(MixedpyError, ValueError):
    """A pedigree is inconsistent (an animal its own ancestor, listed twice with different parents,
    a sire also used as a dam)."""


class MissingDependencyError(MixedpyError, ImportError):
    """An optional dependency is not installed: matplotlib (the ``plot`` extra), bed-reader (the ``gwas``
    extra) or dask (the ``dask`` extra)."""


class SplineError(MixedpyError, ValueError):
    """lme4 would fail to build or invert the spline through a likelihood profile (non-monotone, too
    few points); :func:`mixedpy.inference.profile.profile_intervals` then uses the exact roots."""


class FrozenResultError(MixedpyError, AttributeError):
    """An attempt to change a fitted result (results are frozen: use ``result.refit(...)``)."""


class MixedpyWarning(UserWarning):
    """Base class of mixedpy's warnings."""


class SingularFitWarning(MixedpyWarning):
    """The estimated random-effects covariance is singular (a variance at 0 or a correlation at ±1)."""


class ConvergenceWarning(MixedpyWarning):
    """The optimizer stopped without meeting its convergence criteria."""


class RowsDroppedWarning(MixedpyWarning):
    """Rows with missing values in a used column were dropped before fitting."""


class ColumnsDroppedWarning(MixedpyWarning):
    """Aliased (linearly dependent) fixed-effect columns were dropped."""


class NegativeVarianceWarning(MixedpyWarning):
    """A method-of-moments (ANOVA) estimate of a variance component is negative."""


class ProfileWarning(MixedpyWarning):
    """A likelihood profile is not monotone where lme4 would interpolate it, so its exact roots were used."""


class UnidentifiableWarning(MixedpyWarning):
    """Two random terms group the observations identically (e.g. ``(1 | d) + (1 | d:dept)`` when every
    d belongs to one dept): only the sum of their variances is determined."""
