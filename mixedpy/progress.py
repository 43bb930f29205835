"""Progress bars: tqdm.auto, imported only when a bar is made (importing it at module level warns
in a Jupyter kernel without ipywidgets, i.e. on every ``import mixedpy``)."""
from __future__ import annotations


def tqdm(*args, **kwargs):
    """``tqdm.auto.tqdm(*args, **kwargs)``, imported lazily.

    Examples
    --------
    >>> sum(tqdm(range(3), disable=True))
    3
    """
    from tqdm.auto import tqdm as bar

    return bar(*args, **kwargs)
