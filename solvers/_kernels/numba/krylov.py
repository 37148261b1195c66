"""Fused vector kernels for the Krylov solvers (CG, Chebyshev preconditioner).

Each kernel makes one pass over its vectors and, where the algorithm needs
them, returns the dot products computed in that same pass. Every kernel
exists twice: a ``parallel=True`` version (suffix ``_p``) for long vectors and
a serial one (suffix ``_s``) for short vectors, where the cost of waking the
thread pool exceeds the work (the solvers pick by length, see
``PARALLEL_MIN``). Kernels work in place on preallocated arrays and allocate
nothing.
"""
import numba as nb

# vectors shorter than this use the serial kernels
PARALLEL_MIN = 50_000

# Reassociation (no finite-math assumptions: NaN/inf still propagate, so CG's non-finite checks keep
# working) lets LLVM vectorise the dot-product reductions with several partial sums; the strictly ordered
# scalar sum is bound by the floating-point add latency (measured 2-4x slower on 1M-long vectors).
_FM = {"reassoc", "contract", "nsz"}


# ---------------------------------------------------------------- dot products
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def dot_p(a, b):
    s = 0.0
    for i in nb.prange(a.shape[0]):
        s += a[i] * b[i]
    return s


@nb.njit(cache=True, fastmath=_FM)
def dot_s(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


# ------------------------------------------------ CG: x += a p ; r -= a q
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cg_update_xr_p(x, r, p, q, alpha):
    """``x += alpha p; r -= alpha q``; return ``r.r`` (one pass)."""
    rr = 0.0
    for i in nb.prange(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


@nb.njit(cache=True, fastmath=_FM)
def cg_update_xr_s(x, r, p, q, alpha):
    rr = 0.0
    for i in range(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


# ------------------- CG with a diagonal (Jacobi) preconditioner: also z = dinv r
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cg_update_xrz_p(x, r, z, p, q, dinv, alpha):
    """``x += alpha p; r -= alpha q; z = dinv * r``; return ``(r.z, r.r)`` (one pass)."""
    rz = 0.0
    rr = 0.0
    for i in nb.prange(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        zi = dinv[i] * ri
        z[i] = zi
        rz += ri * zi
        rr += ri * ri
    return rz, rr


@nb.njit(cache=True, fastmath=_FM)
def cg_update_xrz_s(x, r, z, p, q, dinv, alpha):
    rz = 0.0
    rr = 0.0
    for i in range(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        zi = dinv[i] * ri
        z[i] = zi
        rz += ri * zi
        rr += ri * ri
    return rz, rr


# ------------------------------------------------------- p = z + beta p
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def xpby_p(z, beta, p):
    """``p = z + beta p`` in place."""
    for i in nb.prange(p.shape[0]):
        p[i] = z[i] + beta * p[i]


@nb.njit(cache=True, fastmath=_FM)
def xpby_s(z, beta, p):
    for i in range(p.shape[0]):
        p[i] = z[i] + beta * p[i]


# ------------------------------------------------------- z = d * r (and r.z)
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def diag_apply_p(d, r, z):
    """``z = d * r``; return ``r.z``."""
    s = 0.0
    for i in nb.prange(r.shape[0]):
        zi = d[i] * r[i]
        z[i] = zi
        s += r[i] * zi
    return s


@nb.njit(cache=True, fastmath=_FM)
def diag_apply_s(d, r, z):
    s = 0.0
    for i in range(r.shape[0]):
        zi = d[i] * r[i]
        z[i] = zi
        s += r[i] * zi
    return s


# ------------------------------------------------------- r = b - q
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def residual_p(b, q, r):
    """``r = b - q``; return ``r.r``."""
    s = 0.0
    for i in nb.prange(b.shape[0]):
        ri = b[i] - q[i]
        r[i] = ri
        s += ri * ri
    return s


@nb.njit(cache=True, fastmath=_FM)
def residual_s(b, q, r):
    s = 0.0
    for i in range(b.shape[0]):
        ri = b[i] - q[i]
        r[i] = ri
        s += ri * ri
    return s


# ------------------------------------- Chebyshev iteration step (preconditioner)
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cheb_step_p(z, res, d, ad, c1, c2):
    """``res -= ad; d = c1 d + c2 res; z += d`` in one pass."""
    for i in nb.prange(z.shape[0]):
        ri = res[i] - ad[i]
        res[i] = ri
        di = c1 * d[i] + c2 * ri
        d[i] = di
        z[i] += di


@nb.njit(cache=True, fastmath=_FM)
def cheb_step_s(z, res, d, ad, c1, c2):
    for i in range(z.shape[0]):
        ri = res[i] - ad[i]
        res[i] = ri
        di = c1 * d[i] + c2 * ri
        d[i] = di
        z[i] += di
