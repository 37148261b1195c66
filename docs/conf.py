"""Sphinx configuration for the newtonkit API reference.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
Only the ``.rst`` pages here are Sphinx sources; ``architecture.md`` and
``conventions.md`` are copied next to the HTML as they are (no Markdown
extension is needed). No network access: intersphinx is not used.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # the repository root: `solvers` and `problems`

import solvers  # noqa: E402

project = "newtonkit"
author = "newtonkit contributors"
release = version = solvers.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# autodoc: signatures from the code, types from the numpydoc sections
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = True

# numpydoc: members are listed explicitly in the .rst pages (no autosummary stubs)
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

nitpicky = False
html_theme = "alabaster"
html_static_path = []
# the Markdown pages are shipped beside the HTML so that index.rst can link to them
html_extra_path = [p for p in ("architecture.md", "conventions.md") if os.path.exists(os.path.join(HERE, p))]
