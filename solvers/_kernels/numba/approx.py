"""Chebyshev–Tucker evaluation kernels (Numba; parallel over blocks of points).

Same names, signatures and meaning as the NumPy reference
``solvers._kernels.numpy.approx`` (read its notes first). Evaluation works on blocks of points
with the points innermost: the Chebyshev values ``T_k`` by the three-term recurrence
(``m_i x chunk``), the factor rows ``U_i = A_i^T T`` and the contraction of the core with the
last mode ``W = G_(d) U_d`` as two small GEMMs (``np.dot``, BLAS), then one sweep over the
``r^(d-1)`` core fibres in C order: an odometer over the first ``d - 1`` modes keeps the running
products of ``U`` rows and accumulates ``prod * W[fibre]`` (``O(d m r + r^d)`` per point).
The gradient kernel works point by point (values and derivative rows, one core sweep).
"""
import numba as nb
import numpy as np

from ..numpy.approx import check_points, pack  # noqa: F401  (same packed form as the reference)

#: most points per parallel work item (see :func:`chunk_for`)
CHUNK = 256
#: points per parallel work item of the gradient kernel
GRAD_CHUNK = 64


@nb.njit(cache=True, inline="always")
def _factor_row(Fi, mi, ri, x, ur):
    for j in range(ri):
        ur[j] = 0.0
    tkm1 = 1.0
    tk = x
    for k in range(mi):
        if k == 0:
            tc = 1.0
        elif k == 1:
            tc = x
        else:
            tc = 2.0 * x * tk - tkm1
            tkm1 = tk
            tk = tc
        for j in range(ri):
            ur[j] += tc * Fi[k, j]


@nb.njit(cache=True, inline="always")
def _products(U, pp, idx, start, d, nb_):
    """``pp[j, q] = prod_{i <= j} U[i, idx[i], q]`` for ``j >= start`` (the odometer's running products)."""
    for j in range(start, d - 1):
        if j == 0:
            for q in range(nb_):
                pp[0, q] = U[0, idx[0], q]
        else:
            for q in range(nb_):
                pp[j, q] = U[j, idx[j], q] * pp[j - 1, q]


@nb.njit(cache=True, parallel=True)
def _evaluate(core, FT, ft_off, m, r, t, out, chunk):
    """Blocks of ``chunk`` points, points innermost: ``T`` (``m_i x chunk``) by the recurrence,
    ``U_i = A_i^T T`` and ``W = G_(d) U_d`` (``r^(d-1) x chunk``) as GEMMs, then
    ``out = sum_prefix prod_i U_i[idx_i] * W[prefix]`` with the odometer's running products."""
    n, d = t.shape
    rmax = 0
    mmax = 0
    for i in range(d):
        rmax = max(rmax, r[i])
        mmax = max(mmax, m[i])
    rl = r[d - 1]
    nprefix = core.size // rl
    G = core.reshape(nprefix, rl)
    nblocks = (n + chunk - 1) // chunk
    for b in nb.prange(nblocks):
        p0 = b * chunk
        nb_ = min(n, p0 + chunk) - p0
        T = np.empty((mmax, chunk))
        U = np.empty((d, rmax, chunk))
        pp = np.empty((max(d - 1, 1), chunk))
        idx = np.zeros(d, np.int64)
        acc = np.zeros(chunk)
        for i in range(d):
            mi, ri = m[i], r[i]
            for q in range(chunk):
                T[0, q] = 1.0
                T[1, q] = t[p0 + q, i] if q < nb_ else 0.0
            for k in range(2, mi):
                for q in range(chunk):
                    T[k, q] = 2.0 * T[1, q] * T[k - 1, q] - T[k - 2, q]
            A = FT[ft_off[i]:ft_off[i + 1]].reshape(ri, mi)
            U[i, :ri, :] = np.dot(A, T[:mi])
        W = np.dot(G, U[d - 1, :rl])
        if d == 1:
            for q in range(nb_):
                out[p0 + q] = W[0, q]
            continue
        _products(U, pp, idx, 0, d, chunk)
        for s in range(nprefix):
            for q in range(chunk):
                acc[q] += pp[d - 2, q] * W[s, q]
            i = d - 2
            while i >= 0:
                idx[i] += 1
                if idx[i] < r[i]:
                    break
                idx[i] = 0
                i -= 1
            if i < 0:
                break
            _products(U, pp, idx, i, d, chunk)
        for q in range(nb_):
            out[p0 + q] = acc[q]


@nb.njit(cache=True, parallel=True)
def _gradient(core, F, dF, m, r, t, val, grad, chunk):
    n, d = t.shape
    rmax = F.shape[2]
    rl = r[d - 1]
    nprefix = core.size // rl
    nblocks = (n + chunk - 1) // chunk
    for b in nb.prange(nblocks):
        u = np.empty((d, rmax))
        du = np.empty((d, rmax))
        idx = np.zeros(d, np.int64)
        g = np.empty(d)
        for p in range(b * chunk, min(n, (b + 1) * chunk)):
            for i in range(d):
                _factor_row(F[i], m[i], r[i], t[p, i], u[i])
                _factor_row(dF[i], m[i], r[i], t[p, i], du[i])
                g[i] = 0.0
                idx[i] = 0
            f = 0.0
            for q in range(nprefix):
                base = q * rl
                s = 0.0
                ds = 0.0
                for c in range(rl):
                    s += core[base + c] * u[d - 1, c]
                    ds += core[base + c] * du[d - 1, c]
                w = 1.0
                for j in range(d - 1):
                    w *= u[j, idx[j]]
                f += w * s
                g[d - 1] += w * ds
                for i in range(d - 1):
                    wi = du[i, idx[i]]
                    for j in range(d - 1):
                        if j != i:
                            wi *= u[j, idx[j]]
                    g[i] += wi * s
                i = d - 2
                while i >= 0:
                    idx[i] += 1
                    if idx[i] < r[i]:
                        break
                    idx[i] = 0
                    i -= 1
            val[p] = f
            for i in range(d):
                grad[p, i] = g[i]


def evaluate(packed, t, out):
    """``out[n] = p(t[n])``."""
    check_points(packed, t)
    if t.shape[0]:
        _evaluate(packed.core, packed.FT, packed.ft_off, packed.m, packed.r, t, out, chunk_for(packed))
    return out


def chunk_for(packed) -> int:
    """Points per block: at most ``CHUNK``, and both GEMMs (``r^d x chunk`` and
    ``r_i m_i x chunk`` multiply-adds) kept under OpenBLAS's single-thread size limit
    (65536 * 4), so BLAS never starts threads of its own inside a Numba worker."""
    work = max(int(packed.core.size), int(packed.F.shape[1]) * int(packed.F.shape[2]), 1)
    return int(max(8, min(CHUNK, (4 * 65536) // work)))


def gradient(packed, t, val, grad):
    """``val[n] = p(t[n])`` and ``grad[n, i] = dp/dt_i (t[n])``."""
    check_points(packed, t)
    _gradient(packed.core, packed.F, packed.dF, packed.m, packed.r, t, val, grad, GRAD_CHUNK)
    return val, grad
