"""Simulated MMRM data for benchmarks/bench_residual.py (written as CSV for R and Python).

    python benchmarks/make_mmrm_data.py  → benchmarks/data/mmrm_us_30k.csv, benchmarks/data/ar1_ri_600k.csv
"""
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "data"


def mmrm_us(n_subj: int = 5000, n_vis: int = 6, seed: int = 1) -> pd.DataFrame:
    """Unstructured within-subject covariance, treatment × visit means, ~8% visits missing."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n_vis, n_vis))
    S = A @ A.T + n_vis * np.eye(n_vis)
    e = rng.multivariate_normal(np.zeros(n_vis), S, size=n_subj)
    arm = rng.integers(0, 2, n_subj)
    base = rng.normal(size=n_subj)
    vis = np.arange(n_vis)
    y = 10 + 0.5 * vis[None, :] + 1.5 * arm[:, None] * vis[None, :] / n_vis + 2 * base[:, None] + e
    df = pd.DataFrame({"USUBJID": np.repeat([f"S{i}" for i in range(n_subj)], n_vis),
                       "AVISIT": np.tile([f"V{v + 1}" for v in vis], n_subj),
                       "ARM": np.repeat(np.where(arm == 1, "TRT", "PBO"), n_vis),
                       "BASE": np.repeat(base, n_vis), "Y": y.ravel()})
    return df[rng.random(len(df)) > 0.08]


def ar1_ri(n_subj: int = 100_000, n_vis: int = 6, seed: int = 2) -> pd.DataFrame:
    """AR(1) residuals (ρ = 0.6) plus a subject random intercept."""
    rng = np.random.default_rng(seed)
    rho = 0.6
    e = np.empty((n_subj, n_vis))
    e[:, 0] = rng.normal(size=n_subj)
    for t in range(1, n_vis):
        e[:, t] = rho * e[:, t - 1] + np.sqrt(1 - rho ** 2) * rng.normal(size=n_subj)
    b = 0.8 * rng.normal(size=n_subj)
    x = rng.normal(size=(n_subj, n_vis))
    y = 1 + 0.3 * x + b[:, None] + e
    return pd.DataFrame({"id": np.repeat(np.arange(n_subj), n_vis), "time": np.tile(np.arange(n_vis), n_subj),
                         "x": x.ravel(), "y": y.ravel()})


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    mmrm_us().to_csv(OUT / "mmrm_us_30k.csv", index=False)
    ar1_ri().to_csv(OUT / "ar1_ri_600k.csv", index=False)
