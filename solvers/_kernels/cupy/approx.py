"""CuPy kernels for Chebyshev–Tucker evaluation (GPU twins of ``_kernels/numba/approx.py``).

Same names, signatures and meaning as the NumPy reference ``solvers._kernels.numpy.approx``
(read its notes first), on device arrays. One thread per point: the factor rows
``u_i = A_i^T T(t_i)`` by the three-term recurrence into a per-thread array (the ``table``
route: by Lagrange interpolation of order ``p`` in ``arccos t`` on the tables, as the NumPy
reference ``table_rows``), then one sweep over the core in C order (an odometer over the first
``d - 1`` modes, a dot product with ``u_d`` per core fibre). The per-thread arrays have fixed
sizes: ``d <= MAX_D``, every rank ``<= MAX_R`` and ``p <= MAX_P`` (:func:`pack` says so
otherwise). CuPy is imported inside the functions.
"""
import numpy as np

from . import _build
from ..numpy import approx as _reference
from ..numpy.approx import check_points, check_table  # noqa: F401  (array-module agnostic)
from ..numpy.approx import map_points  # noqa: F401  (points are checked and mapped on the host)

MAX_D = 6
MAX_R = 64
MAX_P = 16
#: evaluation routes of this set
ROUTES = ("chebyshev", "table")
#: whether ``eval_method="auto"`` may take the table route on this backend: not here, the
#: table kernels are checked (NVRTC, emulation) but not yet timed on a GPU against the sums
TABLE_AUTO = False
BLOCK = 128

_COMMON = r"""
#define CT_MAXD 6
#define CT_MAXR 64
#define CT_MAXP 16
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
__device__ void ct_trow(const double* Ti, int G, int p, const double* inv_den, int ri, double x, double* ur) {
    const int half = p / 2, L = G + p + 1;
    double s = acos(x) * ((double)G / 3.141592653589793);
    int k = (int)s;
    if (k > G - 1) k = G - 1;
    const int j0 = k - half + 1;
    const double sig = s - j0;
    double w[CT_MAXP];
    double pre = 1.0;
    for (int l = 0; l < p; ++l) { w[l] = pre; pre *= sig - l; }
    double suf = 1.0;
    for (int l = p - 1; l >= 0; --l) { w[l] *= suf * inv_den[l]; suf *= sig - l; }
    for (int j = 0; j < ri; ++j) {
        const double* row = Ti + (long long)j * L + (j0 + half);
        double a = 0.0;
        for (int l = 0; l < p; ++l) a += w[l] * row[l];
        ur[j] = a;
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

_KERNELS = r"""
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
    out[p] = ct_sweep(core, u, idx, r, d);
}

extern "C" __global__ void nk_ct_eval_table(const double* core, const double* tT, const long long* t_off,
                                            const long long* tG, const double* inv_den, const long long* r,
                                            const double* t, double* out, int n, int d, int tp) {
    int p = blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= n) return;
    double u[CT_MAXD * CT_MAXR];
    int idx[CT_MAXD];
    for (int i = 0; i < d; ++i) {
        ct_trow(tT + t_off[i], (int)tG[i], tp, inv_den, (int)r[i], t[(long long)p * d + i], u + i * CT_MAXR);
        idx[i] = 0;
    }
    out[p] = ct_sweep(core, u, idx, r, d);
}

extern "C" __global__ void nk_ct_table_rows(const double* Ti, int G, int tp, const double* inv_den, int ri,
                                            const double* x, double* out, int n) {
    int p = blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= n) return;
    ct_trow(Ti, G, tp, inv_den, ri, x[p], out + (long long)p * ri);
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
    ct_grad_sweep(core, u, du, idx, g, r, d, val + p, grad + (long long)p * d);
}

extern "C" __global__ void nk_ct_grad_table(const double* core, const double* tT, const long long* t_off,
                                            const long long* tG, const double* dtT, const long long* dt_off,
                                            const long long* dtG, const double* inv_den, const long long* r,
                                            const double* t, double* val, double* grad, int n, int d, int tp) {
    int p = blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= n) return;
    double u[CT_MAXD * CT_MAXR];
    double du[CT_MAXD * CT_MAXR];
    double g[CT_MAXD];
    int idx[CT_MAXD];
    for (int i = 0; i < d; ++i) {
        double x = t[(long long)p * d + i];
        ct_trow(tT + t_off[i], (int)tG[i], tp, inv_den, (int)r[i], x, u + i * CT_MAXR);
        ct_trow(dtT + dt_off[i], (int)dtG[i], tp, inv_den, (int)r[i], x, du + i * CT_MAXR);
        idx[i] = 0;
        g[i] = 0.0;
    }
    ct_grad_sweep(core, u, du, idx, g, r, d, val + p, grad + (long long)p * d);
}
"""

_SWEEPS = r"""
__device__ double ct_sweep(const double* core, const double* u, int* idx, const long long* r, int d) {
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
    return f;
}
__device__ void ct_grad_sweep(const double* core, const double* u, const double* du, int* idx, double* g,
                              const long long* r, int d, double* val, double* grad) {
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
    val[0] = f;
    for (int i = 0; i < d; ++i) grad[i] = g[i];
}
"""

_SRC = _COMMON + _SWEEPS + _KERNELS

#: every CUDA source of this module (compiled by tests/kernels/test_cuda_compile.py without a GPU)
_RAW = _build.RawSource("nk_approx", _SRC)
SOURCES = (_RAW,)


def pack(core, factors, dfactors, xp=None, tables=None):
    """The packed form on the device; ``d <= MAX_D``, ranks ``<= MAX_R`` and table orders
    ``<= MAX_P`` (per-thread arrays)."""
    if tables is not None and int(tables["p"]) > MAX_P:
        raise ValueError(f"backend 'cupy' interpolates tables of order <= {MAX_P}, got {tables['p']}")
    import cupy as cp

    ranks = [A.shape[1] for A in factors]
    if len(factors) > MAX_D or max(ranks) > MAX_R:
        raise ValueError(f"backend 'cupy' evaluates Chebyshev–Tucker functions with d <= {MAX_D} and "
                         f"ranks <= {MAX_R}, "
                         f"got d = {len(factors)}, ranks {tuple(ranks)}; truncate(ranks=...) or use backend='numba'")
    return _reference.pack(core, factors, dfactors, xp=cp, tables=tables)


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


# --------------------------------------------------------------------------- the table route
def table_rows(packed, i, x, out, derivative=False):
    """As the reference: ``out[n, :r_i] = u_i(x[n])`` (host ``x`` and ``out``; the kernel that
    :func:`evaluate_table` runs, for one mode)."""
    import cupy as cp

    check_table(packed, derivative)
    pre = "d" if derivative else ""
    n, ri = x.shape[0], int(packed.r[i])
    if n:
        off = int(getattr(packed, pre + "t_off")[i])
        xd, od = cp.asarray(np.ascontiguousarray(x, dtype=np.float64)), cp.empty((n, ri))
        grid, block = _grid(n)
        _build.function(_RAW, "nk_ct_table_rows")(grid, block, (
            getattr(packed, pre + "tT")[off:], np.int32(int(getattr(packed, pre + "tG")[i])), np.int32(packed.tp),
            packed.inv_den, np.int32(ri), xd, od, np.int32(n)))
        out[:, :ri] = cp.asnumpy(od)
    return out


def evaluate_table(packed, t, out, total=None):  # noqa: ARG001 - total: the Numba set's form choice
    """``out[n] = p(t[n])`` with the factor rows from the tables."""
    check_points(packed, t)
    check_table(packed)
    n = t.shape[0]
    if n:
        grid, block = _grid(n)
        _build.function(_RAW, "nk_ct_eval_table")(grid, block, (
            packed.core, packed.tT, packed.t_off, packed.tG, packed.inv_den, packed.r, t, out, np.int32(n),
            np.int32(packed.d), np.int32(packed.tp)))
    return out


def gradient_table(packed, t, val, grad, total=None):  # noqa: ARG001
    """As :func:`gradient` with the factor rows and their derivatives from the tables."""
    check_points(packed, t)
    check_table(packed)
    check_table(packed, derivative=True)
    n = t.shape[0]
    if n:
        grid, block = _grid(n)
        _build.function(_RAW, "nk_ct_grad_table")(grid, block, (
            packed.core, packed.tT, packed.t_off, packed.tG, packed.dtT, packed.dt_off, packed.dtG, packed.inv_den,
            packed.r, t, val, grad, np.int32(n), np.int32(packed.d), np.int32(packed.tp)))
    return val, grad
