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

import contextlib
import logging
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as la
from scipy import optimize, stats
from scipy.linalg import lapack

from ..errors import ColumnNotFoundError, DataError, DataTypeError, ModelSpecError, RowsDroppedWarning
from ..genetics.tridiagonal import Householder, tridiagonal_solve
from ..progress import tqdm
from ..threads import blas_limit

__all__ = ["SCAN_COLUMNS", "NullModel", "scan"]

SCAN_COLUMNS = ["effect", "se", "statistic", "p", "allele_freq", "n"]
H2_MAX = 0.99999
TESTS = ("wald", "f")
NULL_FITS = ("auto", "tridiagonal", "fit")


class MissingDependencyError(ImportError):
    """An optional dependency (bed-reader: the ``gwas`` extra; dask: the ``dask`` extra) is missing."""


# --- the null model -------------------------------------------------------------------------------------
@dataclass
class NullModel:
    """The fitted null model of a scan.

    Attributes
    ----------
    variances : dict
        ``{group: σ²_g, ..., "Residual": σ²_e}`` (REML estimates, or as given).
    reml_criterion : float
        lme4's REML criterion at the estimates (NaN when the variances were given).
    method : str
        ``"tridiagonal"`` or ``"fit"`` (see the module documentation), or ``"given"`` (``variances=``
        with a single relationship term: no fit at all).
    h2 : float
        σ²_g / (σ²_g + σ²_e) for a single relationship term (NaN otherwise).
    beta : pandas.Series
        GLS fixed effects of the null model.
    result : LmmResult or None
        The :func:`mixedpy.fit` result (method ``"fit"``).
    """

    variances: dict
    reml_criterion: float
    method: str
    h2: float
    beta: pd.Series
    result: Any = None

    def as_dict(self) -> dict:
        return {"variances": dict(self.variances), "reml_criterion": self.reml_criterion,
                "method": self.method, "h2": self.h2, "beta": self.beta.to_dict()}


def _tridiagonal_reml(K: np.ndarray, y: np.ndarray, X: np.ndarray, fixed_h2: float | None = None
                      ) -> tuple[float, float, float, np.ndarray]:
    """REML over h² for V ∝ h²K + (1 − h²)I through one tridiagonal reduction of K.

    Returns (h², total variance σ²_g + σ²_e, REML criterion, β̂).
    """
    n, p = X.shape
    lwork = int(lapack.dsytrd_lwork(n, lower=1)[0])
    a, d, e, tau, info = lapack.dsytrd(K, lower=1, lwork=lwork, overwrite_a=0)
    if info != 0:
        raise DataError(f"tridiagonal reduction of the relationship matrix failed (LAPACK info {info})")
    B = Householder(a, tau).apply(np.column_stack([y, X]), transpose=True)  # Qᵀ[y X]
    dft = n - p
    log2pi = float(np.log(2 * np.pi))

    def parts(h2: float):
        try:
            df_, S = tridiagonal_solve(h2 * d + (1.0 - h2), h2 * e, B)
        except la.LinAlgError:
            return None
        M = B.T @ S
        A, b, yy = M[1:, 1:], M[1:, 0], M[0, 0]
        try:
            cf = la.cho_factor(A, lower=True, check_finite=False)
        except la.LinAlgError:
            return None
        beta = la.cho_solve(cf, b, check_finite=False)
        ypy = yy - b @ beta
        if not ypy > 0:
            return None
        s2 = ypy / dft
        crit = (np.sum(np.log(df_)) + 2 * np.sum(np.log(np.diag(cf[0])))
                + dft * (1.0 + log2pi + np.log(s2)))
        return float(crit), float(s2), beta

    def crit(h2: float) -> float:
        r = parts(h2)
        return np.inf if r is None else r[0]

    if fixed_h2 is not None:
        h2 = float(fixed_h2)
    else:
        grid = np.concatenate([np.linspace(0.0, 0.95, 20), [0.99, 0.999, H2_MAX]])
        vals = np.array([crit(h) for h in grid])
        if not np.isfinite(vals).any():
            raise DataError("the REML criterion of the null model is not finite for any h² in [0, 1)")
        i = int(np.argmin(vals))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        res = optimize.minimize_scalar(crit, bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-10, "maxiter": 500})
        cands = [(vals[i], grid[i]), (float(res.fun), float(res.x))]
        h2 = min(cands)[1]
    r = parts(h2)
    if r is None:
        raise DataError(f"the null model's covariance is singular at h² = {h2:.6g}")
    c, s2, beta = r
    return h2, s2, c, beta


# --- relationship matrices and keys ---------------------------------------------------------------------
def _key(values) -> list[str]:
    from ..genetics.pedigree import key_string
    return [key_string(v) for v in values]


def _relmat_frame(K) -> pd.DataFrame:
    """A relationship matrix as a square labelled DataFrame (a Pedigree gives its dense A)."""
    from ..genetics import Pedigree
    if isinstance(K, Pedigree):
        return K.A
    if not isinstance(K, pd.DataFrame):
        raise DataTypeError(f"a relationship matrix must be a square pandas DataFrame labelled by "
                            f"individual, or a mixedpy.Pedigree; got {type(K).__name__}")
    if K.shape[0] != K.shape[1]:
        raise ModelSpecError(f"the relationship matrix must be square, got shape {K.shape}")
    return K


def _matrix_for(K: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """K restricted to (and ordered by) the given individual keys (rows and columns)."""
    rk = pd.Index(_key(K.index))
    ck = pd.Index(_key(K.columns))
    ri, ci = rk.get_indexer(keys), ck.get_indexer(keys)
    if np.any(ri < 0) or np.any(ci < 0):
        missing = [k for k, a, b in zip(keys, ri, ci) if a < 0 or b < 0]
        raise DataError(f"{len(set(missing))} individual(s) of the data are not in the relationship "
                        f"matrix, e.g. {missing[0]!r}")
    return np.asarray(K.to_numpy(dtype=float)[np.ix_(ri, ci)])


# --- marker sources -------------------------------------------------------------------------------------
@dataclass
class _Source:
    """Where the markers come from: an in-memory array or a PLINK .bed fileset."""

    kind: str                     # "array" or "bed"
    ids: list                     # individual keys, one per genotype row
    names: pd.Index               # marker names
    chrom: np.ndarray | None = None
    pos: np.ndarray | None = None
    array: np.ndarray | None = None
    path: str | None = None
    count_A1: bool = True

    @property
    def m(self) -> int:
        return len(self.names)


def _bed_path(markers) -> str | None:
    if isinstance(markers, (str, Path)):
        p = Path(markers)
        if p.suffix.lower() in (".bed", ".bim", ".fam"):
            p = p.with_suffix("")
        return str(p.with_suffix(".bed")) if p.suffix == "" else str(p) + ".bed"
    return None


def _open_bed(path: str, **kwargs):
    try:
        from bed_reader import open_bed
    except ImportError:
        raise MissingDependencyError("reading PLINK .bed files needs bed-reader: pip install "
                                     "'mixedpy[gwas]' (or pip install bed-reader)") from None
    return open_bed(path, **kwargs)


@contextlib.contextmanager
def _no_root_logging_setup():
    """bed-reader logs through the root logger (``logging.info``), which installs a stderr handler on
    it when it has none (``logging.basicConfig``), after which e.g. Dask's INFO messages are printed.
    A NullHandler on the root logger while bed-reader runs prevents that side effect."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    h = logging.NullHandler()
    root.addHandler(h)
    try:
        yield
    finally:
        root.removeHandler(h)


def _source(markers, ids, marker_map, default_ids) -> _Source:
    path = _bed_path(markers)
    if path is not None:
        if not Path(path).exists():
            raise DataError(f"PLINK file {path!r} does not exist")
        with _no_root_logging_setup(), _open_bed(path) as bed:
            src = _Source("bed", _key(bed.iid), pd.Index(bed.sid, name="marker"),
                          chrom=np.asarray(bed.chromosome), pos=np.asarray(bed.bp_position), path=path)
        return src
    if isinstance(markers, pd.DataFrame):
        arr = markers.to_numpy(dtype=float, na_value=np.nan)
        row_ids = markers.index if ids is None else ids
        names = pd.Index(markers.columns, name="marker")
    else:
        arr = np.asarray(markers, dtype=float)
        if arr.ndim != 2:
            raise DataTypeError(f"markers must be a 2-D individuals × markers array, got shape {arr.shape}")
        row_ids = ids if ids is not None else default_ids
        if row_ids is None:
            raise ModelSpecError("markers given as an array need ids= (the individual of each row) or a "
                                 "relationship matrix whose labels give the rows' order")
        names = pd.Index(np.arange(arr.shape[1]), name="marker")
    if len(row_ids) != arr.shape[0]:
        raise DataError(f"markers have {arr.shape[0]} rows but {len(row_ids)} individual ids")
    if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 2):
        raise DataError("marker genotypes must be allele counts in [0, 2] (0/1/2 coding)")
    src = _Source("array", _key(row_ids), names, array=arr)
    if marker_map is not None:
        mm = marker_map.reindex(names)
        src.chrom = mm["chrom"].to_numpy() if "chrom" in mm else None
        src.pos = mm["pos"].to_numpy() if "pos" in mm else None
    return src


def _read_bed_chunk(path: str, rows: np.ndarray, a: int, b: int, num_threads: int | None = None,
                    count_A1: bool = True) -> np.ndarray:
    with _no_root_logging_setup(), _open_bed(path, count_A1=count_A1, num_threads=num_threads) as bed:
        return bed.read(index=np.s_[rows, a:b], dtype="float64", order="F")


# --- the rotation and one chunk ---------------------------------------------------------------------------
@dataclass
class Rotation:
    """Everything a chunk of markers needs (scattered once to Dask workers).

    Attributes
    ----------
    L : ndarray
        Lower Cholesky factor of V (records × records).
    Q : ndarray
        Orthonormal basis of L⁻¹X.
    r : ndarray
        L⁻¹y minus its projection on Q (the whitened GLS residual of the null model).
    record_ind : ndarray or None
        For each record, the position of its individual among the genotype rows read (None: the
        records are the genotype rows, in order).
    ind_records : ndarray
        Number of records of each of those individuals.
    test : str
        ``"wald"`` or ``"f"``.
    """

    L: np.ndarray
    Q: np.ndarray
    r: np.ndarray
    record_ind: np.ndarray | None
    ind_records: np.ndarray
    test: str
    rr: float = field(init=False)

    def __post_init__(self):
        self.rr = float(self.r @ self.r)

    @property
    def df_resid(self) -> int:
        n, p = self.Q.shape
        return n - p - 1


def test_chunk(rot: Rotation, G: np.ndarray, owned: bool = False) -> np.ndarray:
    """Test a chunk of markers: genotype rows (individuals, in ``rot``'s order) × markers.

    ``owned=True`` lets the computation overwrite ``G`` (it then needs no copy of the chunk).
    Returns an array markers × 6 with the columns of :data:`SCAN_COLUMNS`.
    """
    G = np.asarray(G, dtype=float)
    n_ind, c = G.shape
    miss = np.isnan(G)
    complete = not miss.any()
    if rot.record_ind is None and owned:
        Xr = np.asfortranarray(G)  # the TRSM buffer, no copy when G is Fortran-ordered already
    elif rot.record_ind is None:
        Xr = np.array(G, dtype=float, order="F", copy=True)
    else:
        Xr = None
    B = Xr if Xr is not None else (G if owned or complete else np.array(G, copy=True))
    if complete:
        cnt = np.full(c, float(n_ind))
        n_rec = np.full(c, rot.ind_records.sum())
    else:
        np.copyto(B, 0.0, where=miss)
        cnt = n_ind - miss.sum(axis=0).astype(float)
        n_rec = rot.ind_records.sum() - rot.ind_records @ miss
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = B.sum(axis=0) / cnt
        spread = np.einsum("ij,ij->j", B, B) / cnt - mean ** 2
    if not complete:  # mean imputation of missing genotypes
        np.copyto(B, np.broadcast_to(mean, B.shape), where=miss)
    del miss
    if Xr is None:
        Xr = np.array(B[rot.record_ind], dtype=float, order="F", copy=True)
    Xt = la.solve_triangular(rot.L, Xr, lower=True, check_finite=False, overwrite_b=True)
    total = np.einsum("ij,ij->j", Xt, Xt)
    # OpenBLAS's trsm gives the same bits with any thread count, its gemm/gemv reductions over n do
    # not: the small products below run on one thread, so local and Dask results are identical
    with blas_limit(large=False):
        if rot.Q.shape[1]:
            P = rot.Q.T @ Xt
            if Xt.flags.f_contiguous:
                Xt = la.blas.dgemm(-1.0, rot.Q, P, beta=1.0, c=Xt, overwrite_c=True)  # Xt −= Q P in place
            else:
                Xt -= rot.Q @ P
        ss = np.einsum("ij,ij->j", Xt, Xt)
        xy = Xt.T @ rot.r
    bad = (cnt == 0) | ~(spread > 1e-12) | ~(ss > 1e-10 * total)
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = xy / ss
        if rot.test == "wald":
            se = 1.0 / np.sqrt(ss)
            stat = xy * effect
            p = stats.chi2.sf(stat, 1)
        else:
            df = rot.df_resid
            s2 = (rot.rr - xy * effect) / df
            se = np.sqrt(s2 / ss)
            stat = (effect / se) ** 2
            p = stats.f.sf(stat, 1, df)
    out = np.column_stack([effect, se, stat, p, mean / 2.0, np.asarray(n_rec, dtype=float)])
    out[bad, :4] = np.nan
    return out


def _bed_chunk_task(rot: Rotation, path: str, rows: np.ndarray, a: int, b: int, count_A1: bool):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return test_chunk(rot, _read_bed_chunk(path, rows, a, b, num_threads=1, count_A1=count_A1),
                          owned=True)


def _array_chunk_task(rot: Rotation, G: np.ndarray):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return test_chunk(rot, G)


# --- setting up -------------------------------------------------------------------------------------------
def _random_is_single_intercept(frame, group: str) -> bool:
    terms = frame.formula.random
    return len(terms) == 1 and terms[0].name == group and terms[0].expr.replace(" ", "") == "1"


def _covariance_from_result(result, keys_rows: list[str], group: str, Kframe: pd.DataFrame | None
                            ) -> np.ndarray:
    """V of the records of a :func:`mixedpy.fit` result: σ²I + Σ_terms (K_t ∘ X_t S_t X_tᵀ)."""
    n = result.nobs
    V = np.eye(n) * result.sigma ** 2
    for term in result.random.terms:
        S = result.term_covariance(term)
        XS = term.X @ S @ term.X.T
        codes = np.asarray(term.codes)
        if Kframe is not None and term.group == group:
            Kt = _matrix_for(Kframe, _key(np.asarray(term.levels)[codes]))
        else:
            Kt = (codes[:, None] == codes[None, :]).astype(float)
        V += Kt * XS
    return V


def _variances_of(result) -> dict:
    out = {}
    label = dict(zip(result.random.varcorr_labels(), result.random.term_labels()))  # lme4 → fit() keys
    for _, r in result.varcorr.iterrows():
        if pd.isna(r["term1"]):
            out["Residual"] = float(r["variance"])
        elif pd.isna(r["term2"]) and label[str(r["group"])] not in out:
            out[label[str(r["group"])]] = float(r["variance"])
    return out


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


def _prepare(formula, data, src: _Source, group: str, K, test: str, null_fit: str,
             variances: dict | None) -> tuple[Rotation, NullModel, np.ndarray, int]:
    """Fit the null model and build the rotation; returns (rotation, null, genotype rows, n)."""
    from ..design.fixed import fixed_design
    from ..design.frame import make_frame

    if group not in data.columns:
        raise ColumnNotFoundError(f"group column {group!r} is not in the data")
    geno_pos = pd.Index(src.ids).get_indexer(_key(data[group]))
    if pd.Index(src.ids).has_duplicates:
        raise DataError("an individual appears twice among the marker rows")
    keep = geno_pos >= 0
    if not keep.any():
        raise DataError(f"no individual of column {group!r} has genotypes")
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} of {len(data)} rows dropped: their {group!r} has no "
                      "genotypes", RowsDroppedWarning, stacklevel=3)
    sub = data.loc[keep]
    Kframe = _relmat_frame(K) if K is not None else None

    frame = make_frame(formula, sub)
    use_tri = null_fit == "tridiagonal" or (null_fit == "auto" and Kframe is not None
                                            and _random_is_single_intercept(frame, group))
    if null_fit == "tridiagonal" and not (Kframe is not None and _random_is_single_intercept(frame, group)):
        raise ModelSpecError(f"null_fit='tridiagonal' needs the random part to be exactly (1 | {group}) "
                             "with a relationship matrix")
    if use_tri:
        fixed = fixed_design(frame.formula.response, frame.formula.fixed, frame.data)
        y, X = fixed.y, fixed.X
        rec_keys = _key(frame.data[group])
        Ky = _matrix_for(Kframe, rec_keys)
        if variances is not None:  # known components: no REML, V directly
            missing = [k for k in (group, "Residual") if k not in variances]
            if missing or len(variances) != 2:
                raise ModelSpecError(f"variances must give exactly {group!r} and 'Residual'; got "
                                     f"{sorted(variances)}")
            vg, ve = float(variances[group]), float(variances["Residual"])
            if not (vg >= 0 and ve > 0):
                raise ModelSpecError(f"variances must be non-negative (the residual one positive), got "
                                     f"{variances}")
            h2, crit, beta, method = vg / (vg + ve), np.nan, None, "given"
        else:
            h2, s2, crit, beta = _tridiagonal_reml(Ky, y, X)
            vg, ve, method = h2 * s2, (1.0 - h2) * s2, "tridiagonal"
        V = Ky  # in place: Ky is not used again
        V *= vg
        V[np.diag_indices_from(V)] += ve
        null = NullModel({group: vg, "Residual": ve}, crit, method, h2,
                         pd.Series(beta, index=list(fixed.names), name="estimate") if beta is not None
                         else pd.Series(np.nan, index=list(fixed.names), name="estimate"))
        rows_data = frame.data
    else:
        from ..api import fit
        kwargs = {"relmat": {group: K}} if K is not None else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RowsDroppedWarning)
            result = fit(formula, sub, reml=True, variances=variances, **kwargs)
        y, X = result.fixed.y, result.fixed.X
        rows_data = result.frame.data
        V = _covariance_from_result(result, _key(rows_data[group]), group, Kframe)
        vs = _variances_of(result)
        vg = vs.get(group, np.nan)
        h2 = vg / (vg + vs["Residual"]) if len(vs) == 2 and group in vs else np.nan
        crit = result.reml_criterion if variances is None else np.nan
        null = NullModel(vs, float(crit), "fit", float(h2), result.fixef.copy(), result)
    L = la.cholesky(V.T, lower=True, overwrite_a=True, check_finite=False)  # V symmetric: Vᵀ is F-ordered
    Xt = la.solve_triangular(L, X, lower=True, check_finite=False)
    yt = la.solve_triangular(L, y, lower=True, check_finite=False)
    if X.shape[1]:
        Q, R = la.qr(Xt, mode="economic")
        if null.beta.isna().all():  # known variances: the GLS β̂ from the rotation
            null.beta[:] = la.solve_triangular(R, Q.T @ yt, check_finite=False)
    else:
        Q = np.zeros((len(y), 0))
    r = yt - Q @ (Q.T @ yt)
    # genotype rows to read: the records' individuals, each once, in file order
    rec_pos = pd.Index(src.ids).get_indexer(_key(rows_data[group]))
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
         count_A1: bool = True, progress_bar: bool = True) -> pd.DataFrame:
    """Test every marker as a fixed effect added to a mixed model (EMMAX / FaST-LMM P3D).

    Parameters
    ----------
    formula : str
        The null model, e.g. ``"y ~ sex + (1 | animal)"``.
    data : pandas.DataFrame
        Phenotypes; rows whose individual has no genotypes are dropped (with a warning).
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
    progress_bar : bool, default True
        Show a tqdm progress bar over the chunks.

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
    >>> res = mixedpy.scan("y ~ 1 + (1 | animal)", data, M, relmat=K, progress_bar=False)
    >>> int(res["p"].idxmin()), res.shape
    (3, (50, 6))
    """
    if not isinstance(data, pd.DataFrame):
        raise DataTypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
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
        default_ids = list(_relmat_frame(K).index)
    src = _source(markers, ids, marker_map, default_ids)
    src.count_A1 = bool(count_A1)
    t0 = time.perf_counter()
    rot, null, geno_rows, n = _prepare(formula, data, src, group, K, test, null_fit, variances)
    t1 = time.perf_counter()

    bounds = [(a, min(a + chunk_size, src.m)) for a in range(0, src.m, chunk_size)]
    if client is not None:
        parts = _run_dask(client, rot, src, geno_rows, bounds, progress_bar)
    else:
        parts = _run_local(rot, src, geno_rows, bounds, progress_bar)
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


def _local_chunk(rot: Rotation, src: _Source, geno_rows: np.ndarray, a: int, b: int) -> np.ndarray:
    if src.kind == "bed":
        G = _read_bed_chunk(src.path, geno_rows, a, b, count_A1=src.count_A1)
    else:
        G = np.asfortranarray(src.array[geno_rows, a:b])
    return test_chunk(rot, G, owned=True)


def _run_local(rot: Rotation, src: _Source, geno_rows: np.ndarray, bounds: list, progress: bool) -> list:
    """Chunks one after the other, the triangular solve using all BLAS threads (scipy's holds the GIL,
    so a thread pool would not help); see :func:`test_chunk` for why the numbers are those of a Dask
    worker running the same chunk with one thread."""
    parts = []
    for a, b in tqdm(bounds, desc="scan", disable=not progress, leave=False):
        parts.append(_local_chunk(rot, src, geno_rows, a, b))
    return parts


def _run_dask(client, rot: Rotation, src: _Source, geno_rows: np.ndarray, bounds: list, progress: bool):
    if not (hasattr(client, "scatter") and hasattr(client, "submit")):
        raise DataTypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    from distributed import as_completed as dask_completed

    token = uuid.uuid4().hex[:12]
    rot_f = client.scatter(rot, broadcast=True, hash=False)
    futures, extra = [], [rot_f]
    for i, (a, b) in enumerate(bounds):
        key = f"mixedpy-scan-{token}-{i}"
        if src.kind == "bed":
            futures.append(client.submit(_bed_chunk_task, rot_f, src.path, geno_rows, a, b, src.count_A1,
                                         key=key, pure=False))
        else:
            chunk_f = client.scatter(np.ascontiguousarray(src.array[geno_rows, a:b]), hash=False)
            extra.append(chunk_f)
            futures.append(client.submit(_array_chunk_task, rot_f, chunk_f, key=key, pure=False))
    index = {f.key: i for i, f in enumerate(futures)}
    parts: list = [None] * len(futures)
    bar = tqdm(total=len(futures), desc="scan (dask)", disable=not progress, leave=False)
    try:
        for fut in dask_completed(futures):
            parts[index[fut.key]] = fut.result()
            bar.update()
    finally:
        bar.close()
        client.cancel(futures + extra)
    return parts
