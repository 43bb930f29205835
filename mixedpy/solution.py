"""The solution at the estimates: BLUE β̂, BLUP b̂, σ̂, Var(β̂), conditional variances of b, the MME.

Everything here is computed from the objective's :class:`DevianceParts` at θ̂ and the factor of A(θ̂);
nothing re-derives the likelihood.

Glossary
--------
b        Λ u, the BLUPs of the random effects (level-major within each term)
condvar  diagonal k×k blocks of Var(b | y, β = β̂) = σ² Λ A⁻¹ Λᵀ (lme4's ``condVar``)
G        Var(b) = σ² Λ Λᵀ;  R = σ² I
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .design.random import RandomDesign, ReTerm
from .deviance import DevianceParts


@dataclass(frozen=True)
class Solution:
    """Estimates at θ̂ (see the module glossary).

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> type(m.solution).__name__, round(float(m.solution.sigma), 4)
    ('Solution', 49.5101)
    >>> m.solution.beta.round(4).tolist()
    [1527.5]
    """

    theta: np.ndarray
    beta: np.ndarray
    b: np.ndarray
    u: np.ndarray
    sigma: float
    vcov: np.ndarray
    parts: DevianceParts


def solve_at(ws, theta: np.ndarray, sigma2: float | None = None, reml: bool = True) -> Solution:
    """β̂, b̂, σ̂ and Var(β̂) = σ² (RXᵀRX)⁻¹ at θ from any workspace (the protocol of
    :mod:`mixedpy.model.protocol`); σ² is the profiled estimate unless given.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> s = solve_at(m.workspace, m.theta)
    >>> round(s.sigma, 4), s.beta.round(4).tolist()
    (49.5101, [1527.5])
    """
    parts = ws.parts(theta)
    if sigma2 is None:
        sigma2 = parts.sigma2(reml)
    vcov = sigma2 * np.linalg.inv(parts.RXtRX) if ws.p else np.zeros((0, 0))
    return Solution(theta=np.asarray(theta, dtype=float), beta=parts.beta, b=ws.blups(parts), u=parts.u,
                    sigma=float(np.sqrt(sigma2)), vcov=vcov, parts=parts)


def term_blocks(term: ReTerm) -> np.ndarray:
    """Indices (into b) of each level's k effects: nlev × k.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> term_blocks(m.random.terms[0])[:2].tolist()
    [[0, 1], [2, 3]]
    """
    return term.offset + np.arange(term.nlev)[:, None] * term.k + np.arange(term.k)[None, :]


def ranef_frames(random: RandomDesign, values: np.ndarray) -> dict:
    """Group name → DataFrame (levels × term columns); terms sharing a factor are side by side.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> f = ranef_frames(m.random, np.arange(6.0))["Batch"]
    >>> f.index.tolist(), f["(Intercept)"].tolist()
    (['A', 'B', 'C', 'D', 'E', 'F'], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    """
    out = {}
    for group, terms in random.groups().items():
        frames = [pd.DataFrame(values[term_blocks(t)], index=t.levels, columns=t.columns) for t in terms]
        df = pd.concat(frames, axis=1) if len(frames) > 1 else frames[0]
        df.index.name = group
        out[group] = df
    return out


@dataclass(frozen=True)
class MME:
    """Henderson's mixed model equations at the estimates: ``C [β; b] = rhs``.

    ``C = [[XᵀX, XᵀZ], [ZᵀX, ZᵀZ + σ² G⁻¹]]`` with ``G = Var(b) = σ² ΛΛᵀ`` (R = σ² I), so the
    residual variance cancels; ``solution`` reproduces β̂ (BLUE) and b̂ (BLUP).

    Attributes
    ----------
    C : scipy.sparse.csc_matrix
    rhs : ndarray
    solution : ndarray
    names : list of str
        Fixed-effect names, then ``group:level:term`` for each random effect.
    G : scipy.sparse.csc_matrix or None
        Var(b) (None when the MME are in latent effects).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> mme = m.mme()
    >>> mme.C.shape, mme.G.shape, bool(np.allclose(mme.C @ mme.solution, mme.rhs))
    ((7, 7), (6, 6), True)
    """

    C: sp.csc_matrix
    rhs: np.ndarray
    solution: np.ndarray
    names: list
    G: sp.csc_matrix

    SHOW_DENSE = 12
    """Up to this many unknowns, the display shows C itself (a labelled dense table)."""

    @property
    def table(self) -> pd.DataFrame:
        """One row per unknown: the diagonal of C, the right-hand side and the solution.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.mme().table.round(2).head(2)  # doctest: +NORMALIZE_WHITESPACE
                             C_diag      rhs  solution
        unknown
        (Intercept)           30.00  45825.0   1527.50
        Batch:A:(Intercept)    6.39   7525.0    -17.61
        """
        out = pd.DataFrame({"C_diag": np.asarray(self.C.diagonal()).ravel(), "rhs": np.asarray(self.rhs),
                            "solution": np.asarray(self.solution)}, index=pd.Index(self.names, name="unknown"))
        return out

    def to_frame(self) -> pd.DataFrame:
        """C as a dense DataFrame labelled by the unknowns (for small systems: it is dense).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> m.mme().to_frame().shape
        (7, 7)
        """
        return pd.DataFrame(self.C.toarray(), index=self.names, columns=self.names)

    def _title(self) -> str:
        n = len(self.names)
        return (f"Henderson's mixed model equations C [β; b] = rhs: {n} unknowns, C {n}×{n} with "
                f"{self.C.nnz} non-zeros")

    def __repr__(self) -> str:
        """A short description and the first rows of :attr:`table` (not the raw arrays).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> print(repr(m.mme()).splitlines()[0])
        Henderson's mixed model equations C [β; b] = rhs: 7 unknowns, C 7×7 with 19 non-zeros
        """
        with pd.option_context("display.max_rows", 12, "display.min_rows", 10, "display.width", 100):
            body = repr(self.table)
        return (f"{self._title()}\n{body}\n(attributes: C sparse, rhs, solution, names, G; .table, "
                ".to_frame() for C as a DataFrame)")

    def _repr_html_(self) -> str:
        import html

        n = len(self.names)
        parts = [f"<p><b>{html.escape(self._title())}</b></p>"]
        if n <= self.SHOW_DENSE:
            parts.append("<p>C:</p>" + self.to_frame().round(6)._repr_html_())
        with pd.option_context("display.max_rows", 12, "display.min_rows", 10):
            parts.append(self.table._repr_html_())
        parts.append("<p><small>attributes: <code>C</code> (sparse), <code>rhs</code>, <code>solution</code>, "
                     "<code>names</code>, <code>G</code>; <code>.table</code>, <code>.to_frame()</code></small></p>")
        return "\n".join(parts)
