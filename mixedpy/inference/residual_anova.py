"""F tests (anova types I-III, contrasts) for models with a residual structure.

The hypothesis matrices are :mod:`mixedpy.inference.anova`'s; only the test differs, because a GLS
model (no random terms) still has variance parameters: Satterthwaite through the Hessian of the
deviance in (θ, φ, σ) (:mod:`mixedpy.inference.satterthwaite`), Kenward-Roger as SAS DDFM=KR
(:mod:`mixedpy.inference.kr_residual`: adjusted covariance Φ_A, scaled F and its df), or residual
df n − p.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .anova import (
    COLUMNS,
    _ddf,
    _row,
    _wald_test,
    _with_aliased_terms,
    coefficient_matrix,
    hypothesis_matrices,
)
from .satterthwaite import FTest, satterthwaite_test


def f_test(result, L: np.ndarray, rhs=0.0, ddf: str = "satterthwaite") -> FTest:
    """F test of L β = rhs for a model with a residual structure.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> t = f_test(m, np.array([[0.0, 1.0]]))
    >>> round(t.F, 3), t.num_df, round(t.den_df, 3)
    (37.934, 1, 90.234)
    """
    d = _ddf(ddf)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if d == "satterthwaite":
        return satterthwaite_test(result, L, rhs)
    if d == "kenward-roger":
        from .kr_residual import kr_df, kr_pieces
        kr = result.__dict__.get("_kr_residual")
        if kr is None:
            kr = kr_pieces(result)
            result.__dict__["_kr_residual"] = kr  # a cache of a derived value, like cached_property
        rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
        q = int(np.linalg.matrix_rank(L))
        r = L @ np.asarray(result.solution.beta) - rhs
        F = float(r @ np.linalg.pinv(L @ kr.PhiA @ L.T) @ r) / q
        m, scale = kr_df(kr, L)
        return FTest(F * scale, q, m, float(result.sigma))
    return _wald_test(result, L, rhs, np.inf if d == "none" else float(result.nobs - result.workspace.p))


def anova(result, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
    """ANOVA table (as :func:`mixedpy.inference.anova.anova`) of a model with a residual structure.

    Examples
    --------
    >>> import mixedpy, warnings
    >>> warnings.simplefilter("ignore")
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> list(anova(m).index)
    ['Days']
    """
    rows = {label: _row(f_test(result, L, 0.0, ddf)) for label, L in hypothesis_matrices(result, type).items()}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS) if rows else \
        pd.DataFrame(columns=COLUMNS, dtype=float)
    out = _with_aliased_terms(out, result.fixed.terms)
    out.index.name = "term"
    return out


def contrast(result, L, rhs=0.0, ddf: str = "satterthwaite") -> pd.DataFrame:
    """F test of L β = rhs as a one-row table (as :func:`mixedpy.inference.anova.contrast`).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"), residual="ar1(Days | Subject)")
    >>> contrast(m, [[0, 1]])[["F", "num_df"]].round(3).values.tolist()
    [[37.934, 1.0]]
    """
    Lm = coefficient_matrix(result, L)
    out = pd.DataFrame([_row(f_test(result, Lm, rhs, ddf))], columns=COLUMNS, index=["L beta = rhs"])
    out.index.name = "hypothesis"
    return out
