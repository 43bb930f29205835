"""The relationship matrix of a marker scan, matched to individuals by key.

Individual ids are compared as strings (:func:`mixedpy.genetics.pedigree.key_string`), so that the ids
of the data, of the relationship matrix and of the marker rows (a .fam file's IIDs) match whatever
their dtype.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, DataTypeError, ModelSpecError

__all__ = ["key_strings", "matrix_for", "relmat_frame"]


def key_strings(values) -> list[str]:
    """The keys by which individuals are matched (ids as strings).

    Examples
    --------
    >>> key_strings([3, 3.0, "4"])
    ['3', '3', '4']
    """
    from ..genetics.pedigree import key_string
    return [key_string(v) for v in values]


def relmat_frame(K) -> pd.DataFrame:
    """A relationship matrix as a square labelled DataFrame (a Pedigree gives its dense A).

    Examples
    --------
    >>> import mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> relmat_frame(ped).shape  # a pedigree gives its dense A
    (8, 8)
    """
    from ..genetics import Pedigree
    if isinstance(K, Pedigree):
        return K.A
    if not isinstance(K, pd.DataFrame):
        raise DataTypeError(f"a relationship matrix must be a square pandas DataFrame labelled by "
                            f"individual, or a mixedpy.Pedigree; got {type(K).__name__}")
    if K.shape[0] != K.shape[1]:
        raise ModelSpecError(f"the relationship matrix must be square, got shape {K.shape}")
    return K


def matrix_for(K: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """K restricted to (and ordered by) the given individual keys (rows and columns).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> K = pd.DataFrame(np.array([[1.0, 0.5], [0.5, 2.0]]), index=[1, 2], columns=[1, 2])
    >>> matrix_for(K, ["2", "1"]).tolist()
    [[2.0, 0.5], [0.5, 1.0]]
    """
    rk = pd.Index(key_strings(K.index))
    ck = pd.Index(key_strings(K.columns))
    ri, ci = rk.get_indexer(keys), ck.get_indexer(keys)
    if np.any(ri < 0) or np.any(ci < 0):
        missing = [k for k, a, b in zip(keys, ri, ci) if a < 0 or b < 0]
        raise DataError(f"{len(set(missing))} individual(s) of the data are not in the relationship "
                        f"matrix, e.g. {missing[0]!r}")
    return np.asarray(K.to_numpy(dtype=float)[np.ix_(ri, ci)])
