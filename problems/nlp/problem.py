"""The equality-constrained problem ``min f(x) s.t. c(x) = 0`` as a bundle of callables.

:class:`EqualityConstrainedProblem` holds the five callables a Newton-type
method for equality constraints needs (objective, gradient, constraints,
constraint Jacobian, Hessian of the Lagrangian) and the starting point. It
checks them once, at ``x0``, when it is built, and keeps them under the same
names, so a solver calls ``prob.f(x)``, ``prob.grad(x)``, ``prob.c(x)``,
``prob.jac(x)`` and ``prob.hess_lagrangian(x, lam)`` directly.

The Lagrangian is ``L(x, lam) = f(x) + lam^T c(x)``; its stationarity
condition is ``grad(x) + jac(x)^T lam = 0``. The sketched inexact-Newton
method for which these problems were collected is

    I. Hong, S. Na, M. W. Mahoney, M. Kolar, "Constrained optimization via
    exact augmented Lagrangian and randomized iterative sketching",
    ICML 2023 (arXiv:2305.18379).
"""
from __future__ import annotations

import pickle
from typing import Callable

import numpy as np

from .. import _checks

_CALLABLES = ("f", "grad", "c", "jac", "hess_lagrangian")


def _shape_of(a) -> tuple:
    """The shape of a dense array, a SciPy sparse matrix or an operator (anything with ``shape``)."""
    shape = getattr(a, "shape", None)
    if shape is None:
        raise TypeError(f"expected an array, a sparse matrix or an operator with .shape, got {type(a).__name__}")
    return tuple(int(s) for s in shape)


def _check_finite_matrix(what: str, a) -> None:
    """A dense or sparse matrix must be real and finite; an operator is checked by its products later."""
    if hasattr(a, "tocsr"):
        data = np.asarray(a.tocsr().data)
    elif isinstance(a, np.ndarray):
        data = a
    else:
        return
    if data.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a real matrix, got dtype {data.dtype}")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{what} is not finite (NaN or inf entries); give a starting point where it is defined")


def jac_t_dot(J, v: np.ndarray) -> np.ndarray:
    """``J^T v`` for a dense or sparse Jacobian, or an operator with ``rmatvec``."""
    if isinstance(J, np.ndarray) or hasattr(J, "tocsr"):
        return np.asarray(J.T @ v).ravel()
    if hasattr(J, "rmatvec"):
        return np.asarray(J.rmatvec(v)).ravel()
    raise TypeError(f"the Jacobian ({type(J).__name__}) has no transpose product: return an array, a sparse "
                    "matrix or an operator with rmatvec")


class EqualityConstrainedProblem:
    """``min f(x)`` subject to ``c(x) = 0``, with ``x`` in R^n and ``c(x)`` in R^m.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``, the objective.
    grad : callable
        ``grad(x) -> (n,)`` array, the gradient of ``f``.
    c : callable
        ``c(x) -> (m,)`` array, the equality constraints.
    jac : callable
        ``jac(x) -> (m, n)``: the Jacobian of ``c`` as a dense array, a SciPy
        sparse matrix, or an operator with ``shape``, ``matvec`` and ``rmatvec``.
    hess_lagrangian : callable
        ``hess_lagrangian(x, lam) -> (n, n)``: the Hessian of
        ``f(x) + lam^T c(x)`` in ``x``, dense or an operator.
    x0 : array_like
        Starting point, 1-D and finite (kept as a float64 copy).
    name : str, optional
        Short name (e.g. ``"HS47"``); default ``"nlp"``.
    f_star : float, optional
        The published optimal objective value, when known.
    x_star : array_like, optional
        A published optimal point, when known (shape ``(n,)``).
    lam0 : array_like, optional
        Starting multipliers, shape ``(m,)``; default ``None``: the solver chooses
        (:func:`solvers.sketched_newton` takes safeguarded least-squares multipliers).
    source : str, optional
        Where the problem and its optimum come from.

    Attributes
    ----------
    n, m : int
        Numbers of variables and constraints (``m`` from ``c(x0)``, evaluated once).
    methods : tuple of str
        Routines of :func:`solvers.solve` that accept the problem.

    Raises
    ------
    TypeError
        A callable argument is not callable, ``x0`` is not a real array, or a
        dense/sparse ``jac(x0)`` or ``hess_lagrangian(x0, lam0)`` is complex.
    ValueError
        ``x0`` is not 1-D or not finite, or ``f``, ``grad``, ``c``, ``jac`` or
        ``hess_lagrangian`` give a value of the wrong shape (or a non-finite
        value) at ``x0``.

    Notes
    -----
    Everything is checked once, at ``x0``: later evaluations are the
    solver's business. Built-in problems use module-level functions or bound
    methods of module-level classes, so they pickle; a problem built from a
    lambda or a nested function refuses to pickle with a message that says so.

    References
    ----------
    I. Hong, S. Na, M. W. Mahoney, M. Kolar, ICML 2023, arXiv:2305.18379.

    Examples
    --------
    >>> import numpy as np
    >>> from problems import nlp
    >>> p = nlp.hs("HS28")
    >>> p.n, p.m, p.f_star
    (3, 1, 0.0)
    >>> float(np.linalg.norm(p.c(p.x_star)))
    0.0
    """

    methods = ("sketched_newton",)

    def __init__(self, f: Callable, grad: Callable, c: Callable, jac: Callable, hess_lagrangian: Callable,
                 x0, *, name: str | None = None, f_star: float | None = None, x_star=None, lam0=None,
                 source: str | None = None):
        for attr, fn in zip(_CALLABLES, (f, grad, c, jac, hess_lagrangian)):
            if not callable(fn):
                raise TypeError(f"{attr} must be callable (a function of x{', lam' if attr.startswith('hess') else ''}"
                                f"), got {type(fn).__name__} {fn!r:.60}")
        self.f, self.grad, self.c, self.jac, self.hess_lagrangian = f, grad, c, jac, hess_lagrangian
        self.x0 = _checks.real_array("x0", x0, ndims=(1,), what="1-D starting point").copy()
        if self.x0.size == 0:
            raise ValueError("x0 must have at least one entry, got an empty array")
        self.n = n = self.x0.size
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {type(name).__name__}")
        if source is not None and not isinstance(source, str):
            raise TypeError(f"source must be a string or None, got {type(source).__name__}")
        self.name = name if name is not None else "nlp"
        self.source = source
        self.f_star = None if f_star is None else _checks.real_scalar("f_star", f_star)
        self.x_star = None
        if x_star is not None:
            self.x_star = _checks.real_array("x_star", x_star, ndims=(1,), what="1-D point").copy()
            if self.x_star.size != n:
                raise ValueError(f"x_star must have n = {n} entries (like x0), got {self.x_star.size}")
        self.m = m = self._check_at_x0()
        if lam0 is None:
            self.lam0 = None
        else:
            self.lam0 = _checks.real_array("lam0", lam0, ndims=(1,), what="1-D multiplier vector").copy()
            if self.lam0.size != m:
                raise ValueError(f"lam0 must have m = {m} entries (one per constraint), got {self.lam0.size}")
        self._check_hessian(np.zeros(m) if self.lam0 is None else self.lam0)

    # ---------------------------------------------------------------- checks at x0
    def _check_at_x0(self) -> int:
        x, n = self.x0.copy(), self.n
        fx = self.f(x)
        if np.ndim(fx) != 0 or isinstance(fx, (bool, np.bool_, str, bytes)):
            raise TypeError(f"f(x0) must return a real number, got {type(fx).__name__} of shape {np.shape(fx)}")
        _checks.real_scalar("f(x0)", np.asarray(fx)[()])
        g = _checks.real_array("grad(x0)", self.grad(x), finite=False)     # object / str / complex: named (helper-156)
        if g.shape != (n,):
            raise ValueError(f"grad(x0) must return an array of shape (n,) = ({n},), got shape {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError("grad(x0) is not finite; give a starting point where the gradient is defined")
        cx = _checks.real_array("c(x0)", self.c(x), finite=False)
        if cx.ndim != 1 or cx.size == 0:
            raise ValueError(f"c(x0) must return a non-empty 1-D array (one value per constraint), got shape "
                             f"{cx.shape}; for an unconstrained problem use solvers.newton")
        if not np.all(np.isfinite(cx)):
            raise ValueError("c(x0) is not finite; give a starting point where the constraints are defined")
        m = cx.size
        J = self.jac(x)
        try:
            jshape = _shape_of(J)
        except TypeError as exc:
            raise TypeError(f"jac(x0): {exc}") from None
        if jshape != (m, n):
            raise ValueError(f"jac(x0) must have shape (m, n) = ({m}, {n}) (m from c(x0), n from x0), got {jshape}")
        _check_finite_matrix("jac(x0)", J)
        return m

    def _check_hessian(self, lam: np.ndarray) -> None:
        H = self.hess_lagrangian(self.x0.copy(), lam.copy())
        try:
            hshape = _shape_of(H)
        except TypeError as exc:
            raise TypeError(f"hess_lagrangian(x0, lam0): {exc}") from None
        if hshape != (self.n, self.n):
            raise ValueError(f"hess_lagrangian(x0, lam0) must have shape (n, n) = ({self.n}, {self.n}), got {hshape}")
        _check_finite_matrix("hess_lagrangian(x0, lam0)", H)

    # ---------------------------------------------------------------- conveniences
    def lagrangian_gradient(self, x, lam) -> np.ndarray:
        """``grad(x) + jac(x)^T lam``, the gradient of the Lagrangian in ``x``."""
        x = np.asarray(x, dtype=np.float64)
        return np.asarray(self.grad(x), dtype=np.float64) + jac_t_dot(self.jac(x), np.asarray(lam, dtype=np.float64))

    def kkt_residual(self, x, lam) -> float:
        """``sqrt(||grad L(x, lam)||^2 + ||c(x)||^2)``, zero exactly at a KKT point."""
        x = np.asarray(x, dtype=np.float64)
        gl = self.lagrangian_gradient(x, lam)
        cx = np.asarray(self.c(x), dtype=np.float64)
        return float(np.sqrt(gl @ gl + cx @ cx))

    def least_squares_multipliers(self, x) -> np.ndarray:
        """The ``lam`` minimising ``||grad(x) + jac(x)^T lam||`` (a dense least-squares solve; small problems)."""
        x = np.asarray(x, dtype=np.float64)
        Jt = np.column_stack([jac_t_dot(self.jac(x), e) for e in np.eye(self.m)])  # n x m, any Jacobian form
        return np.linalg.lstsq(Jt, -np.asarray(self.grad(x), dtype=np.float64), rcond=None)[0]

    def describe(self) -> dict:
        """Plain-data description stored with runs (see :class:`solvers.RunStore`)."""
        return {"problem": "EqualityConstrainedProblem", "name": self.name, "n": int(self.n), "m": int(self.m),
                "source": self.source, "f_star": self.f_star}

    def __repr__(self) -> str:
        fs = "" if self.f_star is None else f", f_star={self.f_star:.10g}"
        return f"EqualityConstrainedProblem(name={self.name!r}, n={self.n}, m={self.m}{fs})"

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        """The callables must pickle; a lambda or nested function is reported by name."""
        for attr in _CALLABLES:
            v = getattr(self, attr)
            qual = getattr(v, "__qualname__", "")
            if "<lambda>" in qual or "<locals>" in qual:
                raise pickle.PicklingError(
                    f"EqualityConstrainedProblem.{attr} is {qual!r}, a lambda or nested function, which the standard "
                    f"pickle cannot ship to another process; define {attr} as a module-level function or a method of "
                    "a module-level class (or functools.partial of one)")
        return self.__dict__.copy()


__all__ = ["EqualityConstrainedProblem", "jac_t_dot"]
