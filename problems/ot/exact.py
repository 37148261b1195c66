"""Exact (unregularised) optimal transport by linear programming, for small problems.

Solves ``min <P, C>`` subject to ``P 1 = a``, ``P^T 1 = b``, ``P >= 0`` with
:func:`scipy.optimize.linprog` (HiGHS), so tests need no extra package.
"""
from __future__ import annotations

import numpy as np


def exact_ot(C, a, b, *, return_plan: bool = False, max_size: int = 250_000):
    """Optimal transport cost (and plan) of the linear program.

    Parameters
    ----------
    C : (n, m) array_like
    a, b : (n,), (m,) array_like
        Marginals with equal sums.
    return_plan : bool
        Also return the optimal plan (n, m).
    max_size : int
        Refuse ``n * m`` above this (the LP has ``n * m`` variables).

    Returns
    -------
    cost : float
        The optimal value.
    plan : ndarray, only if ``return_plan``
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    C = np.asarray(C, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n, m = C.shape
    if a.shape != (n,) or b.shape != (m,):
        raise ValueError(f"a, b must have shapes ({n},), ({m},); got {a.shape}, {b.shape}")
    if n * m > max_size:
        raise ValueError(f"n*m = {n * m} exceeds max_size={max_size}; the LP is meant for small problems")
    rows = sp.kron(sp.eye(n), np.ones((1, m)))
    cols = sp.kron(np.ones((1, n)), sp.eye(m))
    A_eq = sp.vstack([rows, cols]).tocsr()
    b_eq = np.concatenate([a, b])
    res = linprog(C.ravel(), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog (HiGHS) failed: {res.message}")
    if return_plan:
        return float(res.fun), res.x.reshape(n, m)
    return float(res.fun)
