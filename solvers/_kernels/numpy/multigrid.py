"""Multigrid grid transfers, NumPy reference.

Every backend's ``multigrid`` module has these functions and constants with the
same names and signatures. Transfers are tensor products of 1-D operators
given as padded per-axis tables (built by :mod:`solvers.linear.multigrid`):
``P = (pi0, pw0, pi1, pw1[, pi2, pw2])`` with, per fine index ``i`` along axis
``a``, coarse indices ``pi_a[i, 0:2]`` and weights ``pw_a[i, 0:2]``;
``R = (ri0, rw0, ...)`` with, per coarse index ``I``, fine indices
``ri_a[I, 0:m]`` and weights ``rw_a[I, 0:m]`` (zero weights pad).

Galerkin levels (variable coefficients, see :mod:`solvers.linear.multigrid`) use
general sparse transfers instead: ``P`` and ``R`` are then the backend's CSR
matrices (from :func:`csr_transfer`; SciPy here and on ``numba``, cupyx on
``cupy``), and every transfer function accepts either form (a ``tuple`` is a
tensor-product table). A coarse Galerkin level operator carries ``mg_csr``, the
storage from :func:`csr_level`: the matrix plus its rows grouped by parity
colour (``order``, ``cptr``), for multicolour Gauss-Seidel (:func:`csr_smooth`).
"""
import numpy as np

from . import stencil as _stencil

#: levels with fewer grid points than this run their kernels on one thread (0: never)
SERIAL_BELOW = 0


def _bcast(w, axis, ndim):
    shp = [1] * ndim
    shp[axis] = -1
    return w.reshape(shp)


def _flat(a):
    """A flat view of the grid array ``a`` (never a copy: writes must reach ``a``)."""
    v = a.view()
    v.shape = (-1,)
    return v


def restrict(r, out, R):
    """``out = R r``."""
    if not isinstance(R, tuple):
        _flat(out)[...] = R @ r.reshape(-1)
        return
    x = r
    for a in range(r.ndim):
        ri, rw = R[2 * a], R[2 * a + 1]
        x = sum(_bcast(rw[:, m], a, r.ndim) * x.take(ri[:, m], axis=a) for m in range(ri.shape[1]))
    out[...] = x


def prolong_work(fine_shape, coarse_shape):
    """The work array :func:`prolong_add` needs between these grids (None: none)."""
    return None


def prolong_add(e, u, P, work, add=True):
    """``u += P e`` (``u = P e`` when not ``add``: ``u``'s old entries are not read)."""
    if not add:
        u[...] = 0.0
    if not isinstance(P, tuple):
        _flat(u)[...] += P @ e.reshape(-1)
        return
    x = e
    for a in range(e.ndim):
        pi, pw = P[2 * a], P[2 * a + 1]
        x = sum(_bcast(pw[:, m], a, e.ndim) * x.take(pi[:, m], axis=a) for m in range(2))
    u += x


def interpolate(e, u, T, work):
    """``u = T e`` for tensor tables ``T = (pi0, pw0, ...)`` of any width ``m``: per point ``i`` of ``u`` along
    axis ``a``, the coarse indices ``pi_a[i, 0:m]`` and weights ``pw_a[i, 0:m]`` (the FMG interpolation of
    :mod:`solvers.linear.multigrid_iterate`; ``work`` from :func:`prolong_work`). The restriction's table form."""
    restrict(e, u, T)


def prolong_sweeps(e, u, P, work, op, f, first, count, dot=False):
    """``u += P e``, then ``count`` half sweeps of ``op`` from colour ``first`` (the post-smoothing step
    of a cycle; the Numba set fuses them into one pass). Returns ``f . u`` of the result when ``dot``
    (the Numba set accumulates it in the same pass), else None."""
    prolong_add(e, u, P, work)
    _stencil.sweeps(op, u, f, first, count, False)
    return float(np.vdot(f, u)) if dot else None


def smooth_residual_restrict(op, u, f, first, count, out, R, work):
    """The pre-smoothing step of a stencil level and what follows it: ``count`` half sweeps of ``op`` from
    ``u = 0`` (colours from ``first``), then ``out = R (f - A u)`` (``work`` as in :func:`residual_restrict`).
    The Numba set fuses the two into one pass for constant coefficients on 3-D grids."""
    _stencil.sweeps(op, u, f, first, count, True)
    residual_restrict(op, u, f, out, R, work)


def needs_residual_buffer(op):
    """Whether :func:`residual_restrict` on this level needs a fine-grid residual array ``work``."""
    return True


def residual_restrict(op, u, f, out, R, work):
    """``out = R (f - A u)``: the residual into ``work``, then the restriction."""
    if getattr(op, "mg_csr", None) is not None:
        csr_residual(op.mg_csr, u, f, work)
    else:
        _stencil.residual(op, u, f, work)
    restrict(work, out, R)


# ----------------------------------------------------------------------------- Galerkin (CSR) levels
def csr_transfer(M):
    """The SciPy CSR matrix ``M`` in this backend's transfer storage."""
    return M.tocsr()


def csr_level(C, order, cptr):
    """Storage of a coarse CSR level: the matrix and, per colour ``c``, its rows
    ``order[cptr[c]:cptr[c+1]]``, their sub-matrix and inverse diagonal."""
    dinv = 1.0 / C.diagonal()
    blocks = []
    for c in range(len(cptr) - 1):
        rows = order[cptr[c]:cptr[c + 1]]
        blocks.append((rows, C[rows].tocsr(), dinv[rows]))
    return {"A": C, "blocks": blocks}


def csr_matvec(L, x, out):
    """``out = A x`` on a CSR level (flat or grid arrays)."""
    _flat(out)[...] = L["A"] @ x.reshape(-1)


def csr_residual(L, u, f, r):
    """``r = f - A u`` on a CSR level; returns ``r . r``."""
    rf = _flat(r)
    rf[...] = f.reshape(-1) - L["A"] @ u.reshape(-1)
    return float(np.dot(rf, rf))


def csr_smooth(L, u, f, reverse):
    """One multicolour Gauss-Seidel sweep in place: colours in order, or in reverse (the adjoint sweep).
    Points of one colour are not coupled, so each colour is one exact parallel update
    ``u_c += D_c^{-1} (f_c - A_c u)``."""
    uf, ff = _flat(u), f.reshape(-1)
    blocks = L["blocks"][::-1] if reverse else L["blocks"]
    for rows, Ab, dinv in blocks:
        uf[rows] += dinv * (ff[rows] - Ab @ uf)


def split_level(op, P, R, coarse_shape, finest_points=None):
    """A level object smoothing in a red/black split layout (``pre(f, u, out, first, count)``: ``count`` half
    sweeps from ``u = 0`` then ``out = R (f - A u)``; ``post(e, u, f, first, count, dot)``: ``u += P e`` then
    ``count`` half sweeps, returning ``f . u`` when ``dot``; ``u`` is the level's natural iterate), or None:
    the cycle then calls :func:`smooth_residual_restrict` and :func:`prolong_sweeps`. The reference keeps the
    natural layout."""
    return None


def compiled_tail(levels, nus, cinv):
    """A compiled cycle over the small levels of the hierarchy, ``(l0, run)`` (see the Numba set's
    :mod:`solvers._kernels.numba.mgtail`), or None: the reference runs the plain recursion."""
    return None
