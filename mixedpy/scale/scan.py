"""``scan``: genome-wide marker scan against a mixed model (EMMAX / FaST-LMM "P3D").

The model
---------
The null model ``y = Xβ + Zu + e`` (e.g. ``"y ~ sex + (1 | animal)"`` with ``Var(u) = σ²_g K``) is
fitted once by REML.  Each marker ``x`` (allele counts 0/1/2 of the records' individuals) is then
tested as one added fixed effect, ``y = Xβ + xγ + Zu + e``, with the variance components held at the
null estimates ("population parameters previously determined", P3D).  With V the null covariance of
y, the GLS estimate and its variance are

    γ̂ = xᵀPy / xᵀPx,   Var(γ̂) = 1 / xᵀPx,   P = V⁻¹ − V⁻¹X(XᵀV⁻¹X)⁻¹XᵀV⁻¹.

How it is computed (exactly, no low-rank or other approximation)
----------------------------------------------------------------
(:mod:`.null_model` step 1, :mod:`.rotation` steps 2 and 3, :mod:`.markers` the marker sources,
:mod:`.executors` the local and Dask runs.)

1. Null REML.  ``null_fit="tridiagonal"`` (chosen by ``"auto"`` when the random part is exactly
   ``(1 | group)`` with a relationship matrix): V = σ²_g K_y + σ²_e I with K_y = Z K Zᵀ (the
   relationship between records).  K_y = Q T Qᵀ is reduced once to tridiagonal form (LAPACK
   ``dsytrd``, about 3 times the cost of a Cholesky and far cheaper than an eigendecomposition);
   Qᵀ[y X] is formed from the Householder reflectors.  Then for every h² = σ²_g/(σ²_g + σ²_e) the
   REML criterion needs only the tridiagonal h²T + (1−h²)I: an O(n) LDLᵀ (``dpttrf``) gives
   log|V| and the solves.  h² is found by a grid over [0, 0.99999] refined by bounded Brent search
   (x tolerance 1e-10).  The criterion is lme4's (the same number :func:`mixedpy.fit` reports as
   ``reml_criterion``).  Otherwise (``"fit"``) the null model is :func:`mixedpy.fit` with
   ``relmat={group: K}`` (any random part), and V is assembled from its variance components.
2. Rotation.  V = L Lᵀ (dense Cholesky, once).  With ỹ = L⁻¹y, X̃ = L⁻¹X, Q̃ an orthonormal basis
   of X̃ and r̃ = ỹ − Q̃Q̃ᵀỹ, every marker chunk G (records × markers) is one triangular solve
   G̃ = L⁻¹G (BLAS ``trsm``), then G̃⊥ = G̃ − Q̃(Q̃ᵀG̃) and, per column,
   xᵀPx = ‖x̃⊥‖², xᵀPy = x̃⊥ᵀr̃.  The cost is n² per marker (n records), the memory n² + n·chunk.
3. Test.  ``test="wald"`` (default): variance components fixed, statistic (γ̂/se)² ~ χ²₁; these
   p-values equal those of ``mixedpy.fit(formula + marker, variances=<null estimates>)``.
   ``test="f"``: only the ratio σ²_g/σ²_e is fixed and the scale is re-estimated per marker,
   σ̂² = (r̃ᵀr̃ − γ̂² xᵀPx)/(n − p − 1), statistic F(1, n − p − 1): this is FaST-LMM's
   ``single_snp`` (and EMMAX) given the same null model.

Missing genotypes are imputed by the marker's mean over the analysed individuals (as FaST-LMM does);
``n`` counts the records whose genotype was observed and ``allele_freq`` is the frequency of the
counted allele (PLINK's A1 for .bed files) among the analysed individuals.  A marker that is constant
over them, or collinear with X, gets NaN statistics.

Markers
-------
* an individuals × markers DataFrame (index: individual ids matching the ``group`` column; columns:
  marker names) or ndarray (rows: ``ids``, else the labels of the relationship matrix);
* a PLINK fileset ``"prefix"`` / ``"prefix.bed"`` (with .bim and .fam) read with bed-reader, chunk by
  chunk, so the genotype matrix is never held in memory whole; individuals are matched by the .fam
  IID; chromosome and position come from the .bim.

Dask
----
With ``client=``, the rotation (L, Q̃, r̃: about 8n² bytes) is scattered once to every worker and each
chunk is one task (a .bed chunk is read by the worker itself) run with one BLAS thread.  Locally the
chunks run one after the other, the triangular solve with all BLAS threads (OpenBLAS's trsm gives the
same bits whatever the thread count) and the small reductions over n with one.  Both use the same
chunk function, so local and Dask results are identical (on workers with the same BLAS kernels).
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..design.frame import as_dataframe
from ..errors import ColumnNotFoundError, DataError, ModelSpecError, RowsDroppedWarning
from .executors import run_dask, run_local
from .markers import MarkerSource, marker_source
from .null_model import NullModel, fit_null, tridiagonal_reml
from .relmat import key_strings, relmat_frame
from .rotation import SCAN_COLUMNS, Rotation, test_chunk, whiten

__all__ = ["SCAN_COLUMNS", "NullModel", "Rotation", "scan", "test_chunk"]

TESTS = ("wald", "f")
NULL_FITS = ("auto", "tridiagonal", "fit")
_tridiagonal_reml = tridiagonal_reml  # its name here before the split (tests/test_scale.py)


# --- setting up -------------------------------------------------------------------------------------------
def _resolve(formula: str, group: str | None, relmat) -> tuple[str | None, Any]:
    """(group, K) from the group= and relmat= arguments (relmat may be {group: K})."""
    from ..formula import parse_formula
    f = parse_formula(formula)
    if isinstance(relmat, dict):
        if len(relmat) != 1:
            raise ModelSpecError("scan takes one relationship matrix (relmat={group: K}); got "
                                 f"{len(relmat)} entries")
        (g, K), = relmat.items()
        if group is not None and group != g:
            raise ModelSpecError(f"group={group!r} but relmat is given for {g!r}")
        group, relmat = g, K
    if group is None:
        names = [t.name for t in f.random]
        if len(set(names)) != 1:
            raise ModelSpecError("give group= (the column of individual ids): the formula's random terms "
                                 f"have {len(set(names))} grouping factors")
        group = names[0]
    if relmat is not None and group not in {t.name for t in f.random}:
        raise ModelSpecError(f"the formula has no random term for {group!r}, e.g. (1 | {group})")
    return group, relmat


def _prepare(formula, data, src: MarkerSource, group: str, K, test: str, null_fit: str,
             variances: dict | None) -> tuple[Rotation, NullModel, np.ndarray, int]:
    """Fit the null model and build the rotation; returns (rotation, null, genotype rows, n)."""
    if group not in data.columns:
        raise ColumnNotFoundError(f"group column {group!r} is not in the data")
    geno_pos = pd.Index(src.ids).get_indexer(key_strings(data[group]))
    if pd.Index(src.ids).has_duplicates:
        raise DataError("an individual appears twice among the marker rows")
    keep = geno_pos >= 0
    if not keep.any():
        raise DataError(f"no individual of column {group!r} has genotypes")
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} of {len(data)} rows dropped: their {group!r} has no "
                      "genotypes", RowsDroppedWarning, stacklevel=3)
    null, y, X, V, rows_data = fit_null(formula, data.loc[keep], group, K, null_fit, variances)
    L, Q, r, beta = whiten(V, X, y)
    if len(beta) and null.beta.isna().all():  # known variances: the GLS β̂ from the rotation
        null.beta[:] = beta
    # genotype rows to read: the records' individuals, each once, in file order
    rec_pos = pd.Index(src.ids).get_indexer(key_strings(rows_data[group]))
    geno_rows, record_ind = np.unique(rec_pos, return_inverse=True)
    ind_records = np.bincount(record_ind, minlength=len(geno_rows)).astype(float)
    if len(record_ind) == len(geno_rows) and np.array_equal(record_ind, np.arange(len(record_ind))):
        record_ind = None  # one record per individual, in genotype order: no gather needed
    rot = Rotation(L=np.asfortranarray(L), Q=Q, r=r, record_ind=record_ind, ind_records=ind_records,
                   test=test)
    return rot, null, geno_rows, len(y)


# --- the scan ---------------------------------------------------------------------------------------------
def scan(formula: str, data: pd.DataFrame, markers, group: str | None = None, relmat=None, *,
         client: Any = None, chunk_size: int = 1000, test: str = "wald", null_fit: str = "auto",
         variances: dict | None = None, ids=None, marker_map: pd.DataFrame | None = None,
         count_A1: bool = True, progress: bool | None = None) -> pd.DataFrame:
    """Test every marker as a fixed effect added to a mixed model (EMMAX / FaST-LMM P3D).

    Parameters
    ----------
    formula : str
        The null model, e.g. ``"y ~ sex + (1 | animal)"``.
    data : DataFrame
        Phenotypes (pandas, polars, pyarrow, ...); rows whose individual has no genotypes are dropped (with a warning).
    markers : pandas.DataFrame, ndarray or str
        Individuals × markers allele counts (0/1/2, NaN missing), or the path of a PLINK fileset
        (``"prefix"``, ``"prefix.bed"``), read chunk by chunk with bed-reader.
    group : str, optional
        Column of individual ids (the grouping factor of the relationship term); inferred from
        ``relmat={group: K}`` or a formula with one grouping factor.
    relmat : DataFrame, Pedigree or dict, optional
        Relationship matrix of ``group`` (e.g. :func:`mixedpy.grm`), or ``{group: K}``.  Without
        it the group's effects are iid.
    client : dask.distributed.Client, optional
        Run the chunks as Dask tasks (the rotation is scattered to the workers once).
    chunk_size : int, default 1000
        Markers per chunk; memory is about n² + 2·n·chunk_size doubles (n records); on Dask, per
        worker thread.
    test : {"wald", "f"}
        ``"wald"``: all variance components fixed, χ²₁ (equals ``mixedpy.fit(..., variances=)``);
        ``"f"``: variance ratio fixed, scale re-estimated per marker, F(1, n − p − 1) (FaST-LMM).
    null_fit : {"auto", "tridiagonal", "fit"}
        How the null REML is computed (see the module documentation).
    variances : dict, optional
        Known null variance components ``{group: σ²_g, "Residual": σ²_e}`` instead of REML.
    ids : sequence, optional
        Individual id of each row of an ndarray ``markers`` (default: the labels of ``relmat``).
    marker_map : pandas.DataFrame, optional
        ``chrom`` and ``pos`` columns indexed by marker name (for in-memory markers).
    count_A1 : bool, default True
        For .bed input: count the A1 allele (PLINK's convention).
    progress : bool or None, default None
        A tqdm progress bar over the chunks: None shows it only on an interactive terminal or in Jupyter,
        True always (a line every few seconds into a log), False never (see :mod:`mixedpy.progress`).

    Returns
    -------
    pandas.DataFrame
        One row per marker (index ``marker``; ``chrom`` and ``pos`` when known): ``effect`` (per
        counted allele), ``se``, ``statistic`` ((effect/se)²), ``p``, ``allele_freq``, ``n``.
        ``attrs["null"]`` describes the null model (:meth:`NullModel.as_dict`), ``attrs["test"]``
        the test, ``attrs["nobs"]``/``attrs["n_individuals"]`` the records and genotyped individuals
        analysed, ``attrs["seconds"]`` the time spent on the null model and rotation, and on the markers.

    Examples
    --------
    >>> import numpy as np, pandas as pd, mixedpy
    >>> rng = np.random.default_rng(1)
    >>> ids = [f"a{i}" for i in range(200)]
    >>> M = pd.DataFrame(rng.binomial(2, 0.3, size=(200, 50)).astype(float), index=ids)
    >>> K = mixedpy.grm(M)
    >>> data = pd.DataFrame({"y": 0.8 * M[3].to_numpy() + rng.normal(size=200), "animal": ids})
    >>> res = mixedpy.scan("y ~ 1 + (1 | animal)", data, M, relmat=K, progress=False)
    >>> int(res["p"].idxmin()), res.shape
    (3, (50, 6))
    """
    data = as_dataframe(data)  # pandas, polars, pyarrow, ...: pandas with NumPy-backed columns
    if test not in TESTS:
        raise ModelSpecError(f"test {test!r} is not supported; use 'wald' or 'f'")
    if null_fit not in NULL_FITS:
        raise ModelSpecError(f"null_fit {null_fit!r} is not supported; use one of {', '.join(NULL_FITS)}")
    if int(chunk_size) < 1:
        raise ModelSpecError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    group, K = _resolve(formula, group, relmat)
    default_ids = None
    if K is not None and not isinstance(markers, (pd.DataFrame, str, Path)):
        default_ids = list(relmat_frame(K).index)
    src = marker_source(markers, ids, marker_map, default_ids)
    src.count_A1 = bool(count_A1)
    t0 = time.perf_counter()
    rot, null, geno_rows, n = _prepare(formula, data, src, group, K, test, null_fit, variances)
    t1 = time.perf_counter()

    bounds = [(a, min(a + chunk_size, src.m)) for a in range(0, src.m, chunk_size)]
    if client is not None:
        parts = run_dask(client, rot, src, geno_rows, bounds, progress)
    else:
        parts = run_local(rot, src, geno_rows, bounds, progress)
    values = np.vstack(parts) if parts else np.zeros((0, len(SCAN_COLUMNS)))
    out = pd.DataFrame(values, index=src.names, columns=SCAN_COLUMNS)
    out["n"] = out["n"].astype(np.int64)
    if src.pos is not None:
        out.insert(0, "pos", src.pos)
    if src.chrom is not None:
        out.insert(0, "chrom", src.chrom)
    out.attrs["null"] = null.as_dict()
    out.attrs["test"] = test
    out.attrs["nobs"] = n
    out.attrs["n_individuals"] = len(geno_rows)
    out.attrs["seconds"] = {"null_and_rotation": t1 - t0, "markers": time.perf_counter() - t1}
    return out
