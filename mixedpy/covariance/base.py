"""A covariance structure: parameters ↔ its matrix, starting values, names for tables.

The same classes describe a residual covariance Σ (``residual="ar1(AVISIT | USUBJID)"``) and, in the
next step, a random-effects covariance G.  A structure of dimension d maps an unconstrained
parameter vector ``par`` to a d × d positive definite matrix; every map is written with numpy
operations that accept complex input, so that exact derivatives come from the complex step
(:func:`matrix_jacobian`).

Conventions
-----------
* ``par[0]`` is always the log of a standard deviation (the homogeneous one, or the first of the
  heterogeneous ones), so that fixing ``par[0] = 0`` normalizes the scale; this is how the residual
  parameterization leaves σ² to be profiled out of the likelihood.
* ``report(par, s2)`` lists the parameters the way SAS PROC MIXED's "Covariance Parameter
  Estimates" does (variances multiplied by σ², correlations as they are).

Glossary
--------
d       dimension (number of time levels)
par     the unconstrained parameters
S       the d × d matrix (relative to σ² when used for residuals)
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np


def bounded(a):
    """a ↦ a / √(1 + a²): an unconstrained number to a correlation in (−1, 1) (complex-safe).

    Examples
    --------
    >>> round(float(bounded(np.array(1.0))), 6)
    0.707107
    """
    return a / np.sqrt(1.0 + a * a)


def unbounded(r):
    """The inverse of :func:`bounded`.

    Examples
    --------
    >>> round(float(unbounded(0.5)), 6)
    0.57735
    >>> round(float(bounded(unbounded(0.5))), 6)
    0.5
    """
    r = np.clip(np.asarray(r, dtype=float), -0.999999, 0.999999)
    return r / np.sqrt(1.0 - r * r)


def dtype_of(par) -> type:
    """float, or complex when the parameters carry a complex step.

    Examples
    --------
    >>> dtype_of(np.array([1.0])), dtype_of(np.array([1.0 + 1e-30j]))
    (dtype('float64'), dtype('complex128'))
    """
    return np.result_type(np.asarray(par).dtype, float)


class CovStructure:
    """Base class of the covariance structures (see the module docstring).

    Parameters
    ----------
    dim : int
        The dimension d.
    labels : sequence of str, optional
        Names of the d positions (time levels) for tables.

    Attributes
    ----------
    name : str
        mixedpy's (and mmrm's) name, e.g. ``"ar1"``.
    sas : str
        SAS PROC MIXED's TYPE=, e.g. ``"AR(1)"``.
    title : str
        Plain-words description for summaries.

    Examples
    --------
    >>> from mixedpy.covariance.serial import AR1
    >>> s = AR1(3, labels=['t1', 't2', 't3'])
    >>> s.dim, s.labels, s.name, s.sas
    (3, ['t1', 't2', 't3'], 'ar1', 'AR(1)')
    >>> isinstance(s, CovStructure)
    True
    """

    name: ClassVar[str] = ""
    sas: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def __init__(self, dim: int, labels=None):
        self.dim = int(dim)
        self.labels = [str(x) for x in labels] if labels is not None else [str(i + 1) for i in range(self.dim)]

    @property
    def npar(self) -> int:
        """Number of unconstrained parameters.

        Examples
        --------
        >>> from mixedpy.covariance.general import US
        >>> US(3).npar
        6
        """
        raise NotImplementedError

    def start(self) -> np.ndarray:
        """Starting parameters: unit variances, zero correlations.

        Examples
        --------
        >>> from mixedpy.covariance.general import CS
        >>> CS(3).start().round(4).tolist()
        [0.0, -0.6931]
        """
        return np.zeros(self.npar)

    def matrix(self, par) -> np.ndarray:
        """The d × d matrix at ``par`` (complex-safe).

        Examples
        --------
        >>> from mixedpy.covariance.general import CS
        >>> CS(3).matrix(np.array([0.0, 0.0])).round(4).tolist()
        [[1.0, 0.25, 0.25], [0.25, 1.0, 0.25], [0.25, 0.25, 1.0]]
        """
        raise NotImplementedError

    def par_names(self) -> list[str]:
        """Names of the unconstrained parameters (for optimizer traces and profiles).

        Examples
        --------
        >>> from mixedpy.covariance.serial import AR1
        >>> AR1(3).par_names()
        ['ar1[0]', 'ar1[1]']
        """
        return [f"{self.name}[{i}]" for i in range(self.npar)]

    def report(self, par, s2: float) -> list[tuple[str, float]]:
        """SAS-style (name, value) pairs at ``par`` with scale σ² = ``s2``.

        Examples
        --------
        >>> from mixedpy.covariance.serial import AR1
        >>> [(n, round(v, 4)) for n, v in AR1(3).report(np.array([0.0, 1.0]), 2.0)]
        [('AR(1)', 0.7071), ('Residual', 2.0)]
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


def matrix_jacobian(structure: CovStructure, par: np.ndarray, free: np.ndarray | None = None,
                    h: float = 1e-30) -> np.ndarray:
    """∂S/∂par_k for every k (or the ``free`` ones) by the complex step: exact to rounding.

    Examples
    --------
    >>> from mixedpy.covariance.serial import AR1
    >>> J = matrix_jacobian(AR1(3), np.array([0.0, 0.5]))
    >>> J.shape
    (2, 3, 3)
    """
    par = np.asarray(par, dtype=float)
    idx = np.arange(len(par)) if free is None else np.asarray(free)
    out = np.zeros((len(idx), structure.dim, structure.dim))
    for j, k in enumerate(idx):
        z = par.astype(complex)
        z[k] += 1j * h
        out[j] = structure.matrix(z).imag / h
    return out
