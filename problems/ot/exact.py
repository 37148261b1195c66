"""Exact (unregularised) optimal transport for small problems, with a verified answer.

Solves the transportation linear program

    min <P, C>   subject to   P 1 = a,   P^T 1 = b,   P >= 0

by the **network simplex method** on the bipartite graph rows -> columns
(Dantzig 1951; Ahuja, Magnanti and Orlin, *Network Flows*, 1993, ch. 11).
A basis is a spanning tree of ``n + m - 1`` cells; the flows on it follow from
``a`` and ``b`` by eliminating leaves, the dual potentials ``u_i + v_j = C_ij``
from one pass over the tree, and a cell with negative reduced cost
``C_ij - u_i - v_j`` enters. The starting tree is the support of a vertex
returned by :func:`scipy.optimize.linprog` (HiGHS) on a rescaled problem when
that succeeds, else the north-west-corner rule; either way the network simplex
finishes the job, so tiny weights (1e-100 beside 1) and HiGHS's feasibility
tolerances never make a feasible problem look infeasible.

The answer is verified before it is returned: the plan is non-negative, its
marginals match ``a`` and ``b`` to a few ulps of the total mass, and the
potentials certify optimality (every reduced cost ``>= -1e-12 max|C|``, so the
cost is within ``1e-12 max|C| sum(a)`` of the optimum; complementary slackness
holds on the tree by construction).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from solvers.ot._common import refuse_mask

#: total masses must agree to this relative tolerance (POT's ``emd`` accepts 1e-6 absolute for unit
#: masses); within it ``b`` is rescaled onto ``sum(a)``, so float32-normalised histograms are feasible
MASS_RTOL = 1e-6
#: marginal errors allowed in the returned plan, relative to the total mass
MARGINAL_RTOL = 1e-12
#: reduced costs allowed below zero at optimality, relative to max |C|
OPTIMALITY_RTOL = 1e-12


def _real_array(name, v, ndim):
    refuse_mask(name, v)     # np.asarray would drop the mask and use the masked entries
    try:
        arr = np.asarray(v)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a real numeric array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
            or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; give finite values")
    return arr


def _check(C, a, b, max_size):
    C = _real_array("C", C, 2)
    n, m = C.shape
    if n == 0 or m == 0:
        raise ValueError(f"C has an empty dimension: shape {C.shape}")
    a = _real_array("a", a, 1)
    b = _real_array("b", b, 1)
    if a.shape != (n,):
        raise ValueError(f"a has length {a.shape[0]} but C has {n} rows; give one weight per row of C")
    if b.shape != (m,):
        raise ValueError(f"b has length {b.shape[0]} but C has {m} columns; give one weight per column of C")
    for name, w in (("a", a), ("b", b)):
        if np.any(w < 0):
            raise ValueError(f"{name} has negative entries (min {w.min():.3g}); weights must be non-negative")
        if not w.sum() > 0:
            raise ValueError(f"{name} sums to zero; give at least one positive weight")
    sa, sb = math.fsum(a), math.fsum(b)
    if abs(sa - sb) > MASS_RTOL * max(sa, sb):
        raise ValueError(f"a and b must have equal total mass (the problem is infeasible otherwise): "
                         f"sum(a)={sa:.17g}, sum(b)={sb:.17g}; rescale one of them")
    if not isinstance(max_size, numbers.Integral) or isinstance(max_size, bool) or max_size < 1:
        raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
    if n * m > max_size:
        raise ValueError(f"C has n*m = {n * m} cells, above max_size={max_size}: exact_ot is meant for small "
                         "problems (pass a larger max_size to go on, or use solvers.sns with a small eps)")
    return C, a, b


def _DANTZIG_PIVOTS(n, m):
    """Pivots with Dantzig's rule before switching to Bland's (which cannot cycle on degenerate bases)."""
    return 50 * (n + m) + 1000


# ----------------------------------------------------------------------------- the tree
class _Tree:
    """Spanning tree of the bipartite graph: nodes 0..n-1 rows, n..n+m-1 columns; edge k = cell (bi[k], bj[k])."""

    def __init__(self, n, m, bi, bj):
        self.n, self.m = n, m
        self.bi, self.bj = list(bi), list(bj)
        self.adj = [dict() for _ in range(n + m)]   # node -> {neighbour: edge index}
        for k, (i, j) in enumerate(zip(self.bi, self.bj)):
            self.adj[i][n + j] = k
            self.adj[n + j][i] = k

    def replace(self, k, i, j):
        n = self.n
        oi, oj = self.bi[k], self.bj[k]
        del self.adj[oi][n + oj], self.adj[n + oj][oi]
        self.bi[k], self.bj[k] = i, j
        self.adj[i][n + j] = k
        self.adj[n + j][i] = k

    def orient(self):
        """Parent, parent edge and depth of every node (root: row 0), and the BFS order."""
        N = self.n + self.m
        parent = [-1] * N
        pedge = [-1] * N
        depth = [0] * N
        order = [0]
        seen = [False] * N
        seen[0] = True
        for node in order:
            for nb, k in self.adj[node].items():
                if not seen[nb]:
                    seen[nb] = True
                    parent[nb], pedge[nb], depth[nb] = node, k, depth[node] + 1
                    order.append(nb)
        if len(order) != N:
            raise RuntimeError("exact_ot: internal error, the basis is not a spanning tree")
        return parent, pedge, depth, order

    def potentials(self, C, parent, pedge, order):
        n = self.n
        pot = [0.0] * (self.n + self.m)
        for node in order[1:]:
            k = pedge[node]
            c = C[self.bi[k], self.bj[k]]
            pot[node] = c - pot[parent[node]]
        return np.array(pot[:n]), np.array(pot[n:])

    def flows(self, a, b, parent, pedge, order):
        """Flows on the tree edges that meet the marginals (leaves first, towards the root)."""
        supply = list(a) + list(b)   # what each node still has to send (rows) / receive (columns)
        x = [0.0] * (self.n + self.m - 1)
        for node in reversed(order[1:]):
            k = pedge[node]
            x[k] = supply[node]
            supply[parent[node]] -= supply[node]
        return np.array(x)


def _northwest(a, b):
    n, m = a.size, b.size
    bi, bj = [], []
    i = j = 0
    ra, rb = float(a[0]), float(b[0])
    while True:
        bi.append(i)
        bj.append(j)
        if i == n - 1 and j == m - 1:
            break
        if (ra <= rb and i < n - 1) or j == m - 1:
            rb -= ra
            i += 1
            ra = float(a[i])
        else:
            ra -= rb
            j += 1
            rb = float(b[j])
    return bi, bj


def _highs_start(C, a, b):
    """Tree cells from the support of a HiGHS vertex of the rescaled LP (None when HiGHS fails)."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    n, m = C.shape
    cmax = float(np.abs(C).max()) or 1.0
    # weights scaled to an average of one per node, so a weight is small only relative to the others
    s = (n + m) / (2.0 * a.sum())
    rows = sp.kron(sp.eye(n), np.ones((1, m)))
    cols = sp.kron(np.ones((1, n)), sp.eye(m))
    A_eq = sp.vstack([rows, cols]).tocsr()
    b_eq = np.concatenate([a * s, b * s])
    b_eq[n:] *= b_eq[:n].sum() / b_eq[n:].sum()
    try:
        res = linprog((C / cmax).ravel(), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs-ds")
    except Exception:  # pragma: no cover - any HiGHS trouble: start from the north-west corner
        return None
    if res.status != 0 or res.x is None:
        return None
    x = res.x
    cells = np.flatnonzero(x > 0)
    cells = cells[np.argsort(-x[cells], kind="stable")]
    # Kruskal on the support (largest flows first), then connect the remaining components
    par = list(range(n + m))

    def find(u):
        while par[u] != u:
            par[u] = par[par[u]]
            u = par[u]
        return u

    bi, bj = [], []
    for c in cells:
        i, j = divmod(int(c), m)
        ri, rj = find(i), find(n + j)
        if ri != rj:
            par[ri] = rj
            bi.append(i)
            bj.append(j)
    if len(bi) < n + m - 1:
        root = find(0)
        c0 = next((j for j in range(m) if find(n + j) == root), None)
        for j in range(m):                      # components holding a column: join through row 0
            if find(n + j) != find(0):
                par[find(n + j)] = find(0)
                bi.append(0)
                bj.append(j)
                if c0 is None:
                    c0 = j
        for i in range(n):                      # the rest are single rows: join through column c0
            if find(i) != find(0):
                par[find(i)] = find(0)
                bi.append(i)
                bj.append(c0)
    return bi, bj


def _network_simplex(C, a, b, start):
    """Network simplex from the tree ``start``; returns (tree, flows, u, v, pivots)."""
    n, m = C.shape
    tree = _Tree(n, m, *start)
    parent, pedge, depth, order = tree.orient()
    x = tree.flows(a, b, parent, pedge, order)
    # a start tree with clearly negative flows is not a feasible basis: use the north-west corner
    if np.any(x < -MARGINAL_RTOL * a.sum()):
        tree = _Tree(n, m, *_northwest(a, b))
        parent, pedge, depth, order = tree.orient()
        x = tree.flows(a, b, parent, pedge, order)
    x = np.maximum(x, 0.0)
    tol = OPTIMALITY_RTOL * (float(np.abs(C).max()) or 1.0)
    max_dantzig = _DANTZIG_PIVOTS(n, m)
    pivots = 0
    while True:
        u, v = tree.potentials(C, parent, pedge, order)
        r = C - u[:, None] - v[None, :]
        if pivots < max_dantzig:
            k_in = int(np.argmin(r))           # Dantzig: most negative reduced cost
        else:
            neg = np.flatnonzero(r.ravel() < -tol)   # Bland's rule after many pivots: no cycling
            k_in = int(neg[0]) if neg.size else int(np.argmin(r))
        if r.flat[k_in] >= -tol:
            return tree, x, u, v, pivots
        if pivots > max_dantzig + 100 * (n + m) ** 2 + 10000:
            raise RuntimeError(f"exact_ot: the network simplex did not finish in {pivots} pivots")
        i, j = divmod(k_in, m)
        # cycle: entering cell (i, j), then the tree path from column node n+j back to row node i
        p, q = n + j, i
        up_p, up_q = [], []
        while p != q:
            if depth[p] >= depth[q]:
                up_p.append(pedge[p])
                p = parent[p]
            else:
                up_q.append(pedge[q])
                q = parent[q]
        path = up_p + up_q[::-1]               # edges from n+j to i; signs -, +, -, ...
        minus = path[0::2]
        plus = path[1::2]
        if pivots < max_dantzig:
            theta_k = min(reversed(minus), key=lambda e: x[e])   # the last blocking edge on ties
        else:   # Bland: the blocking edge of smallest cell index
            theta_k = min(minus, key=lambda e: (x[e], tree.bi[e] * m + tree.bj[e]))
        theta = x[theta_k]
        for e in plus:
            x[e] += theta
        for e in minus:
            x[e] -= theta
        x[theta_k] = theta
        tree.replace(theta_k, i, j)
        parent, pedge, depth, order = tree.orient()
        pivots += 1


def exact_ot(C, a, b, *, return_plan: bool = False, max_size: int = 250_000):
    """Optimal transport cost (and plan) of the unregularised problem, verified.

    Parameters
    ----------
    C : (n, m) array_like
        Finite real costs.
    a, b : (n,), (m,) array_like
        Non-negative finite marginals with equal sums (relative tolerance
        ``MASS_RTOL = 1e-6``; ``b`` is rescaled onto ``sum(a)`` within it).
        Zero weights are allowed, and so are weights many orders of magnitude
        below the others.
    return_plan : bool
        Also return the optimal plan (n, m).
    max_size : int
        Refuse ``n * m`` above this (the method stores a few ``n x m`` arrays
        and prices every cell at each pivot).

    Returns
    -------
    cost : float
        The optimal value ``<P, C>`` (summed with :func:`math.fsum`).
    plan : ndarray, only if ``return_plan``
        Non-negative, ``|P 1 - a|`` and ``|P^T 1 - b|`` at most
        ``MARGINAL_RTOL * sum(a)`` per entry, at most ``n + m - 1`` non-zeros.

    Raises
    ------
    TypeError, ValueError
        Inputs that are not real finite arrays of matching shapes, negative
        weights, or unequal total masses (the only infeasible case).
    RuntimeError
        Only if the computed plan fails its own verification (a bug, never a
        verdict on the problem).

    References
    ----------
    R. K. Ahuja, T. L. Magnanti, J. B. Orlin, *Network Flows*, Prentice Hall 1993, ch. 11.
    """
    C, a, b = _check(C, a, b, max_size)
    n, m = C.shape
    b = b * (a.sum() / b.sum())
    rows, cols = np.flatnonzero(a > 0), np.flatnonzero(b > 0)   # zero weights carry no mass
    Cr, ar, br = np.ascontiguousarray(C[np.ix_(rows, cols)]), a[rows], b[cols]
    cmax = float(np.abs(Cr).max()) or 1.0
    Cs = Cr / cmax          # costs in [-1, 1]: potentials and reduced costs cannot overflow
    start = _highs_start(Cs, ar, br) if Cs.size > 1 else None
    if start is None:
        start = _northwest(ar, br)
    tree, x, u, v, _ = _network_simplex(Cs, ar, br, start)
    parent, pedge, _, order = tree.orient()
    x = np.maximum(tree.flows(ar, br, parent, pedge, order), 0.0)  # recomputed from a, b on the final tree
    P = np.zeros((n, m))
    P[rows[tree.bi], cols[tree.bj]] = x
    _verify(P, a, b, Cs, u, v)
    cost = math.fsum((x * Cr[tree.bi, tree.bj]).tolist())
    if return_plan:
        return cost, P
    return cost


def _verify(P, a, b, Cs, u, v):
    """Non-negative plan, marginals to ``MARGINAL_RTOL * sum(a)``, dual feasibility of the potentials
    (costs ``Cs`` scaled to max |Cs| = 1) to ``10 * OPTIMALITY_RTOL``."""
    mass = a.sum()
    err_a = np.abs(P.sum(1) - a).max()
    err_b = np.abs(P.sum(0) - b).max()
    rmin = float((Cs - u[:, None] - v[None, :]).min())
    if P.min() < 0 or err_a > MARGINAL_RTOL * mass or err_b > MARGINAL_RTOL * mass \
            or not rmin >= -10 * OPTIMALITY_RTOL:
        raise RuntimeError(f"exact_ot: the computed plan failed verification (marginal errors {err_a:.3g}, "
                           f"{err_b:.3g} for total mass {mass:.3g}; min reduced cost {rmin:.3g}); please report")


__all__ = ["exact_ot", "MASS_RTOL", "MARGINAL_RTOL", "OPTIMALITY_RTOL"]
