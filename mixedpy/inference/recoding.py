"""The fixed-effects design re-coded with treatment contrasts, for coding-independent type III tests.

lmerTest (``get_contrasts_type3``) defines the type III hypotheses on the treatment-coded design
and carries them over to the coding of the fit.  With X the fitted design (any formulaic coding:
``C(f, contr.sum())``, ``Helmert``, ``Poly``, ``Diff``, ``Treatment(reference=...)``, a custom
matrix) and X_t the same model re-coded with treatment contrasts (reference = first level), both
span the same column space, so X_t β_t = X β gives β_t = M β with M = X_t⁺ X.  A hypothesis
L_t β_t = 0 on the treatment coefficients is then L_t M β = 0 on the fitted ones.

The re-coding replaces formulaic's ``C()`` by one that keeps the data and levels but always uses
treatment contrasts; every other part of the formula is evaluated as in the fit.

Glossary: X (n × p) fitted design (aliased columns dropped), X_t (n × p_t) treatment-coded design
(aliased columns dropped, p_t = p when the coding spans the factor), M (p_t × p) the map β → β_t,
rdX the complete cell design (one column per cell of every term, lmerTest's ``get_rdX``).
"""
from __future__ import annotations

from dataclasses import dataclass

import formulaic
import numpy as np
from formulaic.parser.types import Term
from formulaic.transforms.contrasts import C as formulaic_C
from formulaic.transforms.contrasts import TreatmentContrasts

from ..design.fixed import independent_columns, rename
from ..errors import ModelSpecError


def treatment_C(data, contrasts=None, *, levels=None, spans_intercept: bool = True):
    """formulaic's ``C()`` with the requested coding replaced by treatment contrasts.

    Examples
    --------
    >>> import formulaic, pandas as pd
    >>> d = pd.DataFrame({"g": ["a", "b", "c"]})
    >>> mm = formulaic.model_matrix("C(g, contr.sum())", d, context=TREATMENT_CONTEXT)
    >>> mm.values.tolist()  # treatment coding despite contr.sum()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    """
    return formulaic_C(data, TreatmentContrasts(), levels=levels, spans_intercept=spans_intercept)


TREATMENT_CONTEXT = {"C": treatment_C}


def zapsmall(a: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest absolute entry.

    Examples
    --------
    >>> import numpy as np
    >>> zapsmall(np.array([1.0, 1e-12, -3e-10])).tolist()
    [1.0, 0.0, 0.0]
    """
    mx = float(np.max(np.abs(a))) if a.size else 0.0
    if mx == 0:
        return a
    return np.round(a, max(0, digits - int(np.ceil(np.log10(mx))))) + 0.0  # no -0.0


def _matrix(formula, data):
    return formulaic.model_matrix(formula, data, na_action="ignore", context=TREATMENT_CONTEXT)


@dataclass(frozen=True)
class TreatmentDesign:
    """The fitted model's fixed-effects design with treatment contrasts.

    Attributes
    ----------
    X : ndarray (n, p_t)
        Treatment-coded design, full column rank.
    names : list of str
        Its column names (formulaic spelling).
    terms : dict
        Term label (as in the fit) → positions in ``X``.
    to_treatment : ndarray (p_t, p)
        M with β_t = M β (``zapsmall(X_t⁺ X)``, lmerTest's ``map``).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> td = treatment_design(m)
    >>> type(td).__name__, td.X.shape, td.names[:3]
    ('TreatmentDesign', (270, 6), ['(Intercept)', 'recipe[T.B]', 'recipe[T.C]'])
    """

    X: np.ndarray
    names: list
    terms: dict
    to_treatment: np.ndarray


def treatment_design(result) -> TreatmentDesign:
    """Re-code the fixed part of a fit with treatment contrasts (lmerTest's ``remake``).

    Raises :class:`~mixedpy.errors.ModelSpecError`, naming the terms, when the fitted coding does
    not span what treatment coding spans (e.g. a custom contrast matrix with too few columns), so
    that no type III hypothesis can be carried over.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ C(recipe, contr.sum()) + temp + (1 | replicate)",
    ...                 mixedpy.datasets.load("cake"))
    >>> td = treatment_design(m)
    >>> td.names  # the treatment columns keep the fitted factor's spelling
    ['(Intercept)', 'C(recipe, contr.sum())[T.B]', 'C(recipe, contr.sum())[T.C]', 'temp']
    >>> td.to_treatment[1:3, 1:3].tolist()  # β_B - β_A = S.B - S.A, β_C - β_A = -2 S.A - S.B
    [[-1.0, 1.0], [-2.0, -1.0]]
    """
    spec = result.fixed.spec
    mm = _matrix(spec.formula, result.frame.data)
    Xt_full = np.asarray(mm, dtype=float)
    kept = independent_columns(Xt_full)
    Xt = Xt_full[:, kept]
    all_names = rename(mm.columns)
    names = [all_names[j] for j in kept]
    where = {int(k): i for i, k in enumerate(kept)}
    terms = {str(t): [where[i] for i in idx if i in where] for t, idx in mm.model_spec.term_indices.items()}
    X = np.asarray(result.workspace.X, dtype=float)
    _check_span(X, Xt, names, terms)
    M = zapsmall(np.linalg.lstsq(Xt, X, rcond=None)[0])
    return TreatmentDesign(X=Xt, names=names, terms=terms, to_treatment=M)


def _check_span(X: np.ndarray, Xt: np.ndarray, names: list, terms: dict, tol: float = 1e-7) -> None:
    coef = np.linalg.lstsq(X, Xt, rcond=None)[0]
    resid = np.linalg.norm(Xt - X @ coef, axis=0)
    bad = np.flatnonzero(resid > tol * np.maximum(np.linalg.norm(Xt, axis=0), 1e-300))
    if len(bad):
        where = [label for label, pos in terms.items() if set(pos) & set(bad.tolist())]
        raise ModelSpecError(
            "type III tests need a coding of each factor that spans its contrasts; the fitted "
            f"design does not span the treatment-coded column(s) {', '.join(names[j] for j in bad)} "
            f"of term(s) {', '.join(repr(w) for w in where)} (is a custom contrast matrix short of columns?)")


def cell_matrix(result, factors) -> np.ndarray:
    """One column per cell of a term (lmerTest's ``model.matrix(~ 0 + term)``), any coding.

    ``factors`` are the term's formulaic factors; numeric ones multiply the cell indicators.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> from mixedpy.inference.contrasts import model_terms
    >>> M = cell_matrix(m, model_terms(m)[0].factors)  # recipe: one indicator column per recipe
    >>> M.shape, M[:2].tolist()
    ((270, 3), [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    """
    mm = _matrix(formulaic.Formula([Term(list(factors))]), result.frame.data)
    return np.asarray(mm, dtype=float)
