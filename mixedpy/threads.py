"""How many BLAS threads the dense steps use: an explicit per-fit setting, ``n_threads``.

OpenBLAS's threads spin while they wait, and for small matrices their wake-up costs more than they
save: a profile confidence interval of a 648-row model (thousands of 500 × 500 Choleskys) ran
fifty times slower with two threads on a busy machine.  So small dense steps always run on one
thread, and large ones (Schur complements of 1,500 rows or more, dense relationship matrices,
Kenward-Roger's q × q products) on ``n_threads`` threads — all cores when it is None.  The limit
is a context (threadpoolctl) around the steps, restored afterwards: nothing changes process-wide
state, and nothing depends on the machine's load.
"""
from __future__ import annotations

from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_CONTROLLER: list = []
LARGE_SCHUR = 1500  # Schur blocks from this size use n_threads threads


def _controller() -> ThreadpoolController:
    """One ThreadpoolController per process (building one scans the loaded libraries: ~10 ms)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


@contextmanager
def blas_limit(large: bool = True, n_threads: int | None = None):
    """Context in which BLAS uses ``n_threads`` threads (None: all) for ``large`` steps and one
    thread otherwise (loops of small factorizations, where threads only add their wake-up cost).

    Examples
    --------
    >>> import numpy as np
    >>> with blas_limit(n_threads=1):
    ...     float(np.linalg.cholesky(4.0 * np.eye(2))[0, 0])
    2.0
    """
    limit = n_threads if large else 1
    if limit is None:
        yield
        return
    with _controller().limit(limits=int(limit), user_api="blas"):
        yield


def workspace_threads(ws) -> int | None:
    """BLAS threads for evaluations of a workspace's deviance: one for small dense blocks, the
    workspace's ``n_threads`` for large Schur blocks and for the MME engines.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> workspace_threads(m.workspace)  # a small dense model: one thread
    1
    """
    n_threads = getattr(ws, "n_threads", None)
    if getattr(ws, "augmented", None) is not None:
        return 1
    if getattr(ws, "kind", None) == "mme" or not hasattr(ws, "system"):
        return n_threads
    q2 = getattr(ws.system, "q2", None)
    if q2 is None or q2 < LARGE_SCHUR:
        return 1
    return n_threads


@contextmanager
def workspace_limit(ws):
    """Context for many deviance evaluations of ``ws`` (a fit, a profile, a Hessian) with
    :func:`workspace_threads` BLAS threads.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> with workspace_limit(m.workspace):
    ...     d = m.workspace.deviance(m.theta)
    >>> bool(abs(d - m.reml_criterion) < 1e-8)
    True
    """
    with blas_limit(n_threads=workspace_threads(ws)):
        yield
