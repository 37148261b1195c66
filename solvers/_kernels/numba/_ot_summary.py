"""The measurement pass of returned OT potentials (Numba): both log marginals and the transport cost
of the plan ``P_ij = exp((f_i + g_j - C_ij) / eps)`` in one read of C.

A solver measures the potentials it returns (``Geometry.marginal_error``) and reports their cost
(``Geometry.cost``). Done one after the other that took four passes over C with an exponential
each -- row log-sum-exp, column log-sum-exp, and the cost's row maxima and sum -- and the cost's sum
ran scalar (its exponential must not be reassociated, so its loop had no fast-math). At n = m = 1000
(2 threads, Xeon) they were 2.0 + 1.6 + 4.9 ms of a 28 ms Sinkhorn solve at eps = 0.1.

Here each row is read once (:func:`_row_pass`):

* ``z_j = ((f_i + g_j) - C_ij) * inv_eps`` in this order, without fast-math (as a user evaluates the
  plan; the same exponent as ``_lse_pair_rows``), into a row buffer, and its maximum ``mx_i``;
* ``e_j = exp(z_j - mx_i)`` by the branch-free :func:`_exp_le0` (a vectorised loop with the safe
  fast-math flags, like every caller of that exp);
* the reductions ``s_i = sum_j e_j``, ``c_i = sum_j e_j C_ij`` and the column partial sums
  ``q_j += w_i e_j`` in a separate loop that may be reassociated (vectorised sums; the order of a
  sum changes its rounding only, at the 1e-16 level).

Row ``i``'s log marginal is ``mx_i + log s_i`` (exact shift: as ``_lse_pair_rows``), its cost
``exp(mx_i) c_i`` (as ``_plan_cost``). Columns: each thread owns a block of rows and keeps its
column sums relative to a running shift ``M_t`` (the largest row maximum it has seen), with
``w_i = exp(mx_i - M_t)`` and the sums rescaled when ``M_t`` rises; the blocks are merged with
their shifts at the end, in a fixed order (the result does not depend on the scheduling).

Exactness. The row terms are what ``_lse_pair_rows`` computes. A column sum is exact to rounding
unless some row's maximum lies more than ``SPREAD`` (600) below another's (checked against the
smallest and the largest row maximum of every block and across blocks): then ``w_i`` would
lose that row's contribution to the columns, so the pass reports itself as not applicable
(``False``) and the caller uses the separate passes (``_lse_pair_rows``, ``lse_cols`` with its own
per-column shift, ``_plan_cost``). Non-finite exponents (NaN or infinite potentials or costs) do
the same. Entries more than 700 below their row's maximum count as 0 (as in ``_plan_cost``), i.e.
they change a column sum by at most ``n exp(-700) max_i exp(mx_i)`` -- below 1e-290 relative to the
plan's largest entry -- and the cost not at all (at ``exp(-700)`` each, a forbidden pair of cost 1e306
added 1e2).
"""
import math

import numba as nb
import numpy as np

from ._ot_dense import _FM_SAFE, _XMIN, COST_UP, _exp_le0, _weighted_scaled

#: largest spread of the row maxima of the exponent for which the one-pass column sums are used
SPREAD = 600.0


@nb.njit(cache=True)
def _exponents(Crow, fi, g, inv_eps, buf):
    """``buf[j] = ((fi + g[j]) - Crow[j]) * inv_eps`` in this order (no fast-math), clamped below at
    -1e300 so that the shifted exponential never sees -inf (as ``_pair_shift_max``); their maximum."""
    mx = -np.inf
    for j in range(Crow.shape[0]):
        z = ((fi + g[j]) - Crow[j]) * inv_eps
        buf[j] = max(z, -1e300)
        mx = max(mx, z)
    return mx


@nb.njit(cache=True, fastmath=_FM_SAFE)
def _shifted_exp(buf, mx):
    """``buf = exp(buf - mx)``, entries more than 700 below the maximum as 0 (as ``_plan_cost``: at the clamp
    of :func:`_exp_le0` they entered as ``exp(-700)``, which times a cost of 1e306 added 1e2 to the cost)."""
    for j in range(buf.shape[0]):
        x = buf[j] - mx
        buf[j] = _exp_le0(x) if x >= _XMIN else 0.0


@nb.njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _reduce(buf, Crow, w, q):
    """``(sum_j buf_j, sum_j buf_j Crow_j)``, and ``q += w * buf``."""
    s = 0.0
    c = 0.0
    for j in range(buf.shape[0]):
        e = buf[j]
        s += e
        c += e * Crow[j]
        q[j] += w * e
    return s, c


@nb.njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _rescale(q, factor):
    for j in range(q.shape[0]):
        q[j] *= factor


@nb.njit(parallel=True, cache=True)
def _summary(C, f, g, inv_eps, log_r, row_cost, parts, shifts, lows):
    """Row log marginals into ``log_r``, row costs into ``row_cost``, and per row block ``t`` the column
    sums ``parts[t]`` relative to ``exp(shifts[t])``. Returns False when the one-pass form does not
    apply (a non-finite exponent, or row maxima more than :data:`SPREAD` apart within a block)."""
    n, m = C.shape
    T = parts.shape[0]
    rows = (n + T - 1) // T
    ok = np.ones(T, dtype=np.bool_)
    for t in nb.prange(T):
        q = parts[t]
        q[:] = 0.0
        buf = np.empty(m)
        M = -np.inf
        lo = np.inf                       # the block's smallest row maximum
        for i in range(min(n, t * rows), min(n, (t + 1) * rows)):
            mx = _exponents(C[i], f[i], g, inv_eps, buf)
            if not np.isfinite(mx):
                ok[t] = False
                break
            lo = min(lo, mx)
            if mx > M:
                if M > -np.inf:
                    _rescale(q, math.exp(M - mx))
                M = mx
            if M - lo > SPREAD:           # some row's column terms would lose (almost) all their digits
                ok[t] = False
                break
            _shifted_exp(buf, mx)
            s, c = _reduce(buf, C[i], math.exp(mx - M), q)
            log_r[i] = mx + math.log(s)
            c = c * math.exp(mx)
            if not np.isfinite(c):        # costs near the float64 limit: summed again scaled (_ot_dense.COST_DOWN)
                c = (_weighted_scaled(buf, C[i]) * math.exp(mx)) * COST_UP
            row_cost[i] = c
        shifts[t] = M
        lows[t] = lo
    return ok.all()


@nb.njit(cache=True)
def _merge(parts, shifts, lows, log_c):
    """``log_c = M + log(sum_t exp(shifts[t] - M) parts[t])`` (``M`` the largest shift), in block order.
    False when the row maxima of all blocks (``lows``: each block's smallest) span more than :data:`SPREAD`."""
    T, m = parts.shape
    M = -np.inf
    lo = np.inf
    for t in range(T):
        if shifts[t] > -np.inf:           # a block without rows keeps -inf and zero sums
            M = max(M, shifts[t])
            lo = min(lo, lows[t])
    if not M - lo <= SPREAD:
        return False
    log_c[:] = 0.0
    for t in range(T):
        if shifts[t] > -np.inf:
            w = math.exp(shifts[t] - M)
            for j in range(m):
                log_c[j] += w * parts[t, j]
    for j in range(m):
        log_c[j] = M + math.log(log_c[j]) if log_c[j] > 0.0 else -np.inf
    return True


def plan_summary(C, f, g, inv_eps, threads):
    """``(log P 1, log P^T 1, <P, C>)`` in one pass over C (row blocks for ``threads`` threads), or
    None where the one-pass form does not apply (see the module notes: the caller then uses the
    separate passes)."""
    n, m = C.shape
    T = max(1, min(threads, n))
    log_r, row_cost = np.empty(n), np.empty(n)
    parts, shifts, lows = np.empty((T, m)), np.empty(T), np.empty(T)
    if not _summary(C, f, g, inv_eps, log_r, row_cost, parts, shifts, lows):
        return None
    log_c = np.empty(m)
    if not _merge(parts, shifts, lows, log_c):
        return None
    return log_r, log_c, float(row_cost.sum())


@nb.njit(parallel=True, cache=True)
def row_weighted_sums(C, v):
    """``(C v)_i`` accumulated in float64 in column order for each row (C float32 or float64): the same value
    for every thread count (a row is one thread's), unlike a BLAS product, for the plan's fingerprint."""
    n, m = C.shape
    out = np.empty(n)
    for i in nb.prange(n):
        s = 0.0
        for j in range(m):
            s += np.float64(C[i, j]) * v[j]
        out[i] = s
    return out
