"""Likelihood-ratio tests between nested fits, as lme4's ``anova(m0, m1, ...)``.

REML fits are refitted with ML first (their likelihoods are not comparable across fixed effects),
and the table says so, as lme4's "refitting model(s) with ML (instead of REML)". Models are sorted
by their number of parameters; each row's χ² compares it with the row above. Rows are labelled by
the models' formulas unless ``names`` are given.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecError


def ml_fit(result):
    """The fit itself when it is ML, else the same model (relmat, known structure, options kept)
    refitted by maximum likelihood — computed once per fit (the result's ``ml_fit``).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ml_fit(m).method, ml_fit(ml_fit(m)) is ml_fit(m)
    ('ml', True)
    """
    return result.ml_fit


def compare(*models, names: list | None = None) -> pd.DataFrame:
    """Likelihood-ratio tests of nested models (lme4's ``anova(m0, m1)``).

    Parameters
    ----------
    *models : LmmResult
        Two or more fits of the same data (REML fits are refitted with ML).
    names : list of str, optional
        Row labels, in the order of ``models`` (default: each model's formula; a formula that
        appears twice gets `` #2`` …).

    Returns
    -------
    CompareTable
        A pandas DataFrame: one row per model sorted by ``npar``; columns ``npar``, ``aic``, ``bic``,
        ``loglik``, ``deviance``, ``chisq``, ``df``, ``p`` (the last three NaN on the first row).
        Its ``note`` (printed under the table) says which REML fits were refitted with ML.

    Examples
    --------
    >>> import mixedpy
    >>> d = mixedpy.datasets.load("sleepstudy")
    >>> m0 = mixedpy.fit("Reaction ~ 1 + (Days | Subject)", d)
    >>> m1 = mixedpy.fit("Reaction ~ Days + (Days | Subject)", d)
    >>> t = mixedpy.compare(m0, m1)
    >>> round(float(t["chisq"].iloc[-1]), 3)
    23.537
    >>> t.index.tolist()
    ['Reaction ~ 1 + (Days | Subject)', 'Reaction ~ Days + (Days | Subject)']
    >>> t.note
    'REML fits refitted with ML for the likelihood-ratio test (as lme4): both models'
    >>> mixedpy.compare(m0, m1, names=["m0", "m1"]).index.tolist()
    ['m0', 'm1']
    """
    if len(models) < 2:
        raise ModelSpecError("compare needs at least two fitted models")
    nobs = {m.nobs for m in models}
    if len(nobs) > 1:
        raise ModelSpecError(f"models were fitted to different numbers of observations: {sorted(nobs)}")
    labels = [str(n) for n in names] if names is not None else _formula_labels(models)
    if len(labels) != len(models):
        raise ModelSpecError(f"names has {len(labels)} labels for {len(models)} models")
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
    out = CompareTable(rows, index=[labels[i] for i in order])
    out.index.name = "model"
    refitted = [labels[i] for i, m in enumerate(models) if getattr(m, "reml", False) and m.method != "ml"]
    if refitted:
        which = "both models" if len(refitted) == len(models) == 2 else (
            "all models" if len(refitted) == len(models) else ", ".join(refitted))
        out.note = f"REML fits refitted with ML for the likelihood-ratio test (as lme4): {which}"
    return out


def _formula_labels(models) -> list[str]:
    labels, seen = [], {}
    for m in models:
        text = str(getattr(m, "formula", "model"))
        seen[text] = seen.get(text, 0) + 1
        labels.append(text if seen[text] == 1 else f"{text} #{seen[text]}")
    return labels


class CompareTable(pd.DataFrame):
    """The table of :func:`compare`: a pandas DataFrame that prints its :attr:`note` below it.

    Attributes
    ----------
    note : str
        Which REML fits were refitted with ML ("" when none were).

    Examples
    --------
    >>> t = CompareTable({"npar": [3, 4]}, index=["a", "b"])
    >>> t.note = "a note"
    >>> print(repr(t).splitlines()[-1])
    a note
    >>> type(t.head(1)).__name__       # derived tables are plain DataFrames
    'DataFrame'
    """

    _metadata: ClassVar[list[str]] = ["note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "note" not in self.__dict__:
            object.__setattr__(self, "note", "")

    @property
    def _constructor(self):
        return pd.DataFrame  # slices and arithmetic give plain DataFrames

    def __repr__(self) -> str:
        text = pd.DataFrame(self).__repr__()
        return f"{text}\n{self.note}" if self.note else text

    def _repr_html_(self) -> str:
        html = pd.DataFrame(self)._repr_html_()
        if self.note:
            import html as _html

            html += f"<p><small>{_html.escape(self.note)}</small></p>"
        return html
