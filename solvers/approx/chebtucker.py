"""Mesh-free Chebyshev–Tucker approximation of multivariate functions on boxes.

A function on the box :math:`\\prod_i [a_i, b_i]` is interpolated at the tensor grid of
Chebyshev points of the second kind, its coefficient tensor ``C`` (DCT-I per mode) is
compressed to Tucker form ``C ≈ G x_1 A_1 ... x_d A_d`` with orthonormal ``m_i x r_i``
factors, and the result is a *function*: it is evaluated at arbitrary points, on any tensor
grid, differentiated and integrated from the factors, never from a grid of ``m^d`` values
(Benner, Khoromskij, Khoromskaia & Sun, "A mesh-free hybrid Chebyshev–Tucker tensor format
with applications to multi-particle modelling", arXiv:2503.01696, 2025). Canonical
(sums of separable terms) inputs are compressed by the reduced HOSVD without forming the
full tensor (Khoromskij & Khoromskaia 2009; Benner, Khoromskaia & Khoromskij, SIAM J. Sci.
Comput. 40, 2018).

This module holds the :class:`ChebTucker` class and the public :func:`chebtucker`; the
construction they share (sampling, compression, the resolution check) is
:func:`solvers.approx._construct._build`.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._masks import refuse_masked
from ..backends import get_backend
from ..results import Status
from . import _algebra, _calls, _cheb, _persist, _sample, _table, _tucker
from . import _validate as _v
from ._construct import _build
from ._persist import _frozen


class ChebTucker(_calls.CallBatches, _table.TableRoute, _algebra.Algebra, _persist.Persistence):
    """A Chebyshev–Tucker function on a box (built by :func:`chebtucker`).

    :math:`f(x) \\approx \\sum_{j} G_{j} \\prod_i \\sum_{k < m_i} A_i[k, j_i]\\, T_k(t_i(x_i))`,
    :math:`t_i = (2 x_i - a_i - b_i) / (b_i - a_i)` (Benner, Khoromskij, Khoromskaia & Sun,
    arXiv:2503.01696, 2025).

    Parameters
    ----------
    core : array_like
        The Tucker core, shape ``(r_1, ..., r_d)``.
    factors : sequence of array_like
        ``A_i`` of shape ``(m_i, r_i)``: Chebyshev coefficients (``T_0 .. T_{m_i - 1}``) of the
        mode-``i`` basis functions.
    domain : sequence of (lo, hi)
        The box.
    eval_method : {"auto", "chebyshev", "table"}
        How the factor rows are evaluated at points (see :func:`chebtucker`).
    tol, truncation_bound, stats, options, provenance, method, backend, history
        As the attributes below (normally filled in by :func:`chebtucker`).

    Attributes
    ----------
    core : numpy.ndarray
        The Tucker core ``G``, shape :attr:`ranks`. Like ``factors``, ``domain``, ``tol`` and
        ``backend``, fixed after construction (read-only copies; rebinding raises: the evaluation
        caches derive from them).
    factors : list of numpy.ndarray
        ``A_i``, shape ``(degree_i + 1, r_i)``: Chebyshev coefficients of the mode-``i``
        basis functions (orthonormal columns after every truncation).
    domain : numpy.ndarray
        ``(d, 2)``: ``[lo, hi]`` per variable.
    tol : float
        Relative Frobenius tolerance of the Tucker compression, in [1e-16, 1) (a ValueError otherwise: it also
        sets the table route's accuracy target).
    truncation_bound : float
        Bound of the Frobenius norm of the coefficients discarded by all compressions so far
        (see :meth:`error_estimate`).
    history : dict
        ``"error"`` (HOOI only): the measured Frobenius error of the compressed coefficients
        after each sweep, entry 0 the HOSVD start (``stats["hooi_sweeps"] + 1`` entries); for
        canonical input, against the reduced-HOSVD tensor that HOOI compresses.
    eval_method : str
        ``"auto"``, ``"chebyshev"`` or ``"table"`` (:attr:`eval_route` is the route it resolves to).
    stats, options, provenance, method, backend
        As in :class:`~solvers.SolveResult`: ``stats`` has ``time_s``, ``compile_s``,
        ``nevals`` (function values sampled), ``truncation_bound``, ``hooi_sweeps``, ``degree``,
        ``resolved`` (the trailing coefficients of every mode below ``tol * ||C||_F`` or rounding;
        with an explicit degree also decaying geometrically, see :meth:`error_estimate`).
        Objects made by arithmetic or :meth:`truncate` carry the options of the left operand,
        zero times and no provenance (they were not built by a solve).
    """

    #: NumPy defers to this class's operators (``F * array`` was an object array of ChebTucker objects: helper-135)
    __array_ufunc__ = None

    def __init__(self, core, factors, domain, *, tol=1e-12, truncation_bound=0.0, stats=None, options=None,
                 provenance=None, method="hosvd", backend="numba", history=None, eval_method="auto"):
        # owned, read-only copies: the evaluation caches (packed forms, tables, slabs) derive from them, so an
        # in-place change would leave some routes stale (build a new object, e.g. ct * a, instead)
        self.core = _frozen(_v._real("core", core, "an array"))
        if isinstance(factors, (str, bytes)) or not hasattr(factors, "__iter__"):
            raise TypeError(f"ChebTucker: factors must be a sequence of d 2-D arrays, got {type(factors).__name__}")
        self.factors = tuple(_frozen(_v._real(f"factors[{i}]", A, "a 2-D array")) for i, A in enumerate(factors))
        bad = [i for i, A in enumerate(self.factors) if A.ndim != 2]
        if bad:
            raise ValueError(f"ChebTucker: factors[{bad[0]}] has shape {self.factors[bad[0]].shape}; every factor must be "
                             "a 2-D array (degree + 1) x rank")
        if not (np.all(np.isfinite(self.core)) and all(np.all(np.isfinite(A)) for A in self.factors)):
            raise ValueError("ChebTucker: core and factors must be finite (NaN or inf found)")
        self.domain = _frozen(_v.domain(domain))   # read-only, factors a tuple: item assignment left stale caches
        if self.core.shape != tuple(A.shape[1] for A in self.factors) or len(self.factors) != self.domain.shape[0]:
            raise ValueError("ChebTucker: core shape must equal the factor ranks, one factor per domain row")
        if self.core.size == 0 or any(A.shape[0] == 0 for A in self.factors):
            raise ValueError(f"ChebTucker: every rank and degree must be >= 1 (core shape {self.core.shape}, factor "
                             f"shapes {[A.shape for A in self.factors]}); a zero function is a (1, ..., 1) core of 0.0 "
                             "with one column per factor")
        self.tol = _v.tol(tol)             # it sets the table route's accuracy target: NaN or >= 1 gave no check
        tb = truncation_bound
        if isinstance(tb, bool) or not isinstance(tb, numbers.Real) or not _v.real_or_inf(tb) >= 0.0:
            raise ValueError(f"ChebTucker: truncation_bound must be a number >= 0 (inf: no guarantee), got {tb!r}")
        self.truncation_bound = _v.real_or_inf(tb)
        for name, v in (("stats", stats), ("history", history), ("options", options), ("provenance", provenance)):
            if v is not None and not isinstance(v, dict):
                raise TypeError(f"ChebTucker: {name} must be a dict or None, got {type(v).__name__}")
        self.stats = dict(stats or {})
        self.history = {k: np.asarray(v) for k, v in (history or {}).items()}
        self.options = dict(options or {})
        self.provenance = dict(provenance or {})
        self.method = method
        self.backend = get_backend(backend).name
        self.eval_method = _v.eval_method(eval_method, get_backend(backend))
        self._packed = {}
        self._tables = {}

    _FIXED = ("core", "factors", "domain", "tol", "backend")

    def __setattr__(self, name, value):
        """Rebinding what the caches derive from left them stale (helper-97): build a new object instead.
        ``eval_method`` may change (it picks among the caches), checked as in the constructor."""
        if "_tables" in self.__dict__:
            if name in self._FIXED:
                raise AttributeError(f"ChebTucker.{name} is fixed after construction (the evaluation caches derive "
                                     f"from it); build a new ChebTucker(core, factors, domain, ...) or use ct * a")
            if name == "eval_method":
                value = _v.eval_method(value, get_backend(self.backend))
        object.__setattr__(self, name, value)

    # --- construction ---------------------------------------------------------------------
    @staticmethod
    def nodes(domain, degree) -> list:
        """The Chebyshev points (second kind, ascending) of every variable, mapped to ``domain``."""
        dom = _v.domain(domain)
        deg = _v.per_mode("degree", degree, dom.shape[0], 1, 4096)
        return [_cheb.to_box(_cheb.points(n), lo, hi) for n, (lo, hi) in zip(deg, dom)]

    @classmethod
    def from_values(cls, values, domain, *, tol: float = 1e-12, ranks=None, method: str = "hosvd",
                    hooi_sweeps: int = 10, backend=None, eval_method: str = "auto") -> "ChebTucker":
        """Build from the values at the grid :meth:`nodes` (``values[j_1, ..., j_d] =
        f(x_{1 j_1}, ..., x_{d j_d})``; the degree of mode ``i`` is ``values.shape[i] - 1``);
        the other options as in :func:`chebtucker`."""
        dom = _v.domain(domain)
        refuse_masked("values", values)
        V = _v._real("values", values, "a d-dimensional array")
        if V.ndim != dom.shape[0] or min(V.shape) < 2:
            raise ValueError(f"values must be a {dom.shape[0]}-d array with >= 2 points per mode, got shape {V.shape}")
        if not np.all(np.isfinite(V)):
            raise ValueError("values contain NaN or inf")
        return _build(("values", V), dom, tuple(n - 1 for n in V.shape), tol, ranks, method, hooi_sweeps, backend,
                      eval_method, value_dtype=getattr(values, "dtype", np.float64))

    @classmethod
    def from_cp(cls, cp, domain, *, degree="auto", tol: float = 1e-12, ranks=None, method: str = "hosvd",
                hooi_sweeps: int = 10, backend=None, eval_method: str = "auto") -> "ChebTucker":
        """Build from a canonical function (an object with ``cp_factors(nodes)``) by the reduced
        HOSVD; the options as in :func:`chebtucker`."""
        if not callable(getattr(cp, "cp_factors", None)):
            raise TypeError(f"ChebTucker.from_cp: cp must have a method cp_factors(nodes) (a canonical function such "
                            f"as problems.potentials' potentials), got {type(cp).__name__}; for a plain f(points) use "
                            "solvers.chebtucker(f, domain)")
        dom = _v.domain(domain)
        return _build(("cp", cp), dom, _v.degree(degree, dom.shape[0]), tol, ranks, method, hooi_sweeps, backend,
                      eval_method)

    # --- shape and size -------------------------------------------------------------------
    @property
    def d(self) -> int:
        """The number of variables."""
        return len(self.factors)

    @property
    def ranks(self) -> tuple:
        """The Tucker ranks ``(r_1, ..., r_d)``."""
        return tuple(int(A.shape[1]) for A in self.factors)

    @property
    def degree(self) -> tuple:
        """The polynomial degree per variable (``m_i - 1``)."""
        return tuple(int(A.shape[0]) - 1 for A in self.factors)

    @property
    def nbytes(self) -> int:
        """Bytes of the core and the factors (the whole representation)."""
        return int(self.core.nbytes + sum(A.nbytes for A in self.factors))

    def __repr__(self) -> str:
        return f"ChebTucker(d={self.d}, degree={self.degree}, ranks={self.ranks}, backend={self.backend!r})"

    # --- evaluation -----------------------------------------------------------------------
    def _mode_order(self):
        """The order of the modes in the packed form, or ``None`` for the given order. The kernels contract
        the last mode first, as a GEMM whose inner dimension is its rank: a last rank under half the largest
        starves it and forces small point blocks, so when the core is also large (``prod(r) >= 4096``
        multiply-adds per point, where copying the points' columns is negligible) the mode of the largest
        rank goes last (the last of them when several tie), the others keeping their order. The 24 x 24 x 4
        lattice with random charges, ranks (62, 62, 16): 0.53 -> 0.72 million points/s on 2 threads; the
        alternating lattice, ranks (10, 10, 7), keeps its order (reordered it measured 13 % slower)."""
        r = self.ranks
        j = max(range(self.d), key=lambda i: (r[i], i))
        if j == self.d - 1 or 2 * r[-1] >= r[j] or int(np.prod(r)) < 4096:
            return None
        return tuple([i for i in range(self.d) if i != j] + [j])

    def _pack(self, route="chebyshev"):
        """``(backend, packed)``; ``packed.perm`` is :meth:`_mode_order` (the points' columns are taken in
        that order, see :meth:`_ordered`)."""
        be = get_backend(self.backend)
        key = (be.name, route)
        p = self._packed.get(key)
        if p is None:
            perm = self._mode_order()
            order = list(perm) if perm else list(range(self.d))
            facs = [self.factors[i] for i in order]
            dfac = [_cheb.derivative(A) for A in facs]
            tables = None
            if route != "chebyshev":
                v = self._table_data()
                tables = {"p": v["p"], "grid": [v["grid"][i] for i in order], "table": [v["table"][i] for i in order],
                          "target": v["target"]}
                if route == "table+derivative":
                    dv = self._table_data(derivative=True)
                    tables.update(dgrid=[dv["grid"][i] for i in order], dtable=[dv["table"][i] for i in order])
            core = np.ascontiguousarray(np.transpose(self.core, order)) if perm else self.core
            p = be.kernels("approx").pack(core, facs, dfac, xp=be.xp, tables=tables)
            p.perm = perm
            self._packed[key] = p
        return be, p

    @staticmethod
    def _ordered(t, p, be):
        """The mapped points ``t`` with their columns in the packed form's mode order."""
        return t if p.perm is None else be.xp.ascontiguousarray(t[:, list(p.perm)])

    def __call__(self, points):
        """Values at ``points`` (shape ``(N, d)``, or one point of shape ``(d,)``, inside the box):
        shape ``(N,)`` (``(1,)`` for one point), an array of this object's backend."""
        from .. import _config

        _config.apply()
        route = self._route()
        be, p = self._pack(route)
        x = self._host_points(points, be)
        out = be.xp.empty(x.shape[0])
        K = be.kernels("approx")
        for s, e, t in self._mapped_batches(x, be, p):
            if route == "chebyshev":
                K.evaluate(p, t, out[s:e])
            else:
                K.evaluate_table(p, t, out[s:e], total=x.shape[0])
        return out

    def gradient(self, points):
        """The gradient of the interpolant at ``points``: shape ``(N, d)``."""
        from .. import _config

        _config.apply()
        route = self._route(derivative=True)
        be, p = self._pack(route)
        x = self._host_points(points, be)
        val, grad = be.xp.empty(x.shape[0]), be.xp.empty(x.shape)
        K = be.kernels("approx")
        for s, e, t in self._mapped_batches(x, be, p):
            if route == "chebyshev":
                K.gradient(p, t, val[s:e], grad[s:e])
            else:
                K.gradient_table(p, t, val[s:e], grad[s:e], total=x.shape[0])
        if p.perm is not None:                           # back to the variables' order
            grad = grad[:, list(np.argsort(p.perm))]
        return grad * be.asarray(2.0 / (self.domain[:, 1] - self.domain[:, 0]))

    def on_grid(self, grid):
        """Values on a tensor grid: ``grid`` an int ``n`` (``n`` equispaced points per variable,
        endpoints included; ``n = 1``: the midpoint), ``d`` ints, or ``d`` 1-D coordinate arrays inside the box.

        Mesh-free: every factor is evaluated on its 1-D grid, then one Tucker product
        (cost :math:`O(\\sum_i n_i m_i r_i + \\prod n_i\\, r)`). Returns a host array of shape
        ``(n_1, ..., n_d)``.
        """
        axes = self._grid_axes(grid)
        rows = []
        for (lo, hi), x, A in zip(self.domain, axes, self.factors):
            t = np.clip(_cheb.from_box(x, lo, hi), -1.0, 1.0)
            rows.append(_cheb.vander(t, A.shape[0]) @ A)
        return _tucker.reconstruct(self.core, rows)

    def _grid_axes(self, grid) -> list:
        d = self.d
        if isinstance(grid, (list, tuple)) and len(grid) == d and all(np.ndim(g) == 1 for g in grid):
            return [_v.axis(f"grid[{i}]", g, lo, hi) for i, (g, (lo, hi)) in enumerate(zip(grid, self.domain))]
        n = _v.per_mode("grid", grid, d, 1, 1 << 24)
        _v.check_memory(f"on_grid({grid!r}), a grid of {np.prod(n, dtype=float):.3g} values", 8.0 * (
            np.prod(n, dtype=float) + sum(k * A.shape[0] for k, A in zip(n, self.factors))), "ask for fewer points")
        return [np.linspace(lo, hi, k) if k > 1 else np.array([0.5 * (lo + hi)]) for k, (lo, hi) in zip(n, self.domain)]

    def integral(self) -> float:
        """The exact integral of the interpolant over the box (Chebyshev moments per mode)."""
        vecs = [(0.5 * (hi - lo) * _cheb.moments(A.shape[0]) @ A)[None, :]
                for (lo, hi), A in zip(self.domain, self.factors)]
        return float(_tucker.reconstruct(self.core, vecs).reshape(()))

    # --- accuracy -------------------------------------------------------------------------
    def error_estimate(self) -> dict:
        """A-posteriori error indicators of the approximation.

        Returns
        -------
        dict
            ``"interpolation"``: per mode, the Frobenius norms of the last two coefficient
            slices, or, where the last quarter of the slice norms decays geometrically but
            slowly, the fitted last coefficient times ``1 + 2 r / (1 - r)`` (``r`` the fitted
            rate: the coefficients beyond the degree, counted twice for aliasing;
            ``solvers.approx._sample.tail_estimate``), summed over the modes; for a sum,
            scaling or truncation at least the operands' estimates. For functions analytic on
            the box the maximum interpolation error is of this size (measured within 0.25-5x on
            ``tanh(a x)``, kinks and jumps once resolved); it is an *estimate*, not a bound (a
            feature the grid does not resolve is not seen). ``"truncation"``: :attr:`truncation_bound`, a guaranteed bound of the
            Frobenius norm of the discarded Chebyshev coefficients; the maximum error it
            causes on the box is at most :math:`\\sqrt{\\prod_i m_i}` times it (often about equal,
            but 20-40x larger measured on particle clouds with many peaks: ``"total"`` is then not an
            upper estimate of the maximum error). ``"total"``: their sum. The slice norms assume orthonormal factors, which
            every object built here has (sums are re-truncated, scaling keeps them).
            ``"truncation_max"``: the larger of ``"truncation"`` and :attr:`truncation_max`, the compression's
            largest error at the grid points measured at build time (``"truncation"`` alone where that was not
            measured: canonical input, objects made directly); ``"total"`` counts it (1/(x+y+z+3.05) at tol
            1e-6: the Frobenius bound 4.7e-7, the error at the corner 1.9e-5, measured there).
            ``"table"`` (0 on the Chebyshev route): the error the tables add, measured as the
            largest difference of the two routes at 1024 points (box corners included, half of them
            uniform in :math:`\\arccos t`, dense near the ends where the tables' error concentrates; an
            estimate: :meth:`table_info` also gives the bound ``f_bound``); part of ``"total"``.
            ``"resolved"``: ``stats["resolved"]`` (from the build; for a sum, scaling or
            truncation: all its operands resolved), else computed from the
            representation (``solvers.approx._sample.representation_resolved``): the last
            two coefficient slices of every mode below ``tol`` (or rounding) *and* decaying
            geometrically. When False the function is not resolved at this degree (a jump, a
            kink or too low a degree) and ``"interpolation"`` may underestimate the error many
            times (up to ~degree times for algebraic decay): it is not a bound.
        """
        interp = self._interpolation()
        info = self.table_info()
        table = 0.0 if info is None else info["f_error"]
        tmax = self.truncation_max
        trunc = self.truncation_bound if tmax is None else max(self.truncation_bound, tmax)
        return {"interpolation": interp, "truncation": self.truncation_bound, "truncation_max": trunc,
                "table": table, "total": interp + trunc + table, "resolved": self._resolved()}

    @property
    def truncation_max(self):
        """The largest error the Tucker compressions add at the points of the Chebyshev grid (where the full
        interpolant takes f's sampled values), measured at build time (``stats["truncation_max"]``); for a sum,
        scaling or truncation, the operands' figures (their sum, scaled) plus the Frobenius bound of the new
        truncation; None where not measured (canonical input, objects made directly)."""
        t = self.stats.get("truncation_max")
        return None if t is None else float(t)

    def _interpolation(self) -> float:
        """The ``"interpolation"`` part of :meth:`error_estimate`: from this object's own trailing slices, and
        at least the operands' estimates it was made from (``stats["interpolation_inherited"]``)."""
        norms = _sample.slice_norms(self.core, self.factors)
        interp = sum(_sample.tail_estimate(s, fl) for s, fl in zip(norms, _sample.mode_floors(self.core, self.factors)))
        return max(interp, float(self.stats.get("interpolation_inherited", 0.0)))

    def _resolved(self) -> bool:
        """``stats["resolved"]`` (from the build, or the operands of a sum / scaling / truncation), else from the
        representation."""
        resolved = self.stats.get("resolved")
        if resolved is None:
            resolved = all(_sample.representation_resolved(self.core, self.factors, self.tol))
        return bool(resolved)

    # --- the result fields (an approximation is a result too: docs/conventions) ----------------
    @property
    def converged(self) -> bool:
        """Whether the function is resolved at this degree (``error_estimate()["resolved"]``); ``success`` too."""
        return self._resolved()

    success = converged

    @property
    def status(self) -> str:
        """``"converged"`` when resolved, else ``"maxiter"`` (the degree was not enough)."""
        return Status.CONVERGED if self.converged else Status.MAXITER

    @property
    def message(self) -> str:
        t = self.stats.get("truncation_max")         # fixed ranks= far below the function's: 'converged' at an error
        lossy = t is not None and t > 1e3 * self.tol * float(np.linalg.norm(self.core))   # 85 % of max |f| (h-159)
        return f"Chebyshev–Tucker: degree {self.degree}, ranks {self.ranks}" + (
            "" if self.converged else ": not resolved at this degree (the trailing coefficients are above tol or "
            "decay algebraically), so the error estimate is not a bound; raise the degree") + (
            f"; the ranks truncate far above tol (max error {t:.3e} at the grid points): raise ranks" if lossy else "")

    @property
    def nit(self) -> int:
        """HOOI sweeps done (0 for HOSVD)."""
        return int(self.stats.get("hooi_sweeps", 0))

    @property
    def x(self):
        """The Tucker core (what a stored run holds as ``x``)."""
        return self.core


# ---------------------------------------------------------------------------------------------
def chebtucker(f, domain, *, degree="auto", tol: float = 1e-12, ranks=None, method: str = "hosvd",
               hooi_sweeps: int = 10, backend=None, eval_method: str = "auto") -> ChebTucker:
    """Chebyshev–Tucker approximation of ``f`` on the box ``domain``.

    Parameters
    ----------
    f : callable or canonical function
        ``f(points)`` with ``points`` of shape ``(N, d)`` returning ``N`` values, point by point (it is
        called on blocks of whole grid rows of at most 32768 points, or one row where a row is longer, each
        block a fresh array); or an object
        with ``cp_factors(nodes)`` (``nodes``: the ``d`` 1-D Chebyshev point arrays) returning
        ``(weights (R,), [U_1 (m_1, R), ..., U_d (m_d, R)])`` with
        :math:`f(x) = \\sum_r w_r \\prod_i U_i[x_i, r]`, compressed by the reduced HOSVD
        without forming the ``m^d`` grid.
    domain : sequence of (lo, hi)
        The box, one finite pair ``lo < hi`` per variable (``d = len(domain)``).
    degree : int, sequence of int or "auto"
        Polynomial degree per variable (``degree + 1`` Chebyshev points of the second kind).
        ``"auto"``: start at 8 and double the degree of every variable whose last two
        coefficient slices exceed ``tol * ||C||_F`` (or the rounding level), up to 512 per
        variable and 2e7 grid points; ``stats["degree"]`` is the degree reached and
        ``stats["resolved"]`` says whether the tails fell below the level (a
        ``RuntimeWarning`` when not). On both paths the tail test is followed by a decay test
        (geometric, not algebraic, decay of the last half of the coefficients of every mode, judged
        up to the degree from which the remaining coefficient slices sum to at most
        ``tol * ||C||_F``: residue below the tolerance does not count, a small jump's slowly
        decaying tail does) sets ``stats["resolved"]``, with a ``RuntimeWarning`` when it fails:
        the interpolation part of :meth:`ChebTucker.error_estimate` is then not a bound.
    tol : float
        Relative Frobenius tolerance of the Tucker compression of the coefficient tensor:
        each mode discards a singular-value tail ``<= tol * ||C||_F / sqrt(d)``, so the
        discarded coefficients have norm ``<= tol * ||C||_F``. Values that ``f`` returns as
        float32 (float16) carry only their precision ``u`` (1.2e-7; 9.8e-4): a ``tol`` below
        ``4 u`` is raised to it with a ``RuntimeWarning`` (``stats["effective_tol"]``, and the
        object's ``tol``; ``options["tol"]`` keeps the value asked), and the rounding plateaus of
        the degree choice are ``u``'s -- sampling float32 noise as if it were float64 signal took
        degree 256 and full ranks (137 MB) for a function of degree 32 and rank 2.
    ranks : int or sequence of int, optional
        Fixed Tucker ranks (capped at the available size) instead of the tolerance rule.
    method : {"hosvd", "sthosvd", "hooi"}
        Truncated HOSVD (every mode from the full coefficient tensor), sequentially truncated
        HOSVD (each mode from the tensor projected on the modes before it: cheaper, error
        bound the same; Vannieuwenhoven, Vandebril & Meerbergen, SIAM J. Sci. Comput. 34,
        2012), or ST-HOSVD followed by up to ``hooi_sweeps`` HOOI (ALS) sweeps at the same
        ranks.
    hooi_sweeps : int
        Maximal number of HOOI sweeps.
    backend : str or Backend, optional
        Where evaluation runs (``"numpy"``, ``"numba"``, ``"cupy"``); default ``"numba"``.
    eval_method : {"auto", "chebyshev", "table"}
        How values and gradients at points get the factor rows :math:`u_i(t)`: ``"chebyshev"``,
        the Chebyshev sums (``O(m r)`` per mode and point); ``"table"``, local Lagrange
        interpolation of order ``p`` (8 or 16) in :math:`\\theta = \\arccos t` on the columns
        tabulated on a uniform :math:`\\theta`-grid (``O(p r)``; grid chosen by an a-priori bound
        for the relative accuracy ``max(1e-2 tol, 1e-14)`` and checked against the Chebyshev
        sums at 4099 points, see :meth:`ChebTucker.table_info` and the ``"table"`` entry of
        :meth:`ChebTucker.error_estimate`); ``"auto"``, the table when that target is at least
        1e-14 and a cost model says it is faster (large degree). On the ``cupy`` backend
        ``"auto"`` keeps the Chebyshev sums (its table kernels are not yet timed on a GPU);
        ``"table"`` runs them.

    Returns
    -------
    ChebTucker

    References
    ----------
    P. Benner, B. Khoromskij, V. Khoromskaia, Y. Sun, "A mesh-free hybrid Chebyshev–Tucker
    tensor format with applications to multi-particle modelling", arXiv:2503.01696, 2025.
    B. Khoromskij, V. Khoromskaia, "Multigrid accelerated tensor approximation of function
    related multidimensional arrays", SIAM J. Sci. Comput. 31, 2009 (reduced HOSVD);
    P. Benner, V. Khoromskaia, B. Khoromskij, SIAM J. Sci. Comput. 40, 2018 (arXiv:1606.09218).
    """
    dom = _v.domain(domain)
    deg = _v.degree(degree, dom.shape[0])
    if hasattr(f, "cp_factors") and not callable(f.cp_factors):
        raise TypeError(f"f.cp_factors must be a method cp_factors(nodes), got {type(f.cp_factors).__name__}")
    if hasattr(f, "cp_factors"):
        return _build(("cp", f), dom, deg, tol, ranks, method, hooi_sweeps, backend, eval_method)
    if not callable(f):
        raise TypeError("f must be callable (points (N, d) -> N values) or have cp_factors(nodes), "
                        f"got {type(f).__name__}")
    return _build(("callable", f), dom, deg, tol, ranks, method, hooi_sweeps, backend, eval_method)
