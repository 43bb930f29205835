"""Wald intervals of the residual covariance parameters (the rows of ``residual_parameters``).

The delta method on the asymptotic covariance A = 2H⁻¹ of the variance parameters (θ, φ, σ)
(:mod:`.varpar`): SE(g) = √(∇gᵀ A ∇g) for each reported value g(φ, σ) (variances σ²·exp(2 par),
correlations, SAS's covariances), ∇g by central differences; interval g ∓ z SE (SAS PROC MIXED's
Wald limits for covariances and correlations).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def _values(result, varpar: np.ndarray) -> np.ndarray:
    rd = result.spec.residual
    nt = result.random.ntheta
    par = rd.full(varpar[nt:nt + rd.nphi])
    s2 = float(varpar[-1]) ** 2
    return np.array([v for g in range(rd.ngroups) for _, v in rd.structure.report(par[g], s2)])


def residual_names(result) -> list[str]:
    """``parameter`` or ``parameter|group`` of each row of ``residual_parameters``.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> residual_names(m)
    ['AR(1)', 'Residual']
    """
    rp = result.residual_parameters
    return [p if not g else f"{p}|{g}" for p, g in zip(rp["parameter"], rp["group"])]


def residual_wald(result, level: float = 0.95) -> pd.DataFrame:
    """Estimate, SE and Wald limits of the residual parameters (see the module docstring).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> residual_wald(m).index.tolist()
    ['AR(1)', 'Residual']
    """
    info = result.varpar_info
    v0 = np.asarray(info.varpar, dtype=float)
    g0 = _values(result, v0)
    J = np.zeros((len(g0), len(v0)))
    for k in range(len(v0)):
        h = 1e-6 * max(1.0, abs(v0[k]))
        up, dn = v0.copy(), v0.copy()
        up[k] += h
        dn[k] -= h
        J[:, k] = (_values(result, up) - _values(result, dn)) / (2 * h)
    se = np.sqrt(np.maximum(np.einsum("ik,kl,il->i", J, info.vcov_varpar, J), 0.0))
    z = stats.norm.ppf(0.5 + level / 2)
    out = pd.DataFrame({"estimate": g0, "se": se, "lower": g0 - z * se, "upper": g0 + z * se},
                       index=residual_names(result))
    out.index.name = "parameter"
    return out
