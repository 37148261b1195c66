"""Evaluation of an equality-constrained problem ``min f(x) s.t. c(x) = 0`` for Newton-type solvers.

:class:`NLPEvaluator` wraps a duck-typed problem (``f``, ``grad``, ``c``, ``jac``,
``hess_lagrangian``) with evaluation counters and output checks that name the callable
at fault. :class:`Point` holds everything evaluated at one primal-dual pair ``(x, lam)``:
the objective, the constraints, the gradient of the Lagrangian ``g_L = grad f + J^T lam``
and the KKT residual ``(g_L, c)``. The exact augmented Lagrangian

    L_{mu,nu}(x, lam) = f + lam^T c + mu/2 ||c||^2 + nu/2 ||g_L||^2

and its exact gradient (which needs the Hessian of the Lagrangian ``H`` times ``g_L``),

    d/dx   = g_L + mu J^T c + nu H g_L,
    d/dlam = c + nu J g_L,

are :func:`merit_value` and :func:`merit_gradient` (Hong, Na, Mahoney and Kolar, ICML 2023, section 2; the exact
augmented Lagrangian goes back to Di Pillo and Grippo, 1979). The first safeguard of the line search on it is here
too: :func:`second_order_point` (second-order correction; the watchdog is in :mod:`._sketched_steps`), with the
option and input checks of :func:`~solvers.nonlinear.sketched_newton`."""
from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse as sp

from ..linear._common import norm2
from ..operators import FunctionOperator, LinearOperator, aslinearoperator
from .._scalar import unwrap


def _is_matrix(A) -> bool:
    """A dense ndarray or a SciPy sparse matrix (something that can be densified cheaply)."""
    return isinstance(A, np.ndarray) or sp.issparse(A)


def _host_only(xp) -> str:
    """The refusal of dense matrices on a device backend (``xp`` not NumPy), '' on a host one."""
    if xp is np:
        return ""
    return ("; on a device backend sketched_newton needs operator problems (jac and hess_lagrangian with "
            "matvec/rmatvec on the backend's arrays, e.g. problems.pde.PoissonControl): use backend='numpy' "
            "for a problem with dense or sparse matrices")


#: objective scaling: ``||grad f(x0)||_inf`` is brought into this band by a power of two (IPOPT scales gradients
#: above 100 down, Waechter and Biegler 2006, sec. 3.8; here small ones are scaled up as well)
GRAD_BAND = (1e-2, 1e2)


def objective_scale(gmax: float) -> float:
    """The power of two ``s`` that brings ``gmax = ||grad f(x0)||_inf`` into :data:`GRAD_BAND` (1 inside it or
    for a zero gradient)."""
    lo, hi = GRAD_BAND
    if not (gmax > 0 and math.isfinite(gmax)) or lo <= gmax <= hi:
        return 1.0
    e = math.floor(math.log2(hi / gmax)) if gmax > hi else math.ceil(math.log2(lo / gmax))
    return math.ldexp(1.0, e)


def curvature_limited_scale(s: float, hmax) -> float:
    """The scale ``s`` of :func:`objective_scale` moved towards 1 (never past it) so that it does not push the
    curvature ``hmax = max |hess f(x0)|`` out of :data:`GRAD_BAND` (``s`` unchanged when ``hmax`` is 0, not finite
    or unknown). For variables of size ``X`` the gradient is ``X`` times the Hessian: scaling the gradient of
    ``(x - 1e10)^2`` into the band made the Hessian 7e-9, which the sketches could not solve."""
    lo, hi = GRAD_BAND
    if s == 1.0 or hmax is None or not (hmax > 0 and math.isfinite(hmax)):
        return s
    if s < 1.0 and s * hmax < lo:
        return min(1.0, max(s, math.ldexp(1.0, math.ceil(math.log2(lo / hmax)))))
    if s > 1.0 and s * hmax > hi:
        return max(1.0, min(s, math.ldexp(1.0, math.floor(math.log2(hi / hmax)))))
    return s


def vdot(be, a, b) -> float:
    """``a . b`` of two vectors by the backend's dot kernel (:meth:`Backend.dot`), not NumPy's BLAS: a threaded
    BLAS call between the Numba kernels of a solve leaves OpenBLAS's workers spinning on their cores for about
    0.1 s (sketched Newton on ``PoissonControl(128)`` ran 2.3-2.7x slower with ``OPENBLAS_NUM_THREADS`` unset;
    ``benchmarks/blas_threads.py``)."""
    return be.dot(a, b)


def vnorm(be, v) -> float:
    """``||v||_2`` by the backend's dot kernel, free of under- and overflow (:func:`~solvers.linear._common.norm2`)."""
    return norm2(be.xp, v, dot=be.dot)


def kkt_norm(ev, gL, c) -> float:
    """The problem's own KKT residual ``||(g_L, c)||_2`` from the scaled problem's ``g_L``."""
    return float(math.hypot(vnorm(ev.be, gL) / ev.fscale, vnorm(ev.be, c)))


class NLPEvaluator:
    """The problem's callables with counters and output checks.

    Every wrong shape, wrong type or non-finite output raises a ``ValueError``/``TypeError``
    that names the callable (``problem.f``, ``problem.jac``, ...), except where the caller asks
    to tolerate non-finite values (trial points of a line search).
    """

    def __init__(self, problem, n: int, backend):
        self.problem = problem
        self.n = n
        self.m = None
        self.be = backend
        self.xp = backend.xp
        self.counts = {"function_evaluations": 0, "gradient_evaluations": 0, "constraint_evaluations": 0,
                       "jacobian_evaluations": 0, "hessian_evaluations": 0}
        #: the solver works on ``fscale * f`` (objective scaling, :func:`objective_scale`); its multipliers are
        #: ``fscale * lam`` and the KKT residual it reports is the problem's own, ``||(g_L / fscale, c)||``
        self.fscale = 1.0

    def set_objective_scale(self, s: float) -> None:
        """Work on ``s * f`` from now on (``s`` a power of two, so the scaling is exact)."""
        self.fscale = float(s)

    def user_f(self, v: float) -> float:
        """The problem's objective value from the scaled one."""
        return v / self.fscale

    def user_lam(self, lam):
        """The problem's multipliers from the scaled problem's."""
        return lam if self.fscale == 1.0 else lam / self.fscale

    # ------------------------------------------------------------------ scalar and vectors
    def f(self, x) -> float:
        self.counts["function_evaluations"] += 1
        v = self.problem.f(x)
        if self.fscale != 1.0:
            return self._scalar(v) * self.fscale
        return self._scalar(v)

    def _scalar(self, v) -> float:
        if self.xp is not np and isinstance(v, self.xp.ndarray) and v.size == 1:
            v = float(v.reshape(()))             # a 0-d device array: one scalar read-back
        try:
            a = np.asarray(v)
            if a.dtype.kind not in "iuf":        # no strings, booleans, objects or complex numbers
                raise TypeError
            v = float(a.reshape(()))
        except (TypeError, ValueError):
            raise ValueError(f"problem.f must return a real scalar, got {type(v).__name__} with shape "
                             f"{np.shape(v)}") from None
        return v

    def _vector(self, name, v, size):
        xp = self.xp
        if xp is not np and not isinstance(v, xp.ndarray):
            raise TypeError(f"problem.{name} returned {type(v).__module__}.{type(v).__name__}, not an array of the "
                            f"{self.be.name} backend the solve runs on (x is one): evaluate on the array module of "
                            "x, or use backend='numpy'")
        v = xp.asarray(v)
        if v.dtype.kind == "c":
            raise TypeError(f"problem.{name} returned a complex array; the problem must be real")
        if v.dtype.kind not in "biuf":
            raise TypeError(f"problem.{name} must return a real numeric array, got dtype {v.dtype}")
        if v.shape != (size,):
            raise ValueError(f"problem.{name} must return an array of shape ({size},), got shape {v.shape}")
        return xp.array(v, dtype=np.float64, copy=True)

    def grad(self, x):
        self.counts["gradient_evaluations"] += 1
        g = self._vector("grad", self.problem.grad(x), self.n)
        if self.fscale != 1.0:
            g *= self.fscale
        return g

    def c(self, x):
        self.counts["constraint_evaluations"] += 1
        v = self.problem.c(x)
        if self.xp is np:
            v = np.asarray(v)
        if self.m is None:                       # the first call fixes m
            if getattr(v, "ndim", None) != 1:
                raise ValueError(f"problem.c must return a 1-D array of shape (m,), got shape {np.shape(v)}")
            if v.size == 0:
                raise ValueError("problem.c returned no constraints (m = 0); use solvers.newton for "
                                 "unconstrained problems")
            self.m = int(v.size)
        return self._vector("c", v, self.m)

    # ------------------------------------------------------------------ matrices / operators
    def _matrix(self, name, A, shape):
        got = getattr(A, "shape", None)
        if got is None or tuple(got) != shape:
            raise ValueError(f"problem.{name} must return a {shape} array, sparse matrix or operator, got "
                             f"{type(A).__name__} with shape {got}")
        if (isinstance(A, np.ndarray) or sp.issparse(A) or isinstance(A, self.xp.ndarray)) and self.xp is not np:
            raise TypeError(f"problem.{name} returned a {type(A).__module__}.{type(A).__name__} matrix"
                            + _host_only(self.xp))
        if isinstance(A, np.ndarray) or sp.issparse(A):     # (a complex sparse one lost its imaginary part)
            if A.dtype.kind not in "biuf":
                raise TypeError(f"problem.{name} must return a real array (or sparse matrix), got dtype {A.dtype}")
            return np.array(A, dtype=np.float64) if isinstance(A, np.ndarray) else sp.csr_matrix(A, dtype=np.float64)
        if not (isinstance(A, LinearOperator) or hasattr(A, "matvec")):
            raise TypeError(f"problem.{name} must return an array, a sparse matrix or an operator with "
                            f"matvec, got {type(A).__name__}")
        dt = getattr(A, "dtype", None)       # complex: the sketches cast it to real; none: not asked by the docs
        if dt is not None and np.dtype(dt).kind == "c":
            raise TypeError(f"problem.{name} returned a complex operator (dtype {np.dtype(dt)}); the derivatives of a "
                            "real problem are real: return a real (float64) operator")
        return A if dt is not None or isinstance(A, LinearOperator) else FunctionOperator(    # (helper-156)
            tuple(got), A.matvec, getattr(A, "rmatvec", None), backend=self.be)

    def jac(self, x):
        self.counts["jacobian_evaluations"] += 1
        J = self._matrix("jac", self.problem.jac(x), (self.m, self.n))
        if not _is_matrix(J) and not hasattr(J, "rmatvec"):
            raise TypeError("problem.jac returned an operator without rmatvec; J^T products are needed")
        return J

    def hess(self, x, lam):
        self.counts["hessian_evaluations"] += 1
        s = self.fscale
        # the Hessian of s f + lam^T c is s times the problem's Hessian of f + (lam / s)^T c
        H = self._matrix("hess_lagrangian", self.problem.hess_lagrangian(x, lam / s), (self.n, self.n))
        if self.counts["hessian_evaluations"] == 1 and _is_matrix(H):     # the first one: a triangle ran to
            d = H - H.T                                                      # maxiter (helper-100)
            a, h = (float(abs(d).max()), float(abs(H).max())) if sp.issparse(H) else (np.abs(d).max(), np.abs(H).max())
            if a > 1e-6 * h:
                raise ValueError(f"problem.hess_lagrangian(x, lam) is not symmetric (max |H - H^T| = {a:.2e}, max |H| "
                                 f"= {h:.2e}); return the whole symmetric Hessian of the Lagrangian, not one triangle")
        return H if s == 1.0 else H * s


def matvec(A, v, xp=np):
    """``A v`` for an array, a sparse matrix or an operator (an array of ``xp``, the array module of ``v``)."""
    if _is_matrix(A) and xp is np:
        return np.asarray(A @ v).ravel()
    return xp.asarray(A.matvec(v)).ravel()


def rmatvec(A, v, xp=np):
    """``A^T v`` for an array, a sparse matrix or an operator (an array of ``xp``, the array module of ``v``)."""
    if _is_matrix(A) and xp is np:
        return np.asarray(A.T @ v).ravel()
    try:
        return xp.asarray(A.rmatvec(v)).ravel()
    except NotImplementedError:        # SciPy's LinearOperator built from a matvec only (helper-139: a raw error)
        raise TypeError("problem.jac(x) returned an operator without a transpose product (rmatvec is not defined); "
                        "J^T v is needed for grad L and the KKT system: give the LinearOperator an rmatvec, or "
                        "return the Jacobian as an array or sparse matrix") from None


def dense(A, shape):
    """``A`` as a dense float64 array (operators column by column)."""
    if isinstance(A, np.ndarray):
        return A
    if sp.issparse(A):
        return A.toarray()
    op = aslinearoperator(A, backend="numpy")
    return np.column_stack([np.asarray(op.matvec(e)) for e in np.eye(shape[1])]).reshape(shape)


class Point:
    """``(x, lam)`` with ``f``, ``grad f``, ``c``, ``J``, ``g_L`` and the KKT residual norm.

    Built by :meth:`evaluate`; ``finite`` tells whether every value is finite. The Hessian of
    the Lagrangian is added later (only accepted iterates need it). ``bad`` names the first value
    that was not finite (``""`` when all are).
    """

    __slots__ = ("x", "lam", "f", "g", "c", "J", "gL", "kkt", "finite", "H", "bad", "xp", "be")

    @classmethod
    def evaluate(cls, ev: NLPEvaluator, x, lam, *, strict: bool):
        """Evaluate at ``(x, lam)``. ``strict=True`` raises on non-finite values (naming the callable);
        otherwise a non-finite value gives ``finite=False`` (and skips the remaining calls)."""
        p = cls()
        p.x, p.lam, p.H, p.bad = x, lam, None, ""
        p.xp = xp = ev.xp                      # the array module of the backend: every vector lives there
        p.be = ev.be                           # and its kernels take the dot products (vdot, vnorm)
        p.f = ev.f(x)
        p.finite = math.isfinite(p.f)
        p.g = p.c = p.J = p.gL = None
        p.kkt = math.inf
        if not p.finite:
            p.bad = "problem.f"
            if strict:
                raise ValueError(f"problem.f is not finite at the starting point (f = {p.f!r}); start from a "
                                 "point where f, grad, c and jac are finite")
            return p
        for name in ("g", "c"):
            v = ev.grad(x) if name == "g" else ev.c(x)
            if not bool(xp.all(xp.isfinite(v))):
                if strict:
                    call = "grad" if name == "g" else "c"
                    raise ValueError(f"problem.{call} returned non-finite values at the starting point")
                p.finite, p.bad = False, ("problem.grad" if name == "g" else "problem.c")
                return p
            setattr(p, name, v)
        p.J = ev.jac(x)
        if _is_matrix(p.J):
            ok = np.all(np.isfinite(p.J.data if sp.issparse(p.J) else p.J))
            if not ok:
                if strict:
                    raise ValueError("problem.jac returned non-finite values at the starting point")
                p.finite, p.bad = False, "problem.jac"
                return p
        p.gL = p.g + rmatvec(p.J, lam, xp)
        if not bool(xp.all(xp.isfinite(p.gL))):
            if strict:
                raise ValueError("the gradient of the Lagrangian grad + jac^T lam is not finite at the starting "
                                 "point (check problem.jac and lam0)")
            p.finite, p.bad = False, "grad f + jac^T lam"
            return p
        p.kkt = kkt_norm(ev, p.gL, p.c)
        return p

    def kkt_vector(self):
        """The KKT residual ``(g_L, c)`` (the negative right-hand side of the Newton system)."""
        return self.xp.concatenate([self.gL, self.c])


#: magnitudes outside [1/SCALE_LIMIT, SCALE_LIMIT] overflow or underflow in the squared merit terms
SCALE_LIMIT = 1e100


def check_scales(p: Point) -> None:
    """Refuse a problem whose values at the start are so large or small (but nonzero) that the squares
    in the merit over- or underflow; the message names the callable and says to rescale."""
    Jmax = None
    if _is_matrix(p.J):
        Jd = p.J.data if sp.issparse(p.J) else p.J
        Jmax = float(np.max(np.abs(Jd))) if Jd.size else 0.0
    xp = p.xp
    for name, v in (("f", abs(p.f)), ("grad", float(xp.max(xp.abs(p.g)))), ("c", float(xp.max(xp.abs(p.c)))),
                    ("jac", Jmax)):
        if v is not None and v != 0.0 and not (1.0 / SCALE_LIMIT <= v <= SCALE_LIMIT):
            raise ValueError(f"the problem is badly scaled: max |problem.{name}| = {v:.3e} at x0 is outside "
                             f"[1e-100, 1e100], where the squared terms of the merit over- or underflow; rescale "
                             f"{'the objective' if name in ('f', 'grad') else 'the constraints'} (multiply by a "
                             "constant) or the variables")


def merit_value(p: Point, mu: float, nu: float) -> float:
    """``L_{mu,nu}(x, lam) = f + lam^T c + mu/2 ||c||^2 + nu/2 ||g_L||^2`` (``nan`` when not finite)."""
    if not p.finite:
        return math.nan
    be = p.be
    return float(p.f + vdot(be, p.lam, p.c) + 0.5 * mu * vdot(be, p.c, p.c) + 0.5 * nu * vdot(be, p.gL, p.gL))


def merit_products(p: Point, H=None) -> tuple:
    """``(H g_L, J^T c, J g_L)``: the operator products of :func:`merit_gradient`, which do not depend on
    ``mu`` or ``nu`` (computed once per iterate, not once per penalty update). ``H`` defaults to ``p.H``."""
    return matvec(p.H if H is None else H, p.gL, p.xp), rmatvec(p.J, p.c, p.xp), matvec(p.J, p.gL, p.xp)


def merit_gradient(p: Point, mu: float, nu: float, products=None):
    """The exact gradient of the merit at ``p`` as one ``(n + m)`` vector.

    ``products`` (from :func:`merit_products`) may be passed when already computed.
    """
    HgL, JTc, JgL = merit_products(p) if products is None else products
    return p.xp.concatenate([p.gL + mu * JTc + nu * HgL, p.c + nu * JgL])


def merit_noise(p: Point, mu: float, nu: float) -> float:
    """Rounding level of the merit value at ``p`` (changes below it cannot be measured)."""
    be = p.be
    terms = (abs(p.f) + abs(vdot(be, p.lam, p.c)) + 0.5 * mu * vdot(be, p.c, p.c)
             + 0.5 * nu * vdot(be, p.gL, p.gL))
    return 16.0 * np.finfo(float).eps * max(terms, 1e-300)


#: a sparse Jacobian with m + n above this is not densified for the least-squares multipliers (LSQR instead)
LSTSQ_DENSE_LIMIT = 2000


def jacobian_svd(J, full=None):
    """``(U, s, Vt, rank)``: the SVD of a dense ``J`` and its numerical rank (singular values above
    ``max(m, n) eps s_max``, NumPy's ``lstsq`` cutoff); full (``Vt`` square, so the null space is there)
    when ``m + n <= LSTSQ_DENSE_LIMIT`` or ``full``, else the economy form. The least-squares multipliers and the null
    space of :meth:`~solvers.nonlinear._kkt.NewtonSystem.reduced_hessian_shift` both come from it, so the
    automatic start of :func:`~solvers.nonlinear.sketched_newton` factors ``J`` once instead of three times."""
    J = np.asarray(J, dtype=np.float64)
    U, s, Vt = np.linalg.svd(J, full_matrices=bool(full) or sum(J.shape) <= LSTSQ_DENSE_LIMIT)
    smax = float(s[0]) if s.size else 0.0
    rank = int(np.sum(s > max(J.shape) * np.finfo(float).eps * max(smax, 1e-300)))
    return U, s, Vt, rank


def least_squares_multipliers(g, J, svd=None):
    """``argmin_lam ||g + J^T lam||_2`` (minimum norm) for a dense or sparse ``J`` (``None`` for an operator).

    A dense (or small sparse) ``J`` goes through :func:`jacobian_svd` (``svd``, when the caller has it):
    ``lam = -U_r S_r^-1 V_r^T g``."""
    if not _is_matrix(J):
        return None
    if sp.issparse(J) and sum(J.shape) > LSTSQ_DENSE_LIMIT:
        # a large sparse J is not densified: LSQR (Paige and Saunders 1982) on J^T lam = -g
        from scipy.sparse.linalg import lsqr

        lam = lsqr(J.T.tocsr(), -np.asarray(g), atol=1e-14, btol=1e-14, iter_lim=10 * sum(J.shape))[0]
    else:
        if svd is None:
            Jd = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=np.float64)
            if not np.all(np.isfinite(Jd)):
                return None
            svd = jacobian_svd(Jd)
        U, s, Vt, rank = svd
        lam = -(U[:, :rank] @ ((Vt[:rank] @ np.asarray(g, dtype=np.float64)) / s[:rank]))
    if not np.all(np.isfinite(lam)) or (lam.size and float(np.max(np.abs(lam))) > SCALE_LIMIT):
        return None                      # no usable estimate (the caller keeps its start and says so)
    return lam


def second_order_point(ev: NLPEvaluator, q: Point, J):
    """The second-order correction of a trial point ``q = (x + dx, lam + dlam)``.

    ``x_soc = x + dx - J^+ c(x + dx)`` with the dense Jacobian ``J`` of the current iterate (the
    minimum-norm step back to the linearised constraints, Nocedal and Wright 2006, section 15.6;
    Fletcher 1982), multipliers unchanged. It removes the second-order constraint error of
    the Newton step that makes a merit function reject it (the Maratos effect, or constraint
    curvature far from the solution). Returns the evaluated point, or ``None`` when not finite.
    """
    d, *_ = np.linalg.lstsq(J, q.c, rcond=None)
    if not np.all(np.isfinite(d)):
        return None
    qs = Point.evaluate(ev, q.x - d, q.lam, strict=False)
    return qs if qs.finite else None


# ---------------------------------------------------------------------------------------------- option checks
def positive_arg(name, v, *, upper=None, open_upper=True):
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):    # a wrong type is a TypeError, as elsewhere
        raise TypeError(f"{name} must be a positive finite number, got {type(v).__name__} {v!r}")
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    if upper is not None and (v >= upper if open_upper else v > upper):
        raise ValueError(f"{name} must be below {upper}, got {v!r}")
    return float(v)


def int_arg(name, v, low):
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}, got {type(v).__name__} {v!r}")
    if v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def check_problem(problem):
    for name in ("f", "grad", "c", "jac", "hess_lagrangian"):
        if not callable(getattr(problem, name, None)):
            raise TypeError(f"problem must provide a callable {name}(...) (f, grad, c, jac, hess_lagrangian and "
                            f"x0 are needed); {type(problem).__name__} has no callable {name!r}")
    pre = getattr(problem, "kkt_preconditioner", None)
    if pre is not None and not callable(pre):
        raise TypeError("problem.kkt_preconditioner must be callable (x, lam) -> SPD operator, or absent")


def vector_arg(name, v, size=None):
    a = np.asarray(v)
    if np.iscomplexobj(a) or a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric 1-D array, got dtype {a.dtype}")
    if a.ndim != 1 or a.size == 0 or (size is not None and a.size != size):
        want = f"have shape ({size},)" if size is not None else "be a non-empty 1-D array"
        raise ValueError(f"{name} must {want}, got shape {a.shape}")
    a = np.array(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (it contains NaN or inf)")
    return a


#: convergence is reported with a caution when max |grad f(x0)| or max |jac(x0)| is below this multiple of tol
SCALE_MARGIN = 1e3


def matrix_scale(J):
    """``max |J_ij|`` of a dense or sparse Jacobian (``None`` for an operator)."""
    if isinstance(J, np.ndarray):
        return float(np.max(np.abs(J))) if J.size else 0.0
    data = getattr(J, "data", None)
    if hasattr(J, "tocsr") and isinstance(data, np.ndarray):
        return float(np.max(np.abs(data))) if data.size else 0.0
    return None


def nonfinite_product(products, xp=np) -> str:
    """Which operator product of the merit gradient (:func:`merit_products`) is not finite ('' when all are):
    an operator ``jac`` or ``hess_lagrangian`` whose matvec returns NaN would otherwise surface as a failed
    descent test."""
    names = ("problem.hess_lagrangian(x, lam) times g_L", "problem.jac(x)^T c (its rmatvec)",
             "problem.jac(x) times g_L (its matvec)")
    for name, v in zip(names, products):
        if not bool(xp.all(xp.isfinite(v))):
            return f"{name} is not finite"
    return ""


__all__ = ["NLPEvaluator", "Point", "check_scales", "merit_value", "merit_products", "merit_gradient", "merit_noise",
           "least_squares_multipliers", "second_order_point", "positive_arg", "int_arg",
           "check_problem", "vector_arg", "matrix_scale", "nonfinite_product", "SCALE_MARGIN", "matvec", "rmatvec",
           "dense"]
