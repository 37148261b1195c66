"""The second-order check of a stationary point for :func:`solvers.nonlinear.newton` and
:func:`solvers.nonlinear.sketched_newton`: is the smallest curvature ``d^T H d / d^T d`` (of the Hessian, or of the
reduced Hessian ``Z^T H Z`` of the Lagrangian) negative beyond what rounding and the stationary point explain, and
does f itself fall along that direction as the quadratic model says? Dense Hessians by a Cholesky / eigenvalue
decomposition, sparse ones by shift-invert near zero, operators and ``hessp`` by Lanczos (Ritz values).

Reference: J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, sec. 2.1 (second-order
necessary conditions) and 12.5 (the reduced Hessian); C. Lanczos (1950) and G. H. Golub, C. F. Van Loan, *Matrix
Computations*, 4th ed., sec. 10.1 (Ritz values of the Lanczos tridiagonal matrix).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ._nlp import vnorm as _vnorm


def f_noise(fx) -> float:
    """Rounding level of f near fx: changes below it are not measurable."""
    return 16.0 * np.finfo(float).eps * max(abs(fx), 1e-300)


def resolved_slope(F, x, u, xp, agree: float, floor: float = 0.0):
    """``(d, h)``: the central difference ``d`` of ``F`` (scalar or vector) at ``x`` along the unit ``u`` with step
    ``h = 6e-6 max(1, |x|_inf)``, or ``(None, h)`` when it is not resolved: not finite, or the difference at
    ``h / 2`` differs from it by more than ``agree`` times ``max(|d|_inf, floor)`` (the truncation error falls
    4-fold with the step, so agreement bounds it). Four evaluations of ``F``; the derivative checks at a claimed
    convergence use it (newton's ``fd_jac_message``, sketched_newton's ``derivative_mismatch``)."""
    h = 6e-6 * max(1.0, float(xp.max(xp.abs(x))))
    try:
        d1 = np.atleast_1d(np.asarray((F(x + h * u) - F(x - h * u)) / (2 * h), dtype=float))
        d2 = np.atleast_1d(np.asarray((F(x + 0.5 * h * u) - F(x - 0.5 * h * u)) / h, dtype=float))
    except (ArithmeticError, ValueError, TypeError, FloatingPointError):
        return None, h
    if not (np.all(np.isfinite(d1)) and np.all(np.isfinite(d2))) or d1.shape != d2.shape:
        return None, h
    if float(np.max(np.abs(d1 - d2), initial=0.0)) > agree * max(float(np.max(np.abs(d1), initial=0.0)), floor):
        return None, h
    return d1, h


def _as_dense(H, n):
    if isinstance(H, np.ndarray):
        return np.array(H, dtype=np.float64)
    if sp.issparse(H):
        return H.toarray().astype(np.float64)
    from ..operators import aslinearoperator
    from ..operators.base import OperatorOutputError

    op = aslinearoperator(H, backend="numpy")
    try:
        Hd = np.column_stack([np.asarray(op.matvec(e)) for e in np.eye(n)])
    except OperatorOutputError as exc:             # the operator's products have the wrong shape (named there)
        raise ValueError(f"hess returned an operator whose products are malformed: {exc}") from exc
    if Hd.dtype.kind not in "biuf":
        raise TypeError(f"hess must return a real Hessian, got an operator whose matvec gives dtype {Hd.dtype}")
    return Hd


#: largest n for which a stationary point's curvature is checked by a dense Cholesky / eigenvalue decomposition
#: (dense ``hess`` arrays; ``hessp`` and operators too, assembled from n products, where Lanczos leaves it open; a
#: sparse Hessian goes the Lanczos and shift-invert way, a dense copy of it cost 4x the solve)
DENSE_CURVATURE_MAX = 2000
#: Lanczos steps spent looking for negative curvature otherwise (all of them up to this n: then the smallest Ritz
#: value is the smallest eigenvalue). 30 CG iterations from a random right-hand side missed an eigenvalue -1 below
#: a spectrum [1, 1000] at n = 100 (outside review helper-126: 'converged' at a saddle with hessp or a sparse hess);
#: Lanczos reaches an isolated lowest eigenvalue at relative gap g in about 3 / sqrt(g) steps (72 there)
CURVATURE_LANCZOS_STEPS = 100
#: ... and up to CURVATURE_LANCZOS_SMALL steps with full reorthogonalisation where n is at most CURVATURE_SMALL_N
#: (k n-vectors stored, at most 16 MB; k = n gives the extreme eigenvalues to rounding): 100 plain steps missed an
#: eigenvalue -1e-3 below a spectrum [1e-3, 1e3] at n = 300 (helper-130)
CURVATURE_LANCZOS_SMALL, CURVATURE_SMALL_N = 400, 5000


def _significant(c, hnorm, gnorm) -> bool:
    """Whether a curvature ``c`` (``d^T H d / d^T d``) is negative beyond what the stationary point explains on its
    own: below ``-sqrt(eps) ||H||`` (rounding of ``H d``; a PSD Hessian's null direction gives ``c ~ -eps ||H||``)
    and below ``-sqrt(||g|| ||H||)`` (near a valley of minimisers -- (xy - 1)^2, overparameterised least squares --
    a point within ``tol`` has a negative eigenvalue of order ``||g||``; at a true saddle it is of order ``||H||``
    whatever ``g`` is; session-22 review). A smaller negative ``c`` is decided by :func:`_falls_along`."""
    return bool(c < -max(1.5e-8 * hnorm, math.sqrt(max(gnorm, 0.0) * hnorm)))


#: below -ROUNDING_CURVATURE ||H|| a curvature that :func:`_significant` leaves open is tested on f itself
ROUNDING_CURVATURE = 100.0 * np.finfo(float).eps


def _falls_along(fun, x, fx, g, v, c, be) -> bool:
    """Whether ``fun`` (f, or a Lagrangian) itself falls along the direction ``v`` of curvature ``c < 0`` as the
    quadratic model says -- by at least half its ``|c| s^2 / 2 + |g . v| s`` -- at each of the steps ``s = t, t / 4,
    t / 16`` (those whose model fall is above 1e3 times f's rounding), with ``t`` where the gradient term cannot
    explain the fall: ``t >= 8 ||g|| / |c|`` (then half the model's fall is more than ``||g|| t``), ``|c| t^2 / 2 >=
    1e3`` times f's rounding and ``t >= 64 eps max |x|``. At a saddle f falls so at every step (f = (1000 x^2 - 1e-3
    y^2) / 2 at x = 5e-12: curvature -1e-3 passed the ``sqrt(||g|| ||H||)`` test as 'converged', helper-128; a
    badly scaled 1e9 x^2 - y^2 passed the ``sqrt(eps) ||H||`` one); near a valley of minimisers ((y - x^2)^2 at
    (0, delta): curvature -4 delta, gradient 2 delta) f rises again within the longest step, and the shorter ones
    keep a fall in another basin from counting (f = (y - x^2)^2 + x^4 - 0.2 x^6 at (0, 3e-9) falls at t = 4 but
    not at 1: helper-130). Where f does not change at all at ``t`` (its arithmetic underflowed: 1e100 (1e9 x^2 -
    y^2) at 0), ``t`` grows by 2^32 while below ``1e-4 max(1, |x|)``."""
    xp = be.xp
    v = xp.asarray(v, dtype=xp.float64)
    v = v / _vnorm(be, v)
    gv = float(be.dot(g, v))
    noise = 1e3 * f_noise(fx)
    root = math.sqrt(-c)                          # sqrt(2e3 noise) / sqrt(|c|): no underflow of the quotient
    t = max(8.0 * (_vnorm(be, g) / root) / root, math.sqrt(2.0 * noise) / root,
            64.0 * float(np.finfo(float).eps) * float(xp.max(xp.abs(x))))
    cap = 1e-4 * max(1.0, float(xp.max(xp.abs(x))))
    for _ in range(UNDERFLOW_RETRIES):            # f unchanged at the longest step: its arithmetic underflowed
        verdict = _steps_fall(fun, x, fx, v, -1.0 if gv > 0 else 1.0, t, c, abs(gv), noise)
        if verdict is not None or not t * 2.0 ** 32 <= cap:
            return bool(verdict)
        t *= 2.0 ** 32
    return False


#: how many times :func:`_falls_along` lengthens its steps by 2^32 when f did not change at all along them
UNDERFLOW_RETRIES = 12


def _steps_fall(fun, x, fx, v, sign, t, c, agv, noise):
    """The step test of :func:`_falls_along` at ``t, t / 4, t / 16``: True or False, or None when f did not change
    at all at ``t`` (no verdict: the steps are too short for f's own arithmetic)."""
    if not (0.0 < t < math.inf):
        return False
    for s in (t, t / 4.0, t / 16.0):
        pred = 0.5 * (-c) * s * s + agv * s
        if s < t and not pred > noise:
            break
        with np.errstate(all="ignore"):
            try:
                ft = fun(x + (sign * s) * v)
            except (OverflowError, FloatingPointError, ZeroDivisionError):   # f undefined out there: no verdict
                return False
        if s == t and ft == fx:
            return None
        fall = fx - ft
        if not (math.isfinite(ft) and fall >= 0.5 * pred and fall > 0.1 * noise):
            return False
    return True


def negative_curvature(P, x, n, hess, be, fx, g):
    """At a stationary ``x`` (value ``fx``, gradient ``g``): the smallest curvature ``d^T H d / d^T d`` found when it
    is negative beyond what the stationary point explains (:func:`_significant`), or beyond rounding with f
    falling along its direction as the model says (:func:`_falls_along`): ``x`` is a saddle or a maximum, not a
    minimiser; else None. A dense ``hess`` array of at most :data:`DENSE_CURVATURE_MAX` unknowns: a Cholesky, then
    its smallest eigenvalue (and eigenvector); otherwise (sparse, operators, ``hessp``): the smallest Ritz value of
    Lanczos steps from a fixed random start (:func:`_ritz_extremes`; its Ritz vector by a second run of the same
    steps), ``||H||`` from the largest, and where the Ritz values reach near 0 (below 1e-2 of the largest), where
    Lanczos finds a small negative eigenvalue below a wide positive spectrum slowly (-1e-3 below [1e-3, 1e3] at n =
    1000 missed by 400 reorthogonalised steps): for a sparse ``hess`` the eigenvalues nearest 0
    (:func:`_nearest_zero`), for ``hessp`` or an operator of at most :data:`DENSE_CURVATURE_MAX` unknowns the dense
    matrix of its ``n`` products (:func:`_assembled`; helper-139)."""
    from ..operators import FunctionOperator, aslinearoperator

    gnorm = _vnorm(be, g)
    if hess is not None:
        H = P.H(x)
        if n <= DENSE_CURVATURE_MAX and isinstance(H, np.ndarray):
            return _dense_verdict(_as_dense(H, n), gnorm, P, x, fx, g, be)
        op = aslinearoperator(H, backend=be)
    else:
        xc = x.copy()
        op = FunctionOperator((n, n), lambda p: P.Hp(xc, p), backend=be, symmetric=True)
    small = n <= CURVATURE_SMALL_N
    lmin, lmax, vector = _ritz_extremes(op, n, min(n, CURVATURE_LANCZOS_SMALL if small else CURVATURE_LANCZOS_STEPS),
                                        be, reorthogonalize=small)
    if not (np.isfinite(lmin) and np.isfinite(lmax)):
        return None                                  # a NaN/inf product: no verdict
    hnorm = max(abs(lmin), abs(lmax))
    c = _verdict(lmin, hnorm, gnorm, vector, P, x, fx, g, be)
    sparse = hess is not None and sp.issparse(H)
    if c is not None and n <= DENSE_CURVATURE_MAX:   # the dense matrix confirms a Lanczos verdict (a lost
        # orthogonality gave garbage Ritz values on a rank-deficient hessp: helper-141)
        return _dense_verdict(_as_dense(H, n) if sparse else _assembled(op, n, be), gnorm, P, x, fx, g, be)
    if (c is None and sparse and 8 <= n <= SHIFT_INVERT_MAX_N
            and lmin < 1e-2 * lmax):                 # a spectrum reaching near 0, where a negative one can hide
        near = _nearest_zero(H, hnorm)               # the eigenvalues nearest 0, where Lanczos is slowest
        if near is not None and near[0] < 0:
            c = _verdict(near[0], hnorm, gnorm, lambda: near[1], P, x, fx, g, be)
    elif c is None and not sparse and n <= DENSE_CURVATURE_MAX and lmin < 1e-2 * lmax:
        c = _dense_verdict(_assembled(op, n, be), gnorm, P, x, fx, g, be)     # hessp / an operator: n products
    return c


def _dense_verdict(Hd, gnorm, P, x, fx, g, be):
    """:func:`_verdict` on a dense symmetric Hessian: None when it is positive definite (a Cholesky: a fifth of the
    eigenvalues' cost, n = 2000 0.07 s) or not finite (no verdict: LAPACK would raise), else on its smallest
    eigenvalue and eigenvector."""
    if not np.all(np.isfinite(Hd)):
        return None
    try:                           # positive definite; a pivot is an upper bound of the smallest eigenvalue, so
        L = np.linalg.cholesky(Hd)       # a small one sends the matrix on to the (near-)zero curvature check
        if float(np.min(np.diag(L))) ** 2 > 1e-6 * float(np.max(np.abs(np.diag(Hd)))):
            return None
    except np.linalg.LinAlgError:
        pass
    lam = np.linalg.eigvalsh(Hd)
    if not np.all(np.isfinite(lam)):
        return None
    return _verdict(float(lam[0]), max(abs(lam[-1]), abs(lam[0])), gnorm,
                    lambda: sla.eigh(Hd, subset_by_index=[0, 0])[1][:, 0], P, x, fx, g, be)


def _assembled(op, n, be):
    """The dense symmetric part of the operator ``op`` from its ``n`` products with the unit vectors
    (:func:`_as_dense`; host array)."""
    Hd = _as_dense(op, n)
    return 0.5 * (Hd + Hd.T)


#: a sparse Hessian of at most this many unknowns also gets its eigenvalues nearest 0 by shift-invert (a sparse LU):
#: Lanczos finds a small negative eigenvalue below a wide positive spectrum slowly (400 reorthogonalised steps
#: missed -1e-3 below [1e-3, 1e3] at n = 1000: helper-132); a Hessian given by hessp or an operator is assembled
#: from n products up to DENSE_CURVATURE_MAX unknowns (helper-139), above that it can still hide one
SHIFT_INVERT_MAX_N = 50_000


def _nearest_zero(H, hnorm):
    """``(lambda, v)``: the smallest of the 6 eigenvalues of the sparse symmetric ``H`` nearest 0, and its
    eigenvector (ARPACK in shift-invert mode, a sparse LU of ``H``, or of ``H + s I`` with a small odd shift ``s``
    where ``H`` is singular); None when that fails."""
    from scipy.sparse.linalg import eigsh

    Hc = sp.csc_matrix(H, dtype=np.float64)
    for sigma in (0.0, -0.7390851332 * 1e-7 * hnorm):
        try:
            with np.errstate(all="ignore"):
                w, V = eigsh(Hc, k=min(6, Hc.shape[0] - 2), sigma=sigma, which="LM")
        except (RuntimeError, ValueError, ArithmeticError, np.linalg.LinAlgError):   # singular LU, no convergence
            continue
        if np.all(np.isfinite(w)):
            i = int(np.argmin(w))
            return float(w[i]), V[:, i]
    return None


def _verdict(c, hnorm, gnorm, vector, P, x, fx, g, be):
    if _significant(c, hnorm, gnorm):
        return float(c)
    if c < -ROUNDING_CURVATURE * hnorm:
        v = vector()
        return float(c) if v is not None and _falls_along(P.f, x, fx, g, v, c, be) else None
    if not c <= NULL_CURVATURE * hnorm:
        return None
    v = vector()                                     # (near-)zero curvature: does f itself fall there?
    return FlatFall(c) if v is not None and _falls_where_flat(P.f, x, fx, g, v, be) else None


#: a curvature up to this fraction of ||H|| counts as (near-)zero: f itself is probed along its direction
NULL_CURVATURE = 1.5e-8


def _keeps_falling(fall, sign, t, d, cap) -> bool:
    """Whether the fall ``d`` at step ``t`` grows at least 3x with every doubling of the step up to ``cap`` (and
    twice at least): a fall of second or higher order that persists, as at a ridge or a -x^4 maximum. Rounding
    moves f about linearly in ``t`` or at random (least squares with a flat direction at f ~ 1e-31), and near a
    valley of minimisers ((xy - 1)^2 a hair off it) the fall stops at f's own small value and turns into a rise;
    neither is a saddle (helper-141)."""
    steps = 0
    while steps < 2 or 2.0 * t <= cap:
        t *= 2.0
        dn = fall(sign * t)
        if not (math.isfinite(dn) and dn >= 3.0 * d):
            return False
        d, steps = dn, steps + 1
    return True


class FlatFall(float):
    """The curvature ``d^T H d / d^T d`` (about zero, not negative) along a direction where f itself falls beyond
    what the gradient explains: ``x`` is no minimiser though the Hessian given shows no negative curvature -- an
    approximation (Gauss-Newton, Fisher) that cannot see a ridge, or a fall of higher order (-x^4 at 0; helper-139:
    both were 'converged')."""


#: how far (times max(1, |x|)) f is probed along a (near-)zero curvature direction. A fall of order p with an O(1)
#: coefficient first shows above 1e3 times f's rounding at about ``(1e3 * 16 eps |f|)^(1/p)``: 1 - x^4 at 0 only at
#: 1.4e-3, so the earlier reach 1e-3 left that maximum 'converged' (session 40); a longer reach only makes the
#: growth test of :func:`_keeps_falling` longer where a fall is seen sooner
FLAT_REACH = 1e-2


def _falls_where_flat(fun, x, fx, g, v, be) -> bool:
    """Whether f falls along ``+v`` or ``-v`` from ``x`` at steps ``t = 4^k sqrt(eps) max(1, |x|)`` up to
    ``FLAT_REACH max(1, |x|)``: by more than 1e3 times its rounding and four times the gradient term ``|g . v| t``,
    then growing at least 3x per doubling of the step up to that bound (:func:`_keeps_falling`). A rise beyond the
    rounding ends the search on that side."""
    xp = be.xp
    v = xp.asarray(v, dtype=xp.float64)
    v = v / _vnorm(be, v)
    agv, noise = abs(float(be.dot(g, v))), 1e3 * f_noise(fx)
    scale = max(1.0, float(xp.max(xp.abs(x))))

    def fall(t):
        with np.errstate(all="ignore"):
            try:
                ft = float(fun(x + t * v))
            except (OverflowError, FloatingPointError, ZeroDivisionError):
                return math.nan
        return fx - ft if math.isfinite(ft) else math.nan

    for sign in (1.0, -1.0):
        t = math.sqrt(np.finfo(float).eps) * scale
        while t <= FLAT_REACH * scale:
            d = fall(sign * t)
            if not math.isfinite(d) or -d > noise:
                break
            if d > noise + 4.0 * agv * t:
                return _keeps_falling(fall, sign, t, d, FLAT_REACH * scale)
            t *= 4.0
    return False


def reduced_curvature_verdict(ev, p, system, c, be, rel, rounding) -> tuple:
    """sketched_newton's second-order verdict on the reduced Hessian's smallest eigenvalue ``c`` at a KKT point:
    ``(negative, limit, probed)`` (``probed``: the Lagrangian was tested along the eigenvector). Negative when
    ``c < -max(limit, sqrt(||g_L|| ||Z^T H Z||))`` with ``limit = max(rel ||Z^T H Z||, rounding max |H_ij|)`` (the
    allowance of a valley of minimisers, as in :func:`_significant`:
    min (y - 1000 x^2)^2 + 100 z^2 s.t. z = 0 at (0, 2e-9, 0) has c = -8e-6, helper-130), or, when ``c`` is
    between that and ``-ROUNDING_CURVATURE max |H_ij|``, when the Lagrangian ``f + lam . c(x)`` (the solver's
    scaled terms) falls along the eigenvector in the null space as its model says (:func:`_falls_along`;
    relative to max |H_ij| alone, min 1e7 x^2 - y^2 + z^2 s.t. x = z, reduced Hessian diag(1e7, -2), was
    'converged': helper-128)."""
    hmax = float(np.max(np.abs(system.H))) if system.H.size else 0.0
    rnorm = system.reduced_norm()
    limit = max(rel * rnorm, rounding * hmax)
    if not c < 0 or c == -math.inf:
        return False, limit, False
    if c < -max(limit, math.sqrt(_vnorm(be, p.gL) * rnorm)):
        return True, limit, False
    if not c < -ROUNDING_CURVATURE * hmax:
        return False, limit, False
    v = be.xp.asarray(system.reduced_z @ sla.eigh(system.reduced_R, subset_by_index=[0, 0])[1][:, 0])

    def lag(x):
        try:
            return ev.f(x) + float(be.dot(p.lam, ev.c(x)))
        except (ValueError, TypeError, FloatingPointError):   # non-finite f or c at the trial point: no verdict
            return math.nan

    return _falls_along(lag, p.x, p.f + float(be.dot(p.lam, p.c)), p.gL, v, c, be), limit, True


def _ritz_extremes(op, n, k, be, reorthogonalize=False):
    """``(lmin, lmax, vector)``: the smallest and largest Ritz values of ``k`` Lanczos steps on ``op`` from a fixed
    random start (:func:`solvers.linear.precond.lanczos_tridiagonal`: the three-term recurrence in O(n) memory, or
    with ``reorthogonalize`` the ``k`` vectors stored), and a function returning the Ritz vector of ``lmin`` (the
    steps run again; None on a failure); ``(nan, nan, None)`` when a product is not finite."""
    from ..linear import _common as C
    from ..linear.precond import _tridiagonal, lanczos_tridiagonal

    K = C.kernels(be, n)
    opw = C._as_operator(op, be, "hess")
    v0 = be.xp.asarray(np.random.default_rng(20261202).standard_normal(n))
    v0 = v0 / math.sqrt(float(K.dot(v0, v0)))
    with np.errstate(invalid="ignore", over="ignore"):
        try:
            alpha, beta, m = lanczos_tridiagonal(C.Applier(opw, op, be, K, "hess"), v0, k, reorthogonalize, be, K)
            T = _tridiagonal(alpha, beta, m)
            if not np.all(np.isfinite(T)):
                return math.nan, math.nan, None
            ev, Y = np.linalg.eigh(T)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):   # NaN/inf in the tridiagonal matrix
            return math.nan, math.nan, None

    def vector():
        with np.errstate(invalid="ignore", over="ignore"):
            u = lanczos_tridiagonal(C.Applier(opw, op, be, K, "hess"), v0, k, reorthogonalize, be, K, y=Y[:, 0])[3]
        return u if bool(be.xp.all(be.xp.isfinite(u))) else None

    return float(ev[0]), float(ev[-1]), vector
