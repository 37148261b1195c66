"""CuPy twins of :mod:`solvers._kernels.numba.stencil`: 5-/7-point stencil apply, residual, red-black GS.

One CUDA source handles 2-D and 3-D: a 2-D grid ``(n0, n1)`` runs as the 3-D
grid ``(1, n0, n1)`` (the axis-0 neighbours are masked out, so its face array is
never read). One thread per grid point. CuPy is imported on first use only.
Same names and signatures as :mod:`solvers._kernels.numpy.stencil`.
"""
from ..numpy.stencil import _sweep_pair_from, _sweeps_from
from . import _build

_CACHE = {}

_SRC = r"""
#define IDX(i, j, k) (((long long)(i) * n1 + (j)) * n2 + (k))

__device__ __forceinline__ double nbsum_c(const double* u, long long i, long long j, long long k,
                                          int n0, int n1, int n2, double w0, double w1, double w2) {
    double s = 0.0;
    if (i > 0) s += w0 * u[IDX(i - 1, j, k)];
    if (i < n0 - 1) s += w0 * u[IDX(i + 1, j, k)];
    if (j > 0) s += w1 * u[IDX(i, j - 1, k)];
    if (j < n1 - 1) s += w1 * u[IDX(i, j + 1, k)];
    if (k > 0) s += w2 * u[IDX(i, j, k - 1)];
    if (k < n2 - 1) s += w2 * u[IDX(i, j, k + 1)];
    return s;
}

__device__ __forceinline__ double nbsum_v(const double* u, long long i, long long j, long long k,
                                          int n0, int n1, int n2,
                                          const double* f0, const double* f1, const double* f2) {
    double s = 0.0;
    if (i > 0) s += f0[IDX(i, j, k)] * u[IDX(i - 1, j, k)];
    if (i < n0 - 1) s += f0[IDX(i + 1, j, k)] * u[IDX(i + 1, j, k)];
    long long b1 = ((long long)i * (n1 + 1) + j) * n2 + k;           /* faces along axis 1 */
    if (j > 0) s += f1[b1] * u[IDX(i, j - 1, k)];
    if (j < n1 - 1) s += f1[b1 + n2] * u[IDX(i, j + 1, k)];
    long long b2 = ((long long)i * n1 + j) * (n2 + 1) + k;           /* faces along axis 2 */
    if (k > 0) s += f2[b2] * u[IDX(i, j, k - 1)];
    if (k < n2 - 1) s += f2[b2 + 1] * u[IDX(i, j, k + 1)];
    return s;
}

/* mode 0: out = A u;  mode 1: out = f - A u */
extern "C" __global__ void apply_c(const double* u, const double* f, double* out, int n0, int n1, int n2,
                                   double w0, double w1, double w2, double d, int mode) {
    long long p = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    long long N = (long long)n0 * n1 * n2;
    if (p >= N) return;
    long long k = p % n2, j = (p / n2) % n1, i = p / ((long long)n1 * n2);
    double v = d * u[p] - nbsum_c(u, i, j, k, n0, n1, n2, w0, w1, w2);
    out[p] = mode ? f[p] - v : v;
}

extern "C" __global__ void apply_v(const double* u, const double* f, double* out, int n0, int n1, int n2,
                                   const double* f0, const double* f1, const double* f2, const double* dg,
                                   int mode) {
    long long p = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    long long N = (long long)n0 * n1 * n2;
    if (p >= N) return;
    long long k = p % n2, j = (p / n2) % n1, i = p / ((long long)n1 * n2);
    double v = dg[p] * u[p] - nbsum_v(u, i, j, k, n0, n1, n2, f0, f1, f2);
    out[p] = mode ? f[p] - v : v;
}

/* red-black Gauss-Seidel half sweep: points with (i + j + k) % 2 == color */
extern "C" __global__ void rbgs_c(double* u, const double* f, int n0, int n1, int n2,
                                  double w0, double w1, double w2, double d, int color) {
    long long p = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    long long N = (long long)n0 * n1 * n2;
    if (p >= N) return;
    long long k = p % n2, j = (p / n2) % n1, i = p / ((long long)n1 * n2);
    if (((i + j + k) & 1) != color) return;
    u[p] = (f[p] + nbsum_c(u, i, j, k, n0, n1, n2, w0, w1, w2)) / d;
}

extern "C" __global__ void rbgs_v(double* u, const double* f, int n0, int n1, int n2,
                                  const double* f0, const double* f1, const double* f2, const double* dg,
                                  int color) {
    long long p = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    long long N = (long long)n0 * n1 * n2;
    if (p >= N) return;
    long long k = p % n2, j = (p / n2) % n1, i = p / ((long long)n1 * n2);
    if (((i + j + k) & 1) != color) return;
    u[p] = (f[p] + nbsum_v(u, i, j, k, n0, n1, n2, f0, f1, f2)) / dg[p];
}
"""

_BLOCK = 256


_MODULE = _build.RawSource("newtonkit_stencil", _SRC)
#: every CUDA source of this module (compiled by NVRTC in tests/kernels/test_cuda_compile.py)
SOURCES = (_MODULE,)


def _kernel(name):
    """The kernel ``name`` of this module's CUDA source (built once, through :mod:`._build`)."""
    return _build.function(_MODULE, name)


def _dims(shape):
    return (1,) + tuple(shape) if len(shape) == 2 else tuple(shape)


def _launch(name, N, args):
    grid = ((N + _BLOCK - 1) // _BLOCK,)
    _kernel(name)(grid, (_BLOCK,), args)


def _coef_args(op):
    import numpy as np

    if op.const:
        w = op._w if len(op._w) == 3 else (0.0,) + tuple(op._w)
        return "c", tuple(np.float64(x) for x in w) + (np.float64(op._d),)
    faces = op._faces if len(op._faces) == 3 else (op._dg,) + tuple(op._faces)   # axis-0 faces never read in 2-D
    return "v", tuple(faces) + (op._dg,)


def _inp(a):
    """A C-contiguous float64 array for a read-only pointer argument (raw pointers ignore strides)."""
    import cupy

    return a if (a.flags.c_contiguous and a.dtype == cupy.float64) else cupy.ascontiguousarray(a, dtype=cupy.float64)


def _outp(a):
    """``(buffer, write_back)`` for an output argument: a contiguous temporary when ``a`` is strided."""
    import cupy

    if a.flags.c_contiguous and a.dtype == cupy.float64:
        return a, False
    return cupy.ascontiguousarray(a, dtype=cupy.float64), True


def apply(op, u, out):
    """``out = A u`` (grid arrays; strided ones go through contiguous copies); returns ``out``."""
    import numpy as np

    n0, n1, n2 = _dims(op.grid_shape)
    kind, coef = _coef_args(op)
    u = _inp(u)
    o, back = _outp(out)
    _launch(f"apply_{kind}", u.size, (u, u, o, np.int32(n0), np.int32(n1), np.int32(n2), *coef, np.int32(0)))
    if back:
        out[...] = o
    return out


def apply_dot(op, u, out):
    """``out = A u``; return ``u . A u``."""
    import cupy

    apply(op, u, out)
    return float(cupy.vdot(u, out))


def residual(op, u, f, r):
    """``r = f - A u``; return ``r . r``."""
    import numpy as np

    n0, n1, n2 = _dims(op.grid_shape)
    kind, coef = _coef_args(op)
    u, f = _inp(u), _inp(f)
    o, back = _outp(r)
    _launch(f"apply_{kind}", u.size, (u, f, o, np.int32(n0), np.int32(n1), np.int32(n2), *coef, np.int32(1)))
    if back:
        r[...] = o
    import cupy

    return float(cupy.vdot(o, o))


def residual_sq(op, u, f, work):
    """``||f - A u||^2`` (the residual written into ``work``, not kept)."""
    return residual(op, u, f, work)


def rbgs(op, u, f, color):
    """One red-black Gauss-Seidel half sweep in place."""
    import numpy as np

    n0, n1, n2 = _dims(op.grid_shape)
    kind, coef = _coef_args(op)
    f = _inp(f)
    w, back = _outp(u)
    _launch(f"rbgs_{kind}", w.size, (w, f, np.int32(n0), np.int32(n1), np.int32(n2), *coef, np.int32(color)))
    if back:
        u[...] = w


def rb_first(op, u, f, color):
    """Half sweep from a zero guess: ``u = f / d`` on ``color`` points, 0 on the others."""
    import cupy

    u[...] = cupy.where(op._parity() == color, f * op._dinv_arr, 0.0)


def sweep_pair(op, u, f, first, zero):
    """Half sweep of colour ``first`` (from ``u = 0`` when ``zero``), then of ``1 - first`` (two launches)."""
    _sweep_pair_from(rb_first, rbgs, op, u, f, first, zero)


def sweeps(op, u, f, first, count, zero):
    """``count`` half sweeps of alternating colours from ``first`` (from ``u = 0`` when ``zero``): one
    launch per half sweep (the whole grid is in flight at once on the GPU, so there is no pass to save)."""
    _sweeps_from(rb_first, rbgs, op, u, f, first, count, zero)
