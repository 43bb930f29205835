"""Genomic relationship matrices from marker genotypes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, DataTypeError, ModelSpecError


def grm(markers: pd.DataFrame, method: str = "vanraden") -> pd.DataFrame:
    """Genomic relationship matrix (VanRaden 2008, method 1).

    With M the individuals × markers matrix of allele counts (0/1/2), p_j the frequency of the
    counted allele (column mean / 2) and W = M − 2p (centred genotypes)::

        G = W Wᵀ / (2 Σ_j p_j (1 − p_j))

    Missing genotypes (NaN) are imputed by the marker mean (they become 0 in W).  Monomorphic markers
    add nothing to either part.

    Parameters
    ----------
    markers : pandas.DataFrame
        Individuals (rows, labelled by the index) × markers (columns); values 0, 1, 2 (dosages
        within [0, 2] are accepted) or missing.
    method : {"vanraden"}
        VanRaden's first method.

    Returns
    -------
    pandas.DataFrame
        n × n, labelled by ``markers.index`` on both axes; usable as ``relmat={"animal": G}``.

    Examples
    --------
    >>> import pandas as pd, mixedpy
    >>> M = pd.DataFrame([[0, 1, 2], [1, 1, 0], [2, 0, 1]], index=["a", "b", "c"])
    >>> mixedpy.grm(M).round(3).loc["a"].tolist()
    [1.462, -0.615, -0.846]
    """
    if str(method).lower() != "vanraden":
        raise ModelSpecError(f"grm method {method!r} is not supported; use 'vanraden'")
    if not isinstance(markers, pd.DataFrame):
        raise DataTypeError(f"markers must be a pandas DataFrame (individuals × markers), got "
                            f"{type(markers).__name__}")
    try:
        M = markers.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataTypeError("markers must be numeric allele counts 0/1/2") from None
    if M.shape[0] < 2 or M.shape[1] < 1:
        raise DataError(f"markers has shape {M.shape}: need at least 2 individuals and 1 marker")
    finite = np.isfinite(M)
    if np.any((M[finite] < 0) | (M[finite] > 2)):
        raise DataError("marker genotypes must be allele counts in [0, 2] (0/1/2 coding)")
    if markers.index.has_duplicates:
        dup = markers.index[markers.index.duplicated()][0]
        raise DataError(f"individual {dup!r} appears twice in markers")
    count = finite.sum(axis=0)
    if np.any(count == 0):
        j = int(np.flatnonzero(count == 0)[0])
        raise DataError(f"marker {markers.columns[j]!r} has no observed genotype")
    mean = np.nansum(M, axis=0) / count
    W = np.where(finite, M - mean, 0.0)
    p = mean / 2.0
    denom = 2.0 * float(np.sum(p * (1.0 - p)))
    if denom <= 0:
        raise DataError("all markers are monomorphic: the genomic relationship matrix is undefined")
    G = (W @ W.T) / denom
    return pd.DataFrame(G, index=markers.index, columns=markers.index)
