"""Estimated marginal means (least-squares means) and their comparisons, as R's emmeans.

``emmeans(m, "Variety")`` averages the predictions of the reference grid
(:mod:`mixedpy.inference.refgrid`) with equal weights over the variables not in ``specs`` or
``by``: each mean is l'β̂ with l the average of the grid's design rows.  Standard errors use the
Kenward-Roger adjusted covariance (the default, as emmeans for ``lmer`` fits) or the fit's own
(``ddf="satterthwaite"``, ``"residual"``, ``"asymptotic"``); see :mod:`mixedpy.inference.linfct`.

Comparisons (``pairs``, ``contrast``) are families of contrasts of the means within each ``by``
group (:mod:`mixedpy.inference.emm_contrasts`), with p values adjusted within each group
(:mod:`mixedpy.inference.multiplicity`).  A mean or contrast that is not estimable (a model with
aliased columns and empty cells) is NaN, as in emmeans, and listed in ``notes``.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import MixedpyWarning, ModelSpecError
from .emm_contrasts import contrast_family
from .linfct import LinearInference
from .multiplicity import adjust_method, adjust_pvalues
from .refgrid import RefGrid, reference_grid

CLD_LETTERS = "1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _names(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        return [s for s in re.split(r"[\s*:+]+", x.strip().lstrip("~").strip()) if s and s != "1"]
    return [str(v) for v in x]


def parse_specs(specs, by=None) -> tuple[list, list]:
    """``"A"``, ``["A", "B"]``, ``"A:B"``, ``"~ A | B"`` → (specs, by).

    Examples
    --------
    >>> parse_specs("A"), parse_specs("A:B"), parse_specs("~ A | B")
    ((['A'], []), (['A', 'B'], []), (['A'], ['B']))
    """
    if isinstance(specs, str) and "|" in specs:
        left, right = specs.split("|", 1)
        return _names(left), _names(right) + [b for b in _names(by) if b not in _names(right)]
    return _names(specs), _names(by)


def _label(x) -> str:
    """A grid value as R prints it in a level label (9.0 → "9", 0.25 → "0.25")."""
    if isinstance(x, (float, np.floating)):
        return format(float(x), ".15g")
    return str(x)


def _looks_numeric(x: str) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True


def _indices(frame: pd.DataFrame, cols: list) -> dict:
    """Tuple of values of ``cols`` → row positions, in order of first appearance."""
    if not cols:
        return {(): np.arange(len(frame))}
    out: dict = {}
    for pos, row in enumerate(frame[cols].itertuples(index=False, name=None)):
        out.setdefault(tuple(row), []).append(pos)
    return {k: np.asarray(v) for k, v in out.items()}


class EMM:
    """Estimated marginal means of a fit (returned by :func:`emmeans`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per mean: the ``specs`` and ``by`` columns, ``emmean``, ``se``, ``df``, ``lower``,
        ``upper`` (confidence limits at ``level``, not adjusted for multiplicity).
    specs, by : list of str
    ddf : str
    level : float
    refgrid : RefGrid
    L : ndarray (means, p)
        The linear functions of the fitted coefficients that give the means.
    notes : list of str
        Non-estimable means, nesting emmeans would have detected, etc.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> e = m.emmeans("recipe")
    >>> type(e).__name__, e.specs, e.ddf
    ('EMM', ['recipe'], 'kenward-roger')
    """

    def __init__(self, result, specs, by=None, ddf: str = "kenward-roger", level: float = 0.95,
                 at: dict | None = None, refgrid: RefGrid | None = None,
                 inference: LinearInference | None = None, type: str = "link"):
        self.result = result
        self.family = getattr(result, "family", None)
        if type not in ("link", "response"):
            raise ModelSpecError(f"type must be 'link' or 'response', got {type!r}")
        self.type = type
        if self.family is not None and inference is None:
            ddf = "asymptotic"  # glmer fits: z inference, as emmeans
        self.specs, self.by = parse_specs(specs, by)
        if not self.specs:
            raise ModelSpecError("specs must name at least one variable of the reference grid")
        if not 0 < float(level) < 1:
            raise ModelSpecError(f"level must be in (0, 1), got {level!r}")
        self.level = float(level)
        self.refgrid = refgrid if refgrid is not None else reference_grid(result, at=at)
        self.inference = inference if inference is not None else LinearInference(result, ddf)
        self.ddf = self.inference.method
        rg = self.refgrid
        variables = rg.variables
        for v in self.specs + self.by:
            if v not in variables:
                raise ModelSpecError(f"{v!r} is not a variable of the model's reference grid "
                                     f"(have {', '.join(variables) or 'none'})")
        dup = set(self.specs) & set(self.by)
        if dup:
            raise ModelSpecError(f"{', '.join(map(repr, sorted(dup)))} in both specs and by")
        self.notes: list = []
        nested = {k: v for k, v in rg.nesting.items() if k in self.specs + self.by}
        if nested:
            msg = ("emmeans would treat " + "; ".join(f"{k} as nested in {', '.join(v)}" for k, v in nested.items())
                   + " (from the data); these means average over all combinations of the grid")
            self.notes.append(msg)
            warnings.warn(msg, MixedpyWarning, stacklevel=3)
        keys = self.specs + self.by
        order = list(reversed(keys))
        cells = _indices(rg.grid, order)
        combos = pd.MultiIndex.from_product([rg.levels[v] for v in order]).tolist() if keys else []
        rows, labels, offs = [], [], []
        for c in combos:
            c = c if isinstance(c, tuple) else (c,)
            idx = cells[c]
            rows.append(rg.X[idx].mean(axis=0))
            labels.append(tuple(reversed(c)))
            # offset() terms of a GLMM: part of the means (they cancel in contrasts of equal offsets)
            offs.append(float(rg.offset[idx].mean()) if rg.offset is not None else 0.0)
        self.L_full = np.vstack(rows)
        self.offset_full = np.array(offs)
        self.grid = pd.DataFrame(labels, columns=keys)
        self.estimable = rg.estimable(self.L_full)
        self.L = self.L_full[:, rg.kept]
        if not self.estimable.all():
            bad = [" ".join(map(str, r)) for r in self.grid[~self.estimable].itertuples(index=False)]
            self.notes.append(f"non-estimable: {', '.join(bad)} (NaN)")
        self._table = None

    # --- the means ----------------------------------------------------------------------------
    def _summaries(self, L: np.ndarray, estimable: np.ndarray):
        est, se, df = (np.full(len(L), np.nan) for _ in range(3))
        if estimable.any():
            e, s, d = self.inference.summarize(L[estimable])
            est[estimable], se[estimable], df[estimable] = e, s, d
        return est, se, df

    @property
    def table(self) -> pd.DataFrame:
        """One row per mean: the ``specs`` and ``by`` columns, ``emmean``, ``se``, ``df``, ``lower``, ``upper`` (a copy).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temperature + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> t = m.emmeans("recipe").table
        >>> t.columns.tolist(), t["emmean"].round(3).tolist()
        (['recipe', 'emmean', 'se', 'df', 'lower', 'upper'], [33.122, 31.644, 31.6])
        """
        if self._table is None:
            est, se, df = self._summaries(self.L, self.estimable)
            est = est + self.offset_full
            q = stats.t.ppf(0.5 + self.level / 2, np.where(np.isnan(df), np.inf, df))
            out = self.grid.copy()
            lo, hi = est - q * se, est + q * se
            if self._back_transform:  # emmeans' type = "response": delta-method SE, limits mapped
                link = self.family.link
                est, se = link.linkinv(est), np.abs(link.mu_eta(est)) * se
                lo, hi = np.sort(np.vstack([link.linkinv(lo), link.linkinv(hi)]), axis=0)
            out[self.estimate_name], out["se"], out["df"] = est, se, df
            out["lower"], out["upper"] = lo, hi
            self._table = out
        return self._table.copy()

    @property
    def _back_transform(self) -> bool:
        return self.type == "response" and self.family is not None and self.family.link.name != "identity"

    @property
    def estimate_name(self) -> str:
        """The column of the means: ``emmean`` (link scale), or as emmeans names the response scale:
        ``prob`` (binomial), ``rate`` (log link), ``response``.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> emmeans(m, "recipe").estimate_name
        'emmean'
        """
        if not self._back_transform:
            return "emmean"
        if self.family.name == "binomial":
            return "prob"
        return "rate" if self.family.link.name == "log" else "response"

    def _groups(self) -> list:
        """(by values, positions of the means) for each by group, in table order."""
        if not self.by:
            return [((), np.arange(len(self.grid)))]
        return [(tuple(reversed(key)), idx) for key, idx in _indices(self.grid, list(reversed(self.by))).items()]

    def _mean_labels(self, idx: np.ndarray, raw: bool = False) -> list:
        """Labels of the means in contrast names: spec values joined by a space; the values of a
        variable whose levels all look numeric are prefixed by its name (emmeans' enhance.levels)."""
        sub = self.grid.loc[idx, self.specs]
        cols = []
        for v in self.specs:
            vals = [_label(x) for x in sub[v]]
            if not raw and all(_looks_numeric(x) for x in vals):
                vals = [f"{v}{x}" for x in vals]
            cols.append(vals)
        return [" ".join(parts) for parts in zip(*cols)]

    # --- comparisons ---------------------------------------------------------------------------
    def contrast(self, method="pairwise", adjust: str | None = None, ref=1, reverse: bool = False,
                 exclude=(), by=None) -> pd.DataFrame:
        """A family of contrasts of the means within each ``by`` group.

        Parameters
        ----------
        method : str or dict
            ``"pairwise"``, ``"revpairwise"``, ``"poly"``, ``"trt.vs.ctrl"`` (``ref``: control level
            label or 1-based position, or a list of them), ``"eff"``, ``"del.eff"``, ``"consec"``,
            or a dict {name: weights} (weights a list in the order of the means, or a dict
            {mean label: weight}).
        adjust : str, optional
            P-value adjustment (default: the family's, as emmeans: tukey for pairwise, none for
            poly and custom weights, dunnettx for trt.vs.ctrl, fdr for eff, mvt for consec).
        reverse : bool
            Reverse the direction of pairwise, trt.vs.ctrl and consec contrasts.
        by : list of str, optional
            Override the by variables of the means.

        Returns
        -------
        pandas.DataFrame
            ``contrast``, the by columns, ``estimate``, ``se``, ``df``, ``t``, ``p``
            (``attrs["adjust"]``: the adjustment used).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> emmeans(m, "recipe").contrast("trt.vs.ctrl", ref="A")["contrast"].tolist()
        ['B - A', 'C - A']
        """
        em = self if by is None else EMM(self.result, self.specs + [b for b in self.by if b not in _names(by)],
                                         by=_names(by), level=self.level, refgrid=self.refgrid,
                                         inference=self.inference, type=self.type)
        return em._contrast(method, adjust, ref, reverse, exclude)

    def _contrast_rows(self, method, ref=1, reverse=False, exclude=()):
        """Per by group: (by values, family, L rows (kept), estimability)."""
        out = []
        for key, idx in self._groups():
            fam = contrast_family(method, self._mean_labels(idx), ref=ref, reverse=reverse, exclude=exclude,
                                  raw_labels=self._mean_labels(idx, raw=True))
            Lf = fam.coef.T @ self.L_full[idx]
            est_ok = self.refgrid.estimable(Lf) if len(Lf) else np.zeros(0, dtype=bool)
            out.append((key, fam, Lf[:, self.refgrid.kept], est_ok, fam.coef.T @ self.offset_full[idx]))
        return out

    def _contrast(self, method, adjust, ref, reverse, exclude) -> pd.DataFrame:
        frames = []
        used_adjust = None
        for key, fam, L, ok, off in self._contrast_rows(method, ref, reverse, exclude):
            est, se, df = self._summaries(L, ok)
            est = est + off
            t = est / se
            how = adjust_method(adjust if adjust is not None else fam.adjust)
            corr = None
            if how == "mvt" and ok.any():
                V = self.inference.V
                C = L @ V @ L.T
                d = np.sqrt(np.diag(C))
                with np.errstate(invalid="ignore", divide="ignore"):
                    corr = C / np.outer(d, d)
            p, how = adjust_pvalues(t, df, how, n_means=fam.fam_size if fam.pairwise else None, corr=corr)
            used_adjust = how
            names = [n.replace(" - ", " / ") for n in fam.names] if self._ratio_name else fam.names
            part = pd.DataFrame({"contrast": names})
            for b, v in zip(self.by, key):
                part[b] = v
            if self._ratio_name:  # exp of a difference of logs / logits: ratio, SE by the delta method
                est, se = np.exp(est), np.exp(est) * se
            part[self._ratio_name or "estimate"], part["se"], part["df"] = est, se, df
            part[self._stat_name], part["p"] = t, p
            frames.append(part)
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["contrast", *self.by, self._ratio_name or "estimate", "se", "df", self._stat_name, "p"])
        out.attrs["adjust"] = used_adjust
        return out

    @property
    def _stat_name(self) -> str:
        return "z" if self.family is not None else "t"

    @property
    def _ratio_name(self) -> str | None:
        """Contrasts back-transformed as emmeans does (tests stay on the link scale)."""
        if not self._back_transform:
            return None
        return {"logit": "odds_ratio", "log": "ratio"}.get(self.family.link.name)

    def pairs(self, adjust: str = "tukey", reverse: bool = False) -> pd.DataFrame:
        """All pairwise differences ``"A - B"`` (first minus later level) within each by group.

        Parameters
        ----------
        adjust : {"tukey", "bonferroni", "holm", "sidak", "fdr", "mvt", "scheffe", "none"}
        reverse : bool
            Later minus earlier (emmeans' ``revpairwise``).

        Returns
        -------
        pandas.DataFrame
            ``contrast``, the by columns, ``estimate``, ``se``, ``df``, ``t``, ``p``.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> emmeans(m, "recipe").pairs()["contrast"].tolist()
        ['A - B', 'A - C', 'B - C']
        """
        return self.contrast("revpairwise" if reverse else "pairwise", adjust=adjust)

    def cld(self, alpha: float = 0.05, adjust: str = "tukey", letters: str = CLD_LETTERS) -> pd.DataFrame:
        """Compact letter display (emmeans' ``cld`` with multcompView's insert-absorb algorithm).

        Means sorted by estimate (within by groups) with a ``group`` column: two means sharing a
        symbol are not significantly different at ``alpha`` (after ``adjust``).

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> emmeans(m, "temp", at={"temp": [175, 225]}).cld()["group"].str.strip().tolist()
        ['1', '2']
        """
        tab = self.table
        parts = []
        for key, idx in self._groups():
            sub = tab.loc[idx]
            order = np.argsort(sub[self.estimate_name].to_numpy(), kind="stable")
            idx_sorted = np.asarray(idx)[order]
            k = len(idx_sorted)
            fam = contrast_family("revpairwise", [str(i) for i in range(k)])
            Lf = fam.coef.T @ self.L_full[idx_sorted]
            ok = self.refgrid.estimable(Lf)
            est, se, df = self._summaries(Lf[:, self.refgrid.kept], ok)
            p, _ = adjust_pvalues(est / se, df, adjust, n_means=k)
            # revpairwise order: (2-1), (3-1), (3-2), (4-1), ...
            pairs = [(j, i) for i in range(1, k) for j in range(i)]
            signif = [bool(pv < alpha) if np.isfinite(pv) else False for pv in p]
            groups = insert_absorb(k, pairs, signif, letters)
            out = tab.loc[idx_sorted].copy()
            out["group"] = groups
            out.loc[out["se"].isna().to_numpy(), "group"] = ""
            parts.append(out)
        return pd.concat(parts).reset_index(drop=True)

    # --- display ------------------------------------------------------------------------------
    def plot(self, ax=None, **kwargs):
        """Means with their confidence intervals (matplotlib); returns the Axes.

        Examples
        --------
        >>> import mixedpy
        >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
        >>> ax = emmeans(m, "recipe").plot()  # doctest: +SKIP
        """
        import matplotlib.pyplot as plt

        tab = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(tab) + 1.2))
        labels = [" ".join(map(_label, r)) for r in tab[self.specs].itertuples(index=False)]
        if self.by:
            labels = [f"{lab} | " + " ".join(map(str, r))
                      for lab, r in zip(labels, tab[self.by].itertuples(index=False))]
        y = np.arange(len(tab))[::-1]
        est = tab[self.estimate_name]
        ax.errorbar(est, y, xerr=[est - tab["lower"], tab["upper"] - est],
                    fmt=kwargs.pop("fmt", "o"), capsize=kwargs.pop("capsize", 3), **kwargs)
        ax.set_yticks(y)
        ax.set_yticklabels(labels)
        ax.set_xlabel(f"estimated marginal mean ({self.level:.0%} CI, {self.ddf} df)")
        ax.set_ylabel(" : ".join(self.specs) + (" | " + ", ".join(self.by) if self.by else ""))
        return ax

    def __repr__(self) -> str:
        head = f"<mixedpy EMM of {', '.join(self.specs)}" + (f" by {', '.join(self.by)}" if self.by else "")
        return head + f" ({self.ddf} df)>\n" + self.table.to_string(index=False) + \
            "".join(f"\nNote: {n}" for n in self.notes)


def insert_absorb(k: int, pairs: list, signif: list, letters: str = CLD_LETTERS) -> list:
    """multcompView's ``multcompLetters`` (insert-absorb, Piepho 2004) as monospaced strings.

    ``pairs`` are (i, j) positions of the compared means, ``signif`` whether each differs.

    Examples
    --------
    >>> insert_absorb(3, [(0, 1), (0, 2), (1, 2)], [True, True, False])
    ['1 ', ' 2', ' 2']
    """
    syms = list(letters)
    if not any(signif):
        return [syms[0]] * k
    M = np.ones((k, 1), dtype=bool)

    def absorb(A):
        while True:
            done = True
            n = A.shape[1]
            for i in range(n - 1):
                for j in range(i + 1, n):
                    if np.all(A[A[:, j], i]):
                        A = np.delete(A, j, axis=1)
                        done = False
                        break
                    if np.all(A[A[:, i], j]):
                        A = np.delete(A, i, axis=1)
                        done = False
                        break
                if not done:
                    break
            if done:
                return A

    for (a, b), s in zip(pairs, signif):
        if not s:
            continue
        cols = M[a] & M[b]
        if cols.any():
            A1 = M[:, cols].copy()
            A1[a] = False
            M[b, cols] = False
            M = absorb(np.hstack([M, A1]))

    def sort_cols(B):
        first = np.array([np.flatnonzero(c)[0] if c.any() else B.shape[0] for c in B.T])
        B = B[:, np.argsort(first, kind="stable")]
        first = np.sort(first)
        reps = np.flatnonzero(np.diff(first) == 0)
        if len(reps):
            runs = {}
            for r in reps:  # R: table(which(reps)) — each start of a repeat, counted once
                runs[r] = runs.get(r, 0) + 1
            for i, n in runs.items():
                cols = np.arange(i, i + n + 1)
                rows = np.arange(first[i] + 1, B.shape[0])
                if len(rows):
                    B[np.ix_(rows, cols)] = sort_cols(B[np.ix_(rows, cols)])
        return B

    M = sort_cols(M)
    n = M.shape[1]
    names = _make_letters(n, syms)
    width = [len(s) for s in names]
    return ["".join(names[c] if M[r, c] else " " * width[c] for c in range(n)) for r in range(k)]


def _make_letters(n: int, syms: list) -> list:
    if n < len(syms):
        return syms[:n]
    last = syms[-1]
    rec = [last + s for s in syms[:-1]] + [last]
    return syms[:-1] + _make_letters(n - len(syms) + 1, rec)


def emmeans(result, specs, by=None, ddf: str = "kenward-roger", level: float = 0.95,
            at: dict | None = None, type: str = "link") -> EMM:
    """Estimated marginal means of a fitted model, as R's ``emmeans(m, specs, by)``.

    Parameters
    ----------
    result : LmmResult
    specs : str or list of str
        The factor(s) whose means are wanted: ``"Variety"``, ``["nf", "Variety"]``, ``"nf:Variety"``
        or ``"~ Variety | nf"`` (by after ``|``).
    by : str or list of str, optional
        Factors within whose levels the means are given and compared.
    ddf : {"kenward-roger", "satterthwaite", "residual", "asymptotic"}
        Covariance and df method (see :mod:`mixedpy.inference.linfct`); computed at any size.
    level : float
        Confidence level of the intervals.
    at : dict, optional
        Values of covariates (default: their mean) or a subset of a factor's levels.
    type : {"link", "response"}
        For generalized models: the means on the link scale (default) or back-transformed (emmeans'
        ``type = "response"``: inverse link of the mean, delta-method SE, the link-scale limits
        mapped; pairwise contrasts of logits become odds ratios and of logs ratios, tested on the
        link scale).  A GLMM always has asymptotic (z) inference (``ddf`` is ignored).

    Returns
    -------
    EMM
        ``.table``, ``.pairs()``, ``.contrast()``, ``.cld()``, ``.plot()``.

    Examples
    --------
    >>> import mixedpy
    >>> m = mixedpy.fit("angle ~ recipe * temp + (1 | replicate)", mixedpy.datasets.load("cake"))
    >>> e = emmeans(m, "recipe")
    >>> e.table[["recipe", "emmean"]].round(3).values.tolist()
    [['A', 33.122], ['B', 31.644], ['C', 31.6]]
    """
    return EMM(result, specs, by=by, ddf=ddf, level=level, at=at, type=type)
