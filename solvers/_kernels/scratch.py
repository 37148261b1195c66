"""Work arrays kept between calls, on an object or process-wide (each set lent to one call at a time).

A call that needs a few large temporaries (the mapped points of a Chebyshev–Tucker evaluation, the
bucketing arrays of its slab form) and allocates them afresh pays their page faults every time once
the allocator has handed the pages back to the system, which glibc does when a large free block tops
its heap. On a virtual machine a fault is dear: ``ChebTucker`` at 10^6 points, rank 20, 2 threads took
147 ms with 5760 faults (33 ms of system time) per call, and 117 ms with its temporaries kept.

:func:`borrow` lends the arrays of a :class:`Scratch` to one caller at a time: a second caller (another
thread, or a nested call on the same object) gets an empty dict and allocates its own, so no two calls
ever share an array. :func:`take` returns a slice of a kept array big enough for the request, growing
it when needed. What is kept is bounded by the largest request (callers ask for batch-sized arrays).

:func:`borrow_shared` lends a process-wide set by name, for work arrays that do not belong to one object:
the batch buffers of Chebyshev–Tucker evaluation are the same whatever object is evaluated, so a few sets
serve them all (kept per object, a program evaluating many objects held a set for each: session 29
measured 86 MB per object at batches of 2^20 points). Concurrent calls each get a set of their own, up to
:data:`MAX_SETS`, so what is kept is bounded by ``MAX_SETS`` sets per name whatever the number of objects.
:func:`shared_nbytes` counts them and :func:`release_shared` drops those no call is using.
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


#: most sets of one name kept at once (concurrent calls beyond them allocate their own, not kept)
MAX_SETS = 4


class _Pool:
    """The named process-wide sets and the lock that guards making them."""

    def __init__(self):
        _config.fork_safe(self, "lock")
        self.sets: dict = {}


_POOL = _Pool()


def shared_sets(name: str) -> list:
    """The process-wide :class:`Scratch` sets called ``name`` made so far (a snapshot)."""
    return list(_POOL.sets.get(name, ()))


@contextlib.contextmanager
def borrow_shared(name: str):
    """``with borrow_shared(name) as work:`` the arrays of a process-wide set called ``name`` that no other
    call holds (one of at most :data:`MAX_SETS`, made on first need); a fresh empty dict when all are held."""
    got = None
    for s in shared_sets(name):
        if s.lock.acquire(blocking=False):
            got = s
            break
    if got is None:
        with _POOL.lock:
            sets = _POOL.sets.setdefault(name, [])
            if len(sets) < MAX_SETS:
                got = Scratch()
                got.lock.acquire()
                sets.append(got)
    try:
        yield got.arrays if got is not None else {}
    finally:
        if got is not None:
            got.lock.release()


def _nbytes(arrays) -> int:
    total = 0
    for a in list(arrays.values()):
        total += _nbytes(a) if isinstance(a, dict) else int(getattr(a, "nbytes", 0))
    return total


def shared_nbytes() -> int:
    """Bytes held by the process-wide work arrays of :func:`borrow_shared` (a snapshot: another thread's call
    may be growing them)."""
    return sum(_nbytes(s.arrays) for sets in list(_POOL.sets.values()) for s in list(sets))


def release_shared() -> int:
    """Drop the process-wide work arrays no call is using now (those lent out stay with their call);
    returns the bytes dropped."""
    freed = 0
    for sets in list(_POOL.sets.values()):
        for s in list(sets):
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


__all__ = ["Scratch", "scratch_of", "borrow", "take", "borrow_shared", "shared_sets", "shared_nbytes",
           "release_shared", "MAX_SETS"]
