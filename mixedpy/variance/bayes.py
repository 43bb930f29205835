"""Bayesian variance components: a Gibbs sampler on Henderson's mixed model equations.

Model and priors (all stated; the priors are settable with ``prior=``)::

    y | β, b, σ²  ~ N(Xβ + Σ_j Z_j b_j, σ²_e I)
    b_j | σ²_j   ~ N(0, σ²_j K_j)             (K_j = I, a pedigree's A, or a relmat K = F Fᵀ)
    β            ~ flat
    σ²_j         ~ scaled-inv-χ²(ν_j, S²_j)   (density ∝ (σ²)^−(ν/2+1) exp(−ν S² / (2σ²)))
    σ²_e         ~ scaled-inv-χ²(ν_e, S²_e)

Defaults: ν = 4 and S² = var(y) / (2 m) for each of the m components including the residual, so
that every prior mean ν S²/(ν − 2) is var(y)/m (weakly informative); ``prior={"animal": (df, scale),
"Residual": (df, scale)}`` overrides them (ν = −2, S² = 0 is the flat prior on the variances).

Each iteration draws (β, b) jointly given the variances (β from its marginal N(β̂, σ²_e RXtRX⁻¹),
then b | β from N(C⁻¹Zᵀ(y − Xβ), σ²_e C⁻¹) with C = ZᵀZ + σ²_e Γ⁻¹, through the same factorization as
the REML fit), then each variance from its conjugate full conditional::

    σ²_j | b  ~ (b_jᵀ K_j⁻¹ b_j + ν_j S²_j) / χ²(q_j + ν_j)
    σ²_e | …  ~ (‖y − Xβ − Zb‖² + ν_e S²_e) / χ²(n + ν_e)

Random slopes (inverse-Wishart priors) are not supported yet: every random term must be scalar.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.linalg as la

from ..errors import ModelSpecError
from ..optimize import OptSummary


def _priors(labels: list, prior: dict | None, vary: float) -> dict:
    m = len(labels) + 1
    out = {lab: (4.0, vary / (2.0 * m)) for lab in labels + ["Residual"]}
    for k, v in (prior or {}).items():
        if k not in out:
            raise ModelSpecError(f"prior for unknown component {k!r}; components are {', '.join(out)}")
        try:
            df, scale = (float(x) for x in v)
        except (TypeError, ValueError):
            raise ModelSpecError(f"prior[{k!r}] must be a pair (df, scale), got {v!r}") from None
        if scale < 0:
            raise ModelSpecError(f"prior[{k!r}]: scale must be non-negative")
        out[k] = (df, scale)
    return out


def fit_bayes(formula: str, data, *, relmat: dict | None = None, n_iter: int = 5000, burn: int | None = None,
              thin: int = 1, seed: int | None = None, prior: dict | None = None, progress: bool = True,
              data_name: str = "data"):
    """Gibbs sampler for the variance components (``fit(..., method="bayes")``).

    Parameters
    ----------
    formula, data, relmat
        As for :func:`mixedpy.fit`.
    n_iter : int
        Total number of iterations (burn-in included).
    burn : int, optional
        Iterations discarded at the start (default: a fifth of ``n_iter``).
    thin : int
        Keep every ``thin``-th draw after the burn-in.
    seed : int, optional
        Seed of the random generator: the same seed gives identical draws.
    prior : dict, optional
        ``{component: (df, scale)}`` of the scaled-inverse-χ² priors (see the module docstring).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    MMEResult
        Estimates are posterior means (``fixef``, ``ranef``, ``varcorr``); ``posterior`` holds the
        kept draws (fixed effects and ``var:<component>`` columns); ``credible_intervals()``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="bayes",
    ...                 n_iter=300, burn=100, seed=1, progress=False)
    >>> m.posterior.shape
    (200, 3)
    """
    from ..genetics.fitting import MMEResult, setup
    n_iter = int(n_iter)
    burn, thin = (n_iter // 5 if burn is None else int(burn)), int(thin)
    if n_iter <= burn or burn < 0 or thin < 1:
        raise ModelSpecError(f"need n_iter > burn >= 0 and thin >= 1 (got n_iter={n_iter}, burn={burn}, thin={thin})")
    t0 = time.perf_counter()
    s = setup(formula, data, relmat)
    ws, rd = s.workspace, s.random
    labels = rd.term_labels()
    for lab, t in zip(labels, rd.terms):
        if t.k != 1:
            raise ModelSpecError(f"method='bayes' supports scalar random terms only; {lab!r} has {t.k} "
                                 "columns (inverse-Wishart priors for random slopes are not implemented)")
    y, X = ws.y, ws.X
    n, p = ws.n, ws.p
    vary = float(np.var(y, ddof=1))
    pri = _priors(labels, prior, vary)
    rng = np.random.default_rng(seed)
    sig2 = {lab: vary / (len(labels) + 1) for lab in labels + ["Residual"]}
    Kinv = [st.Kinv if st.kind == "inverse" else None for st in s.structures]
    keep_rows, bsum, nkeep = [], np.zeros(rd.q), 0
    from tqdm.auto import tqdm  # lazily: tqdm.auto warns at import in a Jupyter without widgets

    for it in tqdm(range(n_iter), disable=not progress, desc="Gibbs", leave=False):
        s2e = sig2["Residual"]
        theta = np.zeros(rd.ntheta)
        for lab, t in zip(labels, rd.terms):
            theta[t.theta_offset] = np.sqrt(sig2[lab] / s2e)
        ws.update(theta)
        sol = ws.factor.solve(np.column_stack([ws.ZtX, ws.Zty]))
        CinvW, Cinvv = sol[:, :-1], sol[:, -1]
        if p:
            RX = ws.XtX - ws.ZtX.T @ CinvW
            cf = la.cholesky(RX, lower=True)
            bhat = la.cho_solve((cf, True), ws.Xty - ws.ZtX.T @ Cinvv)
            beta = bhat + np.sqrt(s2e) * la.solve_triangular(cf, rng.standard_normal(p), lower=True, trans="T")
        else:
            beta = np.zeros(0)
        a = Cinvv - CinvW @ beta + np.sqrt(s2e) * ws.factor.draw(rng.standard_normal(ws.q))
        e = y - X @ beta - ws.Z @ a
        df_e, sc_e = pri["Residual"]
        sig2["Residual"] = (float(e @ e) + df_e * sc_e) / rng.chisquare(n + df_e)
        for j, (lab, t) in enumerate(zip(labels, rd.terms)):
            aj = a[ws.woff[j]:ws.woff[j] + ws.nlat[j]]
            quad = float(aj @ (Kinv[j] @ aj)) if Kinv[j] is not None else float(aj @ aj)
            df_j, sc_j = pri[lab]
            sig2[lab] = (quad + df_j * sc_j) / rng.chisquare(ws.nlat[j] + df_j)
        if it >= burn and (it - burn) % thin == 0:
            keep_rows.append(np.concatenate([beta, [sig2[lab] for lab in labels], [sig2["Residual"]]]))
            bsum += ws.effects(a)
            nkeep += 1
    cols = list(s.fixed.names) + [f"var:{lab}" for lab in labels] + ["var:Residual"]
    post = pd.DataFrame(np.array(keep_rows), columns=cols)
    means = post.mean()
    var_means = {lab: float(means[f"var:{lab}"]) for lab in labels + ["Residual"]}
    s2 = var_means["Residual"]
    theta = np.zeros(rd.ntheta)
    for lab, t in zip(labels, rd.terms):
        theta[t.theta_offset] = np.sqrt(var_means[lab] / s2)
    parts = ws.parts(theta)
    from ..solution import Solution
    beta = means[list(s.fixed.names)].to_numpy()
    vcov = np.atleast_2d(np.cov(post[list(s.fixed.names)].to_numpy(), rowvar=False)) if p else np.zeros((0, 0))
    sol = Solution(theta=theta, beta=beta, b=bsum / nkeep, u=parts.u, sigma=float(np.sqrt(s2)), vcov=vcov,
                   parts=parts)
    opt = OptSummary("gibbs", theta, theta, np.nan, n_iter, True,
                     f"{n_iter} iterations, burn-in {burn}, thin {thin}, {nkeep} draws kept",
                     np.zeros(len(theta)), time.perf_counter() - t0)
    return MMEResult(formula=formula, frame=s.frame, fixed=s.fixed, random=rd, workspace=ws, opt=opt,
                     solution=sol, reml=True, method="bayes", data_name=data_name, structures=s.structures,
                     variances=var_means, posterior=post)
