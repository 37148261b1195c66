"""5-/7-point stencil kernels, NumPy reference (readable slicing form).

Every backend's ``stencil`` module has these functions with the same names and
signatures. ``op`` is a :class:`solvers.operators.stencil.StencilOperator`,
read through its internal representation only: ``grid_shape``, ``ndim_grid``,
``const`` and, for constant coefficients, the face weights ``_w`` and scalar
diagonal ``_d``; for variable ones the scaled face arrays ``_faces`` and the
diagonal array ``_dg``; ``_dinv_arr`` (``1 / d``) and ``_parity()`` (the
coordinate-sum parity of every grid point). Grid arrays ``u, f, r, out`` have
shape ``op.grid_shape``; neighbours outside the box count as zero (Dirichlet
values are eliminated)::

    (A u)[p] = d[p] u[p] - sum_faces w_face u[neighbour]

The functions below only slice and do arithmetic, so :func:`apply` also works
on CuPy arrays (the NumPy-only steps are :func:`rbgs` / :func:`rb_first`).
"""
import numpy as np


def _take(a, start, stop, axis):
    """``a[..., start:stop, ...]`` along ``axis`` (a view)."""
    sl = [slice(None)] * a.ndim
    sl[axis] = slice(start, stop)
    return a[tuple(sl)]


def apply(op, u, out=None):
    """``A u`` on a grid array; written into ``out`` when given, else returned as a new array."""
    res = (op._d if op.const else op._dg) * u
    for a in range(op.ndim_grid):
        n = op.grid_shape[a]
        if n < 2:
            continue
        w = op._w[a] if op.const else _take(op._faces[a], 1, n, a)     # interior faces
        _take(res, 0, n - 1, a)[...] -= w * _take(u, 1, n, a)
        _take(res, 1, n, a)[...] -= w * _take(u, 0, n - 1, a)
    if out is None:
        return res
    out[...] = res
    return out


def apply_dot(op, u, out):
    """``out = A u``; return ``u . A u``."""
    apply(op, u, out)
    return float(np.vdot(u, out))


def residual(op, u, f, r):
    """``r = f - A u``; return ``r . r``."""
    r[...] = f - apply(op, u)
    return float(np.vdot(r, r))


def residual_sq(op, u, f, work):
    """``||f - A u||^2`` (the residual written into ``work``, not kept)."""
    return residual(op, u, f, work)


def rbgs(op, u, f, color):
    """One red-black Gauss-Seidel half sweep, in place, on the points of parity ``color``."""
    d = op._d if op.const else op._dg
    nb = d * u - apply(op, u)                 # the neighbour sum
    u[...] = np.where(op._parity() == color, (f + nb) / d, u)


def rb_first(op, u, f, color):
    """Half sweep from a zero guess: ``u = f / d`` on ``color`` points, 0 on the others."""
    u[...] = np.where(op._parity() == color, f * op._dinv_arr, 0.0)


def sweep_pair(op, u, f, first, zero):
    """Half sweep of colour ``first`` (from ``u = 0`` when ``zero``), then of ``1 - first``."""
    _sweep_pair_from(rb_first, rbgs, op, u, f, first, zero)


def sweeps(op, u, f, first, count, zero):
    """``count`` half sweeps of alternating colours ``first, 1 - first, first, ...`` in place (the first
    from ``u = 0`` when ``zero``): a multigrid smoothing step. The compiled sets do them in one pass."""
    _sweeps_from(rb_first, rbgs, op, u, f, first, count, zero)


def _sweeps_from(rb_first_fn, rbgs_fn, op, u, f, first, count, zero):
    """:func:`sweeps` built from a backend's half sweeps (for sets without a fused kernel)."""
    for t in range(count):
        c = (first + t) & 1
        if t == 0 and zero:
            rb_first_fn(op, u, f, c)
        else:
            rbgs_fn(op, u, f, c)


def _sweep_pair_from(rb_first_fn, rbgs_fn, op, u, f, first, zero):
    """:func:`sweep_pair` built from a backend's half sweeps (for sets without a fused pair kernel)."""
    if zero:
        rb_first_fn(op, u, f, first)
    else:
        rbgs_fn(op, u, f, first)
    rbgs_fn(op, u, f, 1 - first)
