"""Starting values of θ.

lme4 starts every fit at θ₀ (1 on the diagonals of each T, 0 elsewhere).  When the dense Schur
complement of the blocked engine is large (many levels outside the first term, e.g. 2,000 herds with
a random slope), each deviance evaluation costs a dense Cholesky of thousands of rows, so starting
close to the optimum matters.  Then the model is first fitted to the rows of a random subset of the
levels of the largest such term (so that its Schur complement has about ``TARGET_Q2`` rows), and the
full fit starts from that θ.  The optimum is the full data's optimum either way; only the number of
expensive evaluations changes.
"""
from __future__ import annotations

import warnings

import numpy as np

from .design.fixed import fixed_design
from .design.frame import ModelFrame
from .design.random import RandomDesign, random_design
from .linalg.blocked_system import BlockedSystem
from .objective import Workspace
from .optimize import minimize_deviance

LARGE_Q2 = 1000   # Schur complements at least this large get a warm start
TARGET_Q2 = 400   # size of the subsample's Schur complement


def subsample_rows(random: RandomDesign, q2: int, seed: int = 20261125) -> np.ndarray | None:
    """Rows of a level subsample of the largest term outside the first one (None if pointless).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", mixedpy.datasets.load("penicillin"))
    >>> subsample_rows(m.random, 6) is None  # 6 samples: too few levels to subsample
    True
    """
    if len(random.terms) < 2:
        return None
    term = max(random.terms[1:], key=lambda t: t.q)
    fraction = min(0.5, TARGET_Q2 / q2)
    nkeep = int(term.nlev * fraction)
    if nkeep < 20:
        return None
    keep = np.random.default_rng(seed).choice(term.nlev, size=nkeep, replace=False)
    return np.isin(term.codes, keep)


def _map_theta(full: RandomDesign, sub: RandomDesign, theta_sub: np.ndarray) -> np.ndarray | None:
    theta = full.theta0.copy()
    by_source = {(t.source, tuple(t.columns)): t for t in sub.terms}
    for t in full.terms:
        s = by_source.get((t.source, tuple(t.columns)))
        if s is None:
            return None
        theta[t.theta_offset:t.theta_offset + t.ntheta] = theta_sub[s.theta_offset:s.theta_offset + s.ntheta]
    return theta


def starting_theta(frame: ModelFrame, ws: Workspace, reml: bool) -> np.ndarray:
    """θ₀ of lme4, or a subsample fit's θ when the dense Schur complement is large (see module).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> starting_theta(m.frame, m.workspace, reml=True).tolist()  # small model: lme4's θ₀
    [1.0, 0.0, 1.0]
    """
    random = ws.random
    if ws.augmented is not None:
        return random.theta0
    system = ws.system
    if not isinstance(system, BlockedSystem) or system.q2 < LARGE_Q2:
        return random.theta0
    rows = subsample_rows(random, system.q2)
    if rows is None:
        return random.theta0
    data = frame.data.loc[rows]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fixed = fixed_design(frame.formula.response, frame.formula.fixed, data)
            sub_random = random_design(frame.formula.random, data)
            sub_ws = Workspace(fixed.X, fixed.y, sub_random)
            opt = minimize_deviance(lambda th: sub_ws.deviance(th, reml), sub_random.theta0, sub_random.lower,
                                    "lbfgs", fun_and_grad=lambda th: sub_ws.deviance_and_gradient(th, reml))
    except (ValueError, TypeError, KeyError, np.linalg.LinAlgError):
        return random.theta0
    theta = _map_theta(random, sub_random, opt.theta)
    if theta is None:
        return random.theta0
    # a subsample's zero variance need not be the full data's: start off the boundary
    bounded = random.lower == 0
    theta[bounded] = np.maximum(theta[bounded], 0.05)
    return theta
