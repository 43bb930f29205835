"""Richardson-extrapolated central differences, as numDeriv's ``genD`` (which lmerTest uses).

The steps, the extrapolation and the handling of parameters at 0 follow numDeriv exactly
(``d = 1e-4``, ``eps = 1e-4``, ``r = 4`` halvings), so derivatives at boundary estimates (a variance
parameter at 0) are the same symmetric differences lmerTest takes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))


@dataclass(frozen=True)
class Derivatives:
    """Value, gradient and Hessian of a vector-valued function at one point.

    Attributes
    ----------
    f0 : ndarray (m,)
        Function value.
    gradient : ndarray (m, n)
        ∂f_k/∂x_i.
    hessian : ndarray (m, n, n)
        ∂²f_k/∂x_i∂x_j.

    Examples
    --------
    >>> import numpy as np
    >>> D = gen_d(lambda v: np.array([v[0] ** 2 * v[1]]), np.array([1.0, 2.0]))
    >>> type(D).__name__, D.f0.tolist(), D.gradient.shape, D.hessian.shape
    ('Derivatives', [2.0], (1, 2), (1, 2, 2))
    """

    f0: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray


def _extrapolate(a: list) -> np.ndarray:
    """Richardson extrapolation of estimates with steps h, h/2, h/4, … (error O(h²))."""
    a = [np.asarray(x, dtype=float) for x in a]
    r = len(a)
    for m in range(1, r):
        a = [(a[k + 1] * 4.0 ** m - a[k]) / (4.0 ** m - 1) for k in range(r - m)]
    return a[0]


def gen_d(func: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: float = 1e-4,
          eps: float = 1e-4, r: int = 4) -> Derivatives:
    """Gradient and Hessian of ``func`` (vector-valued) at ``x``, numDeriv's ``genD``.

    Parameters
    ----------
    func : callable
        Maps an (n,) array to an (m,) array (or a scalar).
    x : ndarray (n,)
    d, eps, r : float, float, int
        Relative step, absolute step for elements near 0, number of halvings.

    Returns
    -------
    Derivatives

    Examples
    --------
    >>> import numpy as np
    >>> D = gen_d(lambda v: np.array([v[0] ** 2 * v[1]]), np.array([1.0, 2.0]))
    >>> np.round(D.gradient[0], 8).tolist(), np.round(D.hessian[0], 4).tolist()
    ([4.0, 1.0], [[4.0, 2.0], [2.0, 0.0]])
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = np.atleast_1d(np.asarray(func(x), dtype=float))
    h0 = np.abs(d * x) + eps * (np.abs(x) < ZERO_TOL)
    grad = np.zeros((len(f0), n))
    hess = np.zeros((len(f0), n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        dd, hh = [], []
        h = h0.copy()
        for _ in range(r):
            f1 = np.atleast_1d(func(x + e * h))
            f2 = np.atleast_1d(func(x - e * h))
            dd.append((f1 - f2) / (2 * h[i]))
            hh.append((f1 - 2 * f0 + f2) / h[i] ** 2)
            h = h / 2
        grad[:, i] = _extrapolate(dd)
        hess[:, i, i] = _extrapolate(hh)
    for i in range(n):
        for j in range(i):
            eij = np.zeros(n)
            eij[i] = eij[j] = 1.0
            dd = []
            h = h0.copy()
            for _ in range(r):
                f1 = np.atleast_1d(func(x + eij * h))
                f2 = np.atleast_1d(func(x - eij * h))
                dd.append((f1 - 2 * f0 + f2 - hess[:, i, i] * h[i] ** 2 - hess[:, j, j] * h[j] ** 2)
                          / (2 * h[i] * h[j]))
                h = h / 2
            hess[:, i, j] = hess[:, j, i] = _extrapolate(dd)
    return Derivatives(f0=f0, gradient=grad, hessian=hess)
