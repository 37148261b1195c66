"""``python -m solvers``: the ``newtonkit`` command line (:mod:`solvers.cli`)."""
from .cli import main

raise SystemExit(main())
