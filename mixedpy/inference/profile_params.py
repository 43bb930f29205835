"""Profiles over the model's own parameters ``params`` (ψ of structured random terms, θ of the
others, φ of a residual structure): for values reported as functions of them.

Every reported variance parameter g (a variance, SD, covariance or correlation of a random term —
as the structure's ``report`` gives it — or a row of ``residual_parameters``) is a function g(p, σ²)
of the parameter vector p and σ², homogeneous in σ²: g = (σ²)^a · h(p) with a = 0 (correlations,
AR(1), spatial ranges), ½ (SDs) or 1 (variances, covariances).  Five kinds of constrained
minimization cover them all (ML deviance; a REML fit is refitted with ML):

* **coordinate** (a = 0, h depends on one p_j): the deviance is profiled over p_j (σ² profiled
  analytically) and the ends mapped through g — profile intervals are invariant under a monotone
  change of parameter.
* **row-scaled** (a = 0, g > 0 homogeneous of degree 1 in the p it depends on: the SD of a GLMM's
  vector term, ‖row of T‖): those p are scaled to give g = x (one of them, the largest, held at
  its estimate so that the rest is a parameterization), the others minimized.
* **solved** (a = 0, h depends on several p): one coordinate p_c along which g sweeps its range
  is solved from h(p) = x (a root in one variable) and the rest minimized, σ² profiled.
* **scaled** (a > 0, h > 0): σ² = (x / h(p))^(1/a) is eliminated and the ML deviance
  ldL2 + n log(2πσ²) + pwrss/σ² minimized over p, as lme4 does for an SD.
* **signed** (a > 0, h changes sign along p_c: covariances): σ² joins the free parameters and p_c
  is solved from (σ²)^a h(p) = x, so the profile crosses 0.

:func:`params_profiles` builds them for every parameter of a model with structured random terms
(plus σ and the fixed effects, in params space); :func:`residual_profiles` only for the residual
parameters of a model whose random terms are lme4's (their profiles are :mod:`.profile_objectives`');
:func:`glmm_profiles` for a GLMM, p = (θ, β) and the Laplace (or quadrature) deviance, as lme4's
``profile.merMod`` for glmer fits: the SDs and correlations of the random terms (no σ), then each
fixed effect as a coordinate.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..deviance import profiled_deviance
from .profile_objectives import BIG, Profile

__all__ = ["glmm_profiles", "params_profiles", "residual_profiles"]

REL = 1e-7
SWEEP = np.linspace(-20.0, 20.0, 81)


@dataclass(frozen=True)
class Reported:
    """One reported value g(p, σ²) with its name (``name|group`` as the result's tables)."""

    name: str
    value: Callable


@dataclass(frozen=True)
class _Model:
    """The ML fit's deviance and its parts as functions of params."""

    deviance: Callable   # p -> profiled ML deviance
    parts: Callable      # p -> DevianceParts
    p_hat: np.ndarray
    s2_hat: float
    bounds: list
    scales: np.ndarray | None = None   # step sizes of the coordinates (1 by default)
    fixed: tuple = ()                  # coordinates that are fixed effects (GLMMs: p = (θ, β))

    def __post_init__(self):
        if self.scales is None:
            object.__setattr__(self, "scales", np.ones(len(self.p_hat)))


def _model(fit) -> _Model:
    ws, pmap = fit.workspace, fit.spec.parameters
    structured = pmap.structured
    obj = pmap.objective(ws) if structured else ws
    p_hat = np.asarray(fit.params if structured else fit.theta, dtype=float)
    to_theta = pmap.theta if structured else (lambda p: p)
    return _Model(deviance=lambda p: obj.deviance(p, reml=False), parts=lambda p: ws.parts(to_theta(p)),
                  p_hat=p_hat, s2_hat=float(fit.sigma) ** 2,
                  bounds=[(0.0 if np.isfinite(lo) else None, None) for lo in fit.spec.par_lower])


# --- what is reported ---------------------------------------------------------------------------
def _residual_reported(fit) -> list[Reported]:
    from .residual_intervals import residual_names
    rd = fit.spec.residual
    if rd is None or rd.structure is None:
        return []
    nphi = rd.nphi

    def values(p, s2):
        par = rd.full(np.asarray(p)[len(p) - nphi:] if nphi else np.zeros(0))
        return [v for g in range(rd.ngroups) for _, v in rd.structure.report(par[g], s2)]
    return [Reported(name, (lambda p, s2, k=k: values(p, s2)[k])) for k, name in enumerate(residual_names(fit))]


def _term_reported(fit) -> list[Reported]:
    pmap = fit.spec.parameters
    out = []
    for j, (t, st) in enumerate(zip(fit.random.terms, pmap.structures)):
        if st is not None:
            names = [n for n, _ in st.report(np.asarray(pmap.term_params(fit.params, j), dtype=float), 1.0)]
            for k, n in enumerate(names):
                out.append(Reported(f"{n}|{t.group}", (lambda p, s2, j=j, k=k, st=st:
                                                        st.report(pmap.term_params(p, j), s2)[k][1])))
            continue

        def cov(p, s2, t=t):
            T = t.T(pmap.theta(p))
            return s2 * (T @ T.T)
        for a in range(t.k):
            out.append(Reported(f"sd_{t.columns[a]}|{t.group}",
                                (lambda p, s2, a=a, cov=cov: float(np.sqrt(max(cov(p, s2)[a, a], 0.0))))))
        for a in range(t.k):
            for b in range(a):
                def cor(p, s2, a=a, b=b, cov=cov):
                    C = cov(p, 1.0)
                    d = np.sqrt(C[a, a] * C[b, b])
                    return float(C[a, b] / d) if d > 0 else 0.0
                out.append(Reported(f"cor_{t.columns[a]}.{t.columns[b]}|{t.group}", cor))
    return out


# --- classification -----------------------------------------------------------------------------
def _power(g: Reported, p, s2) -> float | None:
    v1, v4 = g.value(p, s2), g.value(p, 4 * s2)
    for a in (0.0, 0.5, 1.0):
        if np.isclose(v4, 4 ** a * v1, rtol=1e-9, atol=1e-300):
            return a
    return None


def _dependence(g: Reported, p, s2) -> np.ndarray:
    g0 = g.value(p, s2)
    dep = np.zeros(len(p), dtype=bool)
    for j in range(len(p)):
        h = 1e-5 * max(1.0, abs(p[j]))
        up, dn = p.copy(), p.copy()
        up[j] += h
        dn[j] -= h
        try:
            dep[j] = abs(g.value(up, s2) - g.value(dn, s2)) > REL * (1 + abs(g0))
        except (ValueError, np.linalg.LinAlgError):
            dep[j] = True
    return dep


def _homogeneous(g: Reported, p, dep) -> bool:
    """Whether g is positive and homogeneous of degree 1 in the coordinates it depends on (an SD of a
    term's row of T: scaling the row scales the SD)."""
    g0 = g.value(p, 1.0)
    q = p.copy()
    q[dep] *= 2.0
    return g0 > 0 and bool(np.isclose(g.value(q, 1.0), 2.0 * g0, rtol=1e-9))


def _sweeper(g: Reported, p, dep, need_sign: bool) -> int | None:
    """The coordinate along which g sweeps the widest range (crossing 0 when ``need_sign``)."""
    best, width = None, 0.0
    for j in np.flatnonzero(dep):
        vals = []
        for t in p[j] + SWEEP:
            q = p.copy()
            q[j] = t
            try:
                vals.append(g.value(q, 1.0))
            except (ValueError, np.linalg.LinAlgError):
                continue
        vals = np.asarray(vals)
        if len(vals) < 2 or (need_sign and not vals.min() < 0 < vals.max()):
            continue
        if vals.max() - vals.min() > width:
            best, width = int(j), float(vals.max() - vals.min())
    return best


# --- the profiles -------------------------------------------------------------------------------
def _solve(fun, center: float) -> float:
    """A root of fun near ``center`` (bracket grown geometrically)."""
    a, b = center - 1.0, center + 1.0
    fa, fb = fun(a), fun(b)
    for _ in range(40):
        if fa * fb <= 0:
            return brentq(fun, a, b, xtol=1e-14, rtol=1e-14)
        a, b = a - 2 * (b - a), b + 2 * (b - a)
        fa, fb = fun(a), fun(b)
    raise ValueError("no root")


def _guard(fn):
    def wrapped(x, u):
        try:
            v = float(fn(x, u))
        except (ValueError, FloatingPointError, np.linalg.LinAlgError, ZeroDivisionError):
            return BIG
        return v if np.isfinite(v) else BIG
    return wrapped


def _profile(g: Reported, m: _Model) -> Profile | None:
    p, s2 = m.p_hat, m.s2_hat
    g0 = float(g.value(p, s2))
    a = _power(g, p, s2)
    dep = _dependence(g, p, s2)
    if a is None or (a == 0 and not dep.any()):
        return None
    if a == 0 and dep.sum() == 1:  # coordinate
        j = int(np.flatnonzero(dep)[0])
        keep = np.arange(len(p)) != j

        def obj(x, u):
            q = np.empty(len(p))
            q[keep], q[j] = u, x
            return m.deviance(q)

        def transform(x):
            q = p.copy()
            q[j] = x
            return float(g.value(q, s2))
        lo = m.bounds[j][0] if m.bounds[j][0] is not None else -np.inf
        return Profile(name=g.name, estimate=float(p[j]), lower_bound=lo, upper_bound=np.inf,
                       objective=_guard(obj), u0=p[keep], u_bounds=[b for i, b in enumerate(m.bounds) if keep[i]],
                       scale=m.scales[j], transform=transform, is_fixed=j in m.fixed)
    if a == 0 and _homogeneous(g, p, dep):  # an SD of a vector term: scale its row of T
        c = int(np.flatnonzero(dep)[np.argmax(np.abs(p[dep]))])
        keep = np.arange(len(p)) != c

        def obj(x, u):
            q = np.empty(len(p))
            q[keep], q[c] = u, p[c]
            v = g.value(q, 1.0)
            if not (x > 0 and v > 0):
                return BIG
            q[dep] *= x / v
            return m.deviance(q)
        return Profile(name=g.name, estimate=g0, lower_bound=0.0, upper_bound=np.inf, objective=_guard(obj),
                       u0=p[keep], u_bounds=[b for i, b in enumerate(m.bounds) if keep[i]], scale=abs(g0) or 1.0)
    if a == 0:  # solved
        c = _sweeper(g, p, dep, need_sign=False)
        if c is None:
            return None
        keep = np.arange(len(p)) != c

        def obj(x, u):
            q = np.empty(len(p))
            q[keep] = u

            def f(t):
                q[c] = t
                return g.value(q, 1.0) - x
            q[c] = _solve(f, p[c])
            return m.deviance(q)
        lo, hi = (-1.0, 1.0) if g.name.startswith("cor_") else (-np.inf, np.inf)
        return Profile(name=g.name, estimate=g0, lower_bound=lo, upper_bound=hi, objective=_guard(obj),
                       u0=p[keep], u_bounds=[b for i, b in enumerate(m.bounds) if keep[i]], scale=1.0)
    c = _sweeper(g, p, dep, need_sign=True) if dep.any() else None
    if c is None:  # scaled
        def obj(x, u):
            h = g.value(u, 1.0)
            if not (x > 0 and h > 0):
                return BIG
            return m.parts(u).deviance_at((x / h) ** (1 / a), reml=False)
        return Profile(name=g.name, estimate=g0, lower_bound=0.0, upper_bound=np.inf, objective=_guard(obj),
                       u0=p.copy(), u_bounds=list(m.bounds), scale=abs(g0) or 1.0)
    keep = np.arange(len(p)) != c  # signed

    def obj(x, u):
        q, v = np.empty(len(p)), u[-1]
        if not v > 0:
            return BIG
        q[keep] = u[:-1]

        def f(t):
            q[c] = t
            return v ** a * g.value(q, 1.0) - x
        q[c] = _solve(f, p[c])
        return m.parts(q).deviance_at(v, reml=False)
    return Profile(name=g.name, estimate=g0, lower_bound=-np.inf, upper_bound=np.inf, objective=_guard(obj),
                   u0=np.append(p[keep], s2), u_bounds=[b for i, b in enumerate(m.bounds) if keep[i]]
                   + [(1e-12 * s2, None)], scale=abs(g0) or 1.0)


def residual_profiles(fit) -> list[Profile]:
    """A :class:`Profile` per row of ``residual_parameters`` of an ML fit (module docstring).

    Examples
    --------
    >>> import mixedpy, warnings
    >>> warnings.simplefilter("ignore")
    >>> d = mixedpy.datasets.load("sleepstudy")
    >>> m = mixedpy.fit("Reaction ~ Days", d, residual="ar1(Days | Subject)", reml=False)
    >>> [p.name for p in residual_profiles(m)]
    ['AR(1)', 'Residual']
    """
    m = _model(fit)
    return [pr for pr in (_profile(g, m) for g in _residual_reported(fit)) if pr is not None]


def params_profiles(fit) -> list[Profile]:
    """Profiles of every parameter of an ML fit with structured random terms: the terms' reported
    values (``report`` names, ``|group``; sd_/cor_ for lme4 terms), ``sigma``, the residual
    parameters, then the fixed effects — all minimized over params (module docstring).

    Examples
    --------
    >>> import mixedpy, warnings
    >>> warnings.simplefilter("ignore")
    >>> d = mixedpy.datasets.load("sleepstudy")
    >>> m = mixedpy.fit("Reaction ~ Days + diag(1 + Days | Subject)", d, reml=False)
    >>> [p.name for p in params_profiles(m)]
    ['Var((Intercept))|Subject', 'Var(Days)|Subject', 'sigma', '(Intercept)', 'Days']
    """
    m = _model(fit)
    out = [pr for pr in (_profile(g, m) for g in _term_reported(fit)) if pr is not None]
    sig = float(np.sqrt(m.s2_hat))
    out.append(Profile(name="sigma", estimate=sig, lower_bound=0.0, upper_bound=np.inf,
                       objective=_guard(lambda x, u: m.parts(u).deviance_at(x * x, reml=False) if x > 0 else BIG),
                       u0=m.p_hat.copy(), u_bounds=list(m.bounds), scale=sig))
    out += [pr for pr in (_profile(g, m) for g in _residual_reported(fit)) if pr is not None]
    beta = np.asarray(fit.solution.beta)
    se = np.sqrt(np.diag(np.asarray(fit.solution.vcov)))
    n = fit.workspace.n
    for j, name in enumerate(fit.fixed.names):
        def obj(x, u, j=j):
            P = m.parts(u)
            r2 = P.pwrss + (x - P.beta[j]) ** 2 / float(np.linalg.inv(P.RXtRX)[j, j])
            return profiled_deviance(P.ldL2, 0.0, r2, n, 0, reml=False)
        out.append(Profile(name=name, estimate=float(beta[j]), lower_bound=-np.inf, upper_bound=np.inf,
                           objective=_guard(obj), u0=m.p_hat.copy(), u_bounds=list(m.bounds),
                           scale=float(se[j]), is_fixed=True))
    return out


def glmm_profiles(fit) -> list[Profile]:
    """Profiles of a GLMM's parameters over p = (θ, β) (module docstring): ``sd_…|group`` and
    ``cor_…|group`` of each random term, then the fixed effects.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 mixedpy.datasets.load("cbpp"), family="binomial")
    >>> [p.name for p in glmm_profiles(m)][:3]
    ['sd_(Intercept)|herd', '(Intercept)', 'period[T.2]']
    """
    ws, rd = fit.workspace, fit.random
    nth = rd.ntheta
    beta = np.asarray(fit.solution.beta, dtype=float)
    p_hat = np.concatenate([np.asarray(fit.theta, dtype=float), beta])
    se = np.sqrt(np.diag(np.asarray(fit.vcov, dtype=float)))
    bounds = [(0.0 if np.isfinite(lo) else None, None) for lo in rd.lower] + [(None, None)] * len(beta)
    m = _Model(deviance=lambda p: ws.deviance(p), parts=None, p_hat=p_hat, s2_hat=1.0, bounds=bounds,
               scales=np.concatenate([np.maximum(np.abs(p_hat[:nth]), 0.1), se]),
               fixed=tuple(range(nth, nth + len(beta))))
    reported = []
    for t in rd.terms:
        def cov(p, t=t):
            T = t.T(np.asarray(p)[:nth])
            return T @ T.T
        for a in range(t.k):
            reported.append(Reported(f"sd_{t.columns[a]}|{t.group}",
                                     (lambda p, s2, a=a, cov=cov: float(np.sqrt(max(cov(p)[a, a], 0.0))))))
        for a in range(t.k):
            for b in range(a):
                def cor(p, s2, a=a, b=b, cov=cov):
                    C = cov(p)
                    d = np.sqrt(C[a, a] * C[b, b])
                    return float(C[a, b] / d) if d > 0 else 0.0
                reported.append(Reported(f"cor_{t.columns[a]}.{t.columns[b]}|{t.group}", cor))
    for j, name in enumerate(fit.coef_names):
        reported.append(Reported(name, (lambda p, s2, j=j: float(p[nth + j]))))
    out = []
    for g in reported:
        pr = _profile(g, m)
        if pr is not None and pr.transform is not None and g.name.startswith("sd_") and pr.lower_bound == 0.0:
            pr.transform = abs  # a scalar term's SD is |θ|: the coordinate itself
        if pr is not None:
            out.append(pr)
    return out
