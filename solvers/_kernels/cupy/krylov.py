"""CuPy twins of :mod:`solvers._kernels.numba.krylov` (fused element-wise updates).

The updates are single ``ElementwiseKernel`` launches; the dot products that
the solver needs on the host go through cuBLAS (``cupy.dot``) and are read back
as Python floats by the caller. CuPy is imported on first use only.
"""
import sys

from . import _build



def select(n):
    """The kernel set for vectors of length ``n``: this module (one launch size fits all)."""
    return sys.modules[__name__]


def as_vector(y):
    """``y`` as a vector the kernels accept (any CuPy array: returned unchanged)."""
    return y

def _ew(name, in_params, out_params, operation):
    return _build.Elementwise(f"newtonkit_krylov_{name}", in_params, out_params, operation)


#: every CUDA source of this module (compiled by tests/kernels/test_cuda_compile.py without a GPU)
_UPDATE_XR = _ew("update_xr", "float64 alpha, float64 p, float64 q", "float64 x, float64 r",
                 "x += alpha * p; r -= alpha * q;")
_UPDATE_XRZ = _ew("update_xrz", "float64 alpha, float64 p, float64 q, float64 dinv",
                  "float64 x, float64 r, float64 z", "x += alpha * p; r -= alpha * q; z = dinv * r;")
_UPDATE_R = _ew("update_r", "float64 alpha, float64 q", "float64 r", "r -= alpha * q;")
_UPDATE_XP = _ew("update_xp", "float64 alpha, float64 z, float64 beta", "float64 x, float64 p",
                 "x += alpha * p; p = z + beta * p;")
_FIRST_R = _ew("first_r", "float64 alpha, float64 b, float64 q", "float64 r", "r = b - alpha * q;")
_FIRST_XP = _ew("first_xp", "float64 alpha, float64 z, float64 beta", "float64 x, float64 p",
                "x = alpha * p; p = z + beta * p;")
_AXPY = _ew("axpy", "float64 alpha, float64 p", "float64 x", "x += alpha * p;")
_XPBY = _ew("xpby", "float64 z, float64 beta", "float64 p", "p = z + beta * p;")
_CHEB_STEP = _ew("cheb_step", "float64 ad, float64 c1, float64 c2", "float64 z, float64 res, float64 d",
                 "res -= ad; d = c1 * d + c2 * res; z += d;")
_MINRES_UPDATE = _ew("minres_update", "float64 v, float64 w2, float64 oldeps, float64 delta, float64 inv_gamma, "
                     "float64 phi", "float64 w1, float64 x",
                     "w1 = (v - oldeps * w1 - delta * w2) * inv_gamma; x += phi * w1;")
SOURCES = (_UPDATE_XR, _UPDATE_XRZ, _UPDATE_R, _UPDATE_XP, _FIRST_R, _FIRST_XP, _AXPY, _XPBY, _CHEB_STEP,
           _MINRES_UPDATE)


def dot(a, b):
    import cupy

    return float(cupy.dot(a, b))


def absmax(a):
    """``max |a|`` (NaN when ``a`` holds a NaN; 0 for an empty vector)."""
    import cupy

    return float(cupy.abs(a).max()) if a.size else 0.0


def absmax_sq(a):
    """``(max |a|, a . a)`` (two reductions)."""
    return absmax(a), float(a @ a) if a.size else 0.0


def cg_update_xr(x, r, p, q, alpha):
    """``x += alpha p; r -= alpha q``; return ``r.r``."""
    _build.build(_UPDATE_XR)(alpha, p, q, x, r)
    return dot(r, r)


def cg_update_xrz(x, r, z, p, q, dinv, alpha):
    """``x += alpha p; r -= alpha q; z = dinv r``; return ``(r.z, r.r)``."""
    _build.build(_UPDATE_XRZ)(alpha, p, q, dinv, x, r, z)
    return dot(r, z), dot(r, r)


def cg_update_r(r, q, alpha):
    """``r -= alpha q``; return ``r.r``."""
    _build.build(_UPDATE_R)(alpha, q, r)
    return dot(r, r)


def cg_update_xp(x, p, z, alpha, beta):
    """``x += alpha p``, then ``p = z + beta p`` (one launch, the same old ``p``)."""
    _build.build(_UPDATE_XP)(alpha, z, beta, x, p)


def cg_first_r(b, q, alpha, r):
    """``r = b - alpha q``; return ``r.r``."""
    _build.build(_FIRST_R)(alpha, b, q, r)
    return dot(r, r)


def cg_first_xp(x, p, z, alpha, beta):
    """``x = alpha p``, then ``p = z + beta p`` (one launch)."""
    _build.build(_FIRST_XP)(alpha, z, beta, x, p)


def axpy(alpha, p, x):
    """``x += alpha p`` in place."""
    _build.build(_AXPY)(alpha, p, x)


def xpby(z, beta, p):
    """``p = z + beta p`` in place."""
    _build.build(_XPBY)(z, beta, p)


def diag_apply(d, r, z):
    """``z = d r``; return ``r.z``."""
    import cupy

    cupy.multiply(d, r, out=z)
    return dot(r, z)


def residual(b, q, r):
    """``r = b - q``; return ``r.r``."""
    import cupy

    cupy.subtract(b, q, out=r)
    return dot(r, r)


def cheb_step(z, res, d, ad, c1, c2):
    """``res -= ad; d = c1 d + c2 res; z += d``."""
    _build.build(_CHEB_STEP)(ad, c1, c2, z, res, d)


def minres_update(v, w1, w2, x, oldeps, delta, inv_gamma, phi):
    """``w1 = (v - oldeps w1 - delta w2) inv_gamma``, then ``x += phi w1`` (one launch)."""
    _build.build(_MINRES_UPDATE)(v, w2, oldeps, delta, inv_gamma, phi, w1, x)


def rows_dot(V, k, w, h):
    """``h[:k] = V[:k] @ w`` (cuBLAS GEMV)."""
    h[:k] = V[:k] @ w


def rows_sub(V, k, h, w):
    """``w -= V[:k].T @ h[:k]`` in place."""
    w -= V[:k].T @ h[:k]
