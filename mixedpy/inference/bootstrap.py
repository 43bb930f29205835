"""Parametric bootstrap percentile intervals (lme4's ``confint(m, method = "boot")``).

Responses are simulated from the fitted model, y* = Xβ̂ + ZΛ(θ̂)u*σ̂ + σ̂ε with u*, ε ~ N(0, I),
the model is refitted to each (same formula and criterion) and the parameters — named as in the
profile intervals — are collected; the interval is the pair of percentiles.
"""
from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from ..errors import ModelSpecError


def parameter_vector(result) -> pd.Series:
    """SDs, correlations, σ and fixed effects of a fit, with the profile intervals' names.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> parameter_vector(m).round(4).to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'sd_(Intercept)|Subject': 24.7405, 'cor_Days.(Intercept)|Subject': 0.0656, 'sd_Days|Subject': 5.9221,
     'sigma': 25.5918, '(Intercept)': 251.4051, 'Days': 10.4673}
    """
    vals = {}
    glmm = getattr(result, "family", None) is not None  # no σ: the random effects on the link scale
    s2 = 1.0 if glmm else result.sigma ** 2
    for term in result.random.terms:
        T = term.T(result.theta)
        cov = s2 * (T @ T.T)
        sd = np.sqrt(np.diag(cov))
        r, c = term.tril()
        for a, b in zip(r, c):
            if a == b:
                vals[f"sd_{term.columns[a]}|{term.group}"] = sd[a]
            else:
                cor = cov[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else np.nan
                vals[f"cor_{term.columns[a]}.{term.columns[b]}|{term.group}"] = cor
    if not glmm:
        vals["sigma"] = result.sigma
    for name, b in zip(result.fixed.names, result.solution.beta):
        vals[name] = b
    return pd.Series(vals, dtype=float)


def simulate_responses(result, nsim: int, seed=None) -> np.ndarray:
    """nsim × n simulated responses from the fitted model: y* = Xβ̂ + Zb* + σ̂ε with
    b* ~ N(0, σ̂² (K ⊗ T Tᵀ)) per term (K = I without a relationship matrix).

    Examples
    --------
    >>> import numpy as np
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> y = simulate_responses(m, 3, seed=1)
    >>> y.shape, bool(np.array_equal(y, simulate_responses(m, 3, seed=1)))
    ((3, 180), True)
    """
    if getattr(result, "family", None) is not None:  # a GLMM: new random effects, then y ~ family
        return result.simulate(nsim, seed=seed).to_numpy().T
    rng = np.random.default_rng(seed)
    X, Z = result.fixed.X, result.random.Z
    mu = X @ np.asarray(result.solution.beta)
    n = X.shape[0]
    structures = result.structures or [None] * len(result.random.terms)
    out = np.empty((nsim, n))
    for i in range(nsim):
        b = np.zeros(result.random.q)
        for term, st in zip(result.random.terms, structures):
            z = rng.standard_normal((term.nlev, term.k))
            if st is not None:
                z = st.draw(z)
            b[term.offset:term.offset + term.q] = (z @ term.T(result.theta).T).ravel() * result.sigma
        out[i] = mu + (Z @ b if result.random.q else 0.0) + result.sigma * rng.standard_normal(n)
    return out


def _refit(args) -> np.ndarray:
    result_or_refitter, spec, y, names = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec is None:
            m = result_or_refitter.refit(y=y)
        else:
            m = result_or_refitter(spec.with_response(y))
    return parameter_vector(m).reindex(names).to_numpy()


def bootstrap_intervals(result, level: float = 0.95, nsim: int = 500, seed=None, n_jobs: int = 1,
                        progress: bool | None = None) -> pd.DataFrame:
    """Parametric bootstrap percentile intervals of all parameters.

    Parameters
    ----------
    result : LmmResult
    level : float
    nsim : int
        Number of simulated data sets.
    seed : int or numpy Generator, optional
    n_jobs : int
        Worker processes for the refits (1: in this process).
    progress : bool or None, default None
        A tqdm progress bar over the refits: None shows it only on an interactive terminal or in Jupyter,
        True always (a line every few seconds into a log), False never (see :mod:`mixedpy.progress`).

    Returns
    -------
    pandas.DataFrame
        Columns ``lower``, ``upper``; the draws are in ``.attrs["draws"]``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ci = m.confint(method="bootstrap", nsim=20, seed=1, progress=False)
    >>> list(ci.columns), list(ci.index)
    (['lower', 'upper'], ['sd_(Intercept)|Batch', 'sigma', '(Intercept)'])
    """
    from ..progress import tqdm

    if getattr(result, "family", None) is None and result.method not in ("reml", "ml"):
        raise ModelSpecError(f"bootstrap intervals refit by REML/ML; this fit's method is {result.method!r}")
    names = list(parameter_vector(result).index)
    ys = simulate_responses(result, nsim, seed)
    if n_jobs == 1:
        jobs = [(result, None, y, names) for y in ys]
        draws = [_refit(j) for j in tqdm(jobs, progress=progress, desc="bootstrap")]
    else:  # worker processes get the orchestrator and the spec (a workspace does not pickle)
        jobs = [(result.fitter, result.spec, y, names) for y in ys]
        with ProcessPoolExecutor(max_workers=None if n_jobs < 0 else n_jobs) as ex:
            draws = list(tqdm(ex.map(_refit, jobs), total=nsim, progress=progress, desc="bootstrap"))
    D = pd.DataFrame(np.array(draws), columns=names)
    a = (1 - level) / 2
    out = pd.DataFrame({"lower": D.quantile(a), "upper": D.quantile(1 - a)})
    out.index.name = "parameter"
    out.attrs["draws"] = D
    return out
