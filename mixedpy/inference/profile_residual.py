"""Profiles of the residual-structure parameters (the rows of ``residual_parameters``).

Each reported value g of a residual structure (SAS's "Covariance Parameter Estimates": variances
including σ², correlations, covariances) is a function of the free structure parameters φ and σ².
Two kinds cover every structure:

* **scale-free** (correlations, AR(1), spatial ranges): g depends on φ only, through one φ_j.
  The deviance is profiled over φ_j (σ² profiled analytically, every other θ, φ free) and the
  ends mapped through g — profile intervals are invariant under a monotone change of parameter.
* **scaled** (variances): g = σ²·h(φ) with h > 0.  For g held at x, σ² = x / h(φ) is
  eliminated and the ML deviance ldL2 + n log(2πσ²) + pwrss/σ² minimized over θ and φ, as lme4
  does for an SD of a random term.
* **signed** (covariances): g = σ²·h(φ) where h changes sign along one coordinate φ_c (an
  off-diagonal element of the unstructured factor).  σ² joins the free parameters and φ_c is
  solved from σ²·h(φ) = x (a root in one variable), so the profile crosses 0.

The ML deviance is used throughout (a REML fit is refitted with ML), as for every profile in
:mod:`.profile`.
"""
from __future__ import annotations

import numpy as np

from .profile_objectives import BIG, Profile

__all__ = ["residual_profiles"]

REL = 1e-7


def _report(rd, phi: np.ndarray, s2: float) -> np.ndarray:
    par = rd.full(phi)
    return np.array([v for g in range(rd.ngroups) for _, v in rd.structure.report(par[g], s2)])


def _names(fit) -> list[str]:
    from .residual_intervals import residual_names
    return residual_names(fit)


def _sign_changer(rd, phi: np.ndarray, k: int, dep: np.ndarray):
    """The φ coordinate along which reported value k changes sign, or None."""
    best, best_slope = None, 0.0
    for j in np.flatnonzero(dep):
        vals = []
        for t in phi[j] + np.linspace(-20.0, 20.0, 81):
            ph = phi.copy()
            ph[j] = t
            vals.append(_report(rd, ph, 1.0)[k])
        vals = np.asarray(vals)
        if vals.min() < 0 < vals.max():
            slope = float(np.max(np.abs(np.diff(vals))))
            if slope > best_slope:
                best, best_slope = int(j), slope
    return best


def _classify(rd, phi: np.ndarray, s2: float):
    """Per reported value: ("scaled", None), ("signed", c) or ("free", j) with c, j a φ
    coordinate, or None."""
    g0 = _report(rd, phi, s2)
    g2 = _report(rd, phi, 2 * s2)
    dep = np.zeros((len(g0), len(phi)), dtype=bool)
    for j in range(len(phi)):
        h = 1e-5 * max(1.0, abs(phi[j]))
        up, dn = phi.copy(), phi.copy()
        up[j] += h
        dn[j] -= h
        dep[:, j] = np.abs(_report(rd, up, s2) - _report(rd, dn, s2)) > REL * (1 + np.abs(g0))
    out = []
    for k in range(len(g0)):
        if np.isclose(g2[k], 2 * g0[k], rtol=1e-10, atol=1e-300) and g0[k] != 0:
            c = _sign_changer(rd, phi, k, dep[k])
            out.append(("scaled", None) if c is None else ("signed", c))
        elif np.isclose(g2[k], g0[k], rtol=1e-10) and dep[k].sum() == 1:
            out.append(("free", int(np.flatnonzero(dep[k])[0])))
        else:
            out.append(None)
    return g0, out


def residual_profiles(fit) -> list[Profile]:
    """One :class:`Profile` per reported residual parameter of an ML fit (see the module docstring).

    A scale-free parameter's profile runs on its φ coordinate: its ``transform`` maps the interval
    ends to the reported scale.

    Examples
    --------
    >>> import mixedpy, warnings
    >>> warnings.simplefilter("ignore")
    >>> d = mixedpy.datasets.load("sleepstudy")
    >>> m = mixedpy.fit("Reaction ~ Days", d, residual="ar1(Days | Subject)", reml=False)
    >>> [p.name for p in residual_profiles(m)]
    ['AR(1)', 'Residual']
    """
    ws, rd = fit.workspace, fit.spec.residual
    u_bounds = [(0.0 if np.isfinite(lo) else None, None) for lo in fit.spec.par_lower]
    params = np.asarray(fit.theta, dtype=float)
    nt = fit.random.ntheta
    s2_hat = float(fit.sigma) ** 2
    phi_hat = params[nt:nt + rd.nphi]
    g0, kinds = _classify(rd, phi_hat, s2_hat)
    names = _names(fit)
    out = []
    for k, (name, kind) in enumerate(zip(names, kinds)):
        if kind is None:
            continue
        if kind[0] == "free":
            j = nt + kind[1]
            others = np.ones(len(params), dtype=bool)
            others[j] = False

            def obj(x, u, j=j, others=others):
                p = np.empty(len(params))
                p[others] = u
                p[j] = x
                return ws.deviance(p, reml=False)

            def transform(x, j=j, k=k):
                ph = phi_hat.copy()
                ph[j - nt] = x
                return float(_report(rd, ph, s2_hat)[k])
            out.append(Profile(name=name, estimate=float(params[j]), lower_bound=-np.inf, upper_bound=np.inf,
                               objective=_guard(obj), u0=params[others],
                               u_bounds=[b for i, b in enumerate(u_bounds) if others[i]],
                               scale=1.0, transform=transform))
        elif kind[0] == "signed":
            out.append(_signed_profile(ws, rd, name, k, nt + kind[1], params, nt, s2_hat, g0[k], u_bounds))
        else:
            def h_of(u, k=k):
                return float(_report(rd, u[nt:nt + rd.nphi], 1.0)[k])

            def obj(x, u, h_of=h_of):
                s2 = x / h_of(u) if x != 0 else 0.0
                if not s2 > 0:
                    return BIG
                return ws.parts(u).deviance_at(s2, reml=False)

            positive = g0[k] > 0
            out.append(Profile(name=name, estimate=float(g0[k]), lower_bound=0.0 if positive else -np.inf,
                               upper_bound=np.inf if positive else 0.0, objective=_guard(obj),
                               u0=params.copy(), u_bounds=list(u_bounds), scale=abs(float(g0[k]))))
    return out


def _signed_profile(ws, rd, name, k, c, params, nt, s2_hat, g_hat, u_bounds) -> Profile:
    """Profile of a covariance: u = (θ, φ without φ_c, σ²); φ_c solves σ²·h(φ) = x."""
    from scipy.optimize import brentq
    others = np.ones(len(params), dtype=bool)
    others[c] = False

    def full(x, u):
        p = np.empty(len(params))
        p[others] = u[:-1]
        s2 = u[-1]

        def f(t):
            p[c] = t
            return _report(rd, p[nt:nt + rd.nphi], 1.0)[k] - x / s2
        a, b = params[c] - 1.0, params[c] + 1.0
        fa, fb = f(a), f(b)
        for _ in range(40):
            if fa * fb <= 0:
                break
            a, b = a - 2 * (b - a), b + 2 * (b - a)
            fa, fb = f(a), f(b)
        else:
            raise ValueError("no root")
        p[c] = brentq(f, a, b, xtol=1e-14, rtol=1e-14)
        return p, s2

    def obj(x, u):
        if not u[-1] > 0:
            return BIG
        p, s2 = full(x, u)
        return ws.parts(p).deviance_at(s2, reml=False)

    bounds = [b for i, b in enumerate(u_bounds) if others[i]] + [(1e-12 * s2_hat, None)]
    return Profile(name=name, estimate=float(g_hat), lower_bound=-np.inf, upper_bound=np.inf,
                   objective=_guard(obj), u0=np.append(params[others], s2_hat), u_bounds=bounds,
                   scale=abs(float(g_hat)) or 1.0)


def _guard(fn):
    def wrapped(x, u):
        try:
            v = float(fn(x, u))
        except (ValueError, FloatingPointError, np.linalg.LinAlgError, ZeroDivisionError):
            return BIG
        return v if np.isfinite(v) else BIG
    return wrapped
