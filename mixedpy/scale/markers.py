"""Where the markers of a scan come from: an in-memory array or a PLINK .bed fileset.

* an individuals × markers DataFrame (index: individual ids; columns: marker names) or ndarray (rows:
  ``ids``, else the labels of the relationship matrix), allele counts 0/1/2, NaN missing;
* a PLINK fileset ``"prefix"`` / ``"prefix.bed"`` (with .bim and .fam) read with bed-reader (the
  ``gwas`` extra) chunk by chunk, so the genotype matrix is never held in memory whole; individuals
  are the .fam IIDs, chromosome and position come from the .bim.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, DataTypeError, MissingDependencyError, ModelSpecError
from .relmat import key_strings

__all__ = ["MarkerSource", "bed_path", "marker_source", "open_bed_file", "read_bed_chunk"]


@dataclass
class MarkerSource:
    """Where the markers come from: an in-memory array or a PLINK .bed fileset.

    Examples
    --------
    >>> import numpy as np
    >>> src = marker_source(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]), ["a", "b"], None, None)
    >>> src.kind, src.ids, src.m
    ('array', ['a', 'b'], 3)
    """

    kind: str                     # "array" or "bed"
    ids: list                     # individual keys, one per genotype row
    names: pd.Index               # marker names
    chrom: np.ndarray | None = None
    pos: np.ndarray | None = None
    array: np.ndarray | None = None
    path: str | None = None
    count_A1: bool = True

    @property
    def m(self) -> int:
        """Number of markers.

        Examples
        --------
        >>> import numpy as np
        >>> marker_source(np.zeros((2, 5)), ["a", "b"], None, None).m
        5
        """
        return len(self.names)


def bed_path(markers) -> str | None:
    """The .bed path of a PLINK fileset given by any of its names (None for in-memory markers).

    Examples
    --------
    >>> bed_path("data/cattle"), bed_path("data/cattle.fam"), bed_path([[0.0, 1.0]])
    ('data/cattle.bed', 'data/cattle.bed', None)
    """
    if isinstance(markers, (str, Path)):
        p = Path(markers)
        if p.suffix.lower() in (".bed", ".bim", ".fam"):
            p = p.with_suffix("")
        return str(p.with_suffix(".bed")) if p.suffix == "" else str(p) + ".bed"
    return None


def open_bed_file(path: str, **kwargs):
    """bed-reader's ``open_bed`` (raises MissingDependencyError without bed-reader).

    Examples
    --------
    >>> import os, numpy as np, mixedpy
    >>> bed = os.path.join(os.path.dirname(mixedpy.datasets.__file__), "cattle.bed")
    >>> with open_bed_file(bed) as f:
    ...     f.iid_count, f.sid_count
    (300, 1000)
    """
    try:
        from bed_reader import open_bed
    except ImportError:
        raise MissingDependencyError("reading PLINK .bed files needs bed-reader: pip install "
                                     "'mixedpy[gwas]' (or pip install bed-reader)") from None
    return open_bed(path, **kwargs)


@contextlib.contextmanager
def _no_root_logging_setup():
    """bed-reader logs through the root logger (``logging.info``), which installs a stderr handler on
    it when it has none (``logging.basicConfig``), after which e.g. Dask's INFO messages are printed.
    A NullHandler on the root logger while bed-reader runs prevents that side effect."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    h = logging.NullHandler()
    root.addHandler(h)
    try:
        yield
    finally:
        root.removeHandler(h)


def marker_source(markers, ids, marker_map, default_ids) -> MarkerSource:
    """The markers (a PLINK fileset, a DataFrame or an array with ``ids``) as a :class:`MarkerSource`.

    Examples
    --------
    >>> import os, numpy as np, mixedpy
    >>> bed = os.path.join(os.path.dirname(mixedpy.datasets.__file__), "cattle.bed")
    >>> src = marker_source(bed, None, None, None)
    >>> src.kind, len(src.ids), src.m, src.names[:2].tolist()
    ('bed', 300, 1000, ['snp1_1', 'snp1_2'])
    """
    path = bed_path(markers)
    if path is not None:
        if not Path(path).exists():
            raise DataError(f"PLINK file {path!r} does not exist")
        with _no_root_logging_setup(), open_bed_file(path) as bed:
            src = MarkerSource("bed", key_strings(bed.iid), pd.Index(bed.sid, name="marker"),
                          chrom=np.asarray(bed.chromosome), pos=np.asarray(bed.bp_position), path=path)
        return src
    if isinstance(markers, pd.DataFrame):
        arr = markers.to_numpy(dtype=float, na_value=np.nan)
        row_ids = markers.index if ids is None else ids
        names = pd.Index(markers.columns, name="marker")
    else:
        arr = np.asarray(markers, dtype=float)
        if arr.ndim != 2:
            raise DataTypeError(f"markers must be a 2-D individuals × markers array, got shape {arr.shape}")
        row_ids = ids if ids is not None else default_ids
        if row_ids is None:
            raise ModelSpecError("markers given as an array need ids= (the individual of each row) or a "
                                 "relationship matrix whose labels give the rows' order")
        names = pd.Index(np.arange(arr.shape[1]), name="marker")
    if len(row_ids) != arr.shape[0]:
        raise DataError(f"markers have {arr.shape[0]} rows but {len(row_ids)} individual ids")
    if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 2):
        raise DataError("marker genotypes must be allele counts in [0, 2] (0/1/2 coding)")
    src = MarkerSource("array", key_strings(row_ids), names, array=arr)
    if marker_map is not None:
        mm = marker_map.reindex(names)
        src.chrom = mm["chrom"].to_numpy() if "chrom" in mm else None
        src.pos = mm["pos"].to_numpy() if "pos" in mm else None
    return src


def read_bed_chunk(path: str, rows: np.ndarray, a: int, b: int, num_threads: int | None = None,
                    count_A1: bool = True) -> np.ndarray:
    """Allele counts of the given rows and of markers a … b − 1 from a .bed file (float64, Fortran order).

    Examples
    --------
    >>> import os, numpy as np, mixedpy
    >>> bed = os.path.join(os.path.dirname(mixedpy.datasets.__file__), "cattle.bed")
    >>> read_bed_chunk(bed, np.array([0, 1]), 0, 3).tolist()
    [[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]]
    """
    with _no_root_logging_setup(), open_bed_file(path, count_A1=count_A1, num_threads=num_threads) as bed:
        return bed.read(index=np.s_[rows, a:b], dtype="float64", order="F")
