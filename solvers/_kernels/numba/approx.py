"""Chebyshev–Tucker evaluation kernels (Numba; parallel over blocks of points).

Same names, signatures and meaning as the NumPy reference
``solvers._kernels.numpy.approx`` (read its notes first). Per point: the Chebyshev values
by the three-term recurrence accumulate the factor rows ``u_i = A_i^T T(t_i)`` in a small
scratch array (``O(d m r)``), then the core is swept once in C order: an odometer over the
first ``d - 1`` modes keeps the running products of ``u`` entries, and each length-``r_d``
core fibre is added, scaled, into an accumulator (a contiguous, vectorisable loop), which is
finally dotted with ``u_d`` (``O(r^d)``). Scratch arrays are allocated once per block of
``CHUNK`` points.
"""
import numba as nb
import numpy as np

from ..numpy.approx import check_points, pack  # noqa: F401  (same packed form as the reference)

#: points per parallel work item
CHUNK = 64


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
def _sweep(core, u, r, d, idx, pp, v):
    """Accumulate ``v[c] = sum over prefixes of prod(u) * core[prefix, c]``."""
    rl = r[d - 1]
    for c in range(rl):
        v[c] = 0.0
    nprefix = core.size // rl
    for i in range(d - 1):
        idx[i] = 0
        pp[i] = u[i, 0] * (pp[i - 1] if i > 0 else 1.0)
    for q in range(nprefix):
        w = pp[d - 2] if d > 1 else 1.0
        base = q * rl
        for c in range(rl):
            v[c] += w * core[base + c]
        i = d - 2
        while i >= 0:
            idx[i] += 1
            if idx[i] < r[i]:
                break
            idx[i] = 0
            i -= 1
        if i < 0:
            break
        for j in range(i, d - 1):
            pp[j] = u[j, idx[j]] * (pp[j - 1] if j > 0 else 1.0)


@nb.njit(cache=True, parallel=True)
def _evaluate(core, F, m, r, t, out, chunk):
    n, d = t.shape
    rmax = F.shape[2]
    rl = r[d - 1]
    nblocks = (n + chunk - 1) // chunk
    for b in nb.prange(nblocks):
        u = np.empty((d, rmax))
        v = np.empty(rl)
        idx = np.empty(d, np.int64)
        pp = np.empty(d)
        for p in range(b * chunk, min(n, (b + 1) * chunk)):
            for i in range(d):
                _factor_row(F[i], m[i], r[i], t[p, i], u[i])
            _sweep(core, u, r, d, idx, pp, v)
            s = 0.0
            for c in range(rl):
                s += v[c] * u[d - 1, c]
            out[p] = s


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
    _evaluate(packed.core, packed.F, packed.m, packed.r, t, out, CHUNK)
    return out


def gradient(packed, t, val, grad):
    """``val[n] = p(t[n])`` and ``grad[n, i] = dp/dt_i (t[n])``."""
    check_points(packed, t)
    _gradient(packed.core, packed.F, packed.dF, packed.m, packed.r, t, val, grad, CHUNK)
    return val, grad
