"""BLAS threads for the dense O(n³) steps of genetic models (relationship-matrix factorizations).

OpenBLAS's threads spin while they wait: on a busy machine two threads competing for cores made a
3000 × 3000 Cholesky eight times slower (2.5 s against 0.3 s with one thread) and the tridiagonal
reduction five times slower.  So the fits run their dense steps with all threads only when at least
1.5 cores are idle (load average), with one otherwise.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_CONTROLLER: list = []


def blas_threads() -> int | None:
    """None (all threads) on an idle machine, 1 on a busy one (or when the load is unknown: None)."""
    try:
        idle = (os.cpu_count() or 1) - os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    return None if idle >= 1.5 else 1


@contextmanager
def blas_limit(large: bool = True):
    """Context in which BLAS uses :func:`blas_threads` threads (one thread when not ``large``: for
    loops of small factorizations, where threads only add their wake-up cost).

    Examples
    --------
    >>> import numpy as np
    >>> with blas_limit():
    ...     float(np.linalg.cholesky(4.0 * np.eye(2))[0, 0])
    2.0
    """
    if not _CONTROLLER:  # one per process: building one scans the loaded libraries (~10 ms)
        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=blas_threads() if large else 1, user_api="blas"):
        yield
