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
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

#: points per block of the NumPy contraction (bounds the ``N x r^(d-1)`` temporary)
BLOCK = 4096


def pack(core, factors, dfactors, xp=np):
    """The packed form of a Tucker tensor (see the module notes); arrays of ``xp``."""
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
    return SimpleNamespace(d=d, m=xp.asarray(m), r=xp.asarray(r), F=xp.asarray(F), dF=xp.asarray(dF),
                           core=xp.asarray(core), shape=tuple(int(k) for k in r), FT=xp.asarray(FT),
                           dFT=xp.asarray(dFT), ft_off=xp.asarray(ft_off))


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
