"""Hessians of a scalar function by central differences with Richardson extrapolation (the
Hessian of a GLMM's Laplace deviance in (θ, β), from which glmer's ``use.hessian`` standard errors
come).

Examples
--------
>>> import numpy as np
>>> H = fd_hessian(lambda x: x[0] ** 2 + 3 * x[0] * x[1] + 2 * x[1] ** 4, np.array([1.0, 1.0]))
>>> H.round(5).tolist()
[[2.0, 3.0], [3.0, 24.0]]
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def fd_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, lower: np.ndarray | None = None,
                step: float = 1e-4) -> np.ndarray:
    """Central-difference gradient with steps ``step`` × max(1, |x_i|) (forward at a lower bound).

    Examples
    --------
    >>> import numpy as np
    >>> fd_gradient(lambda x: float(x[0] ** 2 + 3 * x[1]), np.array([1.0, 0.0])).round(6).tolist()
    [2.0, 3.0]
    """
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    f0 = None
    for i in range(len(x)):
        h = step * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        if lower is not None and x[i] - h < lower[i]:
            f0 = float(f(x)) if f0 is None else f0
            g[i] = (f(x + e) - f0) / h
        else:
            g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _central(f: Callable, x: np.ndarray, h: np.ndarray, f0: float, forward_pairs: bool = False):
    d = len(x)
    H = np.zeros((d, d))
    E = np.diag(h)
    fp = np.array([f(x + E[i]) for i in range(d)])
    fm = np.array([f(x - E[i]) for i in range(d)])
    for i in range(d):
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h[i] ** 2
        for j in range(i):
            fpp = f(x + E[i] + E[j])
            if forward_pairs:  # one point per pair, error O(h)
                H[i, j] = H[j, i] = (fpp - fp[i] - fp[j] + f0) / (h[i] * h[j])
                continue
            fmm = f(x - E[i] - E[j])
            # with the axis points: (f(+,+) + f(−,−) − f(+i) − f(−i) − f(+j) − f(−j) + 2 f0) / (2 hi hj)
            H[i, j] = H[j, i] = (fpp + fmm - fp[i] - fm[i] - fp[j] - fm[j] + 2 * f0) / (2 * h[i] * h[j])
    return H, (fp - fm) / (2 * h)


def fd_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-3,
               richardson: bool = True, scale: np.ndarray | None = None,
               lower: np.ndarray | None = None, forward_pairs: bool = False,
               with_gradient: bool = False):
    """The Hessian of ``f`` at ``x``: central differences with steps ``step`` × max(1, |x_i|) (or
    ``step`` × ``scale`` — e.g. standard errors — when given), Richardson-extrapolated from steps h
    and 2h (error O(h⁴)) when ``richardson``.  ``lower`` is accepted for symmetry with
    :func:`fd_gradient`; the points may cross it (a GLMM deviance is even in each scalar θ).
    ``forward_pairs``: one point per off-diagonal pair (cheaper, error O(h): for Newton steps, not
    for standard errors).  ``with_gradient``: also return the central-difference gradient from the
    same points, as ``(H, g)``.

    Examples
    --------
    >>> import numpy as np
    >>> fd_hessian(lambda x: float(np.exp(x[0])), np.array([0.0]), richardson=False).round(5).tolist()
    [[1.0]]
    """
    x = np.asarray(x, dtype=float)
    h = step * (np.maximum(1.0, np.abs(x)) if scale is None else np.asarray(scale, dtype=float))
    f0 = float(f(x))
    H, g = _central(f, x, h, f0, forward_pairs)
    if richardson:
        H2, g2 = _central(f, x, 2 * h, f0, forward_pairs)
        H, g = (4 * H - H2) / 3, (4 * g - g2) / 3
    return (H, g) if with_gradient else H


def hessian_from_gradient(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                          step: float = 1e-3) -> np.ndarray:
    """The Hessian as central differences of an analytic gradient (2 d gradients), symmetrized.

    Examples
    --------
    >>> import numpy as np
    >>> g = lambda x: np.array([2 * x[0] + 3 * x[1], 3 * x[0] + 24 * x[1] ** 3])
    >>> hessian_from_gradient(g, np.array([1.0, 1.0])).round(4).tolist()
    [[2.0, 3.0], [3.0, 72.0]]
    """
    x = np.asarray(x, dtype=float)
    d = len(x)
    H = np.zeros((d, d))
    for j in range(d):
        h = step * max(1.0, abs(x[j]))
        e = np.zeros(d)
        e[j] = h
        H[:, j] = (grad(x + e) - grad(x - e)) / (2 * h)
    return (H + H.T) / 2
