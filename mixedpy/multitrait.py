"""``fit_multitrait()``: a multi-trait model from wide data (one column per trait), as breeders
enter it in ASReml, sommer or BLUPF90; built as the long-format model and fitted by :func:`fit`.

The wide rows become one long row per (record, trait) with a value (missing trait values are
dropped: unbalanced multi-trait data are allowed), and the model is

    y ~ 0 + trait + trait:f1 + trait:f2 …        (every fixed effect trait-specific)
        + (0 + trait | g) for each random factor g (k × k unstructured G₀, ⊗ K with relmat)
    residual = us(trait | record)                 (k × k R₀ between the traits of one record)

so Var(y) = Z (K ⊗ G₀) Zᵀ + (I ⊗ R₀) restricted to the observed values.

Mapping to other programs
-------------------------
==========================  ===========================================  ==========================
mixedpy                     ASReml-R                                     sommer / BLUPF90
==========================  ===========================================  ==========================
``traits=["wwg", "pwg"]``   ``cbind(wwg, pwg) ~ trait + ...``            ``cbind(wwg, pwg) ~``
                                                                         / two OBSERVATION columns
``fixed="sex"``             ``trait:sex``                                ``sex`` / EFFECT ``sex``
                                                                         (one column per trait)
``random="animal"``         ``~ us(trait):vm(animal, ainv)``             ``vsr(usr(trait), animal,
``relmat={"animal": ped}``                                               Gu=A)`` / ``add_animal``
``residual="us"``           ``residual = ~ units:us(trait)``             ``usr(trait)`` / RESIDUAL
                                                                         k × k
``variances={"animal": G0,  fixed ``init`` with ``"F"`` constraints      ``(CO)VARIANCES`` and
"Residual": R0}``                                                        ``(CO)VARIANCES_RESIDUAL``
==========================  ===========================================  ==========================

Estimates are in the long model's names: ``trait[wwg]``, ``trait[wwg]:sex[M]`` (the sex contrast
of wwg), ``m.ranef["animal"]`` has one column per trait (the breeding values) and
``m.term_covariance(...)``/``m.residual_cov()`` are G₀ and R₀; :mod:`mixedpy.inference.breeding`
gives heritabilities, genetic correlations, PEV and reliabilities.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .api import fit
from .design.frame import as_dataframe
from .errors import ColumnNotFoundError, DataError, ModelSpecError
from .results import LmmResult

TRAIT, VALUE, RECORD = "trait", "y", "record"
RESIDUALS = ("us", "diag")


def _names(value, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, Sequence) else None
    if items is None or not all(isinstance(v, str) and v.strip() for v in items):
        raise ModelSpecError(f"{what} must be a column name or a list of column names, got {value!r}")
    return [v.strip() for v in items]


def _fixed_terms(fixed) -> list[str]:
    if fixed is None:
        return []
    if not isinstance(fixed, str):
        raise ModelSpecError(f"fixed must be a formula right-hand side such as 'sex + age', got {fixed!r}")
    terms = [t.strip() for t in fixed.split("+")]
    if any(not t for t in terms) or "~" in fixed or "|" in fixed:
        raise ModelSpecError(f"fixed must be a formula right-hand side such as 'sex + age' (no '~', "
                             f"no random terms), got {fixed!r}")
    return [t for t in terms if t not in ("1", "0", "-1")]


def long_format(data, traits: Sequence[str], keep: Sequence[str]) -> pd.DataFrame:
    """The long data of a wide multi-trait data set: columns ``keep``, ``record`` (the wide row),
    ``trait`` (categorical, levels in the order of ``traits``) and ``y``; missing values dropped.

    Examples
    --------
    >>> import mixedpy
    >>> long = long_format(mixedpy.datasets.load("mrode_calves"), ["wwg", "pwg"], ["animal", "sex"])
    >>> long.shape, list(long["trait"].cat.categories)
    ((10, 5), ['wwg', 'pwg'])
    """
    df = as_dataframe(data).reset_index(drop=True)
    df[RECORD] = np.arange(len(df))
    long = df.melt(id_vars=list(keep) + [RECORD], value_vars=list(traits), var_name=TRAIT, value_name=VALUE)
    long[TRAIT] = pd.Categorical(long[TRAIT], categories=list(traits))
    return long[long[VALUE].notna()].sort_values([RECORD, TRAIT]).reset_index(drop=True)


def multitrait_formula(fixed, random: Sequence[str]) -> str:
    """The long model's formula (see the module docstring).

    Examples
    --------
    >>> multitrait_formula("sex + age", ["animal"])
    'y ~ 0 + trait + trait:sex + trait:age + (0 + trait | animal)'
    """
    rhs = ["0 + trait"] + [f"{TRAIT}:{t}" for t in _fixed_terms(fixed)] + [f"(0 + {TRAIT} | {g})" for g in random]
    return f"{VALUE} ~ " + " + ".join(rhs)


def fit_multitrait(data, traits: Sequence[str], fixed: str | None = None, random: str | Sequence[str] = (),
                   *, relmat: Mapping | None = None, variances: Mapping | None = None,
                   residual: str = "us", reml: bool = True, **options) -> LmmResult:
    """Fit a multi-trait mixed model from wide data (one column per trait; see the module
    docstring for the long model and the ASReml / sommer / BLUPF90 equivalents).

    Parameters
    ----------
    data : DataFrame
        One row per record (an animal's measurements), one numeric column per trait; missing
        trait values are allowed (that trait is unobserved for the record).
    traits : list of str
        The trait columns, at least two.
    fixed : str, optional
        Fixed effects as a formula right-hand side (``"sex + age"``); each is fitted per trait,
        besides a mean per trait.
    random : str or list of str
        Grouping columns with a k × k unstructured covariance between the traits (G₀).
    relmat : dict, optional
        ``{group: Pedigree, relationship DataFrame or RelInverse}`` as in :func:`mixedpy.fit`.
    variances : dict, optional
        Known ``{group: G₀ (k × k), "Residual": R₀ (k × k)}`` (arrays or DataFrames labelled by
        trait): BLUE/BLUP at these values instead of REML.
    residual : {"us", "diag"}
        Residual covariance between the traits of a record: unstructured R₀ or uncorrelated.
    reml : bool
        REML (True) or ML.
    **options
        Passed to :func:`mixedpy.fit` (``optimizer``, ``engine``, ``n_threads``).

    Returns
    -------
    LmmResult
        The long model's fit.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> m = mixedpy.fit_multitrait(mixedpy.datasets.load("mrode_calves"), traits=["wwg", "pwg"],
    ...                            fixed="sex", random="animal", relmat={"animal": ped},
    ...                            variances={"animal": [[20, 18], [18, 40]], "Residual": [[40, 11], [11, 30]]})
    >>> np.round(m.ranef["animal"].iloc[0].to_numpy(), 4)
    array([0.1509, 0.2796])
    """
    df = as_dataframe(data)
    traits = _names(traits, "traits")
    groups = _names(random, "random")
    if len(traits) < 2 or len(set(traits)) != len(traits):
        raise ModelSpecError(f"traits must name at least two different columns, got {traits!r}")
    if not isinstance(residual, str) or residual not in RESIDUALS:
        raise ModelSpecError(f"residual must be one of {', '.join(RESIDUALS)}, got {residual!r}")
    for c in (TRAIT, VALUE, RECORD):
        if c in df.columns:
            raise ModelSpecError(f"the data already have a column {c!r}, which the long format creates; "
                                 f"rename it")
    for c in traits + groups:
        if c not in df.columns:
            raise ColumnNotFoundError(f"column {c!r} ({'trait' if c in traits else 'random'}) is not in the data")
    for c in traits:
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            raise DataError(f"trait column {c!r} must be numeric, got {col.dtype}")
        if col.notna().sum() == 0:
            raise DataError(f"trait column {c!r} has no observed values")
    if relmat is not None and isinstance(relmat, Mapping):
        extra = [k for k in relmat if k not in groups]
        if extra:
            raise ModelSpecError(f"relmat key(s) {extra} are not among the random groups {groups}")
    formula = multitrait_formula(fixed, groups)
    keep = [c for c in df.columns if c not in traits]
    long = long_format(df, traits, keep)
    return fit(formula, long, reml, relmat=relmat, variances=variances,
               residual=f"{residual}({TRAIT} | {RECORD})", **options)
