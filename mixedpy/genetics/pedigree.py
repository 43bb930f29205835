"""Pedigrees: checking and sorting, inbreeding, the numerator relationship matrix A and its inverse.

Glossary
--------
ids        animal identifiers, sorted so that parents precede their offspring (founders first)
sire, dam  parent positions in ``ids`` (−1: unknown)
P          parent matrix: P[i, s] = P[i, d] = ½ for the known parents of i
T          (I − P)⁻¹, the lower unit-triangular "gene flow" matrix: A = T D Tᵀ
d_i        Mendelian sampling variance (diagonal of D), in units of σ²_a:
           ½ − ¼(F_s + F_d) with both parents known, ¾ − ¼F_s (or F_d) with one, 1 with none
L          T D^½, so A = L Lᵀ and F_i = Σ_j L_ij² − 1 (Quaas 1976)
F          inbreeding coefficients, F_i = ½ a_{s_i d_i}

Inbreeding is computed generation by generation from the rows of L (the ancestors of each animal
weighted by their contributions: the same work as Meuwissen & Luo 1992, vectorized with sparse
products).  A⁻¹ = (I − P)ᵀ D⁻¹ (I − P) is assembled directly by Henderson's (1976) rules with
inbreeding, never by inverting A, and log|A| = Σ log d_i.
"""
from __future__ import annotations

import re
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ColumnNotFoundError, DataTypeError, PedigreeError

MAX_DENSE_A = 5000  # largest pedigree for which the dense A is formed
_UNKNOWN_STRINGS = {"0", "", "na", "nan", "none", "."}


def _canon(v):
    """A hashable canonical id: integral floats become ints (a parent column read as float because
    of missing values still matches an integer animal column); numpy scalars become Python ones."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if float(v).is_integer() else float(v)
    if isinstance(v, np.str_):
        return str(v)
    return v


def _is_unknown(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return True
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == 0:
        return True
    return isinstance(v, str) and v.strip().lower() in _UNKNOWN_STRINGS


def _parent_values(col: pd.Series) -> list:
    return [None if _is_unknown(v) else _canon(v) for v in col.tolist()]


def key_string(value) -> str:
    """The string key a level is matched by (``3``, ``3.0`` and ``"3"`` all give ``"3"``).

    Examples
    --------
    >>> key_string(3), key_string(3.0), key_string("3"), key_string("a")
    ('3', '3', '3', 'a')
    """
    s = str(_canon(value))
    return re.sub(r"^(-?\d+)\.0+$", r"\1", s)


def _key(value) -> str:
    """:func:`key_string` of a canonical id, with a fast path for ints and plain strings."""
    if type(value) is int:
        return str(value)
    if type(value) is str and "." not in value:
        return value
    return key_string(value)


_INT_KEY = re.compile(r"^-?\d+$")


def _founder_label(animal_ids: list):
    """How a parent without a row of its own is labelled, given the ids of the animal column: as a
    string when those are all strings, as an int (when its key is integral) when they are all
    ints, else as the value found in the parent column; so ``ids`` keep the animal column's type
    when the parent columns were read as another (e.g. float because of missing values)."""
    if animal_ids and all(type(v) is str for v in animal_ids):
        return lambda k, v: k
    if animal_ids and all(type(v) is int for v in animal_ids):
        return lambda k, v: int(k) if _INT_KEY.match(k) else v
    return lambda k, v: v


class Pedigree:
    """A checked pedigree, sorted so that parents precede offspring.

    Build it with :meth:`from_frame`.

    Attributes
    ----------
    ids : pandas.Index
        Animal identifiers in the sorted order (founders first); parents that have no row of their
        own are included as founders.
    sire, dam : ndarray of int
        Positions of the parents in ``ids`` (−1 for unknown).
    generation : pandas.Series
        0 for founders, else 1 + the larger generation of the parents.

    Examples
    --------
    >>> import pandas as pd, mixedpy
    >>> ped = mixedpy.Pedigree.from_frame(pd.DataFrame({
    ...     "animal": [3, 4, 5, 6], "sire": [1, 1, 4, 5], "dam": [2, None, 3, 2]}))
    >>> list(ped.ids)
    [1, 2, 3, 4, 5, 6]
    >>> ped.inbreeding.round(4).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.125, 0.125]
    >>> import numpy as np
    >>> bool(np.allclose(ped.Ainv.toarray() @ ped.A.to_numpy(), np.eye(6)))
    True
    """

    def __init__(self, ids: pd.Index, sire: np.ndarray, dam: np.ndarray, generation: np.ndarray):
        self.ids = ids
        self.sire = sire
        self.dam = dam
        self.generation = pd.Series(generation, index=ids, name="generation")

    # --- construction --------------------------------------------------------------------------------
    @classmethod
    def from_frame(cls, df: pd.DataFrame, animal: str = "animal", sire: str = "sire",
                   dam: str = "dam") -> "Pedigree":
        """Build a pedigree from a table of (animal, sire, dam).

        Parameters
        ----------
        df : pandas.DataFrame
            One row per animal, in any order.  Unknown parents are missing values (NaN, None) or
            ``0`` / ``"0"``.  Parents without a row of their own become founders.  Ids may be of any
            hashable type, matched across the three columns by value (``3``, ``3.0`` and ``"3"``
            are the same animal: a parent column read as float because of missing values still
            matches an integer or string animal column); a founder without a row takes the type of
            the animal column's ids.  Exact duplicate rows are dropped.
        animal, sire, dam : str
            Column names.

        Returns
        -------
        Pedigree

        Raises
        ------
        PedigreeError
            An animal that is its own ancestor, an animal listed twice with different parents, an
            animal used both as a sire and as a dam, or a missing animal id.

        Examples
        --------
        >>> import pandas as pd, mixedpy
        >>> df = pd.DataFrame({"id": ["c", "a"], "s": ["a", "0"], "d": [None, None]})
        >>> ped = mixedpy.Pedigree.from_frame(df, animal="id", sire="s", dam="d")
        >>> list(ped.ids), ped.sire.tolist()
        (['a', 'c'], [-1, 0])
        """
        if not isinstance(df, pd.DataFrame):
            raise DataTypeError(f"the pedigree must be a pandas DataFrame, got {type(df).__name__}")
        for c in (animal, sire, dam):
            if c not in df.columns:
                raise ColumnNotFoundError(f"pedigree column {c!r} is not in the frame "
                                          f"(columns: {', '.join(map(str, df.columns))})")
        raw = df[animal].tolist()
        bad = [i for i, v in enumerate(raw) if _is_unknown(v)]
        if bad:
            raise PedigreeError(f"pedigree row {df.index[bad[0]]!r} has a missing (or 0) animal id in "
                                f"column {animal!r}")
        a = [_canon(v) for v in raw]
        s = _parent_values(df[sire])
        d = _parent_values(df[dam])
        # ids are matched across the three columns by their string keys, so that a parent read as
        # 3.0 or "3" is the animal 3 of the animal column (and conversely)
        ka = [_key(v) for v in a]
        ks = [None if v is None else _key(v) for v in s]
        kd = [None if v is None else _key(v) for v in d]
        seen: dict = {}
        label: dict = {}
        keep = []
        for i, (k, si, di) in enumerate(zip(ka, ks, kd)):
            if k in seen:
                sj, dj = seen[k]
                if (sj, dj) != (si, di):
                    j = keep[list(seen).index(k)]
                    raise PedigreeError(
                        f"animal {a[i]!r} (column {animal!r}) is listed twice with different parents: "
                        f"{sire} {s[j]!r}, {dam} {d[j]!r} (row {df.index[j]!r}) and {sire} {s[i]!r}, "
                        f"{dam} {d[i]!r} (row {df.index[i]!r})")
                continue
            seen[k] = (si, di)
            label[k] = a[i]
            keep.append(i)
        ks = [ks[i] for i in keep]
        kd = [kd[i] for i in keep]
        extra = {}
        relabel = _founder_label([label[k] for k in seen])
        for k, v in zip(ks + kd, [s[i] for i in keep] + [d[i] for i in keep]):
            if k is not None and k not in seen and k not in extra:
                extra[k] = relabel(k, v)
        all_keys = list(extra) + list(seen)
        all_ids = list(extra.values()) + [label[k] for k in seen]
        pos = {k: i for i, k in enumerate(all_keys)}
        n_extra = len(extra)
        sire_c = np.full(len(all_ids), -1, dtype=np.int64)
        dam_c = np.full(len(all_ids), -1, dtype=np.int64)
        sire_c[n_extra:] = [-1 if k is None else pos[k] for k in ks]
        dam_c[n_extra:] = [-1 if k is None else pos[k] for k in kd]
        both = np.intersect1d(sire_c[sire_c >= 0], dam_c[dam_c >= 0])
        if len(both):
            names = ", ".join(repr(all_ids[i]) for i in both[:5])
            raise PedigreeError(f"animal(s) {names} used both as a sire and as a dam (columns {sire!r} "
                                f"and {dam!r})")
        gen = _generations(sire_c, dam_c, all_ids)
        try:  # within a generation: by id when the ids are mutually comparable, else as given
            rank = np.empty(len(all_ids), dtype=np.int64)
            rank[np.argsort(np.array(all_ids + [None], dtype=object)[:-1], kind="stable")] = np.arange(len(all_ids))
        except TypeError:
            rank = np.arange(len(all_ids))
        order = np.lexsort((rank, gen))
        where = np.empty_like(order)
        where[order] = np.arange(len(order))
        remap = lambda c: np.where(c[order] >= 0, where[np.maximum(c[order], 0)], -1)  # noqa: E731
        ids = pd.Index([all_ids[i] for i in order], name=animal)
        return cls(ids, remap(sire_c), remap(dam_c), gen[order])

    # --- basics --------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (f"<mixedpy Pedigree: {len(self)} animals, {int((self.generation == 0).sum())} founders, "
                f"{int(self.generation.max()) + 1 if len(self) else 0} generations>")

    def to_frame(self) -> pd.DataFrame:
        """The sorted pedigree as a DataFrame (animal, sire, dam; unknown parents as None).

        Examples
        --------
        >>> import pandas as pd, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [3, 4], "sire": [1, 1], "dam": [2, 3]}))
        >>> f = ped.to_frame()
        >>> f.columns.tolist(), f["animal"].tolist()
        (['animal', 'sire', 'dam'], [1, 2, 3, 4])
        """
        ids = np.asarray(self.ids, dtype=object)
        par = lambda c: [ids[i] if i >= 0 else None for i in c]  # noqa: E731
        return pd.DataFrame({"animal": ids, "sire": par(self.sire), "dam": par(self.dam)})

    @cached_property
    def _slices(self) -> list[slice]:
        g = self.generation.to_numpy()
        edges = np.flatnonzero(np.diff(g)) + 1
        bounds = np.concatenate([[0], edges, [len(g)]])
        return [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]

    # --- inbreeding ----------------------------------------------------------------------------------
    @cached_property
    def _inbreeding_and_d(self) -> tuple[np.ndarray, np.ndarray]:
        """(F, d) by Meuwissen & Luo (:mod:`mixedpy.genetics.inbreeding`): O(n) memory."""
        from .inbreeding import meuwissen_luo
        F, dvar = meuwissen_luo(np.ascontiguousarray(self.sire, dtype=np.int64),
                                np.ascontiguousarray(self.dam, dtype=np.int64))
        F[np.abs(F) < 1e-14] = 0.0
        return F, dvar

    @property
    def inbreeding(self) -> pd.Series:
        """Inbreeding coefficients F (a Series indexed by ``ids``).

        Examples
        --------
        >>> import pandas as pd, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [3, 4], "sire": [1, 1], "dam": [2, 3]}))
        >>> float(ped.inbreeding[4])
        0.25
        """
        return pd.Series(self._inbreeding_and_d[0], index=self.ids, name="inbreeding")

    @property
    def mendelian_variance(self) -> pd.Series:
        """d_i, the diagonal of D in A = T D Tᵀ (Mendelian sampling variance / σ²_a).

        Examples
        --------
        >>> import pandas as pd, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [3, 4], "sire": [1, 1], "dam": [2, 3]}))
        >>> ped.mendelian_variance.tolist()
        [1.0, 1.0, 0.5, 0.5]
        """
        return pd.Series(self._inbreeding_and_d[1], index=self.ids, name="d")

    @property
    def logdet_A(self) -> float:
        """log det A = Σ log d_i (A = (I − P)⁻¹ D (I − P)⁻ᵀ with I − P unit triangular).

        Examples
        --------
        >>> import pandas as pd, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [3, 4], "sire": [1, 1], "dam": [2, 3]}))
        >>> round(ped.logdet_A, 4)
        -1.3863
        """
        return float(np.sum(np.log(self._inbreeding_and_d[1])))

    # --- relationship matrices -----------------------------------------------------------------------
    @cached_property
    def Ainv(self) -> sp.csc_matrix:
        """A⁻¹ (sparse, in the order of ``ids``) by Henderson's rules with inbreeding.

        For animal i with Mendelian variance d_i and b = 1/d_i: add b to (i, i), −b/2 to (i, p) and
        (p, i) for each known parent p, and b/4 to (p, p') for each pair of known parents.

        Examples
        --------
        >>> import pandas as pd, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [3, 4], "sire": [1, 1], "dam": [2, 3]}))
        >>> ped.Ainv.toarray().round(3).tolist()
        [[2.0, 0.5, -0.5, -1.0], [0.5, 1.5, -1.0, 0.0], [-0.5, -1.0, 2.5, -1.0], [-1.0, 0.0, -1.0, 2.0]]
        """
        n = len(self)
        b = 1.0 / self._inbreeding_and_d[1]
        i = np.arange(n)
        rows, cols, vals = [i], [i], [b]
        for par in (self.sire, self.dam):
            k = par >= 0
            rows += [i[k], par[k]]
            cols += [par[k], i[k]]
            vals += [-0.5 * b[k], -0.5 * b[k]]
        for p1 in (self.sire, self.dam):
            for p2 in (self.sire, self.dam):
                k = (p1 >= 0) & (p2 >= 0)
                rows.append(p1[k])
                cols.append(p2[k])
                vals.append(0.25 * b[k])
        M = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        return sp.csc_matrix(M)  # duplicates summed

    @property
    def A(self) -> pd.DataFrame:
        """The numerator relationship matrix A (dense, labelled by ``ids``) by the tabular method,
        generation by generation.  Refused for more than ``MAX_DENSE_A`` (5000) animals: use
        ``Ainv`` (sparse) for large pedigrees.

        Examples
        --------
        >>> import pandas as pd, mixedpy
        >>> ped = mixedpy.Pedigree.from_frame(pd.DataFrame({"animal": [3, 4], "sire": [1, 1], "dam": [2, 3]}))
        >>> ped.A.round(3).values.tolist()
        [[1.0, 0.0, 0.5, 0.75], [0.0, 1.0, 0.5, 0.25], [0.5, 0.5, 1.0, 0.75], [0.75, 0.25, 0.75, 1.25]]
        """
        n = len(self)
        if n > MAX_DENSE_A:
            raise PedigreeError(f"the pedigree has {n} animals: the dense A is only formed for at most "
                                f"{MAX_DENSE_A} animals (MAX_DENSE_A); use the sparse Ainv instead")
        A = np.zeros((n, n))
        F = self._inbreeding_and_d[0]
        for sl in self._slices:
            lo, hi = sl.start, sl.stop
            s, d = self.sire[sl], self.dam[sl]
            rows = np.zeros((hi - lo, lo))
            for par in (s, d):
                k = par >= 0
                rows[k] += 0.5 * A[par[k], :lo]
            A[sl, :lo] = rows
            A[:lo, sl] = rows.T
            within = np.zeros((hi - lo, hi - lo))
            for par in (s, d):  # A[i, i'] = ½ (A[i', s_i] + A[i', d_i]) for i ≠ i' in the generation
                k = par >= 0
                within[k] += 0.5 * rows[:, par[k]].T
            np.fill_diagonal(within, 1.0 + F[sl])
            A[sl, sl] = within
        return pd.DataFrame(A, index=self.ids, columns=self.ids)


def _generations(sire: np.ndarray, dam: np.ndarray, ids: list) -> np.ndarray:
    """Generation numbers (Kahn's algorithm by rounds); a PedigreeError names a cycle if any."""
    n = len(ids)
    gen = np.full(n, -1, dtype=np.int64)
    founder = (sire < 0) & (dam < 0)
    gen[founder] = 0
    g = 0
    while (gen < 0).any():
        g += 1
        ok_s = (sire < 0) | (gen[np.maximum(sire, 0)] >= 0)
        ok_d = (dam < 0) | (gen[np.maximum(dam, 0)] >= 0)
        ok_s &= (sire < 0) | (gen[np.maximum(sire, 0)] < g)
        ok_d &= (dam < 0) | (gen[np.maximum(dam, 0)] < g)
        ready = (gen < 0) & ok_s & ok_d
        if not ready.any():
            raise PedigreeError(_cycle_message(sire, dam, gen, ids))
        gen[ready] = g
    return gen


def _cycle_message(sire, dam, gen, ids) -> str:
    start = int(np.flatnonzero(gen < 0)[0])
    path, seen = [start], {start: 0}
    cur = start
    while True:  # follow an unplaced parent: every unplaced animal has one, so this ends in a cycle
        nxt = next(int(p) for p in (sire[cur], dam[cur]) if p >= 0 and gen[p] < 0)
        if nxt in seen:
            cyc = path[seen[nxt]:] + [nxt]
            chain = " → ".join(repr(ids[i]) for i in cyc)
            return (f"animal {ids[nxt]!r} is its own ancestor (offspring → parent: {chain}); "
                    "check the pedigree for swapped ids")
        seen[nxt] = len(path)
        path.append(nxt)
        cur = nxt
