"""Algebra of Chebyshev–Tucker functions on one box (a mixin of :class:`~solvers.approx.ChebTucker`): scaling,
sums and differences with rank re-truncation (the Tucker sum of the two representations, then HOSVD of the
core), and re-compression. The results keep their operands' interpolation estimates and ``resolved`` flags,
which their own coefficients cannot show (a zero-padded lower-degree operand has empty trailing slices).
"""
from __future__ import annotations

import numpy as np

from .. import _config
from . import _cheb, _tucker
from . import _validate as _v


#: the rounding level of a sum relative to its operands' sizes (``||G|| prod ||A_i||_2`` each): a tail below
#: ``SUM_ROUNDING`` times their sum is truncated even where it is most of the result (``a - a`` is rounding
#: noise of about 1e-16 ``||a||``, which a tolerance relative to the result kept at ranks (2, 2, 2))
SUM_ROUNDING = 1e-14


def _norm2(factors) -> float:
    """The product of the factors' spectral norms (1 for orthonormal factors)."""
    return float(np.prod([np.linalg.norm(A, 2) if A.size else 0.0 for A in factors]))


#: a re-truncation's error is measured on a Chebyshev grid of at most this many points (every grid point where
#: the full grid is that small; else the points of a lower degree per mode, corners and edges included)
DISCARD_GRID = 1 << 18


def _probe_grid(m, budget=DISCARD_GRID):
    """Chebyshev point counts per mode (at most ``m_i``, the grid at most ``budget`` points; the highest degree
    halved first) and their ``T_k`` values for ``k < m_i`` (``vander``)."""
    deg = [k - 1 for k in m]
    while np.prod([k + 1 for k in deg], dtype=float) > budget:
        i = int(np.argmax(deg))
        deg[i] = max(1, deg[i] // 2)
    return [_cheb.vander(_cheb.points(k) if k > 0 else np.zeros(1), n) for k, n in zip(deg, m)]


def discarded_max(core0, fac0, core1, fac1) -> float:
    """The largest difference of two Tucker forms of Chebyshev coefficients (a form and its re-truncation) on a
    Chebyshev tensor grid of at most :data:`DISCARD_GRID` points: the values there by the three-term recurrence
    (``vander``) times each factor, then two small reconstructions. A measured figure, not a bound; the
    Frobenius norm of the discarded coefficients (``truncate``'s bound) can be far below it at a corner."""
    V = _probe_grid([A.shape[0] for A in fac0])
    a = _tucker.reconstruct(core0, [v @ A for v, A in zip(V, fac0)])
    b = _tucker.reconstruct(core1, [v @ A[:v.shape[1]] for v, A in zip(V, fac1)])
    return float(np.max(np.abs(a - b)))


def cp_discarded_max(w, B, core, factors) -> float:
    """As :func:`discarded_max` between a canonical form ``sum_r w_r o_i B_i[:, r]`` (coefficient factors) and a
    Tucker form: the canonical values on the grid by one GEMM with the Khatri-Rao product of the other modes'
    values (the grid shrunk so that product stays below 2^23 entries: canonical input can have thousands of
    terms). Canonical builds' ``total`` was 12-90x below the error at a corner (helper-148)."""
    R = int(np.size(w))
    V = _probe_grid([b.shape[0] for b in B], min(DISCARD_GRID, max(64, (1 << 23) // max(R, 1)) * B[0].shape[0]))
    X = [v @ b for v, b in zip(V, B)]
    K = np.ones((1, R))
    for x in X[1:]:
        K = (K[:, None, :] * x[None, :, :]).reshape(-1, R)
    a = ((X[0] * w) @ K.T).reshape(tuple(x.shape[0] for x in X))
    b = _tucker.reconstruct(core, [v @ A for v, A in zip(V, factors)])
    return float(np.max(np.abs(a - b)))


class Algebra:
    """``truncate``, ``*``, ``/`` (by a number), ``+``, ``-`` and constants; needs ``core``, ``factors``, ``domain``, ``d``, ``tol``,
    ``truncation_bound``, ``options``, ``method``, ``backend``, ``eval_method`` and the estimate helpers
    ``_interpolation`` / ``_resolved`` of the class it is mixed into."""

    def _like(self, core, factors, bound, tol=None, inherit=None, tmax=None):
        """A new object on this domain. ``inherit``: ``(interpolation estimate, resolved)`` of the operands it
        comes from (their sum for a sum), which its own coefficients cannot show: a sum's zero-padded
        lower-degree operand has empty trailing slices, however unresolved it was. ``tmax``: its
        ``stats["truncation_max"]`` (:meth:`_tmax`)."""
        stats = {"time_s": 0.0, "compile_s": 0.0}
        if tmax is not None:
            stats["truncation_max"] = float(tmax)
        if inherit is not None:
            stats["interpolation_inherited"], stats["resolved"] = float(inherit[0]), bool(inherit[1])
        return type(self)(core, factors, self.domain, tol=self.tol if tol is None else tol, truncation_bound=bound,
                          options=self.options, method=self.method, backend=self.backend,
                          stats=stats, eval_method=self.eval_method)

    def _tmax(self, factor=1.0, *others, added=0.0):
        """The measured compression error carried to a new object: ``|factor|`` times this object's
        ``truncation_max`` (its ``truncation_bound`` where not measured), plus the others', plus ``added`` (a new
        truncation's measured error, at least its Frobenius bound)."""
        ts = [o.truncation_bound if getattr(o, "truncation_max", None) is None else o.truncation_max
              for o in (self,) + others]          # (an unmeasured operand counts by its bound; None dropped the
        return abs(factor) * ts[0] + sum(ts[1:]) + added   # others' measured figures: helper-148)

    def _inherited(self, factor=1.0):
        """``(interpolation estimate * |factor|, resolved)`` of this object, for :meth:`_like`."""
        return abs(factor) * self._interpolation(), self._resolved()

    def truncate(self, tol: float | None = None, ranks=None) -> "Algebra":
        """A re-compressed copy: HOSVD of the core after orthonormalising the factors, relative
        Frobenius tolerance ``tol`` (default: this object's) or fixed ``ranks``."""
        tol = self.tol if tol is None else _v.tol(tol)
        with _config.blas_serial():       # small factorizations next to the Numba kernels (as in _construct)
            G, A, bound = _tucker.truncate(self.core, self.factors, tol, _v.ranks(ranks, self.d))
            added = max(bound, discarded_max(self.core, self.factors, G, A))
        return self._like(G, A, self.truncation_bound + bound, tol, inherit=self._inherited(),
                          tmax=self._tmax(added=added))

    def __mul__(self, a):
        a = self._number(a, "*", "factor")
        return a if a is NotImplemented else self._scaled(a, "*")

    __rmul__ = __mul__

    def __truediv__(self, a):
        a = self._number(a, "/", "divisor")
        if a is NotImplemented:
            return a
        if a == 0.0:
            raise ValueError("ChebTucker /: the divisor must be nonzero")
        return self._scaled(a, "/")

    @staticmethod
    def _number(a, op, what):
        """``a`` as a finite float (NotImplemented for a non-number; a named ValueError otherwise)."""
        if isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating)):
            return NotImplemented
        try:
            a = float(a)
        except OverflowError:
            a = float("inf")
        if not np.isfinite(a):
            raise ValueError(f"ChebTucker {op}: the {what} must be a finite number, got {a!r}")
        return a

    def _scaled(self, a, op):
        """This function times ``a`` (``op`` ``*``) or over ``a`` (``/``: the core divided directly, so a tiny
        core over a tiny divisor fits), refusing a core that would overflow."""
        with np.errstate(over="ignore"):              # an overflow is named below
            core = self.core * a if op == "*" else self.core / a
        if not np.all(np.isfinite(core)):
            big = float(np.max(np.abs(self.core)))
            raise ValueError(f"ChebTucker {op}: {op} {a:.3e} overflows the core (largest entry {big:.3e}); scale the "
                             "function's values or the number down")
        if op == "*":
            return self._like(core, self.factors, self.truncation_bound * abs(a), inherit=self._inherited(a),
                              tmax=self._tmax(a))
        interp, resolved = self._inherited()
        t = self.truncation_max
        return self._like(core, self.factors, self.truncation_bound / abs(a), inherit=(interp / abs(a), resolved),
                          tmax=None if t is None else t / abs(a))

    def __neg__(self):
        return self * -1.0

    def __add__(self, other):
        if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(other, bool):
            other = self._constant(self._number(other, "+", "constant"))
        if not isinstance(other, Algebra):
            return NotImplemented
        if other.d != self.d or not np.array_equal(other.domain, self.domain):
            raise ValueError(f"ChebTucker +: both functions must live on the same domain, got {self.domain.tolist()} "
                             f"and {other.domain.tolist()}")
        core, fac = _tucker.add(self.core, self.factors, other.core, other.factors)
        tol = max(self.tol, other.tol)
        with np.errstate(over="ignore", invalid="ignore"):
            size = _tucker.fro(self.core) * _norm2(self.factors) + _tucker.fro(other.core) * _norm2(other.factors)
        floor = SUM_ROUNDING * size
        try:
            if not np.isfinite(size):
                raise np.linalg.LinAlgError
            with _config.blas_serial(), np.errstate(over="ignore", invalid="ignore"):
                G, A, bound = _tucker.truncate(core, fac, tol, floor=floor)
                added = max(bound, discarded_max(core, fac, G, A))
            if not (np.all(np.isfinite(G)) and np.isfinite(added)):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:                # the sum overflowed: numpy's 'SVD did not converge' (helper-159)
            big = max(float(np.max(np.abs(self.core))), float(np.max(np.abs(other.core))))
            raise ValueError(f"ChebTucker +: the sum overflows (largest core entry {big:.3e}); scale the functions' "
                             "values down") from None
        (ia, ra), (ib, rb) = self._inherited(), other._inherited()
        return self._like(G, A, self.truncation_bound + other.truncation_bound + bound, tol, inherit=(ia + ib, ra and rb),
                          tmax=self._tmax(1.0, other, added=added))

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def _constant(self, c):
        return self._like(np.full((1,) * self.d, c), [np.eye(A.shape[0], 1) for A in self.factors], 0.0,
                          inherit=(0.0, True), tmax=0.0)

