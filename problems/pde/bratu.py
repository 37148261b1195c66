"""The Bratu (Liouville-Gelfand) problem ``-Δu = λ e^u`` on the unit box, ``u = 0`` on the boundary.

Discretised with the 5-/7-point Laplacian ``A`` (see
:class:`solvers.operators.stencil.StencilOperator`); the nonlinear residual is
``F(u) = A u - λ e^u`` and its Jacobian ``J(u) = A - λ diag(e^u)`` is a stencil
operator with a (negative) diagonal shift. ``J`` is symmetric, and positive
definite on the lower solution branch below the fold (``λ* ≈ 6.81`` in 2-D,
``≈ 9.9`` in 3-D); :attr:`StencilOperator.positive_definite` reports the
sufficient condition ``λ max(e^u) < λ_min(A)``.

Exposed for Newton / Newton-Krylov: ``residual(u)``, ``jacobian(u)`` (an
operator), ``jacobian_preconditioner(u)`` (a multigrid V-cycle of ``J``),
``initial_guess()``, and :meth:`Bratu.nonlinear_system` (the keyword arguments of
:func:`solvers.newton_krylov` for one backend: ``solvers.solve(p, method="newton_krylov")``).

The fold (turning point) of the solution branch of the continuous problem on the unit
square lies at ``λ* ≈ 6.80812`` (J. Karkowski, "Numerical experiments with the Bratu
equation in one, two and three dimensions", Comp. Appl. Math. 32 (2013) 231-244; T. F. Chan
and H. B. Keller, "Arc-length continuation and multigrid techniques for nonlinear elliptic
eigenvalue problems", SIAM J. Sci. Stat. Comput. 3 (1982) 173-194); the discrete fold of the
5-point scheme approaches it at ``O(h^2)``.

References
----------
J. Bratu, "Sur les équations intégrales non linéaires", Bull. SMF 42 (1914);
D. A. Knoll and D. E. Keyes, "Jacobian-free Newton-Krylov methods", J. Comput.
Phys. 193 (2004) 357-397 (Bratu as the standard Newton-Krylov test problem).
"""
from __future__ import annotations

import numpy as np

import solvers
from solvers.operators import stencil as _stencil

from .. import _checks


def lambda_bound(h, shape) -> float:
    """``λ_min(A) / e``, above which the discrete Bratu problem has no solution.

    ``A`` (the 5-/7-point Dirichlet Laplacian) is an irreducible M-matrix: its smallest eigenvalue
    ``λ_1 = sum_a 4 / h_a^2 sin^2(π / (2 (n_a + 1)))`` has a positive eigenvector ``φ``, and a solution of
    ``A u = λ e^u`` is positive (``A^{-1} > 0``). Then ``λ_1 φ·u = φ·A u = λ φ·e^u >= λ e φ·u`` (as
    ``e^t >= e t`` for every ``t``), so ``λ <= λ_1 / e``: the discrete form of the classical bound (the
    fold ``λ* ≈ 6.81`` of the unit square lies below ``2 π^2 / e ≈ 7.26``).
    """
    lam1 = sum(4.0 / ha ** 2 * np.sin(np.pi / (2.0 * (n + 1))) ** 2 for ha, n in zip(h, shape))
    return float(lam1 / np.e)


def _check_solvable(lam, h, shape, what="lam"):
    bound = lambda_bound(h, shape)
    if lam > bound:
        raise ValueError(f"Bratu: lam = {lam:.6g} exceeds lambda_min(A) / e = {bound:.6g} for this grid and "
                         f"box, so -Δu = lam e^u has no solution there (see problems.pde.bratu.lambda_bound); "
                         + (f"use lam below {bound:.4g} (the fold, beyond which there is no solution either, lies "
                            f"somewhat below: about 0.94 of the bound on the unit square, 0.91 on the unit cube)"
                            if what == "lam" else
                            "this domain is too large for the current lam: use a smaller box or lam"))


class Bratu:
    """``-Δu = λ e^u`` on the unit box with ``u = 0`` on the boundary.

    Parameters
    ----------
    shape : tuple of int
        Interior points per axis (2 or 3 axes).
    lam : float, default 1.0
        The parameter λ (>= 0).
    domain : sequence of (lo, hi), optional
        Default the unit box.
    """

    #: solvers.solve(p, method="newton_krylov") runs solvers.newton_krylov(**p.nonlinear_system(be))
    methods = ("newton_krylov",)

    def __init__(self, shape, lam: float = 1.0, domain=None):
        self.shape = _checks.grid_shape("shape", shape)
        d = self.ndim = len(self.shape)
        self.lam = _checks.real_scalar("lam", lam, nonneg=True)
        self.domain = _checks.domain("domain", domain, d)
        from .poisson import check_grid_memory

        check_grid_memory(self.shape, what="Bratu")
        from .poisson import _spacing

        self.h = _spacing(self.domain, self.shape)
        _check_solvable(self.lam, self.h, self.shape)
        self.n = int(np.prod(self.shape))
        self._lap = {}

    #: fixed by the grid: a replaced value would leave the cached operators and spacing stale
    _FIXED = ("shape", "ndim", "n", "h")

    def __setattr__(self, name, value):
        """After construction, ``lam`` and ``domain`` are checked as in the constructor and the caches rebuilt;
        the grid (``shape``, ``n``, ``ndim``, ``h``) is fixed. (A replaced ``domain`` kept the old spacing and
        operators: the old system was solved and reported converged; outside probe helper-93.)"""
        if "_lap" in self.__dict__:
            if name in self._FIXED:
                raise AttributeError(f"Bratu.{name} is fixed by the grid; build a new Bratu(shape, lam, domain)")
            if name == "lam":
                value = _checks.real_scalar("lam", value, nonneg=True)
                _check_solvable(value, self.h, self.shape)
            elif name == "domain":
                from .poisson import _spacing

                value = _checks.domain("domain", value, self.ndim)
                h = _spacing(value, self.shape)
                _check_solvable(self.lam, h, self.shape, what="domain")
                object.__setattr__(self, "h", h)
                self._lap.clear()
        object.__setattr__(self, name, value)

    def laplacian(self, backend=None):
        """The Dirichlet Laplacian ``A`` (``-Δ``) as a stencil operator (cached per backend)."""
        be = solvers.get_backend(backend)
        if be.name not in self._lap:
            self._lap[be.name] = _stencil.StencilOperator(self.shape, self.h, k=1.0, backend=be)
        return self._lap[be.name]

    def coordinates(self):
        axes = [lo + h * np.arange(1, n + 1) for (lo, _), h, n in zip(self.domain, self.h, self.shape)]
        return tuple(np.meshgrid(*axes, indexing="ij"))

    def _as_flat(self, u, be):
        if type(u).__module__.startswith("cupy"):
            if u.dtype.kind not in "fiub":
                raise TypeError(f"u must be a real array, got dtype {u.dtype}")
        else:
            u = _checks.real_array("u", u, finite=False, what=f"array of grid values (shape {self.shape})")
        u = be.asarray(u, dtype=np.float64)
        if u.shape != (self.n,) and u.shape != self.shape:
            raise ValueError(f"u must have shape {self.shape} or ({self.n},), got {u.shape}")
        return u.reshape(-1)

    def initial_guess(self, backend=None):
        """``u = 0`` (flat)."""
        return solvers.get_backend(backend).xp.zeros(self.n)

    def residual(self, u, backend=None):
        """``F(u) = A u - λ e^u``, same shape as ``u``."""
        be = solvers.get_backend(backend, u)
        uf = self._as_flat(u, be)
        with np.errstate(over="ignore"):   # e^u overflows to inf on wild trial points: F is then inf, not a warning
            out = self.laplacian(be).matvec(uf) - self.lam * be.xp.exp(uf)
        return out.reshape(u.shape if hasattr(u, "shape") else np.shape(u))   # a device array keeps its shape

    def jacobian(self, u, backend=None):
        """``J(u) = A - λ diag(e^u)`` as a matrix-free :class:`StencilOperator` (symmetric)."""
        be = solvers.get_backend(backend, u)
        uf = self._as_flat(u, be)
        shift = (-self.lam * be.xp.exp(uf)).reshape(self.shape)
        if not bool(be.xp.all(be.xp.isfinite(shift))):
            raise ValueError("u contains NaN or values so large that lam * exp(u) overflows; J(u) needs finite "
                             "lam * exp(u) at every point")
        return _stencil.StencilOperator(self.shape, self.h, k=1.0, shift=shift, backend=be)

    def jacobian_preconditioner(self, u, backend=None):
        """A multigrid V-cycle for ``J(u)`` (SPD while ``J(u)`` is)."""
        from solvers.linear import multigrid

        return multigrid.multigrid(self.jacobian(u, backend))

    def nonlinear_system(self, backend=None) -> dict:
        """Keyword arguments of :func:`solvers.newton_krylov` for this problem on ``backend``.

        ``{"F": residual, "x0": initial_guess() (shaped as the grid, so ``res.x`` is too), "jac": jacobian,
        "M": jacobian_preconditioner, "backend": name}``
        with the backend bound (``functools.partial`` of bound methods: picklable). The
        Jacobian is applied matrix-free and every Newton step is preconditioned by a
        multigrid V-cycle of ``J(u)`` rebuilt at the current iterate (the inner solver is
        GMRES, which also survives an indefinite ``J`` beyond the fold).

        Examples
        --------
        >>> p = Bratu((255, 255), lam=6.0)
        >>> res = solvers.newton_krylov(**p.nonlinear_system("numba"), tol=1e-8)   # doctest: +SKIP
        >>> res.x.shape                                                           # doctest: +SKIP
        (255, 255)
        """
        import functools

        be = solvers.get_backend(backend)
        return {"F": functools.partial(self.residual, backend=be.name),
                "x0": self.initial_guess(be).reshape(self.shape),
                "jac": functools.partial(self.jacobian, backend=be.name),
                "M": functools.partial(self.jacobian_preconditioner, backend=be.name), "backend": be.name}

    def describe(self) -> dict:
        """Plain-data description stored with runs."""
        return {"problem": "Bratu", "shape": list(self.shape), "ndim": self.ndim, "lam": self.lam,
                "domain": [list(d) for d in self.domain], "h": list(self.h), "unknowns": self.n}

    def objective(self, u, backend=None) -> float:
        """``E(u) = u^T A u / 2 - λ sum e^u`` (the energy whose gradient is ``F``)."""
        be = solvers.get_backend(backend, u)
        uf = self._as_flat(u, be)
        return float(0.5 * be.xp.vdot(uf, self.laplacian(be).matvec(uf)) - self.lam * be.xp.sum(be.xp.exp(uf)))

    def finalize(self, result, backend=None):
        result.x = result.x.reshape(self.shape)
        return result

    def __getstate__(self):
        """Plain data only: the per-backend Laplacian cache is rebuilt on demand."""
        state = self.__dict__.copy()
        state["_lap"] = {}
        return state

    def __repr__(self) -> str:
        return f"Bratu(shape={self.shape}, lam={self.lam})"


__all__ = ["Bratu"]
