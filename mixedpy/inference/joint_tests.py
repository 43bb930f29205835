"""Joint F tests of the model terms on the reference grid, as emmeans' ``joint_tests``.

For every set of grid variables that some fixed-effect term contains (single variables first,
then pairs, …, in formula order), the interaction contrasts of consecutive levels of the
estimated marginal means over that set are tested jointly (emmeans' ``test(…, joint = TRUE)``):
with Q the orthonormal basis of their row space (QR of Lᵀ, dependent rows dropped),
F = (Qβ̂)ᵀ (Q V Qᵀ)⁻¹ (Qβ̂) / r, and the denominator df is the smallest df of the single rows of
Q (emmeans' rule, with V and the row df from :mod:`mixedpy.inference.linfct`).  Covariates enter
the grid at mean ± 1 (emmeans' ``meanint``), so their terms are tested too.  Non-estimable
functions are replaced by the estimable combinations of them (``estble.subspace``).  When the
model has confounded contrasts (aliased columns), a ``(confounded)`` row holds what the term
tests do not cover, as emmeans.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..design.fixed import independent_columns
from ..design.frame import referenced_names
from ..errors import ModelSpecError
from .emm_contrasts import contrast_family
from .emmeans import EMM
from .linfct import LinearInference
from .refgrid import RefGrid, reference_grid


def _zap(a: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    a = a.copy()
    a[np.abs(a) < tol] = 0.0
    return a


def _null_space_rows(A: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Rows b with b A = 0 (an orthonormal basis of the left null space of A)."""
    if A.size == 0:
        return np.eye(A.shape[0])
    U, s, _ = np.linalg.svd(A, full_matrices=True)
    rank = int(np.sum(s > max(tol, 1e-7 * (s[0] if len(s) else 0))))
    return U[:, rank:].T


def joint_test(L: np.ndarray, rg: RefGrid, inference: LinearInference) -> dict:
    """emmeans' joint test of the rows of L (complete coding) = 0.

    Returns a dict with ``df1``, ``df2``, ``F``, ``p``, ``note`` (``"d"``: dependent rows dropped,
    ``"e"``: non-estimable functions replaced by estimable combinations) and ``Q`` (the tested
    orthonormal functions).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> from mixedpy.inference.refgrid import reference_grid
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> rg = reference_grid(m)
    >>> L = np.zeros((2, rg.X.shape[1]))
    >>> L[0, 1] = L[1, 2] = 1.0  # recipe B and C against A (at temp 0)
    >>> jt = joint_test(L, rg, LinearInference(m, "satterthwaite"))
    >>> jt["df1"], round(jt["df2"], 4), round(jt["F"], 4), round(jt["p"], 4)
    (2, 250.0, 0.0931, 0.9112)
    """
    LL = np.atleast_2d(L)
    notes = set()
    keep = ~(np.all(LL == 0, axis=1) | np.any(~np.isfinite(LL), axis=1))
    if not keep.all():
        notes.add("e")
    LL = LL[keep]
    if rg.nbasis is not None and len(LL) and not rg.estimable(LL).all():
        LN = LL @ rg.nbasis
        LN[np.abs(LN) <= 1e-8] = 0.0
        LL = _null_space_rows(LN) @ _zap(LL)
        notes.add("e")
    if len(LL) == 0:
        return {"df1": 0, "df2": np.nan, "F": np.nan, "p": np.nan, "note": " ".join(sorted(notes)), "Q": LL}
    Lt = _zap(LL.T)
    idx = independent_columns(Lt)
    if len(idx) < LL.shape[0]:
        notes.add("d")
    r = len(idx)
    if r == 0:
        return {"df1": 0, "df2": np.nan, "F": np.nan, "p": np.nan, "note": " ".join(sorted(notes)), "Q": LL[:0]}
    Q = np.linalg.qr(Lt[:, idx])[0]
    tQ = Q.T
    tQk = tQ[:, rg.kept]
    z = tQk @ inference.beta
    zcov = tQk @ inference.V @ tQk.T
    F = float(z @ np.linalg.solve(zcov, z)) / r
    df2 = float(min(inference.df(row) for row in tQk))
    p = float(stats.f.sf(F, r, df2)) if np.isfinite(df2) else float(stats.chi2.sf(F * r, r))
    return {"df1": r, "df2": df2, "F": F, "p": p, "note": " ".join(sorted(notes)), "Q": tQ}


def _term_table(result, variables: list) -> list:
    """Sets of grid variables of each fixed-effect term (emmeans' ``factors`` attribute)."""
    out = []
    for term in result.fixed.spec.terms:
        if str(term) == "1":
            continue
        vs = set()
        for f in term.factors:
            vs |= {v for v in referenced_names(str(f)) if v in variables}
        if vs:
            out.append(vs)
    extra = [v for v in variables if not any(v in t for t in out)]
    if extra:  # emmeans: variables outside the terms are in every column
        out = [t | set(extra) for t in out] or [set(extra)]
    return out


def _interaction_rows(emm: EMM, idx: np.ndarray, these: list) -> np.ndarray:
    """Interaction consec contrasts (first variable fastest) of the means at positions idx."""
    C = np.ones((1, 1))
    for v in these:
        k = len(emm.refgrid.levels[v])
        Cv = contrast_family("consec", [str(i) for i in range(k)]).coef
        C = np.kron(Cv, C)
    return C.T @ emm.L_full[idx]


def joint_tests(result, by=None, ddf: str = "kenward-roger") -> pd.DataFrame:
    """Type III-like joint tests of each model term on the reference grid (emmeans' ``joint_tests``).

    Parameters
    ----------
    result : LmmResult
    by : str or list of str, optional
        Test within each level of these variables.
    ddf : {"kenward-roger", "satterthwaite", "residual", "asymptotic"}

    Returns
    -------
    pandas.DataFrame
        ``model_term``, the by columns, ``df1``, ``df2``, ``F``, ``p``, ``note``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> joint_tests(m)["model_term"].tolist()
    ['recipe', 'temp', 'recipe:temp']
    """
    by = [by] if isinstance(by, str) else list(by or [])
    rg = reference_grid(result, cov_reduce=lambda x: [float(np.mean(x)) - 1, float(np.mean(x)) + 1])
    inference = LinearInference(result, ddf)
    bad = [b for b in by if b not in rg.variables]
    if bad:
        raise ModelSpecError(f"by: {', '.join(map(repr, bad))} not a variable of the reference grid "
                             f"(have {', '.join(rg.variables)})")
    facs = [v for v in rg.variables if v not in by]
    if not facs:
        raise ModelSpecError("there are no factors to test")
    terms = _term_table(result, rg.variables)
    subsets: list = []

    def dfs(these: list, start: int) -> None:
        for i in range(start, len(facs)):
            s = these + [facs[i]]
            subsets.append(s)
            dfs(s, i + 1)

    dfs([], 0)
    subsets = [s for s in subsets if any(set(s) <= t for t in terms)]
    subsets.sort(key=len)  # stable: emmeans orders by the number of variables
    rows = []
    tested: dict = {}
    for these in subsets:
        emm = EMM(result, these, by=by, refgrid=rg, inference=inference)
        for key, idx in emm._groups():
            L = _interaction_rows(emm, idx, these)
            res = joint_test(L, rg, inference)
            tested.setdefault(key, []).append(res["Q"])
            rows.append({"model_term": ":".join(these), **dict(zip(by, key)),
                         **{k: res[k] for k in ("df1", "df2", "F", "p", "note")}})
    # what the terms do not cover: all consecutive differences of the grid cells
    emm_all = EMM(result, facs, by=by, refgrid=rg, inference=inference)
    for key, idx in emm_all._groups():
        Lall = contrast_family("consec", [str(i) for i in range(len(idx))]).coef.T @ emm_all.L_full[idx]
        ref = joint_test(Lall, rg, inference)
        Qs = [q for q in tested.get(key, []) if len(q)]
        if not Qs:
            continue
        tst = joint_test(np.vstack(Qs), rg, inference)
        df1 = ref["df1"] - tst["df1"]
        if df1 > 0:
            F = (ref["df1"] * ref["F"] - tst["df1"] * tst["F"]) / df1
            rows.append({"model_term": "(confounded)", **dict(zip(by, key)), "df1": df1,
                         "df2": ref["df2"], "F": F, "p": float(stats.f.sf(F, df1, ref["df2"])), "note": ""})
    out = pd.DataFrame(rows, columns=["model_term", *by, "df1", "df2", "F", "p", "note"])
    return out[out["df1"] > 0].reset_index(drop=True)
