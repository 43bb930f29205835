"""Random-effects structure: Z, the map θ → Λ(θ), and the order of terms.

Glossary (lme4's notation)
--------------------------
q        number of random effects (columns of Z)
Z        n × q sparse model matrix; term i occupies ``nlev_i * k_i`` columns, level-major
         (the k_i columns of level 0, then of level 1, ...)
theta    covariance parameters: for each term the lower triangle of its k×k relative covariance
         factor T_i, column by column; diagonal elements bounded below by 0
Lambda   q × q block-diagonal relative covariance factor, I_nlev ⊗ T_i for term i, so that
         Var(b) = σ² Λ Λ'
lind     for each stored entry of Λ (CSC order), the index of the θ element it holds

Terms are ordered as lme4 orders them (``mkReTrms``): when some term has more levels than the one
before it, by decreasing number of levels with ties in reverse order (``rev(order(nl))``); else
as written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError
from ..formula import RandomTerm
from .fixed import model_matrix, rename
from .frame import grouping_factor
from .plain import PlainSpec, plain_columns, plain_matrix


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term after materialization.

    Attributes
    ----------
    group : str
        Grouping factor name as lme4 writes it (``"cask:batch"``).
    columns : list of str
        Names of the term's columns (``"(Intercept)"``, ``"Days"``).
    levels : pandas.Index
        Level labels of the grouping factor (observed levels only).
    codes : ndarray of int (n,)
        Level of each observation.
    X : ndarray (n, k)
        The term's model matrix.
    offset : int
        First column of this term in Z (and in b, u).
    theta_offset : int
        First element of this term in θ.
    spec : formulaic ModelSpec
        For building the term's matrix for new data.

    Examples
    --------
    >>> import mixedpy
    >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
    >>> t = r.terms[0]
    >>> t.group, t.columns, t.nlev
    ('Subject', ['(Intercept)', 'Days'], 18)
    """

    group: str
    columns: list[str]
    levels: pd.Index
    codes: np.ndarray
    X: np.ndarray
    offset: int
    theta_offset: int
    spec: object
    source: RandomTerm

    @property
    def k(self) -> int:
        """Number of columns of the term's model matrix.

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> t = r.terms[0]
        >>> t.k
        2
        """
        return self.X.shape[1]

    @property
    def nlev(self) -> int:
        """Number of (observed) levels of the grouping factor.

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> t = r.terms[0]
        >>> t.nlev
        18
        """
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of random effects of the term, k × nlev.

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> t = r.terms[0]
        >>> t.q
        36
        """
        return self.k * self.nlev

    @property
    def ntheta(self) -> int:
        """Number of θ elements of the term, k(k + 1)/2.

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> t = r.terms[0]
        >>> t.ntheta
        3
        """
        return self.k * (self.k + 1) // 2

    def tril(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each θ element of this term in T (column-major lower triangle).

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> t = r.terms[0]
        >>> [a.tolist() for a in t.tril()]
        [[0, 1, 1], [0, 0, 1]]
        """
        return _tril(self.k)

    def T(self, theta: np.ndarray) -> np.ndarray:
        """The term's k × k lower-triangular relative covariance factor.

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> r.terms[0].T(np.array([1.0, 2.0, 3.0])).tolist()
        [[1.0, 0.0], [2.0, 3.0]]
        """
        T = np.zeros((self.k, self.k))
        r, c = self.tril()
        T[r, c] = theta[self.theta_offset:self.theta_offset + self.ntheta]
        return T


@dataclass(frozen=True)
class RandomDesign:
    """Z, the θ → Λ map and per-term descriptions.

    Attributes
    ----------
    terms : tuple of ReTerm
    Z : scipy.sparse.csc_matrix (n × q)
    Lambda_rows, Lambda_cols : ndarray
        Pattern of Λ (all entries that some θ can make non-zero).
    lind : ndarray
        θ index held by each entry of the pattern.
    theta0 : ndarray
        lme4's starting value (1 on diagonals, 0 elsewhere).
    lower : ndarray
        Lower bounds of θ (0 on diagonals, -inf elsewhere).

    Examples
    --------
    >>> import mixedpy
    >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
    >>> r.Z.shape, r.theta0.tolist(), r.lower.tolist()
    ((180, 36), [1.0, 0.0, 1.0], [0.0, -inf, 0.0])
    """

    terms: tuple
    Z: sp.csc_matrix
    Lambda_rows: np.ndarray
    Lambda_cols: np.ndarray
    lind: np.ndarray
    theta0: np.ndarray
    lower: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def q(self) -> int:
        """Number of random effects (columns of Z).

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> r.q
        36
        """
        return self.Z.shape[1]

    @property
    def ntheta(self) -> int:
        """Number of θ elements.

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> r.ntheta
        3
        """
        return len(self.theta0)

    def Lambda(self, theta: np.ndarray) -> sp.csc_matrix:
        """Λ(θ) with the full pattern kept (explicit zeros stay stored).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> L = r.Lambda(np.array([1.0, 2.0, 3.0]))
        >>> L.shape, L[:2, :2].toarray().tolist()
        ((36, 36), [[1.0, 0.0], [2.0, 3.0]])
        """
        return sp.csc_matrix((np.asarray(theta)[self.lind], (self.Lambda_rows, self.Lambda_cols)),
                             shape=(self.q, self.q))

    def lambda_pair(self, theta: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(Λ, Λᵀ) at θ as CSR matrices that are reused: their values are overwritten by the next
        call (the fitting path's cheap way to apply Λ; use :meth:`Lambda` for a matrix to keep).

        Examples
        --------
        >>> import numpy as np, mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> L, Lt = r.lambda_pair(np.array([1.0, 2.0, 3.0]))
        >>> L.format, bool(np.allclose((L - Lt.T).toarray(), 0.0))
        ('csr', True)
        """
        if "pair" not in self._cache:
            self._cache["pair"] = (_FixedPattern(self.Lambda_rows, self.Lambda_cols, self.lind, self.q),
                                   _FixedPattern(self.Lambda_cols, self.Lambda_rows, self.lind, self.q))
        fwd, bwd = self._cache["pair"]
        return fwd.at(theta), bwd.at(theta)

    def theta_scale(self, lo: float = 1e-2, hi: float = 1e2) -> np.ndarray:
        """Natural scale of each θ element: 1/RMS of its row's column of the term's model matrix
        where that RMS is outside [lo, hi] (a badly scaled covariate), 1 elsewhere.

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> r.theta_scale().tolist()
        [1.0, 1.0, 1.0]
        """
        out = np.ones(self.ntheta)
        for t in self.terms:
            rms = np.sqrt(np.mean(t.X ** 2, axis=0))
            rms = np.where((rms < lo) | (rms > hi), rms, 1.0)
            rows, _ = t.tril()
            out[t.theta_offset:t.theta_offset + t.ntheta] = 1.0 / np.where(rms[rows] > 0, rms[rows], 1.0)
        return out

    def term_labels(self) -> list[str]:
        """lme4's group label of each term: a repeated grouping factor gets ``.1``, ``.2`` …

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days || Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> r.term_labels()
        ['Subject', 'Subject.1']
        """
        seen: dict[str, int] = {}
        out = []
        for t in self.terms:
            k = seen.get(t.group, 0)
            out.append(t.group if k == 0 else f"{t.group}.{k}")
            seen[t.group] = k + 1
        return out

    def varcorr_labels(self) -> list[str]:
        """The group names of lme4's ``VarCorr``: when a grouping factor repeats (``(x || g)``),
        lme4 passes all of them through R's ``make.names(unique = TRUE)``, so ``g``, ``g.1`` and a
        nested ``a:b`` becomes ``a.b``; otherwise the groups as written.

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days || Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> r.varcorr_labels()
        ['Subject', 'Subject.1']
        """
        names = [t.group for t in self.terms]
        if len(set(names)) == len(names):
            return names
        return _make_unique([_r_syntactic_name(g) for g in names])

    def groups(self) -> dict:
        """Grouping factor name → list of its terms (terms sharing a factor, e.g. from ``||``).

        Examples
        --------
        >>> import mixedpy
        >>> r = mixedpy.fit("Reaction ~ Days + (Days || Subject)", mixedpy.datasets.load("sleepstudy")).random
        >>> {g: len(terms) for g, terms in r.groups().items()}
        {'Subject': 2}
        """
        out: dict = {}
        for t in self.terms:
            out.setdefault(t.group, []).append(t)
        return out


def lme4_term_order(nlevels: list[int]) -> list[int]:
    """lme4's term order: ``rev(order(nl))`` if any term has more levels than its predecessor, so
    ties end up reversed (``(x || g) + (1 | g:h)`` puts g's x term before g's intercept), else as
    written.

    Examples
    --------
    >>> lme4_term_order([10, 10, 20]), lme4_term_order([50, 50]), lme4_term_order([5, 3])
    ([2, 1, 0], [0, 1], [0, 1])
    """
    if not any(b > a for a, b in zip(nlevels, nlevels[1:])):
        return list(range(len(nlevels)))
    return sorted(range(len(nlevels)), key=lambda i: (nlevels[i], i))[::-1]


def _r_syntactic_name(name: str) -> str:
    """R's ``make.names`` for one name: characters other than letters, digits, '.' and '_' become
    '.', and a name not starting with a letter (or '.' not followed by a digit) gets an 'X' prefix."""
    out = re.sub(r"[^0-9A-Za-z._]", ".", name)
    if not re.match(r"^([A-Za-z]|\.(?![0-9]))", out):
        out = "X" + out
    return out


def _make_unique(names: list[str]) -> list[str]:
    """R's ``make.unique``: later repeats of a name get ``.1``, ``.2`` … (skipping names in use)."""
    used, count, out = set(names), {}, []
    for n in names:
        if n not in count:
            count[n] = 0
            out.append(n)
            continue
        k = count[n] + 1
        while f"{n}.{k}" in used:
            k += 1
        count[n] = k
        used.add(f"{n}.{k}")
        out.append(f"{n}.{k}")
    return out


@lru_cache(maxsize=None)
def _tril(k: int) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.triu_indices(k)  # column-major lower triangle == row-major upper
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


class _FixedPattern:
    """A CSR matrix whose pattern is fixed and whose values are θ[lind] (updated in place)."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, lind: np.ndarray, q: int):
        order = np.lexsort((cols, rows))
        self.lind = lind[order]
        self.matrix = sp.csr_matrix((np.ones(len(order)), (rows[order], cols[order])), shape=(q, q))
        self.matrix.has_canonical_format = True

    def at(self, theta: np.ndarray) -> sp.csr_matrix:
        self.matrix.data[:] = np.asarray(theta, dtype=float)[self.lind]
        return self.matrix


def term_Z(term_X: np.ndarray, codes: np.ndarray, nlev: int, n: int) -> sp.csc_matrix:
    """The n × (nlev k) block of Z for one term, level-major columns.

    Examples
    --------
    >>> import numpy as np
    >>> term_Z(np.ones((3, 1)), np.array([0, 1, 1]), 2, 3).toarray().tolist()
    [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    """
    k = term_X.shape[1]
    rows = np.repeat(np.arange(n), k)
    cols = (codes[:, None] * k + np.arange(k)[None, :]).ravel()
    return sp.csc_matrix((term_X.ravel(), (rows, cols)), shape=(n, nlev * k))


def _materialize(term: RandomTerm, data: pd.DataFrame):
    plain = plain_columns(term.expr, data)
    if plain is not None:  # intercept and numeric columns: no formulaic needed
        spec = PlainSpec(*plain)
        X, columns = plain_matrix(*plain, data), spec.column_names
    else:
        mm = model_matrix(term.expr, data, f"random term {term}")
        X, columns, spec = np.asarray(mm, dtype=float), list(mm.columns), mm.model_spec
    if X.shape[1] == 0:
        raise DataError(f"random term {term} has no columns")
    if not np.isfinite(X).all():
        raise DataError(f"random term {term} has non-finite values")
    codes, levels = grouping_factor(data, term.group)
    return X, rename(columns), codes, levels, spec


def random_design(random: tuple, data: pd.DataFrame, residual: bool = True) -> RandomDesign:
    """Materialize the random terms: Z blocks in lme4's term order and the θ → Λ map (``residual``:
    the model has a residual variance, so a factor with a level per observation is confounded with
    it; GLMMs without a scale parameter allow observation-level effects, as glmer).

    Examples
    --------
    >>> import mixedpy
    >>> from mixedpy.formula.parse import parse_formula
    >>> rd = random_design(parse_formula("Reaction ~ Days + (Days | Subject)").random,
    ...                    mixedpy.datasets.load("sleepstudy"))
    >>> rd.Z.shape, rd.ntheta
    ((180, 36), 3)
    """
    built = [(t, *_materialize(t, data)) for t in random]
    order = lme4_term_order([len(b[4]) for b in built])
    n = len(data)
    terms = []
    for i in order:
        src, X, names, codes, levels, spec = built[i]
        if residual and len(levels) >= n and n > 1:
            raise DataError(f"grouping factor {src.name!r} of {src} has {len(levels)} levels for {n} "
                            "observations: the random effects would be confounded with the residual")
        terms.append(ReTerm(group=src.name, columns=names, levels=levels, codes=codes, X=X, offset=0,
                            theta_offset=0, spec=spec, source=src))
    return assemble(terms, n)


def assemble(terms: list, n: int) -> RandomDesign:
    """A RandomDesign from materialized terms in the given order (offsets, Z and the θ → Λ
    pattern computed here).

    Examples
    --------
    >>> import mixedpy
    >>> r = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy")).random
    >>> rd = assemble(list(r.terms), 180)
    >>> rd.Z.shape, rd.theta0.tolist()
    ((180, 36), [1.0, 0.0, 1.0])
    """
    out, blocks, rows, cols, lind, theta0, lower = [], [], [], [], [], [], []
    offset = theta_offset = 0
    for t in terms:
        t = ReTerm(group=t.group, columns=t.columns, levels=t.levels, codes=t.codes, X=t.X, offset=offset,
                   theta_offset=theta_offset, spec=t.spec, source=t.source)
        out.append(t)
        blocks.append(term_Z(t.X, t.codes, t.nlev, n))
        r, c = t.tril()
        base = offset + np.arange(t.nlev)[:, None] * t.k
        rows.append((base + r[None, :]).ravel())
        cols.append((base + c[None, :]).ravel())
        lind.append(np.tile(theta_offset + np.arange(t.ntheta), t.nlev))
        theta0.extend(1.0 if a == b else 0.0 for a, b in zip(r, c))
        lower.extend(0.0 if a == b else -np.inf for a, b in zip(r, c))
        offset += t.q
        theta_offset += t.ntheta
    Z = sp.hstack(blocks, format="csc") if blocks else sp.csc_matrix((n, 0))
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=int))
    return RandomDesign(terms=tuple(out), Z=Z, Lambda_rows=cat(rows), Lambda_cols=cat(cols),
                        lind=cat(lind), theta0=np.array(theta0), lower=np.array(lower))
