"""Covariance structures (for residuals Σ now, for random effects G next) and their SPEC strings.

>>> from mixedpy.covariance import STRUCTURES
>>> sorted(STRUCTURES)[:4]
['ad', 'adh', 'ar1', 'ar1h']
"""
from .base import CovStructure, matrix_jacobian
from .general import CS, CSH, US, Diag, Scalar
from .serial import AD, ADH, AR1, AR1H, Toep, ToepH
from .spatial import AR1xAR1, SpExp

#: name → class of every structure over time levels or coordinates
STRUCTURES = {c.name: c for c in (US, Diag, CS, CSH, AR1, AR1H, Toep, ToepH, AD, ADH, SpExp, AR1xAR1)}

__all__ = [
           "AD",
           "ADH",
           "AR1",
           "AR1H",
           "CS",
           "CSH",
           "STRUCTURES",
           "US",
           "AR1xAR1",
           "CovStructure",
           "Diag",
           "Scalar",
           "SpExp",
           "Toep",
           "ToepH",
           "matrix_jacobian",
]
