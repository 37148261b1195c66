"""What a constant-coefficient geometric multigrid hierarchy shares with every other one built on the same
grid: the coarsening steps (coarse operators and transfer tables) and the coarsest grid's dense inverse,
memoised per process.

Why: a solve of :func:`solvers.cg` with ``M=multigrid(A)`` builds its hierarchy each time (a sweep, a Newton
loop, a benchmark timing set-up and solve together), and for a constant ``k`` every level below the finest
is fixed by the grid and the coefficients. Building it again cost 0.8-1.0 ms per hierarchy (1024^2 and 128^3,
session 48, Xeon): the coarse :class:`~solvers.operators.StencilOperator` (its checks and its
``lambda_min``), the 1-D tables, the semi-coarsening rule -- about three fine matvecs of a 1024^2 solve of
about 95. The memoised parts are read-only for the cycle (kernels take the tables and operators as inputs
and write only the levels' own buffers, which every hierarchy allocates from the work pool); a hierarchy's
mutable state (buffers, split layouts, statistics) is never shared. Only plain constant-coefficient
operators of the host backends qualify (``type(A) is StencilOperator``: a subclass may assemble another
matrix); at most :data:`MAX_ENTRIES` of each kind are kept.
"""
from __future__ import annotations

import numpy as np

from ..operators.stencil import StencilOperator

#: entries kept per memo (cleared whole when full: a sweep over many grids rebuilds, as before)
MAX_ENTRIES = 256

_STEPS: dict = {}                  # (backend, grid, h, k, shift) -> (nc, P, R, coarse operator) or None
_CINV: dict = {}                   # (grid, w, d) -> the symmetrised dense inverse of the coarsest matrix


def _plain_const(op) -> bool:
    return type(op) is StencilOperator and op.const is True


def geometric_step(op, be, setup):
    """``(P, R, coarse)`` coarsening the stencil operator ``op`` geometrically (the axes that
    ``setup.strong_axes`` picks halve, ``n -> (n - 1) // 2``), or None when no axis coarsens; ``setup`` is
    :mod:`.multigrid_setup`. Memoised for plain constant-coefficient operators on the host backends."""
    key = ((be.name, tuple(op.grid_shape), tuple(op.h), op.k, op.shift)   # host arrays only (a device's are
           if _plain_const(op) and be.xp is np else None)                  # tied to the device in use)
    hit = _STEPS.get(key) if key is not None else None
    if hit is not None:
        return hit[0]
    n = op.grid_shape
    w = [1.0 / ha ** 2 for ha in op.h]           # constant k: coupling k / h_a^2 per axis
    axes = setup.strong_axes(w, n, 3)
    nc = tuple((m - 1) // 2 if c else m for m, c in zip(n, axes))
    step = None
    if nc != n:
        P, R, hc, avg = setup.geometric_transfer(op, nc, be)
        step = (P, R, setup.coarse_operator(op, nc, hc, avg))
    if key is not None:
        if len(_STEPS) >= MAX_ENTRIES:
            _STEPS.clear()
        _STEPS[key] = (step,)
    return step


def coarsest_inverse(A, spd_inverse):
    """The symmetrised dense inverse of the coarsest matrix ``A`` (``spd_inverse`` from
    :mod:`.multigrid_setup`). For a constant-coefficient :class:`~solvers.operators.StencilOperator` (the
    matrix is fixed by its grid and coefficients; not a subclass, which may assemble another) it is memoised, a
    copy handed out: ``multigrid(A)`` on 1024^2 took 1.02 ms with the assembly and inversion of its 7^2 coarsest
    grid, 0.75 ms with the memo (session 44, hot)."""
    key = (tuple(A.grid_shape), A._w, A._d) if _plain_const(A) else None
    Ci = _CINV.get(key) if key is not None else None
    if Ci is None:
        Ci = spd_inverse(A.to_csr().toarray())
        Ci = 0.5 * (Ci + Ci.T)
        if key is not None:
            if len(_CINV) >= MAX_ENTRIES:
                _CINV.clear()
            _CINV[key] = Ci
    return Ci.copy()


def clear() -> None:
    """Drop every memoised step and inverse."""
    _STEPS.clear()
    _CINV.clear()
