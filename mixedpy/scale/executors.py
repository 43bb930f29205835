"""Running the chunks of a marker scan: one after the other locally, or as Dask tasks.

With a Dask client the rotation (L, Q̃, r̃: about 8n² bytes) is scattered once to every worker and each
chunk is one task (a .bed chunk is read by the worker itself) run with one BLAS thread.  Locally the
chunks run one after the other, the triangular solve with all BLAS threads.  Both run
:func:`~mixedpy.scale.rotation.test_chunk`, so local and Dask results are identical.
"""
from __future__ import annotations

import uuid

import numpy as np

from ..errors import DataTypeError
from ..progress import tqdm
from .markers import MarkerSource, read_bed_chunk
from .rotation import Rotation, test_chunk

__all__ = ["local_chunk", "run_dask", "run_local"]


def _bed_chunk_task(rot: Rotation, path: str, rows: np.ndarray, a: int, b: int, count_A1: bool):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return test_chunk(rot, read_bed_chunk(path, rows, a, b, num_threads=1, count_A1=count_A1),
                          owned=True)


def _array_chunk_task(rot: Rotation, G: np.ndarray):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return test_chunk(rot, G)


def local_chunk(rot: Rotation, src: MarkerSource, geno_rows: np.ndarray, a: int, b: int) -> np.ndarray:
    """Test markers ``a:b`` of ``src`` (genotype rows ``geno_rows``) in this process.

    Examples
    --------
    >>> import numpy as np
    >>> from mixedpy.scale.markers import marker_source
    >>> from mixedpy.scale.rotation import Rotation, whiten
    >>> L, Q, r, _ = whiten(np.eye(6), np.ones((6, 1)), np.array([1.0, 2.0, 0.5, 3.0, 2.5, 1.5]))
    >>> rot = Rotation(L, Q, r, None, np.ones(6), "wald")
    >>> G = np.array([[0, 1], [1, 1], [2, 0], [0, 2], [1, 1], [2, 0]], dtype=float)
    >>> src = marker_source(G, list("abcdef"), None, None)
    >>> local_chunk(rot, src, np.arange(6), 0, 2)[:, 3].round(4).tolist()  # p-values
    [0.3173, 0.1023]
    """
    if src.kind == "bed":
        G = read_bed_chunk(src.path, geno_rows, a, b, count_A1=src.count_A1)
    else:
        G = np.asfortranarray(src.array[geno_rows, a:b])
    return test_chunk(rot, G, owned=True)


def run_local(rot: Rotation, src: MarkerSource, geno_rows: np.ndarray, bounds: list, progress: bool | None) -> list:
    """Chunks one after the other, the triangular solve using all BLAS threads (scipy's holds the GIL,
    so a thread pool would not help); see :func:`test_chunk` for why the numbers are those of a Dask
    worker running the same chunk with one thread.

    Examples
    --------
    >>> import numpy as np
    >>> from mixedpy.scale.markers import marker_source
    >>> from mixedpy.scale.rotation import Rotation, whiten
    >>> L, Q, r, _ = whiten(np.eye(6), np.ones((6, 1)), np.array([1.0, 2.0, 0.5, 3.0, 2.5, 1.5]))
    >>> rot = Rotation(L, Q, r, None, np.ones(6), "wald")
    >>> G = np.array([[0, 1], [1, 1], [2, 0], [0, 2], [1, 1], [2, 0]], dtype=float)
    >>> src = marker_source(G, list("abcdef"), None, None)
    >>> parts = run_local(rot, src, np.arange(6), [(0, 1), (1, 2)], progress=False)
    >>> [p.shape for p in parts]
    [(1, 6), (1, 6)]
    """
    parts = []
    for a, b in tqdm(bounds, desc="scan", progress=progress, leave=False):
        parts.append(local_chunk(rot, src, geno_rows, a, b))
    return parts


def run_dask(client, rot: Rotation, src: MarkerSource, geno_rows: np.ndarray, bounds: list, progress: bool | None):
    """The chunks as tasks of a ``dask.distributed.Client`` (the rotation scattered once to every worker).

    Examples
    --------
    Anything but a Dask client is refused before any work is scheduled:

    >>> run_dask(object(), None, None, None, [], progress=False)
    Traceback (most recent call last):
    ...
    mixedpy.errors.DataTypeError: client must be a dask.distributed.Client, got object
    """
    if not (hasattr(client, "scatter") and hasattr(client, "submit")):
        raise DataTypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    from distributed import as_completed as dask_completed

    token = uuid.uuid4().hex[:12]
    rot_f = client.scatter(rot, broadcast=True, hash=False)
    futures, extra = [], [rot_f]
    for i, (a, b) in enumerate(bounds):
        key = f"mixedpy-scan-{token}-{i}"
        if src.kind == "bed":
            futures.append(client.submit(_bed_chunk_task, rot_f, src.path, geno_rows, a, b, src.count_A1,
                                         key=key, pure=False))
        else:
            chunk_f = client.scatter(np.ascontiguousarray(src.array[geno_rows, a:b]), hash=False)
            extra.append(chunk_f)
            futures.append(client.submit(_array_chunk_task, rot_f, chunk_f, key=key, pure=False))
    index = {f.key: i for i, f in enumerate(futures)}
    parts: list = [None] * len(futures)
    bar = tqdm(total=len(futures), desc="scan (dask)", progress=progress, leave=False)
    try:
        for fut in dask_completed(futures):
            parts[index[fut.key]] = fut.result()
            bar.update()
    finally:
        bar.close()
        client.cancel(futures + extra)
    return parts
