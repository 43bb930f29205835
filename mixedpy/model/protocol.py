"""The workspace protocol: what every engine implements, and all that the orchestrator, the
solution and inference may ask of it.

An engine is built once per model (cross-products, symbolic factorization) and then answers for any
parameter vector θ.  Engines differ only in how they factor; none decides the model (that is the
:class:`~mixedpy.model.spec.ModelSpec`).  Implementations:

==========================================  =============================================================
:class:`mixedpy.objective.Workspace`        lme4's Λ form: dense augmented, blocked Schur or sparse LDLᵀ
:class:`mixedpy.genetics.mme.MMEWorkspace`  Henderson's MME with K⁻¹ (pedigrees), sparse elimination
:class:`mixedpy.genetics.tridiagonal.TridiagonalWorkspace`  one dense-K term (GBLUP), O(n) per θ
==========================================  =============================================================

``solve`` is the one function :func:`mixedpy.solution.solve_at` over this protocol; ``refit`` is the
orchestrator's (:func:`mixedpy.fitting.fit_model` on a changed spec), so neither is engine code.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from ..deviance import DevianceParts


@runtime_checkable
class ModelWorkspace(Protocol):
    """The protocol (see the module docstring).

    Attributes
    ----------
    n, p : int
        Observations and fixed-effect columns.
    X, y : ndarray
    random : RandomDesign
    has_gradient : bool
        Whether :meth:`deviance_and_gradient` is analytic (else the optimizer is derivative-free).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ws = m.workspace
    >>> isinstance(ws, ModelWorkspace), implements_protocol(ws)
    (True, True)
    """

    n: int
    p: int
    X: np.ndarray
    y: np.ndarray
    has_gradient: bool

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """The profiled deviance (REML criterion when ``reml``); ``inf`` where undefined.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = m.workspace
        >>> bool(np.isclose(ws.deviance(m.theta, reml=True), m.reml_criterion))
        True
        """

    def parts(self, theta: np.ndarray) -> DevianceParts:
        """Every piece of the deviance at θ (β̂, u, pwrss, log-determinants, RXᵀRX).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = m.workspace
        >>> ws.parts(m.theta).beta.round(4).tolist()
        [1527.5]
        """

    def blups(self, parts: DevianceParts) -> np.ndarray:
        """b, the BLUPs in ``random.Z``'s column order, from :meth:`parts`.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = m.workspace
        >>> bool(np.allclose(ws.blups(ws.parts(m.theta)), m.solution.b))
        True
        """

    def conditional_variances(self, theta: np.ndarray, sigma: float) -> list[np.ndarray]:
        """Per term, nlev × k × k blocks of Var(b − b̂ | y).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = m.workspace
        >>> [c.shape for c in ws.conditional_variances(m.theta, m.sigma)]
        [(6, 1, 1)]
        """

    def mme_system(self, theta: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, list[str]]:
        """Henderson's MME matrix, right-hand side and the names of the random unknowns.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = m.workspace
        >>> C, rhs, names = ws.mme_system(m.theta)
        >>> C.shape, names[0]
        ((7, 7), 'Batch:A:(Intercept)')
        """


def implements_protocol(ws: object) -> bool:
    """Whether ``ws`` has every method of :class:`ModelWorkspace`.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> implements_protocol(m.workspace)
    True
    """
    return isinstance(ws, ModelWorkspace)
