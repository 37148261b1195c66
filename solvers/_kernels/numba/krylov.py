"""Fused vector kernels for the Krylov solvers (CG, Chebyshev preconditioner).

Each kernel makes one pass over its vectors and, where the algorithm needs
them, returns the dot products computed in that same pass. Every kernel
exists twice: a ``parallel=True`` version (suffix ``_p``) for long vectors and
a serial one (suffix ``_s``) for short vectors, where the cost of waking the
thread pool exceeds the work. The choice is made here: :func:`select` returns
the set for a vector length (``PARALLEL_MIN``), and the unsuffixed module-level
functions (the names every backend's ``krylov`` module shares) pick per call.
Kernels work in place on preallocated arrays and allocate nothing. Every kernel
first checks that its vectors have one length (O(1); a mismatch raises
``ValueError`` instead of reading or writing out of bounds).
"""
import types

import numba as nb
import numpy as np

from ... import _config

# shorter vectors use the serial kernels (CG ms at 50k/10k/4k: 80^2 2.90/2.92/1.99, 150^2 10.6/5.7/5.8, 20^3 1.53/1.56/1.04)
PARALLEL_MIN = 4_000

# Reassociation (no finite-math assumptions: NaN/inf still propagate, so CG's non-finite checks keep
# working) lets LLVM vectorise the dot-product reductions with several partial sums; the strictly ordered
# scalar sum is bound by the floating-point add latency (measured 2-4x slower on 1M-long vectors).
_FM = {"reassoc", "contract", "nsz"}


# ---------------------------------------------------------------- dot products
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def dot_p(a, b):
    if b.shape[0] != a.shape[0]:
        raise ValueError("dot: vectors of different lengths")
    s = 0.0
    for i in nb.prange(a.shape[0]):
        s += a[i] * b[i]
    return s


@nb.njit(cache=True, fastmath=_FM)
def dot_s(a, b):
    if b.shape[0] != a.shape[0]:
        raise ValueError("dot: vectors of different lengths")
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


# ---------------------------------------------------------------- max |a| (NaN when a holds one)
# On the bit patterns with the sign bit cleared, read as int64 (then non-negative): they order as the magnitudes do
# (0 < subnormals < normals < inf < NaN), so an integer max -- which vectorises; the float compare with its NaN test
# stayed scalar -- gives max |a| exactly, and a NaN anywhere as a pattern above inf's. The parallel form is a
# reduction over the elements (prange): chunks looping over ``range(lo, hi)`` from a run-time ``lo`` kept Numba's
# negative-index wrap-around test in the loop, which stopped LLVM vectorising it (2^20 points, 2 threads, Zen 5:
# 0.21-0.27 ms chunked, 0.046 ms as a reduction; session 32, ``/tmp/s32/am5.py``)
_MAG, _INF = np.int64(0x7FFFFFFFFFFFFFFF), np.int64(0x7FF0000000000000)


@nb.njit(cache=True)
def _as_float(m):
    return np.nan if m > _INF else np.array([m]).view(np.float64)[0]


@nb.njit(parallel=True, cache=True)
def _absmax_p(u):
    m = np.int64(0)
    for i in nb.prange(u.shape[0]):
        m = max(m, u[i] & _MAG)
    return _as_float(m)


@nb.njit(cache=True)
def _absmax_s(u):
    m = np.int64(0)
    for i in range(u.shape[0]):
        m = max(m, u[i] & _MAG)
    return _as_float(m)


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def _absmax_sq_p(u, v):
    m, s = np.int64(0), 0.0
    for i in nb.prange(u.shape[0]):
        m = max(m, u[i] & _MAG)
        s += v[i] * v[i]
    return _as_float(m), s


@nb.njit(cache=True, fastmath=_FM)
def _absmax_sq_s(u, v):
    m, s = np.int64(0), 0.0
    for i in range(u.shape[0]):
        m = max(m, u[i] & _MAG)
        s += v[i] * v[i]
    return _as_float(m), s


def _bits(a):
    """The float64 bit patterns of ``a`` as int64 (other dtypes converted first: the patterns are float64's)."""
    return np.ascontiguousarray(a, dtype=np.float64).reshape(-1).view(np.int64)


def absmax_p(a):
    """``max |a|`` in one pass (NaN when ``a`` holds a NaN, inf for an inf; 0 for an empty vector)."""
    return _absmax_p(_bits(a))


def absmax_s(a):
    return _absmax_s(_bits(a))


def absmax_sq_p(a):
    """``(max |a|, a . a)`` in one pass (``a . a`` meaningful where ``max |a|`` is far from float64's limits)."""
    v = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    m, s = _absmax_sq_p(v.view(np.int64), v)
    return float(m), float(s)


def absmax_sq_s(a):
    v = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    m, s = _absmax_sq_s(v.view(np.int64), v)
    return float(m), float(s)


# ------------------------------------------------ CG: x += a p ; r -= a q
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cg_update_xr_p(x, r, p, q, alpha):
    """``x += alpha p; r -= alpha q``; return ``r.r`` (one pass)."""
    if r.shape[0] != x.shape[0] or p.shape[0] != x.shape[0] or q.shape[0] != x.shape[0]:
        raise ValueError("cg_update_xr: vectors of different lengths")
    rr = 0.0
    for i in nb.prange(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


@nb.njit(cache=True, fastmath=_FM)
def cg_update_xr_s(x, r, p, q, alpha):
    if r.shape[0] != x.shape[0] or p.shape[0] != x.shape[0] or q.shape[0] != x.shape[0]:
        raise ValueError("cg_update_xr: vectors of different lengths")
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
    if r.shape[0] != x.shape[0] or z.shape[0] != x.shape[0] or p.shape[0] != x.shape[0] or q.shape[0] != x.shape[0] or dinv.shape[0] != x.shape[0]:
        raise ValueError("cg_update_xrz: vectors of different lengths")
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
    if r.shape[0] != x.shape[0] or z.shape[0] != x.shape[0] or p.shape[0] != x.shape[0] or q.shape[0] != x.shape[0] or dinv.shape[0] != x.shape[0]:
        raise ValueError("cg_update_xrz: vectors of different lengths")
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


# ------------- CG with the x update deferred: r -= a q (r.r) ; then x += a p, p = z + b p in one pass
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cg_update_r_p(r, q, alpha):
    """``r -= alpha q``; return ``r.r`` (one pass)."""
    if q.shape[0] != r.shape[0]:
        raise ValueError("cg_update_r: vectors of different lengths")
    rr = 0.0
    for i in nb.prange(r.shape[0]):
        ri = r[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


@nb.njit(cache=True, fastmath=_FM)
def cg_update_r_s(r, q, alpha):
    if q.shape[0] != r.shape[0]:
        raise ValueError("cg_update_r: vectors of different lengths")
    rr = 0.0
    for i in range(r.shape[0]):
        ri = r[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cg_update_xp_p(x, p, z, alpha, beta):
    """``x += alpha p``, then ``p = z + beta p`` from the same old ``p`` (one pass)."""
    if p.shape[0] != x.shape[0] or z.shape[0] != x.shape[0]:
        raise ValueError("cg_update_xp: vectors of different lengths")
    for i in nb.prange(x.shape[0]):
        pi = p[i]
        x[i] += alpha * pi
        p[i] = z[i] + beta * pi


@nb.njit(cache=True, fastmath=_FM)
def cg_update_xp_s(x, p, z, alpha, beta):
    if p.shape[0] != x.shape[0] or z.shape[0] != x.shape[0]:
        raise ValueError("cg_update_xp: vectors of different lengths")
    for i in range(x.shape[0]):
        pi = p[i]
        x[i] += alpha * pi
        p[i] = z[i] + beta * pi


# ------------- CG's first iteration from x = 0: r = b - a q (b read, not copied into r) ; x = a p, p = z + b p
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cg_first_r_p(b, q, alpha, r):
    """``r = b - alpha q``; return ``r.r`` (one pass; ``r``'s old content is not read)."""
    if q.shape[0] != r.shape[0] or b.shape[0] != r.shape[0]:
        raise ValueError("cg_first_r: vectors of different lengths")
    rr = 0.0
    for i in nb.prange(r.shape[0]):
        ri = b[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


@nb.njit(cache=True, fastmath=_FM)
def cg_first_r_s(b, q, alpha, r):
    if q.shape[0] != r.shape[0] or b.shape[0] != r.shape[0]:
        raise ValueError("cg_first_r: vectors of different lengths")
    rr = 0.0
    for i in range(r.shape[0]):
        ri = b[i] - alpha * q[i]
        r[i] = ri
        rr += ri * ri
    return rr


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cg_first_xp_p(x, p, z, alpha, beta):
    """``x = alpha p`` (``x``'s old content is not read), then ``p = z + beta p`` (one pass)."""
    if p.shape[0] != x.shape[0] or z.shape[0] != x.shape[0]:
        raise ValueError("cg_first_xp: vectors of different lengths")
    for i in nb.prange(x.shape[0]):
        pi = p[i]
        x[i] = alpha * pi
        p[i] = z[i] + beta * pi


@nb.njit(cache=True, fastmath=_FM)
def cg_first_xp_s(x, p, z, alpha, beta):
    if p.shape[0] != x.shape[0] or z.shape[0] != x.shape[0]:
        raise ValueError("cg_first_xp: vectors of different lengths")
    for i in range(x.shape[0]):
        pi = p[i]
        x[i] = alpha * pi
        p[i] = z[i] + beta * pi


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def axpy_p(alpha, p, x):
    """``x += alpha p`` in place."""
    if p.shape[0] != x.shape[0]:
        raise ValueError("axpy: vectors of different lengths")
    for i in nb.prange(x.shape[0]):
        x[i] += alpha * p[i]


@nb.njit(cache=True, fastmath=_FM)
def axpy_s(alpha, p, x):
    if p.shape[0] != x.shape[0]:
        raise ValueError("axpy: vectors of different lengths")
    for i in range(x.shape[0]):
        x[i] += alpha * p[i]


# ------------------------------------------------------- p = z + beta p
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def xpby_p(z, beta, p):
    """``p = z + beta p`` in place."""
    if z.shape[0] != p.shape[0]:
        raise ValueError("xpby: vectors of different lengths")
    for i in nb.prange(p.shape[0]):
        p[i] = z[i] + beta * p[i]


@nb.njit(cache=True, fastmath=_FM)
def xpby_s(z, beta, p):
    if z.shape[0] != p.shape[0]:
        raise ValueError("xpby: vectors of different lengths")
    for i in range(p.shape[0]):
        p[i] = z[i] + beta * p[i]


# ------------------------------------------------------- z = d * r (and r.z)
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def diag_apply_p(d, r, z):
    """``z = d * r``; return ``r.z``."""
    if d.shape[0] != r.shape[0] or z.shape[0] != r.shape[0]:
        raise ValueError("diag_apply: vectors of different lengths")
    s = 0.0
    for i in nb.prange(r.shape[0]):
        zi = d[i] * r[i]
        z[i] = zi
        s += r[i] * zi
    return s


@nb.njit(cache=True, fastmath=_FM)
def diag_apply_s(d, r, z):
    if d.shape[0] != r.shape[0] or z.shape[0] != r.shape[0]:
        raise ValueError("diag_apply: vectors of different lengths")
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
    if q.shape[0] != b.shape[0] or r.shape[0] != b.shape[0]:
        raise ValueError("residual: vectors of different lengths")
    s = 0.0
    for i in nb.prange(b.shape[0]):
        ri = b[i] - q[i]
        r[i] = ri
        s += ri * ri
    return s


@nb.njit(cache=True, fastmath=_FM)
def residual_s(b, q, r):
    if q.shape[0] != b.shape[0] or r.shape[0] != b.shape[0]:
        raise ValueError("residual: vectors of different lengths")
    s = 0.0
    for i in range(b.shape[0]):
        ri = b[i] - q[i]
        r[i] = ri
        s += ri * ri
    return s


# ------------------------------------- the Chebyshev preconditioner's and MINRES's fused steps
from ._krylov_steps import cheb_step_p, cheb_step_s, minres_update_p, minres_update_s  # noqa: E402

_STEPS = (cheb_step_p, cheb_step_s, minres_update_p, minres_update_s)   # in the kernel set (select)


# ------------------------------------------------ BLAS-2 on the rows of a basis (GMRES's Arnoldi step)
from ._krylov_rows import rows_dot_p, rows_dot_s, rows_sub_p, rows_sub_s  # noqa: E402

_ROWS = (rows_dot_p, rows_dot_s, rows_sub_p, rows_sub_s)     # in the kernel set (select)


# ------------------------------------------------------------------ the shared kernel-set interface

NAMES = ("dot", "absmax", "absmax_sq", "cg_update_xr", "cg_update_xrz", "cg_update_r", "cg_update_xp", "cg_first_r", "cg_first_xp",
         "axpy", "xpby", "diag_apply", "residual", "cheb_step", "minres_update", "rows_dot", "rows_sub")


def as_vector(y):
    """``y`` as a C-contiguous float64 vector (what the kernels compile for); no copy when it is one."""
    if y.dtype != np.float64 or not y.flags.c_contiguous:
        return np.ascontiguousarray(y, dtype=np.float64)
    return y


_SETS = {}
#: functions returning namespaces of kernels (wrapped by the package's ``kernel_set`` hook like the module)
KERNEL_NAMESPACES = ("select",)


def select(n):
    """The kernel set for vectors of length ``n``: the parallel kernels from ``PARALLEL_MIN`` on,
    else the serial ones (a namespace with the unsuffixed names)."""
    par = n >= PARALLEL_MIN
    if par:
        _config.check_fork()               # a forked child that cannot launch them: a clear error, not a hang
    ks = _SETS.get(par)
    if ks is None:
        sfx = "_p" if par else "_s"
        g = globals()
        ks = types.SimpleNamespace(**{nm: g[nm + sfx] for nm in NAMES}, as_vector=as_vector,
                                   select=select)
        _SETS[par] = ks
    return ks


def dot(a, b):
    """``a . b`` (serial or parallel by length)."""
    return select(a.shape[0]).dot(a, b)


def absmax(a):
    """``max |a|`` (NaN when ``a`` holds one), one pass."""
    return select(a.shape[0]).absmax(a)


def absmax_sq(a):
    """``(max |a|, a . a)``, one pass."""
    return select(a.shape[0]).absmax_sq(a)


def cg_update_xr(x, r, p, q, alpha):
    """``x += alpha p; r -= alpha q``; return ``r.r``."""
    return select(x.shape[0]).cg_update_xr(x, r, p, q, alpha)


def cg_update_xrz(x, r, z, p, q, dinv, alpha):
    """``x += alpha p; r -= alpha q; z = dinv * r``; return ``(r.z, r.r)``."""
    return select(x.shape[0]).cg_update_xrz(x, r, z, p, q, dinv, alpha)


def cg_update_r(r, q, alpha):
    """``r -= alpha q``; return ``r.r``."""
    return select(r.shape[0]).cg_update_r(r, q, alpha)


def cg_update_xp(x, p, z, alpha, beta):
    """``x += alpha p``, then ``p = z + beta p`` (one pass, the same old ``p``)."""
    select(x.shape[0]).cg_update_xp(x, p, z, alpha, beta)


def cg_first_r(b, q, alpha, r):
    """``r = b - alpha q``; return ``r.r``."""
    return select(r.shape[0]).cg_first_r(b, q, alpha, r)


def cg_first_xp(x, p, z, alpha, beta):
    """``x = alpha p``, then ``p = z + beta p`` (one pass)."""
    select(x.shape[0]).cg_first_xp(x, p, z, alpha, beta)


def axpy(alpha, p, x):
    """``x += alpha p`` in place."""
    select(x.shape[0]).axpy(alpha, p, x)


def xpby(z, beta, p):
    """``p = z + beta p`` in place."""
    select(p.shape[0]).xpby(z, beta, p)


def diag_apply(d, r, z):
    """``z = d * r``; return ``r.z``."""
    return select(r.shape[0]).diag_apply(d, r, z)


def residual(b, q, r):
    """``r = b - q``; return ``r.r``."""
    return select(b.shape[0]).residual(b, q, r)


def cheb_step(z, res, d, ad, c1, c2):
    """``res -= ad; d = c1 d + c2 res; z += d``."""
    select(z.shape[0]).cheb_step(z, res, d, ad, c1, c2)


def minres_update(v, w1, w2, x, oldeps, delta, inv_gamma, phi):
    """``w1 = (v - oldeps w1 - delta w2) inv_gamma``, then ``x += phi w1``."""
    select(v.shape[0]).minres_update(v, w1, w2, x, oldeps, delta, inv_gamma, phi)


def rows_dot(V, k, w, h):
    """``h[:k] = V[:k] @ w``."""
    select(w.shape[0]).rows_dot(V, k, w, h)


def rows_sub(V, k, h, w):
    """``w -= V[:k].T @ h[:k]`` in place."""
    select(w.shape[0]).rows_sub(V, k, h, w)
