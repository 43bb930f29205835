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
    if src.kind == "bed":
        G = read_bed_chunk(src.path, geno_rows, a, b, count_A1=src.count_A1)
    else:
        G = np.asfortranarray(src.array[geno_rows, a:b])
    return test_chunk(rot, G, owned=True)


def run_local(rot: Rotation, src: MarkerSource, geno_rows: np.ndarray, bounds: list, progress: bool | None) -> list:
    """Chunks one after the other, the triangular solve using all BLAS threads (scipy's holds the GIL,
    so a thread pool would not help); see :func:`test_chunk` for why the numbers are those of a Dask
    worker running the same chunk with one thread."""
    parts = []
    for a, b in tqdm(bounds, desc="scan", progress=progress, leave=False):
        parts.append(local_chunk(rot, src, geno_rows, a, b))
    return parts


def run_dask(client, rot: Rotation, src: MarkerSource, geno_rows: np.ndarray, bounds: list, progress: bool | None):
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
