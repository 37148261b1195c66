"""Boundary checks of the Krylov solvers: the system (``A``, ``b``, ``x0``, ``M``) and the options,
validated and converted once, on entry, with errors that name the argument and the fix."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends as _backends
from .._masks import refuse_masked
from .._scalar import unwrap
from ..operators import base as _ops

_F64 = np.dtype(np.float64)
_COMPLEX_MSG = ("complex systems are not supported by the newtonkit Krylov solvers; solve the real "
                "equivalent [[Re A, -Im A], [Im A, Re A]] [Re x; Im x] = [Re b; Im b] instead")


@dataclass
class System:
    A: Any            # LinearOperator
    A_raw: Any        # what the user passed (for optional fast methods)
    b: Any
    x: Any            # initial guess (float64 copy, writable) or None when x0 is None
    M: Any            # LinearOperator or None
    M_raw: Any
    be: Any
    n: int
    maxiter: int
    rtol: float
    atol: float
    bmax: float = math.nan   # max |b| (measured by the finiteness scan of b; NaN: not measured)
    bsq: float = math.nan    # b . b from the same scan (NaN: not measured)


def _check_finite_array(xp, a, name):
    if a.size and not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{name} contains NaN or inf; pass finite values")


def _check_operator_finite(op, be, name):
    """Check the stored entries of dense / sparse / diagonal operators (others cannot be checked).

    The scan runs once per operator: a passed check is remembered on the operator
    (``op._finite_checked``; operators are immutable in practice, see
    :mod:`solvers.operators.base`), so a Newton loop that calls a solver with the
    same operator many times scans its matrix once.
    """
    if getattr(op, "_finite_checked", False):
        return
    xp = be.xp
    data = None
    if isinstance(op, _ops.DenseOperator):
        data = op.A
    elif isinstance(op, _ops.SparseOperator):
        data = op.A.data
    elif isinstance(op, _ops.DiagonalOperator):
        data = op.d
    if data is not None:
        _check_finite_array(xp, data, name)
        op._finite_checked = True


def _is_complex_dtype(dt) -> bool:
    return dt is not None and np.issubdtype(np.dtype(dt), np.complexfloating)


def _as_vector(be, v, n, name, shape_of_A, *, copy=True, check_finite=True, grid=None):
    """``v`` as a float64 C-ordered backend vector of length ``n`` (a private copy when ``copy``; else the
    caller's array when it already is one: ``b`` is only read by the solvers), checked finite. ``grid``: the
    operator's grid shape (a stencil operator's ``grid_shape``), also accepted for ``v`` (flattened in C order:
    the layout the operator and ``solvers.solve``'s grid-shaped solutions use)."""
    xp = be.xp
    refuse_masked(name, v)
    if not hasattr(v, "shape"):
        v = np.asarray(v)
    if _is_complex_dtype(v.dtype):
        raise TypeError(f"{name} is complex: {_COMPLEX_MSG}")
    if not (np.issubdtype(np.dtype(v.dtype), np.number) or np.dtype(v.dtype) == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {v.dtype}")
    v = be.asarray(v)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v.reshape(-1)
    if grid is not None and tuple(v.shape) == tuple(grid) and v.size == n:
        v = v.reshape(-1)
    if v.shape != (n,):
        raise ValueError(f"{name} has shape {tuple(v.shape)}, expected ({n},) to match A with shape {shape_of_A}")
    v = xp.array(v, dtype=xp.float64, order="C", copy=True) if copy else xp.ascontiguousarray(v, dtype=xp.float64)
    if check_finite:
        _check_finite_array(xp, v, name)
    return v


def _as_rhs(be, b, n, shape_of_A):
    """The right-hand side: not copied (only read), and finite, with ``max |b|`` and ``b . b`` from the same scan
    (one pass instead of a finiteness pass, a max pass and the norm's; the max is NaN or inf exactly when ``b`` is
    not finite)."""
    v = _as_vector(be, b, n, "b", shape_of_A, copy=False, check_finite=False)
    bmax, bsq = be.kernels("krylov").select(n).absmax_sq(v)    # one pass (NaN / inf when b is not finite)
    if not math.isfinite(bmax):
        raise ValueError("b contains NaN or inf; pass finite values")
    return v, float(bmax), float(bsq)


def _as_operator(obj, be, name):
    """``obj`` (argument ``name``: ``"A"`` or ``"M"``) as a LinearOperator on ``be``, or an error naming it."""
    refuse_masked(name, obj)
    if not isinstance(obj, _ops.LinearOperator) and not hasattr(obj, "matvec"):
        arr = obj
        if isinstance(obj, (list, tuple)):
            try:
                arr = np.asarray(obj)
            except ValueError:
                raise ValueError(f"{name} is a ragged nested list; pass a 2-D array or an operator") from None
        nd = getattr(arr, "ndim", None)
        if nd is not None and nd != 2:
            raise ValueError(f"{name} must be a 2-D array or operator, got a {nd}-D array of shape "
                             f"{tuple(arr.shape)}")
        dt = getattr(arr, "dtype", None)
        if dt is not None and np.dtype(dt).kind not in "biufc":
            raise TypeError(f"{name} must hold numbers, got dtype {dt}; pass a float64 array or an operator")
    try:
        return _ops.aslinearoperator(obj, backend=be)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    except TypeError:
        if isinstance(obj, _ops.LinearOperator):
            raise
        if callable(obj):
            raise TypeError(f"{name} is a plain callable; wrap it as an operator with "
                            f"solvers.operators.FunctionOperator(shape, matvec), or use solvers.cdm, which "
                            "accepts any callable approximate inverse") from None
        raise TypeError(f"{name} of type {type(obj).__name__} is not an operator: pass a dense array, a sparse "
                        "matrix, a LinearOperator or an object with shape, dtype and matvec(x)") from None


def _check_operator_dtype(op, name):
    dt = np.dtype(op.dtype) if op.dtype is not None else _F64
    if dt.kind == "c":
        raise TypeError(f"{name} is complex: {_COMPLEX_MSG}")
    if dt.kind not in "biuf":
        raise TypeError(f"{name} has dtype {dt}; it must be a real numeric operator (float64)")


def check_nonnegative(name, v, example):
    """``v`` as a float: a finite real number >= 0 (``TypeError`` / ``ValueError`` naming ``name``)."""
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0 (e.g. {name}={example}), got {type(v).__name__} {v!r}")
    v = float(v)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (e.g. {name}={example}), got {v!r}")
    return v


def check_count(name, v, *, minimum=0, allow_none=False, what="an integer"):
    """``v`` as an int >= ``minimum`` (None passes through when ``allow_none``); errors name ``name``."""
    if v is None and allow_none:
        return None
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        extra = " or None" if allow_none else ""
        raise TypeError(f"{name} must be {what} >= {minimum}{extra}, got {type(v).__name__} {v!r}"
                        + (f"; pass {name}={int(v)}" if isinstance(v, float) and math.isfinite(v)
                           and v == int(v) and v >= minimum else ""))
    if v < minimum:
        raise ValueError(f"{name} must be {what} >= {minimum}, got {v!r}")
    return int(v)


def prepare(A, b, x0, M, backend, rtol, atol, maxiter, *, allow_callable_M=False) -> System:
    """Validate and convert the inputs of a Krylov solve (once, on entry)."""
    rtol = check_nonnegative("rtol", rtol, "1e-8")
    atol = check_nonnegative("atol", atol, "0.0")
    maxiter = check_count("maxiter", maxiter, allow_none=True)
    be = _backends.get_backend(backend, A, b, x0)
    op = _as_operator(A, be, "A")
    _check_operator_dtype(op, "A")
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"A must be square, got shape {op.shape}; for least squares use a normal-equations "
                         "operator or a dedicated solver")
    n = op.shape[0]
    _check_operator_finite(op, be, "A")
    b, bmax, bsq = _as_rhs(be, b, n, op.shape)
    x = None if x0 is None else _as_vector(be, x0, n, "x0", op.shape, grid=getattr(op, "grid_shape", None))

    Mop = None
    if M is not None:
        if allow_callable_M and callable(M) and not hasattr(M, "matvec"):
            Mop = M
        else:
            Mop = _as_operator(M, be, "M")
            if Mop.shape != (n, n):
                raise ValueError(f"M has shape {Mop.shape}, expected ({n}, {n}) to match A; M approximates "
                                 "A^-1 and must be square of A's size")
            _check_operator_dtype(Mop, "M")
            _check_operator_finite(Mop, be, "M")
    if maxiter is None:
        maxiter = 10 * n
    return System(op, A, b, x, Mop, M, be, n, maxiter, rtol, atol, bmax, bsq)


#: rows a Krylov basis / direction store starts with; it doubles as the iterations need more, up to its limit
FIRST_ROWS = 32


def grown(xp, arr, rows: int, limit: int, what: str, hessenberg: bool = False):
    """``arr`` (rows x columns, NumPy or CuPy) with at least ``rows`` rows: a copy doubled in rows up to ``limit``
    when it has fewer. A large ``restart`` (gmres) or ``k`` (cdm) allocated all ``limit`` rows up front: 32 GiB for
    restart=10**6 on a 256^2 grid that converges in 6 iterations, as NumPy's MemoryError naming no argument
    (helper-137); memory now follows the iterations run, and running out names ``what``."""
    if arr.shape[0] >= rows:
        return arr
    new = min(max(rows, 2 * arr.shape[0]), limit)
    shape = (new,) + tuple(arr.shape[1:])
    if hessenberg:                     # a (rows, rows - 1) Hessenberg matrix grows in both axes, zero-filled
        shape = (new, new - 1)
    try:
        out = xp.zeros(shape, dtype=arr.dtype) if hessenberg else xp.empty(shape, dtype=arr.dtype)
    except MemoryError:
        gib = 8.0 * float(np.prod(shape)) / 2 ** 30
        raise MemoryError(f"{what}: the stored vectors grew to {shape[0]} x {shape[1] if len(shape) > 1 else 1} "
                          f"doubles ({gib:.3g} GiB) and memory ran out; use a smaller one") from None
    out[tuple(slice(0, m) for m in arr.shape)] = arr
    return out

