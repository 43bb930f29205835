"""The residual covariance of a model: Σ = σ² W^(-1/2) blockdiag_s R_s(φ) W^(-1/2).

Built once from the data (:func:`residual_design`): subjects are batched by their number of
observations, so that every per-evaluation step (the subjects' R_s, their Cholesky factors, the
whitening) is one batched numpy call per batch — no Python loop over subjects.  A subject's R_s is
the submatrix of its group's d × d matrix on its observed time levels (missing visits are normal),
or, for spatial structures, the matrix of its coordinates.

Parameters φ: one parameter set of the structure per group (``us(t | g / s)``, ``het(g)``); the very
first one (a log standard deviation) is fixed at 0 so that σ² stays profiled out (Σ = σ² R(φ)).

Glossary
--------
batch      subjects with the same number m of observations: ``rows`` (n_b × m, data rows in time
           order), ``group`` (n_b), ``geometry`` (time-level codes n_b × m, or distances / lags)
L_s        lower Cholesky factor of R_s;  T_s = L_s⁻¹ diag(√w) the whitening of subject s
logdetR    log |W^(-1/2) R W^(-1/2)| = Σ_s 2 Σ log diag L_s − Σ log w
grid       ar1xar1 blocks that are complete nr × nc grids with uniform spacing: the batch keeps the
           shape and per subject the spacings (``grid``) and coordinates, never the m × m lags; the
           whitening is the sparse Kronecker product of bidiagonal factors
           (:func:`mixedpy.covariance.spatial.kron_whitening`), O(m) per block
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError
from .base import CovStructure, matrix_jacobian
from .general import Scalar
from .parse import ResidualTerm
from .spatial import kron_whitening

COMPLEX_STEP = 1e-30


@dataclass(frozen=True)
class Batch:
    """Subjects with m observations each (see the module glossary).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.covariance.parse import parse_residual
    >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
    >>> b = rd.batches[0]  # 18 subjects with 10 days each
    >>> b.rows.shape, b.rows[0].tolist()
    ((18, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """

    rows: np.ndarray
    group: np.ndarray
    geometry: np.ndarray | None
    subjects: np.ndarray
    shape: tuple | None = None        # (nr, nc) of grid batches
    grid: np.ndarray | None = None    # (n_b, 2) row and column spacings of grid batches
    coords: np.ndarray | None = None  # (n_b, m, 2) coordinates of grid batches


@dataclass(frozen=True)
class Whitening:
    """The whitening at φ: T (sparse n × n, block-diagonal by subject), log|R| and, per batch,
    L_s⁻¹ (unweighted) for gradients.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.covariance.parse import parse_residual
    >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
    >>> w = rd.whitening(np.array([1.0]))  # rho = 1/sqrt(2)
    >>> w.T.shape, round(w.logdet, 4), len(w.Linv)
    ((180, 180), -112.2898, 1)
    """

    T: sp.csr_matrix
    logdet: float
    Linv: list


@dataclass(frozen=True, eq=False)
class ResidualDesign:
    """A residual structure bound to the rows of a model (see the module docstring).

    Attributes
    ----------
    term : ResidualTerm or None
        The parsed SPEC (None: σ²/w_i, prior weights only).
    structure : CovStructure or None
    group_levels : pandas.Index
        Levels with their own parameters (one unnamed level when ungrouped).
    subject_levels : pandas.Index or None
    batches : tuple of Batch
    weights : ndarray or None
        Prior weights (Var(e_i) = σ² R_ii / w_i).
    n : int

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.covariance.parse import parse_residual
    >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
    >>> rd.structure.name, rd.n, rd.ngroups, rd.nphi
    ('ar1', 180, 1, 1)
    """

    term: ResidualTerm | None
    structure: CovStructure | None
    group_levels: pd.Index
    subject_levels: pd.Index | None
    batches: tuple
    weights: np.ndarray | None
    n: int
    subject_codes: np.ndarray | None = None

    # --- parameters ---------------------------------------------------------------------------
    @property
    def ngroups(self) -> int:
        """Number of groups with their own parameters (1 when ungrouped).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.ngroups
        1
        """
        return len(self.group_levels)

    @property
    def npar_full(self) -> int:
        """Number of structure parameters over all groups (σ² included).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.npar_full
        2
        """
        return 0 if self.structure is None else self.ngroups * self.structure.npar

    @property
    def nphi(self) -> int:
        """Number of free parameters φ (all but the first, which σ² replaces).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.nphi
        1
        """
        return max(self.npar_full - 1, 0)

    @property
    def geometric(self) -> bool:
        """Whether the structure is spatial (its blocks come from coordinates).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.geometric
        False
        """
        return bool(getattr(self.structure, "geometric", False))

    @property
    def kron(self) -> bool:
        """Whether the blocks are complete grids whitened by sparse Kronecker factors (no dense
        block factor and no analytic φ-gradient: the engine differentiates numerically).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.kron
        False
        """
        return any(b.shape is not None for b in self.batches)

    def geometry_of(self, b: Batch) -> np.ndarray:
        """A batch's geometry (lags of grid batches are formed on demand: m × m × 2 each).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.geometry_of(rd.batches[0])[0].tolist()
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        """
        return b.geometry if b.geometry is not None else self.structure.geometry(b.coords)

    def start(self) -> np.ndarray:
        """Starting φ: the structure's start for every group, the first element (σ²'s) dropped.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.start().tolist()
        [0.0]
        """
        if self.structure is None:
            return np.zeros(0)
        return np.tile(self.structure.start(), self.ngroups)[1:]

    def full(self, phi) -> np.ndarray:
        """(ngroups × npar) structure parameters from the free φ (complex-safe).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.full(np.array([1.0])).tolist()
        [[0.0, 1.0]]
        """
        phi = np.asarray(phi)
        par = np.concatenate([np.zeros(1, dtype=phi.dtype), phi])
        return par.reshape(self.ngroups, self.structure.npar)

    def phi_names(self) -> list[str]:
        """Names of the free parameters φ (``group:`` prefixed when grouped).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.phi_names()
        ['ar1[1]']
        """
        if self.structure is None:
            return []
        names = self.structure.par_names()
        lab = [] if self.ngroups == 1 else [f"{g}:" for g in self.group_levels]
        full = [(lab[g] if lab else "") + nm for g in range(self.ngroups) for nm in names]
        return full[1:]

    # --- the matrices -------------------------------------------------------------------------
    def batch_blocks(self, phi) -> list:
        """R_s for every subject, batch by batch (n_b × m × m each).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> R = rd.batch_blocks(np.array([1.0]))[0]
        >>> R.shape, R[0, 0, :3].round(4).tolist()
        ((18, 10, 10), [1.0, 0.7071, 0.5])
        """
        par = self.full(phi)
        out = []
        if not self.geometric:
            Ms = np.stack([self.structure.matrix(par[g]) for g in range(self.ngroups)])
            for b in self.batches:
                v = b.geometry
                out.append(Ms[b.group[:, None, None], v[:, :, None], v[:, None, :]])
            return out
        for b in self.batches:
            geo = self.geometry_of(b)
            if self.ngroups == 1:
                out.append(self.structure.blocks(par[0], geo))
            else:
                blocks = np.stack([self.structure.blocks(par[g], geo) for g in range(self.ngroups)])
                out.append(blocks[b.group, np.arange(len(b.group))])
        return out

    def _kron_batch(self, b: Batch, par: np.ndarray):
        """Triplets (data rows) of σ⁻¹(B_r ⊗ B_c) for a grid batch, and its log-determinant."""
        from .base import bounded
        p = par[b.group]
        rho_r = bounded(p[:, 1]) ** b.grid[:, 0]
        rho_c = bounded(p[:, 2]) ** b.grid[:, 1]
        (lr, lc, vals), logdet = kron_whitening(np.exp(p[:, 0]), rho_r, rho_c, *b.shape)
        return b.rows[:, lr], b.rows[:, lc], vals, np.sum(logdet)

    def whitening(self, phi, dense: bool = False) -> Whitening:
        """T = blockdiag(L_s⁻¹ diag(√w_s)) and log|R| at φ; raises LinAlgError if some R_s is not
        positive definite.  Grid batches use the sparse Kronecker factor (``Linv`` None) unless
        ``dense`` (a check of the sparse path).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> w = rd.whitening(np.array([1.0]))
        >>> round(w.logdet, 4)  # 18 subjects × 9 log(1 − ρ²), ρ² = 1/2
        -112.2898
        """
        if self.structure is None:
            w = self.weights
            return Whitening(sp.diags(np.sqrt(w), format="csr"), float(-np.sum(np.log(w))), [])
        rows_all, cols_all, vals_all, Linvs = [], [], [], []
        logdet = 0.0
        sw = None if self.weights is None else np.sqrt(self.weights)
        # grid designs are grids throughout (residual_design): then no dense block at all
        par = self.full(np.asarray(phi, dtype=float)) if self.kron and not dense else None
        blocks = self.batch_blocks(phi) if par is None else None
        for k, b in enumerate(self.batches):
            if par is not None:
                r, c, v, ld = self._kron_batch(b, par)
                logdet += float(ld)
                Linvs.append(None)
                rows_all.append(r.ravel())
                cols_all.append(c.ravel())
                vals_all.append((v if sw is None else v * sw[c]).ravel())
                continue
            R = blocks[k]
            L = np.linalg.cholesky(R)
            m = R.shape[1]
            logdet += 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
            Linv = np.linalg.inv(L) if m > 1 else 1.0 / L
            Linvs.append(Linv)
            T = Linv if sw is None else Linv * sw[b.rows][:, None, :]
            r, c = np.tril_indices(m)
            rows_all.append(b.rows[:, r].ravel())
            cols_all.append(b.rows[:, c].ravel())
            vals_all.append(T[:, r, c].ravel())
        if self.weights is not None:
            logdet -= float(np.sum(np.log(self.weights)))
        T = sp.csr_matrix((np.concatenate(vals_all), (np.concatenate(rows_all), np.concatenate(cols_all))),
                          shape=(self.n, self.n))
        return Whitening(T, logdet, Linvs)

    def whitening_derivatives(self, phi, Linvs: list) -> list[tuple[sp.csr_matrix, float]]:
        """(∂T/∂φ_k, ∂log|R|/∂φ_k) for every free φ_k, exact: dense blocks through
        ∂L⁻¹ = −Φ(L⁻¹ ∂R L⁻ᵀ) L⁻¹ (Φ: lower triangle, half diagonal) with ∂R by the complex step,
        grid batches by the complex step through the Kronecker factors.  ``Linvs`` are the
        :class:`Whitening`'s unweighted L_s⁻¹ at φ.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> w = rd.whitening(np.array([1.0]))
        >>> [(dT.shape, round(dlogdet, 4)) for dT, dlogdet in rd.whitening_derivatives(np.array([1.0]), w.Linv)]
        [((180, 180), -162.0)]
        """
        phi = np.asarray(phi, dtype=float)
        sw = None if self.weights is None else np.sqrt(self.weights)
        out = []
        for k in range(self.nphi):
            z = phi.astype(complex)
            z[k] += 1j * COMPLEX_STEP
            blocks = None if self.kron else self.batch_blocks(z)
            par = self.full(z) if self.kron else None
            rows_all, cols_all, vals_all, dlog = [], [], [], 0.0
            for j, b in enumerate(self.batches):
                if par is not None:
                    r, c, v, ld = self._kron_batch(b, par)
                    v, dlog = v.imag / COMPLEX_STEP, dlog + float(ld.imag) / COMPLEX_STEP
                else:
                    Linv = Linvs[j]
                    S = Linv @ (blocks[j].imag / COMPLEX_STEP) @ np.swapaxes(Linv, 1, 2)
                    m = S.shape[1]
                    dlog += float(np.einsum("sii->", S))
                    S = np.tril(S)
                    S[:, np.arange(m), np.arange(m)] *= 0.5
                    dT = -S @ Linv
                    rr, cc = np.tril_indices(m)
                    r, c, v = b.rows[:, rr], b.rows[:, cc], dT[:, rr, cc]
                rows_all.append(r.ravel())
                cols_all.append(c.ravel())
                vals_all.append((v if sw is None else v * sw[c]).ravel())
            dT = sp.csr_matrix((np.concatenate(vals_all), (np.concatenate(rows_all), np.concatenate(cols_all))),
                               shape=(self.n, self.n))
            out.append((dT, dlog))
        return out

    def gradient(self, phi, G_blocks: list) -> np.ndarray:
        """Σ_s ⟨G_s, ∂R_s/∂φ_k⟩ for every free φ_k, given per-batch G_s (n_b × m × m).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.gradient(np.array([1.0]), [np.ones((18, 10, 10))]).round(4).tolist()
        [692.3142]
        """
        phi = np.asarray(phi, dtype=float)
        npar = self.structure.npar
        grad_full = np.zeros(self.npar_full)
        if not self.geometric:
            D = self.structure.dim
            Gsum = np.zeros(self.ngroups * D * D)
            for b, Gb in zip(self.batches, G_blocks):
                v = b.geometry
                idx = (b.group[:, None, None] * D + v[:, :, None]) * D + v[:, None, :]
                Gsum += np.bincount(idx.ravel(), weights=Gb.ravel(), minlength=len(Gsum))
            Gsum = Gsum.reshape(self.ngroups, D, D)
            par = self.full(phi)
            for g in range(self.ngroups):
                J = matrix_jacobian(self.structure, par[g])
                grad_full[g * npar:(g + 1) * npar] = np.einsum("kij,ij->k", J, Gsum[g])
            return grad_full[1:]
        for k in range(self.nphi):
            z = phi.astype(complex)
            z[k] += 1j * COMPLEX_STEP
            dR = [blk.imag / COMPLEX_STEP for blk in self.batch_blocks(z)]
            grad_full[k + 1] = sum(float(np.einsum("sij,sij->", Gb, d)) for Gb, d in zip(G_blocks, dR))
        return grad_full[1:]

    # --- tables ---------------------------------------------------------------------------------
    def subject_rows(self, subject) -> np.ndarray:
        """Data rows (time order) of one subject label.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.covariance.parse import parse_residual
        >>> rd = residual_design(parse_residual("ar1(Days | Subject)"), mixedpy.datasets.load("sleepstudy"), None)
        >>> rd.subject_rows("309").tolist()
        [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
        """
        if self.subject_levels is None:
            raise DataError("this residual structure has no subjects")
        where = np.flatnonzero(self.subject_levels.astype(str) == str(subject))
        if not len(where):
            raise DataError(f"subject {subject!r} is not in the data")
        s = int(where[0])
        for b in self.batches:
            hit = np.flatnonzero(b.subjects == s)
            if len(hit):
                return b.rows[hit[0]]
        raise DataError(f"subject {subject!r} has no observations")


# --- building it from the data --------------------------------------------------------------------
def _factor(values: pd.Series, what: str, spec: str) -> tuple[np.ndarray, pd.Index]:
    if values.isna().any():
        raise DataError(f"residual={spec!r}: {what} {values.name!r} has missing values")
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat.remove_unused_categories()
        return np.asarray(cat.cat.codes, dtype=np.int64), pd.Index(cat.cat.categories)
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), pd.Index(uniques)


def _numeric(values: pd.Series, spec: str) -> np.ndarray:
    if values.isna().any():
        raise DataError(f"residual={spec!r}: coordinate {values.name!r} has missing values")
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=float)
    codes, _ = _factor(values, "coordinate", spec)
    return codes.astype(float)


def residual_design(term: ResidualTerm | None, aux: pd.DataFrame, weights: np.ndarray | None) -> ResidualDesign:
    """Bind a parsed SPEC to the model rows (``aux`` holds the SPEC's columns for those rows).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.covariance.parse import parse_residual
    >>> rd = residual_design(parse_residual("het(Subject)"), mixedpy.datasets.load("sleepstudy"), None)
    >>> rd.structure.name, rd.ngroups, rd.nphi
    ('scalar', 18, 17)
    """
    from . import STRUCTURES

    n = len(aux)
    if term is None:
        return ResidualDesign(None, None, pd.Index(["all"]), None, (), weights, n)
    spec = term.text
    if term.group is not None:
        gcodes, glevels = _factor(aux[term.group], "group", spec)
    else:
        gcodes, glevels = np.zeros(n, dtype=np.int64), pd.Index(["all"])
    if term.subject is not None:
        scodes, slevels = _factor(aux[term.subject], "subject", spec)
    elif term.name == "het":
        scodes, slevels = np.arange(n, dtype=np.int64), None
    else:
        scodes, slevels = np.zeros(n, dtype=np.int64), pd.Index(["all"])
    nsub = int(scodes.max()) + 1
    # a subject's group must not change
    sub_group = np.full(nsub, -1, dtype=np.int64)
    sub_group[scodes] = gcodes
    if np.any(sub_group[scodes] != gcodes):
        bad = slevels[scodes[sub_group[scodes] != gcodes][0]] if slevels is not None else "?"
        raise DataError(f"residual={spec!r}: subject {bad!r} belongs to more than one level of group "
                        f"{term.group!r}")
    if term.name == "het":
        structure: CovStructure = Scalar()
        tcodes = np.zeros(n, dtype=np.int64)
        coords = tcodes[:, None].astype(float)
    elif term.name in ("sp_exp", "ar1xar1"):
        coords = np.column_stack([_numeric(aux[c], spec) for c in term.coords])
        structure = STRUCTURES[term.name](len(term.coords), list(term.coords))
        tcodes = None
    else:
        tcodes, tlevels = _factor(aux[term.coords[0]], "time factor", spec)
        structure = STRUCTURES[term.name](len(tlevels), [str(t) for t in tlevels])
        coords = None
        key = scodes * len(tlevels) + tcodes
        if len(np.unique(key)) != n:
            dup = pd.Series(key).duplicated().to_numpy()
            i = int(np.flatnonzero(dup)[0])
            who = slevels[scodes[i]] if slevels is not None else i
            raise DataError(f"residual={spec!r}: subject {who!r} has more than one observation at "
                            f"{term.coords[0]} = {tlevels[tcodes[i]]!r}")
    sizes = np.bincount(scodes, minlength=nsub)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if term.name == "ar1xar1":
        order = np.lexsort((coords[:, 1], coords[:, 0], scodes))
        _check_plots(order, scodes, coords, slevels, term)
        grids = _grid_layout(coords[order], sizes, starts)
        if grids is not None:
            batches = _grid_batches(order, grids, coords, sub_group)
            return ResidualDesign(term, structure, glevels, slevels, batches, weights, n, scodes)
    else:
        order = np.lexsort((tcodes if tcodes is not None else np.arange(n), scodes))
    batches = []
    for m in np.unique(sizes[sizes > 0]):
        subs = np.flatnonzero(sizes == m)
        rows = order[starts[subs][:, None] + np.arange(m)[None, :]]
        if tcodes is not None:
            geometry = tcodes[rows]
        else:
            geometry = structure.geometry(coords[rows])
        batches.append(Batch(rows=rows, group=sub_group[subs], geometry=geometry, subjects=subs))
    return ResidualDesign(term, structure, glevels, slevels, tuple(batches), weights, n, scodes)


# --- ar1xar1 on complete grids --------------------------------------------------------------------
def _check_plots(order: np.ndarray, scodes: np.ndarray, coords: np.ndarray, slevels, term: ResidualTerm) -> None:
    """Two observations at one (row, column) of a block make R singular: name the first."""
    s, c = scodes[order], coords[order]
    same = (s[1:] == s[:-1]) & np.all(c[1:] == c[:-1], axis=1)
    if same.any():
        i = order[int(np.flatnonzero(same)[0]) + 1]
        who = f"block {slevels[scodes[i]]!r}: " if term.subject is not None else ""
        raise DataError(f"residual={term.text!r}: {who}more than one observation at {term.coords[0]} = "
                        f"{coords[i, 0]:g}, {term.coords[1]} = {coords[i, 1]:g}")


def _grid_layout(sorted_coords: np.ndarray, sizes: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """Per block (nr, nc, row spacing, column spacing) when every block is a complete grid with
    uniform spacings (rows sorted by row, then column), else None."""
    out = np.zeros((len(sizes), 4))
    for s in np.flatnonzero(sizes):  # once per block, at design time
        c = sorted_coords[starts[s]:starts[s] + sizes[s]]
        ur, uc = np.unique(c[:, 0]), np.unique(c[:, 1])
        if len(ur) * len(uc) != sizes[s]:
            return None
        steps = []
        for u in (ur, uc):
            d = np.diff(u)
            if len(d) and not np.allclose(d, d[0], rtol=1e-9, atol=0):
                return None
            steps.append(d[0] if len(d) else 1.0)
        out[s] = (len(ur), len(uc), *steps)
    return out


def _grid_batches(order: np.ndarray, grids: np.ndarray, coords: np.ndarray, sub_group: np.ndarray) -> tuple:
    """Batches of the blocks of one grid shape, rows in row-major order (no m × m lags)."""
    sizes = (grids[:, 0] * grids[:, 1]).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    batches = []
    for shape in np.unique(grids[sizes > 0, :2], axis=0):
        subs = np.flatnonzero((grids[:, 0] == shape[0]) & (grids[:, 1] == shape[1]) & (sizes > 0))
        m = int(shape[0] * shape[1])
        rows = order[starts[subs][:, None] + np.arange(m)[None, :]]
        batches.append(Batch(rows=rows, group=sub_group[subs], geometry=None, subjects=subs,
                             shape=(int(shape[0]), int(shape[1])), grid=grids[subs, 2:], coords=coords[rows]))
    return tuple(batches)
