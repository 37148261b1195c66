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
    m0 = ri0.shape[1]
    m1 = ri1.shape[1]
    for I in nb.prange(out.shape[0]):
        for J in range(out.shape[1]):
            s = 0.0
            for a in range(m0):
                ia = ri0[I, a]
                t = 0.0
                for b in range(m1):
                    t += rw1[J, b] * r[ia, ri1[J, b]]
                s += rw0[I, a] * t
            out[I, J] = s


@nb.njit(parallel=True, cache=True)
def restrict3(r, out, ri0, rw0, ri1, rw1, ri2, rw2):
    m0 = ri0.shape[1]
    m1 = ri1.shape[1]
    m2 = ri2.shape[1]
    for I in nb.prange(out.shape[0]):
        for J in range(out.shape[1]):
            for K in range(out.shape[2]):
                s = 0.0
                for a in range(m0):
                    ia = ri0[I, a]
                    sa = 0.0
                    for b in range(m1):
                        ib = ri1[J, b]
                        t = 0.0
                        for c in range(m2):
                            t += rw2[K, c] * r[ia, ib, ri2[K, c]]
                        sa += rw1[J, b] * t
                    s += rw0[I, a] * sa
                out[I, J, K] = s


@nb.njit(parallel=True, cache=True)
def prolong_add2(e, u, pi0, pw0, pi1, pw1):
    """``u += P e``."""
    for i in nb.prange(u.shape[0]):
        a0, a1 = pi0[i, 0], pi0[i, 1]
        x0, x1 = pw0[i, 0], pw0[i, 1]
        for j in range(u.shape[1]):
            b0, b1 = pi1[j, 0], pi1[j, 1]
            y0, y1 = pw1[j, 0], pw1[j, 1]
            u[i, j] += (x0 * (y0 * e[a0, b0] + y1 * e[a0, b1]) + x1 * (y0 * e[a1, b0] + y1 * e[a1, b1]))


@nb.njit(parallel=True, cache=True)
def prolong_add3(e, u, pi0, pw0, pi1, pw1, pi2, pw2):
    for i in nb.prange(u.shape[0]):
        a0, a1 = pi0[i, 0], pi0[i, 1]
        x0, x1 = pw0[i, 0], pw0[i, 1]
        for j in range(u.shape[1]):
            b0, b1 = pi1[j, 0], pi1[j, 1]
            y0, y1 = pw1[j, 0], pw1[j, 1]
            for k in range(u.shape[2]):
                c0, c1 = pi2[k, 0], pi2[k, 1]
                z0, z1 = pw2[k, 0], pw2[k, 1]
                u[i, j, k] += (x0 * (y0 * (z0 * e[a0, b0, c0] + z1 * e[a0, b0, c1])
                                     + y1 * (z0 * e[a0, b1, c0] + z1 * e[a0, b1, c1]))
                               + x1 * (y0 * (z0 * e[a1, b0, c0] + z1 * e[a1, b0, c1])
                                       + y1 * (z0 * e[a1, b1, c0] + z1 * e[a1, b1, c1])))


@nb.njit(cache=True)
def _warm():  # pragma: no cover
    return np.zeros(1)
