"""Simple preconditioners as operators: Jacobi and Chebyshev polynomial.

Both are :class:`~solvers.operators.base.LinearOperator` subclasses that
approximate ``A^{-1}``, declare ``symmetric`` / ``positive_definite`` and offer
``matvec_into(r, out)``, so any Krylov method takes them as ``M=``.
:func:`lanczos_bounds` estimates the extreme eigenvalues of a symmetric
operator from a few Lanczos steps (used for the Chebyshev bounds).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _config, backends as _backends
from ..operators import base as _ops
from . import _common as C


class JacobiPreconditioner(_ops.LinearOperator):
    """``M = diag(A)^{-1}``.

    Attributes
    ----------
    inv_diagonal : array
        ``1 / diag(A)``; CG fuses ``z = inv_diagonal * r`` into its update pass.
    """

    def __init__(self, inv_diagonal, backend):
        be = _backends.get_backend(backend)
        if not isinstance(inv_diagonal, be.xp.ndarray) or inv_diagonal.ndim != 1:
            raise ValueError(f"inv_diagonal must be a 1-D {be.name}-backend array, got "
                             f"{type(inv_diagonal).__name__} of shape {getattr(inv_diagonal, 'shape', None)}")
        if np.dtype(inv_diagonal.dtype).kind not in "biuf":
            raise TypeError(f"inv_diagonal must be real, got dtype {inv_diagonal.dtype}")
        inv_diagonal = be.xp.ascontiguousarray(inv_diagonal, dtype=be.xp.float64)
        pos = bool(be.to_numpy(be.xp.all(inv_diagonal > 0))) if inv_diagonal.size else True
        n = inv_diagonal.shape[0]
        super().__init__((n, n), np.float64, be, symmetric=True, positive_definite=pos)
        self.inv_diagonal = inv_diagonal

    def _matvec(self, x):
        return self.inv_diagonal * x

    def matvec_into(self, x, out):
        _check_into(self, x, out)
        self.backend.xp.multiply(self.inv_diagonal, x, out=out)
        return out

    def diagonal(self):
        return self.inv_diagonal.copy()

    def with_backend(self, backend) -> "JacobiPreconditioner":
        be = _backends.get_backend(backend)
        return self if be == self.backend else JacobiPreconditioner(be.asarray(self.inv_diagonal), be)


def _check_into(op, x, out, aliased_ok=True):
    """O(1) check of ``matvec_into(x, out)`` arguments (NumPy would broadcast a length-1 ``x``); ``out`` sharing
    ``x``'s memory is refused unless ``aliased_ok`` (an elementwise product: the Chebyshev recurrence read ``r``
    after writing ``out``, a silently wrong result, helper-137)."""
    from ..operators._out import overlaps

    if not aliased_ok and overlaps(x, out):
        raise ValueError(f"{type(op).__name__}.matvec_into: out shares memory with x, which is still being read; "
                         "pass a separate array")
    n = op.shape[0]
    if getattr(x, "shape", None) != (n,) or getattr(out, "shape", None) != (n,):
        raise ValueError(f"{type(op).__name__}.matvec_into: x has shape {getattr(x, 'shape', None)} and out "
                         f"{getattr(out, 'shape', None)}, expected ({n},) for both")
    if out.dtype != np.float64:
        raise TypeError(f"{type(op).__name__}.matvec_into: out must be float64, got {out.dtype}")


def jacobi(A, *, require_positive: bool = True, backend=None) -> JacobiPreconditioner:
    """Jacobi (diagonal) preconditioner ``M = diag(A)^{-1}``.

    Parameters
    ----------
    A : array, sparse matrix or operator providing ``diagonal()``
    require_positive : bool
        When True (default, what CG needs) a non-positive diagonal entry raises.
        When False only zero entries raise and ``M`` is declared indefinite if
        some entries are negative (usable with GMRES / MINRES is not: MINRES
        needs SPD ``M`` too).
    backend : str or Backend, optional

    Raises
    ------
    ValueError
        Zero (or, with ``require_positive``, negative) or non-finite diagonal
        entries; the message gives the first offending index.
    """
    if not isinstance(require_positive, (bool, np.bool_)):
        raise TypeError(f"jacobi: require_positive must be True or False, got {require_positive!r}")
    be = _backends.get_backend(backend, A)
    op = C._as_operator(A, be, "A")
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"jacobi: A must be square, got shape {op.shape}")
    try:
        d = op.diagonal()
    except NotImplementedError:
        raise TypeError(f"jacobi: {type(A).__name__} does not provide diagonal(); pass a matrix or an operator "
                        "with a diagonal() method") from None
    n = op.shape[0]
    if not hasattr(d, "shape"):
        d = np.asarray(d)
    if np.dtype(d.dtype).kind == "c":
        raise TypeError("jacobi: complex diagonals are not supported")
    if np.dtype(d.dtype).kind not in "biuf":
        raise TypeError(f"jacobi: A.diagonal() returned dtype {d.dtype}, expected real numbers")
    if tuple(d.shape) != (n,):
        raise ValueError(f"jacobi: A.diagonal() returned an array of shape {tuple(d.shape)}, expected ({n},) "
                         f"for A of shape {op.shape}; fix the operator's diagonal")
    d = be.xp.asarray(be.asarray(d), dtype=be.xp.float64)
    dn = be.to_numpy(d)
    bad = ~np.isfinite(dn) | (dn <= 0 if require_positive else dn == 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "positive" if require_positive else "non-zero"
        advice = ("A matrix with a non-positive diagonal is not SPD: use minres/gmres without Jacobi, or "
                  "require_positive=False for GMRES" if require_positive else
                  "a zero or non-finite diagonal entry has no inverse: use gmres without Jacobi, or another "
                  "preconditioner")            # (not the option the caller already passed: helper-157)
        raise ValueError(f"jacobi: diag(A) must be finite and {need}; entry {i} is {dn[i]!r}. {advice}")
    small = np.abs(dn) < 1.0 / np.finfo(np.float64).max      # |d| < 5.6e-309 (subnormal): 1/d overflows
    if small.any():
        i = int(np.flatnonzero(small)[0])
        raise ValueError(f"jacobi: diag(A) entry {i} is {dn[i]!r}, so small that 1/d overflows to inf; rescale A "
                         "(e.g. by a power of two) so that its diagonal is far from the float64 limits (helper-125)")
    return JacobiPreconditioner(1.0 / d, be)


#: fewest Lanczos steps :func:`chebyshev` takes its bounds from
MIN_LANCZOS_STEPS = 5


def lanczos_bounds(A, *, k: int = 20, v0=None, rng=0, reorthogonalize: bool = True,
                   backend=None) -> tuple[float, float]:
    """Extreme Ritz values of symmetric ``A`` from ``k`` Lanczos steps.

    Uses full reorthogonalisation (``k`` vectors stored; ``k`` is small), or with
    ``reorthogonalize=False`` the plain three-term recurrence in O(n) memory (for
    many steps on long vectors: the lost orthogonality only repeats converged Ritz
    values, which stay inside the spectrum up to rounding; Paige 1980). The Ritz values lie inside
    the spectrum: the returned ``lmin`` over-estimates ``lambda_min`` and
    ``lmax`` under-estimates ``lambda_max``. ``lmax`` converges fast, ``lmin``
    slowly where the small eigenvalues cluster: at the default ``k = 20``,
    measured on the 100-point 1-D Laplacian ``lmax`` 0.2 % low and ``lmin``
    6.5x ``lambda_min``, on the 31 x 31 Poisson matrix 0.3 % and 3.3x. Raise ``k`` for a
    close ``lmin`` (``k = n`` gives the extreme eigenvalues up to rounding).

    Parameters
    ----------
    A : symmetric operator, ``n x n``
    k : int
        Number of Lanczos steps (capped at ``n``).
    v0 : array, optional
        Start vector (default: standard normal draws from ``numpy.random.default_rng(rng)``).
    rng : int, numpy.random.Generator or None, default 0
        Seed of the start vector: the default makes the bounds (and a Chebyshev
        preconditioner built from them) reproducible; ``None`` draws a fresh one.
    reorthogonalize : bool, default True
        Full reorthogonalisation (stores the ``k`` Lanczos vectors) or none.
    backend : str or Backend, optional
        Where the Lanczos vectors live (default: from ``A``).

    Returns
    -------
    (lmin, lmax) : tuple of float

    References
    ----------
    C. Lanczos (1950); G. H. Golub and C. F. Van Loan, *Matrix Computations*,
    4th ed., Section 10.1.
    """
    k = C.check_count("lanczos_bounds: k", k, minimum=1)
    if v0 is None:
        if isinstance(rng, bool):
            raise TypeError("rng must be an int seed, a numpy.random.Generator or None, got bool")
        try:
            gen = np.random.default_rng(rng)
        except (TypeError, ValueError) as exc:     # (NumPy's SeedSequence error, frames deep: helper-125)
            raise TypeError(f"rng must be an int seed, a numpy.random.Generator or None, got "
                            f"{type(rng).__name__}: {exc}") from None
    be = _backends.get_backend(backend, A)
    op = C._as_operator(A, be, "A")
    n = op.shape[0]
    if op.shape[0] != op.shape[1] or n == 0:
        raise ValueError(f"lanczos_bounds: A must be square and non-empty, got shape {op.shape}")
    k = min(k, n)
    xp = be.xp
    if v0 is None:
        v0 = gen.standard_normal(n)
    v = C._as_vector(be, v0, n, "v0", op.shape)
    K = C.kernels(be, n)
    vnorm = C.norm2(xp, v, K.dot)
    if not vnorm > 0.0:
        raise ValueError("lanczos_bounds: v0 must be a non-zero vector")
    alpha, beta, m = lanczos_tridiagonal(C.Applier(op, A, be, K, "A"), v / vnorm, k, reorthogonalize, be, K)
    T = _tridiagonal(alpha, beta, m)
    if not np.all(np.isfinite(T)):     # (LAPACK's 'Eigenvalues did not converge' named nothing: helper-146)
        raise ValueError("lanczos_bounds: the products of A are not finite (NaN or inf in A, or A x overflows); "
                         "A must be a finite symmetric operator")
    ev = np.linalg.eigvalsh(T)
    return float(ev[0]), float(ev[-1])


def _tridiagonal(alpha, beta, m):
    return np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)


def lanczos_tridiagonal(Aap, v, k, reorthogonalize, be, K, y=None):
    """``(alpha, beta, m)``: ``m <= k`` Lanczos steps on the applier ``Aap`` from the unit vector ``v`` (the
    tridiagonal matrix's diagonal ``alpha[:m]`` and off-diagonal ``beta[:m - 1]``). With ``y`` (length ``m``) the
    steps are run again and ``(alpha, beta, m, u)`` is returned, ``u = V y`` (a Ritz vector from an eigenvector
    ``y`` of the tridiagonal matrix; in O(n) memory for the three-term recurrence): the same products in the same
    order give the same Lanczos vectors."""
    xp, n = be.xp, v.shape[0]
    V = xp.zeros((k if reorthogonalize else 1, n))
    alpha = np.zeros(k)
    beta = np.zeros(k)
    u = None if y is None else xp.zeros(n)
    m, tnorm = k, 0.0
    h = xp.zeros(k)
    for j in range(k):
        if u is not None:
            u += float(y[j]) * v
            if j + 1 == len(y):
                return alpha, beta, len(y), u
        w = xp.array(Aap.product(v), dtype=xp.float64, order="C")   # a copy: updated in place below
        alpha[j] = float(K.dot(v, w))
        if reorthogonalize:
            V[j] = v
            # full reorthogonalisation (twice is enough), by the backend's kernels (not a threaded BLAS call
            # between the Numba kernels: see solvers._kernels.numba.krylov.rows_dot)
            for _ in range(2):
                K.rows_dot(V, j + 1, w, h)
                K.rows_sub(V, j + 1, h, w)
        else:                          # three-term recurrence: w -= alpha_j v_j + beta_{j-1} v_{j-1}
            w -= alpha[j] * v
            if j:
                w -= beta[j - 1] * V[0]
            V[0] = v
        bj = C.norm2(xp, w, K.dot)
        if j + 1 == k:
            break
        tnorm = max(tnorm, abs(alpha[j]), bj, beta[j - 1] if j else 0.0)
        # invariant subspace found: Ritz values are exact. Against the running ||T||, not |alpha_j|: in the null
        # space of a rank-deficient A alpha_j ~ 0, beta fell to 1e-30 without a stop, orthogonality was lost and
        # later Ritz values were garbage (-2.9e4 with ||A|| = 120: a 'saddle' of a least-squares problem; helper-141)
        if bj <= 1e-14 * max(tnorm, 1e-300):
            m = j + 1
            break
        beta[j] = bj
        v = w / bj
    return alpha, beta, m


class ChebyshevPreconditioner(_ops.LinearOperator):
    """``M = p(A)``, the Chebyshev polynomial approximation of ``A^{-1}`` on ``[lmin, lmax]``.

    Applying ``M`` runs ``degree`` steps of the Chebyshev semi-iteration on
    ``A z = r`` from ``z = 0`` (``degree - 1`` matvecs). ``p(lambda) > 0`` for
    ``0 < lambda <= lmax``, so ``M`` is SPD whenever ``A`` is SPD with its
    spectrum below ``lmax``.
    """

    def __init__(self, op, lmin, lmax, degree, be):
        n = op.shape[0]
        _check_chebyshev(lmin, lmax, degree)
        super().__init__((n, n), np.float64, be, symmetric=True, positive_definite=True)
        self.op = op
        self.lmin, self.lmax, self.degree = float(lmin), float(lmax), int(degree)
        self._setup()

    def _setup(self):
        n, be = self.shape[0], self.backend
        self._K = C.kernels(be, n)
        self._A = C.Applier(self.op, self.op, be, self._K, "A (of the Chebyshev preconditioner)")
        xp = be.xp
        self._res, self._d, self._ad = xp.empty(n), xp.empty(n), xp.empty(n)
        # the work arrays are shared state: one application at a time (four threads applying one M got vectors
        # wrong by 1e26 and CG 'breakdown ... M is not SPD'; outside probe helper-157)
        _config.fork_safe(self, "_lock")

    def __getstate__(self):
        # the kernel set, work arrays and lock are rebuilt on unpickling (modules and locks do not pickle)
        return {k: v for k, v in self.__dict__.items() if k not in ("_K", "_A", "_res", "_d", "_ad", "_lock")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._setup()

    def with_backend(self, backend) -> "ChebyshevPreconditioner":
        be = _backends.get_backend(backend)
        if be == self.backend:
            return self
        return ChebyshevPreconditioner(_ops.aslinearoperator(self.op, backend=be), self.lmin, self.lmax, self.degree, be)

    def _matvec(self, x):
        out = self.backend.xp.empty(self.shape[0])
        return self.matvec_into(x, out)

    def matvec_into(self, r, out):
        """``out = p(A) r`` (Saad, Algorithm 12.1, from a zero start)."""
        _check_into(self, r, out, aliased_ok=False)
        with self._lock:
            return self._apply(r, out)

    def _apply(self, r, out):
        theta = 0.5 * (self.lmax + self.lmin)
        delta = 0.5 * (self.lmax - self.lmin)
        xp = self.backend.xp
        xp.multiply(r, 1.0 / theta, out=out)
        if self.degree == 1:
            return out
        res, d = self._res, self._d
        res[...] = r
        d[...] = out
        sigma = theta / delta
        rho = 1.0 / sigma
        for _ in range(self.degree - 1):
            ad = self._A.into(d, self._ad)
            rho_new = 1.0 / (2.0 * sigma - rho)
            self._K.cheb_step(out, res, d, ad, rho_new * rho, 2.0 * rho_new / delta)
            rho = rho_new
        return out


def chebyshev(A, *, degree: int = 8, bounds: tuple[float, float] | None = None, lanczos_steps: int = 20,
              safety: float = 1.05, lower_ratio: float | None = None, rng=0, backend=None) -> ChebyshevPreconditioner:
    """Chebyshev polynomial preconditioner for SPD ``A``.

    A fixed-degree polynomial in ``A`` only compresses the spectrum by a bounded factor, so it helps little
    when ``cond(A)`` is huge: on a 127^2 Poisson checkerboard of contrast 1e6 CG took 11 102 iterations with it,
    435 with :func:`jacobi` (which removes the diagonal's scale) and 10 with :func:`solvers.multigrid` (outside
    review helper-123). For coefficient jumps use multigrid.

    Parameters
    ----------
    A : SPD operator
    degree : int
        Polynomial degree (``degree - 1`` matvecs per application).
    bounds : (lmin, lmax), optional
        Spectral interval. Default: from :func:`lanczos_bounds` with
        ``lanczos_steps`` steps; ``lmax`` is enlarged by ``safety`` (the Ritz
        value under-estimates ``lambda_max`` and ``M`` must stay SPD), ``lmin``
        is the smallest Ritz value (an over-estimate, see :func:`lanczos_bounds`:
        the polynomial then damps the lowest modes less, a weaker but still SPD
        preconditioner), or ``lmax / lower_ratio`` when given.
    lanczos_steps : int
        Lanczos steps for the default bounds (at most 1000).
    safety : float
        Factor ``>= 1`` on the Lanczos ``lmax``.
    lower_ratio : float, optional
        ``lmin = lmax / lower_ratio`` instead of the smallest Ritz value.
    rng : int, numpy.random.Generator or None, default 0
        Seed of the Lanczos start vector (see :func:`lanczos_bounds`).
    backend : str or Backend, optional
        Where the preconditioner runs (default: ``A``'s backend).

    References
    ----------
    Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., SIAM 2003,
    Sections 12.3 (Chebyshev acceleration, Algorithm 12.1).
    """
    degree = C.check_count("chebyshev: degree", degree, minimum=1)
    if degree > MAX_DEGREE:
        raise ValueError(f"chebyshev: degree must be <= {MAX_DEGREE} (each application costs degree - 1 matvecs), "
                         f"got {degree}; use a multigrid preconditioner for harder problems")
    lanczos_steps = C.check_count("chebyshev: lanczos_steps", lanczos_steps, minimum=1)
    if bounds is None and lanczos_steps < MIN_LANCZOS_STEPS:
        raise ValueError(f"chebyshev: lanczos_steps must be >= {MIN_LANCZOS_STEPS} when the bounds come from Lanczos, "
                         f"got {lanczos_steps}: so few steps underestimate lambda_max by more than the safety factor "
                         "and M is not positive definite (1 or 2 steps broke CG on a Laplacian: helper-125); or pass "
                         "bounds=(lmin, lmax)")
    if lanczos_steps > MAX_DEGREE:
        raise ValueError(f"chebyshev: lanczos_steps must be <= {MAX_DEGREE} (it stores that many vectors), got "
                         f"{lanczos_steps}")
    if isinstance(safety, bool) or not isinstance(safety, numbers.Real) or not (1.0 <= safety < math.inf):
        raise ValueError(f"chebyshev: safety must be a finite number >= 1 (e.g. 1.05), got {safety!r}")
    if lower_ratio is not None and (isinstance(lower_ratio, bool) or not isinstance(lower_ratio, numbers.Real)
                                    or not (1.0 < lower_ratio < math.inf)):
        raise ValueError(f"chebyshev: lower_ratio must be None or a finite number > 1 (e.g. 30), got {lower_ratio!r}")
    if bounds is not None:
        try:
            lmin, lmax = bounds
            lmin, lmax = C.check_nonnegative("chebyshev: bounds[0]", lmin, "0.1"), \
                C.check_nonnegative("chebyshev: bounds[1]", lmax, "4.0")
        except (TypeError, ValueError) as e:
            raise ValueError(f"chebyshev: bounds must be a pair (lmin, lmax) of finite numbers with "
                             f"0 < lmin < lmax, got {bounds!r} ({e})") from None
    be = _backends.get_backend(backend, A)
    op = C._as_operator(A, be, "A")
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"chebyshev: A must be square, got shape {op.shape}")
    if bounds is None:
        lmin, lmax = lanczos_bounds(op, k=lanczos_steps, rng=rng, backend=be)
        lmax *= safety
        if lower_ratio is not None:
            lmin = lmax / lower_ratio
    return ChebyshevPreconditioner(op, lmin, lmax, degree, be)


#: the largest Chebyshev degree / Lanczos step count accepted (a larger one is a runaway cost, not a setting)
MAX_DEGREE = 1000


def _check_chebyshev(lmin, lmax, degree):
    if not (math.isfinite(lmin) and math.isfinite(lmax) and 0 < lmin < lmax):
        raise ValueError(f"chebyshev: need finite bounds 0 < lmin < lmax, got ({lmin!r}, {lmax!r}); A must be "
                         "SPD (for indefinite A use minres/gmres)")
    C.check_count("chebyshev: degree", degree, minimum=1)


__all__ = ["jacobi", "chebyshev", "lanczos_bounds", "JacobiPreconditioner", "ChebyshevPreconditioner"]
