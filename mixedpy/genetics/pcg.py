"""Known-variance BLUP for national-scale pedigrees: the MME solved by preconditioned conjugate
gradients (PCG), no factorization.

For a million animals the factor of C = ZᵀZ + Γ⁻¹ has a dense core of tens of thousands of rows
(sires of many generations are all connected), so, as BLUPF90's iteration-on-data solvers do, the
equations are solved iteratively.  C_zz(θ) is assembled once per θ as a sparse matrix (ZᵀZ plus
θ_j⁻² K_j⁻¹ per term: about 10 non-zeros per animal); the fixed effects are absorbed through their
p columns (Schur complement RXᵀRX = XᵀX − XᵀZ C_zz⁻¹ ZᵀX), so one block PCG solves
C_zz [W, v] = [ZᵀX, Zᵀy] for p + 1 right-hand sides at once, with the diagonal (Jacobi)
preconditioner, until every column's relative residual ‖r‖/‖b‖ is below ``tol`` (reported as
``SolverInfo``).

Exact prediction-error variances would need C⁻¹'s diagonal; :func:`approximate_pev` gives an
approximation (see there) used for ``conditional_variances`` and reliabilities.  log|C| is not
computed: the deviance at the known variances is reported as NaN.

Glossary
--------
C_zz     ZᵀZ + Γ(θ)⁻¹;  W = C_zz⁻¹ZᵀX;  v = C_zz⁻¹Zᵀy
PEV      prediction-error variance Var(u − û);  reliability 1 − PEV / (σ²_a (1 + F))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..deviance import DevianceParts
from ..errors import ModelSpecError
from .relmat import TermStructure

PCG_MIN_Q = 300_000   # known-variance fits with more random effects than this use PCG by default


@dataclass(frozen=True)
class SolverInfo:
    """How the iterative solve went.

    Attributes
    ----------
    method : str
        ``"pcg (jacobi)"``.
    iterations : int
        PCG iterations (all right-hand sides together).
    relative_residual : float
        Largest ‖C x − b‖ / ‖b‖ over the right-hand sides at the end (recomputed, not recursive).
    tol : float
        The convergence criterion on that quantity.
    converged : bool
    seconds : float

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> m = mixedpy.fit("wwg ~ sex + (1 | animal)", mixedpy.datasets.load("mrode_calves"),
    ...                 relmat={"animal": ped}, variances={"animal": 20.0, "Residual": 40.0},
    ...                 engine="pcg")
    >>> info = m.solver_info
    >>> info.method, info.converged, info.relative_residual < info.tol
    ('pcg (jacobi)', True, True)
    """

    method: str
    iterations: int
    relative_residual: float
    tol: float
    converged: bool
    seconds: float


def block_pcg(A: sp.spmatrix, B: np.ndarray, tol: float = 1e-9, max_iter: int = 5000,
              precond: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
    """Solve A X = B (A SPD) column by column in lockstep (one sparse product per iteration for all
    columns) with a diagonal preconditioner; returns (X, iterations, largest relative residual).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    >>> X, it, res = block_pcg(A, np.ones((50, 2)), tol=1e-12)
    >>> bool(np.allclose(A @ X, 1.0)), res < 1e-12
    (True, True)
    """
    B = np.asarray(B, dtype=float)
    vec = B.ndim == 1
    B = np.ascontiguousarray(B[:, None] if vec else B)
    Minv = (1.0 / A.diagonal() if precond is None else precond)[:, None]
    X = np.zeros_like(B)
    R = B.copy()
    bnorm = np.linalg.norm(B, axis=0)
    bnorm[bnorm == 0] = 1.0
    Zr = Minv * R
    P = Zr.copy()
    rz = np.einsum("ij,ij->j", R, Zr)
    it = 0
    active = np.sqrt(np.einsum("ij,ij->j", R, R)) / bnorm > tol
    while active.any() and it < max_iter:   # converged columns are frozen (step 0), not dropped
        it += 1
        AP = A @ P
        pap = np.einsum("ij,ij->j", P, AP)
        alpha = np.where(active, rz / np.where(active, pap, 1.0), 0.0)
        X += alpha * P
        R -= alpha * AP
        if it % 50 == 0:  # the recursive residual drifts: recompute it now and then
            R = B - A @ X
        np.multiply(Minv, R, out=Zr)
        rz_new = np.einsum("ij,ij->j", R, Zr)
        beta = np.where(active, rz_new / np.where(active & (rz != 0), rz, 1.0), 0.0)
        P *= beta
        P += np.where(active, 1.0, 0.0) * Zr
        rz = rz_new
        active = np.sqrt(np.einsum("ij,ij->j", R, R)) / bnorm > tol
    res = float(np.max(np.linalg.norm(B - A @ X, axis=0) / bnorm))
    return (X[:, 0] if vec else X), it, res


def approximate_pev(structure: TermStructure, records: np.ndarray, var_a: float, var_e: float) -> np.ndarray:
    """Approximate PEV of the breeding values of a pedigree term (one column), in two passes over
    the generations, as information-flow reliability approximations do (Misztal & Wiggans 1988;
    VanRaden & Wiggans 1991):

    1. youngest to oldest: the information on u_i from data, I_i = r_i/σ²_e + Σ_k π_k over the
       progeny k, where progeny k passes π_k = ¼ / (1/I_k + d_k σ²_a) (its own information, diluted
       by its Mendelian sampling variance d_k σ²_a);
    2. oldest to youngest: the prior variance of u_i from its parents,
       P_i = d_i σ²_a + ¼ (PEV_s + PEV_d) (an unknown parent is in d_i already), and
       PEV_i = 1 / (1/P_i + I_i).

    Exact on a pedigree without mates' or relatives' covariances (a tree with one recorded parent);
    otherwise it ignores the covariances of the parents' errors and counts a parent's information
    from the animal itself in its prior.  Mean absolute error of the reliabilities against the exact
    C⁻¹ diagonal: below 0.03 on the simulated pedigrees of ``tests/test_pedigree_scale.py``.
    ``records`` is the number of records of each animal (in the pedigree's order).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> m = mixedpy.fit("wwg ~ sex + (1 | animal)", mixedpy.datasets.load("mrode_calves"),
    ...                 relmat={"animal": ped}, variances={"animal": 20.0, "Residual": 40.0})
    >>> records = np.asarray((m.random.Z.T @ m.random.Z).diagonal())  # animals 1-3 have no record
    >>> approximate_pev(m.structures[0], records, 20.0, 40.0).round(3).tolist()
    [16.409, 16.25, 16.456, 12.143, 11.762, 11.758, 11.417, 11.956]
    """
    ped = structure.pedigree
    if ped is None:
        raise ModelSpecError(f"approximate PEV needs the pedigree of term {structure.name!r}")
    d = ped.mendelian_variance.to_numpy()
    sire, dam = ped.sire, ped.dam
    info = np.asarray(records, dtype=float) / var_e
    for sl in reversed(ped._slices):
        Ik = info[sl]
        pik = np.where(Ik > 0, 0.25 / (1.0 / np.maximum(Ik, 1e-300) + d[sl] * var_a), 0.0)
        for par in (sire[sl], dam[sl]):
            k = par >= 0
            np.add.at(info, par[k], pik[k])
    pev = np.empty(len(d))
    for sl in ped._slices:
        prior = d[sl] * var_a
        for par in (sire[sl], dam[sl]):
            prior += 0.25 * np.where(par >= 0, pev[np.maximum(par, 0)], 0.0)
        pev[sl] = 1.0 / (1.0 / prior + info[sl])
    return pev


class PCGWorkspace:
    """The MME at given θ solved by PCG (see the module docstring); the workspace protocol for
    known-variance fits (``parts``, ``blups``, ``conditional_variances``, ``mme_system``).

    Parameters
    ----------
    X, y, random, structures
        As :class:`mixedpy.genetics.mme.MMEWorkspace`; every term one-column.
    tol : float
        Convergence criterion: largest relative residual ‖C x − b‖/‖b‖.
    max_iter : int

    Examples
    --------
    >>> import mixedpy, numpy as np
    >>> from mixedpy.genetics.relmat import TermStructure
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ws = PCGWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], tol=1e-12)
    >>> bool(np.allclose(ws.parts(m.theta).beta, m.solution.beta))
    True
    """

    kind = "pcg"
    has_gradient = False
    has_information = False

    def __init__(self, X: np.ndarray, y: np.ndarray, random, structures: list, tol: float = 1e-9,
                 max_iter: int = 5000):
        self.X, self.y, self.random = np.asarray(X, dtype=float), np.asarray(y, dtype=float), random
        self.n, self.p = self.X.shape
        self.structures = list(structures) if structures else [TermStructure() for _ in random.terms]
        for t, st in zip(random.terms, self.structures):
            if t.k != 1 or st.kind == "factor":
                raise ModelSpecError(f"the PCG engine needs one-column terms with a sparse K⁻¹; term "
                                     f"{t.group!r} has {t.k} columns and structure {st.kind!r}")
        if not (np.isfinite(tol) and 0 < tol < 1):
            raise ModelSpecError(f"tol must be in (0, 1), got {tol!r}")
        if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
            raise ModelSpecError(f"max_iter must be a positive integer, got {max_iter!r}")
        self.tol, self.max_iter = float(tol), int(max_iter)
        self.Z = sp.csc_matrix(random.Z)
        self.ZtZ = sp.csr_matrix(self.Z.T @ self.Z)
        self.ZtX = np.asarray(self.Z.T @ self.X)
        self.Zty = np.asarray(self.Z.T @ self.y).ravel()
        self.XtX, self.Xty = self.X.T @ self.X, self.X.T @ self.y
        self.q = random.q
        self.solver_info: SolverInfo | None = None
        self._cache: tuple | None = None

    def _theta(self, theta: np.ndarray) -> np.ndarray:
        th = np.array([np.asarray(theta, dtype=float)[t.theta_offset] for t in self.random.terms])
        if np.any(th == 0):
            raise ModelSpecError("the PCG engine needs positive variances for every random term")
        return th

    def Czz(self, theta: np.ndarray) -> sp.csr_matrix:
        """ZᵀZ + Γ(θ)⁻¹ (sparse).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = PCGWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], tol=1e-12)
        >>> C = ws.Czz(np.array([0.5]))  # 5 records per batch + 1/0.5²
        >>> C.shape, float(C.diagonal()[0])
        ((6, 6), 9.0)
        """
        blocks = [(st.Kinv if st.kind == "inverse" else sp.identity(t.nlev)) / th ** 2
                  for t, st, th in zip(self.random.terms, self.structures, self._theta(theta))]
        return sp.csr_matrix(self.ZtZ + sp.block_diag(blocks, format="csr"))

    def parts(self, theta: np.ndarray) -> DevianceParts:
        """The profiled deviance's pieces at θ from PCG solves (log|C| is not computed: ``ldL2`` is NaN).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = PCGWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], tol=1e-12)
        >>> p = ws.parts(m.theta)
        >>> round(float(p.beta[0]), 4), ws.solver_info.converged
        (1527.5, True)
        """
        import time
        theta = np.asarray(theta, dtype=float)
        if self._cache is not None and np.array_equal(self._cache[0], theta):
            return self._cache[1]
        t0 = time.perf_counter()
        C = self.Czz(theta)
        sol, it, res = block_pcg(C, np.column_stack([self.ZtX, self.Zty]), self.tol, self.max_iter)
        self.solver_info = SolverInfo("pcg (jacobi)", it, res, self.tol, res <= self.tol * 10,
                                      time.perf_counter() - t0)
        W, v = sol[:, :-1], sol[:, -1]
        RXtRX = self.XtX - self.ZtX.T @ W
        beta = np.linalg.solve(RXtRX, self.Xty - self.ZtX.T @ v) if self.p else np.zeros(0)
        b = v - W @ beta
        resid = self.y - self.X @ beta - self.Z @ b
        penalty = float(b @ (C @ b) - b @ (self.ZtZ @ b))
        ldRX2 = float(np.linalg.slogdet(RXtRX)[1]) if self.p else 0.0
        parts = DevianceParts(theta=theta.copy(), beta=beta, u=b, pwrss=float(resid @ resid) + penalty,
                              ldL2=float("nan"), ldRX2=ldRX2, RXtRX=RXtRX, n=self.n, p=self.p,
                              resid=resid, AinvW=W)
        self._cache = (theta.copy(), parts)
        return parts

    def deviance(self, theta: np.ndarray, reml: bool = True) -> float:
        """Not available (log|C| is not computed): NaN.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = PCGWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], tol=1e-12)
        >>> ws.deviance(m.theta)
        nan
        """
        return float("nan")

    def blups(self, parts: DevianceParts) -> np.ndarray:
        """b from the working coefficients of :meth:`parts` (the same here).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = PCGWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], tol=1e-12)
        >>> bool(np.allclose(ws.blups(ws.parts(m.theta)), m.solution.b, atol=1e-6))
        True
        """
        return parts.u

    def conditional_variances(self, theta: np.ndarray, sigma: float) -> list[np.ndarray]:
        """Approximate PEV (:func:`approximate_pev`) for pedigree terms; 1/C_ii σ² for others.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = PCGWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], tol=1e-12)
        >>> [c.shape for c in ws.conditional_variances(m.theta, m.sigma)]
        [(6, 1, 1)]
        """
        th = self._theta(theta)
        C = self.Czz(theta)
        out = []
        for t, st, tj in zip(self.random.terms, self.structures, th):
            sl = slice(t.offset, t.offset + t.q)
            if st.kind == "inverse" and getattr(st, "pedigree", None) is not None:
                records = np.asarray(self.ZtZ.diagonal())[sl]
                pev = approximate_pev(st, records, sigma ** 2 * tj ** 2, sigma ** 2)
            else:
                pev = sigma ** 2 / C.diagonal()[sl]
            out.append(pev.reshape(-1, 1, 1))
        return out

    def mme_system(self, theta: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, list[str]]:
        """The full MME matrix [[XᵀX, XᵀZ], [ZᵀX, ZᵀZ + Γ⁻¹]], its right-hand side and the random effects' names.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> from mixedpy.genetics.relmat import TermStructure
        >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
        >>> ws = PCGWorkspace(m.fixed.X, m.fixed.y, m.random, [TermStructure()], tol=1e-12)
        >>> C, rhs, names = ws.mme_system(m.theta)
        >>> C.shape, rhs.shape, names[:2]
        ((7, 7), (7,), ['Batch:A:(Intercept)', 'Batch:B:(Intercept)'])
        """
        ZtX = sp.csc_matrix(self.ZtX)
        C = sp.bmat([[sp.csc_matrix(self.XtX), ZtX.T], [ZtX, self.Czz(theta)]], format="csc")
        names = [f"{t.group}:{lev}:{c}" for t in self.random.terms for lev in t.levels for c in t.columns]
        return C, np.concatenate([self.Xty, self.Zty]), names


def pcg_capable(random, structures) -> bool:
    """Whether every term is one-column with a sparse K⁻¹ or K = I (what :class:`PCGWorkspace` needs).

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> m = mixedpy.fit("wwg ~ sex + (1 | animal)", mixedpy.datasets.load("mrode_calves"),
    ...                 relmat={"animal": ped}, variances={"animal": 20.0, "Residual": 40.0})
    >>> pcg_capable(m.random, m.structures)
    True
    """
    sts = list(structures) if structures else [TermStructure() for _ in random.terms]
    return all(t.k == 1 and st.kind != "factor" for t, st in zip(random.terms, sts))


def reliabilities(result, group: str) -> pd.Series:
    """1 − PEV_i / (σ²_a (1 + F_i)) for the pedigree term of ``group`` of a fitted result: exact PEV
    from direct engines (C⁻¹'s diagonal), :func:`approximate_pev` from the PCG engine.

    Examples
    --------
    >>> import numpy as np, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(mixedpy.datasets.load("mrode_pedigree"))
    >>> m = mixedpy.fit("wwg ~ sex + (1 | animal)", mixedpy.datasets.load("mrode_calves"),
    ...                 relmat={"animal": ped}, variances={"animal": 20.0, "Residual": 40.0})
    >>> reliabilities(m, "animal").round(3).tolist()
    [0.169, 0.166, 0.16, 0.38, 0.395, 0.389, 0.42, 0.394]
    """
    terms = result.random.terms
    structures = result.structures or [TermStructure() for _ in terms]
    for j, (t, st) in enumerate(zip(terms, structures)):
        if t.group == group and st.kind == "inverse" and st.pedigree is not None:
            break
    else:
        raise ModelSpecError(f"no pedigree (relmat) term with group {group!r}; pedigree terms: "
                             f"{[t.group for t, s in zip(terms, structures) if s.kind == 'inverse']}")
    if t.k != 1:
        raise ModelSpecError(f"reliabilities are defined for one-column terms; {group!r} has {t.k}")
    pev = result.workspace.conditional_variances(result.theta, result.sigma)[j][:, 0, 0]
    var_a = (result.sigma * float(result.theta[t.theta_offset])) ** 2
    F = st.pedigree.inbreeding.to_numpy()
    rel = np.clip(1.0 - pev / (var_a * (1.0 + F)), 0.0, 1.0) if var_a > 0 else np.zeros(len(pev))
    return pd.Series(rel, index=st.labels, name="reliability")
