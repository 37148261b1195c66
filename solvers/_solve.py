"""``solvers.solve(problem, method=..., backend=...)``: dispatch a problem to a routine.

A problem declares the methods it accepts in ``problem.methods`` (first = default).

* Linear methods (``cg``, ``minres``, ``gmres``, ``cdm``): the problem provides
  ``operator(backend)``, ``rhs(backend)``, optionally
  ``preconditioner(name, backend)`` and ``finalize(result, backend)`` (e.g. to
  reshape the solution to the grid).
* Problem-level routines (``sinkhorn``, ``sns``)
  take the problem object itself as their first argument.
"""
from __future__ import annotations

import importlib

from . import backends as _backends

LINEAR = {"cg": "solvers.linear.cg", "minres": "solvers.linear.minres",
          "gmres": "solvers.linear.gmres", "cdm": "solvers.linear.cdm"}
PROBLEM_LEVEL = {"sinkhorn": "solvers.ot.sinkhorn", "sns": "solvers.ot.sns"}


def solve(problem, method: str | None = None, *, backend=None, precond=None, **options):
    """Solve ``problem`` with ``method`` on ``backend``.

    Parameters
    ----------
    problem
        A problem object from :mod:`problems` (or any object following the
        protocol described in this module).
    method : str, optional
        One of ``problem.methods``; the first is the default.
    backend : str or Backend, optional
    precond : str, optional
        Preconditioner name for linear methods (e.g. ``"mg"``, ``"jacobi"``,
        ``"chebyshev"``, ``None``); must be one the problem offers.
    **options
        Passed on to the routine (``rtol``, ``tol``, ``maxiter``...).

    Returns
    -------
    SolveResult
    """
    methods = tuple(getattr(problem, "methods", ()))
    if not methods:
        raise TypeError(f"{type(problem).__name__} does not declare `methods`; it is not a newtonkit problem")
    if method is None:
        method = methods[0]
    if method not in methods:
        raise ValueError(f"method {method!r} does not fit {type(problem).__name__}; choose one of: {', '.join(methods)}")
    be = _backends.get_backend(backend)
    if method in LINEAR:
        routine = getattr(importlib.import_module(LINEAR[method]), method)
        A = problem.operator(be)
        b = problem.rhs(be)
        M = None
        if precond is not None:
            if not hasattr(problem, "preconditioner"):
                raise ValueError(f"{type(problem).__name__} offers no preconditioners; pass precond=None")
            M = problem.preconditioner(precond, be)
        res = routine(A, b, M=M, backend=be, **options)
        res.options["precond"] = precond
        if precond is not None:
            res.method = f"{method}+{precond}"
        if hasattr(problem, "finalize"):
            res = problem.finalize(res, be)
        return res
    if precond is not None:
        raise ValueError(f"precond= applies to linear methods only, not {method!r}")
    if method in PROBLEM_LEVEL:
        routine = getattr(importlib.import_module(PROBLEM_LEVEL[method]), method)
        return routine(problem, backend=be, **options)
    raise ValueError(f"method {method!r} is declared by {type(problem).__name__} but newtonkit has no such routine")
