"""Plots of a marker scan (:func:`mixedpy.scan`): Manhattan and QQ plots (matplotlib, imported only
when a plot is drawn; ``pip install "mixedpy[plot]"``).

Both take ``ax=`` (draw into an existing Axes) and return the Axes they drew on.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np, pandas as pd
>>> from mixedpy.scale.plots import manhattan, qq_pvalues, genomic_inflation
>>> rng = np.random.default_rng(0)
>>> res = pd.DataFrame({"chrom": np.repeat([1, 2, 3], 100), "pos": np.tile(np.arange(100) * 1000, 3),
...                     "p": rng.uniform(size=300)})
>>> manhattan(res).get_ylabel()
'$-\\\\log_{10}\\\\,p$'
>>> qq_pvalues(res).get_xlabel()
'expected $-\\\\log_{10}\\\\,p$'
>>> round(genomic_inflation(res), 2)  # uniform p-values: about 1
0.74
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from ..figures import axes, pyplot

__all__ = ["genomic_inflation", "manhattan", "qq_pvalues"]

_YLABEL = r"$-\log_{10}\,p$"


def _pyplot():
    return pyplot("scan plots")


def _axes(ax, **kw):
    return axes(ax, "scan plots", **kw)


def _pvalues(scan) -> np.ndarray:
    if isinstance(scan, pd.DataFrame):
        if "p" not in scan:
            raise KeyError("the scan result has no 'p' column")
        p = scan["p"].to_numpy(dtype=float)
    else:
        p = np.asarray(scan, dtype=float).ravel()
    return p


def _chrom_key(c) -> tuple:
    s = str(c)
    m = re.fullmatch(r"(?:chr)?(\d+)", s, flags=re.IGNORECASE)
    return (0, int(m.group(1)), "") if m else (1, 0, s)


def genomic_inflation(scan) -> float:
    """The genomic inflation factor λ_GC: median χ²₁ statistic (from the p-values) over its expected
    value under the null (0.4549).

    Parameters
    ----------
    scan : pandas.DataFrame or array-like
        A scan result (its ``p`` column) or p-values.

    Returns
    -------
    float

    Examples
    --------
    >>> from mixedpy.scale.plots import genomic_inflation
    >>> round(genomic_inflation([0.5]), 3)
    1.0
    """
    p = _pvalues(scan)
    p = p[np.isfinite(p)]
    if not len(p):
        return float("nan")
    return float(np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1))


def manhattan(scan: pd.DataFrame, ax=None, threshold: float | str | None = 5e-8,
              suggestive: float | None = None, colors=("#1f4e79", "#6a9fd4"), s: float = 6.0,
              highlight=None, title: str | None = None):
    """Manhattan plot: −log10 p of each marker along the genome.

    Parameters
    ----------
    scan : pandas.DataFrame
        A :func:`mixedpy.scan` result.  With ``chrom`` and ``pos`` columns markers are laid out by
        chromosome (natural order: 1, 2, …, 10, then X, Y, …) and position; otherwise in row order.
    ax : matplotlib Axes, optional
        Draw into this Axes.
    threshold : float, "bonferroni" or None, default 5e-8
        Significance line (``"bonferroni"``: 0.05 / number of tested markers).
    suggestive : float, optional
        A second, dashed line (e.g. 1e-5).
    colors : pair of colors
        Alternating chromosome colors.
    s : float
        Marker size.
    highlight : list, optional
        Marker names (index labels) to draw in red.
    title : str, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> scan = pd.DataFrame({"chrom": [1, 1, 2, 2], "pos": [10, 20, 5, 15],
    ...                      "p": [0.5, 1e-9, 0.01, 0.2]}, index=list("abcd"))
    >>> ax = manhattan(scan, threshold="bonferroni", highlight=["b"])
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['1', '2']
    >>> round(float(ax.lines[0].get_ydata()[0]), 4)  # -log10(0.05 / 4)
    1.9031
    """
    ax = _axes(ax, figsize=(10, 3.5))
    p = _pvalues(scan)
    ok = np.isfinite(p) & (p > 0)
    y = -np.log10(np.where(ok, p, 1.0))
    if "chrom" in scan and "pos" in scan:
        chrom = scan["chrom"].to_numpy()
        pos = scan["pos"].to_numpy(dtype=float)
        order = sorted(pd.unique(chrom), key=_chrom_key)
        x = np.zeros(len(scan))
        ticks, labels, offset = [], [], 0.0
        for i, c in enumerate(order):
            sel = chrom == c
            lo, hi = np.nanmin(pos[sel]), np.nanmax(pos[sel])
            x[sel] = offset + pos[sel] - lo
            width = max(hi - lo, 1.0)
            ticks.append(offset + width / 2)
            labels.append(str(c))
            ax.scatter(x[sel & ok], y[sel & ok], s=s, color=colors[i % len(colors)], linewidths=0)
            offset += width * 1.02 + 1.0
        ax.set_xticks(ticks)
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_xlabel("chromosome")
        ax.set_xlim(-0.01 * offset, offset)
    else:
        x = np.arange(len(scan), dtype=float)
        ax.scatter(x[ok], y[ok], s=s, color=colors[0], linewidths=0)
        ax.set_xlabel("marker")
    if highlight is not None:
        sel = np.asarray(scan.index.isin(list(highlight))) & ok
        ax.scatter(x[sel], y[sel], s=s * 3, color="#c0392b", linewidths=0, zorder=3)
    if threshold is not None:
        t = 0.05 / max(int(ok.sum()), 1) if threshold == "bonferroni" else float(threshold)
        ax.axhline(-np.log10(t), color="#c0392b", lw=0.8)
    if suggestive is not None:
        ax.axhline(-np.log10(float(suggestive)), color="#7f8c8d", lw=0.8, ls="--")
    ax.set_ylabel(_YLABEL)
    ax.set_ylim(bottom=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def qq_pvalues(scan, ax=None, band: float | None = 0.95, annotate: bool = True, s: float = 6.0,
               color: str = "#1f4e79", title: str | None = None):
    """QQ plot of p-values: observed against expected −log10 p under the uniform null, with a
    pointwise band (order statistics of the uniform are Beta distributed) and λ_GC.

    Parameters
    ----------
    scan : pandas.DataFrame or array-like
        A :func:`mixedpy.scan` result (its ``p`` column) or p-values.
    ax : matplotlib Axes, optional
    band : float or None, default 0.95
        Pointwise coverage of the null band (None: no band).
    annotate : bool, default True
        Write λ_GC (:func:`genomic_inflation`) in the corner.
    s, color, title
        Marker size, color and title.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = qq_pvalues([0.5, 1e-9, 0.01, 0.2])
    >>> ax.texts[0].get_text().split(" = ")[1]  # the λ_GC annotation
    '9.097'
    """
    ax = _axes(ax, figsize=(4.5, 4.5))
    p = _pvalues(scan)
    p = np.sort(p[np.isfinite(p) & (p > 0)])
    m = len(p)
    if m == 0:
        raise ValueError("no finite p-values to plot")
    i = np.arange(1, m + 1)
    expected = -np.log10(i / (m + 1))
    if band is not None:
        a = (1 - band) / 2
        lo = -np.log10(stats.beta.ppf(1 - a, i, m - i + 1))
        hi = -np.log10(stats.beta.ppf(a, i, m - i + 1))
        ax.fill_between(expected, lo, hi, color="#d5dbdb", lw=0, label=f"{band:.0%} band")
    top = max(expected[0], 1.0)
    ax.plot([0, top], [0, top], color="#7f8c8d", lw=0.8)
    ax.scatter(expected, -np.log10(p), s=s, color=color, linewidths=0, zorder=3)
    ax.set_xlabel("expected " + _YLABEL)
    ax.set_ylabel("observed " + _YLABEL)
    if annotate:
        ax.text(0.04, 0.96, f"$\\lambda_{{GC}}$ = {genomic_inflation(p):.3f}", transform=ax.transAxes,
                va="top", ha="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    return ax
