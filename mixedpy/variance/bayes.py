"""Bayesian variance components: a Gibbs sampler on Henderson's mixed model equations.

Model and priors (all stated here; the priors are settable with ``prior=``)::

    y | β, b, σ²_e ~ N(Xβ + Σ_j Z_j b_j, σ²_e I)
    b_j | Σ_j      ~ N(0, K_j ⊗ Σ_j)        (b_j: levels × k_j; K_j = I, a pedigree's A, or a dense
                                             K = F Fᵀ; Σ_j the k_j × k_j covariance of the term)
    β              ~ flat
    Σ_j            ~ IW(ν_j, S_j)            (inverse-Wishart: density ∝ |Σ|^−(ν+k+1)/2 exp(−tr(S Σ⁻¹)/2),
                                             mean S / (ν − k − 1) when ν > k + 1)
    σ²_e           ~ scaled-inv-χ²(ν_e, s²_e)  (density ∝ (σ²)^−(ν/2+1) exp(−ν s² / (2σ²)))

A scalar component (k_j = 1: a random intercept, or each term of an uncorrelated ``(1 + x || g)``)
is the special case IW₁(ν, ν s²) = scaled-inv-χ²(ν, s²), and its prior is given as (ν, s²) like the
residual's: ``prior={"g": (df, s2), "Residual": (df, s2)}``; (−2, 0) is the flat prior on a
variance.  A correlated vector term takes ``prior={"Subject": (df, S)}`` with S the k × k scale
matrix (symmetric positive semidefinite) or a scalar s for S = s I.

Defaults (weakly informative; every component a priori explains about var(y)/m of the variance of
y, with m the number of random terms plus one, and mean(x_c²) the mean square of a term's column c,
1 for an intercept)::

    scalar terms, residual:  ν = 4,      s² = var(y) / (2 m mean(x²))    (prior mean var(y)/(m mean(x²)))
    vector terms:            ν = k + 3,  S = 2 diag(var(y) / (m mean(x_c²)))   (prior mean S / 2)

so a scalar default is exactly the k = 1 case of the vector one.  The priors used are kept on the
result (``m.prior``).

Sampler: each iteration draws (β, b) jointly given the variances (β from its marginal
N(β̂, σ²_e RXtRX⁻¹), then b | β from N(C⁻¹Zᵀ(y − Xβ), σ²_e C⁻¹) with C = ZᵀZ + σ²_e Γ⁻¹, through the
factorization of the REML fit's workspace), then the covariances from their conjugate full
conditionals::

    Σ_j  | b ~ IW(ν_j + q_j, S_j + B_jᵀ K_j⁻¹ B_j)    (q_j levels; for a dense K the latent effects
                                                       a_j (b_j = F a_j, iid): A_jᵀ A_j, q_j = rank K)
    σ²_e | … ~ (‖y − Xβ − Zb‖² + ν_e s²_e) / χ²(n + ν_e)

with inverse-Wishart draws by Bartlett's decomposition (:func:`draw_inverse_wishart`).

Results: posterior means are the estimates (``fixef``, ``ranef``, ``varcorr``: the posterior mean
of each variance and covariance, the SDs and correlations of that mean covariance matrix);
``m.posterior`` keeps the draws: the fixed effects, ``var:<group>`` per scalar component,
``var:<group>:<column>``, ``cov:<group>:<c1>:<c2>`` and ``cor:<group>:<c1>:<c2>`` per vector term,
and ``var:Residual``; ``m.credible_intervals()`` and the summary give their equal-tailed intervals.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as la

from ..errors import DataError, ModelSpecError
from ..estimates import Estimates
from ..optimize import OptSummary
from ..progress import tqdm
from ..solution import Solution
from ..threads import blas_limit

LARGE_Q = 1500  # MME size from which the sampler's factorizations use all BLAS threads (if idle)


@dataclass(frozen=True)
class Prior:
    """Inverse-Wishart prior IW(df, scale) of a k × k covariance (k = 1: scaled-inv-χ²(df, scale/df)).

    Attributes
    ----------
    df : float
    scale : ndarray (k, k)

    Examples
    --------
    >>> import numpy as np
    >>> p = Prior(2.0, np.array([[4.0]]))
    >>> p.df, p.scale.tolist()
    (2.0, [[4.0]])
    """

    df: float
    scale: np.ndarray

    def describe(self) -> tuple:
        """("scaled-inv-chi2", ν, s²) for k = 1, ("inverse-Wishart", ν, S) otherwise.

        Examples
        --------
        >>> import numpy as np
        >>> Prior(2.0, np.array([[4.0]])).describe(), Prior(3.0, np.eye(2)).describe()[0]
        (('scaled-inv-chi2', 2.0, 2.0), 'inverse-Wishart')
        """
        if self.scale.shape == (1, 1):
            s2 = float(self.scale[0, 0]) / self.df if self.df != 0 else 0.0
            return ("scaled-inv-chi2", self.df, s2)
        return ("inverse-Wishart", self.df, self.scale.copy())


def draw_inverse_wishart(rng: np.random.Generator, df: float, scale: np.ndarray) -> np.ndarray:
    """One draw Σ ~ IW(df, scale) (mean scale / (df − k − 1)) by Bartlett's decomposition.

    With scale = C Cᵀ and A lower triangular, A_ii² ~ χ²(df − i) (i = 0 … k−1), A_ij ~ N(0, 1) below
    the diagonal, W = C⁻ᵀ A Aᵀ C⁻¹ ~ Wishart(df, scale⁻¹), so Σ = W⁻¹ = (A⁻¹Cᵀ)ᵀ(A⁻¹Cᵀ).
    For k = 1 this is scale / χ²(df).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> S = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> draws = np.array([draw_inverse_wishart(rng, 8.0, S) for _ in range(4000)])
    >>> bool(np.allclose(draws.mean(axis=0), S / (8 - 2 - 1), atol=0.03))
    True
    """
    scale = np.atleast_2d(np.asarray(scale, dtype=float))
    k = scale.shape[0]
    C = np.linalg.cholesky(scale)   # numpy, not scipy: k is tiny and LAPACK's threads only cost here
    A = np.zeros((k, k))
    A[np.diag_indices(k)] = np.sqrt(rng.chisquare(df - np.arange(k)))
    rows, cols = np.tril_indices(k, -1)
    A[rows, cols] = rng.standard_normal(len(rows))
    M = np.linalg.solve(A, C.T)
    return M.T @ M


# --- priors ---------------------------------------------------------------------------------------------
def _default_priors(terms, labels: list, X_terms: list, vary: float) -> dict:
    m = len(labels) + 1
    out = {}
    for lab, t, Xt in zip(labels, terms, X_terms):
        ms = np.mean(Xt ** 2, axis=0)
        ms = np.where(ms > 0, ms, 1.0)
        out[lab] = Prior(t.k + 3.0, np.diag(2.0 * vary / (m * ms)))
    out["Residual"] = Prior(4.0, np.array([[2.0 * vary / m]]))
    return out


def _user_prior(label: str, value, k: int, columns: list, nobs: int) -> Prior:
    """A validated prior entry: (df, s²) for a scalar component, (df, S or s) for a vector term;
    ``nobs`` is the number of levels (or records for the residual) the posterior adds to df."""
    where = f"prior[{label!r}]"
    try:
        df, scale = value
        df = float(df)
    except (TypeError, ValueError):
        raise ModelSpecError(f"{where} must be a pair (df, scale), got {value!r}") from None
    if not np.isfinite(df):
        raise ModelSpecError(f"{where}: df must be finite, got {df!r}")
    S = np.asarray(scale, dtype=float) if not isinstance(scale, str) else np.array(np.nan)
    if k == 1:
        if S.size != 1 or not np.isfinite(S).all() or float(S.ravel()[0]) < 0:
            raise ModelSpecError(f"{where}: the scale s² of a scalar component must be a non-negative "
                                 f"number, got {scale!r}")
        s2 = float(S.ravel()[0])
        if df < 0 and s2 > 0:
            raise ModelSpecError(f"{where}: a negative df needs scale 0 (the flat prior is (-2, 0)), "
                                 f"got ({df:g}, {s2:g})")
        S = np.array([[df * s2]])
    else:
        cols = ", ".join(map(str, columns))
        if S.ndim == 0:
            if not np.isfinite(S) or S < 0:
                raise ModelSpecError(f"{where}: a scalar scale must be a non-negative number, got {scale!r}")
            S = float(S) * np.eye(k)
        elif S.shape != (k, k) or not np.isfinite(S).all():
            raise ModelSpecError(f"{where}: the inverse-Wishart scale must be a {k} × {k} matrix (columns "
                                 f"{cols}) or a scalar, got shape {S.shape}")
        elif np.max(np.abs(S - S.T)) > 1e-10 * max(float(np.max(np.abs(S))), 1e-300):
            raise ModelSpecError(f"{where}: the inverse-Wishart scale must be symmetric")
        elif np.linalg.eigvalsh(S)[0] < -1e-12 * max(float(np.max(np.abs(S))), 1e-300):
            raise ModelSpecError(f"{where}: the inverse-Wishart scale must be positive semidefinite "
                                 f"(smallest eigenvalue {np.linalg.eigvalsh(S)[0]:.3g})")
        S = (S + S.T) / 2
    if df + nobs <= k - 1:
        raise ModelSpecError(f"{where}: df = {df:g} leaves an improper posterior (df + {nobs} must exceed "
                             f"{k - 1})")
    return Prior(df, S)


def resolve_priors(terms, labels: list, X_terms: list, nlat: list, y: np.ndarray, prior: dict | None) -> dict:
    """The default priors (module docstring) overridden by the validated ``prior`` entries.

    Examples
    --------
    >>> import mixedpy, numpy as np
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.model.workspace import workspace_for
    >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="bayes")
    >>> ws, rd = workspace_for(spec), spec.random
    >>> priors = resolve_priors(rd.terms, rd.term_labels(), [t.X for t in rd.terms], ws.nlat, ws.y, None)
    >>> {k: (p.df, round(float(p.scale[0, 0]), 2)) for k, p in priors.items()}
    {'Batch': (4.0, 3971.98), 'Residual': (4.0, 3971.98)}
    >>> resolve_priors(rd.terms, ['Batch'], [t.X for t in rd.terms], ws.nlat, ws.y, {'Batch': (1.0, 100.0)})['Batch']
    Prior(df=1.0, scale=array([[100.]]))
    """
    out = _default_priors(terms, labels, X_terms, float(np.var(y, ddof=1)))
    info = {lab: (t.k, t.columns, nl) for lab, t, nl in zip(labels, terms, nlat)}
    info["Residual"] = (1, ["Residual"], len(y))
    if prior is not None and not isinstance(prior, dict):
        raise ModelSpecError(f"prior must be a dict {{component: (df, scale)}}, got {type(prior).__name__}")
    for key, value in (prior or {}).items():
        if key not in info:
            raise ModelSpecError(f"prior for unknown component {key!r}; components are {', '.join(out)}")
        out[key] = _user_prior(key, value, *info[key])
    return out


# --- the sampler ----------------------------------------------------------------------------------------
def _theta_of(random, covs: list, s2e: float) -> np.ndarray:
    """θ from the term covariances Σ_j and σ²_e: T_j = chol(Σ_j / σ²_e), lower triangle by column."""
    theta = np.zeros(random.ntheta)
    for t, S in zip(random.terms, covs):
        T = la.cholesky(S / s2e, lower=True, check_finite=False)
        r, c = t.tril()
        theta[t.theta_offset:t.theta_offset + t.ntheta] = T[r, c]
    return theta


def _cov_values(S: np.ndarray, spec: list) -> list:
    out = []
    for _, kind, a, b in spec:
        out.append(S[a, b] if kind != "cor" else S[a, b] / np.sqrt(S[a, a] * S[b, b]))
    return out


@dataclass(frozen=True)
class GibbsOptions:
    """Options of the Gibbs sampler (``fit(..., method="bayes", options=GibbsOptions(...))`` or
    :func:`mixedpy.fit_bayes`).

    Attributes
    ----------
    n_iter : int
        Total number of iterations (burn-in included).
    burn : int, optional
        Iterations discarded at the start (default: a fifth of ``n_iter``).
    thin : int
        Keep every ``thin``-th draw after the burn-in.
    seed : int, optional
        Seed of the random generator: the same seed gives identical draws (on the same machine and
        libraries: a seeded fit runs its linear algebra on one BLAS thread).
    prior : dict, optional
        ``{component: (df, scale)}``: scaled-inverse-χ² (df, s²) for scalar components and the
        residual, inverse-Wishart (df, S) for vector terms (see the module docstring).
    progress : bool or None, default None
        A tqdm progress bar over the iterations: None shows it only on an interactive terminal or in Jupyter,
        True always (a line every few seconds into a log), False never (see :mod:`mixedpy.progress`).

    Examples
    --------
    >>> GibbsOptions(n_iter=300, burn=100, seed=1).kept
    200
    """

    n_iter: int = 5000
    burn: int | None = None
    thin: int = 1
    seed: int | None = None
    prior: dict | None = None
    progress: bool | None = None

    def __post_init__(self):
        n_iter, thin = int(self.n_iter), int(self.thin)
        burn = n_iter // 5 if self.burn is None else int(self.burn)
        if n_iter <= burn or burn < 0 or thin < 1:
            raise ModelSpecError(f"need n_iter > burn >= 0 and thin >= 1 (got n_iter={n_iter}, burn={burn}, "
                                 f"thin={thin})")
        if self.prior is not None and not isinstance(self.prior, dict):
            raise ModelSpecError(f"prior must be a dict {{component: (df, scale)}}, got {type(self.prior).__name__}")
        object.__setattr__(self, "n_iter", n_iter)
        object.__setattr__(self, "burn", burn)
        object.__setattr__(self, "thin", thin)

    @property
    def kept(self) -> int:
        """Number of draws kept.

        Examples
        --------
        >>> GibbsOptions(n_iter=300, burn=100, thin=2).kept
        100
        """
        return len(range(self.burn, self.n_iter, self.thin))


def covariance_columns(label: str, columns: list) -> list[tuple[str, str, int, int]]:
    """(name, kind, a, b) of the posterior columns of a term's covariance draws (kind "var", "cov" or
    "cor" of columns a and b): ``var:<label>`` for a scalar term; ``var:<label>:<column>``,
    ``cov:<label>:<c1>:<c2>`` and ``cor:<label>:<c1>:<c2>`` for a vector term.

    Examples
    --------
    >>> [c[0] for c in covariance_columns("Subject", ["(Intercept)", "Days"])]
    ['var:Subject:(Intercept)', 'var:Subject:Days', 'cov:Subject:(Intercept):Days', 'cor:Subject:(Intercept):Days']
    """
    if len(columns) == 1:
        return [(f"var:{label}", "var", 0, 0)]
    out = [(f"var:{label}:{c}", "var", a, a) for a, c in enumerate(columns)]
    for a in range(len(columns)):
        for b in range(a + 1, len(columns)):
            pair = f"{label}:{columns[a]}:{columns[b]}"
            out += [(f"cov:{pair}", "cov", a, b), (f"cor:{pair}", "cor", a, b)]
    return out


def estimate_bayes(spec, ws, options: GibbsOptions | None = None) -> Estimates:
    """Gibbs sampler for the variance components on the MME (``method="bayes"``).

    Estimates are posterior means (``fixef``, ``ranef``, ``varcorr``); the result's ``posterior``
    holds the kept draws, ``prior`` the priors used, ``credible_intervals()`` the intervals.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit_bayes("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"),
    ...                       n_iter=300, burn=100, seed=1, progress=False)
    >>> m.posterior.shape
    (200, 3)
    >>> s = mixedpy.fit_bayes("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"),
    ...                       n_iter=60, burn=10, seed=1, progress=False)
    >>> list(s.posterior.columns)[2:]
    ['var:Subject:(Intercept)', 'var:Subject:Days', 'cov:Subject:(Intercept):Days', 'cor:Subject:(Intercept):Days', 'var:Residual']
    """
    o = options if options is not None else GibbsOptions()
    # With a seed everything runs on one BLAS thread: a thread count that varies would make the
    # chain depend on it (multi-threaded rounding, and for a singular dense K the basis of its
    # eigenvectors, which rotates the latent draws).
    free = o.seed is None
    with blas_limit(large=free and ws.q >= LARGE_Q, n_threads=spec.n_threads):
        return _sample(spec, ws, o)


class GibbsSampler:
    """The full conditionals of the module docstring over a model's MME workspace (one chain).

    Parameters
    ----------
    workspace : MMEWorkspace
    priors : dict
        Component label → :class:`Prior` (including "Residual").
    rng : numpy.random.Generator

    Examples
    --------
    >>> from mixedpy.variance.bayes import GibbsSampler, resolve_priors
    >>> import mixedpy, numpy as np
    >>> from mixedpy.model.spec import model_spec
    >>> from mixedpy.model.workspace import workspace_for
    >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="bayes")
    >>> ws, rd = workspace_for(spec), spec.random
    >>> priors = resolve_priors(rd.terms, rd.term_labels(), [t.X for t in rd.terms], ws.nlat, ws.y, None)
    >>> sampler = GibbsSampler(ws, priors, np.random.default_rng(1))
    >>> sampler.labels
    ['Batch']
    """

    def __init__(self, workspace, priors: dict, rng: np.random.Generator):
        self.ws, self.priors, self.rng = workspace, priors, rng
        self.terms = workspace.random.terms
        self.labels = workspace.random.term_labels()
        self.Kinv = [st.Kinv if st.kind == "inverse" else None for st in workspace.structures]

    def location(self, covs: list, s2e: float) -> tuple[np.ndarray, np.ndarray]:
        """(β, a) | Σ, σ²_e: β from its marginal, then the working coefficients a | β.

        Examples
        --------
        >>> from mixedpy.variance.bayes import GibbsSampler, resolve_priors
        >>> import mixedpy, numpy as np
        >>> from mixedpy.model.spec import model_spec
        >>> from mixedpy.model.workspace import workspace_for
        >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="bayes")
        >>> ws, rd = workspace_for(spec), spec.random
        >>> priors = resolve_priors(rd.terms, rd.term_labels(), [t.X for t in rd.terms], ws.nlat, ws.y, None)
        >>> sampler = GibbsSampler(ws, priors, np.random.default_rng(1))
        >>> beta, a = sampler.location([np.array([[1500.0]])], 2500.0)
        >>> beta.round(1).tolist(), a.shape
        ([1533.8], (6,))
        """
        ws, rng = self.ws, self.rng
        ws.update(_theta_of(ws.random, covs, s2e))
        sol = ws.factor.solve(np.column_stack([ws.ZtX, ws.Zty]))
        CinvW, Cinvv = sol[:, :-1], sol[:, -1]
        beta = np.zeros(0)
        if ws.p:
            cf = la.cholesky(ws.XtX - ws.ZtX.T @ CinvW, lower=True, check_finite=False)
            bhat = la.cho_solve((cf, True), ws.Xty - ws.ZtX.T @ Cinvv, check_finite=False)
            beta = bhat + np.sqrt(s2e) * la.solve_triangular(cf, rng.standard_normal(ws.p), lower=True, trans="T")
        return beta, Cinvv - CinvW @ beta + np.sqrt(s2e) * ws.factor.draw(rng.standard_normal(ws.q))

    def residual_variance(self, beta: np.ndarray, b: np.ndarray) -> float:
        """σ²_e | β, b ~ IW(ν_e + n, S_e + eᵀe), e = y − Xβ − Zb.

        Examples
        --------
        >>> from mixedpy.variance.bayes import GibbsSampler, resolve_priors
        >>> import mixedpy, numpy as np
        >>> from mixedpy.model.spec import model_spec
        >>> from mixedpy.model.workspace import workspace_for
        >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="bayes")
        >>> ws, rd = workspace_for(spec), spec.random
        >>> priors = resolve_priors(rd.terms, rd.term_labels(), [t.X for t in rd.terms], ws.nlat, ws.y, None)
        >>> sampler = GibbsSampler(ws, priors, np.random.default_rng(1))
        >>> beta, a = sampler.location([np.array([[1500.0]])], 2500.0)
        >>> round(sampler.residual_variance(beta, ws.effects(a)), 1)
        1961.2
        """
        e = self.ws.y - self.ws.X @ beta - self.ws.Z @ b
        pe = self.priors["Residual"]
        return float(draw_inverse_wishart(self.rng, pe.df + self.ws.n, pe.scale + e @ e)[0, 0])

    def covariances(self, a: np.ndarray) -> list[np.ndarray]:
        """Σ_j | a ~ IW(ν_j + q_j, S_j + A_jᵀ K_j⁻¹ A_j) for every term.

        Examples
        --------
        >>> from mixedpy.variance.bayes import GibbsSampler, resolve_priors
        >>> import mixedpy, numpy as np
        >>> from mixedpy.model.spec import model_spec
        >>> from mixedpy.model.workspace import workspace_for
        >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="bayes")
        >>> ws, rd = workspace_for(spec), spec.random
        >>> priors = resolve_priors(rd.terms, rd.term_labels(), [t.X for t in rd.terms], ws.nlat, ws.y, None)
        >>> sampler = GibbsSampler(ws, priors, np.random.default_rng(1))
        >>> beta, a = sampler.location([np.array([[1500.0]])], 2500.0)
        >>> sampler.residual_variance(beta, ws.effects(a)) > 0
        True
        >>> [S.round(1).tolist() for S in sampler.covariances(a)]
        [[[1021.6]]]
        """
        ws, out = self.ws, []
        for j, (lab, t) in enumerate(zip(self.labels, self.terms)):
            A = a[ws.woff[j]:ws.woff[j] + ws.nlat[j] * t.k].reshape(ws.nlat[j], t.k)
            SB = A.T @ (self.Kinv[j] @ A) if self.Kinv[j] is not None else A.T @ A
            try:
                out.append(draw_inverse_wishart(self.rng, self.priors[lab].df + ws.nlat[j],
                                                self.priors[lab].scale + SB))
            except np.linalg.LinAlgError:
                raise DataError(f"the inverse-Wishart full conditional of {lab!r} is singular: give its "
                                "prior a positive definite scale") from None
        return out

    def step(self, covs: list, s2e: float) -> tuple:
        """One iteration: (β, b, Σ's, σ²_e).

        Examples
        --------
        >>> from mixedpy.variance.bayes import GibbsSampler, resolve_priors
        >>> import mixedpy, numpy as np
        >>> from mixedpy.model.spec import model_spec
        >>> from mixedpy.model.workspace import workspace_for
        >>> spec = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"), method="bayes")
        >>> ws, rd = workspace_for(spec), spec.random
        >>> priors = resolve_priors(rd.terms, rd.term_labels(), [t.X for t in rd.terms], ws.nlat, ws.y, None)
        >>> sampler = GibbsSampler(ws, priors, np.random.default_rng(1))
        >>> beta, b, covs, s2e = sampler.step([np.array([[1500.0]])], 2500.0)
        >>> beta.round(1).tolist(), b.shape, round(s2e, 1), covs[0].round(1).tolist()
        ([1533.8], (6,), 1961.2, [[1021.6]])
        """
        beta, a = self.location(covs, s2e)
        b = self.ws.effects(a)
        s2e = self.residual_variance(beta, b)
        return beta, b, self.covariances(a), s2e


def _posterior_means(means: pd.Series, labels: list, terms, specs: list) -> tuple[dict, list]:
    """({label: variance or k × k covariance, "Residual": σ²}, [Σ̄_j]) from the draws' means."""
    raw, covs = {}, []
    for lab, t, spec in zip(labels, terms, specs):
        S = np.zeros((t.k, t.k))
        for name, kind, a, b in spec:
            if kind != "cor":
                S[a, b] = S[b, a] = means[name]
        covs.append(S)
        raw[lab] = float(S[0, 0]) if t.k == 1 else S
    raw["Residual"] = float(means["var:Residual"])
    return raw, covs


def _sample(spec, ws, o: GibbsOptions) -> Estimates:
    t0 = time.perf_counter()
    rd = spec.random
    n_iter, burn, thin = o.n_iter, o.burn, o.thin
    labels = rd.term_labels()
    pri = resolve_priors(rd.terms, labels, [t.X for t in rd.terms], ws.nlat, ws.y, o.prior)
    specs = [covariance_columns(lab, t.columns) for lab, t in zip(labels, rd.terms)]
    sampler = GibbsSampler(ws, pri, np.random.default_rng(o.seed))
    start = _default_priors(rd.terms, labels, [t.X for t in rd.terms], float(np.var(ws.y, ddof=1)))
    covs = [start[lab].scale / 2.0 for lab in labels]          # the default priors' means
    s2e = float(start["Residual"].scale[0, 0]) / 2.0
    rows, bsum = [], np.zeros(rd.q)
    iterations = tqdm(range(n_iter), desc="Gibbs", leave=False, progress=o.progress)
    for it in iterations:
        beta, b, covs, s2e = sampler.step(covs, s2e)
        if it >= burn and (it - burn) % thin == 0:
            rows.append(np.concatenate([beta] + [_cov_values(S, spec) for S, spec in zip(covs, specs)] + [[s2e]]))
            bsum += b
    names = list(spec.fixed.names)
    post = pd.DataFrame(np.array(rows), columns=names + [c for sp_ in specs for c, *_ in sp_] + ["var:Residual"])
    raw, mean_covs = _posterior_means(post.mean(), labels, rd.terms, specs)
    theta = _theta_of(rd, mean_covs, raw["Residual"])
    vcov = np.atleast_2d(np.cov(post[names].to_numpy(), rowvar=False)) if ws.p else np.zeros((0, 0))
    parts = ws.parts(theta)
    sol = Solution(theta=theta, beta=post[names].mean().to_numpy(), b=bsum / len(rows), u=parts.u,
                   sigma=float(np.sqrt(raw["Residual"])), vcov=vcov, parts=parts)
    opt = OptSummary("gibbs", theta, theta, np.nan, n_iter, True,
                     f"{n_iter} iterations, burn-in {burn}, thin {thin}, {len(rows)} draws kept",
                     np.zeros(len(theta)), time.perf_counter() - t0)
    return Estimates(opt=opt, solution=sol, raw_variances=raw, posterior=post,
                     prior={k: v.describe() for k, v in pri.items()})
