"""CuPy twins of :mod:`solvers._kernels.numba.multigrid`: tensor-product restriction and prolongation.

A 2-D grid runs as the 3-D grid ``(1, n0, n1)`` with identity tables on the
dummy axis. One thread per output point. CuPy is imported on first use only.
Same names and signatures as :mod:`solvers._kernels.numpy.multigrid`.
"""
from . import _build
from . import stencil as _stencil

_CACHE = {}

#: no serial levels on the GPU
SERIAL_BELOW = 0

_SRC = r"""
extern "C" __global__ void restrict3(const double* r, double* out, int n1, int n2, int c0, int c1, int c2,
                                     const long long* ri0, const double* rw0, int m0,
                                     const long long* ri1, const double* rw1, int m1,
                                     const long long* ri2, const double* rw2, int m2) {
    long long p = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= (long long)c0 * c1 * c2) return;
    long long K = p % c2, J = (p / c2) % c1, I = p / ((long long)c1 * c2);
    double s = 0.0;
    for (int a = 0; a < m0; ++a) {
        double wa = rw0[I * m0 + a];
        if (wa == 0.0) continue;
        long long ia = ri0[I * m0 + a];
        for (int b = 0; b < m1; ++b) {
            double wab = wa * rw1[J * m1 + b];
            if (wab == 0.0) continue;
            long long base = (ia * n1 + ri1[J * m1 + b]) * n2;
            double t = 0.0;
            for (int c = 0; c < m2; ++c) t += rw2[K * m2 + c] * r[base + ri2[K * m2 + c]];
            s += wab * t;
        }
    }
    out[p] = s;
}

extern "C" __global__ void prolong_add3(const double* e, double* u, int n0, int n1, int n2, int c1, int c2,
                                        const long long* pi0, const double* pw0,
                                        const long long* pi1, const double* pw1,
                                        const long long* pi2, const double* pw2) {
    long long p = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (p >= (long long)n0 * n1 * n2) return;
    long long k = p % n2, j = (p / n2) % n1, i = p / ((long long)n1 * n2);
    double s = 0.0;
    for (int a = 0; a < 2; ++a) {
        double wa = pw0[2 * i + a];
        if (wa == 0.0) continue;
        for (int b = 0; b < 2; ++b) {
            double wab = wa * pw1[2 * j + b];
            if (wab == 0.0) continue;
            long long base = (pi0[2 * i + a] * c1 + pi1[2 * j + b]) * c2;
            s += wab * (pw2[2 * k] * e[base + pi2[2 * k]] + pw2[2 * k + 1] * e[base + pi2[2 * k + 1]]);
        }
    }
    u[p] += s;
}
"""

_BLOCK = 256


_MODULE = _build.RawSource("newtonkit_multigrid", _SRC)
#: every CUDA source of this module (compiled by NVRTC in tests/kernels/test_cuda_compile.py)
SOURCES = (_MODULE,)


def _kernel(name):
    """The kernel ``name`` of this module's CUDA source (built once, through :mod:`._build`)."""
    return _build.function(_MODULE, name)


def _unit_tables():
    t = _CACHE.get("_unit")
    if t is None:
        import cupy

        t = _CACHE["_unit"] = (cupy.zeros((1, 2), dtype=cupy.int64), cupy.asarray([[1.0, 0.0]]))
    return t


def restrict(r, out, R):
    """``out = R r`` with per-axis tables ``R = (ri0, rw0, ri1, rw1[, ri2, rw2])``, or a cupyx CSR matrix."""
    if not isinstance(R, tuple):
        out[...] = (R @ _c(r).reshape(-1)).reshape(out.shape)
        return
    tables = R
    import numpy as np

    if r.ndim == 2:
        ui, uw = _unit_tables()
        tables = (ui[:, :1], uw[:, :1]) + tuple(tables)
        r, out = r.reshape((1,) + r.shape), out.reshape((1,) + out.shape)
    ri0, rw0, ri1, rw1, ri2, rw2 = (_c(t) for t in tables)
    r, dst = _c(r), _c(out)                     # raw pointers ignore strides
    c0, c1, c2 = out.shape
    grid = ((out.size + _BLOCK - 1) // _BLOCK,)
    _kernel("restrict3")(grid, (_BLOCK,), (r, dst, np.int32(r.shape[1]), np.int32(r.shape[2]), np.int32(c0),
                                          np.int32(c1), np.int32(c2), ri0, rw0, np.int32(ri0.shape[1]),
                                          ri1, rw1, np.int32(ri1.shape[1]), ri2, rw2, np.int32(ri2.shape[1])))
    if dst is not out:
        out[...] = dst


def prolong_work(fine_shape, coarse_shape):
    """No work array is needed on the GPU."""
    return None


def needs_residual_buffer(op):
    """The residual is stored on the fine grid, then restricted."""
    return True


def smooth_residual_restrict(op, u, f, first, count, out, R, work):
    """``count`` half sweeps from ``u = 0``, then ``out = R (f - A u)`` (the NumPy set's semantics)."""
    _stencil.sweeps(op, u, f, first, count, True)
    residual_restrict(op, u, f, out, R, work)


def residual_restrict(op, u, f, out, R, work):
    """``out = R (f - A u)``: residual into ``work``, then restriction."""
    if getattr(op, "mg_csr", None) is not None:
        csr_residual(op.mg_csr, u, f, work)
    else:
        _stencil.residual(op, u, f, work)
    restrict(work, out, R)


def prolong_add(e, u, P, work=None, add=True):
    """``u += P e`` with per-axis tables ``P = (pi0, pw0, pi1, pw1[, pi2, pw2])`` or a cupyx CSR matrix
    (``work`` unused); ``u = P e`` when not ``add`` (``u``'s old entries are not read)."""
    if not add:
        u[...] = 0.0
    if not isinstance(P, tuple):
        u += (P @ _c(e).reshape(-1)).reshape(u.shape)
        return
    tables = P
    import numpy as np

    if u.ndim == 2:
        ui, uw = _unit_tables()
        tables = (ui, uw) + tuple(tables)
        e, u = e.reshape((1,) + e.shape), u.reshape((1,) + u.shape)
    pi0, pw0, pi1, pw1, pi2, pw2 = (_c(t) for t in tables)
    e, dst = _c(e), _c(u)                       # raw pointers ignore strides
    n0, n1, n2 = u.shape
    grid = ((u.size + _BLOCK - 1) // _BLOCK,)
    _kernel("prolong_add3")(grid, (_BLOCK,), (e, dst, np.int32(n0), np.int32(n1), np.int32(n2),
                                             np.int32(e.shape[1]), np.int32(e.shape[2]),
                                             pi0, pw0, pi1, pw1, pi2, pw2))
    if dst is not u:
        u[...] = dst


def interpolate(e, u, T, work=None):
    """``u = T e`` for tensor tables of any width, one row per point of ``u`` (the restriction's kernel)."""
    restrict(e, u, T)


def prolong_sweeps(e, u, P, work, op, f, first, count, dot=False):
    """``u += P e``, then ``count`` half sweeps of ``op`` from colour ``first`` (composed: the prolongation
    kernel, then :func:`solvers._kernels.cupy.stencil.sweeps`); returns ``f . u`` when ``dot``, else None."""
    prolong_add(e, u, P, work)
    _stencil.sweeps(op, u, f, first, count, False)
    if dot:
        import cupy

        return float(cupy.vdot(f, u))
    return None


def _c(a):
    """``a`` itself when C-contiguous, else a contiguous copy."""
    import cupy

    return cupy.ascontiguousarray(a)


# ----------------------------------------------------------------------------- Galerkin (CSR) levels
# cupyx sparse products; the multicolour Gauss-Seidel mirrors the NumPy reference (one exact parallel
# update per colour).
def _sparse():
    import cupyx.scipy.sparse as cs

    return cs


def csr_transfer(M):
    """The SciPy CSR matrix ``M`` as a cupyx CSR matrix on the device."""
    return _sparse().csr_matrix(M.tocsr())


def csr_level(C, order, cptr):
    """Storage of a coarse CSR level: the device matrix and, per colour, its rows, their sub-matrix and
    inverse diagonal."""
    import cupy

    cs = _sparse()
    C = C.tocsr()
    dinv = 1.0 / C.diagonal()
    blocks = []
    for c in range(len(cptr) - 1):
        rows = order[cptr[c]:cptr[c + 1]]
        blocks.append((cupy.asarray(rows), cs.csr_matrix(C[rows].tocsr()), cupy.asarray(dinv[rows])))
    return {"A": cs.csr_matrix(C), "blocks": blocks}


def csr_matvec(L, x, out):
    """``out = A x`` on a CSR level."""
    out[...] = (L["A"] @ _c(x).reshape(-1)).reshape(out.shape)


def csr_residual(L, u, f, r):
    """``r = f - A u`` on a CSR level; returns ``r . r``."""
    import cupy

    rv = _c(f).reshape(-1) - L["A"] @ _c(u).reshape(-1)
    r[...] = rv.reshape(r.shape)
    return float(cupy.dot(rv, rv))


def csr_smooth(L, u, f, reverse):
    """One multicolour Gauss-Seidel sweep in place (colours reversed when ``reverse``: the adjoint)."""
    uc = _c(u)
    uf = uc.reshape(-1)
    ff = _c(f).reshape(-1)
    blocks = L["blocks"][::-1] if reverse else L["blocks"]
    for rows, Ab, dinv in blocks:
        uf[rows] += dinv * (ff[rows] - Ab @ uf)
    if uc is not u:                                  # a strided u was copied: write back
        u[...] = uc


def split_level(op, P, R, coarse_shape, finest_points=None):
    """None: the device kernels keep the natural layout (the NumPy set's interface)."""
    return None


def compiled_tail(levels, nus, cinv):
    """None: on the device every level runs through the recursion (the reference's steps)."""
    return None
