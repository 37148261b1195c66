"""Shared machinery of the OT solvers: the log-domain geometry and the input boundary.

The solvers touch the cost only through :class:`Geometry` (in the spirit of OTT-JAX's
``apply_lse_kernel``): the log-sum-exp row/column passes, the Sinkhorn updates, the
transport cost and the (truncated) plan. The work is done by the backend's OT kernel set,
``backend.kernels("ot")`` (``numpy.ot`` the readable reference, ``numba.ot`` the fused parallel CPU
kernels, ``cupy.ot`` the GPU ones), so nothing here depends on which backend runs. :func:`read_inputs` is
the one boundary where a problem object (anything with ``C``, ``a``, ``b``, ``eps``) or POT-style arrays
``(C, a, b, eps=...)`` are validated. This module never imports :mod:`problems`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .. import backends as _backends
from .._masks import refuse_masked
from .._scalar import unwrap
from ..operators.base import LinearOperator


class Geometry:
    """Cost matrix on a backend plus the kernels the OT solvers need.

    All potentials are in the units of the cost: the plan is
    ``P_ij = exp((f_i + g_j - C_ij) / eps)``. ``kernel_calls`` counts the passes over C.

    Parameters
    ----------
    C : (n, m) array
        Cost matrix: a C-ordered float64 or float32 array of the backend (other types are
        converted to float64). A float32 C is kept as it is: every kernel reads its entries
        into float64 arithmetic, so the problem is exactly the one of ``float64(C)`` at half
        the memory.
    be : Backend
    """

    def __init__(self, C, be, bounds=None):
        self.be = be
        self.K = be.kernels("ot")
        self.C = be.xp.ascontiguousarray(be.asarray(C, dtype=cost_dtype(C)))
        self.n, self.m = self.C.shape
        self.cost_data = self.K.prepare_cost(self.C)
        self.kernel_calls = 0
        self._bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
        self._measured = None      # (f, g, eps, cost) of the last marginal_error: cost() reuses it

    # -- log-sum-exp passes ---------------------------------------------------------------------
    def row_lse(self, g, eps):
        """``LSE_j (g_j - C_ij) / eps`` for every row i."""
        self.kernel_calls += 1
        return self.K.row_lse(self.cost_data, g, eps)

    def col_lse(self, f, eps):
        """``LSE_i (f_i - C_ij) / eps`` for every column j."""
        self.kernel_calls += 1
        return self.K.col_lse(self.cost_data, f, eps)

    def col_min(self, f):
        """``min_i (C_ij - f_i)`` for every column j (no exponential: reference potentials for a
        first stabilised kernel)."""
        self.kernel_calls += 1
        return self.K.col_min(self.cost_data, f)

    def f_update(self, g, log_a, eps, out=None):
        """Sinkhorn update ``f_i = eps log a_i - eps LSE_j (g_j - C_ij)/eps`` (into ``out``)."""
        self.kernel_calls += 1
        if out is not None:
            self._measured = None              # out may be measured potentials: cost() must not reuse their memo
        return self.K.f_update(self.cost_data, g, log_a, eps, self.be.xp.empty(self.n) if out is None else out)

    def g_update(self, f, log_b, eps, out=None):
        """Sinkhorn update ``g_j = eps log b_j - eps LSE_i (f_i - C_ij)/eps`` (into ``out``)."""
        self.kernel_calls += 1
        if out is not None:
            self._measured = None
        return self.K.g_update(self.cost_data, f, log_b, eps, self.be.xp.empty(self.m) if out is None else out)

    def row_gap(self, a, f_old, f_new, eps):
        """L1 row-marginal error of ``(f_old, g)`` given the update ``f_new`` of ``f_old`` for g:
        the row sums are ``a_i exp((f_old_i - f_new_i)/eps)``. A device scalar on the GPU."""
        return self.K.row_gap(a, f_old, f_new, eps)

    # -- cost and plans -------------------------------------------------------------------------
    def cost(self, f, g, eps) -> float:
        """``<P, C>`` of the plan of ``(f, g)``."""
        memo = self._measured
        if memo is not None and memo[0] is f and memo[1] is g and memo[2] == eps:
            return memo[3]                     # measured with the marginals (marginal_error), same arrays
        self.kernel_calls += 1
        return float(self.K.plan_cost(self.cost_data, f, g, eps))

    def plan_dense(self, f, g, eps):
        """The plan as an (n, m) backend array."""
        return self.K.plan_dense(self.cost_data, f, g, eps)

    def sparse_plan(self, f, g, eps, rho: float, kmax: int, share: float = 0.0):
        """Truncated plan in CSR arrays ``(indptr, indices, data)``: per row the entries with
        ``P_ij >= rho * max_j P_ij``, the ``kmax`` largest of them unless those hold less than
        ``share`` of the row's mass (then the fewest largest that do)."""
        self.kernel_calls += 2
        return self.K.sparse_plan(self.cost_data, f, g, eps, rho, int(kmax), float(share))

    def row_lse_sparse(self, g, f, eps, rho: float, kmax: int, share: float = 0.0):
        """``row_lse(g)`` and ``sparse_plan(f, g)`` (one fused pass where the kernel set has one)."""
        self.kernel_calls += 1
        return self.K.row_lse_sparse(self.cost_data, g, f, eps, rho, int(kmax), float(share))

    # -- the measurement of returned potentials -------------------------------------------------
    def marginal_error(self, f, g, eps, a, b) -> float:
        """L1 marginal error ``|P 1 - a|_1 + |P^T 1 - b|_1`` of the plan of ``(f, g)``, measured the
        way the plan is evaluated: ``(f_i + g_j - C_ij) / eps`` summed first, max-shifted
        log-sum-exp, and each term relative to its weight, ``a_i |expm1(log r_i - log a_i)|``
        (no cancellation between ``r_i`` and ``a_i``, nothing under/overflows on the way). NaN
        when the potentials are not finite."""
        xp = self.be.xp
        self.kernel_calls += 2
        lr, lc, cost = self.K.plan_summary(self.cost_data, f, g, eps)
        # the cost of the same plan came with it (one pass over C): cost() of these very arrays uses it
        self._measured = (f, g, eps, float(cost))
        with np.errstate(invalid="ignore", over="ignore"):
            err = float(_rel_gap(xp, a, lr).sum() + _rel_gap(xp, b, lc).sum())
        return err if math.isfinite(err) else (math.inf if err == math.inf else math.nan)

    def cost_bounds(self) -> tuple:
        """``(C.min(), C.max())`` as floats, computed once per geometry (C does not change; the input check
        already read them for the whole C and hands them over: each is a pass over C, and the solvers asked
        for them three times a solve, 3.5 % of SNS at n = 3000)."""
        if self._bounds is None:
            self._bounds = (float(self.be.xp.min(self.C)), float(self.be.xp.max(self.C)))
        return self._bounds

    def cost_absmax(self) -> float:
        """``max |C|`` (without an n x m temporary)."""
        lo, hi = self.cost_bounds()
        return max(abs(lo), abs(hi))

    def rounding_floor(self, f, g, eps, a, b) -> tuple:
        """The L1 marginal error that rounding alone causes in the plan of ``(f, g)``: every
        exponent ``(f_i + g_j - C_ij) / eps`` carries an absolute error of about
        ``u (|f_i| + |g_j| + |C_ij|) / eps`` (``u`` the unit roundoff), which is the relative
        error of ``P_ij``; summed over both marginals,
        ``2 u (max|f| + max|g| + max|C|) / eps * (sum a + sum b) / 2``, plus ``|sum a - sum b|`` (no
        plan's L1 error is below the weights' own mismatch). Below this no solver can
        certify the potentials in double precision. Only entries that carry mass count: one with
        ``C_ij > max f + max g + UNDERFLOW_EXPONENT eps`` has a plan entry that is exactly 0 whatever its
        rounding, so ``|C_ij|`` is bounded by ``max(|C.min()|, |min(C.max(), that bound)|)`` (a forbidden pair
        at cost 1e20 made the floor 2e8 on a unit problem, and Sinkhorn stopped as 'stagnated at the rounding
        floor' at error 2e-2: helper-127). Returns ``(floor, max|f| + max|g| + that max|C|)``."""
        xp = self.be.xp
        u = float(np.finfo(np.float64).eps) / 2
        fa, ga = float(xp.abs(f).max()), float(xp.abs(g).max())
        lo, hi = self.cost_bounds()
        carried = min(hi, float(xp.max(f)) + float(xp.max(g)) + UNDERFLOW_EXPONENT * eps)
        scale = fa + ga + max(abs(lo), abs(max(lo, carried)))
        sa, sb = float(a.sum()), float(b.sum())
        return 2.0 * u * (scale / eps) * 0.5 * (sa + sb) + abs(sa - sb), scale


def _rel_gap(xp, w, log_r):
    """``|r - w|`` per entry from ``log r``: ``w |expm1(log r - log w)|`` (no cancellation), or
    ``|exp(log r) - w|`` where ``r / w`` overflows (a subnormal weight with a row sum near 1:
    ``w * expm1(744)`` would be ``0 * inf``-like, an infinite error)."""
    d = log_r - xp.log(w)
    return xp.where(d > 700.0, xp.abs(xp.exp(log_r) - w), w * xp.abs(xp.expm1(xp.minimum(d, 700.0))))


def verify(geom, f, g, eps, a, b, tol, status):
    """Measure the potentials a solver is about to return and make its claim match them.

    The error is recomputed from ``(f, g)`` by :meth:`Geometry.marginal_error` (the plan the
    user gets, without cancellation). Returns ``(status, err, note)``: ``converged`` exactly when ``err <= tol``
    (a caution as ``note`` when ``tol`` is below the rounding floor or near the total mass; a run that hit its
    budget, or was stopped by its callback, with an iterate inside the tolerance is converged), else the solver's
    status -- and when the solver's own estimate had claimed convergence, or NaN/inf was met but the potentials
    are finite, ``stagnated`` with a ``note`` (the message): the measured error and the rounding floor."""
    from ..results import Status

    xp = geom.be.xp
    if not (bool(xp.all(xp.isfinite(f))) and bool(xp.all(xp.isfinite(g)))):
        return (Status.STOPPED if status == Status.STOPPED else Status.NONFINITE), math.nan, None
    err = geom.marginal_error(f, g, eps, a, b)
    if status == Status.STOPPED and not err <= tol:   # a stop at an iterate inside tol is converged, as in the
        return status, err, None                      # other families (helper-136: sinkhorn/sns said 'stopped')
    floor, scale = geom.rounding_floor(f, g, eps, a, b)
    if err <= tol:       # below a tol under the rounding floor the measurement itself is uncertain: said (helper-87)
        mass = min(float(a.sum()), float(b.sum()))
        notes = ([f"caution: tol is below the rounding floor of these potentials (about {floor:.1e}, a worst-case bound "
                  f"from |f| + |g| + |C| up to {scale:.3g} at eps={eps:.3g}): the measured error is uncertain at that "
                  "level"] if floor > tol else [])
        if tol >= 1e-2 * mass:       # tol is absolute: at a mass of 1e-100 any plan met tol 1e-9 (helper-93)
            notes.append(f"caution: tol {tol:.1e} is {tol / mass:.1e} of the total mass {mass:.3g} (tol is an absolute L1 "
                         "error): the marginals may still be far from a and b; pass e.g. tol = 1e-9 * a.sum()")
        return Status.CONVERGED, err, ("; ".join(notes) or None)
    limit = (f"rounding alone limits these potentials to an L1 marginal error of about {floor:.1e} "
             f"(|f| + |g| + |C| up to {scale:.3g} at eps={eps:.3g})")
    if not math.isfinite(err):
        return Status.NONFINITE, err, (f"the plan exp((f_i + g_j - C_ij) / eps) of the potentials is not finite "
                                       f"(L1 marginal error {err}); {limit}: rescale C or raise eps")
    advice = ("this accuracy is out of reach in double precision: loosen tol, rescale C (C - C.min(), or "
              "divide C and eps by a common factor) or raise eps" if floor >= 0.1 * tol else
              "try a smaller tol or a larger maxiter")
    if status == Status.NONFINITE:   # NaN/inf met on the way, yet the returned potentials are finite and measured
        return Status.STAGNATED, err, (f"NaN/inf appeared in the iteration; the returned potentials are finite, with "
                                       f"L1 marginal error {err:.3e} > tol {tol:.3e}; {limit}; {advice}")
    if status != Status.CONVERGED:
        return status, err, None
    return Status.STAGNATED, err, (f"the iteration's own error estimate reached tol, but the plan of the returned "
                                   f"potentials, recomputed from f and g, has L1 marginal error {err:.3e} > tol "
                                   f"{tol:.3e}; {limit}; {advice}")


# ----------------------------------------------------------------------------------------------
# the input boundary
@dataclass
class Inputs:
    """Validated inputs of an OT solve (potentials and weights restricted to the support).

    ``C`` is the full cost as a backend array (kept by the result to rebuild the plan),
    ``support = (ia, ib)`` the kept index arrays (NumPy) or None when every weight is positive,
    ``shape`` the full ``(n, m)``.
    """

    be: object
    C: object
    a: object
    b: object
    eps: float
    support: tuple | None
    shape: tuple
    f0: object
    g0: object
    bounds: tuple | None = None      # (C.min(), C.max()) of the full C, read by the input check

    def geometry(self) -> Geometry:
        """The geometry of the supported rows/columns (copies C when a weight is zero)."""
        C = self.C
        if self.support is not None:
            ia, ib = (self.be.asarray(i) for i in self.support)
            return Geometry(C[ia][:, ib], self.be)
        return Geometry(C, self.be, self.bounds)


#: the smallest eps whose inverse is finite (the kernels scale by 1 / eps)
EPS_MIN = 1.0 / float(np.finfo(np.float64).max)
#: ``exp(-UNDERFLOW_EXPONENT)`` is 0 in float64 (below the smallest subnormal, ``exp(-744.4)``)
UNDERFLOW_EXPONENT = 746.0


def positive_eps(eps, where: str) -> float:
    """``eps`` as a float (a 0-d array unwrapped), or a ValueError/TypeError that names it."""
    if isinstance(eps := unwrap(eps), bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps{where} must be a positive real number, got {eps!r:.80}")
    eps = float(eps)
    if not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps{where} must be positive and finite, got {eps!r}")
    if eps < EPS_MIN:
        raise ValueError(f"eps{where}={eps!r} is below {EPS_MIN:.3g}: 1/eps overflows double precision; "
                         "rescale the cost so that eps is a normal number")
    return eps


def center(v):
    """``v`` shifted by the midpoint of its range (a gauge change: ``(f - t, g + t)`` is the same plan). A warm
    start with a huge offset (``f0 = 1e16 + ...``) would carry it into every ``f_i + g_j - C_ij`` (cancellation)."""
    t = 0.5 * float(v.max()) + 0.5 * float(v.min())
    return v - t if t != 0.0 else v


def clip_warm_start(v, w, eps: float, cost_range: float):
    """A centred warm start clipped to ``+-R``, ``R = 2 (C.max() - C.min() + eps log(max w / min w)) + eps``. Every
    Sinkhorn update of a potential has a range of at most ``C.max() - C.min() + eps log(max w / min w)`` (``w``
    its weights), so values beyond ``R`` carry no information -- but they do harm: ``f0 = [1e300, -1e300, 0,
    ...]`` put an offset of 1e300 into every potential after one update, below whose rounding the answer was
    lost (stagnated at an L1 error of 5.9 on a 6 x 5 problem). A warm start inside the range is unchanged."""
    wmin, wmax = float(w.min()), float(w.max())
    R = min(2.0 * (cost_range + eps * math.log(wmax / wmin)) + eps, float(np.finfo(np.float64).max))
    if float(v.max()) <= R and float(v.min()) >= -R:
        return v
    return np.clip(v, -R, R)


def _weights(be, w, name: str, size: int):
    if w is None:
        return np.full(size, 1.0 / size)
    refuse_mask(name, w)
    try:
        w = np.asarray(be.to_numpy(w))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real 1-D array of {size} weights, got {type(w).__name__}: {exc}") from None
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real 1-D array of weights, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.shape != (size,):
        raise ValueError(f"{name} has shape {w.shape}; the cost matrix needs ({size},)")
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"{name} must be finite and non-negative with a positive sum")
    if not math.isfinite(float(w.sum())):
        raise ValueError(f"{name} sums to inf; rescale the weights")
    return w


#: a float32 cost matrix with at least this many entries is kept in float32 (smaller ones are
#: copied to float64: the copy costs at most 8 MB, and the float32 variants of the compiled
#: kernels are only built where they save memory)
FLOAT32_KEEP_MIN = 2**20


def cost_dtype(C):
    """The dtype a cost matrix is kept in: a float32 C of at least :data:`FLOAT32_KEEP_MIN`
    entries stays float32 (no upcast copy: half the memory; every kernel computes in float64
    from its exact entries, so the problem is exactly that of ``float64(C)``), everything else
    float64."""
    keep = np.dtype(getattr(C, "dtype", np.float64)) == np.float32 and int(np.prod(C.shape)) >= FLOAT32_KEEP_MIN
    return np.float32 if keep else np.float64


def all_finite(xp, C) -> bool:
    """Whether every entry of the array ``C`` is finite, with no n x m temporary (an
    ``isfinite(C)`` mask is an eighth of C): ``max`` and ``min`` propagate NaN, and an infinite
    entry is the max or the min."""
    return math.isfinite(float(xp.max(C))) and math.isfinite(float(xp.min(C)))


def refuse_mask(name: str, v) -> None:
    """A NumPy masked array would be read as its data with the mask dropped (masked entries
    used as if valid): refused, with what to do instead."""
    refuse_masked(name, v, f"Pass {name}.filled(value): a large finite cost for forbidden pairs, a zero weight "
                  "for points to leave out")


def refuse_problem_eps(method: str, data, eps) -> None:
    """``eps=`` given beside a problem, which carries its own: a TypeError named after ``method``."""
    if eps is not None:
        raise TypeError(f"{method}: eps comes from the problem (problem.eps={data.eps!r:.40}); pass eps= only with "
                        "arrays, or build the problem with the eps you want")


def _cost_matrix(C, be, name: str):
    refuse_mask(name, C)
    import scipy.sparse as sps
    import scipy.sparse.linalg as spla

    if isinstance(C, (spla.LinearOperator, LinearOperator)) or type(C).__name__.endswith("LinearOperator"):
        raise TypeError(f"{name} is a LinearOperator ({type(C).__name__}); the OT solvers read every entry of the cost "
                        "matrix: pass it as a dense array")
    if sps.issparse(C) or type(C).__module__.split(".")[:2] == ["cupyx", "scipy"]:
        raise TypeError(f"{name} is a sparse matrix ({type(C).__name__}); the OT solvers take a dense cost matrix: pass "
                        f"{name}.toarray(). (A sparse C's missing entries would be costs of 0, not forbidden pairs: "
                        "every entry of the entropic plan exp((f + g - C) / eps) is positive; give forbidden pairs "
                        "a large finite cost)")
    shape = getattr(C, "shape", None)
    if not hasattr(C, "dtype") or not isinstance(shape, tuple):
        try:
            C = np.asarray(C)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a 2-D real cost matrix (an array), got {type(C).__name__}: "
                            f"{exc}") from None
    if getattr(C.dtype, "kind", "O") not in "biuf" or len(C.shape) != 2 or 0 in C.shape:
        raise ValueError(f"{name} must be a non-empty 2-D real cost matrix, got shape {tuple(C.shape)} dtype {C.dtype} "
                         f"({type(C).__name__}); pass a dense NumPy/CuPy array")
    shape = tuple(int(k) for k in C.shape)
    try:
        C = be.xp.ascontiguousarray(be.asarray(C, dtype=cost_dtype(C)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} ({type(C).__name__}) cannot be read as a dense float array: {exc}") from None
    if tuple(C.shape) != shape:
        raise ValueError(f"{name} ({type(C).__name__}) converts to shape {tuple(C.shape)}, not its declared {shape}; "
                         "pass a dense array")
    hi, lo = float(be.xp.max(C)), float(be.xp.min(C))     # as all_finite: NaN and inf show in max or min
    if not (math.isfinite(hi) and math.isfinite(lo)):
        raise ValueError(f"{name} contains NaN or inf; costs must be finite (give forbidden pairs a large finite cost)")
    return C, (lo, hi)


def _potential(be, v, name: str, size: int, idx):
    refuse_masked(name, v)
    try:
        v = np.asarray(be.to_numpy(v))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array of {size} potentials, got {type(v).__name__}: {exc}") from None
    if v.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array of potentials, got dtype {v.dtype}")
    if v.shape != (size,):             # checked before any reshape: a (4, 5) f0 for 20 rows passed (helper-99)
        raise ValueError(f"{name} has shape {v.shape}, expected ({size},)")
    v = v.astype(np.float64)
    if idx is not None:
        v = v[idx]
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or inf on the support; pass finite potentials")
    return v


def read_inputs(method: str, data, a, b, eps, backend, f0, g0) -> Inputs:
    """Validate ``data`` (a problem with ``C, a, b, eps``, or the cost matrix of POT-style arrays
    ``(C, a, b, eps=...)``), pick the backend, find zero weights, check warm starts.

    Everything is checked, also for a problem object (it may be any object with these
    attributes, or an ``EntropicOT`` whose arrays were changed after it was built): shapes,
    dtypes, finiteness of ``C``, the weights. Weights must have equal totals (to 1e-9
    relative). A warm start ``f0`` is re-centred (:func:`center`), or ``g0`` when ``f0`` is
    absent; arrays are named ``problem.C`` etc. in messages when they come from a problem.
    """
    if hasattr(data, "C"):
        for attr in ("a", "b", "eps"):
            if not hasattr(data, attr):
                raise TypeError(f"{method}: problem must be an EntropicOT (or have C, a, b, eps); missing {attr!r}")
        if a is not None or b is not None:
            raise TypeError(f"{method}(problem, ...): the options are keyword-only, e.g. {method}(problem, tol=1e-9); "
                            f"pass a and b only with a cost matrix: {method}(C, a, b, eps=...)")
        refuse_problem_eps(method, data, eps)
        C, a, b, eps, pre = data.C, data.a, data.b, data.eps, "problem."
        if a is None or b is None:
            raise TypeError(f"{method}: problem.a and problem.b must be weight arrays, got None")
    elif hasattr(data, "shape") or isinstance(data, (list, tuple)):
        if eps is None:
            raise TypeError(f"{method}(C, a, b, eps=...): eps is required with arrays (a positive number)")
        C, pre = data, ""
    else:
        raise TypeError(f"{method}: expected an EntropicOT (or an object with C, a, b, eps) or a cost matrix, "
                        f"got {type(data).__name__}")
    eps = positive_eps(eps, " (problem.eps)" if pre else "")
    be = _backends.get_backend(backend, C)
    C, bounds = _cost_matrix(C, be, pre + "C")
    n, m = C.shape
    a, b = _weights(be, a, pre + "a", n), _weights(be, b, pre + "b", m)
    if abs(a.sum() - b.sum()) > 1e-9 * max(a.sum(), b.sum()):
        raise ValueError(f"{pre}a and {pre}b must have equal total mass (to 1e-9 relative): sum(a)={a.sum():.12g}, "
                         f"sum(b)={b.sum():.12g}; rescale one onto the other in float64, e.g. b = b * (a.sum() / "
                         "b.sum()) (weights normalised in float32 differ by about 1e-7)")
    support = None
    if (a <= 0).any() or (b <= 0).any():
        ia, ib = np.nonzero(a > 0)[0], np.nonzero(b > 0)[0]
        support = (ia, ib)
        a, b = a[ia], b[ib]
    f0 = None if f0 is None else _potential(be, f0, "f0", n, None if support is None else support[0])
    g0 = None if g0 is None else _potential(be, g0, "g0", m, None if support is None else support[1])
    if f0 is not None or g0 is not None:
        with np.errstate(over="ignore"):
            cr = min(bounds[1] - bounds[0], float(np.finfo(np.float64).max))
    if f0 is not None:
        f0 = clip_warm_start(center(f0), a, eps, cr)
    elif g0 is not None:
        g0 = clip_warm_start(center(g0), b, eps, cr)
    f0, g0 = (None if v is None else be.xp.array(be.asarray(v)) for v in (f0, g0))
    return Inputs(be, C, be.asarray(a), be.asarray(b), eps, support, (n, m), f0, g0, bounds)


def expand(be, v, idx, size):
    """Scatter the potentials of the supported rows back to full size (-inf elsewhere)."""
    if idx is None:
        return v
    xp = be.xp
    full = xp.full(size, -xp.inf)
    full[be.asarray(idx)] = v
    return full
