"""Small real data sets shipped with mixedpy (from R's lme4), loaded as pandas DataFrames.

=============  ===========================================================================
name           description
=============  ===========================================================================
sleepstudy     reaction times of 18 subjects over 10 days of sleep deprivation
dyestuff       yield of dyestuff, 5 samples from each of 6 batches
dyestuff2      simulated data in the layout of dyestuff (a singular fit)
penicillin     diameters of growth-inhibition zones: 24 plates × 6 samples, crossed
pastes         paste strength: 10 batches, 3 casks nested in each batch, 2 samples
cake           breakage angle of cakes: 3 recipes × 6 temperatures × 15 replicates
=============  ===========================================================================
"""
from __future__ import annotations

from importlib import resources

import pandas as pd

_FILES = {"sleepstudy": ("sleepstudy.csv", ["Subject"]), "dyestuff": ("Dyestuff.csv", ["Batch"]),
          "dyestuff2": ("Dyestuff2.csv", ["Batch"]), "penicillin": ("Penicillin.csv", ["plate", "sample"]),
          "pastes": ("Pastes.csv", ["batch", "cask", "sample"]),
          "cake": ("cake.csv", ["replicate", "recipe", "temperature"])}


def names() -> list[str]:
    """Names of the shipped data sets."""
    return sorted(_FILES)


def load(name: str) -> pd.DataFrame:
    """Load a shipped data set; grouping columns are categorical.

    Examples
    --------
    >>> load("sleepstudy").shape
    (180, 3)
    """
    key = name.lower()
    if key not in _FILES:
        raise KeyError(f"no data set {name!r}; available: {', '.join(names())}")
    fname, factors = _FILES[key]
    with resources.files(__name__).joinpath(fname).open("r") as fh:
        df = pd.read_csv(fh)
    for f in factors:
        df[f] = pd.Categorical(df[f])
    df.attrs["name"] = key
    return df
