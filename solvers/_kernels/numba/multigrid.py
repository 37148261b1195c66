"""Grid-transfer kernels for geometric multigrid (Numba, parallel over the outer axis).

Transfers are tensor products of 1-D operators given as padded index/weight
tables (built by :mod:`solvers.linear.multigrid`):

* prolongation, per fine index ``i`` along an axis: coarse indices
  ``pi[i, 0:2]`` and weights ``pw[i, 0:2]`` (a zero weight pads);
* restriction, per coarse index ``I``: fine indices ``ri[I, 0:m]`` and weights
  ``rw[I, 0:m]`` (the scaling ``c`` of ``R = c P^T`` is folded into ``rw``).
"""
import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def restrict2(r, out, ri0, rw0, ri1, rw1):
    """``out = R r``: combine the fine rows of each coarse row, then restrict along the last axis."""
    m0 = ri0.shape[1]
    m1 = ri1.shape[1]
    n1 = r.shape[1]
    for I in nb.prange(out.shape[0]):
        buf = np.zeros(n1)
        for a in range(m0):
            w = rw0[I, a]
            if w != 0.0:
                ia = ri0[I, a]
                for j in range(n1):
                    buf[j] += w * r[ia, j]
        for J in range(out.shape[1]):
            s = 0.0
            for b in range(m1):
                s += rw1[J, b] * buf[ri1[J, b]]
            out[I, J] = s


@nb.njit(parallel=True, cache=True)
def restrict3(r, out, ri0, rw0, ri1, rw1, ri2, rw2):
    m0 = ri0.shape[1]
    m1 = ri1.shape[1]
    m2 = ri2.shape[1]
    n2 = r.shape[2]
    for I in nb.prange(out.shape[0]):
        buf = np.empty(n2)
        for J in range(out.shape[1]):
            buf[:] = 0.0
            for a in range(m0):
                wa = rw0[I, a]
                if wa == 0.0:
                    continue
                ia = ri0[I, a]
                for b in range(m1):
                    w = wa * rw1[J, b]
                    if w == 0.0:
                        continue
                    ib = ri1[J, b]
                    for k in range(n2):
                        buf[k] += w * r[ia, ib, k]
            for K in range(out.shape[2]):
                s = 0.0
                for c in range(m2):
                    s += rw2[K, c] * buf[ri2[K, c]]
                out[I, J, K] = s


@nb.njit(parallel=True, cache=True)
def prolong_add2(e, u, pi0, pw0, pi1, pw1, buf):
    """``u += P e``, last axis first: ``buf = e P1^T`` (coarse rows, fine length), then a contiguous pass.

    ``buf`` has shape ``(e.shape[0], u.shape[1])``. Interpolating the coarse rows along the last axis
    first does the index-table gathers once per coarse row instead of once per fine row; the fine pass
    ``u[i] += x0 buf[a0] + x1 buf[a1]`` is then branch-free and vectorises.
    """
    n1 = u.shape[1]
    for I in nb.prange(e.shape[0]):
        for k in range(n1):
            buf[I, k] = pw1[k, 0] * e[I, pi1[k, 0]] + pw1[k, 1] * e[I, pi1[k, 1]]
    for i in nb.prange(u.shape[0]):
        a0, a1 = pi0[i, 0], pi0[i, 1]
        x0, x1 = pw0[i, 0], pw0[i, 1]
        for k in range(n1):
            u[i, k] += x0 * buf[a0, k] + x1 * buf[a1, k]


@nb.njit(parallel=True, cache=True)
def prolong_add3(e, u, pi0, pw0, pi1, pw1, pi2, pw2, buf):
    """3-D twin of :func:`prolong_add2`; ``buf`` has shape ``(e.shape[0], e.shape[1], u.shape[2])``."""
    n2 = u.shape[2]
    nc1 = e.shape[1]
    for I in nb.prange(e.shape[0]):
        for J in range(nc1):
            for k in range(n2):
                buf[I, J, k] = pw2[k, 0] * e[I, J, pi2[k, 0]] + pw2[k, 1] * e[I, J, pi2[k, 1]]
    for i in nb.prange(u.shape[0]):
        a0, a1 = pi0[i, 0], pi0[i, 1]
        x0, x1 = pw0[i, 0], pw0[i, 1]
        for j in range(u.shape[1]):
            b0, b1 = pi1[j, 0], pi1[j, 1]
            c00, c01, c10, c11 = x0 * pw1[j, 0], x0 * pw1[j, 1], x1 * pw1[j, 0], x1 * pw1[j, 1]
            for k in range(n2):
                u[i, j, k] += (c00 * buf[a0, b0, k] + c01 * buf[a0, b1, k]
                               + c10 * buf[a1, b0, k] + c11 * buf[a1, b1, k])


@nb.njit(cache=True)
def _warm():  # pragma: no cover
    return np.zeros(1)
