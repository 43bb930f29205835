"""Diagnostic and teaching plots of a fitted model (matplotlib, the optional ``plot`` extra).

=====================  ===========================================================================
function               shows
=====================  ===========================================================================
``caterpillar``        the BLUPs of one grouping factor, ordered, with intervals b̂ ∓ z·SD(b | y)
``resid_fitted``       residuals against fitted values
``qq``                 normal QQ plot of the residuals or of the BLUPs of one term
``trajectories``       observed longitudinal profiles with the subject-specific fitted curves
=====================  ===========================================================================

Every function takes ``ax=`` (draw into an existing Axes) and returns the Axes it drew on; functions
that draw several panels return the Figure.  matplotlib is imported only when a plot is drawn::

    pip install "mixedpy[plot]"

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import mixedpy
>>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
>>> ax = mixedpy.plot.caterpillar(m, term="Days")
>>> ax.get_xlabel()
'BLUP of Days | Subject'
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from .errors import MissingDependencyError, MixedpyError, ModelSpecError
from .figures import axes, pyplot

__all__ = [
    "MissingDependencyError",
    "caterpillar",
    "genomic_inflation",
    "manhattan",
    "qq",
    "qq_pvalues",
    "resid_fitted",
    "trajectories",
]


def _pyplot():
    return pyplot("mixedpy.plot")


def _axes(ax, **subplot_kw):
    return axes(ax, "mixedpy.plot", **subplot_kw)


# --- BLUPs --------------------------------------------------------------------------------------------
def _group(m, group: str | None) -> str:
    groups = list(m.ranef)
    if not groups:
        raise ModelSpecError("the model has no random effects (it was fitted by least squares)")
    if group is None:
        return groups[0]
    if group not in groups:
        raise ModelSpecError(f"no grouping factor {group!r}; the model's are {', '.join(map(repr, groups))}")
    return group


def _terms(m, group: str, term) -> list[str]:
    cols = list(m.ranef[group].columns)
    if term is None:
        return cols
    wanted = [term] if isinstance(term, str) else list(term)
    bad = [t for t in wanted if t not in cols]
    if bad:
        raise ModelSpecError(f"{group!r} has no random term {bad[0]!r}; "
                             f"its terms are {', '.join(map(repr, cols))}")
    return wanted


def caterpillar(m, group: str | None = None, term=None, level: float = 0.95, order_by: str | None = None,
                ax=None, labels: bool | None = None, color: str = "C0"):
    """Caterpillar plot: the BLUPs of each level of a grouping factor with their prediction intervals.

    Each level's BLUP b̂ is drawn with the interval b̂ ∓ z·SD(b − b̂) where SD is the conditional SD
    (``m.ranef_se``, lme4's ``condVar``) and z the normal quantile for ``level`` (1.96 for 95%, as
    lme4's ``dotplot(ranef(m, condVar = TRUE))``).  Levels are sorted by their BLUP, smallest at the
    bottom, so the plot shows how the levels spread around 0 and which differ clearly from it.

    Parameters
    ----------
    m : LmmResult
    group : str, optional
        Grouping factor (default: the first, as in ``m.ranef``).
    term : str or list of str, optional
        Random-effect column(s) of ``group`` (``"(Intercept)"``, ``"Days"``); default all.  With more
        than one term the panels share the level order.
    level : float
        Coverage of the intervals.
    order_by : str, optional
        Term whose BLUPs order the levels (default: the first plotted term).
    ax : matplotlib Axes, or a sequence of Axes (one per term), optional
    labels : bool, optional
        Write the level names on the y axis (default: when there are at most 60 levels).
    color : str
        Colour of points and intervals.

    Returns
    -------
    matplotlib Axes (one term) or Figure (several terms)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import mixedpy
    >>> m = mixedpy.fit("Yield ~ 1 + (1 | Batch)", mixedpy.datasets.load("dyestuff"))
    >>> ax = caterpillar(m)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['F', 'D', 'A', 'B', 'C', 'E']
    """
    if not 0 < level < 1:
        raise ModelSpecError(f"level must be between 0 and 1, got {level!r}")
    g = _group(m, group)
    terms = _terms(m, g, term)
    b, se = m.ranef[g], m.ranef_se[g]
    key = order_by if order_by is not None else terms[0]
    if key not in b.columns:
        raise ModelSpecError(f"order_by {key!r} is not a random term of {g!r}")
    order = np.argsort(b[key].to_numpy(), kind="stable")
    z = stats.norm.ppf(0.5 + level / 2)
    nlev = len(b)
    show = nlev <= 60 if labels is None else labels
    if ax is None:
        plt = _pyplot()
        fig, axs = plt.subplots(1, len(terms), sharey=True, squeeze=False,
                                figsize=(3.2 * len(terms) + 1.2, max(2.5, min(0.22 * nlev + 1, 12))))
        axs = list(axs[0])
    else:
        axs = [ax] if not isinstance(ax, (list, tuple, np.ndarray)) else list(np.ravel(ax))
        if len(axs) != len(terms):
            raise ModelSpecError(f"{len(terms)} terms to draw but {len(axs)} Axes given; "
                                 "choose one with term=")
    y = np.arange(nlev)
    for a, t in zip(axs, terms):
        est = b[t].to_numpy()[order]
        half = z * se[t].to_numpy()[order]
        a.axvline(0.0, color="0.6", lw=1, zorder=0)
        a.errorbar(est, y, xerr=half, fmt="o", ms=3.5, color=color, ecolor=color, elinewidth=1.2, capsize=0)
        a.set_xlabel(f"BLUP of {t} | {g}")
        a.set_ylim(-0.7, nlev - 0.3)
        if show:
            a.set_yticks(y, [str(v) for v in b.index[order]])
        else:
            a.set_yticks([])
    axs[0].set_ylabel(g)
    axs[0].set_title(f"{round(level * 100)}% prediction intervals" if len(axs) == 1 else "")
    if len(axs) == 1:
        return axs[0]
    fig = axs[0].figure
    fig.suptitle(f"BLUPs of {g} with {round(level * 100)}% prediction intervals")
    return fig


# --- residuals ------------------------------------------------------------------------------------------
def resid_fitted(m, ax=None, scaled: bool = False, smooth: bool = True, color: str = "C0"):
    """Residuals against fitted values (the conditional ones, Xβ̂ + Zb̂), with a zero line.

    Parameters
    ----------
    m : LmmResult
    ax : matplotlib Axes, optional
    scaled : bool
        Plot residuals divided by σ̂.
    smooth : bool
        Add a running mean of the residuals (in 10 bins of the fitted values) to show trends.
    color : str

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> len(resid_fitted(m).collections[0].get_offsets())
    180
    """
    ax = _axes(ax)
    f = m.fitted().to_numpy()
    r = m.residuals(scaled=scaled).to_numpy()
    ax.scatter(f, r, s=14, color=color, alpha=0.75, edgecolors="none")
    ax.axhline(0.0, color="0.4", lw=1)
    if smooth and len(f) >= 20:
        edges = np.quantile(f, np.linspace(0, 1, 11))
        idx = np.clip(np.searchsorted(edges, f, side="right") - 1, 0, 9)
        cx = [f[idx == i].mean() for i in range(10) if np.any(idx == i)]
        cy = [r[idx == i].mean() for i in range(10) if np.any(idx == i)]
        ax.plot(cx, cy, color="C3", lw=1.5, label="binned mean")
    ax.set_xlabel("fitted value")
    ax.set_ylabel("scaled residual" if scaled else "residual")
    ax.set_title("Residuals vs fitted")
    return ax


def qq(m, which: str = "residuals", group: str | None = None, term: str | None = None, ax=None,
       color: str = "C0"):
    """Normal QQ plot of the residuals (``which="residuals"``) or of the BLUPs of one term
    (``which="ranef"``), with R's ``qqline`` through the first and third quartiles.

    Both are assumed normal by the model: residuals e ~ N(0, σ²I), random effects b ~ N(0, G).  The BLUPs
    are shrunken towards 0, so their spread is smaller than σ_b, but the shape should still be normal.

    Parameters
    ----------
    m : LmmResult
    which : {"residuals", "ranef"}
    group, term : str, optional
        For ``which="ranef"``: grouping factor and term (default the first of each).
    ax : matplotlib Axes, optional
    color : str

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> qq(m, "ranef", term="Days").get_title()
    'Normal QQ plot: BLUPs of Days | Subject'
    """
    w = str(which).lower()
    if w in ("residuals", "resid", "residual"):
        values = m.residuals(scaled=True).to_numpy()
        what, ylabel = "scaled residuals", "scaled residual"
    elif w in ("ranef", "blup", "blups", "random"):
        g = _group(m, group)
        t = _terms(m, g, term)[0]
        values = m.ranef[g][t].to_numpy()
        what, ylabel = f"BLUPs of {t} | {g}", f"BLUP of {t}"
    else:
        raise ModelSpecError(f"which must be 'residuals' or 'ranef', got {which!r}")
    ax = _axes(ax)
    n = len(values)
    a = 3 / 8 if n <= 10 else 1 / 2           # R's ppoints
    theo = stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))
    y = np.sort(values)
    ax.scatter(theo, y, s=14, color=color, edgecolors="none")
    q1, q3 = np.quantile(values, [0.25, 0.75])
    z1, z3 = stats.norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (z3 - z1)
    ax.axline((z1, q1), slope=slope if slope > 0 else 1e-12, color="0.4", lw=1)
    ax.set_xlabel("normal quantile")
    ax.set_ylabel(ylabel)
    ax.set_title(f"Normal QQ plot: {what}")
    return ax


# --- longitudinal -----------------------------------------------------------------------------------------
def _numeric_names(m, expr: str) -> list[str]:
    from .design.frame import referenced_names
    data = m.frame.data
    out = []
    for name in referenced_names(expr):
        if name in data.columns and name not in out and pd.api.types.is_numeric_dtype(data[name]) \
                and not pd.api.types.is_bool_dtype(data[name]):
            out.append(name)
    return out


def _time_column(m, group: str) -> str:
    f = m.frame.formula
    response = set(_numeric_names(m, f.response))
    for exprs in ([t.expr for t in f.random if t.name == group], [f.fixed]):
        cands = [c for e in exprs for c in _numeric_names(m, re.sub(r"\^", "**", e)) if c not in response]
        cands = list(dict.fromkeys(cands))
        if len(cands) == 1:
            return cands[0]
    raise ModelSpecError("cannot tell which column is time; pass time='column name'")


def trajectories(m, time: str | None = None, group: str | None = None, levels=None, ax=None,
                 population: bool = True, points: bool = True, ngrid: int = 50, grid=None,
                 cmap: str | None = None, legend: bool | None = None):
    """Observed trajectories of each subject with the subject-specific fitted curves.

    For each level of ``group`` the observed responses are drawn against ``time`` (points joined by
    thin lines) and the model's prediction for that subject — fixed effects plus the subject's BLUPs,
    evaluated on a fine grid of time so that polynomial curves look smooth — as a solid curve in the
    same colour.  With ``population=True`` the population curve (fixed effects only, other covariates
    at the first subject's values) is drawn in thick black.

    Parameters
    ----------
    m : LmmResult
        A fit with a random term on ``group`` (e.g. ``y ~ t + I(t**2) + (1 + t + t^2 | id)``).
    time : str, optional
        The time column (default: the one numeric column of the random term, else of the fixed part).
    group : str, optional
        Grouping factor (default the first); must be a single data column.
    levels : list, optional
        The subjects to draw (default all).
    ax : matplotlib Axes, optional
    population : bool
        Draw the population-average curve.
    points : bool
        Draw the observations.
    ngrid : int
        Grid points per subject for the fitted curves.
    grid : array-like, optional
        Times at which to draw every fitted curve (default: ``ngrid`` points over each subject's
        observed range); e.g. the whole study period to show inter- and extrapolation.
    cmap : str, optional
        Colormap cycled over subjects (default "tab10" for up to 10 subjects, else "tab20").
    legend : bool, optional
        Label subjects (default when at most 12 are drawn).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import mixedpy
    >>> m = mixedpy.fit("Reaction ~ Days + (Days | Subject)", mixedpy.datasets.load("sleepstudy"))
    >>> ax = trajectories(m, levels=["308", "309"])
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('Days', 'Reaction')
    """
    g = _group(m, group)
    term = next(t for t in m.random.terms if t.group == g)
    if len(term.source.group) != 1:
        raise ModelSpecError(f"trajectories need a grouping factor that is one column, not {g!r}")
    gcol = term.source.group[0]
    data = m.frame.data
    tcol = time if time is not None else _time_column(m, g)
    if tcol not in data.columns:
        raise ModelSpecError(f"time column {tcol!r} is not used by the model")
    y = pd.Series(m.fixed.y, index=data.index)
    labels = data[gcol].astype(str)
    all_levels = [str(v) for v in term.levels]
    chosen = all_levels if levels is None else [str(v) for v in levels]
    unknown = [v for v in chosen if v not in all_levels]
    if unknown:
        raise ModelSpecError(f"{g!r} has no level(s) {unknown[:5]}")
    ax = _axes(ax)
    colors = _pyplot().get_cmap(cmap or ("tab10" if len(chosen) <= 10 else "tab20"))
    show_legend = len(chosen) <= 12 if legend is None else legend
    for i, lev in enumerate(chosen):
        rows = data[labels == lev].sort_values(tcol)
        c = colors(i % colors.N)
        if points:
            ax.plot(rows[tcol], y[rows.index], "o", ms=3, color=c, alpha=0.8)
            ax.plot(rows[tcol], y[rows.index], "-", lw=0.6, color=c, alpha=0.5)
        times = np.linspace(rows[tcol].min(), rows[tcol].max(), ngrid) if grid is None \
            else np.asarray(grid, dtype=float)
        new = rows.iloc[[0] * len(times)].reset_index(drop=True)
        new[tcol] = times
        try:
            curve = m.predict(new).to_numpy()
        except MixedpyError:  # e.g. a time-varying factor: fall back to the fitted values
            times, curve = rows[tcol].to_numpy(), m.fitted()[rows.index].to_numpy()
        ax.plot(times, curve, "-", lw=1.8, color=c, label=lev if show_legend else None)
    if population:
        rows = data.sort_values(tcol)
        times = np.linspace(rows[tcol].min(), rows[tcol].max(), ngrid) if grid is None \
            else np.asarray(grid, dtype=float)
        new = rows.iloc[[0] * len(times)].reset_index(drop=True)
        new[tcol] = times
        try:
            pop = m.predict(new, include_random=False).to_numpy()
        except MixedpyError:  # covariates that cannot be held at the first row's values
            pop = None
        if pop is not None:
            ax.plot(times, pop, "-", lw=3, color="black", label="population (fixed effects)")
    ax.set_xlabel(tcol)
    ax.set_ylabel(m.fixed.response)
    ax.set_title(f"{m.fixed.response} by {g}: observed (points) and fitted curves")
    if show_legend or population:
        ax.legend(fontsize="small", ncol=2 if show_legend and len(chosen) > 6 else 1)
    return ax


# marker-scan plots live with the scan (mixedpy/scale/plots.py); re-exported here
from .scale.plots import genomic_inflation, manhattan, qq_pvalues
