"""The small levels of a geometric V-cycle as ONE compiled call (Numba, serial).

Below ``SERIAL_BELOW`` points a level's kernels run single-threaded and take microseconds each, so the
Python recursion of :meth:`solvers.linear.multigrid.MultigridPreconditioner._cycle` (a few kernel calls,
argument packing and a thread-count scope per level and visit) cost more than the arithmetic there:
on 1024^2 the levels 127^2 ... 7^2 took 0.32 ms per cycle for about 0.05 ms of stencil work, and on
256^2 the whole cycle was mostly that overhead. :func:`plan` packs the tail of the hierarchy (the first
level below ``SERIAL_BELOW`` and everything under it) into typed lists once; :func:`_tail2` /
:func:`_tail3` then run its V-cycle with the same serial kernels, in the same order, as the Python
recursion calls them (pre-smoothing from ``u = 0``, fused residual + restriction, the dense coarsest
solve, prolongation + post-smoothing in one wavefront), so the result is the same to the last bit -- given
that those kernels are loaded before the tail (:func:`solvers.linear.multigrid_iterate.load_tail_kernels`:
Numba resolves a function two loaded libraries define to the first one loaded, and the copy compiled into the
tail rounds differently in the last bit).

Only constant-coefficient stencil levels with tensor transfers and no W-cycle visit qualify (the
geometric hierarchy on a constant ``k``); anything else keeps the Python recursion (:func:`plan`
returns None).

Reference: U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001, sec. 2.4
(the V-cycle).
"""
import numba as nb
import numpy as np
from numba.typed import List

from . import _idmemo
from .krylov import dot_s, rows_sub_s
from .mgfused import pre_rr_s
from .multigrid import residual_restrict2c_s
from .rbwave import SERIAL_BELOW, _interp_row, _pair_shift, _pair_weights, _pdot, _prolong_row2, wave3_s
from ._stencil_rows import _row2c


@nb.njit(cache=True)
def _coarsest(u, f, cinv, dot):
    uf = u.reshape(-1)
    ff = f.reshape(-1)
    uf[:] = 0.0                    # u = C^-1 f by the Krylov row kernel (C^-1 symmetric), as the Python cycle
    rows_sub_s(cinv, ff.size, -ff, uf)   # does: the same order of sums, and no BLAS call (OpenBLAS threads the
    return dot_s(ff, uf) if dot else 0.0  # product from a few hundred points; its workers then spin on our cores)


@nb.njit(cache=True)
def _pre_small2(u, f, out, w0, w1, d, count, ri0, rw0, ri1, rw1):
    """``count`` half sweeps of the whole (small) grid from ``u = 0``, colours from 0, then ``out = R (f - A u)``:
    the values of :func:`.mgfused.pre_rr2_s` (the same row kernels; within a half sweep a point reads only the
    other colour, so the wavefront's order and this one's agree bit for bit), without its wavefront book-keeping,
    which on a 31^2 grid cost as much as the arithmetic."""
    tmp = np.empty(u.shape[1])
    for s in range(count):
        for i in range(u.shape[0]):
            _row2c(u, f, i, w0, w1, d, s & 1, s == 0, tmp)
    residual_restrict2c_s(u, f, out, w0, w1, d, ri0, rw0, ri1, rw1, 1)


@nb.njit(cache=True)
def _post_small2(u, f, e, w0, w1, d, count, pi0, pw0, pi1, pw1, buf, want_dot):
    """``u += P e`` then ``count`` half sweeps of the whole grid, colours from 0; returns ``f . u`` when
    ``want_dot`` (row by row, in order): the values of :func:`.rbwave.wave2_s` with ``pro`` (as
    :func:`_pre_small2`)."""
    sh = _pair_shift(pi1, pw1, e.shape[1])
    W = _pair_weights(pw1, sh, e.shape[1])
    for I in range(e.shape[0]):
        _interp_row(e[I], buf[I], pi1, pw1, sh, W)
    for i in range(u.shape[0]):
        _prolong_row2(u, buf, i, pi0, pw0)
    tmp = np.empty(u.shape[1])
    for s in range(count):
        for i in range(u.shape[0]):
            _row2c(u, f, i, w0, w1, d, s & 1, False, tmp)
    v = 0.0
    if want_dot:
        for i in range(u.shape[0]):
            v += _pdot(u, f, i)
    return v


@nb.njit(cache=True)
def _tail2(u0, f0, dot, U, F, PB, W, NU, R, P, cinv, g, it, wt):
    """V-cycle from the level ``(u0, f0)`` down; levels below it in ``U, F`` (finest first), ``W[l]`` =
    ``(w0, w1, d)`` and ``NU[l]`` of level ``l`` (0 = the top), ``R[l]``/``P[l]`` its four transfer tables
    ``ri0, rw0, ri1, rw1`` as ``(int tables, float tables)``, ``PB[l]`` its prolongation buffer; the
    pre-smoothing and the residual + restriction are one pass (:mod:`.mgfused`), as in the Python recursion."""
    L = len(U) + 1
    for l in range(L - 1):
        u = u0 if l == 0 else U[l - 1]
        f = f0 if l == 0 else F[l - 1]
        w = W[l]
        ri, rw = R[l]
        _pre_small2(u, f, F[l], w[0], w[1], w[2], 2 * NU[l] + 1, ri[0], rw[0], ri[1], rw[1])
    _coarsest(U[L - 2], F[L - 2], cinv, False)
    v = 0.0
    for l in range(L - 2, -1, -1):
        u = u0 if l == 0 else U[l - 1]
        f = f0 if l == 0 else F[l - 1]
        w = W[l]
        pi, pw = P[l]
        v = _post_small2(u, f, U[l], w[0], w[1], w[2], 2 * NU[l] + 1, pi[0], pw[0], pi[1], pw[1], PB[l],
                         dot and l == 0)
    return v


@nb.njit(cache=True)
def _tail3(u0, f0, dot, U, F, PB, W, NU, R, P, cinv, g, it, wt):
    """3-D twin of :func:`_tail2` (``W[l]`` = ``(w0, w1, w2, d)``, six tables per transfer)."""
    L = len(U) + 1
    for l in range(L - 1):
        u = u0 if l == 0 else U[l - 1]
        f = f0 if l == 0 else F[l - 1]
        w = W[l]
        ri, rw = R[l]
        pre_rr_s(u, f, F[l], w[0], w[1], w[2], w[3], 0, 2 * NU[l] + 1, ri[0], rw[0], ri[1], rw[1], ri[2], rw[2],
                 1)
    _coarsest(U[L - 2], F[L - 2], cinv, False)
    v = 0.0
    for l in range(L - 2, -1, -1):
        u = u0 if l == 0 else U[l - 1]
        f = f0 if l == 0 else F[l - 1]
        w = W[l]
        pi, pw = P[l]
        v = wave3_s(u, f, w[0], w[1], w[2], w[3], g, g, g, g, True, 0, 2 * NU[l] + 1, False, True, U[l],
                    pi[0], pw[0], pi[1], pw[1], pi[2], pw[2], PB[l], 1, dot and l == 0)
    return v


#: most levels in a compiled tail (a deeper tail keeps the Python recursion); the tuples handed to
#: :func:`_buffer_lists` and :func:`_table_lists` are padded to this length, so one compiled version serves
#: every depth (a version per depth cost 1.3 s of compilation at the first hierarchy of each new depth, with a
#: cold cache)
MAX_TAIL = 12


@nb.njit(cache=True)
def _buffer_lists(count, us, fs, pbs):
    """Typed lists of the first ``count`` entries of the fixed-length tuples of level buffers (one compiled
    call: appending from Python cost 0.34 ms per plan)."""
    U = List()                     # one per line: a tuple of untyped lists cannot be typed
    F = List()
    PB = List()
    for i in range(count):
        U.append(us[i])
        F.append(fs[i])
        PB.append(pbs[i])
    return U, F, PB


@nb.njit(cache=True)
def _table_lists(count, ws, nus, rs, ps):
    """The same for the levels' coefficients, smoothing counts and transfer tables."""
    W = List()
    NU = List()
    R = List()
    P = List()
    for i in range(count):
        W.append(ws[i])
        NU.append(nus[i])
        R.append(rs[i])
        P.append(ps[i])
    return W, NU, R, P


#: typed lists of the read-only level data (coefficients, counts, tables), by the identity of the levels'
#: tables (:mod:`._idmemo`): unboxing some 200 padded tables into typed lists was most of a plan's 0.12 ms, per
#: solve (session 48)
_TABLE_LISTS: dict = {}


def _tables_for(inner, nus, pad, nd):
    def build():
        zi, zf = np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1))
        ztab = (tuple([zi] * nd), tuple([zf] * nd))
        return _table_lists(
            len(inner),
            tuple(np.array([*(float(w) for w in lev.A._w), float(lev.A._d)]) for lev in inner)
            + (np.zeros(nd + 1),) * pad,
            np.array(list(nus) + [0] * pad, dtype=np.int64),
            tuple((tuple(_c(t, np.int64) for t in lev.R[0::2]), tuple(_c(t, np.float64) for t in lev.R[1::2]))
                  for lev in inner) + (ztab,) * pad,
            tuple((tuple(_c(t, np.int64) for t in lev.P[0::2]), tuple(_c(t, np.float64) for t in lev.P[1::2]))
                  for lev in inner) + (ztab,) * pad)
    extra = (tuple(nus), tuple((*map(float, lev.A._w), float(lev.A._d)) for lev in inner))
    return _idmemo.memo(_TABLE_LISTS, (t for lev in inner for t in (*lev.R, *lev.P)), extra, build, limit=64)


def _eligible(lev, last):
    if last:
        return True
    A = lev.A
    return (not lev.csr and getattr(A, "const", False) and isinstance(lev.P, tuple) and isinstance(lev.R, tuple)
            and lev.rc is None and lev.pbuf is not None and A.ndim_grid in (2, 3))


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def plan(levels, nus, cinv):
    """``(l0, run)``: the first level ``l0`` of the compiled tail and ``run(f, u, dot)`` doing the cycle
    from level ``l0`` down (``f, u`` that level's arrays; returns ``f . u`` after it when ``dot``, else
    None); ``None`` when no tail qualifies (see the module notes) or it would hold the coarsest level
    alone."""
    nl = len(levels)
    l0 = next((l for l, lev in enumerate(levels) if int(np.prod(lev.shape)) < SERIAL_BELOW), None)
    if l0 is None or l0 > nl - 2 or not all(_eligible(lev, l == nl - 1) for l, lev in enumerate(levels[l0:], start=l0)):
        return None
    nd = len(levels[l0].shape)
    if nd not in (2, 3) or any(len(lev.shape) != nd for lev in levels[l0:]):
        return None
    inner = levels[l0:nl - 1]
    if len(inner) > MAX_TAIL:
        return None
    pad = MAX_TAIL - len(inner)            # fixed-length tuples: ONE compiled version for every depth
    z = np.zeros((1,) * nd)
    U, F, PB = _buffer_lists(
        len(inner),
        tuple(lev.u for lev in levels[l0 + 1:]) + (z,) * pad, tuple(lev.f for lev in levels[l0 + 1:]) + (z,) * pad,
        tuple(lev.pbuf for lev in inner) + (z,) * pad)
    W, NU, R, P = _tables_for(inner, nus[l0:nl - 1], pad, nd)
    cinv = _c(cinv, np.float64)
    g = np.zeros((1,) * nd)
    it, wt = np.zeros((1, 2), dtype=np.int64), np.zeros((1, 2))
    fn = _tail2 if nd == 2 else _tail3

    shape0 = tuple(levels[l0].shape)

    def run(f, u, dot):
        if u.shape != shape0 or f.shape != shape0:
            raise ValueError(f"compiled multigrid tail: arrays of shape {u.shape}/{f.shape}, expected {shape0}")
        if f.dtype.kind not in "biuf":                     # a cast would drop an imaginary part without a word
            raise TypeError(f"multigrid preconditioner: the vector has dtype {f.dtype}; it needs a real (float64) "
                            "vector (for a complex one apply it to the real and imaginary parts separately)")
        f = np.ascontiguousarray(f, dtype=np.float64)      # the top level may be the caller's r (any real dtype)
        uw = u if (u.dtype == np.float64 and u.flags.c_contiguous) else np.empty(shape0)
        v = fn(uw, f, bool(dot), U, F, PB, W, NU, R, P, cinv, g, it, wt)
        if uw is not u:
            u[...] = uw
        return float(v) if dot else None

    return l0, run
