"""Work arrays kept on an object between calls (one call at a time).

A call that needs a few large temporaries (the mapped points of a Chebyshev–Tucker evaluation, the
bucketing arrays of its slab form) and allocates them afresh pays their page faults every time once
the allocator has handed the pages back to the system, which glibc does when a large free block tops
its heap. On a virtual machine a fault is dear: ``ChebTucker`` at 10^6 points, rank 20, 2 threads took
147 ms with 5760 faults (33 ms of system time) per call, and 117 ms with its temporaries kept.

:func:`borrow` lends the arrays of a :class:`Scratch` to one caller at a time: a second caller (another
thread, or a nested call on the same object) gets an empty dict and allocates its own, so no two calls
ever share an array. :func:`take` returns a slice of a kept array big enough for the request, growing
it when needed. What is kept is bounded by the largest request (callers ask for batch-sized arrays).

:func:`shared` gives a process-wide :class:`Scratch` by name, for work arrays that do not belong to one
object: the batch buffers of Chebyshev–Tucker evaluation are the same whatever object is evaluated, so
one set serves them all (kept per object, a program evaluating many objects held a set for each:
session 29 measured 86 MB per object at batches of 2^20 points). :func:`shared_nbytes` counts them and
:func:`release_shared` drops those no call is using.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import _config


class Scratch:
    """The kept arrays of one object and the lock that lends them."""

    __slots__ = ("lock", "arrays", "__weakref__")

    def __init__(self):
        _config.fork_safe(self, "lock")         # made again in a forked child (a held lock would hang it)
        self.arrays: dict = {}


def scratch_of(obj, name: str = "_scratch") -> Scratch:
    """The :class:`Scratch` attribute ``name`` of ``obj`` (made on first use)."""
    s = getattr(obj, name, None)
    if s is None:
        s = Scratch()
        setattr(obj, name, s)
    return s


@contextlib.contextmanager
def borrow(s: Scratch):
    """``with borrow(s) as work:`` the kept arrays (a fresh empty dict when another call holds them)."""
    got = s.lock.acquire(blocking=False)
    try:
        yield s.arrays if got else {}
    finally:
        if got:
            s.lock.release()


_SHARED: dict = {}


def shared(name: str) -> Scratch:
    """The process-wide :class:`Scratch` called ``name`` (made on first use)."""
    s = _SHARED.get(name)
    if s is None:
        s = _SHARED.setdefault(name, Scratch())
    return s


def _nbytes(arrays) -> int:
    total = 0
    for a in list(arrays.values()):
        total += _nbytes(a) if isinstance(a, dict) else int(getattr(a, "nbytes", 0))
    return total


def shared_nbytes() -> int:
    """Bytes held by the process-wide work arrays of :func:`shared` (a snapshot: another thread's call may be
    growing them)."""
    return sum(_nbytes(s.arrays) for s in list(_SHARED.values()))


def release_shared() -> int:
    """Drop the process-wide work arrays no call is using now (those lent out stay with their call);
    returns the bytes dropped."""
    freed = 0
    for s in list(_SHARED.values()):
        if s.lock.acquire(blocking=False):
            try:
                freed += _nbytes(s.arrays)
                s.arrays.clear()
            finally:
                s.lock.release()
    return freed


def take(work: dict, key: str, shape, dtype=np.float64):
    """An uninitialised C-contiguous array of ``shape`` from ``work[key]`` (the leading rows of the kept
    array when its trailing shape and type match and it has enough rows; else a new one, kept)."""
    shape = tuple(int(k) for k in shape)
    dtype = np.dtype(dtype)
    a = work.get(key)
    if a is None or a.dtype != dtype or a.shape[1:] != shape[1:] or a.shape[0] < shape[0]:
        a = np.empty(shape, dtype)
        work[key] = a
    return a[:shape[0]]


__all__ = ["Scratch", "scratch_of", "borrow", "take", "shared", "shared_nbytes", "release_shared"]
