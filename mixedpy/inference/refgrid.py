"""The reference grid of a fitted model, as emmeans' ``ref_grid``.

The grid holds every combination of the levels of the variables of the fixed-effect formula:

* a factor (a categorical column, or any column used inside ``C(...)``) contributes its levels in
  the fitted order;
* a numeric covariate is held at its mean over the rows used in the fit, except that a covariate
  with at most two distinct values contributes those values (emmeans' ``cov.keep = "2"``);
* ``at={"x": 10}`` (or ``[5, 10]``, or a subset of a factor's levels) overrides either.

The first variable varies fastest (R's ``expand.grid``); variables are in the order they appear
in the formula.  Each cell's row of the design, X_g, is built with the fitted formulaic spec, so
every coding, transformation (``I(x ** 2)``, ``poly``) and interaction is evaluated as in the fit.

When aliased columns were dropped from X, some linear functions of the cells are not estimable.
As emmeans (``estimability::nonest.basis``), a row l (complete coding, one entry per column of the
full X) is estimable when ‖Nᵀl‖² < 1e-8 ‖l‖² with N an orthonormal basis of the null space of the
full X of the fit; estimable functions use the kept coefficients only.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..design.frame import referenced_names
from ..errors import DataError, ModelSpecError

ESTIMABILITY_TOL = 1e-8


@dataclass(frozen=True)
class RefGrid:
    """A reference grid: its cells, their design rows and the estimability basis.

    Attributes
    ----------
    grid : pandas.DataFrame
        One row per cell, one column per grid variable (factor levels as given by ``levels``).
    levels : dict
        Variable → list of its values in the grid (a covariate held at its mean has one).
    factors : list of str
        The variables that are factors of the model (the others are covariates).
    X : ndarray (cells, p_full)
        Design rows of the cells in the complete coding (aliased columns included).
    kept : ndarray of int
        Positions of the fitted coefficients among the columns of ``X``.
    nbasis : ndarray (p_full, d) or None
        Orthonormal basis of the null space of the fit's complete X (None: all estimable).
    nesting : dict
        Factor → factors it appears nested in, in the data (emmeans' automatic nesting detection).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> rg = reference_grid(m)
    >>> rg.factors, rg.X.shape, rg.nbasis is None
    (['recipe'], (3, 6), True)
    """

    grid: pd.DataFrame
    levels: dict
    factors: list
    X: np.ndarray
    kept: np.ndarray
    nbasis: np.ndarray | None
    nesting: dict = field(default_factory=dict)
    offset: np.ndarray | None = None  # per cell: the model's offset() terms at the grid (GLMMs)

    @property
    def variables(self) -> list:
        """The grid variables (factors and covariates), in grid column order.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> reference_grid(m).variables
        ['recipe', 'temp']
        """
        return list(self.levels)

    def estimable(self, L: np.ndarray, tol: float = ESTIMABILITY_TOL) -> np.ndarray:
        """Whether each row of L (complete coding) is estimable (``estimability::is.estble``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> rg = reference_grid(m)
        >>> rg.estimable(rg.X).tolist()
        [True, True, True]
        """
        L = np.atleast_2d(L)
        if self.nbasis is None:
            return np.ones(L.shape[0], dtype=bool)
        chk = L @ self.nbasis
        ssq = np.sum(L * L, axis=1)
        ssq = np.where(ssq < tol, 1.0, ssq)
        return np.sum(chk * chk, axis=1) < tol * ssq


def formula_variables(result) -> list:
    """Data columns of the fixed-effect formula, in the order they first appear.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> formula_variables(m)
    ['recipe', 'temp']
    """
    cols = set(map(str, result.frame.data.columns))
    out: dict = {}
    for name in referenced_names(result.frame.formula.fixed):
        if name in cols:
            out[name] = None
    return list(out)


def _categorical_levels(result, var: str):
    """The fitted levels of ``var`` when the model uses it as a factor, else None."""
    col = result.frame.data[var]
    spec = result.fixed.spec
    for expr, state in getattr(spec, "encoder_state", {}).items():
        kind = str(getattr(state[0], "value", state[0]))
        if kind != "categorical" or var not in referenced_names(str(expr)):
            continue
        cats = state[1].get("categories") if isinstance(state[1], dict) else None
        if cats is not None:
            return list(cats)
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in present]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return sorted(col.dropna().unique())
    return None


def _match_levels(var: str, wanted, levels: list) -> list:
    wanted = list(wanted) if isinstance(wanted, (list, tuple, np.ndarray, pd.Index)) else [wanted]
    by_label = {str(v): v for v in levels}
    out = []
    for w in wanted:
        if w in levels:
            out.append(levels[levels.index(w)])
        elif str(w) in by_label:
            out.append(by_label[str(w)])
        else:
            raise ModelSpecError(f"at: {w!r} is not a level of factor {var!r} "
                                 f"(levels: {', '.join(map(str, levels))})")
    return out


def _null_basis(X: np.ndarray, tol: float = 1e-7) -> np.ndarray | None:
    if X.shape[1] == 0:
        return None
    _, s, Vt = np.linalg.svd(X, full_matrices=True)
    rank = int(np.sum(s > tol * s[0])) if len(s) and s[0] > 0 else 0
    if rank == X.shape[1]:
        return None
    return Vt[rank:].T


def _find_nests(data: pd.DataFrame, factors: list, levels: dict) -> dict:
    """emmeans' data-based nesting detection: factor → the factors each of its levels meets at one level."""
    nms = [f for f in factors if len(levels[f]) > 1]
    out: dict = {}
    if len(nms) < 2:
        return out
    d = data[nms].astype(str)
    for nm in nms:
        excl = [k for k, v in out.items() if nm in v]
        others = [n for n in nms if n != nm and n not in excl]
        nested = [n for n in others if d.groupby(nm, observed=True)[n].nunique().max() == 1]
        if nested:
            out[nm] = nested
    return out


def _typed(values: list, column: pd.Series, categorical_levels: list | None):
    if categorical_levels is not None and isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical(values, categories=column.cat.categories)
    return pd.Series(values, dtype=column.dtype if categorical_levels is not None else float).to_numpy()


def reference_grid(result, at: dict | None = None, cov_reduce=None) -> RefGrid:
    """Build the reference grid of a fit (see the module docstring).

    Parameters
    ----------
    result : LmmResult
    at : dict, optional
        Variable → value or list of values to use instead of the defaults.
    cov_reduce : callable, optional
        Covariate values → list of grid values (default: ``[mean]``); a covariate with at most
        two distinct values always contributes them.

    Returns
    -------
    RefGrid

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> rg = reference_grid(m)
    >>> rg.levels["recipe"], round(rg.levels["temp"][0], 1)
    (['A', 'B', 'C'], 200.0)
    """
    at = dict(at or {})
    data = result.frame.data
    variables = formula_variables(result)
    unknown = [k for k in at if k not in variables]
    if unknown:
        raise ModelSpecError(f"at: {', '.join(map(repr, unknown))} not a variable of the fixed effects "
                             f"(have {', '.join(variables) or 'none'})")
    levels: dict = {}
    factors: list = []
    cat_levels: dict = {}
    for v in variables:
        lev = _categorical_levels(result, v)
        cat_levels[v] = lev
        if lev is not None:
            factors.append(v)
            levels[v] = _match_levels(v, at[v], lev) if v in at else list(lev)
            continue
        if v in at:
            vals = at[v] if isinstance(at[v], (list, tuple, np.ndarray, pd.Index)) else [at[v]]
            levels[v] = [float(x) for x in vals]
            continue
        x = data[v].to_numpy(dtype=float)
        uniq = np.unique(x[np.isfinite(x)])
        if len(uniq) <= 2:  # cov.keep = "2"
            levels[v] = [float(u) for u in uniq]
        elif cov_reduce is not None:
            levels[v] = [float(u) for u in cov_reduce(x)]
        else:
            levels[v] = [float(np.mean(x))]
    for v, lev in levels.items():
        if not lev:
            raise ModelSpecError(f"at: no values given for {v!r}")
    combos = list(itertools.product(*[levels[v] for v in reversed(variables)]))
    cells = [tuple(reversed(c)) for c in combos]  # first variable fastest
    grid = pd.DataFrame(cells, columns=variables) if variables else pd.DataFrame(index=range(1))
    newdata = pd.DataFrame({v: _typed(list(grid[v]), data[v], cat_levels[v]) for v in variables},
                           index=grid.index)
    if not variables:
        newdata = pd.DataFrame(index=range(1))
    try:
        mm = result.fixed.spec.get_model_matrix(newdata, na_action="ignore")
    except Exception as exc:  # noqa: BLE001 (formulaic raises several kinds for unusable grids)
        raise DataError(f"cannot build the fixed-effects rows of the reference grid: {exc}") from None
    X = np.asarray(mm, dtype=float)
    if X.shape[0] != len(grid):
        X = np.broadcast_to(X, (len(grid), X.shape[1])).copy()
    kept = np.asarray(result.fixed.kept, dtype=int)
    nbasis = None
    if len(kept) < X.shape[1]:
        Xfull = np.asarray(result.fixed.spec.get_model_matrix(data, na_action="ignore"), dtype=float)
        nbasis = _null_basis(Xfull)
    nesting = _find_nests(data, factors, levels)
    return RefGrid(grid=grid, levels=levels, factors=factors, X=X, kept=kept, nbasis=nbasis, nesting=nesting,
                   offset=_grid_offset(result, len(grid)))


def _grid_offset(result, ncells: int) -> np.ndarray | None:
    """The offset at each cell: the mean of the fit's offset values (emmeans treats the offset as a
    covariate ``.offset.`` at its mean), or None without offset() terms."""
    off = getattr(result.spec, "offset", None)
    if off is None or not getattr(result.spec, "offset_terms", None):
        return None
    return np.full(ncells, float(np.mean(off)))
