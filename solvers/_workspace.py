"""Reused host work memory for the solvers' large arrays (a bounded pool, reference-counted).

Why: the first write to freshly allocated memory page-faults, and the operating system hands back
zeroed pages. On the benchmark machine (a virtual machine) one fresh 16 MiB vector cost 20-40 ms on
its first write, some 30-50 stencil matvecs of the 128^3 Poisson grid it belongs to, while a vector
written before costs nothing extra. A multigrid-preconditioned CG solve allocates a dozen such
arrays (CG's vectors, the levels' buffers) and spent 30-40 % of its time faulting them in
(``benchmarks/krylov_poisson.py``: page faults per solve against its time). Repeated solves of one
size -- a sweep, a Newton loop, a benchmark -- reuse this memory instead: :func:`empty` hands out
an array backed by a buffer the pool already owns when a free one of that size exists.

How a buffer is known to be free: the pool keeps every buffer it created (the owners) and hands out
views of them. NumPy keeps a reference from every view, and every view of a view, to the array that
owns the memory, so a buffer is free exactly when nothing but the pool refers to it: its reference
count is the pool's own (CPython's reference counting; :data:`ENABLED` is False elsewhere). A result
vector the caller keeps, a view of it, a slice of a slice, a memoryview -- each keeps its buffer out of
the pool until it is gone; nothing is ever handed out twice. (A raw pointer taken from
``arr.ctypes.data`` and used after every Python reference is gone is not tracked, as with any
allocator.)

Bounds: arrays under :data:`MIN_BYTES` use plain ``numpy.empty``; the pool's buffers, in use and free
together, stay under ``NEWTONKIT_WORKSPACE_MB`` (default 256 MiB, what MG-CG on 160^3 uses; ``0`` turns the
pool off: every process of a worker pool keeps its own). A request
that does not fit first drops free buffers of other sizes; if the buffers in use leave no room, the
array is a plain allocation. Free buffers stay allocated (that is the point) until then or until
:func:`release` drops them. Thread-safe; only NumPy arrays are pooled (other array modules -- CuPy --
have their own pools: :func:`empty` passes the request on to ``xp``).
"""
from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

from . import _config

#: arrays smaller than this (bytes) are plain allocations: malloc reuses small blocks itself
MIN_BYTES = 1 << 20
#: tests set this: :func:`empty` then fills what it hands out with NaN (integers: all bits set), so a kernel
#: reading an entry it did not write first shows in its result instead of passing on stale values
POISON = False

_lock = _config.fork_safe(sys.modules[__name__], "_lock", threading.RLock)   # renewed in a forked child
_pool: dict[int, list] = {}      # nbytes -> the owner buffers (uint8) of that size
_held = [0]                      # bytes owned by the pool


_LIMIT_SEEN = [None, 0]            # the last setting parsed and its bound (read on every request; parsed on change)


def _limit() -> int:
    """The bound in bytes from ``NEWTONKIT_WORKSPACE_MB`` (unset or empty: 256; a finite number >= 0)."""
    raw0 = os.environ.get("NEWTONKIT_WORKSPACE_MB", "")
    if raw0 == _LIMIT_SEEN[0]:
        return _LIMIT_SEEN[1]
    out = _parse_limit(raw0)
    _LIMIT_SEEN[:] = [raw0, out]
    return out


def _parse_limit(raw0) -> int:
    raw = raw0.strip() or "256"
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"NEWTONKIT_WORKSPACE_MB must be a number of MiB (0 turns the pool off), "
                         f"got {raw!r}") from None
    if not 0.0 <= mb <= 2.0 ** 43:       # NaN, negative, inf and sizes no machine has (2^43 MiB = 8 EiB, allowed)
        raise ValueError(f"NEWTONKIT_WORKSPACE_MB must be a number of MiB from 0 (the pool off) to 2^43, got "
                         f"{raw!r}")
    return int(mb * 2 ** 20)


def _baseline() -> int:
    """The reference count of an unused owner seen from :func:`_free_owner`'s loop (list entry, loop
    variable, ``getrefcount``'s argument), measured on this interpreter rather than assumed."""
    lst = [np.empty(1, np.uint8)]
    for buf in lst:
        return sys.getrefcount(buf)
    return -1  # pragma: no cover


_BASE = _baseline() if hasattr(sys, "getrefcount") else -1
#: whether the pool runs: CPython, with the baseline of a free buffer as expected (list entry, loop variable,
#: argument: 3; 2 where the interpreter borrows the loop variable's reference). A tracer that reads
#: ``frame.f_locals`` while this module is imported (a debugger stepping into the import) adds a reference
#: to the probe and would make a buffer with one user look free afterwards: then the pool stays off. A tracer
#: active later only makes buffers look busy (a new allocation, never a shared one).
ENABLED = (sys.implementation.name == "cpython" and sys.gettrace() is None and _BASE in (2, 3))


def _free_owner(lst):
    for buf in lst:
        if sys.getrefcount(buf) == _BASE:
            return buf
    return None


def empty(xp, shape, dtype=np.float64, zero: bool = False):
    """An uninitialised (``zero``: zeroed) C-contiguous array of ``shape`` and ``dtype`` from the array
    module ``xp``: for NumPy, backed by a free pool buffer when one of that byte size exists, else by a
    new one while the pool is under its bound, else a plain allocation."""
    if xp is not np:
        return xp.zeros(shape, dtype=dtype) if zero else xp.empty(shape, dtype=dtype)
    dtype = np.dtype(dtype)
    shape = (int(shape),) if not isinstance(shape, (tuple, list)) and np.ndim(shape) == 0 else tuple(
        int(s) for s in shape)
    out, fresh = _pooled(shape, dtype) if ENABLED else (None, True)
    if out is None:
        out = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    elif zero and not fresh:
        out.fill(0)
    if POISON and not zero:
        _poison(out)
    return out


def _pooled(shape, dtype):
    """``(view, fresh)``: a view of a free pool buffer of the array's byte size, or of a new one (``fresh``,
    zeroed lazily by the OS: ``numpy.zeros``) while the pool is under its bound; ``(None, True)`` otherwise."""
    nbytes = math.prod(shape) * dtype.itemsize          # (Python ints: no overflow)
    if nbytes < MIN_BYTES:
        return None, True
    limit = _limit()                     # checked on every request, so a bad setting never passes silently
    if limit == 0:                       # off: not even a free buffer kept from before is handed out
        return None, True
    with _lock:
        buf = _free_owner(_pool.get(nbytes, ()))
        fresh = buf is None
        if fresh:
            if _held[0] + nbytes > limit:
                _evict(_held[0] + nbytes - limit)
            if _held[0] + nbytes > limit:
                return None, True
            buf = np.zeros(nbytes, np.uint8)      # calloc: pages come zeroed on first touch, not written here
            _pool.setdefault(nbytes, []).append(buf)      # (after _evict: it may drop this size's empty list)
            _held[0] += nbytes
        out = buf.view(dtype).reshape(shape)      # holds a reference to buf until it (and its views) are gone
        del buf
    return out, fresh


def _evict(need):
    """Drop free buffers (of any size, sizes in first-use order) until ``need`` bytes are freed or none is
    left: a pool full of free buffers of sizes no longer asked for makes room for the sizes in use."""
    for nbytes in list(_pool):
        if need <= 0:
            return
        keep = []
        for buf in _pool[nbytes]:
            if need > 0 and sys.getrefcount(buf) == _BASE:
                _held[0] -= nbytes
                need -= nbytes
            else:
                keep.append(buf)
        buf = None
        if keep:
            _pool[nbytes] = keep
        else:
            del _pool[nbytes]


def _poison(a):
    if a.dtype.kind in "fc":
        a.fill(np.nan)
    else:
        a.view(np.uint8).fill(0xFF)


def zeros(xp, shape, dtype=np.float64):
    """:func:`empty` with ``zero=True``."""
    return empty(xp, shape, dtype, zero=True)


def copy(xp, a):
    """A pooled C-contiguous copy of the array ``a``."""
    out = empty(xp, a.shape, a.dtype)
    out[...] = a
    return out


def release() -> int:
    """Drop the pool's free buffers (those in use stay until released by their users); return the bytes
    freed."""
    freed = 0
    with _lock:
        for nbytes, lst in list(_pool.items()):
            keep = []
            for buf in lst:
                if sys.getrefcount(buf) != _BASE:
                    keep.append(buf)
                else:
                    freed += nbytes
            buf = None
            if keep:
                _pool[nbytes] = keep
            else:
                del _pool[nbytes]
        _held[0] -= freed
    return freed


def held() -> tuple[int, int]:
    """``(bytes owned by the pool, bytes of those in use)``."""
    with _lock:
        busy = 0
        for nbytes, lst in _pool.items():
            for buf in lst:
                if sys.getrefcount(buf) != _BASE:
                    busy += nbytes
            buf = None
        return _held[0], busy


__all__ = ["empty", "zeros", "copy", "release", "held", "MIN_BYTES", "ENABLED"]
