"""matplotlib, imported only when a figure is drawn (the ``plot`` extra), and the axes to draw on."""
from __future__ import annotations

from .errors import MissingDependencyError


def pyplot(what: str = "mixedpy's plots"):
    """``matplotlib.pyplot``, or a :class:`~mixedpy.errors.MissingDependencyError` naming the extra.

    Examples
    --------
    >>> pyplot().__name__
    'matplotlib.pyplot'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError(
            f"{what} need matplotlib, which is not installed; install the plot extra with "
            "pip install 'mixedpy[plot]' (or pip install matplotlib)") from None
    return plt


def axes(ax=None, what: str = "mixedpy's plots", **subplot_kw):
    """``ax`` itself, or new axes from ``plt.subplots(**subplot_kw)``.

    Examples
    --------
    >>> type(axes()).__name__
    'Axes'
    """
    if ax is not None:
        return ax
    _, ax = pyplot(what).subplots(**subplot_kw)
    return ax
