"""Progress bars that stay quiet when nobody is watching.

Every long-running function of mixedpy (``fit_bayes``, ``fit_many``, ``scan``, bootstrap intervals)
takes one option, ``progress``:

* ``None`` (the default): a bar only where a person sees it, i.e. when standard error is an
  interactive terminal or the code runs in a Jupyter kernel; nothing in logs, CI output or pipes;
* ``True``: always a bar (asked for); written to a non-terminal at most once every
  :data:`NON_TTY_INTERVAL` seconds, so a log file gets a few lines, not thousands of updates;
* ``False``: never.

The bar is ``tqdm.auto.tqdm`` (a widget in Jupyter when ipywidgets is installed), imported only when
a bar is made: importing it at module level warns in a Jupyter kernel without ipywidgets, i.e. on
every ``import mixedpy``.
"""
from __future__ import annotations

import sys

NON_TTY_INTERVAL = 10.0
"""Seconds between two updates of a bar that was asked for (``progress=True``) on a non-terminal."""


def interactive() -> bool:
    """Whether someone watches the output: standard error is a terminal, or this is a Jupyter kernel.

    Examples
    --------
    >>> interactive() in (True, False)
    True
    """
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a replaced or closed stream
        pass
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def show_progress(progress: bool | None) -> bool:
    """Whether to draw a bar for the ``progress`` option (see the module docstring).

    Examples
    --------
    >>> show_progress(False), show_progress(True)
    (False, True)
    """
    if progress is None:
        return interactive()
    if not isinstance(progress, (bool, int)):
        from .errors import ModelSpecError

        raise ModelSpecError(f"progress must be True, False or None (automatic), got {progress!r}")
    return bool(progress)


def tqdm(*args, progress: bool | None = None, **kwargs):
    """A ``tqdm.auto.tqdm(*args, **kwargs)`` bar, disabled unless :func:`show_progress` says to draw it.

    Parameters
    ----------
    *args, **kwargs
        Passed to tqdm (an iterable, ``total``, ``desc``, ``leave``, ...).
    progress : bool or None
        The caller's ``progress`` option: None (automatic), True (always), False (never).

    Examples
    --------
    >>> sum(tqdm(range(3), progress=False))
    3
    >>> bar = tqdm(total=2, progress=False)
    >>> bar.update(); bar.close()
    """
    from tqdm.auto import tqdm as bar

    show = show_progress(progress) and not kwargs.pop("disable", False)
    if show and not interactive():  # asked for, into a file or a pipe: a line every few seconds
        kwargs["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), NON_TTY_INTERVAL)
    return bar(*args, disable=not show, **kwargs)
