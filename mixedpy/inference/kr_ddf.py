"""Kenward-Roger's denominator df and F scaling of a linear hypothesis from Var(β̂) and the
derivative pieces (one formula shared by the lme4-form KR in :mod:`.kenward_roger`, SAS's DDFM=KR
for residual structures in :mod:`.kr_residual` and :mod:`.linfct`)."""
from __future__ import annotations

import numpy as np


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    return 1.0 if abs(x) < tol and abs(y) < tol else x / y


def kr_ddf(L: np.ndarray, Phi: np.ndarray, P: list, W: np.ndarray, q: int | None = None) -> tuple[float, float]:
    """Kenward-Roger's denominator df and F scaling of L β = 0 (pbkrtest's ``KRmodcomp`` /
    ``Lb_ddf``, SAS DDFM=KR, mmrm's ``h_kr_df``: one formula for all of them).

    Parameters
    ----------
    L : ndarray (rows, p)
    Phi : ndarray (p, p)
        The unadjusted Var(β̂).
    P, W : list of ndarray, ndarray
        The derivative products and 2·(expected information)⁻¹ of the variance parameters.
    q : int, optional
        Numerator df (default: rows of L).

    Examples
    --------
    >>> import mixedpy, numpy as np
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> from mixedpy.inference.kenward_roger import vcov_adjusted
    >>> kr = vcov_adjusted(m)
    >>> round(kr_ddf(np.array([[0.0, 1.0]]), kr.Phi, kr.P, kr.W)[0], 2)
    17.0
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    q = L.shape[0] if q is None else q
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TPhi = Theta @ Phi
    us = [TPhi @ Pi @ Phi for Pi in P]
    tr = np.array([np.trace(u) for u in us])
    A1 = A2 = 0.0
    m = len(P)
    for i in range(m):
        for j in range(i, m):
            e = 1.0 if i == j else 2.0
            A1 += e * W[i, j] * tr[i] * tr[j]
            A2 += e * W[i, j] * float(np.sum(us[i] * us[j].T))
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    V0 = 1 + c1 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    rho = (_div_zero(1 - A2 / q, V1)) ** 2 * V0 / V2 / q
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scaling)
