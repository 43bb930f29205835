"""The engine for a model: chosen from the specification by structure and size, built once.

Λ-form models (no relmat term, θ estimated by REML/ML) use :class:`mixedpy.objective.Workspace`
(itself choosing dense augmented, blocked Schur or sparse LDLᵀ by size); models with relationship
matrices, known variances, ANOVA or Gibbs estimates use Henderson's MME
(:class:`~mixedpy.genetics.mme.MMEWorkspace`), or for a single one-column dense-K term the
tridiagonal reduction (:class:`~mixedpy.genetics.tridiagonal.TridiagonalWorkspace`).  Models with
a residual structure or prior weights whiten by R(φ)^(-1/2) and delegate to these
(:class:`~mixedpy.whitened.WhitenedWorkspace`).
"""
from __future__ import annotations

from ..errors import ModelSpecError
from ..genetics.mme import MMEWorkspace
from ..genetics.pcg import PCG_MIN_Q, PCGWorkspace, pcg_capable
from ..genetics.tridiagonal import TridiagonalWorkspace, single_dense_term
from ..objective import Workspace
from ..threads import blas_limit
from .spec import ModelSpec


def workspace_for(spec: ModelSpec):
    """The workspace (engine) of a model; see the module docstring.

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.model.spec import model_spec
    >>> type(workspace_for(model_spec("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff")))).__name__
    'Workspace'
    """
    X, y, random = spec.fixed.X, spec.fixed.y, spec.random
    if spec.residual is not None:
        from ..whitened import WhitenedWorkspace
        if spec.method in ("reml", "ml") and spec.structures is not None:
            from ..ai_reml import AIWorkspace, ai_capable
            if ai_capable(random, spec.residual, list(spec.structures)):   # AI-REML (issue #15)
                return AIWorkspace(X, y, random, spec.residual, list(spec.structures), spec.engine)
        return WhitenedWorkspace(X, y, random, spec.residual, spec.engine,
                                 list(spec.structures) if spec.structures is not None else None)
    if not spec.uses_mme and spec.engine != "mme":
        return Workspace(X, y, random, spec.engine)
    structures = list(spec.structures) if spec.structures is not None else None
    with blas_limit(n_threads=spec.n_threads):
        if spec.method != "bayes" and structures is not None and single_dense_term(random, structures):
            return TridiagonalWorkspace(X, y, random, structures)
        # --- PCG for known-variance BLUP at national scale (issue #19) ---
        if spec.engine == "pcg" and spec.method != "known":
            raise ModelSpecError(f"engine='pcg' solves at known variances only (variances=...); method is "
                                 f"{spec.method!r}")
        big = spec.method == "known" and random.q > PCG_MIN_Q and pcg_capable(random, structures)
        if spec.engine == "pcg" or big:
            return PCGWorkspace(X, y, random, structures or [])
        # --- end issue #19 ---
        return MMEWorkspace(X, y, random, structures or [])
