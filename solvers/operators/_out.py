"""Checks of the output array of the operators' fast products (``matvec_into`` / ``matvec_dot``)."""
import numpy as np


def overlaps(x, out) -> bool:
    """Whether ``out`` may share memory with ``x`` (O(1): the same object, or overlapping NumPy bounds, ndarray
    subclasses and memmaps included -- they skipped the check and the numba product came out wrong; a device
    array is compared by identity only)."""
    return x is out or (isinstance(x, np.ndarray) and isinstance(out, np.ndarray) and np.may_share_memory(x, out))


def check_out(who: str, x, out) -> None:
    """``out`` of a ``matvec_into`` / ``matvec_dot``: writable, floating, and not overlapping ``x`` (an aliased
    ``out`` was overwritten while ``x`` was still read: a silently wrong product; outside probe helper-82)."""
    if not getattr(getattr(out, "flags", None), "writeable", True):
        raise ValueError(f"{who}: out is read-only; pass a writable array")
    if np.dtype(out.dtype).kind not in "fc":
        raise TypeError(f"{who}: out has dtype {out.dtype}, which would truncate A x; pass a float64 array")
    if overlaps(x, out):
        raise ValueError(f"{who}: out shares memory with x, which is still being read; pass a separate array")


__all__ = ["overlaps", "check_out"]
