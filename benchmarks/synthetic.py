"""Synthetic crossed designs (animals × herd-years) for the scaling benchmark.

``make_crossed(n, n_a, n_b, seed)`` draws n records, each of an animal (n_a levels) in a herd-year
(n_b levels), with a covariate x, random intercepts for both factors and a correlated random slope
of x on the herd-years: y ~ x + (1 | animal) + (1 + x | herd).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA = "y ~ x + (1 | animal) + (1 + x | herd)"


def make_crossed(n: int, n_a: int, n_b: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    animal = rng.integers(0, n_a, n)
    herd = rng.integers(0, n_b, n)
    x = rng.normal(size=n)
    a = rng.normal(scale=1.0, size=n_a)
    L = np.linalg.cholesky(np.array([[0.5, 0.1], [0.1, 0.2]]))
    bh = rng.normal(size=(n_b, 2)) @ L.T
    y = 10 + 0.5 * x + a[animal] + bh[herd, 0] + bh[herd, 1] * x + rng.normal(scale=1.5, size=n)
    return pd.DataFrame({"y": y, "x": x, "animal": pd.Categorical(animal), "herd": pd.Categorical(herd)})
