"""Krylov vector kernels, NumPy reference (the readable semantics of the fused kernels).

Every backend's ``krylov`` module has these functions with the same names and
signatures; the Numba and CuPy sets fuse the same updates into single passes.
All updates work in place on preallocated float64 vectors.

``select(n)`` returns the kernel set to use for vectors of length ``n`` (here
this module itself; the Numba set picks serial or parallel kernels by length).
"""
import math
import sys

import numpy as np



def select(n):
    """The kernel set for vectors of length ``n``: this module."""
    return sys.modules[__name__]


def _same_length(*vs):
    """Raise when the vectors differ in length (NumPy would broadcast a length-1 vector silently)."""
    n = vs[0].shape[0]
    for v in vs[1:]:
        if v.shape[0] != n:
            raise ValueError(f"krylov kernel: vectors of different lengths ({n} and {v.shape[0]})")


def as_vector(y):
    """``y`` as a vector the kernels accept (any NumPy array here: returned unchanged)."""
    return y


def dot(a, b):
    """``a . b`` as a Python float (inf/NaN on overflow, silently, as the compiled kernels: the solvers
    report non-finite values themselves)."""
    _same_length(a, b)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.dot(a, b))


def absmax(a):
    """``max |a|`` as a Python float: NaN when ``a`` holds a NaN, inf for an inf, 0 for an empty vector (two
    reductions, no n-sized temporary)."""
    if a.size == 0:
        return 0.0
    hi, lo = float(a.max()), float(a.min())           # NaN propagates through both
    return float("nan") if math.isnan(hi) else max(hi, -lo)


def absmax_sq(a):
    """``(max |a|, a . a)``: the right-hand side's size and squared norm from one scan on the compiled sets (here
    two reductions); ``a . a`` is meaningful only where ``max |a|`` is finite and far from float64's limits."""
    return absmax(a), float(np.dot(a, a)) if a.size else 0.0


def cg_update_xr(x, r, p, q, alpha):
    """``x += alpha p; r -= alpha q``; return ``r.r``."""
    _same_length(x, r, p, q)
    x += alpha * p
    r -= alpha * q
    return float(np.dot(r, r))


def cg_update_xrz(x, r, z, p, q, dinv, alpha):
    """``x += alpha p; r -= alpha q; z = dinv * r``; return ``(r.z, r.r)``."""
    _same_length(x, r, z, p, q, dinv)
    x += alpha * p
    r -= alpha * q
    np.multiply(dinv, r, out=z)
    return float(np.dot(r, z)), float(np.dot(r, r))


def cg_update_r(r, q, alpha):
    """``r -= alpha q``; return ``r.r`` (CG's residual update when the ``x`` update is deferred to
    :func:`cg_update_xp`)."""
    _same_length(r, q)
    r -= alpha * q
    return float(np.dot(r, r))


def cg_update_xp(x, p, z, alpha, beta):
    """``x += alpha p``, then ``p = z + beta p`` (both from the same old ``p``), in place."""
    _same_length(x, p, z)
    x += alpha * p
    p *= beta
    p += z


def cg_first_r(b, q, alpha, r):
    """``r = b - alpha q`` (CG's first residual update from ``x = 0``: ``b`` is read, not copied into ``r``
    first); return ``r.r``."""
    _same_length(r, q, b)
    np.multiply(q, -alpha, out=r)
    r += b
    return float(np.dot(r, r))


def cg_first_xp(x, p, z, alpha, beta):
    """``x = alpha p`` (``x``'s content is not read), then ``p = z + beta p``, in place."""
    _same_length(x, p, z)
    np.multiply(p, alpha, out=x)
    p *= beta
    p += z


def axpy(alpha, p, x):
    """``x += alpha p`` in place."""
    _same_length(x, p)
    x += alpha * p


def xpby(z, beta, p):
    """``p = z + beta p`` in place."""
    _same_length(z, p)
    p *= beta
    p += z


def diag_apply(d, r, z):
    """``z = d * r``; return ``r.z``."""
    _same_length(d, r, z)
    np.multiply(d, r, out=z)
    return float(np.dot(r, z))


def residual(b, q, r):
    """``r = b - q``; return ``r.r``."""
    _same_length(b, q, r)
    np.subtract(b, q, out=r)
    return float(np.dot(r, r))


def cheb_step(z, res, d, ad, c1, c2):
    """``res -= ad; d = c1 d + c2 res; z += d`` (one Chebyshev semi-iteration step)."""
    _same_length(z, res, d, ad)
    res -= ad
    d *= c1
    d += c2 * res
    z += d


def minres_update(v, w1, w2, x, oldeps, delta, inv_gamma, phi):
    """MINRES's direction and iterate update, in place: ``w1 = (v - oldeps w1 - delta w2) inv_gamma`` (the new
    direction, in ``w1``'s memory), then ``x += phi w1``."""
    _same_length(v, w1, w2, x)
    w1 *= -oldeps
    w1 += v
    w1 -= delta * w2
    w1 *= inv_gamma
    x += phi * w1


def rows_dot(V, k, w, h):
    """``h[:k] = V[:k] @ w`` (the projections of ``w`` on the first ``k`` rows of ``V``; GMRES's Arnoldi step)."""
    _check_rows(V, k, w, h)
    with np.errstate(over="ignore", invalid="ignore"):
        h[:k] = V[:k] @ w


def rows_sub(V, k, h, w):
    """``w -= V[:k].T @ h[:k]`` in place."""
    _check_rows(V, k, w, h)
    with np.errstate(over="ignore", invalid="ignore"):
        w -= V[:k].T @ h[:k]


def _check_rows(V, k, w, h):
    if V.ndim != 2 or not 0 <= k <= V.shape[0] or V.shape[1] != w.shape[0] or h.shape[0] < k:
        raise ValueError(f"krylov kernel: rows of V {V.shape} (k={k}) do not match w ({w.shape[0]}) and h "
                         f"({h.shape[0]})")
