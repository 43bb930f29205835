"""A simulated stand-in for mlmRev's egsingle (writes benchmarks/data/egsim.csv).

Same shape and size: 1,721 children nested in 60 schools, 3-6 consecutive yearly observations each
(7,230 rows), ``year`` centred and continuous (grade − 3.5, so −2.5 … 2.5), ``female`` 0/1 per child.
Variance components close to lmer's on egsingle: child intercept sd 0.8, year slope sd 0.11 with
correlation 0.5, school intercept sd 0.42, residual sd 0.58; fixed effects −0.75 + 0.88 year
− 0.02 female + 0.01 year:female.

Usage: python benchmarks/make_egsim.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N_CHILD, N_SCHOOL, N_ROWS = 1721, 60, 7230
OUT = Path(__file__).resolve().parent / "data" / "egsim.csv"


def make_egsim(seed: int = 20240601) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.sort(rng.integers(0, N_SCHOOL, N_CHILD))
    school[:N_SCHOOL] = np.arange(N_SCHOOL)  # every school has children
    school = np.sort(school)
    nobs = rng.choice([3, 4, 5, 6], size=N_CHILD, p=[0.25, 0.35, 0.25, 0.15])
    while nobs.sum() != N_ROWS:  # adjust to exactly N_ROWS rows
        i = rng.integers(N_CHILD)
        step = 1 if nobs.sum() < N_ROWS else -1
        if 3 <= nobs[i] + step <= 6:
            nobs[i] += step
    start = np.array([rng.integers(1, 8 - k) for k in nobs])  # first grade; grades 1..6
    female = rng.integers(0, 2, N_CHILD)
    cov = np.array([[0.8 ** 2, 0.5 * 0.8 * 0.11], [0.5 * 0.8 * 0.11, 0.11 ** 2]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=N_CHILD)
    s = rng.normal(scale=0.42, size=N_SCHOOL)
    child = np.repeat(np.arange(N_CHILD), nobs)
    year = np.concatenate([np.arange(a, a + k) for a, k in zip(start, nobs)]) - 3.5
    fem = female[child]
    math = (-0.75 + 0.88 * year - 0.02 * fem + 0.01 * year * fem + b[child, 0] + b[child, 1] * year
            + s[school[child]] + rng.normal(scale=0.58, size=len(child)))
    return pd.DataFrame({"schoolid": [f"s{j + 1:02d}" for j in school[child]],
                         "childid": [f"c{i + 1:04d}" for i in child],
                         "year": year, "female": fem, "math": np.round(math, 4)})


if __name__ == "__main__":
    d = make_egsim()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    d.to_csv(OUT, index=False)
    print(OUT, d.shape, d.childid.nunique(), "children", d.schoolid.nunique(), "schools")
