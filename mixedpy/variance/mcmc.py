"""Summaries of MCMC draws: posterior mean, SD, equal-tailed credible interval, effective sample size
and split-chain R-hat, and an ArviZ ``InferenceData`` when ArviZ is installed.

Glossary
--------
ESS     effective sample size: n / (1 + 2 Σ_t ρ_t), the autocorrelations ρ_t summed by Geyer's
        initial positive sequence (pairs ρ_2k + ρ_2k+1 while positive), as Stan and ArviZ do
R-hat   the potential scale reduction of the chain split into halves (Gelman et al. 2013, BDA3 11.4):
        √(((n−1)/n W + B/n) / W) with W, B the within- and between-half variances; ≈ 1 when the
        two halves agree, above 1.01 a warning sign
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import MissingDependencyError


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    n = len(x)
    y = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(y, size)
    acov = np.fft.irfft(f * np.conj(f), size)[:n] / n
    return acov / acov[0] if acov[0] > 0 else np.zeros(n)


def effective_sample_size(x) -> float:
    """Effective sample size of one chain (Geyer's initial positive sequence).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(effective_sample_size(rng.normal(size=4000)) / 4000, 1)   # independent draws
    1.0
    >>> ar = np.zeros(4000)
    >>> for t in range(1, 4000):
    ...     ar[t] = 0.9 * ar[t - 1] + rng.normal()
    >>> effective_sample_size(ar) < 400                                  # (1 - 0.9) / (1 + 0.9) × n
    True
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 4 or not np.isfinite(x).all() or np.ptp(x) == 0:
        return float("nan")
    rho = _autocorrelation(x)
    total = 0.0
    for k in range(0, n - 1, 2):
        pair = rho[k] + rho[k + 1]
        if pair <= 0:
            break
        total += pair
    tau = -1.0 + 2.0 * total  # 1 + 2 Σ_{t≥1} ρ_t, from pairs that start at ρ_0 = 1
    return float(n / max(tau, 1.0 / np.log10(max(n, 10))))


def split_rhat(x) -> float:
    """R-hat of one chain split into two halves (see the module docstring).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> round(split_rhat(rng.normal(size=2000)), 2)
    1.0
    >>> split_rhat(np.r_[rng.normal(size=1000), rng.normal(3, 1, size=1000)]) > 1.5   # drifting
    True
    """
    x = np.asarray(x, dtype=float)
    n = len(x) // 2
    if n < 2 or not np.isfinite(x).all():
        return float("nan")
    halves = np.stack([x[:n], x[len(x) - n:]])
    w = halves.var(axis=1, ddof=1).mean()
    b = n * halves.mean(axis=1).var(ddof=1)
    if w == 0:
        return float("nan")
    return float(np.sqrt(((n - 1) / n * w + b / n) / w))


def posterior_summary(draws: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per column of ``draws``: ``mean``, ``sd``, the equal-tailed interval (columns named
    by their quantiles, e.g. ``2.5%`` and ``97.5%``), ``ess`` and ``rhat``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> s = posterior_summary(pd.DataFrame({"a": rng.normal(size=1000)}))
    >>> list(s.columns)
    ['mean', 'sd', '2.5%', '97.5%', 'ess', 'rhat']
    """
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    names = [f"{100 * lo:.3g}%", f"{100 * hi:.3g}%"]
    out = pd.DataFrame({"mean": draws.mean(), "sd": draws.std(ddof=1), names[0]: draws.quantile(lo),
                        names[1]: draws.quantile(hi)})
    out["ess"] = [effective_sample_size(draws[c].to_numpy()) for c in draws.columns]
    out["rhat"] = [split_rhat(draws[c].to_numpy()) for c in draws.columns]
    out.index.name = "parameter"
    return out


def to_inference_data(draws: pd.DataFrame):
    """The draws (one chain) as an ArviZ ``InferenceData`` (``pip install arviz``), for ArviZ's plots
    and diagnostics; variable names are the column names.

    Examples
    --------
    >>> to_inference_data(pd.DataFrame({"a": [0.0, 1.0]}))  # doctest: +SKIP
    Inference data with groups:
        > posterior
    """
    try:
        import arviz as az
    except ImportError:
        raise MissingDependencyError("ArviZ is not installed: pip install arviz") from None
    return az.from_dict(posterior={str(c): draws[c].to_numpy()[None, :] for c in draws.columns})
