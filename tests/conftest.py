"""Test-session setup.

Pin the BLAS/OpenMP thread pools to one thread when the caller has not chosen: the test matrices
are small (≤ 200 × 200), and on a loaded machine a multithreaded OpenBLAS spends far more time
spinning than computing (a 180 × 180 Cholesky goes from ~1 ms to ~250 ms).  This must run before
numpy is imported, which is why it lives here.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
