"""Red-black Gauss-Seidel half sweeps fused into one pass over the grid (Numba, wavefront).

A multigrid smoothing step of ``count`` half sweeps of alternating colours (red, black, red, ...),
optionally preceded by the prolonged coarse correction ``u += P e``, done in ONE pass over the
axis-0 planes instead of one pass per half sweep (temporal blocking, as in the fused red+black pair
of :mod:`solvers._kernels.numba.stencil`, here for any number of stages):

* the stages are numbered ``s = 0 .. S-1`` (the prolongation, when asked, is stage 0; half sweep
  ``t`` has colour ``(first + t) & 1``). At step ``i`` of the wavefront, stage ``s`` runs on plane
  ``i - s``, stages in increasing order. Stage ``s`` of plane ``p`` reads planes ``p - 1, p, p + 1``
  after stage ``s - 1`` and before stage ``s + 1`` (red points read only black neighbours and vice
  versa), which this order guarantees; the planes in flight stay in cache.
* The planes are split into ``nchunks`` ranges, one per thread. Stage ``s`` of the ``s`` planes at
  either end of a range depends on a neighbouring range, so phase 1 (the wavefront) leaves them
  out; after it, phase ``s`` (``s = 1 .. S-1``) does stage ``s`` on those end planes of every range
  (serially on the calling thread: a few planes, cheaper than a parallel region per stage). The result is exactly that of the stages done one after the other.

Rows and planes are updated by the vectorised row helpers of :mod:`.stencil` (the candidate value for
every point of a row, then a select), so a half sweep costs one stencil evaluation of the grid, and
the whole smoothing step reads ``u`` and ``f`` and writes ``u`` once.

Reference: U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001, sec. 2.x
(red-black Gauss-Seidel); G. Wellein et al., "Efficient temporal blocking for stencil computations
by multicore-aware wavefront parallelization", COMPSAC 2009 (the wavefront over planes).
"""
import types

import numba as nb
import numpy as np

from ._stencil_rows import _plane3c, _plane3v, _row2c, _row2v


# ----------------------------------------------------------------------------- one stage on one plane
@nb.njit(cache=True)
def _prolong_plane3(u, buf, i, pi0, pw0, pi1, pw1):
    """``u[i] += (P e)[i]`` from ``buf`` (the coarse grid interpolated along the last axis)."""
    a0, a1 = pi0[i, 0], pi0[i, 1]
    x0, x1 = pw0[i, 0], pw0[i, 1]
    n2 = u.shape[2]
    for j in range(u.shape[1]):
        b0, b1 = pi1[j, 0], pi1[j, 1]
        c00, c01, c10, c11 = x0 * pw1[j, 0], x0 * pw1[j, 1], x1 * pw1[j, 0], x1 * pw1[j, 1]
        for k in range(n2):
            u[i, j, k] += (c00 * buf[a0, b0, k] + c01 * buf[a0, b1, k]
                           + c10 * buf[a1, b0, k] + c11 * buf[a1, b1, k])


@nb.njit(cache=True)
def _prolong_row2(u, buf, i, pi0, pw0):
    a0, a1 = pi0[i, 0], pi0[i, 1]
    x0, x1 = pw0[i, 0], pw0[i, 1]
    for k in range(u.shape[1]):
        u[i, k] += x0 * buf[a0, k] + x1 * buf[a1, k]


@nb.njit(cache=True)
def _pair_shift(pi, pw, nc):
    """``s`` when the 1-D interpolation table ``(pi, pw)`` (fine length ``n``, ``nc`` coarse points) has
    the pair structure of the grids built by :func:`solvers.linear.multigrid_setup.interp_1d`: fine point
    ``k`` reads coarse points ``(k + s) // 2 - 1`` and ``(k + s) // 2`` (every nonzero weight), which holds
    for ``n = 2 nc + 2 - s`` (``s = 0``: ``2^k -> 2^(k-1) - 1``; ``s = 1``: nested odd grids). Else -1."""
    n = pi.shape[0]
    s = 2 * nc + 2 - n
    if s != 0 and s != 1:
        return -1
    for k in range(n):
        j = (k + s) // 2
        if (pw[k, 0] != 0.0 and pi[k, 0] != j - 1) or (pw[k, 1] != 0.0 and pi[k, 1] != j):
            return -1
    return s


@nb.njit(cache=True)
def _pair_weights(pw, s, nc):
    """Rows ``wa0, wb0, wa1, wb1``: the weights of the fine pair ``2 m - s, 2 m - s + 1`` (coarse ``m - 1``,
    ``m``), one contiguous array each, for :func:`_interp_row` (the table's interleaved ``(n, 2)`` layout
    does not vectorise: 4x slower)."""
    W = np.zeros((4, max(nc, 1)))
    if s >= 0:
        for m in range(1, nc):
            k = 2 * m - s
            W[0, m], W[1, m] = pw[k, 0], pw[k, 1]
            W[2, m], W[3, m] = pw[k + 1, 0], pw[k + 1, 1]
    return W


@nb.njit(cache=True)
def _interp_row(er, br, pi, pw, s, W):
    """``br = `` the coarse row ``er`` interpolated along the last axis (fine length ``br.shape[0]``): the
    interior pairs from the contiguous weights ``W`` when the table has the pair structure (``s >= 0``),
    the ends and any other table by gathering."""
    n = br.shape[0]
    nc = er.shape[0]
    if s < 0:
        for k in range(n):
            br[k] = pw[k, 0] * er[pi[k, 0]] + pw[k, 1] * er[pi[k, 1]]
        return
    for k in range(min(n, 2 - s)):
        br[k] = pw[k, 0] * er[pi[k, 0]] + pw[k, 1] * er[pi[k, 1]]
    bo = br[1 - s:]                          # bo[2 m - 1] = br[2 m - s]: a constant offset vectorises (2x)
    wa0, wb0, wa1, wb1 = W[0], W[1], W[2], W[3]
    for m in range(1, nc):
        a = er[m - 1]
        b = er[m]
        bo[2 * m - 1] = wa0[m] * a + wb0[m] * b
        bo[2 * m] = wa1[m] * a + wb1[m] * b
    for k in range(max(0, 2 * nc - s), n):
        br[k] = pw[k, 0] * er[pi[k, 0]] + pw[k, 1] * er[pi[k, 1]]


@nb.njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _pdot(u, f, p):
    """``f[p] . u[p]`` of one axis-0 plane (row in 2-D)."""
    a = u[p].ravel()
    b = f[p].ravel()
    s = 0.0
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


@nb.njit(cache=True, inline="always")
def _stage3(s, p, u, f, w0, w1, w2, d, F0, F1, F2, DG, const, first, zero, pro, buf, pi0, pw0, pi1, pw1, tmp):
    if pro:
        if s == 0:
            _prolong_plane3(u, buf, p, pi0, pw0, pi1, pw1)
            return
        s -= 1
    color = (first + s) & 1
    z = zero and s == 0
    if const:
        _plane3c(u, f, p, w0, w1, w2, d, color, z, tmp)
    else:
        _plane3v(u, f, p, F0, F1, F2, DG, color, z, tmp)


@nb.njit(cache=True, inline="always")
def _stage2(s, p, u, f, w0, w1, d, F0, F1, DG, const, first, zero, pro, buf, pi0, pw0, tmp):
    if pro:
        if s == 0:
            _prolong_row2(u, buf, p, pi0, pw0)
            return
        s -= 1
    color = (first + s) & 1
    z = zero and s == 0
    if const:
        _row2c(u, f, p, w0, w1, d, color, z, tmp)
    else:
        _row2v(u, f, p, F0, F1, DG, color, z, tmp)


# ----------------------------------------------------------------------------- the wavefront
@nb.njit(cache=True)
def _bounds(t, nchunks, n0, S):
    """Range ``[s, e)`` of chunk ``t`` and how many end planes of each stage wait for the later phases."""
    s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
    lo = 1 if t > 0 else 0                  # a neighbouring range below / above
    hi = 1 if t < nchunks - 1 else 0
    return s, e, lo, hi


def _wave3(u, f, w0, w1, w2, d, F0, F1, F2, DG, const, first, count, zero, pro, e, pi0, pw0, pi1, pw1,
          pi2, pw2, buf, nchunks, want_dot):
    """3-D: (``u += P e`` when ``pro``, then) ``count`` half sweeps from colour ``first`` in one pass."""
    n0 = u.shape[0]
    nl = u.shape[2]
    S = count + (1 if pro else 0)
    parts = np.zeros(nchunks)                # f . u over the planes whose last stage is done, per chunk
    if pro:                                  # the coarse grid interpolated along the last axis
        sh = _pair_shift(pi2, pw2, e.shape[2])
        W = _pair_weights(pw2, sh, e.shape[2])
        for I in nb.prange(e.shape[0]):
            for J in range(e.shape[1]):
                _interp_row(e[I, J], buf[I, J], pi2, pw2, sh, W)
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, en, lo, hi = _bounds(t, nchunks, n0, S)
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    _stage3(st, p, u, f, w0, w1, w2, d, F0, F1, F2, DG, const, first, zero, pro, buf,
                            pi0, pw0, pi1, pw1, tmp)
                    if want_dot and st == S - 1:
                        parts[t] += _pdot(u, f, p)
    # the end planes, stage by stage: serial on the calling thread (a few planes per chunk boundary; one
    # parallel region per stage cost more than that work at 2 threads, above all on a loaded machine)
    for st in range(1, S):
        for t in range(nchunks):
            tmp = np.empty(nl)
            s, en, lo, hi = _bounds(t, nchunks, n0, S)
            for p in range(s, s + lo * st):
                _stage3(st, p, u, f, w0, w1, w2, d, F0, F1, F2, DG, const, first, zero, pro, buf,
                        pi0, pw0, pi1, pw1, tmp)
                if want_dot and st == S - 1:
                    parts[t] += _pdot(u, f, p)
            for p in range(en - hi * st, en):
                _stage3(st, p, u, f, w0, w1, w2, d, F0, F1, F2, DG, const, first, zero, pro, buf,
                        pi0, pw0, pi1, pw1, tmp)
                if want_dot and st == S - 1:
                    parts[t] += _pdot(u, f, p)
    return parts.sum()


def _wave2(u, f, w0, w1, d, F0, F1, DG, const, first, count, zero, pro, e, pi0, pw0, pi1, pw1, buf, nchunks, want_dot):
    """2-D twin of :func:`wave3` (rows instead of planes)."""
    n0 = u.shape[0]
    nl = u.shape[1]
    S = count + (1 if pro else 0)
    parts = np.zeros(nchunks)                # f . u over the planes whose last stage is done, per chunk
    if pro:                                  # the coarse grid interpolated along the last axis
        sh = _pair_shift(pi1, pw1, e.shape[1])
        W = _pair_weights(pw1, sh, e.shape[1])
        for I in nb.prange(e.shape[0]):
            _interp_row(e[I], buf[I], pi1, pw1, sh, W)
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, en, lo, hi = _bounds(t, nchunks, n0, S)
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    _stage2(st, p, u, f, w0, w1, d, F0, F1, DG, const, first, zero, pro, buf, pi0, pw0, tmp)
                    if want_dot and st == S - 1:
                        parts[t] += _pdot(u, f, p)
    # the end planes, stage by stage: serial on the calling thread (a few planes per chunk boundary; one
    # parallel region per stage cost more than that work at 2 threads, above all on a loaded machine)
    for st in range(1, S):
        for t in range(nchunks):
            tmp = np.empty(nl)
            s, en, lo, hi = _bounds(t, nchunks, n0, S)
            for p in range(s, s + lo * st):
                _stage2(st, p, u, f, w0, w1, d, F0, F1, DG, const, first, zero, pro, buf, pi0, pw0, tmp)
                if want_dot and st == S - 1:
                    parts[t] += _pdot(u, f, p)
            for p in range(en - hi * st, en):
                _stage2(st, p, u, f, w0, w1, d, F0, F1, DG, const, first, zero, pro, buf, pi0, pw0, tmp)
                if want_dot and st == S - 1:
                    parts[t] += _pdot(u, f, p)
    return parts.sum()


def twin(fn, suffix="_serial"):
    """A copy of the Python function ``fn`` named ``fn.__name__ + suffix``, to compile a second time.

    Numba's on-disk cache names a function's entry by its qualified name and first line, and its
    index key (signature, target, bytecode hash) does not include ``parallel``: a serial and a
    parallel ``njit(cache=True)`` of the *same* function share one entry, so the second loads the
    machine code of the first (measured: the parallel wavefront ran serially, 1.0x at two threads
    instead of 1.9x). The copy has its own name, hence its own cache entry.
    """
    g = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    g.__qualname__ = fn.__qualname__ + suffix
    g.__module__, g.__doc__ = fn.__module__, fn.__doc__
    return g


# parallel kernels for large grids; serial twins (the same code, ``prange`` runs as ``range``) for grids
# below SERIAL_BELOW points, where starting the parallel regions (one per phase) costs more than the work.
# The twins are compiled from renamed copies (:func:`twin`) so that each has its own cache entry.
wave3 = nb.njit(parallel=True, cache=True)(_wave3)
wave2 = nb.njit(parallel=True, cache=True)(_wave2)
wave3_s = nb.njit(cache=True)(twin(_wave3))
wave2_s = nb.njit(cache=True)(twin(_wave2))

#: grid points below which the serial kernels run (the multigrid kernel set's ``SERIAL_BELOW``; from this level
#: down the cycle is one compiled serial call, :mod:`.mgtail`). MG-CG to 1e-8, setup included, 2 threads, Xeon VM,
#: session 23 (``/tmp/sb.py``), ms at 40 000 / 10 000 / 3 000 / 1 000: 128^2 3.85 / 3.24 / 2.88 / 2.83, 256^2
#: 6.11 / 5.16 / 4.68 / 4.48, 32^3 5.85 / 4.73 / 4.53 / 4.55, 64^3 18.0 / 15.6 / 15.6 / 15.4, 128^3 89 / 84-87 /
#: 83-87; 1024^2, 96^3, 64^2, 16^3 within noise (40 000 was set before the compiled tail existed)
SERIAL_BELOW = 3_000

# ----------------------------------------------------------------------------- Python-side argument packing
_DUMMY = {}


def _dummies(nd):
    """Placeholders for the arrays a call does not use (one type per dimension: one compiled kernel)."""
    t = _DUMMY.get(nd)
    if t is None:
        t = _DUMMY[nd] = (np.zeros((1,) * nd), np.zeros((1, 2), dtype=np.int64), np.zeros((1, 2)))
    return t


def nchunks_for(n0, stages, threads):
    """Chunks of at least ``2 * stages`` planes (the end planes of a chunk wait for the later phases)."""
    return max(1, min(threads, n0 // (2 * stages + 2)))


def run(op, u, f, first, count, zero, e=None, P=None, buf=None, nchunks=None, dot=False):
    """``count`` half sweeps of ``op`` (after ``u += P e`` when ``e`` is given) in one wavefront pass.

    ``nchunks``: plane ranges (default: one per thread, each of at least ``2 * stages + 2`` planes).
    Returns ``f . u`` after the last stage (accumulated plane by plane in the same pass) when ``dot``.
    """
    nd = u.ndim
    g, it, wt = _dummies(nd)
    pro = e is not None
    S = count + (1 if pro else 0)
    serial = u.size < SERIAL_BELOW
    if nchunks is None:
        nchunks = 1 if serial else nchunks_for(u.shape[0], S, nb.get_num_threads())
    nchunks = max(1, min(int(nchunks), max(1, u.shape[0] // (2 * S))))
    if op.const:
        w, d = op._w, op._d
        F = (g,) * (nd + 1)
    else:
        w, d = (0.0,) * nd, 0.0
        F = (*op._faces, op._dg)
    if not pro:
        e, buf = g, g
        P = (it, wt) * nd
    if nd == 3:
        v = (wave3_s if serial else wave3)(u, f, w[0], w[1], w[2], d, F[0], F[1], F[2], F[3], op.const, first,
                                           count, zero, pro, e, *P, buf, nchunks, dot)
    else:
        v = (wave2_s if serial else wave2)(u, f, w[0], w[1], d, F[0], F[1], F[2], op.const, first, count, zero,
                                           pro, e, *P, buf, nchunks, dot)
    return float(v) if dot else None
