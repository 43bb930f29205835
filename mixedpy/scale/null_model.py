"""The null model of a marker scan: its REML fit and the covariance V of the records.

``null_fit="tridiagonal"`` (V = σ²_g K_y + σ²_e I, one relationship term ``(1 | group)``): REML over
h² = σ²_g/(σ²_g + σ²_e) through one tridiagonal reduction of K_y (:func:`tridiagonal_reml`);
``"fit"``: :func:`mixedpy.fit` with ``relmat={group: K}`` (any random part) and V assembled from its
variance components (:func:`covariance_from_result`).  See :mod:`mixedpy.scale.scan`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as la
from scipy import optimize
from scipy.linalg import lapack

from ..deviance import profiled_deviance
from ..errors import DataError, ModelSpecError, RowsDroppedWarning
from ..genetics.tridiagonal import Householder, tridiagonal_solve
from .relmat import key_strings, matrix_for, relmat_frame

__all__ = ["H2_MAX", "NullModel", "covariance_from_result", "fit_null", "is_single_intercept",
           "tridiagonal_reml", "variances_of"]

H2_MAX = 0.99999


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

    Examples
    --------
    >>> import pandas as pd
    >>> nm = NullModel({"g": 1.0, "Residual": 1.0}, float("nan"), "given", 0.5, pd.Series([1.0], index=["(Intercept)"]))
    >>> nm.method, nm.h2, nm.result is None
    ('given', 0.5, True)
    """

    variances: dict
    reml_criterion: float
    method: str
    h2: float
    beta: pd.Series
    result: Any = None

    def as_dict(self) -> dict:
        """The null model as plain Python values (for JSON reports).

        Examples
        --------
        >>> import pandas as pd
        >>> nm = NullModel({"g": 1.0, "Residual": 1.0}, float("nan"), "given", 0.5, pd.Series([1.0], index=["(Intercept)"]))
        >>> nm.as_dict()["beta"], nm.as_dict()["variances"]
        ({'(Intercept)': 1.0}, {'g': 1.0, 'Residual': 1.0})
        """
        return {"variances": dict(self.variances), "reml_criterion": self.reml_criterion,
                "method": self.method, "h2": self.h2, "beta": self.beta.to_dict()}


def tridiagonal_reml(K: np.ndarray, y: np.ndarray, X: np.ndarray, fixed_h2: float | None = None
                     ) -> tuple[float, float, float, np.ndarray]:
    """REML over h² for V ∝ h²K + (1 − h²)I through one tridiagonal reduction of K.

    Returns (h², total variance σ²_g + σ²_e, REML criterion, β̂).  The criterion is lme4's
    (:func:`mixedpy.deviance.profiled_deviance` with the total variance profiled out), minimized
    over a grid of h² in [0, H2_MAX] refined by bounded Brent search.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> import numpy as np
    >>> Z = np.eye(6)[m.random.terms[0].codes]  # batch indicators: K = Z Zᵀ is (1 | Batch)
    >>> h2, s2, crit, beta = tridiagonal_reml(Z @ Z.T, m.fixed.y, m.fixed.X)
    >>> round(h2, 4), round(s2, 2), round(crit, 4), beta.round(3).tolist()
    (0.4185, 4215.3, 319.6543, [1527.5])
    """
    n, p = X.shape
    lwork = int(lapack.dsytrd_lwork(n, lower=1)[0])
    a, d, e, tau, info = lapack.dsytrd(K, lower=1, lwork=lwork, overwrite_a=0)
    if info != 0:
        raise DataError(f"tridiagonal reduction of the relationship matrix failed (LAPACK info {info})")
    B = Householder(a, tau).apply(np.column_stack([y, X]), transpose=True)  # Qᵀ[y X]
    dft = n - p

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
        # V/s² = h²T + (1 − h²)I in the rotated basis: its log-determinant is Σ log of the LDLᵀ pivots
        crit = profiled_deviance(np.sum(np.log(df_)), 2 * np.sum(np.log(np.diag(cf[0]))), ypy, n, p,
                                 reml=True)
        return float(crit), float(ypy / dft), beta

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


def is_single_intercept(frame, group: str) -> bool:
    """Whether the formula's only random term is ``(1 | group)``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> is_single_intercept(m.frame, "Batch")
    True
    """
    terms = frame.formula.random
    return len(terms) == 1 and terms[0].name == group and terms[0].expr.replace(" ", "") == "1"


def covariance_from_result(result, keys_rows: list[str], group: str, Kframe: pd.DataFrame | None
                           ) -> np.ndarray:
    """V of the records of a :func:`mixedpy.fit` result: σ²I + Σ_terms (K_t ∘ X_t S_t X_tᵀ).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> V = covariance_from_result(m, None, "Batch", None)
    >>> V.shape, round(float(V[0, 0]), 2), round(float(V[0, 1]), 2), float(V[0, 5])
    ((30, 30), 4215.3, 1764.05, 0.0)
    """
    n = result.nobs
    V = np.eye(n) * result.sigma ** 2
    for term in result.random.terms:
        S = result.term_covariance(term)
        XS = term.X @ S @ term.X.T
        codes = np.asarray(term.codes)
        if Kframe is not None and term.group == group:
            Kt = matrix_for(Kframe, key_strings(np.asarray(term.levels)[codes]))
        else:
            Kt = (codes[:, None] == codes[None, :]).astype(float)
        V += Kt * XS
    return V


def variances_of(result) -> dict:
    """``{group: variance, …, "Residual": σ²}`` of a fit, keyed as ``variances=`` of :func:`mixedpy.fit`.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> {k: round(v, 2) for k, v in variances_of(m).items()}
    {'Batch': 1764.05, 'Residual': 2451.25}
    """
    out = {}
    label = dict(zip(result.random.varcorr_labels(), result.random.term_labels()))  # lme4 → fit() keys
    for _, r in result.varcorr.iterrows():
        if pd.isna(r["term1"]):
            out["Residual"] = float(r["variance"])
        elif pd.isna(r["term2"]) and label[str(r["group"])] not in out:
            out[label[str(r["group"])]] = float(r["variance"])
    return out


def fit_null(formula: str, data: pd.DataFrame, group: str, K, null_fit: str, variances: dict | None
             ) -> tuple[NullModel, np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Fit the null model to the genotyped rows ``data``.

    Returns (null model, y, X, V, the rows used): V is the covariance of the records (n × n) at the
    null estimates (or at the given ``variances``).  ``null.beta`` is NaN when the variances were
    given with a single relationship term (no fit at all): the GLS β̂ then comes from the rotation.

    Examples
    --------
    >>> import mixedpy
    >>> d = mixedpy.datasets.load("dyestuff")
    >>> null, y, X, V, rows = fit_null("Yield ~ 1 + (1 | Batch)", d, "Batch", None, "auto", None)
    >>> null.method, round(null.h2, 4), V.shape
    ('fit', 0.4185, (30, 30))
    >>> {k: round(v, 2) for k, v in null.variances.items()}
    {'Batch': 1764.05, 'Residual': 2451.25}
    """
    from ..design.fixed import fixed_design
    from ..design.frame import make_frame

    Kframe = relmat_frame(K) if K is not None else None
    frame = make_frame(formula, data)
    use_tri = null_fit == "tridiagonal" or (null_fit == "auto" and Kframe is not None
                                            and is_single_intercept(frame, group))
    if null_fit == "tridiagonal" and not (Kframe is not None and is_single_intercept(frame, group)):
        raise ModelSpecError(f"null_fit='tridiagonal' needs the random part to be exactly (1 | {group}) "
                             "with a relationship matrix")
    if use_tri:
        fixed = fixed_design(frame.formula.response, frame.formula.fixed, frame.data)
        y, X = fixed.y, fixed.X
        rec_keys = key_strings(frame.data[group])
        Ky = matrix_for(Kframe, rec_keys)
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
            h2, s2, crit, beta = tridiagonal_reml(Ky, y, X)
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
            result = fit(formula, data, reml=True, variances=variances, **kwargs)
        y, X = result.fixed.y, result.fixed.X
        rows_data = result.frame.data
        V = covariance_from_result(result, key_strings(rows_data[group]), group, Kframe)
        vs = variances_of(result)
        vg = vs.get(group, np.nan)
        h2 = vg / (vg + vs["Residual"]) if len(vs) == 2 and group in vs else np.nan
        crit = result.reml_criterion if variances is None else np.nan
        null = NullModel(vs, float(crit), "fit", float(h2), result.fixef.copy(), result)
    return null, y, X, V, rows_data
