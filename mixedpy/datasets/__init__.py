"""Data sets shipped with mixedpy, loaded as pandas DataFrames (factors as ordered-as-R Categoricals).

===================  ======================================================================================
name                 description
===================  ======================================================================================
sleepstudy           reaction times of 18 subjects over 10 days of sleep deprivation (lme4)
dyestuff             yield of dyestuff, 5 samples from each of 6 batches (lme4)
dyestuff2            simulated data in the layout of dyestuff: a singular fit (lme4)
penicillin           diameters of growth-inhibition zones: 24 plates × 6 samples, crossed (lme4)
pastes               paste strength: 10 batches, 3 casks nested in each batch, 2 samples (lme4)
cake                 breakage angle of cakes: 3 recipes × 6 temperatures × 15 replicates (lme4)
mrode_pedigree       the 8-animal pedigree of Mrode (2014), Example 3.1 (``sire``/``dam`` missing: unknown)
mrode_calves         pre-weaning (``wwg``, Example 3.1) and post-weaning (``pwg``, Example 5.1) gain, kg,
                     of Mrode's 5 beef calves; Mrode's variances: σ²_a = 20, σ²_e = 40 for ``wwg``
cattle_pedigree      a simulated beef herd: 40 founders and 4 generations of 100 calves
cattle_records       weaning weight of the 400 calves (sex, herd), h² = 0.4 in the founders
cattle_genotypes     1,000 SNPs (0/1/2 copies of A1) of the 300 calves of generations 2-4, from the PLINK
                     fileset ``path("cattle")`` (cattle.bed/.bim/.fam); one large QTL at ``snp3_101``
met                  a simulated multi-environment variety trial: 24 genotypes × 6 environments × 3
                     replicates, ``yield`` (t/ha, 5 plots lost) and ``height`` (cm)
fev_data             simulated clinical trial: FEV1 of 200 patients at 4 visits, 263 values missing
cbpp                 contagious bovine pleuropneumonia: new cases (``incidence``) among ``size`` cattle,
                     15 herds × 4 periods; ``prop`` = incidence / size (lme4)
grouseticks          ticks on the heads of 403 red grouse chicks (``INDEX``) of 118 broods at 63 locations,
                     1995-97, with the location's height above sea level (lme4)
verbagg              verbal aggression: 316 subjects (``id``) × 24 items, ``r2`` = 1 for a "yes" or
                     "perhaps" answer; trait anger, gender, behaviour type, situation (lme4)
epil                 epileptic seizures of 59 patients: counts in the 8-week baseline (``period`` 0,
                     ``exposure`` 4) and in four 2-week periods (``exposure`` 1); placebo or progabide
                     (MASS)
contraception        contraceptive use (``use`` = 1) of 1,934 women in 60 districts of Bangladesh (1989
                     fertility survey): centred age, number of living children, urban / rural (mlmRev)
guimmun              complete immunization (``immun`` = 1) of 2,159 children of 1,595 mothers in 161
                     communities in Guatemala (mlmRev)
===================  ======================================================================================

Sources. lme4's data sets are those of the R package lme4 (GPL ≥ 2; real data published in the
books and papers cited in its manual). Mrode's examples are the numbers printed in R. A. Mrode (2014),
*Linear Models for the Prediction of Animal Breeding Values*, 3rd ed., CABI: Examples 3.1 and 5.1.
``fev_data`` is the simulated data set of the R package **mmrm** (openpharma; Apache License 2.0),
copied unchanged apart from the factor levels set below (``ARMCD``: PBO, TRT; ``SEX``: Male, Female).
``cattle_*`` and ``met`` are simulated by ``tools/make_datasets.py`` in mixedpy's repository (MIT).
``cbpp``, ``grouseticks`` and ``verbagg`` are lme4's data sets (GPL ≥ 2), ``contraception`` and
``guimmun`` those of the R package mlmRev (GPL ≥ 2), ``epil`` the seizure counts of the R package
MASS (GPL-2 | GPL-3; Thall & Vail 1990) with the baseline count as period 0, as in Venables & Ripley
(2002), *Modern Applied Statistics with S*, § 10.4; the binary responses (``r2``, ``use``, ``immun``)
are coded 0/1. They are written by ``tests/reference/glmer_ref.R``, the script of mixedpy's GLMM
reference values; the levels of their grouping factors are the sorted ids.

Examples
--------
>>> import mixedpy
>>> "fev_data" in mixedpy.datasets.names()
True
>>> mixedpy.datasets.load("mrode_calves")  # doctest: +NORMALIZE_WHITESPACE
  animal sex  wwg  pwg
0      4   M  4.5  6.8
1      5   F  2.9  5.0
2      6   F  3.9  6.8
3      7   M  3.5  6.0
4      8   M  5.0  7.5
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["load", "names", "path", "read_plink_bed"]

# name → (file, {factor column: its levels, or None for R's factor() order: sorted values})
_FILES: dict[str, tuple[str, dict]] = {
    "sleepstudy": ("sleepstudy.csv", {"Subject": None}),
    "dyestuff": ("Dyestuff.csv", {"Batch": None}),
    "dyestuff2": ("Dyestuff2.csv", {"Batch": None}),
    "penicillin": ("Penicillin.csv", {"plate": None, "sample": None}),
    "pastes": ("Pastes.csv", {"batch": None, "cask": None, "sample": None}),
    "cake": ("cake.csv", {"replicate": None, "recipe": None, "temperature": None}),
    "mrode_pedigree": ("mrode_pedigree.csv", {}),
    "mrode_calves": ("mrode_calves.csv", {"sex": ["F", "M"]}),
    "cattle_pedigree": ("cattle_pedigree.csv", {}),
    "cattle_records": ("cattle_records.csv", {"sex": ["F", "M"], "herd": None}),
    "met": ("met.csv", {"env": None, "rep": None, "genotype": None}),
    "fev_data": ("fev_data.csv", {"USUBJID": "natural", "AVISIT": None, "ARMCD": ["PBO", "TRT"],
                                  "RACE": None, "SEX": ["Male", "Female"]}),
    "cbpp": ("cbpp.csv", {"herd": None, "period": None}),
    "grouseticks": ("grouseticks.csv", {"INDEX": None, "BROOD": None, "YEAR": None, "LOCATION": None}),
    "verbagg": ("VerbAgg.csv", {"id": None, "item": [
        "S1WantCurse", "S1WantScold", "S1WantShout", "S2WantCurse", "S2WantScold", "S2WantShout",
        "S3WantCurse", "S3WantScold", "S3WantShout", "S4wantCurse", "S4WantScold", "S4WantShout",
        "S1DoCurse", "S1DoScold", "S1DoShout", "S2DoCurse", "S2DoScold", "S2DoShout",
        "S3DoCurse", "S3DoScold", "S3DoShout", "S4DoCurse", "S4DoScold", "S4DoShout"],
        "Gender": ["F", "M"], "btype": ["curse", "scold", "shout"], "situ": ["other", "self"]}),
    "epil": ("epil.csv", {"subject": None, "trt": ["placebo", "progabide"]}),
    "contraception": ("Contraception.csv", {"woman": None, "district": None,
                                            "livch": ["0", "1", "2", "3+"], "urban": ["N", "Y"]}),
    "guimmun": ("guImmun.csv", {"kid": None, "mom": None, "comm": None, "kid2p": ["N", "Y"],
                                "mom25p": ["N", "Y"], "ord": ["01", "23", "46", "7p"],
                                "ethn": ["L", "N", "S"], "momEd": ["N", "P", "S"],
                                "husEd": ["N", "P", "S", "U"], "momWork": ["N", "Y"],
                                "rural": ["N", "Y"]}),
}
_PLINK = {"cattle_genotypes": "cattle"}


def names() -> list[str]:
    """Names of the shipped data sets.

    Examples
    --------
    >>> names()[:3]
    ['cake', 'cattle_genotypes', 'cattle_pedigree']
    """
    return sorted([*_FILES, *_PLINK])


def path(name: str) -> Path:
    """The path of a shipped file: a data set's CSV file, or a PLINK fileset's prefix (``"cattle"``:
    cattle.bed, cattle.bim and cattle.fam), e.g. for :func:`mixedpy.scan`.

    Examples
    --------
    >>> path("cattle").with_suffix(".bed").is_file()
    True
    >>> path("met").name
    'met.csv'
    """
    here = Path(str(resources.files(__name__)))
    key = name.lower()
    if key in _FILES:
        return here / _FILES[key][0]
    if key in _PLINK.values() or key in _PLINK:
        return here / _PLINK.get(key, key)
    raise KeyError(f"no data set {name!r}; available: {', '.join(names())}")


def load(name: str) -> pd.DataFrame:
    """Load a shipped data set (see the module docstring for the list).

    Grouping and factor columns are pandas Categoricals whose level order is R's (sorted values,
    or the order given in the source); the frame's ``attrs["name"]`` is the data set's name.

    Parameters
    ----------
    name : str
        One of :func:`names` (case-insensitive).

    Returns
    -------
    pandas.DataFrame
        ``cattle_genotypes`` is individuals (index: ids) × markers, allele counts as float.

    Examples
    --------
    >>> load("sleepstudy").shape
    (180, 3)
    >>> load("fev_data")["ARMCD"].cat.categories.tolist()
    ['PBO', 'TRT']
    >>> load("cattle_genotypes").shape
    (300, 1000)
    """
    key = name.lower()
    if key in _PLINK:
        df = read_plink_bed(path(_PLINK[key]))
        df.attrs["name"] = key
        return df
    if key not in _FILES:
        raise KeyError(f"no data set {name!r}; available: {', '.join(names())}")
    fname, factors = _FILES[key]
    with resources.files(__name__).joinpath(fname).open("r") as fh:
        df = pd.read_csv(fh)
    for col, levels in factors.items():
        if levels == "natural":  # PT1, PT2, …, PT10: by the number in the id
            uniq = df[col].drop_duplicates()
            levels = sorted(uniq, key=lambda s: (len(str(s)), str(s)))
        df[col] = pd.Categorical(df[col], categories=levels)
    df.attrs["name"] = key
    return df


def read_plink_bed(prefix: str | Path) -> pd.DataFrame:
    """Read a small PLINK 1 fileset (.bed/.bim/.fam) into memory with NumPy alone (no bed-reader).

    Counts of the A1 allele (PLINK's convention), NaN for missing genotypes; rows are the .fam IIDs,
    columns the .bim marker names. For large files use :func:`mixedpy.scan` with the path, which reads
    the markers chunk by chunk (the ``gwas`` extra).

    Examples
    --------
    >>> M = read_plink_bed(path("cattle"))
    >>> M.index[:2].tolist(), M.columns[:2].tolist(), sorted(np.unique(M.to_numpy()).tolist())
    (['A101', 'A102'], ['snp1_1', 'snp1_2'], [0.0, 1.0, 2.0])
    """
    prefix = Path(prefix)
    if prefix.suffix.lower() in (".bed", ".bim", ".fam"):
        prefix = prefix.with_suffix("")
    fam = pd.read_csv(prefix.with_suffix(".fam"), sep=r"\s+", header=None, dtype=str)
    bim = pd.read_csv(prefix.with_suffix(".bim"), sep=r"\s+", header=None, dtype=str)
    n, m = len(fam), len(bim)
    raw = np.fromfile(prefix.with_suffix(".bed"), dtype=np.uint8)
    if raw[:3].tolist() != [0x6C, 0x1B, 0x01]:
        from ..errors import DataError

        raise DataError(f"{prefix.with_suffix('.bed')} is not a SNP-major PLINK .bed file")
    per = (n + 3) // 4
    codes = np.unpackbits(raw[3:3 + per * m].reshape(m, per, 1), axis=2, bitorder="little")
    codes = codes.reshape(m, per, 4, 2)                       # 4 genotypes a byte, low bits first
    two = (codes[..., 0] + 2 * codes[..., 1]).reshape(m, per * 4)[:, :n]
    # 00: two A1, 01: missing, 10: one of each, 11: no A1
    lookup = np.array([2.0, np.nan, 1.0, 0.0])
    return pd.DataFrame(lookup[two].T, index=pd.Index(fam[1].to_numpy(), name="iid"),
                        columns=pd.Index(bim[1].to_numpy(), name="snp"))
