"""CuPy kernels for Chebyshev–Tucker evaluation (GPU twins of ``_kernels/numba/approx.py``).

Same names, signatures and meaning as the NumPy reference ``solvers._kernels.numpy.approx``
(read its notes first), on device arrays. One thread per point: the factor rows
``u_i = A_i^T T(t_i)`` by the three-term recurrence into a per-thread array, then one sweep
over the core in C order (an odometer over the first ``d - 1`` modes, a dot product with
``u_d`` per core fibre). The per-thread arrays have fixed sizes: ``d <= MAX_D`` and every
rank ``<= MAX_R`` (:func:`pack` says so otherwise). CuPy is imported inside the functions.
"""
import numpy as np

from . import _build
from ..numpy import approx as _reference
from ..numpy.approx import check_points  # noqa: F401  (array-module agnostic)
from ..numpy.approx import map_points  # noqa: F401  (points are checked and mapped on the host)

MAX_D = 6
MAX_R = 64
#: evaluation routes of this set: the Chebyshev sums only (the table route of the NumPy and Numba
#: sets is not ported; one thread per point spends O(m r) per mode here)
ROUTES = ("chebyshev",)
BLOCK = 128

_COMMON = r"""
#define CT_MAXD 6
#define CT_MAXR 64
__device__ void ct_row(const double* Fi, int mi, int ri, int rmax, double x, double* ur) {
    for (int j = 0; j < ri; ++j) ur[j] = 0.0;
    double tkm1 = 1.0, tk = x;
    for (int k = 0; k < mi; ++k) {
        double tc;
        if (k == 0) { tc = 1.0; }
        else if (k == 1) { tc = x; }
        else { tc = 2.0 * x * tk - tkm1; tkm1 = tk; tk = tc; }
        const double* row = Fi + (long long)k * rmax;
        for (int j = 0; j < ri; ++j) ur[j] += tc * row[j];
    }
}
__device__ bool ct_next(int* idx, const long long* r, int d) {
    for (int i = d - 2; i >= 0; --i) {
        if (++idx[i] < (int)r[i]) return true;
        idx[i] = 0;
    }
    return false;
}
"""

_SRC = _COMMON + r"""
extern "C" __global__ void nk_ct_eval(const double* core, const double* F, const long long* m,
                                      const long long* r, const double* t, double* out,
                                      int n, int d, int mmax, int rmax) {
    int p = blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= n) return;
    double u[CT_MAXD * CT_MAXR];
    int idx[CT_MAXD];
    for (int i = 0; i < d; ++i) {
        ct_row(F + (long long)i * mmax * rmax, (int)m[i], (int)r[i], rmax, t[(long long)p * d + i], u + i * CT_MAXR);
        idx[i] = 0;
    }
    int rl = (int)r[d - 1];
    const double* ul = u + (d - 1) * CT_MAXR;
    double f = 0.0;
    long long q = 0;
    do {
        const double* fib = core + q * rl;
        double s = 0.0;
        for (int c = 0; c < rl; ++c) s += fib[c] * ul[c];
        double w = 1.0;
        for (int j = 0; j < d - 1; ++j) w *= u[j * CT_MAXR + idx[j]];
        f += w * s;
        ++q;
    } while (ct_next(idx, r, d));
    out[p] = f;
}

extern "C" __global__ void nk_ct_grad(const double* core, const double* F, const double* dF,
                                      const long long* m, const long long* r, const double* t,
                                      double* val, double* grad, int n, int d, int mmax, int rmax) {
    int p = blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= n) return;
    double u[CT_MAXD * CT_MAXR];
    double du[CT_MAXD * CT_MAXR];
    double g[CT_MAXD];
    int idx[CT_MAXD];
    for (int i = 0; i < d; ++i) {
        double x = t[(long long)p * d + i];
        ct_row(F + (long long)i * mmax * rmax, (int)m[i], (int)r[i], rmax, x, u + i * CT_MAXR);
        ct_row(dF + (long long)i * mmax * rmax, (int)m[i], (int)r[i], rmax, x, du + i * CT_MAXR);
        idx[i] = 0;
        g[i] = 0.0;
    }
    int rl = (int)r[d - 1];
    const double* ul = u + (d - 1) * CT_MAXR;
    const double* dul = du + (d - 1) * CT_MAXR;
    double f = 0.0;
    long long q = 0;
    do {
        const double* fib = core + q * rl;
        double s = 0.0, ds = 0.0;
        for (int c = 0; c < rl; ++c) { s += fib[c] * ul[c]; ds += fib[c] * dul[c]; }
        double w = 1.0;
        for (int j = 0; j < d - 1; ++j) w *= u[j * CT_MAXR + idx[j]];
        f += w * s;
        g[d - 1] += w * ds;
        for (int i = 0; i < d - 1; ++i) {
            double wi = du[i * CT_MAXR + idx[i]];
            for (int j = 0; j < d - 1; ++j) if (j != i) wi *= u[j * CT_MAXR + idx[j]];
            g[i] += wi * s;
        }
        ++q;
    } while (ct_next(idx, r, d));
    val[p] = f;
    for (int i = 0; i < d; ++i) grad[(long long)p * d + i] = g[i];
}
"""

#: every CUDA source of this module (compiled by tests/kernels/test_cuda_compile.py without a GPU)
_RAW = _build.RawSource("nk_approx", _SRC)
SOURCES = (_RAW,)


def pack(core, factors, dfactors, xp=None, tables=None):
    """The packed form on the device; ``d <= MAX_D`` and ranks ``<= MAX_R`` (per-thread arrays).
    ``tables`` must be ``None`` (see :data:`ROUTES`)."""
    if tables is not None:
        raise ValueError("backend 'cupy' has no table evaluation route; use eval_method='chebyshev' or 'auto'")
    import cupy as cp

    ranks = [A.shape[1] for A in factors]
    if len(factors) > MAX_D or max(ranks) > MAX_R:
        raise ValueError(f"backend 'cupy' evaluates Chebyshev–Tucker functions with d <= {MAX_D} and "
                         f"ranks <= {MAX_R}, "
                         f"got d = {len(factors)}, ranks {tuple(ranks)}; truncate(ranks=...) or use backend='numba'")
    return _reference.pack(core, factors, dfactors, xp=cp)


def _grid(n):
    return ((n + BLOCK - 1) // BLOCK,), (BLOCK,)


def _dims(packed):
    return np.int32(packed.d), np.int32(packed.F.shape[1]), np.int32(packed.F.shape[2])


def evaluate(packed, t, out):
    """``out[n] = p(t[n])``."""
    check_points(packed, t)
    n = t.shape[0]
    if n:
        grid, block = _grid(n)
        _build.function(_RAW, "nk_ct_eval")(grid, block, (packed.core, packed.F, packed.m, packed.r, t, out,
                                                          np.int32(n), *_dims(packed)))
    return out


def gradient(packed, t, val, grad):
    """``val[n] = p(t[n])`` and ``grad[n, i] = dp/dt_i (t[n])``."""
    check_points(packed, t)
    n = t.shape[0]
    if n:
        grid, block = _grid(n)
        _build.function(_RAW, "nk_ct_grad")(grid, block, (packed.core, packed.F, packed.dF, packed.m, packed.r, t,
                                                          val, grad, np.int32(n), *_dims(packed)))
    return val, grad
