"""Heritability (intra-class correlation) of a random term with a delta-method standard error."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ModelSpecError


def _components(result) -> tuple[list, list]:
    """(labels, term index) of the variance components making up the total: the intercept variance
    of each random term (its first θ element when its first column is the intercept)."""
    labels, terms = [], []
    for label, t in zip(result.random.term_labels(), result.random.terms):
        if t.columns[0] == "(Intercept)":
            labels.append(label)
            terms.append(t)
    return labels, terms


def _delta(v: np.ndarray, cov: np.ndarray, g: int) -> tuple[float, float]:
    """h² = v_g / Σ v and its delta-method SE (v includes the residual variance last)."""
    total = float(np.sum(v))
    h2 = float(v[g]) / total
    grad = -np.full(len(v), v[g] / total ** 2)
    grad[g] += 1.0 / total
    var = float(grad @ cov @ grad)
    return h2, float(np.sqrt(var)) if var >= 0 else np.nan


# the variance of the latent residual of a binomial GLMM per link (the threshold model's liability)
LATENT_VARIANCE = {"probit": 1.0, "logit": np.pi ** 2 / 3, "cloglog": np.pi ** 2 / 6}


def _liability(result, terms, g: int, group: str) -> pd.Series:
    """h² on the liability scale of a binomial GLMM: σ²_g / (Σ σ²_terms + σ²_link)."""
    fam = result.family
    if fam.name != "binomial" or fam.link.name not in LATENT_VARIANCE:
        raise ModelSpecError(f"heritability of a GLMM is on the liability scale of a binomial model with a "
                             f"probit, logit or cloglog link; this model is {fam.name} with link {fam.link.name!r}")
    theta = np.asarray(result.theta, dtype=float)
    idx = [t.theta_offset for t in terms]
    v = np.append(theta[idx] ** 2, LATENT_VARIANCE[fam.link.name])
    H = result.hessian
    nth = len(theta)
    if H is None:  # nAGQ = 0: no Hessian in θ
        return pd.Series({"estimate": float(v[g] / v.sum()), "se": np.nan}, name=f"h2:{group}")
    A = 2.0 * np.linalg.inv(np.asarray(H, dtype=float))[:nth, :nth]
    J = np.zeros((len(v), nth))
    for r, i in enumerate(idx):
        J[r, i] = 2.0 * theta[i]
    h2, se = _delta(v, J @ A @ J.T, g)
    return pd.Series({"estimate": h2, "se": se}, name=f"h2:{group}")


def heritability(result, group: str) -> pd.Series:
    """σ²_group / (Σ σ²_terms + σ²_residual), with a delta-method standard error.

    The total is the residual variance plus the intercept variance of every random term.  The
    standard error comes from the asymptotic covariance of the variance parameters: A = 2H⁻¹ (H the
    Hessian of the REML/ML deviance in (θ, σ), :func:`mixedpy.inference.varpar.varpar_info`) mapped
    to the variances σ²θ_j² and σ² by the chain rule; for ``method="anova"`` the sampling covariance
    of the ANOVA estimators; for ``method="bayes"`` the posterior mean and SD of h² over the draws;
    NaN for known variance components.  For a binomial GLMM (a threshold model: ``family=Binomial(
    link="probit")`` with ``relmat``) the heritability is on the liability scale, σ²_g / (Σ σ²_terms +
    σ²_link) with σ²_link = 1 (probit), π²/3 (logit) or π²/6 (cloglog), its SE from the Hessian of
    the deviance in (θ, β) (without ``relmat`` this is the latent-scale intra-class correlation).

    Parameters
    ----------
    result : LmmResult
    group : str
        A grouping factor label of ``varcorr`` (e.g. ``"animal"``) with a random intercept.

    Returns
    -------
    pandas.Series
        ``estimate`` and ``se``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> h = m.heritability("Batch")
    >>> round(float(h["estimate"]), 4)
    0.4185
    """
    labels, terms = _components(result)
    if group not in labels:
        raise ModelSpecError(f"{group!r} is not a random-intercept group of the model; use one of "
                             f"{', '.join(map(repr, labels))}")
    g = labels.index(group)
    if getattr(result, "family", None) is not None:
        return _liability(result, terms, g, group)
    post = getattr(result, "posterior", None)
    if post is not None:
        from ..variance.bayes import covariance_columns
        names = [covariance_columns(lab, t.columns)[0][0] for lab, t in zip(labels, terms)]
        draws = post[names + ["var:Residual"]].to_numpy()
        h = draws[:, g] / draws.sum(axis=1)
        return pd.Series({"estimate": float(h.mean()), "se": float(h.std(ddof=1))}, name=f"h2:{group}")
    raw = getattr(result, "raw_variances", None)
    if raw is not None:
        v = np.array([np.atleast_2d(raw[lab])[0, 0] for lab in labels] + [raw["Residual"]])
        cov = getattr(result, "vcov_variances", None)
        cov = cov.loc[labels + ["Residual"], labels + ["Residual"]].to_numpy() if cov is not None else \
            np.full((len(v), len(v)), np.nan)
        h2, se = _delta(v, cov, g)
        return pd.Series({"estimate": h2, "se": se}, name=f"h2:{group}")
    theta, sigma = np.asarray(result.theta, dtype=float), float(result.sigma)
    idx = [t.theta_offset for t in terms]
    v = np.append(sigma ** 2 * theta[idx] ** 2, sigma ** 2)
    if result.method == "known":
        return pd.Series({"estimate": float(v[g] / v.sum()), "se": np.nan}, name=f"h2:{group}")
    from ..threads import blas_limit
    from .varpar import varpar_info
    with blas_limit(n_threads=result.spec.n_threads):
        A = varpar_info(result).vcov_varpar
    J = np.zeros((len(v), len(theta) + 1))
    for r, i in enumerate(idx):
        J[r, i] = 2.0 * sigma ** 2 * theta[i]
        J[r, -1] = 2.0 * sigma * theta[i] ** 2
    J[-1, -1] = 2.0 * sigma
    h2, se = _delta(v, J @ A @ J.T, g)
    return pd.Series({"estimate": h2, "se": se}, name=f"h2:{group}")
