"""Argument checks shared by the problem constructors: every error names the argument and the fix.

Also the memory estimate that refuses absurd sizes before anything is allocated
(:func:`check_memory`, :class:`ProblemTooLargeError`).
"""
from __future__ import annotations

import numbers

import numpy as np

from solvers._masks import refuse_masked


class ProblemTooLargeError(MemoryError, ValueError):
    """The problem would need more memory than this machine has (raised before allocating).

    A :class:`MemoryError` and a :class:`ValueError`, so ``except ValueError``
    (bad arguments) catches it too.
    """


from solvers._config import MEMORY_FRACTION, memory_limit  # noqa: E402,F401  (one limit for solvers and problems)


def fmt_bytes(n: float) -> str:
    """``1.5 GB`` style (powers of 1000, as memory is sold)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000.0
    return f"{n:.3g} EB"  # pragma: no cover


def check_memory(what: str, nbytes: float, fix: str) -> None:
    """Raise :class:`ProblemTooLargeError` when ``nbytes`` exceeds :func:`memory_limit`."""
    limit = memory_limit()
    if nbytes > limit:
        raise ProblemTooLargeError(f"{what} needs about {fmt_bytes(nbytes)} of memory, more than the "
                                   f"{fmt_bytes(limit)} available to it (set NEWTONKIT_MEMORY_LIMIT to change "
                                   f"the limit); {fix}")


# ------------------------------------------------------------------------------ scalars
def real_scalar(name: str, v, *, positive: bool = False, nonneg: bool = False, finite: bool = True) -> float:
    """A real number (Python or NumPy scalar, or a 0-d real array), as float."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got the boolean {v!r}")
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, (complex, np.complexfloating)):
        raise TypeError(f"{name} must be a real number, got the complex value {v!r}")
    if not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__} {v!r:.60}")
    try:
        f = float(v)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got an integer too large for a double ({str(v)[:20]}...)") from None
    if finite and not np.isfinite(f):
        raise ValueError(f"{name} must be finite, got {v!r}")
    if positive and not f > 0:
        raise ValueError(f"{name} must be > 0, got {v!r}")
    if nonneg and not f >= 0:
        raise ValueError(f"{name} must be >= 0, got {v!r}")
    return f


def boolean(name: str, v) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(v).__name__} {v!r:.60}")
    return bool(v)


def count(name: str, v, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bools and floats refused)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(v).__name__} {v!r:.60}")
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


# ------------------------------------------------------------------------------ arrays
def real_array(name: str, v, *, ndims=None, finite: bool = True, nonneg: bool = False,
               what: str = "array") -> np.ndarray:
    """``v`` as a float64 array; TypeError for non-real data, ValueError for the wrong ndim / NaN / negatives."""
    if v is None:
        raise TypeError(f"{name} must be a real {what}, got None")
    if isinstance(v, (str, bytes)):
        raise TypeError(f"{name} must be a real {what}, got the string {v!r:.60}")
    if hasattr(v, "toarray") and hasattr(v, "nnz"):     # scipy.sparse: np.asarray made a 0-d object array
        raise TypeError(f"{name} must be a dense real {what}, got a scipy.sparse {type(v).__name__}; pass "
                        f"{name}.toarray() (every entry of it is used)")
    refuse_masked(name, v)
    if type(v).__module__.startswith("cupy"):
        v = v.get()
    try:
        arr = np.asarray(v)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a real {what} of numbers; it could not be read as one "
                         f"(ragged or mixed nesting?): {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a real {what} of numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}; pass the real part "
                        f"explicitly ({name}.real) if that is what you mean")
    if ndims is not None and arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        want = "" if what.startswith(want + " ") else want + " "     # what="1-D weight vector": not "a 1-D 1-D ..."
        raise ValueError(f"{name} must be a {want}{what}, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if finite and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains NaN or inf ({bad} of {arr.size} entries); give finite values")
    if nonneg and arr.size and arr.min() < 0:
        raise ValueError(f"{name} has negative entries (min {arr.min():.3g}); it must be non-negative")
    return arr


def grid_shape(name: str, v):
    """Interior points per axis: a sequence of 2 or 3 positive integers (not a string or bytes)."""
    if isinstance(v, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be a tuple of 2 or 3 positive integers (interior points per axis), "
                        f"got {type(v).__name__} {v!r:.60}")
    from solvers.operators import stencil

    return stencil._check_shape(v)


def domain(name: str, v, d: int):
    """``d`` pairs (lo, hi) of finite numbers with hi > lo."""
    if v is None:
        return [(0.0, 1.0)] * d
    if isinstance(v, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of {d} (lo, hi) pairs, got the string {v!r:.60}")
    try:
        pairs = [tuple(p) for p in v]
    except TypeError:
        raise TypeError(f"{name} must be a sequence of {d} (lo, hi) pairs, e.g. {[(0.0, 1.0)] * d}; "
                        f"got {v!r:.80}") from None
    if len(pairs) != d or any(len(p) != 2 for p in pairs):
        raise ValueError(f"{name} must be {d} (lo, hi) pairs, one per axis of the grid, got {v!r:.80}")
    out = []
    for a, (lo, hi) in enumerate(pairs):
        lo = real_scalar(f"{name}[{a}][0]", lo)
        hi = real_scalar(f"{name}[{a}][1]", hi)
        if not hi > lo or not np.isfinite(hi - lo):
            raise ValueError(f"{name}[{a}] must have hi > lo (and a finite length), got ({lo!r}, {hi!r})")
        out.append((lo, hi))
    return out


__all__ = ["ProblemTooLargeError", "MEMORY_FRACTION", "memory_limit", "fmt_bytes", "check_memory",
           "real_scalar", "boolean", "count", "real_array", "grid_shape", "domain"]
