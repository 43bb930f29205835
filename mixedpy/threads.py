"""How many BLAS threads the dense steps use: fits, inference loops, genetic models.

OpenBLAS's threads spin while they wait: on a busy machine two threads competing for cores made a
3000 × 3000 Cholesky eight times slower (2.5 s against 0.3 s with one thread), the tridiagonal
reduction five times slower, and a profile confidence interval of a 648-row model (thousands of
500 × 500 Choleskys) fifty times slower (262 s against 5 s).  So dense steps run with all threads
only when at least 1.5 cores are idle (load average) and the matrices are large, with one otherwise.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_CONTROLLER: list = []


def _controller() -> ThreadpoolController:
    """One ThreadpoolController per process (building one scans the loaded libraries: ~10 ms)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


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
    with _controller().limit(limits=blas_threads() if large else 1, user_api="blas"):
        yield


def workspace_threads(ws) -> int | None:
    """BLAS threads for evaluations of a workspace's deviance: one for small dense blocks (OpenBLAS's
    threads cost more than they save there) and on a busy machine; all of them for large Schur
    blocks (1,500 rows or more) on an idle one."""
    if getattr(ws, "augmented", None) is not None:
        return 1
    q2 = getattr(getattr(ws, "system", None), "q2", None)  # MME workspaces have no such system
    if q2 is None or q2 < 1500:
        return 1
    return blas_threads()


@contextmanager
def workspace_limit(ws):
    """Context for many deviance evaluations of ``ws`` (a fit, a profile, a Hessian) with
    :func:`workspace_threads` BLAS threads."""
    with _controller().limit(limits=workspace_threads(ws), user_api="blas"):
        yield
