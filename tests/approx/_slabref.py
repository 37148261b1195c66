"""Independent references for the table route's slab form (shared by ``tests/approx/test_slab.py`` and the
outside tests ``tests/hostile/test_session6_slab*.py``): the exact Chebyshev–Tucker sum and its derivatives
(``numpy.polynomial.chebyshev`` rows, ``einsum`` on the core), order-8 Lagrange interpolation in
``theta`` written from its definition, random Tucker inputs, and a harness for concurrent calls."""
import string
import threading

import numpy as np
import numpy.polynomial.chebyshev as npc


def tucker(rng, m, r, scale=1.0):
    """A core ``N(0, scale^2)`` and decaying factors (orthonormal columns where ``r_i <= m_i``)."""
    core = scale * rng.standard_normal(r)
    factors = []
    for mi, ri in zip(m, r):
        A = np.linalg.qr(rng.standard_normal((mi, ri)))[0] if ri <= mi else rng.standard_normal((mi, ri))
        factors.append(np.ascontiguousarray(A * np.exp(-2.0 * np.arange(mi) / mi)[:, None]))
    return core, factors


def spec(d):
    """The ``einsum`` spec contracting a ``d``-mode core with one row per mode and point."""
    idx = string.ascii_lowercase[:d]
    return idx + "," + ",".join("z" + c for c in idx) + "->z"


def contract(core, rows):
    return np.einsum(spec(core.ndim), core, *rows)


def rows(factors, t):
    return [npc.chebvander(t[:, i], A.shape[0] - 1) @ A for i, A in enumerate(factors)]


def drows(factors, t):
    """The derivative rows (``chebder`` of each factor; zero for a degree-0 factor)."""
    return [npc.chebvander(t[:, i], A.shape[0] - 2) @ npc.chebder(A, axis=0) if A.shape[0] > 1
            else np.zeros((t.shape[0], A.shape[1])) for i, A in enumerate(factors)]


def terms_atol(p, factors, t, rel=1e-12):
    """How far the slab form's values may be from the plain table route's at the mapped points ``t``:
    rounding (``rel`` times the largest plain value is added by the caller's scale, here of the exact sum)
    plus, where the slab form drops Chebyshev terms per cell (``approx_slab.slab_terms``), their bound: the
    dropped terms' norms times the largest 2-norms of the factor rows of modes ``0 .. d-2`` at ``t``
    (``factors`` in the packed form's mode order)."""
    from solvers._kernels.numba import approx as NA
    from solvers._kernels.numba import approx_slab as SLAB

    pm = NA._point_major(p)
    SL = SLAB.slabs(p, *pm)
    K = SLAB.slab_terms(p, SL)
    drop = 0.0
    if K < 8:
        L = int(p.tG[-1]) + int(p.tp) + 1
        norms, _ = SLAB.term_norms(SL, L, SL.size // L)
        nu = np.prod([np.sqrt((R ** 2).sum(axis=1)).max() for R in rows(factors[:-1], t)])
        drop = 1.01 * norms[K:].sum() * nu
    return drop + rel * np.abs(exact(p.core.reshape(tuple(int(k) for k in p.r)), factors, t)).max()


def exact(core, factors, t):
    """The Chebyshev–Tucker sum at mapped points ``t`` in [-1, 1]^d."""
    return contract(core, rows(factors, t))


def exact_grad(core, factors, t):
    """``d/dt_k`` of the exact sum, ``(n, d)``."""
    R, D = rows(factors, t), drows(factors, t)
    return np.stack([contract(core, R[:k] + [D[k]] + R[k + 1:]) for k in range(len(factors))], axis=1)


def lagrange_rows(A, G, t):
    """Order-8 Lagrange interpolation in ``theta = arccos t`` of the columns of ``A`` (Chebyshev
    coefficients) on the nodes ``j pi / G``: the centred stencil around ``s = theta G / pi``, node values
    by direct cosine sums (the even / periodic extension beyond ``[0, pi]`` comes for free)."""
    s = np.arccos(t) * G / np.pi
    nodes = (np.minimum(np.floor(s), G - 1) - 3)[:, None] + np.arange(8)[None, :]
    w = np.ones((t.size, 8))
    for l in range(8):
        for q in range(8):
            if q != l:
                w[:, l] *= (s - nodes[:, q]) / (l - q)
    vals = np.cos(nodes[:, :, None] * (np.pi / G) * np.arange(A.shape[0])[None, None, :]) @ A
    return np.einsum("nl,nlr->nr", w, vals)


def concurrently(call, obj, ks=(0, 1), repeats=3, timeout=120):
    """Threads calling ``call(k)`` ``repeats`` times for each ``k`` while another calls
    ``obj.clear_cache()`` as often; returns ``(results, errors)``, ``results`` a list of ``(k, value)``."""
    results, errors = [], []

    def work(k):
        try:
            for _ in range(repeats):
                results.append((k, call(k)))
        except Exception as e:                        # noqa: BLE001  (reported by the caller)
            errors.append(e)

    def clear():
        for _ in range(repeats):
            obj.clear_cache()

    threads = [threading.Thread(target=work, args=(k,)) for k in ks] + [threading.Thread(target=clear)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout)
    return results, errors


def degenerate_points(pattern, rng, n, bucket, nodes):
    """Degenerate ``(n, 3)`` point sets: ``"identical"`` points, ``"one_bucket"`` (the last coordinate
    ``bucket``, the others random), only the ``"ends"`` +-1, or (``"tiny_offsets"``) the last coordinate
    within 2e-14 of the grid node ``j`` of a grid of ``G`` intervals, for each ``(j, G)`` of ``nodes`` in
    turn (equal shares of the points)."""
    if pattern == "identical":
        return np.tile(rng.uniform(-1, 1, 3), (n, 1))
    if pattern == "ends":
        return rng.choice([-1.0, 1.0], (n, 3))
    t = rng.uniform(-1, 1, (n, 3))
    if pattern == "one_bucket":
        t[:, 2] = bucket
        return t
    cuts = [n * i // len(nodes) for i in range(len(nodes) + 1)]
    for (j, G), a, b in zip(nodes, cuts, cuts[1:]):
        t[a:b, 2] = np.cos(j * np.pi / G) + 1e-15 * rng.integers(-20, 21, b - a)
    return t


def call_size_split(ct, rng):
    """Points for a call-size check of ``ct``'s slab form: ``(x, whole, parts)``, the values of one call of
    ``TILE_LARGE_FROM * L + 77`` random points (64-point items) and of the same points in four calls (32-point
    items). Asserts that those sizes take the slab form at those two tiles."""
    import numpy as np

    from solvers._kernels.numba import approx_slab as SLAB

    _, p = ct._pack("table")
    L = int(p.tG[-1]) + 9
    n = SLAB.TILE_LARGE_FROM * L + 77
    assert SLAB.use_slab(p, n // 4) and SLAB.tile_for(n, L) == SLAB.TILE_LARGE and SLAB.tile_for(n // 4, L) == SLAB.TILE
    x = rng.uniform(-1.0, 1.0, (n, len(ct.factors)))
    whole = np.asarray(ct(x))
    parts = np.concatenate([np.asarray(ct(xs)) for xs in np.array_split(x, 4)])
    return x, whole, parts
