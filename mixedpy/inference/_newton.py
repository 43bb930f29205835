"""A small bounded Newton minimizer with a fixed Hessian, for the many similar inner problems of a
profile (each warm-started next to the previous solution)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def fd_gradient(f: Callable, u: np.ndarray, lo: np.ndarray, h: np.ndarray, f0: float | None = None) -> np.ndarray:
    """Gradient by forward differences when f0 = f(u) is given, else central differences."""
    g = np.zeros_like(u)
    if f0 is not None:
        for i in range(len(u)):
            e = np.zeros_like(u)
            e[i] = h[i]
            g[i] = (f(u + e) - f0) / h[i]
        return g
    for i in range(len(u)):
        e = np.zeros_like(u)
        e[i] = h[i]
        if u[i] - h[i] < lo[i]:
            g[i] = (f(u + e) - f(u)) / h[i]
        else:
            g[i] = (f(u + e) - f(u - e)) / (2 * h[i])
    return g


def fd_hessian(f: Callable, u: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Central-difference Hessian (steps h), symmetric."""
    k = len(u)
    f0 = f(u)
    H = np.zeros((k, k))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (f(u + ei) - 2 * f0 + f(u - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (f(u + ei + ej) - f(u + ei - ej) - f(u - ei + ej) + f(u - ei - ej)) / (4 * h[i] * h[j])
    return H


def positive_definite(H: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    vals, vecs = np.linalg.eigh((H + H.T) / 2)
    top = max(np.max(np.abs(vals)), 1.0)
    vals = np.maximum(np.abs(vals), floor * top)
    return (vecs * vals) @ vecs.T


def bfgs_update(H: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BFGS update of a Hessian approximation (skipped when the curvature condition fails)."""
    sy = float(s @ y)
    if sy <= 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)) or sy <= 0:
        return H
    Hs = H @ s
    return H - np.outer(Hs, Hs) / float(s @ Hs) + np.outer(y, y) / sy


def newton_minimize(f: Callable, u0: np.ndarray, lo: np.ndarray, hi: np.ndarray, H: np.ndarray,
                    tol: float = 1e-6, maxiter: int = 30, gtol: float = 1e-2):
    """Minimize f over lo ≤ u ≤ hi by projected quasi-Newton steps starting from the PD matrix H.

    H comes from an earlier, similar problem.  Where it predicts no decrease although the gradient
    is not small (H was taken where the curvature was far larger, e.g. next to θ = 0), it is
    replaced once by the finite-difference Hessian at the current point.

    Returns (value, argmin, converged, updated H).
    """
    u = np.clip(np.asarray(u0, dtype=float), lo, hi)
    fu = f(u)
    h = 1e-6 * np.maximum(np.abs(u), 1e-2)
    g = fd_gradient(f, u, lo, h, fu)
    refreshed = False
    for _ in range(maxiter):
        free = ~(((u <= lo) & (g > 0)) | ((u >= hi) & (g < 0)))
        if not np.any(free):
            return fu, u, True, H
        step = np.zeros_like(u)
        step[free] = -np.linalg.solve(H[np.ix_(free, free)], g[free])
        decrease = -float(g[free] @ step[free])
        if decrease < tol and np.max(np.abs(g[free])) > gtol and not refreshed:
            refreshed = True
            hh = 1e-4 * np.maximum(np.abs(u), 1e-1)
            Hc = fd_hessian(f, np.clip(u, lo + hh, hi - hh), hh)
            if np.all(np.isfinite(Hc)):
                H = positive_definite(Hc)
                continue
        if decrease < tol:
            return fu, u, True, H
        t = 1.0
        for _ in range(12):
            cand = np.clip(u + t * step, lo, hi)
            fc = f(cand)
            if fc < fu:
                break
            t /= 4
        else:
            return fu, u, decrease < 1e-3, H
        gc = fd_gradient(f, cand, lo, h, fc)
        if np.all(free):
            H = bfgs_update(H, cand - u, gc - g)
        u, fu, g = cand, fc, gc
    return fu, u, False, H
