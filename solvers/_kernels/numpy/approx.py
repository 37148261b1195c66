"""Chebyshev–Tucker evaluation kernels (NumPy reference of the ``approx`` family).

A Chebyshev–Tucker function on :math:`[-1, 1]^d` is
:math:`p(t) = \\sum_{j} G_{j_1 \\dots j_d} \\prod_i u_{i, j_i}(t_i)` with
:math:`u_i(t) = A_i^T T(t)`, :math:`T(t) = (T_0(t), \\dots, T_{m_i - 1}(t))` and ``A_i`` the
``m_i x r_i`` coefficient factor of mode ``i`` (Benner, Khoromskij, Khoromskaia & Sun,
arXiv:2503.01696, 2025). Per point the cost is :math:`O(d\\, m\\, r + r^d)`: the Chebyshev
values by the three-term recurrence, the factor rows ``u_i`` and then the core contraction.

The kernels work on a *packed* form (:func:`pack`): the core flattened in C order, the
factors and their derivative factors zero-padded into ``(d, m_max, r_max)`` arrays, and the
degrees ``m`` and ranks ``r`` as int64 vectors, and the transposed factors ``A_i^T`` back to back
in ``FT`` (offsets ``ft_off``), the derivative factors likewise in ``dFT``. Points ``t`` are an ``(N, d)`` C-contiguous
float64 array already mapped to ``[-1, 1]``; gradients are with respect to ``t``.

The ``table`` route (:func:`evaluate_table`, :func:`gradient_table`; see
``solvers/approx/_table.py``) replaces the Chebyshev sums of the factor rows by local Lagrange
interpolation of order ``tp`` in :math:`\\theta = \\arccos t` on tabulated columns: mode ``i`` has
a uniform grid of ``tG[i]`` intervals on :math:`[0, \\pi]`, its table (``r_i`` rows of
``tG[i] + tp + 1`` values, grid index ``-tp/2 .. tG[i] + tp/2``) is stored in ``tT`` at
``t_off[i]``; the derivative tables (``dtG``, ``dtT``, ``dt_off``) likewise.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

#: points per block of the NumPy contraction (bounds the ``N x r^(d-1)`` temporary)
BLOCK = 4096


#: evaluation routes this kernel set implements
ROUTES = ("chebyshev", "table")
#: whether ``eval_method="auto"`` may take the table route with these kernels (by the cost model)
TABLE_AUTO = True


def pack(core, factors, dfactors, xp=np, tables=None):
    """The packed form of a Tucker tensor (see the module notes); arrays of ``xp``.

    ``tables``: ``{"p": p, "grid": [G_i], "table": [(r_i, G_i + p + 1) arrays], "dgrid": ...,
    "dtable": ...}`` (the derivative entries may be ``None``) for the ``table`` route, and optionally ``"target"``,
    the relative accuracy the tables were built to (kept as ``ttarget``; 0 when not given)."""
    d = len(factors)
    m = np.array([A.shape[0] for A in factors], dtype=np.int64)
    r = np.array([A.shape[1] for A in factors], dtype=np.int64)
    F = np.zeros((d, int(m.max()), int(r.max())))
    dF = np.zeros_like(F)
    for i, (A, D) in enumerate(zip(factors, dfactors)):
        F[i, :m[i], :r[i]] = A
        dF[i, :m[i], :r[i]] = D
    core = np.ascontiguousarray(core, dtype=np.float64).reshape(-1)
    # the transposed factors A_i^T (r_i x m_i), each contiguous, back to back (for GEMM-based kernels)
    ft_off = np.concatenate([[0], np.cumsum(m * r)]).astype(np.int64)
    FT = np.concatenate([np.ascontiguousarray(A.T, dtype=np.float64).reshape(-1) for A in factors])
    dFT = np.concatenate([np.ascontiguousarray(D.T, dtype=np.float64).reshape(-1) for D in dfactors])
    packed = SimpleNamespace(d=d, m=xp.asarray(m), r=xp.asarray(r), F=xp.asarray(F), dF=xp.asarray(dF),
                             core=xp.asarray(core), shape=tuple(int(k) for k in r), FT=xp.asarray(FT),
                             dFT=xp.asarray(dFT), ft_off=xp.asarray(ft_off), tp=0)
    if tables is not None:
        p = int(tables["p"])
        packed.tp, packed.inv_den = p, xp.asarray(inverse_denominators(p))
        packed.ttarget = float(tables.get("target", 0.0))     # the tables' relative accuracy target (0: unknown)
        for pre, grid, tabs in (("", tables["grid"], tables["table"]),
                                ("d", tables.get("dgrid"), tables.get("dtable"))):
            if grid is None:
                setattr(packed, pre + "tG", None)
                continue
            off = np.concatenate([[0], np.cumsum([T.size for T in tabs])]).astype(np.int64)
            setattr(packed, pre + "tG", xp.asarray(np.asarray(grid, dtype=np.int64)))
            setattr(packed, pre + "tT", xp.asarray(np.concatenate([np.ascontiguousarray(T).reshape(-1) for T in tabs])))
            setattr(packed, pre + "t_off", xp.asarray(off))
    return packed


def check_points(packed, t) -> None:
    """``t`` must be a C-contiguous float64 ``(N, d)`` array."""
    if getattr(t, "ndim", None) != 2 or t.shape[1] != packed.d:
        raise ValueError(f"approx kernel: points have shape {getattr(t, 'shape', None)}, expected (N, {packed.d})")
    if str(t.dtype) != "float64" or not t.flags.c_contiguous:
        raise TypeError("approx kernel: points must be a C-contiguous float64 array")


def map_points(x, lo, hi, t) -> int:
    """``t = (2 x - (hi + lo)) / (hi - lo)`` per column (host ``(N, d)`` float64 arrays),
    clipped to ``[-1, 1]``; returns the number of coordinates that were outside
    ``[-1 - 2e-12, 1 + 2e-12]`` or NaN (the caller then names the offending point)."""
    np.divide(2.0 * x - (hi + lo), hi - lo, out=t)
    bad = int(np.count_nonzero(~(np.abs(t) <= 1.0 + 2e-12)))
    np.clip(t, -1.0, 1.0, out=t)
    return bad


def _rows(packed, F, t):
    """``[T(t_i) @ A_i]`` per mode: ``(N, r_i)`` arrays."""
    out = []
    for i in range(packed.d):
        mi, ri = int(packed.m[i]), int(packed.r[i])
        x = t[:, i]
        V = np.empty((t.shape[0], mi))
        V[:, 0] = 1.0
        if mi > 1:
            V[:, 1] = x
        for k in range(2, mi):
            V[:, k] = 2.0 * x * V[:, k - 1] - V[:, k - 2]
        out.append(V @ F[i, :mi, :ri])
    return out


def _contract(core, U):
    """``sum_j G_j prod_i U_i[n, j_i]`` for every row ``n`` (last mode first)."""
    n = U[0].shape[0]
    Y = U[-1] @ core.reshape(-1, U[-1].shape[1]).T           # (n, r_0 ... r_{d-2})
    for i in range(len(U) - 2, -1, -1):
        Y = np.einsum("npr,nr->np", Y.reshape(n, -1, U[i].shape[1]), U[i])
    return Y.reshape(n)


def evaluate(packed, t, out):
    """``out[n] = p(t[n])``."""
    check_points(packed, t)
    core = packed.core.reshape(packed.shape)
    for s in range(0, t.shape[0], BLOCK):
        U = _rows(packed, packed.F, t[s:s + BLOCK])
        out[s:s + BLOCK] = _contract(core, U)
    return out


def gradient(packed, t, val, grad):
    """``val[n] = p(t[n])`` and ``grad[n, i] = dp/dt_i (t[n])``."""
    check_points(packed, t)
    core = packed.core.reshape(packed.shape)
    for s in range(0, t.shape[0], BLOCK):
        tb = t[s:s + BLOCK]
        U = _rows(packed, packed.F, tb)
        dU = _rows(packed, packed.dF, tb)
        val[s:s + BLOCK] = _contract(core, U)
        for i in range(packed.d):
            grad[s:s + BLOCK, i] = _contract(core, U[:i] + [dU[i]] + U[i + 1:])
    return val, grad


# --------------------------------------------------------------------------- the table route
def inverse_denominators(p: int) -> np.ndarray:
    """``1 / prod_{j != l} (l - j)`` for the nodes ``l = 0 .. p - 1`` (the Lagrange weight of node
    ``l`` at ``sigma`` is this times ``prod_{j != l} (sigma - j)``)."""
    k = np.arange(p)
    return np.array([(-1.0) ** (p - 1 - i) / (math.factorial(i) * math.factorial(p - 1 - i)) for i in k])


def check_table(packed, derivative=False) -> None:
    """The packed form must hold the (derivative) tables."""
    if not packed.tp or getattr(packed, "dtG" if derivative else "tG", None) is None:
        raise ValueError("approx kernel: the packed form holds no " + ("derivative " if derivative else "") +
                         "tables (pack(..., tables=...))")


def table_rows(packed, i, x, out, derivative=False):
    """``out[n, :r_i] = u_i(x[n])`` (or ``u_i'``) by Lagrange interpolation of order ``tp`` in
    ``theta = arccos x`` on the table of mode ``i`` (``x`` in ``[-1, 1]``)."""
    pre = "d" if derivative else ""
    G, p, ri = int(getattr(packed, pre + "tG")[i]), packed.tp, int(packed.r[i])
    off = getattr(packed, pre + "t_off")
    tab = getattr(packed, pre + "tT")[off[i]:off[i + 1]].reshape(ri, G + p + 1)
    half = p // 2
    s = np.arccos(x) * (G / np.pi)                       # position in grid steps, in [0, G]
    j0 = np.minimum(s.astype(np.int64), G - 1) - half + 1  # first node of the centred stencil
    diff = (s - j0)[:, None] - np.arange(p)[None, :]     # sigma - l, l = 0 .. p - 1
    ones = np.ones((x.size, 1))
    before = np.cumprod(np.hstack([ones, diff[:, :-1]]), axis=1)           # prod_{j < l}
    after = np.cumprod(np.hstack([ones, diff[:, :0:-1]]), axis=1)[:, ::-1]  # prod_{j > l}
    W = before * after * packed.inv_den                  # Lagrange weights, exact at the nodes
    cols = (j0 + half)[:, None] + np.arange(p)[None, :]  # table columns of the stencil
    out[:, :ri] = np.einsum("nl,jnl->nj", W, tab[:, cols])
    return out


def _table_rows(packed, t, derivative=False):
    return [table_rows(packed, i, t[:, i], np.empty((t.shape[0], int(packed.r[i]))), derivative)
            for i in range(packed.d)]


def evaluate_table(packed, t, out, total=None):  # noqa: ARG001 - total: the Numba set's form choice
    """``out[n] = p(t[n])`` with the factor rows from the tables."""
    check_points(packed, t)
    check_table(packed)
    core = packed.core.reshape(packed.shape)
    for s in range(0, t.shape[0], BLOCK):
        out[s:s + BLOCK] = _contract(core, _table_rows(packed, t[s:s + BLOCK]))
    return out


def gradient_table(packed, t, val, grad, total=None):  # noqa: ARG001
    """As :func:`gradient` with the factor rows and their derivatives from the tables."""
    check_points(packed, t)
    check_table(packed)
    check_table(packed, derivative=True)
    core = packed.core.reshape(packed.shape)
    for s in range(0, t.shape[0], BLOCK):
        tb = t[s:s + BLOCK]
        U, dU = _table_rows(packed, tb), _table_rows(packed, tb, True)
        val[s:s + BLOCK] = _contract(core, U)
        for i in range(packed.d):
            grad[s:s + BLOCK, i] = _contract(core, U[:i] + [dU[i]] + U[i + 1:])
    return val, grad
