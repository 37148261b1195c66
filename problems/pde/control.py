"""Distributed optimal control of the Poisson equation (linear and semilinear), matrix-free.

The continuous problem on the box ``Omega`` (default the unit square)::

    min_{y, u}  1/2 ||y - y_d||^2_{L2} + alpha/2 ||u||^2_{L2}
    s.t.        -Δy + s y^3 = u  in Omega,   y = 0 on the boundary        (s = 0 or 1)

discretised on an ``n x n`` interior grid (5-point Laplacian ``A = -Δ_h``, see
:class:`solvers.operators.stencil.StencilOperator`) with the lumped mass matrix
``M = h^2 I`` (``h^2 = h_x h_y``), as in Rees, Dollar & Wathen (2010)::

    f(y, u) = h^2/2 ||y - y_d||^2 + alpha h^2/2 ||u||^2
    c(y, u) = h^2 (A y + s y^3 - u)          (the weak form "K y = M u": m = N = n^2 constraints)

Variables ``x = (y, u)`` in ``R^{2N}``. With the Lagrangian ``L = f + lam^T c`` every block of
the KKT system carries the factor ``h^2``, so ``lam`` approximates the continuous adjoint
state and the optimality conditions read ``alpha u = lam``, ``(A + 3 s Y^2) lam = y_d - y``.
Derivatives (all matrix-free):

* ``grad f = h^2 (y - y_d, alpha u)``;
* ``J = h^2 [A + 3 s diag(y^2), -I]`` (an operator, ``N x 2N``, with ``rmatvec``);
* ``hess_lagrangian = diag(h^2 (1 + 6 s y lam), alpha h^2 1)`` (diagonal, ``2N x 2N``).

:meth:`PoissonControl.kkt_preconditioner` is the block-diagonal preconditioner of Rees,
Dollar & Wathen with the parameter-robust Schur-complement approximation of Pearson &
Wathen: for the KKT matrix ``[[H, J^T], [J, 0]]`` with ``H = h^2 blkdiag(D, alpha I)``,
``K = A + 3 s Y^2``, the Schur complement ``S = J H^{-1} J^T = h^2 (K D^{-1} K + I / alpha)``
is replaced by ``S_hat = h^2 (K + E) D^{-1} (K + E)`` with ``E = sqrt(D / alpha)``
(exactly the Pearson-Wathen form when ``D = I``; ``S_hat^{-1} S`` then has its eigenvalues
in ``[1/2, 1]`` for every ``alpha`` and ``h``), and ``(K + E)^{-1}`` is one symmetric
multigrid V-cycle of the stencil operator ``K + E`` (positive shift: SPD). The result is an
SPD operator for MINRES whose iteration count does not grow with ``n``.

References
----------
T. Rees, H. S. Dollar and A. J. Wathen, "Optimal solvers for PDE-constrained optimization",
SIAM J. Sci. Comput. 32 (2010) 271-298.
J. W. Pearson and A. J. Wathen, "A new approximation of the Schur complement in
preconditioners for PDE-constrained optimization", Numer. Linear Algebra Appl. 19 (2012)
816-829.
F. Tröltzsch, *Optimal Control of Partial Differential Equations*, AMS 2010, ch. 2 and 4
(the linear-quadratic and semilinear model problems).
"""
from __future__ import annotations

import numbers

import numpy as np

import solvers
from solvers.operators import base as _base
from solvers.operators import stencil as _stencil

from .. import _checks

#: floor of the (1,1)-block scaling ``|1 + 6 s y lam|`` in the preconditioner (keeps it SPD)
D_FLOOR = 1e-2


def rdw_target(x, y):
    """Rees-Dollar-Wathen example 1 target: ``(2x-1)^2 (2y-1)^2`` on ``[0, 1/2]^2``, 0 elsewhere."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return np.where((x <= 0.5) & (y <= 0.5), (2 * x - 1) ** 2 * (2 * y - 1) ** 2, 0.0)


class ControlJacobian(_base.LinearOperator):
    """``J = h^2 [K, -I]`` with ``K`` a stencil operator (``N x 2N``), matrix-free."""

    def __init__(self, K: _stencil.StencilOperator, h2: float):
        n = K.shape[0]
        super().__init__((n, 2 * n), np.float64, K.backend)
        self.K, self.h2 = K, float(h2)

    def _matvec(self, v):
        n = self.shape[0]
        return self.h2 * (self.K.matvec(v[:n]) - v[n:])

    def _rmatvec(self, w):
        return self.backend.xp.concatenate([self.h2 * self.K.matvec(w), -self.h2 * w])

    def with_backend(self, backend) -> "ControlJacobian":
        be = solvers.get_backend(backend)
        return self if be == self.backend else ControlJacobian(_base.aslinearoperator(self.K, backend=be), self.h2)


class ControlKKTPreconditioner(_base.LinearOperator):
    """``blkdiag(H_yy^-1, H_uu^-1, S_hat^-1)`` (size ``3N``), SPD; see the module notes."""

    def __init__(self, d, alpha: float, h2: float, V, backend):
        n = d.shape[0]
        super().__init__((3 * n, 3 * n), np.float64, backend, symmetric=True, positive_definite=True)
        self.d, self.alpha, self.h2, self.V = d, float(alpha), float(h2), V

    def _matvec(self, r):
        n = self.d.shape[0]
        ry, ru, rl = r[:n], r[n:2 * n], r[2 * n:]
        s = self.V.matvec(self.d * self.V.matvec(rl)) / self.h2
        return self.backend.xp.concatenate([ry / (self.h2 * self.d), ru / (self.alpha * self.h2), s])

    def with_backend(self, backend) -> "ControlKKTPreconditioner":
        be = solvers.get_backend(backend)
        if be == self.backend:
            return self
        return ControlKKTPreconditioner(be.asarray(self.backend.to_numpy(self.d)), self.alpha, self.h2,
                                        _base.aslinearoperator(self.V, backend=be), be)


class PoissonControl:
    """Tracking-type optimal control of ``-Δy (+ y^3) = u`` with ``y = 0`` on the boundary.

    Parameters
    ----------
    n : int
        Interior points per axis (``N = n^2`` states, ``N`` controls, ``N`` constraints).
    alpha : float, default 1e-4
        Control cost (Tikhonov) weight, ``> 0``. ``1e-4`` is a middle value of the range
        ``1e-2 ... 1e-6`` studied by Rees, Dollar & Wathen: the state then tracks the
        target closely while the control stays of moderate size.
    semilinear : bool, default False
        ``False``: ``-Δy = u`` (a quadratic program, solved exactly by one KKT solve);
        ``True``: ``-Δy + y^3 = u`` (a nonconvex-constrained NLP).
    y_desired : float, array or callable, optional
        Target state: a constant, an ``(n, n)`` / ``(N,)`` array of interior values, or a
        vectorised callable of the coordinates ``(x, y)`` (evaluated once, here). Default
        :func:`rdw_target` (Rees, Dollar & Wathen 2010, example 1).
    domain : sequence of two (lo, hi) pairs, optional
        Default the unit square.

    Notes
    -----
    The duck interface of :func:`solvers.sketched_newton`: ``f``, ``grad``, ``c``,
    ``jac`` (operator ``N x 2N``), ``hess_lagrangian`` (diagonal operator), ``x0``,
    ``n`` (``2N`` variables), ``m`` (``N``), ``kkt_preconditioner``. Vectors are flat
    NumPy (or backend) arrays; :meth:`split` returns the state and control as grids.
    Objects pickle (only arrays and numbers are stored).
    """

    methods = ("sketched_newton",)
    #: options ``solvers.solve`` passes unless given: MINRES with :meth:`kkt_preconditioner` (the default
    #: Gaussian sketch on this operator KKT system ran 94 s at n = 32 and stopped at iteration 0)
    solve_defaults = {"sketched_newton": {"sketch": None}}

    def __init__(self, n, *, alpha: float = 1e-4, semilinear: bool = False, y_desired=None, domain=None):
        self.grid = _checks.count("n", n, minimum=2)
        self.shape = (self.grid, self.grid)
        self.alpha = _checks.real_scalar("alpha", alpha, positive=True)
        if not 1e-14 <= self.alpha <= 1e8:
            raise ValueError(f"alpha = {self.alpha!r} is outside [1e-14, 1e8]: the KKT system is then singular to "
                             "working precision; rescale the objective")
        self.semilinear = _checks.boolean("semilinear", semilinear)
        self.domain = _checks.domain("domain", domain, 2)
        from .poisson import _spacing, check_grid_memory

        check_grid_memory(self.shape, what="PoissonControl")
        self.h = _spacing(self.domain, self.shape)
        self.h2 = float(self.h[0] * self.h[1])
        self.N = self.grid * self.grid
        self.n = 2 * self.N
        self.m = self.N
        self.y_desired = self._target(rdw_target if y_desired is None else y_desired)
        self.target_name = ("rdw_target" if y_desired is None else
                            getattr(y_desired, "__name__", type(y_desired).__name__))
        self.name = "poisson-control-semilinear" if self.semilinear else "poisson-control"
        self.x0 = np.zeros(self.n)
        self.lam0 = np.zeros(self.m)
        self._lap = {}
        self._yd = {}

    #: fixed by the grid and the domain (the target's values and the cached operators depend on them)
    _FIXED = ("grid", "shape", "N", "n", "m", "h", "h2", "domain")

    def __setattr__(self, name, value):
        """After construction, ``y_desired``, ``alpha``, ``semilinear``, ``x0`` and ``lam0`` are checked as in
        the constructor and the caches rebuilt; the grid and the domain are fixed. (A replaced ``y_desired`` kept
        its per-backend copy and a replaced ``domain`` the old spacing: the old system was solved and reported
        converged; outside probe helper-93.)"""
        if "_yd" in self.__dict__:
            if name in self._FIXED:
                raise AttributeError(f"PoissonControl.{name} is fixed by the grid and the domain; build a new "
                                     "PoissonControl(n, ...)")
            if name == "y_desired":
                value = self._target(value)
                self._yd.clear()
                object.__setattr__(self, "target_name", "array" if isinstance(value, np.ndarray) else "value")
            elif name == "alpha":
                value = _checks.real_scalar("alpha", value, positive=True)
                if not 1e-14 <= value <= 1e8:
                    raise ValueError(f"alpha = {value!r} is outside [1e-14, 1e8]: the KKT system is then singular to "
                                     "working precision; rescale the objective")
            elif name == "semilinear":
                value = _checks.boolean("semilinear", value)
                object.__setattr__(self, "name", "poisson-control-semilinear" if value else "poisson-control")
            elif name in ("x0", "lam0"):
                size = self.n if name == "x0" else self.m
                value = _checks.real_array(name, value, ndims=(1,), what=f"vector of length {size}").copy()
                if value.shape != (size,):
                    raise ValueError(f"{name} must have shape ({size},), got {value.shape}")
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ data
    def coordinates(self):
        """``(X, Y)``, two ``(n, n)`` arrays of interior node coordinates."""
        axes = [lo + h * np.arange(1, self.grid + 1) for (lo, _), h in zip(self.domain, self.h)]
        return tuple(np.meshgrid(*axes, indexing="ij"))

    def _target(self, yd):
        if callable(yd) and not isinstance(yd, np.ndarray):
            from .poisson import _evaluate

            return _evaluate("y_desired", yd, self.coordinates()).reshape(-1).copy()
        if isinstance(yd, numbers.Real) and not isinstance(yd, bool):
            return np.full(self.N, _checks.real_scalar("y_desired", yd))
        arr = _checks.real_array("y_desired", yd, ndims=(1, 2), what="array of target values")
        if arr.shape not in ((self.N,), self.shape):
            raise ValueError(f"y_desired must have shape {self.shape} or ({self.N},), got {arr.shape}")
        return arr.reshape(-1).copy()

    def laplacian(self, backend=None):
        """``A = -Δ_h`` as a :class:`StencilOperator` (cached per backend)."""
        be = solvers.get_backend(backend)
        if be.name not in self._lap:
            self._lap[be.name] = _stencil.StencilOperator(self.shape, self.h, k=1.0, backend=be)
        return self._lap[be.name]

    def _target_on(self, be):
        """``y_d`` as an array of backend ``be`` (uploaded once per backend, not on every evaluation)."""
        cache = self.__dict__.setdefault("_yd", {})      # (pickles of older versions lack it)
        if be.name not in cache:
            cache[be.name] = be.asarray(self.y_desired)
        return cache[be.name]

    def _x(self, x, size, what, backend):
        be = solvers.get_backend(backend, x)
        if type(x).__module__.startswith("cupy"):
            if x.dtype.kind not in "fiu":
                raise TypeError(f"{what} must be a real array, got dtype {x.dtype}")
        else:
            x = _checks.real_array(what, x, finite=False, what=f"vector of length {size}")
        x = be.asarray(x, dtype=np.float64)
        if x.shape != (size,):
            raise ValueError(f"{what} must have shape ({size},) for PoissonControl(n={self.grid}), got {x.shape}")
        return x, be

    def split(self, x):
        """State and control ``(y, u)`` of ``x = (y, u)``, each an ``(n, n)`` grid."""
        x, _ = self._x(x, self.n, "x", None)
        return x[:self.N].reshape(self.shape), x[self.N:].reshape(self.shape)

    # ------------------------------------------------------------------ NLP interface
    def f(self, x, backend=None) -> float:
        """``h^2/2 ||y - y_d||^2 + alpha h^2/2 ||u||^2``."""
        x, be = self._x(x, self.n, "x", backend)
        r = x[:self.N] - self._target_on(be)
        u = x[self.N:]
        return float(0.5 * self.h2 * (be.dot(r, r) + self.alpha * be.dot(u, u)))   # the backend's kernel, not BLAS

    def grad(self, x, backend=None):
        """``h^2 (y - y_d, alpha u)``."""
        x, be = self._x(x, self.n, "x", backend)
        yd = self._target_on(be)
        return be.xp.concatenate([self.h2 * (x[:self.N] - yd), (self.alpha * self.h2) * x[self.N:]])

    def c(self, x, backend=None):
        """``h^2 (A y + s y^3 - u)`` (length ``N``)."""
        x, be = self._x(x, self.n, "x", backend)
        y, u = x[:self.N], x[self.N:]
        r = self.laplacian(be).matvec(y) - u
        if self.semilinear:
            r = r + y ** 3
        return self.h2 * r

    def _k(self, y, be, extra=None):
        """``A + 3 s diag(y^2) (+ diag(extra))`` as a stencil operator."""
        shift = 3.0 * y * y if self.semilinear else None
        if extra is not None:
            shift = extra if shift is None else shift + extra
        if shift is None:
            return self.laplacian(be)
        if not bool(be.xp.all(be.xp.isfinite(shift))):
            raise ValueError("x contains NaN or values so large that 3 y^2 overflows; the Jacobian needs finite y")
        return _stencil.StencilOperator(self.shape, self.h, k=1.0, shift=shift.reshape(self.shape), backend=be)

    def jac(self, x, backend=None) -> ControlJacobian:
        """``J(x) = h^2 [A + 3 s diag(y^2), -I]``: an ``N x 2N`` operator with ``matvec`` and ``rmatvec``."""
        x, be = self._x(x, self.n, "x", backend)
        return ControlJacobian(self._k(x[:self.N], be), self.h2)

    def _hyy(self, x, lam, be):
        """``1 + 6 s y lam`` (the y-block of the Lagrangian Hessian divided by ``h^2``)."""
        if not self.semilinear:
            return be.xp.ones(self.N)
        return 1.0 + 6.0 * x[:self.N] * lam

    def hess_lagrangian(self, x, lam, backend=None) -> _base.DiagonalOperator:
        """Hessian of ``L = f + lam^T c``: ``diag(h^2 (1 + 6 s y lam), alpha h^2 1)`` (``2N x 2N``)."""
        x, be = self._x(x, self.n, "x", backend)
        lam, _ = self._x(lam, self.m, "lam", be)
        d = be.xp.concatenate([self.h2 * self._hyy(x, lam, be), be.xp.full(self.N, self.alpha * self.h2)])
        return _base.DiagonalOperator(d, backend=be)

    def kkt_preconditioner(self, x, lam, backend=None, *, nu=None) -> ControlKKTPreconditioner:
        """SPD block-diagonal preconditioner (size ``3N``) for MINRES on ``[[H, J^T], [J, 0]]``.

        ``blkdiag(h^-2 D^-1, (alpha h^2)^-1 I, S_hat^-1)`` with ``D = max(|1 + 6 s y lam|, D_FLOOR)``
        and ``S_hat^-1 = h^-2 V D V``, ``V`` one multigrid V-cycle of the SPD stencil operator
        ``A + 3 s Y^2 + sqrt(D / alpha)`` (Rees, Dollar & Wathen 2010; Pearson & Wathen 2012).
        ``nu`` is passed to :func:`solvers.linear.multigrid.multigrid` (``None``: its default schedule).
        """
        from solvers.linear import multigrid

        x, be = self._x(x, self.n, "x", backend)
        lam, _ = self._x(lam, self.m, "lam", be)
        xp = be.xp
        d = xp.maximum(xp.abs(self._hyy(x, lam, be)), D_FLOOR)
        if not (bool(xp.all(xp.isfinite(d))) and bool(xp.all(xp.isfinite(x))) and bool(xp.all(xp.isfinite(lam)))):
            raise ValueError("x or lam contains NaN or inf; the preconditioner needs finite values")
        V = multigrid.multigrid(self._k(x[:self.N], be, extra=xp.sqrt(d / self.alpha)), nu=nu)
        return ControlKKTPreconditioner(d, self.alpha, self.h2, V, be)

    # ------------------------------------------------------------------ references and checks
    def assembled(self, x=None, lam=None):
        """``(H, J)`` as SciPy sparse matrices at ``(x, lam)`` (default ``x0``, ``lam0``), built from a
        Kronecker-product Laplacian independent of the stencil kernels (for checks and peers)."""
        import scipy.sparse as sp

        x = self.x0 if x is None else self._x(x, self.n, "x", "numpy")[0]
        lam = self.lam0 if lam is None else self._x(lam, self.m, "lam", "numpy")[0]
        x, lam = np.asarray(x), np.asarray(lam)
        A = kron_laplacian(self.grid, self.h)
        y = x[:self.N]
        K = A + sp.diags(3.0 * y * y) if self.semilinear else A
        J = self.h2 * sp.hstack([K, -sp.identity(self.N)], format="csr")
        hyy = 1.0 + 6.0 * y * lam if self.semilinear else np.ones(self.N)
        H = sp.diags(np.concatenate([self.h2 * hyy, np.full(self.N, self.alpha * self.h2)])).tocsr()
        return H, J

    def reference_solution(self):
        """The exact discrete optimum ``(x, lam)`` of the LINEAR problem by a sparse direct solve of its
        KKT system ``[[H, J^T], [J, 0]] (x, lam) = (h^2 y_d, 0, 0)`` (``scipy.sparse.linalg.spsolve``)."""
        if self.semilinear:
            raise ValueError("reference_solution() is the exact optimum of the linear problem only (one KKT "
                             "solve); for semilinear=True check the first-order conditions (kkt_residual)")
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        H, J = self.assembled()
        K = sp.bmat([[H, J.T], [J, None]], format="csc")
        rhs = np.concatenate([self.h2 * self.y_desired, np.zeros(self.N), np.zeros(self.N)])
        z = spla.spsolve(K, rhs)
        return z[:self.n], z[self.n:]

    def kkt_residual(self, x, lam) -> dict:
        """First-order residuals at ``(x, lam)``, computed on assembled sparse matrices:
        ``{"stationarity": ||grad f + J^T lam||_inf, "feasibility": ||c||_inf}``."""
        x = np.asarray(self._x(x, self.n, "x", "numpy")[0])
        lam = np.asarray(self._x(lam, self.m, "lam", "numpy")[0])
        A = kron_laplacian(self.grid, self.h)
        y, u = x[:self.N], x[self.N:]
        cval = self.h2 * (A @ y + (y ** 3 if self.semilinear else 0.0) - u)
        _, J = self.assembled(x, lam)
        g = np.concatenate([self.h2 * (y - self.y_desired), self.alpha * self.h2 * u])
        return {"stationarity": float(np.abs(g + J.T @ lam).max()), "feasibility": float(np.abs(cval).max())}

    def describe(self) -> dict:
        """Plain-data description stored with runs."""
        return {"problem": "PoissonControl", "name": self.name, "grid": self.grid, "variables": self.n,
                "constraints": self.m, "alpha": self.alpha, "semilinear": self.semilinear,
                "y_desired": self.target_name, "domain": [list(d) for d in self.domain], "h": list(self.h)}

    def __getstate__(self):
        """Plain data only: the per-backend Laplacian and target caches are rebuilt on demand."""
        state = self.__dict__.copy()
        state["_lap"] = {}
        state["_yd"] = {}
        return state

    def __repr__(self) -> str:
        return f"PoissonControl(n={self.grid}, alpha={self.alpha!r}, semilinear={self.semilinear})"


def kron_laplacian(n: int, h):
    """The 5-point Dirichlet ``-Δ_h`` on an ``n x n`` grid as ``T_x ⊗ I + I ⊗ T_y`` (SciPy CSR)."""
    import scipy.sparse as sp

    hx, hy = (h, h) if isinstance(h, numbers.Real) else h
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    eye = sp.identity(n)
    return (sp.kron(T / hx ** 2, eye) + sp.kron(eye, T / hy ** 2)).tocsr()


__all__ = ["PoissonControl", "ControlJacobian", "ControlKKTPreconditioner", "rdw_target", "kron_laplacian"]
