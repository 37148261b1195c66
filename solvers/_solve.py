"""``solvers.solve(problem, method=..., backend=...)``: dispatch a problem to a routine.

A problem declares the methods it accepts in ``problem.methods`` (first = default),
and only methods listed in :data:`LINEAR` or :data:`PROBLEM_LEVEL` (a test checks
that every method a problem in :mod:`problems` declares dispatches).

* Linear methods (``cg``, ``minres``, ``gmres``, ``cdm``): the problem provides
  ``operator(backend)``, ``rhs(backend)``, optionally
  ``preconditioner(name, backend)`` (named in ``problem.preconditioners``) and
  ``finalize(result, backend)`` (e.g. to reshape the solution to the grid).
* Problem-level routines (``sinkhorn``, ``sns``, ``auto`` -- the OT choice between
  the two --, ``sketched_newton``) take the problem object itself as their first argument.
* Nonlinear-system routines (``newton_krylov``): the problem provides
  ``nonlinear_system(backend)``, the keyword arguments of the routine (``F``,
  ``x0``, and optionally ``jac``/``jvp``, ``M``), and optionally
  ``finalize(result, backend)``.

Options are passed on by keyword; an option the routine does not take raises a
:class:`TypeError` that lists the ones it does.
"""
from __future__ import annotations

import importlib
import inspect

from . import backends as _backends

LINEAR = {"cg": "solvers.linear.cg", "minres": "solvers.linear.minres",
          "gmres": "solvers.linear.gmres", "cdm": "solvers.linear.cdm"}
PROBLEM_LEVEL = {"sinkhorn": "solvers.ot.sinkhorn", "sns": "solvers.ot.sns",
                 "sketched_newton": "solvers.nonlinear.sketched_newton",
                 "auto": "solvers.ot.auto"}        # OT: Sinkhorn or SNS by the measured rule of solvers.ot.auto
NONLINEAR = {"newton_krylov": "solvers.nonlinear.newton_krylov"}
_ALL = {**LINEAR, **PROBLEM_LEVEL, **NONLINEAR}

# arguments solve() supplies itself (problem-level routines: also their first parameter, the problem,
# and the marginals and eps a routine takes beside a cost matrix; the problem carries those)
_SUPPLIED_LINEAR = ("A", "b", "M", "backend")
_SUPPLIED_PROBLEM = ("a", "b", "eps", "backend")
_SUPPLIED_NONLINEAR = ("F", "x0", "jac", "jvp", "M", "backend")


def _routine(method: str):
    return getattr(importlib.import_module(_ALL[method]), method)


def accepted_options(method: str) -> tuple[str, ...]:
    """The keyword options ``solve(problem, method=method, ...)`` passes on to the routine."""
    if method not in _ALL:
        raise ValueError(f"newtonkit has no routine {method!r}; known: {', '.join(_ALL)}")
    params = list(inspect.signature(_routine(method)).parameters.values())
    if method in LINEAR:
        supplied = _SUPPLIED_LINEAR
    elif method in NONLINEAR:
        supplied = _SUPPLIED_NONLINEAR
    else:
        supplied, params = _SUPPLIED_PROBLEM, params[1:]
    return tuple(p.name for p in params
                 if p.name not in supplied and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _check_options(method: str, problem, options: dict) -> None:
    if "M" in options:
        if method in LINEAR:
            offers = ", ".join(map(repr, getattr(problem, "preconditioners", ()))) or "none"
            raise TypeError(
                f"solve() builds the preconditioner from the problem: pass precond=<name> (this problem offers: "
                f"{offers}; or None). For your own M, call the routine on the problem's operator: "
                f"solvers.{method}(problem.operator(be), problem.rhs(be), M=M, backend=be)")
        if "M" in inspect.signature(_routine(method)).parameters:     # ('does not take one' was false: helper-142)
            raise TypeError(f"solve() takes {method}'s preconditioner from the problem; for your own M call the "
                            f"routine itself, e.g. solvers.{method}(**problem.nonlinear_system(be), M=M)")
        raise TypeError(f"M= is a preconditioner for linear methods; {method!r} does not take one")
    accepted = accepted_options(method)
    unknown = sorted(set(options) - set(accepted))
    takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(_routine(method)).parameters.values())
    if unknown and not takes_any:
        raise TypeError(f"solve(method={method!r}) got unknown option(s) {', '.join(unknown)}; "
                        f"solvers.{method} accepts: {', '.join(accepted)}"
                        + (" (and precond= for the problem's preconditioner)" if method in LINEAR else ""))


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
        ``"chebyshev"``, ``None``); must be one the problem offers. A
        preconditioner object cannot be passed here (``M=`` raises): call
        ``solvers.cg(problem.operator(be), problem.rhs(be), M=M)`` instead.
    **options
        Passed on to the routine by keyword (``rtol``, ``tol``, ``maxiter``,
        ``callback`` ...); see :func:`accepted_options`. A problem may
        recommend options per routine in ``problem.solve_defaults`` (a dict
        ``{method: {option: value}}``, e.g. ``PoissonControl``: MINRES instead of
        a sketch); the options given here override them.

    Returns
    -------
    SolveResult

    Raises
    ------
    TypeError
        ``problem`` declares no methods, ``M=`` was given, or an option the
        routine does not take.
    ValueError
        ``method`` is not one the problem declares, or ``precond`` does not apply.
    """
    if isinstance(problem, type):
        raise TypeError(f"problem: got the class {problem.__name__}, not a problem; pass an instance, e.g. "
                        f"solvers.solve({problem.__name__}(...)) with its data (problems.pde.Poisson((64, 64)))")
    if not hasattr(problem, "methods"):
        raise TypeError(f"problem: {type(problem).__name__} does not declare `methods`; it is not a newtonkit problem "
                        "(pass an object from the problems package, e.g. problems.pde.Poisson)")
    methods = tuple(problem.methods)
    if not methods:
        raise TypeError(f"{type(problem).__name__} declares no methods that solvers.solve can run "
                        f"(problem.methods is empty); use its own interface with a routine directly")
    if method is None:
        method = methods[0]
    if not isinstance(method, str):
        raise TypeError(f"method must be a string naming a routine (one of: {', '.join(methods)}), "
                        f"got {type(method).__name__} {method!r:.60}")
    if method not in methods:
        raise ValueError(f"method {method!r} does not fit {type(problem).__name__}; choose one of: {', '.join(methods)}")
    if method not in _ALL:
        raise ValueError(f"method {method!r} is declared by {type(problem).__name__} but newtonkit has no such "
                         f"routine; known: {', '.join(_ALL)}")
    _check_options(method, problem, options)
    if precond is not None and method not in LINEAR:
        raise ValueError(f"precond= applies to linear methods only, not {method!r}")
    if precond is not None:
        offers = tuple(getattr(problem, "preconditioners", ()))
        if not isinstance(precond, str):
            raise TypeError(f"precond must be the name of one of the problem's preconditioners "
                            f"({', '.join(map(repr, offers)) or 'none'}) or None, got {type(precond).__name__}; "
                            f"for your own preconditioner M call solvers.{method}(problem.operator(be), "
                            "problem.rhs(be), M=M, backend=be)")
        if offers and precond not in offers:
            raise ValueError(f"precond={precond!r} is not offered by {type(problem).__name__}; choose one of "
                             f"{', '.join(map(repr, offers))} or None")
    be = _backends.get_backend(backend)
    routine = _routine(method)
    # a problem may recommend options for a routine (``solve_defaults``); the caller's win
    options = {**dict(getattr(problem, "solve_defaults", {}).get(method, {})), **options}
    if method in PROBLEM_LEVEL:
        return routine(problem, backend=be, **options)
    if method in NONLINEAR:
        res = routine(**{**problem.nonlinear_system(be), "backend": be}, **options)
        return problem.finalize(res, be) if hasattr(problem, "finalize") else res
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


__all__ = ["solve", "accepted_options", "LINEAR", "PROBLEM_LEVEL", "NONLINEAR"]
