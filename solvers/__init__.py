"""newtonkit solvers: Newton, sketched Newton, Sinkhorn / Sinkhorn-Newton-Sparse,
Krylov and Chebyshev-Tucker routines on NumPy, Numba and CuPy backends.

Importing :mod:`solvers` loads NumPy only; routines (and Numba, SciPy, h5py)
are imported on first use.
"""
from __future__ import annotations

import importlib

from ._config import get_num_threads, set_num_threads
from ._workspace import release as release_workspace
from .backends import Backend, BackendUnavailableError, get_backend
from .results import SolveResult, Status

__version__ = "0.1.0"

# public name -> (module, attribute); resolved lazily so `import solvers` stays light
_LAZY = {
    "aslinearoperator": ("solvers.operators.base", "aslinearoperator"),
    "LinearOperator": ("solvers.operators.base", "LinearOperator"),
    "dot_test": ("solvers.operators._dottest", "dot_test"),
    "operators": ("solvers.operators", None),
    "cg": ("solvers.linear.cg", "cg"),
    "minres": ("solvers.linear.minres", "minres"),
    "gmres": ("solvers.linear.gmres", "gmres"),
    "cdm": ("solvers.linear.cdm", "cdm"),
    "linear": ("solvers.linear", None),
    "multigrid": ("solvers.linear.multigrid", "multigrid"),
    "sinkhorn": ("solvers.ot.sinkhorn", "sinkhorn"),
    "sns": ("solvers.ot.sns", "sns"),
    "newton": ("solvers.nonlinear.newton", "newton"),
    "newton_krylov": ("solvers.nonlinear.newton_krylov", "newton_krylov"),
    "sketched_newton": ("solvers.nonlinear.sketched_newton", "sketched_newton"),
    "chebtucker": ("solvers.approx", "chebtucker"),
    "ChebTucker": ("solvers.approx", "ChebTucker"),
    "approx": ("solvers.approx", None),
    "sweep": ("solvers.sweep", "sweep"),
    "nonlinear": ("solvers.nonlinear", None),
    "ot": ("solvers.ot", None),
    "RunStore": ("solvers.runs.store", "RunStore"),
    "solve": ("solvers._solve", "solve"),
}


def __getattr__(name):
    try:
        modname, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'solvers' has no attribute {name!r}") from None
    mod = importlib.import_module(modname)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["get_backend", "Backend", "BackendUnavailableError", "SolveResult", "Status",
           "set_num_threads", "get_num_threads", "release_workspace", *_LAZY]
