"""Equality-constrained problems whose size is a parameter, each with an exactly known optimum.

* :class:`GENHS28` — CUTEst's n-variable extension of HS28, a convex QP with
  ``n - 2`` banded linear constraints (``hs("GENHS28", n=...)``).
* :func:`equality_qp` — a random strictly convex QP ``min 1/2 x^T Q x + g^T x``
  s.t. ``A x = b``.
* :func:`sphere_projection` — ``min 1/2 |x - a|^2`` s.t. ``B x = 0``,
  ``|x|^2 = 1``: linear equalities plus one sphere, the constraint structure
  of the constrained logistic regression, with a closed-form solution.

For the QPs ``f_star`` and ``x_star`` come from one direct solve of the KKT
system (exact up to rounding, since a QP's KKT conditions are linear); the
sphere problem's optimum is the normalised projection of ``a`` on the null
space of ``B``. Both are checked against SciPy's SLSQP in the tests.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .. import _checks
from ._spec import ProblemSpec
from .problem import EqualityConstrainedProblem


class GENHS28(ProblemSpec):
    """``min sum_{i<n} (x_i + x_{i+1})^2`` s.t. ``x_i + 2 x_{i+1} + 3 x_{i+2} = 1`` (``i = 1..n-2``).

    Parameters
    ----------
    n : int, default 10
        Number of variables (>= 3; ``n = 3`` is HS28). CUTEst's default is 10.
    sparse : bool, default False
        Return the Jacobian as a SciPy CSR matrix and the Lagrangian Hessian as
        a :class:`scipy.sparse.linalg.LinearOperator` (for large ``n``), instead of
        dense arrays.

    Notes
    -----
    Start ``x0 = (-4, 1, ..., 1)`` as in the SIF file. The SIF file gives only
    the lower bound 0 as its solution; ``f_star`` here is the exact optimum of
    the QP (``0.927173692`` for ``n = 10``), from a sparse direct solve of its
    KKT system.
    """

    name, source = "GENHS28", ("CUTEst GENHS28.SIF (N. Gould 1991), n-variable extension of Hock & Schittkowski "
                               "problem 28; f_star from the QP's KKT system")

    def __init__(self, n: int = 10, sparse: bool = False):
        self.n = _checks.count("n", n, minimum=3)
        self.sparse = _checks.boolean("sparse", sparse)
        _checks.check_memory("GENHS28", 200.0 * self.n, "use a smaller n")
        if not self.sparse:
            _checks.check_memory(f"GENHS28(n={self.n}) with dense derivatives", 16.0 * self.n * self.n,
                                 "pass sparse=True (CSR Jacobian, operator Hessian)")
        self._xs = None

    def _structure(self):
        n = self.n
        J = sp.diags([np.ones(n - 2), 2.0 * np.ones(n - 2), 3.0 * np.ones(n - 2)], [0, 1, 2], shape=(n - 2, n))
        D = sp.diags([np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n))  # rows x_i + x_{i+1}
        return J.tocsr(), (2.0 * (D.T @ D)).tocsr()

    def _solve_kkt(self):
        if self._xs is None:
            J, H = self._structure()
            m = self.n - 2
            K = sp.bmat([[H, J.T], [J, None]], format="csc")
            rhs = np.concatenate([np.zeros(self.n), np.ones(m)])
            self._xs = spla.spsolve(K, rhs)[: self.n]
        return self._xs

    @property
    def f_star(self):
        return float(self.f(self._solve_kkt()))

    def x0(self):
        x = np.ones(self.n)
        x[0] = -4.0
        return x

    def x_star(self):
        return self._solve_kkt().copy()

    def f(self, x):
        s = x[:-1] + x[1:]
        return float(s @ s)

    def grad(self, x):
        s = 2.0 * (x[:-1] + x[1:])
        g = np.zeros_like(x, dtype=np.float64)
        g[:-1] += s
        g[1:] += s
        return g

    def c(self, x):
        return x[:-2] + 2.0 * x[1:-1] + 3.0 * x[2:] - 1.0

    def jac(self, x):
        J = self._structure()[0]
        return J if self.sparse else J.toarray()

    def hess_lagrangian(self, x, lam):
        H = self._structure()[1]
        return spla.aslinearoperator(H) if self.sparse else H.toarray()

    def __repr__(self):
        return f"GENHS28(n={self.n}, sparse={self.sparse})"


class EqualityQP:
    """``min 1/2 x^T Q x + g^T x`` s.t. ``A x = b`` (data held as arrays; methods pickle)."""

    def __init__(self, Q, g, A, b):
        self.Q, self.g, self.A, self.b = Q, g, A, b

    def f(self, x):
        return float(0.5 * x @ (self.Q @ x) + self.g @ x)

    def grad(self, x):
        return self.Q @ x + self.g

    def c(self, x):
        return self.A @ x - self.b

    def jac(self, x):
        return self.A.copy()

    def hess_lagrangian(self, x, lam):
        return self.Q.copy()

    def solution(self):
        """``(x*, lam*)`` from the KKT system ``[Q A^T; A 0] [x; lam] = [-g; b]``."""
        n, m = self.A.shape[1], self.A.shape[0]
        K = np.block([[self.Q, self.A.T], [self.A, np.zeros((m, m))]])
        s = np.linalg.solve(K, np.concatenate([-self.g, self.b]))
        return s[:n], s[n:]


def equality_qp(n: int = 50, m: int = 10, *, seed: int = 0, cond: float = 100.0) -> EqualityConstrainedProblem:
    """A random strictly convex equality-constrained QP with its exact solution.

    ``Q = U diag(d) U^T`` with a random orthogonal ``U`` and eigenvalues ``d``
    spaced geometrically in ``[1, cond]``; ``A`` (``m x n``) and ``g`` standard
    Gaussian; ``b = A x_hat`` for a standard Gaussian ``x_hat``, so the
    constraints are consistent. Start ``x0 = 0``.

    Parameters
    ----------
    n, m : int
        Variables and constraints (``1 <= m < n``).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    cond : float
        Condition number of ``Q`` (>= 1).

    Returns
    -------
    EqualityConstrainedProblem
        With ``x_star`` and ``f_star`` from a dense solve of the KKT system.
    """
    n = _checks.count("n", n, minimum=2)
    m = _checks.count("m", m, minimum=1)
    if m >= n:
        raise ValueError(f"m must be smaller than n (m constraints on n variables), got m={m}, n={n}")
    cond = _checks.real_scalar("cond", cond)
    if not cond >= 1.0:
        raise ValueError(f"cond must be >= 1 (the condition number of Q), got {cond!r}")
    _checks.check_memory("equality_qp", 8.0 * 4 * n * n, "use a smaller n")
    rng = np.random.default_rng(_checks.count("seed", seed, minimum=0))
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    Q = (U * np.geomspace(1.0, cond, n)) @ U.T
    Q = 0.5 * (Q + Q.T)
    A, g = rng.standard_normal((m, n)), rng.standard_normal(n)
    b = A @ rng.standard_normal(n)
    qp = EqualityQP(Q, g, A, b)
    xs, _ = qp.solution()
    return EqualityConstrainedProblem(qp.f, qp.grad, qp.c, qp.jac, qp.hess_lagrangian, np.zeros(n),
                                      name=f"equality_qp(n={n}, m={m}, seed={seed})", f_star=qp.f(xs),
                                      x_star=xs, source="random convex QP; optimum from the KKT system")


class SphereProjection:
    """``min 1/2 |x - a|^2`` s.t. ``B x = 0`` and ``|x|^2 - 1 = 0`` (last constraint)."""

    def __init__(self, a, B):
        self.a, self.B = a, B

    def f(self, x):
        r = x - self.a
        return float(0.5 * r @ r)

    def grad(self, x):
        return x - self.a

    def c(self, x):
        return np.concatenate([self.B @ x, [x @ x - 1.0]])

    def jac(self, x):
        return np.vstack([self.B, 2.0 * x[None, :]])

    def hess_lagrangian(self, x, lam):
        return (1.0 + 2.0 * lam[-1]) * np.eye(x.size)

    def solution(self):
        """``x* = P a / |P a|`` with ``P`` the orthogonal projector on the null space of ``B``."""
        if self.B.shape[0] == 0:
            pa = self.a
        else:
            coef = np.linalg.lstsq(self.B.T, self.a, rcond=None)[0]
            pa = self.a - self.B.T @ coef
        return pa / np.linalg.norm(pa)


def sphere_projection(n: int = 50, m: int = 5, *, seed: int = 0) -> EqualityConstrainedProblem:
    """Project a point onto the unit sphere intersected with a random subspace.

    ``min 1/2 |x - a|^2`` s.t. ``B x = 0`` (``m - 1`` rows) and ``|x|^2 = 1``,
    with ``a`` and ``B`` standard Gaussian. The solution is unique (``P a != 0``
    with probability one): ``x* = P a / |P a|``, ``P`` the projector on the null
    space of ``B``. The start is ``x0 = P u / |P u| + 0.5 v`` for Gaussian ``u``,
    ``v`` (infeasible, but near the feasible set).

    Parameters
    ----------
    n : int
        Variables (>= 2).
    m : int
        Constraints: ``m - 1`` linear and the sphere (``1 <= m < n``).
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    EqualityConstrainedProblem
        With the closed-form ``x_star`` and ``f_star``.
    """
    n = _checks.count("n", n, minimum=2)
    m = _checks.count("m", m, minimum=1)
    if m >= n:
        raise ValueError(f"m must be smaller than n (m constraints on n variables), got m={m}, n={n}")
    _checks.check_memory("sphere_projection", 8.0 * 3 * n * n, "use a smaller n")
    rng = np.random.default_rng(_checks.count("seed", seed, minimum=0))
    a, B = rng.standard_normal(n), rng.standard_normal((m - 1, n))
    sp_ = SphereProjection(a, B)
    xs = sp_.solution()
    start = SphereProjection(rng.standard_normal(n), B).solution() + 0.5 * rng.standard_normal(n)
    return EqualityConstrainedProblem(sp_.f, sp_.grad, sp_.c, sp_.jac, sp_.hess_lagrangian, start,
                                      name=f"sphere_projection(n={n}, m={m}, seed={seed})", f_star=sp_.f(xs),
                                      x_star=xs, source="closed form: normalised projection on null(B)")
