"""Likelihood-ratio tests between nested fits, as lme4's ``anova(m0, m1, ...)``.

REML fits are refitted with ML first (their likelihoods are not comparable across fixed effects).
Models are sorted by their number of parameters; each row's χ² compares it with the row above.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecError


def ml_fit(result):
    """The fit itself when it is ML, else the same model (relmat, known structure, options kept)
    refitted by maximum likelihood — computed once per fit (the result's ``ml_fit``)."""
    return result.ml_fit


def compare(*models, names: list | None = None) -> pd.DataFrame:
    """Likelihood-ratio tests of nested models (lme4's ``anova(m0, m1)``).

    Parameters
    ----------
    *models : LmmResult
        Two or more fits of the same data (REML fits are refitted with ML).
    names : list of str, optional
        Row labels (default ``m0``, ``m1``, … in the given order).

    Returns
    -------
    pandas.DataFrame
        One row per model sorted by ``npar``; columns ``npar``, ``aic``, ``bic``, ``loglik``,
        ``deviance``, ``chisq``, ``df``, ``p`` (the last three NaN on the first row).

    Examples
    --------
    >>> import mixedpy
    >>> d = mixedpy.datasets.load("sleepstudy")
    >>> m0 = mixedpy.fit("Reaction ~ 1 + (Days | Subject)", d)
    >>> m1 = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
    >>> round(float(mixedpy.compare(m0, m1)["chisq"].iloc[-1]), 3)
    23.537
    """
    if len(models) < 2:
        raise ModelSpecError("compare needs at least two fitted models")
    nobs = {m.nobs for m in models}
    if len(nobs) > 1:
        raise ModelSpecError(f"models were fitted to different numbers of observations: {sorted(nobs)}")
    labels = list(names) if names is not None else [f"m{i}" for i in range(len(models))]
    fits = [ml_fit(m) for m in models]
    order = sorted(range(len(fits)), key=lambda i: fits[i].npar)
    rows = []
    prev = None
    for i in order:
        f = fits[i]
        dev = -2 * f.loglik
        row = {"npar": f.npar, "aic": f.aic, "bic": f.bic, "loglik": f.loglik, "deviance": dev,
               "chisq": np.nan, "df": np.nan, "p": np.nan}
        if prev is not None:
            chisq = max(prev["deviance"] - dev, 0.0)
            df = f.npar - prev["npar"]
            row.update(chisq=chisq, df=df, p=float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan)
        rows.append(row)
        prev = row
    out = pd.DataFrame(rows, index=[labels[i] for i in order])
    out.index.name = "model"
    return out
