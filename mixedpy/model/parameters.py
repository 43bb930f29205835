"""The model's parameter vector and its map to the engines' θ.

Every engine works with lme4's θ: per random term the lower triangle of a k × k factor T with
G/σ² = T Tᵀ (then the residual structure's free φ).  A term with a covariance structure
(``diag(0 + env | g)``, ``fa(0 + env | g, 2)`` …) has its own parameters ψ instead, and

    θ(ψ) = vech(chol(G(ψ)/σ²))        (for rr: vech([Λ | 0]), already triangular)

feeds the engines unchanged.  The optimizer, Satterthwaite's Hessian and the reported variances
work on the model's parameter vector ``params`` = (ψ or θ of each term, φ); the deviance is
deviance(θ(params)) and its gradient Jᵀ ∇_θ deviance, J = ∂θ/∂params by the complex step through a
Cholesky written for complex input.  Terms without a structure (lme4's, or ``us(...)``) keep θ as
their parameters, so a model without structures has params = θ exactly.

Glossary
--------
params    the model's parameter vector (ψ of structured terms, θ of the others, then φ)
theta     the engines' vector (θ of every term, then φ)
G(ψ)      a term's k × k covariance relative to σ² (:mod:`mixedpy.covariance`)
J         ∂theta/∂params (block diagonal by term, identity for unstructured terms and φ)

Examples
--------
>>> import mixedpy
>>> from mixedpy.model.spec import model_spec
>>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
>>> pm = spec.parameters
>>> pm.structured, len(pm.start()), spec.random.ntheta
(True, 2, 3)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..covariance import STRUCTURES
from ..covariance.factor_analytic import FA, RR
from ..design.random import RandomDesign
from ..errors import FormulaError

COMPLEX_STEP = 1e-30
G_NAMES = ("diag", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh", "fa", "rr")


def cholesky(G):
    """Lower Cholesky factor written with numpy operations only, so that it accepts complex input
    (non-conjugate: the complex step through it gives exact derivatives).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> bool(np.allclose(cholesky(G), np.linalg.cholesky(G)))
    True
    """
    d = G.shape[0]
    L = np.zeros_like(G)
    for j in range(d):
        s = G[j, j] - L[j, :j] @ L[j, :j]
        if not s.real > 0:
            raise np.linalg.LinAlgError("G is not positive definite")
        L[j, j] = np.sqrt(s)
        L[j + 1:, j] = (G[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def term_structure(term):
    """The covariance structure object of a random term (None: lme4's unstructured θ).

    Raises FormulaError (naming the term) when the structure does not fit the term.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> pm = spec.parameters
    >>> type(term_structure(spec.random.terms[0])).__name__
    'Diag'
    >>> plain = model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> term_structure(plain.random.terms[0]) is None
    True
    """
    src = term.source
    cov = getattr(src, "cov", None)
    if cov is None:
        return None
    if cov not in G_NAMES:
        raise FormulaError(f"random term {src}: covariance structure {cov!r} is not available for random "
                           f"terms; use one of us, {', '.join(G_NAMES)}")
    if cov in ("fa", "rr"):
        if src.rank > term.k:
            raise FormulaError(f"random term {src}: {src.rank} factors for {term.k} columns "
                               f"({', '.join(term.columns)}); use at most {term.k}")
        if cov == "rr" and src.rank == term.k:
            return None  # full rank: lme4's unstructured term
        return (FA if cov == "fa" else RR)(term.k, src.rank, labels=term.columns)
    if cov in ("ar1", "ar1h", "toep", "toeph", "ad", "adh", "cs", "csh") and term.k < 2:
        raise FormulaError(f"random term {src}: {cov} needs at least 2 columns (levels), the term has "
                           f"{term.k}")
    return STRUCTURES[cov](term.k, labels=term.columns)


@dataclass(frozen=True, eq=False)
class ParameterMap:
    """params ↔ θ for a model (see the module docstring).

    Attributes
    ----------
    random : RandomDesign
    nphi : int
        Free residual parameters, appended unchanged.
    structures : tuple
        Per term its CovStructure, or None.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> pm = spec.parameters
    >>> pm.structured, pm.npar, pm.nphi
    (True, 2, 0)
    """

    random: RandomDesign
    nphi: int
    structures: tuple

    @classmethod
    def build(cls, random: RandomDesign, nphi: int = 0) -> ParameterMap:
        """The map of a random design (each term's structure from its formula).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> ParameterMap.build(spec.random).names()
        ['Subject:diag[0]', 'Subject:diag[1]']
        """
        return cls(random, int(nphi), tuple(term_structure(t) for t in random.terms))

    @property
    def structured(self) -> bool:
        """Whether any term has a covariance structure (else params = θ).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.structured
        True
        >>> model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).parameters.structured
        False
        """
        return any(s is not None for s in self.structures)

    def sizes(self) -> list[int]:
        """Number of parameters of each term.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.sizes()  # diag(1 + Days | Subject): two log standard deviations
        [2]
        """
        return [t.ntheta if s is None else s.npar for t, s in zip(self.random.terms, self.structures)]

    def offsets(self) -> list[int]:
        """Position of each term's first parameter in ``params``.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> [int(o) for o in pm.offsets()]
        [0]
        """
        return list(np.concatenate([[0], np.cumsum(self.sizes())[:-1]]).astype(int)) if self.sizes() else []

    @property
    def npar(self) -> int:
        """Length of ``params`` (term parameters and φ).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.npar, spec.random.ntheta
        (2, 3)
        """
        return int(sum(self.sizes())) + self.nphi

    def term_params(self, params, j: int):
        """The parameters of term j.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.term_params([1.0, 0.5], 0).tolist()
        [1.0, 0.5]
        """
        off = self.offsets()[j]
        return np.asarray(params)[off:off + self.sizes()[j]]

    def factor(self, j: int, par):
        """Term j's T with T Tᵀ = G(ψ) (complex-safe).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.factor(0, [1.0, 0.5]).round(4).tolist()  # diag(exp(ψ))
        [[2.7183, 0.0], [0.0, 1.6487]]
        """
        s = self.structures[j]
        if getattr(s, "factor", None) is not None:
            return s.factor(par)
        return cholesky(s.matrix(par))

    def theta(self, params) -> np.ndarray:
        """The engines' vector (θ, φ) at ``params`` (complex-safe).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.theta([1.0, 0.5]).round(4).tolist()
        [2.7183, 0.0, 1.6487]
        """
        params = np.asarray(params)
        out = np.zeros(self.random.ntheta + self.nphi, dtype=np.result_type(params.dtype, float))
        for j, (t, s) in enumerate(zip(self.random.terms, self.structures)):
            par = self.term_params(params, j)
            if s is None:
                out[t.theta_offset:t.theta_offset + t.ntheta] = par
            else:
                r, c = t.tril()
                out[t.theta_offset:t.theta_offset + t.ntheta] = self.factor(j, par)[r, c]
        out[self.random.ntheta:] = params[self.npar - self.nphi:]
        return out

    def jacobian(self, params) -> np.ndarray:
        """J = ∂θ/∂params (ntheta + nphi × npar) by the complex step (identity blocks where θ is
        the parameter).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.jacobian([1.0, 0.5]).round(4).tolist()
        [[2.7183, 0.0], [0.0, 0.0], [0.0, 1.6487]]
        """
        params = np.asarray(params, dtype=float)
        J = np.zeros((self.random.ntheta + self.nphi, self.npar))
        offs = self.offsets()
        for j, (t, s) in enumerate(zip(self.random.terms, self.structures)):
            rows = slice(t.theta_offset, t.theta_offset + t.ntheta)
            if s is None:
                J[rows, offs[j]:offs[j] + t.ntheta] = np.eye(t.ntheta)
                continue
            par = self.term_params(params, j)
            r, c = t.tril()
            for i in range(s.npar):
                z = par.astype(complex)
                z[i] += 1j * COMPLEX_STEP
                J[rows, offs[j] + i] = self.factor(j, z)[r, c].imag / COMPLEX_STEP
        J[self.random.ntheta:, self.npar - self.nphi:] = np.eye(self.nphi)
        return J

    def start(self, theta0: np.ndarray | None = None) -> np.ndarray:
        """Starting params: the structures' starts (G = I for most), θ0's elements elsewhere.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.start().tolist()
        [0.0, 0.0]
        """
        theta0 = self.random.theta0 if theta0 is None else np.asarray(theta0, dtype=float)
        parts = [theta0[t.theta_offset:t.theta_offset + t.ntheta] if s is None else s.start()
                 for t, s in zip(self.random.terms, self.structures)]
        return np.concatenate(parts + [np.zeros(0)])

    def lower(self) -> np.ndarray:
        """lme4's bounds on θ elements, none on structure parameters (unconstrained).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.lower().tolist()
        [-inf, -inf]
        """
        parts = [self.random.lower[t.theta_offset:t.theta_offset + t.ntheta] if s is None else np.full(s.npar, -np.inf)
                 for t, s in zip(self.random.terms, self.structures)]
        return np.concatenate(parts + [np.zeros(0)])

    def scale(self) -> np.ndarray:
        """The optimizer's typical size of each parameter (θ's scale, 1 for structure parameters).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.scale().tolist()
        [1.0, 1.0]
        """
        sc = self.random.theta_scale()
        parts = [sc[t.theta_offset:t.theta_offset + t.ntheta] if s is None else np.ones(s.npar)
                 for t, s in zip(self.random.terms, self.structures)]
        return np.concatenate(parts + [np.zeros(0)])

    def names(self) -> list[str]:
        """Names of the term parameters (θ elements as ``theta[i]``).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> pm.names()
        ['Subject:diag[0]', 'Subject:diag[1]']
        >>> model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")).parameters.names()
        ['Batch:theta[0]']
        """
        out = []
        for j, (t, s) in enumerate(zip(self.random.terms, self.structures)):
            label = self.random.term_labels()[j]
            if s is None:
                out += [f"{label}:theta[{t.theta_offset + i}]" for i in range(t.ntheta)]
            else:
                out += [f"{label}:{nm}" for nm in s.par_names()]
        return out

    def objective(self, ws) -> StructuredObjective:
        """The deviance over ``params`` on the workspace ``ws`` (:class:`StructuredObjective`).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> from mixedpy.model.workspace import workspace_for
        >>> obj = pm.objective(workspace_for(spec))
        >>> type(obj).__name__, obj.has_gradient
        ('StructuredObjective', True)
        """
        return StructuredObjective(ws, self)


class StructuredObjective:
    """The deviance as a function of the model's params over an engine in θ: deviance(θ(params))
    and the chain-rule gradient Jᵀ ∇_θ (derivative-free when the engine has no gradient).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> pm = spec.parameters
    >>> from mixedpy.model.workspace import workspace_for
    >>> obj = pm.objective(workspace_for(spec))
    >>> isinstance(obj, StructuredObjective)
    True
    """

    has_information = False

    def __init__(self, ws, pmap: ParameterMap):
        self.ws, self.pmap = ws, pmap
        self.has_gradient = bool(getattr(ws, "has_gradient", False))

    def deviance(self, params: np.ndarray, reml: bool = True) -> float:
        """deviance(θ(params)) (inf where G(ψ) is not positive definite).

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> from mixedpy.model.workspace import workspace_for
        >>> obj = pm.objective(workspace_for(spec))
        >>> round(obj.deviance([1.0, 0.5]), 4)
        1804.1036
        """
        try:
            return float(self.ws.deviance(self.pmap.theta(params), reml))
        except np.linalg.LinAlgError:
            return np.inf

    def deviance_and_gradient(self, params: np.ndarray, reml: bool = True) -> tuple[float, np.ndarray]:
        """deviance(θ(params)) and its gradient Jᵀ ∇_θ deviance.

        Examples
        --------
        >>> import mixedpy
        >>> from mixedpy.model.spec import model_spec
        >>> spec = model_spec("Reaction ~ Days + diag(1 + Days | Subject)", mixedpy.datasets.load("sleepstudy"))
        >>> pm = spec.parameters
        >>> from mixedpy.model.workspace import workspace_for
        >>> obj = pm.objective(workspace_for(spec))
        >>> f, g = obj.deviance_and_gradient([1.0, 0.5])
        >>> round(f, 4), g.round(4).tolist()
        (1804.1036, [25.9927, 32.8767])
        """
        try:
            f, g = self.ws.deviance_and_gradient(self.pmap.theta(params), reml)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros(len(params))
        return float(f), self.pmap.jacobian(params).T @ np.asarray(g, dtype=float)
