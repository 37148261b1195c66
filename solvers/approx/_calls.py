"""The batches in which :class:`~solvers.approx.ChebTucker` maps and evaluates its points (a mix-in).

A call maps its points to [-1, 1]^d and evaluates them in equal batches of at most :data:`CALL_BATCH`, each
mapped into one batch-sized buffer kept between calls (process-wide, shared by all objects:
:func:`solvers._kernels.scratch.borrow_shared`) and evaluated before the next. A mapped copy of all N points, allocated afresh per call, cost its page faults on every
call (10^6 points, rank 20, 2 threads, a virtual machine: 147 -> 117 ms per call with the buffers kept).
"""
from __future__ import annotations

import numpy as np

from .._kernels.scratch import borrow_shared, release_shared, shared_nbytes, take
from . import _validate as _v

#: the process-wide work arrays (:func:`solvers._kernels.scratch.borrow_shared`) of the mapped batches
WORK = "approx.call"
#: points mapped and evaluated per batch (as the slab form's own batch,
#: :data:`solvers._kernels.numba.approx_slab.BATCH`, whose larger batches measured faster: its comment)
CALL_BATCH = 1 << 20


class CallBatches:
    """Point handling of :class:`~solvers.approx.ChebTucker` (uses its ``d`` and ``domain``)."""

    def _host_points(self, points, be):
        """``points`` as a C-contiguous float64 host array of shape ``(N, d)`` (shape, type and finiteness
        checked here only when they are not already that)."""
        x = points if np.ma.isMaskedArray(points) else be.to_numpy(points)   # (to_numpy drops a mask)
        if not (type(x) is np.ndarray and x.dtype == np.float64 and x.ndim == 2 and x.shape[1] == self.d):
            x = _v.points(x, self.domain)
        return np.ascontiguousarray(x)

    def _t(self, x, s, e, be, p, work):
        """Points ``x[s:e]`` mapped to [-1, 1]^d, columns in the packed form's mode order, into the kept
        buffer of ``work`` (host check in one pass; the slow path over all of ``x`` only runs to name the
        offending point)."""
        xb = x[s:e]
        t = take(work, "t", xb.shape)
        if be.kernels("approx").map_points(xb, self.domain[:, 0].copy(), self.domain[:, 1].copy(), t):
            _v.points(x, self.domain)                    # outside the box or NaN: names the point
        if p.perm is not None:
            t = np.take(t, list(p.perm), axis=1, out=take(work, "tperm", t.shape))
        dev = be.asarray(t)
        if dev is not t:       # a device copy, maybe still in flight (or a view of t on unified memory):
            work.pop("t", None)                         # t is not written again, the next batch gets its own
            work.pop("tperm", None)
        return dev

    def _mapped_batches(self, x, be, p):
        """``(s, e, t)`` for each batch: ``t`` the points ``x[s:e]`` mapped (:meth:`_t`), in the process-wide
        buffers (:data:`WORK`, one set per dimension ``d``) for the whole call."""
        with borrow_shared(WORK) as work:
            work = work.setdefault(("d", x.shape[1]), {})
            for s, e in self._batches(x.shape[0]):
                yield s, e, self._t(x, s, e, be, p, work)

    @staticmethod
    def _batches(n):
        """``(s, e)``: ``n`` points in equal batches of at most :data:`CALL_BATCH`, each mapped into one
        batch-sized buffer kept between calls (process-wide: :data:`WORK`) and evaluated before
        the next: a call with float64 C-ordered points allocates no copy of all of them (other inputs are
        converted once), and repeated calls no fresh pages for the mapped batch. On a device backend the
        batch's host buffer is not reused (the copy to the device may still be in flight)."""
        k = -(-n // CALL_BATCH)                           # (none for n = 0)
        for i in range(k):
            yield n * i // k, n * (i + 1) // k


def work_nbytes() -> int:
    """Bytes held by the evaluation work arrays every :class:`~solvers.approx.ChebTucker` shares (mapped
    points, the slab form's bucketing: kept between calls so large evaluations pay no page faults; up to
    :data:`solvers._kernels.scratch.MAX_SETS` sets, for concurrent calls, per dimension; 16-128 bytes per
    point of a batch of up to :data:`CALL_BATCH`, by dimension and route). They outlive the objects."""
    return shared_nbytes()


def release_work() -> int:
    """Free the shared evaluation work arrays no call is using now (:func:`work_nbytes`); returns the bytes
    freed. :meth:`ChebTucker.clear_cache` does this too."""
    return release_shared()


__all__ = ["CallBatches", "CALL_BATCH", "WORK", "work_nbytes", "release_work"]
