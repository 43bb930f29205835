"""Sphinx configuration of mixedpy's documentation (built in CI with -W: warnings are errors)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import mixedpy

project = "mixedpy"
author = "mixedpy developers"
copyright = "mixedpy developers, MIT License"
release = version = mixedpy.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",        # numpy-style docstrings
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "myst_nb",                    # Markdown pages and the notebooks (rendered, not executed)
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"

# the notebooks are executed by the test suite (nbmake); the site shows them as stored
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
suppress_warnings = ["mystnb.unknown_mime_type"]

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True       # "Attributes" as fields: no second description of dataclass fields
napoleon_preprocess_types = False

intersphinx_mapping = {}      # no network in CI: links to other projects are plain URLs

html_theme = "alabaster"
html_title = f"mixedpy {release}"
html_static_path = []
html_theme_options = {"description": "Linear mixed models for pandas users, with lme4's numbers",
                      "fixed_sidebar": True, "page_width": "1100px", "sidebar_width": "230px"}
nitpicky = False

# the notebooks live in ../notebooks (run there by the test suite); Sphinx reads sources only below
# docs/, so a fresh copy is made at each build (docs/notebooks is not tracked)
import shutil

_NB_SRC, _NB_DST = ROOT / "notebooks", Path(__file__).parent / "notebooks"
_NB_DST.mkdir(exist_ok=True)
for _nb in sorted(_NB_SRC.glob("*.ipynb")):
    if not (_NB_DST / _nb.name).exists() or (_NB_DST / _nb.name).read_bytes() != _nb.read_bytes():
        shutil.copyfile(_nb, _NB_DST / _nb.name)
