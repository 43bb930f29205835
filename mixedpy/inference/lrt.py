"""Likelihood-ratio tests between nested fits, as lme4's ``anova(m0, m1, ...)``.

REML fits are refitted with ML first (their likelihoods are not comparable across fixed effects),
and the table says so, as lme4's "refitting model(s) with ML (instead of REML)".  Fits that differ
in their residual structure (``residual=``) but share the fixed part (the same X) are compared on
the REML criterion itself, as nlme's ``anova(gls1, gls2)``: no refit, BIC with log(n − p). Models are sorted
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


def _reml_comparable(models) -> bool:
    """All REML fits with the same fixed-effects matrix X."""
    if not all(getattr(m, "reml", False) and m.method == "reml" for m in models):
        return False
    X0 = np.asarray(models[0].spec.fixed.X)
    return all(np.asarray(m.spec.fixed.X).shape == X0.shape and np.array_equal(np.asarray(m.spec.fixed.X), X0)
               for m in models[1:])


def _use_reml(models, refit: bool | None) -> bool:
    """Whether to compare REML criteria (see the module docstring); refit=False demands it."""
    if refit is True:
        return False
    comparable = _reml_comparable(models)
    if refit is False:
        if not comparable:
            methods = sorted({str(m.method) for m in models})
            raise ModelSpecError(f"refit=False compares REML criteria, which needs REML fits (methods: "
                                 f"{methods}) with identical fixed parts; the fixed parts differ or some fit "
                                 f"is not REML: use refit=True (ML refit)")
        return True
    if refit is not None:
        raise ModelSpecError(f"refit must be None, True or False, not {refit!r}")
    return comparable and any(m.spec.residual is not None for m in models)


def compare(*models, names: list | None = None, refit: bool | None = None) -> pd.DataFrame:
    """Likelihood-ratio tests of nested models (lme4's ``anova(m0, m1)``).

    Parameters
    ----------
    *models : LmmResult
        Two or more fits of the same data (REML fits are refitted with ML).
    names : list of str, optional
        Row labels, in the order of ``models`` (default: each model's formula; a formula that
        appears twice gets `` #2`` …).
    refit : bool, optional
        None (default): REML fits with identical fixed parts that differ in their residual
        structure are compared on the REML criterion (nlme's anova), any other REML fit is refitted
        with ML (lme4's anova).  True: always refit with ML.  False: compare REML criteria (raises
        :class:`~mixedpy.errors.ModelSpecError` unless all fits are REML with the same X).

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
    reml = _use_reml(models, refit)
    fits = list(models) if reml else [ml_fit(m) for m in models]
    order = sorted(range(len(fits)), key=lambda i: fits[i].npar)
    rows = []
    prev = None
    for i in order:
        f = fits[i]
        dev = -2 * f.loglik
        bic = dev + np.log(f.nobs - len(f.coef_names)) * f.npar if reml else f.bic
        row = {"npar": f.npar, "aic": f.aic, "bic": bic, "loglik": f.loglik, "deviance": dev,
               "chisq": np.nan, "df": np.nan, "p": np.nan}
        if prev is not None:
            chisq = max(prev["deviance"] - dev, 0.0)
            df = f.npar - prev["npar"]
            row.update(chisq=chisq, df=df, p=float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan)
        rows.append(row)
        prev = row
    out = CompareTable(rows, index=[labels[i] for i in order])
    out.index.name = "model"
    if reml:
        out.note = ("REML criteria compared without refitting (same fixed part; as nlme's anova): "
                    "loglik is the REML log-likelihood, BIC uses log(n - p)")
        return out
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
