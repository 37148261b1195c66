"""Tabulated factor columns: the ``table`` evaluation route of the Chebyshev–Tucker format.

A factor column :math:`u(t) = \\sum_{j < m} c_j T_j(t)` is, in :math:`\\theta = \\arccos t`, the even
:math:`2\\pi`-periodic trigonometric polynomial :math:`g(\\theta) = \\sum_j c_j \\cos(j\\theta)` of
degree ``m - 1``. It is tabulated once on the uniform grid :math:`\\theta_k = k h`, ``h = pi / G``,
``k = 0 .. G`` (one DCT-I of the zero-padded coefficients), the table extended by ``p / 2`` rows
beyond each end by the symmetries :math:`g(-\\theta) = g(\\theta)`, :math:`g(\\pi + \\theta) =
g(\\pi - \\theta)`, and evaluated by local Lagrange interpolation on ``p`` consecutive grid points
centred on :math:`\\theta` (``p`` even): per point and mode ``O(p r)`` work instead of ``O(m r)``.

A-priori bound (Lagrange remainder on the central interval of ``p`` equispaced nodes; the
extension is the same trigonometric polynomial, so there is no boundary loss): for every
:math:`\\theta`,

.. math:: |g(\\theta) - P_p g(\\theta)| \\le \\Omega_p\\, h^p \\max_\\xi |g^{(p)}(\\xi)|
          \\le \\Omega_p\\, h^p \\sum_j |c_j|\\, j^p,
   \\qquad \\Omega_p = \\max_{\\sigma \\in [p/2 - 1, p/2]} \\frac{|\\prod_{l<p} (\\sigma - l)|}{p!}

(the Lagrange interpolation remainder, Davis, *Interpolation and Approximation*, 1963, ch. 3;
the derivative bound is termwise). :func:`design` takes the smallest ``G`` whose bound meets the
target relative to the column scale (the largest tabulated value); the caller then checks the table against the
exact Chebyshev sums at sample points and refines ``G`` where the check fails (see
:meth:`TableRoute._table_data` and :func:`build`).
"""
from __future__ import annotations

import math
import time
import warnings
from functools import lru_cache

import numpy as np
import scipy.fft

from .. import _config
from ..backends import get_backend
from . import _cheb

#: interpolation orders tried, cheapest first (multiples of 8: the kernels work in blocks of 8 nodes)
ORDERS = (8, 16)
#: largest grid per mode (a table has ``r (G + p + 1)`` values per mode)
MAX_GRID = 1 << 15
#: a grid up to this size is accepted at the lower order before the higher one is tried
LOW_ORDER_GRID = 4096
#: the finest relative table accuracy asked for (rounding in the interpolation is a few 1e-16)
FLOOR = 1e-14
#: the target relative to ``tol``
TOL_FACTOR = 1e-2


@lru_cache(maxsize=None)
def omega(p: int) -> float:
    """:math:`\\Omega_p`: the largest ``|prod_l (sigma - l)| / p!`` on the central interval
    (sampled finely, plus 1 % margin)."""
    s = np.linspace(p / 2 - 1, p / 2, 2001)
    prod = np.abs(np.prod(s[:, None] - np.arange(p)[None, :], axis=1))
    return float(1.01 * prod.max() / math.factorial(p))


def target(tol: float) -> float:
    """The relative table accuracy asked for at compression tolerance ``tol``."""
    return max(TOL_FACTOR * float(tol), FLOOR)


def bound(A: np.ndarray, p: int, G: int) -> float:
    """The a-priori bound of the interpolation error, largest over the columns of ``A``."""
    j = np.arange(A.shape[0], dtype=np.float64)
    deriv = float((np.abs(A) * (j ** p)[:, None]).sum(axis=0).max()) if A.size else 0.0
    return omega(p) * (math.pi / G) ** p * deriv


def grid_for(A: np.ndarray, p: int, tol_abs: float) -> int:
    """The smallest grid ``G`` (a multiple of 16, at least ``m``) whose bound is ``<= tol_abs``."""
    j = np.arange(A.shape[0], dtype=np.float64)
    deriv = float((np.abs(A) * (j ** p)[:, None]).sum(axis=0).max()) if A.size else 0.0
    G = A.shape[0]
    if deriv > 0.0:
        G = max(G, math.pi * (omega(p) * deriv / tol_abs) ** (1.0 / p))
    return int(math.ceil(G / 16.0) * 16)


def tabulate(A: np.ndarray, G: int, p: int) -> np.ndarray:
    """The transposed table ``(r, G + p + 1)``: row ``j`` holds column ``j`` of ``A`` summed at
    :math:`\\theta_k = k\\pi/G`, ``k = -p/2 .. G + p/2`` (DCT-I, then the even/periodic extension)."""
    m, r = A.shape
    if G < m - 1:
        raise ValueError(f"table grid G = {G} is coarser than the degree {m - 1}")
    y = np.zeros((G + 1, r))
    y[:m] = A
    y[0] *= 2.0
    y[G] *= 2.0                                 # only nonzero when m - 1 == G
    vals = 0.5 * scipy.fft.dct(y, type=1, axis=0)            # g(k pi / G), k = 0 .. G
    half = p // 2
    k = np.arange(-half, G + half + 1)
    k = np.abs(k)
    k = np.where(k > G, 2 * G - k, k)          # g(-theta) = g(theta), g(pi + theta) = g(pi - theta)
    return np.ascontiguousarray(vals[k].T)


def design(factors, tol_rel: float, orders=ORDERS):
    """Order ``p`` and grids ``G_i`` meeting ``tol_rel`` times each mode's scale by the a-priori
    bound: the first of ``orders`` whose grids stay within :data:`LOW_ORDER_GRID` (the last
    within :data:`MAX_GRID`). Returns ``(p, grids, scales)`` or ``None``."""
    scales = [_scale(A) for A in factors]
    for p in orders:
        grids = [grid_for(A, p, tol_rel * s) if s > 0 else 16 for A, s in zip(factors, scales)]
        if max(grids) <= (LOW_ORDER_GRID if p != orders[-1] else MAX_GRID):
            return p, grids, scales
    return None


def _scale(A: np.ndarray) -> float:
    """The largest ``|u(t)|`` over the columns, from the values at ``8 m`` Chebyshev angles."""
    if A.size == 0:
        return 0.0
    return float(np.abs(tabulate(A, 8 * A.shape[0], 2)).max())


def check_points(n: int = 4096, seed: int = 20261130) -> np.ndarray:
    """Sample points in ``[-1, 1]`` for the a-posteriori check: half uniform in ``t``, half uniform
    in ``theta`` (dense near the ends), and the ends and the middle."""
    rng = np.random.default_rng(seed)
    return np.concatenate([[-1.0, 0.0, 1.0], rng.uniform(-1.0, 1.0, n // 2), np.cos(rng.uniform(0, np.pi, n // 2))])


def build(factors, tol_rel: float, kernels, order: int | None = None, refinements: int = 3):
    """Tables of the columns of ``factors`` meeting ``tol_rel`` (relative to each mode's scale),
    checked a posteriori: the interpolated rows from ``kernels.table_rows`` (the kernel set that
    will evaluate them) against the exact Chebyshev sums at :func:`check_points`; a mode whose
    measured error exceeds the target gets twice the grid, up to ``refinements`` times.

    Returns a dict (``p``, ``grid``, ``table``, ``bound`` and ``error``: the a-priori and the
    measured error relative to ``scale`` per mode, ``row_error`` and ``row_norm``: the largest
    2-norm of the row error and of the exact row at the check points, ``target``), or ``None``
    when no order of :data:`ORDERS` (or ``order``) reaches the target within :data:`MAX_GRID`.
    """
    found = design(factors, tol_rel, (order,) if order else ORDERS)
    if found is None:
        return None
    p, grids, scales = found
    x = check_points()
    tables = [tabulate(A, G, p) for A, G in zip(factors, grids)]
    T = {}                                          # the Chebyshev values at x, once per distinct degree
    for A in factors:
        if A.shape[0] not in T:
            T[A.shape[0]] = _chebyshev_values(x, A.shape[0])
    exact = [T[A.shape[0]].T @ A for A in factors]
    for _ in range(refinements + 1):
        packed = kernels.pack(np.ones(tuple(A.shape[1] for A in factors)), factors, factors,
                              tables={"p": p, "grid": grids, "table": tables})
        diffs = [kernels.table_rows(packed, i, x, np.empty_like(ex)) - ex for i, ex in enumerate(exact)]
        err = [float(np.abs(D).max()) / s if s > 0 else 0.0 for D, s in zip(diffs, scales)]
        bad = [i for i, e in enumerate(err) if e > tol_rel]
        if not bad:
            return {"p": p, "grid": list(grids), "table": tables, "scale": scales, "error": err, "target": tol_rel,
                    "bound": [bound(A, p, G) / s if s > 0 else 0.0 for A, G, s in zip(factors, grids, scales)],
                    "row_error": [float(np.sqrt((D ** 2).sum(axis=1)).max()) for D in diffs],
                    "row_norm": [float(np.sqrt((ex ** 2).sum(axis=1)).max()) for ex in exact]}
        for i in bad:
            if 2 * grids[i] > MAX_GRID:
                return None
            grids[i] *= 2
            tables[i] = tabulate(factors[i], grids[i], p)
    return None


def _chebyshev_values(x: np.ndarray, m: int) -> np.ndarray:
    """``T_k(x)`` for ``k < m`` as an ``(m, len(x))`` array (three-term recurrence, the points contiguous)."""
    T = np.empty((m, x.size))
    T[0] = 1.0
    if m > 1:
        T[1] = x
    x2 = 2.0 * x
    for k in range(2, m):
        np.multiply(x2, T[k - 1], out=T[k])
        T[k] -= T[k - 2]
    return T


def pays(factors, p: int) -> bool:
    """Whether the table route is expected to be faster: per mode, the Chebyshev rows cost about
    ``2 m r + 3 m`` flops at GEMM speed, the table rows about ``400 + 14 p r`` of the same units
    (the arccos, the weights and ``r`` dot products of length ``p`` from scattered rows). Fitted
    to in-process A/B timings of the two Numba routes (d = 3, 1 thread, loaded 2-core box;
    table/Chebyshev: m = 33: 0.3-0.8, m = 65: 0.6-0.9, m = 129: 1.0-1.7, m = 257: 1.5-2.3 for
    r = 3 .. 20). The table is chosen when it saves at least 20 % of the factor rows."""
    cheb = sum(2.0 * A.shape[0] * A.shape[1] + 3.0 * A.shape[0] for A in factors)
    table = sum(400.0 + 14.0 * p * A.shape[1] for A in factors)
    return table < 0.8 * cheb


#: most points of the function-level check of :meth:`TableRoute.table_info` ...
F_CHECK_POINTS = 1024
#: ... and its largest work, points times core entries (each point contracts the whole core twice)
F_CHECK_WORK = 1 << 24


def check_count(core_size: int) -> int:
    """Points of the function-level check: :data:`F_CHECK_POINTS`, fewer for a large core so
    that points x core entries stays within :data:`F_CHECK_WORK` (at least 16)."""
    return int(max(16, min(F_CHECK_POINTS, F_CHECK_WORK // max(int(core_size), 1))))


def _fro(a) -> float:
    """The Frobenius norm, scaled so the squares neither overflow nor underflow."""
    top = float(np.abs(a).max()) if np.size(a) else 0.0
    return top * float(np.linalg.norm(a / top)) if top > 0 else 0.0


class TableRoute:
    """The route choice, the tables and the evaluation caches of :class:`~solvers.approx.ChebTucker` (a
    mix-in: uses its ``factors``, ``tol``, ``backend``, ``eval_method`` and the ``_packed`` and ``_tables``
    caches)."""

    @property
    def cache_nbytes(self) -> int:
        """Bytes held by this object's evaluation caches: the packed forms, the factor tables and, with the
        Numba kernels, the point-major tables and the slabs of the table route (made on first use, the slabs
        up to ``solvers._kernels.numba.approx_slab.MAX_BYTES``); :meth:`clear_cache` frees them and pickling
        drops them. The batch-sized work arrays of an evaluation (mapped points, the slab form's bucketing) are
        not this object's: every object shares them (:func:`solvers.approx.work_nbytes`,
        :func:`solvers.approx.release_work`)."""
        seen, total = set(), 0

        def add(a):
            nonlocal total
            if hasattr(a, "nbytes") and hasattr(a, "dtype") and id(a) not in seen:
                seen.add(id(a))
                total += int(a.nbytes)
            elif isinstance(a, (list, tuple)):
                for b in a:
                    add(b)
            elif isinstance(a, dict):
                for b in a.values():
                    add(b)
            elif isinstance(getattr(a, "arrays", None), dict):   # kept work arrays (_kernels.scratch.Scratch)
                add(dict(a.arrays))

        for p in list(self._packed.values()):          # snapshots: another thread may be filling the caches
            add(dict(vars(p)))
        add(dict(self._tables))
        return total

    def clear_cache(self) -> None:
        """Drop the evaluation caches (:attr:`cache_nbytes`), and the shared work arrays of evaluations that no
        call is using (:func:`solvers.approx.release_work`); the next evaluation rebuilds what it needs (the same
        tables: their grids follow from the factors and ``tol``)."""
        from .._kernels.scratch import release_shared

        self._packed = {}
        self._tables = {}
        release_shared()

    def _table_data(self, derivative=False):
        """The tables of the factor columns (or of their derivatives, at the same order), built
        and checked on first use (:func:`solvers.approx._table.build`); ``None`` when the
        target accuracy needs too fine a grid."""
        key = "derivative" if derivative else "value"
        tables = self._tables          # one dict throughout: clear_cache() in another thread replaces self._tables
        if key not in tables:
            order = None
            if derivative:
                v = self._table_data()
                order = None if v is None else v["p"]
            facs = [_cheb.derivative(A) for A in self.factors] if derivative else self.factors
            with _config.blas_serial():   # small GEMMs just before the Numba evaluation (as in _construct)
                tables[key] = None if (derivative and order is None) else build(
                    facs, target(self.tol), get_backend(self.backend).kernels("approx"), order)
            if tables[key] is None and self.eval_method == "table":
                warnings.warn(f"ChebTucker: no table of order <= {ORDERS[-1]} with <= {MAX_GRID} "
                              f"intervals reaches the relative accuracy {target(self.tol):.1e} for the "
                              f"{'derivatives' if derivative else 'values'}; the exact Chebyshev sums are used "
                              "(raise tol or use eval_method='chebyshev')", RuntimeWarning, stacklevel=4)
        return tables[key]

    @property
    def eval_route(self) -> str:
        """The route :meth:`__call__` takes: ``"table"`` or ``"chebyshev"`` (``eval_method="auto"``
        takes the table when the accuracy target ``max(1e-2 tol, 1e-14)`` is met and the cost
        model :func:`solvers.approx._table.pays` says it saves time)."""
        return self._route()

    def _route(self, derivative=False) -> str:
        K = get_backend(self.backend).kernels("approx")
        if self.eval_method == "chebyshev" or "table" not in K.ROUTES:
            return "chebyshev"
        if self.eval_method == "auto" and (TOL_FACTOR * self.tol < FLOOR or not K.TABLE_AUTO):
            return "chebyshev"
        v = self._table_data()
        if v is not None and self.eval_method == "auto" and not pays(self.factors, v["p"]):
            return "chebyshev"
        if v is not None and derivative and self._table_data(derivative=True) is None:
            v = None
        if v is None:
            return "chebyshev"
        return "table+derivative" if derivative else "table"

    def table_info(self) -> dict | None:
        """The tables of the ``table`` route (built if needed): ``order`` ``p``, ``grid`` (intervals
        per mode), ``bound`` (a-priori) and ``error`` (measured at 4099 points against the
        Chebyshev sums), both relative to the largest value of the mode's columns, and the
        ``target``; for the function, ``f_error``: the largest difference of the table and the
        Chebyshev routes measured at 1024 points (random points, and corners of the box as a quarter at most;
        fewer for a large core, ``check_count``: ``points * prod(ranks) <= 2**24``), and
        ``f_bound``: :math:`\\|G\\|_F \\sum_i \\delta_i \\prod_{j \\ne i} \\nu_j`
        (:math:`\\delta_i`, :math:`\\nu_j` the largest 2-norms of the row error and of the row
        at the check points). ``None`` when the table route is not taken. (The Numba kernels' slab form, taken for
        large calls, may add at most a tenth of the target relative to its slabs' scale:
        :func:`solvers._kernels.numba._slab_cells.slab_terms`.)"""
        if self._route() == "chebyshev":
            return None
        v = self._table_data()
        f_error, f_bound = self._function_error(v)
        return {"order": v["p"], "grid": list(v["grid"]), "bound": list(v["bound"]), "error": list(v["error"]),
                "target": v["target"], "f_error": f_error, "f_bound": f_bound}

    def _function_error(self, v):
        """``(measured, bound)`` of the error the tables add to the function values (cached)."""
        tables = self._tables          # (as in _table_data)
        if "function" not in tables:
            nu = v["row_norm"]
            bound = _fro(self.core) * sum(v["row_error"][i] * float(np.prod(nu[:i] + nu[i + 1:]))
                                     for i in range(self.d))
            n = check_count(self.core.size)
            rng = np.random.default_rng(20261130)
            t = rng.uniform(-1.0, 1.0, (n, self.d))
            # half of them uniform in theta = arccos t, dense near the ends, where the tables' error concentrates
            # (sqrt(x + 1.001): measured 2.8e-13 on uniform t alone, 1.2e-11 true, at x = -0.999998)
            t[n // 2:] = np.cos(rng.uniform(0.0, np.pi, (n - n // 2, self.d)))
            corners = min(n // 4, 2 ** min(self.d, 30))   # the tables are exact at the corners: mostly random
            bits = np.minimum(np.arange(self.d)[::-1], 62)[None, :]       # the last coordinate varies fastest
            t[:corners] = ((np.arange(corners)[:, None] >> bits) & 1) * 2.0 - 1.0
            be = get_backend(self.backend)
            K = be.kernels("approx")
            td = be.asarray(np.ascontiguousarray(t))
            a, b = be.xp.empty(t.shape[0]), be.xp.empty(t.shape[0])
            pc, pt = self._pack("chebyshev")[1], self._pack("table")[1]
            K.evaluate(pc, self._ordered(td, pc, be), a)
            K.evaluate_table(pt, self._ordered(td, pt, be), b)
            tables["function"] = (float(np.abs(be.to_numpy(a) - be.to_numpy(b)).max()), bound)
        return tables["function"]

    def _record_route(self) -> None:
        """Resolve the route (building and checking the tables when it is the table) and record
        it in ``stats``: ``eval_route``, ``table_s`` (also added to ``time_s``) and for the table
        ``table_order``, ``table_grid``, ``table_error`` (measured, relative per mode). Numba compilation
        (or cache loading) during that work goes to ``compile_s``, not to ``table_s`` or ``time_s``, as the
        result convention keeps compile time apart (a cold cache put 3.6 s of compilation in ``time_s`` with
        ``compile_s`` 0: the first ``newtonkit demo`` after an install, session 30)."""
        from ..results import compile_seconds

        c0, t0 = compile_seconds(), time.perf_counter()
        info = self.table_info()
        dc = compile_seconds() - c0
        dt = max(time.perf_counter() - t0 - dc, 0.0)
        self.stats.update({"eval_route": self.eval_route, "table_s": dt, "time_s": self.stats.get("time_s", 0.0) + dt,
                           "compile_s": self.stats.get("compile_s", 0.0) + dc})
        if info is not None:
            self.stats.update({"table_order": info["order"], "table_grid": tuple(info["grid"]),
                               "table_error": tuple(info["error"])})
