"""Multigrid grid transfers, NumPy reference.

Every backend's ``multigrid`` module has these functions and constants with the
same names and signatures. Transfers are tensor products of 1-D operators
given as padded per-axis tables (built by :mod:`solvers.linear.multigrid`):
``P = (pi0, pw0, pi1, pw1[, pi2, pw2])`` with, per fine index ``i`` along axis
``a``, coarse indices ``pi_a[i, 0:2]`` and weights ``pw_a[i, 0:2]``;
``R = (ri0, rw0, ...)`` with, per coarse index ``I``, fine indices
``ri_a[I, 0:m]`` and weights ``rw_a[I, 0:m]`` (zero weights pad).
"""
from . import stencil as _stencil

#: levels with fewer grid points than this run their kernels on one thread (0: never)
SERIAL_BELOW = 0


def _bcast(w, axis, ndim):
    shp = [1] * ndim
    shp[axis] = -1
    return w.reshape(shp)


def restrict(r, out, R):
    """``out = R r``."""
    x = r
    for a in range(r.ndim):
        ri, rw = R[2 * a], R[2 * a + 1]
        x = sum(_bcast(rw[:, m], a, r.ndim) * x.take(ri[:, m], axis=a) for m in range(ri.shape[1]))
    out[...] = x


def prolong_work(fine_shape, coarse_shape):
    """The work array :func:`prolong_add` needs between these grids (None: none)."""
    return None


def prolong_add(e, u, P, work):
    """``u += P e``."""
    x = e
    for a in range(e.ndim):
        pi, pw = P[2 * a], P[2 * a + 1]
        x = sum(_bcast(pw[:, m], a, e.ndim) * x.take(pi[:, m], axis=a) for m in range(2))
    u += x


def needs_residual_buffer(op):
    """Whether :func:`residual_restrict` on this level needs a fine-grid residual array ``work``."""
    return True


def residual_restrict(op, u, f, out, R, work):
    """``out = R (f - A u)``: the residual into ``work``, then the restriction."""
    _stencil.residual(op, u, f, work)
    restrict(work, out, R)
