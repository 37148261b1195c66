"""The full-multigrid interpolation of the Numba kernel set (:func:`.multigrid.interpolate`): ``u = T e`` for
6-tap tensor tables (one row of indices and weights per fine point along each axis; the Lagrange tables of
:func:`solvers.linear.multigrid_iterate.fmg_tables`), in two contiguous stages.

Stage A interpolates every coarse row along the last axis into ``buf``. A uniform grid's table has a *parity
form* in its interior: the fine points ``k = 2 m + q`` (``q = 0, 1``) read the six consecutive coarse points
``m + o_q, ..., m + o_q + 5``. :func:`parity_form` finds that run (any table: rows outside it, or a table without
it, gather through the indices), and :func:`_row_parity` evaluates it as two contiguous loops fused into one
with an interleaved store, which vectorises; the gathering loop of every tap does not (1024^2 from 511^2: stage
A was most of the interpolation's 3.7 fine matvecs). Stage B combines six whole rows (2-D) or planes (3-D)
per fine row or plane, contiguous (:func:`_six`).

Reference: U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001, sec. 2.6 (FMG
and its interpolation order).
"""
import numba as nb
import numpy as np

_FM = {"reassoc", "contract", "nsz"}


@nb.njit(cache=True)
def parity_form(pi, pw):
    """``(m0, m1, o, WT)`` for a 6-tap table ``(pi, pw)`` (one row per fine point): for ``m0 <= m < m1`` and
    ``q = 0, 1`` the fine point ``2 m + q`` reads coarse points ``m + o[q] + c`` with weight ``WT[q, c, m]``
    (``c = 0 .. 5``; zero weights included). The run is the longest one around the middle point; ``m0 == m1``
    when there is none (the caller then gathers every point)."""
    n = pi.shape[0]
    o = np.zeros(2, dtype=np.int64)
    WT = np.zeros((2, 6, n // 2 + 1))
    if pi.shape[1] != 6 or n < 4:
        return 0, 0, o, WT
    mid = n // 4
    o[0], o[1] = pi[2 * mid, 0] - mid, pi[2 * mid + 1, 0] - mid

    def ok(m):
        if 2 * m + 1 >= n or m < 0:
            return False
        for q in range(2):
            for c in range(6):
                if pi[2 * m + q, c] != m + o[q] + c:
                    return False
        return True

    if not ok(mid):
        return 0, 0, o, WT
    m0, m1 = mid, mid + 1
    while ok(m0 - 1):
        m0 -= 1
    while ok(m1):
        m1 += 1
    for q in range(2):
        for c in range(6):
            for m in range(m0, m1):
                WT[q, c, m] = pw[2 * m + q, c]
    return m0, m1, o, WT


@nb.njit(cache=True, fastmath=_FM)
def _gather(er, br, pi, pw, k):
    acc = 0.0
    for c in range(pi.shape[1]):
        acc += pw[k, c] * er[pi[k, c]]
    br[k] = acc


@nb.njit(cache=True, fastmath=_FM)
def _row_parity(er, br, pi, pw, m0, m1, o, WT):
    """``br = `` the coarse row ``er`` interpolated along the row: the parity run ``[m0, m1)`` of
    :func:`parity_form` contiguous, the points outside it gathered."""
    for k in range(min(2 * m0, br.shape[0])):
        _gather(er, br, pi, pw, k)
    # unsigned indices (wrapping where an offset is negative): signed ones are checked for wraparound, and the
    # loop then gathers and scatters instead of loading contiguously
    a, b = np.uint64(o[0] + 8) - np.uint64(8), np.uint64(o[1] + 8) - np.uint64(8)
    one, two = np.uint64(1), np.uint64(2)
    W0, W1 = WT[0], WT[1]
    for m in range(np.uint64(m0), np.uint64(m1)):
        i, j = m + a, m + b
        br[two * m] = (W0[0, m] * er[i] + W0[1, m] * er[i + one] + W0[2, m] * er[i + two]
                       + W0[3, m] * er[i + np.uint64(3)] + W0[4, m] * er[i + np.uint64(4)]
                       + W0[5, m] * er[i + np.uint64(5)])
        br[two * m + one] = (W1[0, m] * er[j] + W1[1, m] * er[j + one] + W1[2, m] * er[j + two]
                             + W1[3, m] * er[j + np.uint64(3)] + W1[4, m] * er[j + np.uint64(4)]
                             + W1[5, m] * er[j + np.uint64(5)])
    for k in range(2 * m1, br.shape[0]):
        _gather(er, br, pi, pw, k)


@nb.njit(cache=True, fastmath=_FM)
def _rows_last(e, buf, I, pi, pw, m0, m1, o, WT):
    """``buf[I, ..., :] = `` every row of ``e[I]`` interpolated along the last axis (:func:`_row_parity`)."""
    er, br = e[I].reshape((-1, e.shape[-1])), buf[I].reshape((-1, buf.shape[-1]))
    for J in range(er.shape[0]):
        _row_parity(er[J], br[J], pi, pw, m0, m1, o, WT)


@nb.njit(cache=True, fastmath=_FM, inline="always")
def _six(dst, src, pi, pw, j):
    """``dst = sum_b pw[j, b] src[pi[j, b]]`` over the 6 taps of row ``j`` (unrolled: 2x the tap loop's speed)."""
    w0, w1, w2, w3, w4, w5 = pw[j, 0], pw[j, 1], pw[j, 2], pw[j, 3], pw[j, 4], pw[j, 5]
    s0, s1, s2, s3, s4, s5 = (src[pi[j, 0]], src[pi[j, 1]], src[pi[j, 2]], src[pi[j, 3]], src[pi[j, 4]],
                              src[pi[j, 5]])
    for k in range(dst.shape[0]):
        dst[k] = w0 * s0[k] + w1 * s1[k] + w2 * s2[k] + w3 * s3[k] + w4 * s4[k] + w5 * s5[k]


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def interpolate2(e, u, pi0, pw0, pi1, pw1, buf):
    """``u = T e`` for 6-tap tensor tables (``pi_a``, ``pw_a``: one row per point of ``u`` along axis ``a``):
    ``buf = `` the coarse rows interpolated along the last axis, then ``u[i] = sum_a pw0[i, a] buf[pi0[i, a]]``."""
    m0, m1, o, WT = parity_form(pi1, pw1)
    for I in nb.prange(e.shape[0]):
        _rows_last(e, buf, I, pi1, pw1, m0, m1, o, WT)
    for i in nb.prange(u.shape[0]):
        _six(u[i], buf, pi0, pw0, i)


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def interpolate3(e, u, pi0, pw0, pi1, pw1, pi2, pw2, buf):
    """3-D twin of :func:`interpolate2`: ``buf`` as there, then per fine plane the axis-0 combination of six
    coarse planes (``(nc1, n2)``, per thread) and the axis-1 one, all contiguous (63^3 -> 128^3: 1.45-1.6 ms, 2
    threads, Xeon, about 2 hot fine matvecs; 1.8-2.0 ms accumulating the planes one at a time)."""
    nc1, n1 = e.shape[1], u.shape[1]
    m0, m1, o, WT = parity_form(pi2, pw2)
    for I in nb.prange(e.shape[0]):
        _rows_last(e, buf, I, pi2, pw2, m0, m1, o, WT)
    planes = buf.reshape((buf.shape[0], -1))
    for i in nb.prange(u.shape[0]):
        t = np.empty((nc1, u.shape[2]))
        _six(t.reshape(-1), planes, pi0, pw0, i)
        for j in range(n1):
            _six(u[i, j], t, pi1, pw1, j)
