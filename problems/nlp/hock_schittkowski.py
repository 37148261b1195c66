"""Equality-constrained problems of the Hock-Schittkowski collection, as in CUTEst.

Each class writes out one problem with hand-derived gradient, constraint
Jacobian and Lagrangian Hessian (``∇²f + Σ lam_i ∇²c_i``), the standard
starting point and the published optimum. Objective and constraint signs are
those of the CUTEst SIF files (``c(x) = 0`` with the constant moved to the
left), so the multipliers match a CUTEst run up to that convention.

References
----------
W. Hock and K. Schittkowski, *Test Examples for Nonlinear Programming Codes*,
Lecture Notes in Economics and Mathematical Systems 187, Springer, 1981.
N. I. M. Gould, D. Orban, Ph. L. Toint, "CUTEst: a Constrained and
Unconstrained Testing Environment with safe threads", Comput. Optim. Appl. 60
(2015) 545-557 (SIF files HS6.SIF, ...).
"""
from __future__ import annotations

import numpy as np

from ._spec import SQRT2, ProblemSpec, vec


def _hs(k: int) -> str:
    return f"Hock & Schittkowski (1981), problem {k}; CUTEst HS{k}.SIF"


class HS6(ProblemSpec):
    """``min (1 - x1)^2`` s.t. ``10 (x2 - x1^2) = 0``; ``f* = 0`` at ``(1, 1)``."""

    name, source, f_star = "HS6", _hs(6), 0.0

    def x0(self):
        return vec(-1.2, 1.0)

    def x_star(self):
        return vec(1.0, 1.0)

    def f(self, x):
        return (1.0 - x[0]) ** 2

    def grad(self, x):
        return vec(-2.0 * (1.0 - x[0]), 0.0)

    def c(self, x):
        return vec(10.0 * (x[1] - x[0] ** 2))

    def jac(self, x):
        return np.array([[-20.0 * x[0], 10.0]])

    def hess_lagrangian(self, x, lam):
        return np.array([[2.0 - 20.0 * lam[0], 0.0], [0.0, 0.0]])


class HS7(ProblemSpec):
    """``min log(1 + x1^2) - x2`` s.t. ``(1 + x1^2)^2 + x2^2 - 4 = 0``; ``f* = -sqrt(3)`` at ``(0, sqrt(3))``."""

    name, source, f_star = "HS7", _hs(7), -float(np.sqrt(3.0))

    def x0(self):
        return vec(2.0, 2.0)

    def x_star(self):
        return vec(0.0, np.sqrt(3.0))

    def f(self, x):
        return float(np.log1p(x[0] ** 2) - x[1])

    def grad(self, x):
        return vec(2.0 * x[0] / (1.0 + x[0] ** 2), -1.0)

    def c(self, x):
        return vec((1.0 + x[0] ** 2) ** 2 + x[1] ** 2 - 4.0)

    def jac(self, x):
        return np.array([[4.0 * x[0] * (1.0 + x[0] ** 2), 2.0 * x[1]]])

    def hess_lagrangian(self, x, lam):
        s = 1.0 + x[0] ** 2
        h11 = 2.0 * (1.0 - x[0] ** 2) / s ** 2 + lam[0] * (4.0 + 12.0 * x[0] ** 2)
        return np.array([[h11, 0.0], [0.0, 2.0 * lam[0]]])


class HS26(ProblemSpec):
    """``min (x1 - x2)^2 + (x2 - x3)^4`` s.t. ``(1 + x2^2) x1 + x3^4 - 3 = 0``; ``f* = 0`` at ``(1, 1, 1)``."""

    name, source, f_star = "HS26", _hs(26), 0.0

    def x0(self):
        return vec(-2.6, 2.0, 2.0)

    def x_star(self):
        return vec(1.0, 1.0, 1.0)

    def f(self, x):
        return (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4

    def grad(self, x):
        a, b = x[0] - x[1], x[1] - x[2]
        return vec(2.0 * a, -2.0 * a + 4.0 * b ** 3, -4.0 * b ** 3)

    def c(self, x):
        return vec((1.0 + x[1] ** 2) * x[0] + x[2] ** 4 - 3.0)

    def jac(self, x):
        return np.array([[1.0 + x[1] ** 2, 2.0 * x[0] * x[1], 4.0 * x[2] ** 3]])

    def hess_lagrangian(self, x, lam):
        q, mu = 12.0 * (x[1] - x[2]) ** 2, lam[0]
        return np.array([[2.0, -2.0 + 2.0 * mu * x[1], 0.0],
                         [-2.0 + 2.0 * mu * x[1], 2.0 + q + 2.0 * mu * x[0], -q],
                         [0.0, -q, q + 12.0 * mu * x[2] ** 2]])


class HS27(ProblemSpec):
    """``min 0.01 (x1 - 1)^2 + (x2 - x1^2)^2`` s.t. ``x1 + x3^2 + 1 = 0``; ``f* = 0.04`` at ``(-1, 1, 0)``."""

    name, source, f_star = "HS27", _hs(27), 0.04

    def x0(self):
        return vec(2.0, 2.0, 2.0)

    def x_star(self):
        return vec(-1.0, 1.0, 0.0)

    def f(self, x):
        return 0.01 * (x[0] - 1.0) ** 2 + (x[1] - x[0] ** 2) ** 2

    def grad(self, x):
        r = x[1] - x[0] ** 2
        return vec(0.02 * (x[0] - 1.0) - 4.0 * x[0] * r, 2.0 * r, 0.0)

    def c(self, x):
        return vec(x[0] + x[2] ** 2 + 1.0)

    def jac(self, x):
        return np.array([[1.0, 0.0, 2.0 * x[2]]])

    def hess_lagrangian(self, x, lam):
        return np.array([[0.02 - 4.0 * x[1] + 12.0 * x[0] ** 2, -4.0 * x[0], 0.0],
                         [-4.0 * x[0], 2.0, 0.0],
                         [0.0, 0.0, 2.0 * lam[0]]])


class HS28(ProblemSpec):
    """``min (x1 + x2)^2 + (x2 + x3)^2`` s.t. ``x1 + 2 x2 + 3 x3 - 1 = 0``; ``f* = 0`` at ``(1/2, -1/2, 1/2)``."""

    name, source, f_star = "HS28", _hs(28), 0.0

    def x0(self):
        return vec(-4.0, 1.0, 1.0)

    def x_star(self):
        return vec(0.5, -0.5, 0.5)

    def f(self, x):
        return (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2

    def grad(self, x):
        a, b = 2.0 * (x[0] + x[1]), 2.0 * (x[1] + x[2])
        return vec(a, a + b, b)

    def c(self, x):
        return vec(x[0] + 2.0 * x[1] + 3.0 * x[2] - 1.0)

    def jac(self, x):
        return np.array([[1.0, 2.0, 3.0]])

    def hess_lagrangian(self, x, lam):
        return np.array([[2.0, 2.0, 0.0], [2.0, 4.0, 2.0], [0.0, 2.0, 2.0]])


class HS40(ProblemSpec):
    """``min -x1 x2 x3 x4`` s.t. ``x1^3 + x2^2 = 1``, ``x1^2 x4 = x3``, ``x4^2 = x2``; ``f* = -1/4``."""

    name, source, f_star = "HS40", _hs(40), -0.25

    def x0(self):
        return np.full(4, 0.8)

    def x_star(self):
        return 2.0 ** -np.array([1.0 / 3.0, 0.5, 11.0 / 12.0, 0.25])

    def f(self, x):
        return -x[0] * x[1] * x[2] * x[3]

    def grad(self, x):
        a, b, c, d = x
        return -vec(b * c * d, a * c * d, a * b * d, a * b * c)

    def c(self, x):
        return vec(x[0] ** 3 + x[1] ** 2 - 1.0, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1])

    def jac(self, x):
        a, b, _, d = x
        return np.array([[3.0 * a * a, 2.0 * b, 0.0, 0.0],
                         [2.0 * a * d, 0.0, -1.0, a * a],
                         [0.0, -1.0, 0.0, 2.0 * d]])

    def hess_lagrangian(self, x, lam):
        a, b, c, d = x
        H = -np.array([[0.0, c * d, b * d, b * c],
                       [c * d, 0.0, a * d, a * c],
                       [b * d, a * d, 0.0, a * b],
                       [b * c, a * c, a * b, 0.0]])
        H[0, 0] += 6.0 * a * lam[0] + 2.0 * d * lam[1]
        H[1, 1] += 2.0 * lam[0]
        H[0, 3] += 2.0 * a * lam[1]
        H[3, 0] += 2.0 * a * lam[1]
        H[3, 3] += 2.0 * lam[2]
        return H


class HS42(ProblemSpec):
    """``min sum_i (x_i - i)^2`` s.t. ``x1 = 2``, ``x3^2 + x4^2 = 2``; ``f* = 28 - 10 sqrt(2)``."""

    name, source, f_star = "HS42", _hs(42), 28.0 - 10.0 * SQRT2

    def x0(self):
        return np.ones(4)

    def x_star(self):
        return vec(2.0, 2.0, 0.6 * SQRT2, 0.8 * SQRT2)

    def f(self, x):
        return float(np.sum((x - np.arange(1.0, 5.0)) ** 2))

    def grad(self, x):
        return 2.0 * (x - np.arange(1.0, 5.0))

    def c(self, x):
        return vec(x[0] - 2.0, x[2] ** 2 + x[3] ** 2 - 2.0)

    def jac(self, x):
        return np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0 * x[2], 2.0 * x[3]]])

    def hess_lagrangian(self, x, lam):
        return np.diag([2.0, 2.0, 2.0 + 2.0 * lam[1], 2.0 + 2.0 * lam[1]])


class HS47(ProblemSpec):
    """``min (x1-x2)^2 + (x2-x3)^3 + (x3-x4)^4 + (x4-x5)^4`` s.t. three polynomial equalities.

    The published solution ``x* = (1, 1, 1, 1, 1)``, ``f* = 0``, is a KKT point
    (with ``lam = 0``) whose reduced Hessian is singular; the cubic term
    decreases along a feasible curve through it, so a solver may go below 0.
    """

    name, source, f_star = "HS47", _hs(47), 0.0

    def x0(self):
        return vec(2.0, SQRT2, -1.0, 2.0 - SQRT2, 0.5)

    def x_star(self):
        return np.ones(5)

    def f(self, x):
        return (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 3 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4

    def grad(self, x):
        a, b, p, q = x[0] - x[1], x[1] - x[2], x[2] - x[3], x[3] - x[4]
        return vec(2.0 * a, -2.0 * a + 3.0 * b * b, -3.0 * b * b + 4.0 * p ** 3,
                   -4.0 * p ** 3 + 4.0 * q ** 3, -4.0 * q ** 3)

    def c(self, x):
        return vec(x[0] + x[1] ** 2 + x[2] ** 3 - 3.0, x[1] - x[2] ** 2 + x[3] - 1.0, x[0] * x[4] - 1.0)

    def jac(self, x):
        return np.array([[1.0, 2.0 * x[1], 3.0 * x[2] ** 2, 0.0, 0.0],
                         [0.0, 1.0, -2.0 * x[2], 1.0, 0.0],
                         [x[4], 0.0, 0.0, 0.0, x[0]]])

    def hess_lagrangian(self, x, lam):
        b, p, q = 6.0 * (x[1] - x[2]), 12.0 * (x[2] - x[3]) ** 2, 12.0 * (x[3] - x[4]) ** 2
        H = np.zeros((5, 5))
        H[0, 0], H[0, 1] = 2.0, -2.0
        H[1, 1], H[1, 2] = 2.0 + b + 2.0 * lam[0], -b
        H[2, 2], H[2, 3] = b + p + 6.0 * x[2] * lam[0] - 2.0 * lam[1], -p
        H[3, 3], H[3, 4] = p + q, -q
        H[4, 4] = q
        H[0, 4] = lam[2]
        return np.triu(H) + np.triu(H, 1).T


class HS48(ProblemSpec):
    """``min (x1-1)^2 + (x2-x3)^2 + (x4-x5)^2`` s.t. two linear equalities; ``f* = 0`` at ``x = 1``."""

    name, source, f_star = "HS48", _hs(48), 0.0
    _J = np.array([[1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, -2.0, -2.0]])
    _H = np.array([[2.0, 0, 0, 0, 0], [0, 2.0, -2.0, 0, 0], [0, -2.0, 2.0, 0, 0],
                   [0, 0, 0, 2.0, -2.0], [0, 0, 0, -2.0, 2.0]])

    def x0(self):
        return vec(3.0, 5.0, -3.0, 2.0, -2.0)

    def x_star(self):
        return np.ones(5)

    def f(self, x):
        return (x[0] - 1.0) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2

    def grad(self, x):
        b, d = 2.0 * (x[1] - x[2]), 2.0 * (x[3] - x[4])
        return vec(2.0 * (x[0] - 1.0), b, -b, d, -d)

    def c(self, x):
        return self._J @ x - vec(5.0, -3.0)

    def jac(self, x):
        return self._J.copy()

    def hess_lagrangian(self, x, lam):
        return self._H.copy()


class _HS51Family(ProblemSpec):
    """``min (w x1 - x2)^2 + (x2 + x3 - 2)^2 + (x4 - 1)^2 + (x5 - 1)^2`` s.t. three linear equalities
    ``x1 + 3 x2 = r``, ``x3 + x4 - 2 x5 = 0``, ``x2 - x5 = 0`` (HS51: w = 1, r = 4; HS52: w = 4, r = 0;
    BT3: w = 1, r = 0)."""

    w, r = 1.0, 4.0
    _J = np.array([[1.0, 3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, -2.0], [0.0, 1.0, 0.0, 0.0, -1.0]])

    def f(self, x):
        return (self.w * x[0] - x[1]) ** 2 + (x[1] + x[2] - 2.0) ** 2 + (x[3] - 1.0) ** 2 + (x[4] - 1.0) ** 2

    def grad(self, x):
        a, b = 2.0 * (self.w * x[0] - x[1]), 2.0 * (x[1] + x[2] - 2.0)
        return vec(self.w * a, -a + b, b, 2.0 * (x[3] - 1.0), 2.0 * (x[4] - 1.0))

    def c(self, x):
        return self._J @ x - vec(self.r, 0.0, 0.0)

    def jac(self, x):
        return self._J.copy()

    def hess_lagrangian(self, x, lam):
        w = self.w
        return np.array([[2.0 * w * w, -2.0 * w, 0, 0, 0], [-2.0 * w, 4.0, 2.0, 0, 0], [0, 2.0, 2.0, 0, 0],
                         [0, 0, 0, 2.0, 0], [0, 0, 0, 0, 2.0]])


class HS51(_HS51Family):
    """HS51: ``w = 1``, ``x1 + 3 x2 = 4``; ``f* = 0`` at ``x = 1``."""

    name, source, f_star = "HS51", _hs(51), 0.0
    w, r = 1.0, 4.0

    def x0(self):
        return vec(2.5, 0.5, 2.0, -1.0, 0.5)

    def x_star(self):
        return np.ones(5)


class HS52(_HS51Family):
    """HS52: ``w = 4``, ``x1 + 3 x2 = 0``; ``f* = 1859/349`` at ``(-33, 11, 180, -158, 11)/349``."""

    name, source, f_star = "HS52", _hs(52), 1859.0 / 349.0
    w, r = 4.0, 0.0

    def x0(self):
        return np.full(5, 2.0)

    def x_star(self):
        return vec(-33.0, 11.0, 180.0, -158.0, 11.0) / 349.0


class HS56(ProblemSpec):
    """``min -x1 x2 x3`` s.t. ``x_i = 4.2 sin^2 x_{i+3}`` (i = 1, 2, 3), ``x1 + 2 x2 + 2 x3 = 7.2 sin^2 x7``;
    ``f* = -3.456`` at ``x1 = 2.4``, ``x2 = x3 = 1.2``."""

    name, source, f_star = "HS56", _hs(56), -3.456

    def x0(self):
        a, b = np.arcsin(np.sqrt(1.0 / 4.2)), np.arcsin(np.sqrt(5.0 / 7.2))
        return vec(1.0, 1.0, 1.0, a, a, a, b)

    def x_star(self):
        return vec(2.4, 1.2, 1.2, np.arcsin(np.sqrt(4.0 / 7.0)), np.arcsin(np.sqrt(2.0 / 7.0)),
                   np.arcsin(np.sqrt(2.0 / 7.0)), 0.5 * np.pi)

    def f(self, x):
        return -x[0] * x[1] * x[2]

    def grad(self, x):
        g = np.zeros(7)
        g[:3] = -vec(x[1] * x[2], x[0] * x[2], x[0] * x[1])
        return g

    def c(self, x):
        s2 = np.sin(x[3:]) ** 2
        return vec(x[0] - 4.2 * s2[0], x[1] - 4.2 * s2[1], x[2] - 4.2 * s2[2],
                   x[0] + 2.0 * x[1] + 2.0 * x[2] - 7.2 * s2[3])

    def jac(self, x):
        d = np.sin(2.0 * x[3:])  # d/dt sin^2 t = sin 2t
        J = np.zeros((4, 7))
        for i in range(3):
            J[i, i], J[i, i + 3] = 1.0, -4.2 * d[i]
        J[3, :3], J[3, 6] = (1.0, 2.0, 2.0), -7.2 * d[3]
        return J

    def hess_lagrangian(self, x, lam):
        H = np.zeros((7, 7))
        H[:3, :3] = -np.array([[0.0, x[2], x[1]], [x[2], 0.0, x[0]], [x[1], x[0], 0.0]])
        dd = 2.0 * np.cos(2.0 * x[3:])  # d2/dt2 sin^2 t = 2 cos 2t
        for i in range(3):
            H[i + 3, i + 3] = -4.2 * dd[i] * lam[i]
        H[6, 6] = -7.2 * dd[3] * lam[3]
        return H


class HS77(ProblemSpec):
    """``min (x1-1)^2 + (x1-x2)^2 + (x3-1)^2 + (x4-1)^4 + (x5-1)^6`` s.t.
    ``x1^2 x4 + sin(x4 - x5) = 2 sqrt(2)``, ``x2 + x3^4 x4^2 = 8 + sqrt(2)``; ``f* = 0.24150513``."""

    name, source, f_star = "HS77", _hs(77), 0.24150513

    def x0(self):
        return np.full(5, 2.0)

    def x_star(self):  # as published (7 digits)
        return vec(1.166172, 1.182111, 1.380257, 1.506036, 0.6109203)

    def f(self, x):
        return (x[0] - 1.0) ** 2 + (x[0] - x[1]) ** 2 + (x[2] - 1.0) ** 2 + (x[3] - 1.0) ** 4 + (x[4] - 1.0) ** 6

    def grad(self, x):
        return vec(2.0 * (x[0] - 1.0) + 2.0 * (x[0] - x[1]), -2.0 * (x[0] - x[1]), 2.0 * (x[2] - 1.0),
                   4.0 * (x[3] - 1.0) ** 3, 6.0 * (x[4] - 1.0) ** 5)

    def c(self, x):
        return vec(x[0] ** 2 * x[3] + np.sin(x[3] - x[4]) - 2.0 * SQRT2,
                   x[1] + x[2] ** 4 * x[3] ** 2 - 8.0 - SQRT2)

    def jac(self, x):
        cs = np.cos(x[3] - x[4])
        return np.array([[2.0 * x[0] * x[3], 0.0, 0.0, x[0] ** 2 + cs, -cs],
                         [0.0, 1.0, 4.0 * x[2] ** 3 * x[3] ** 2, 2.0 * x[2] ** 4 * x[3], 0.0]])

    def hess_lagrangian(self, x, lam):
        s, (l1, l2) = np.sin(x[3] - x[4]), lam
        H = np.zeros((5, 5))
        H[0, 0], H[0, 1], H[1, 1], H[2, 2] = 4.0 + 2.0 * x[3] * l1, -2.0, 2.0, 2.0 + 12.0 * x[2] ** 2 * x[3] ** 2 * l2
        H[3, 3] = 12.0 * (x[3] - 1.0) ** 2 - s * l1 + 2.0 * x[2] ** 4 * l2
        H[4, 4] = 30.0 * (x[4] - 1.0) ** 4 - s * l1
        H[0, 3] = 2.0 * x[0] * l1
        H[3, 4] = s * l1
        H[2, 3] = 8.0 * x[2] ** 3 * x[3] * l2
        return np.triu(H) + np.triu(H, 1).T


class HS78(ProblemSpec):
    """``min x1 x2 x3 x4 x5`` s.t. ``|x|^2 = 10``, ``x2 x3 = 5 x4 x5``, ``x1^3 + x2^3 = -1``;
    ``f* = -2.91970041``."""

    name, source, f_star = "HS78", _hs(78), -2.91970041

    def x0(self):
        return vec(-2.0, 1.5, 2.0, -1.0, -1.0)

    def x_star(self):  # as published (7 digits)
        return vec(-1.717143, 1.595709, 1.827247, -0.7636413, -0.7636450)

    def f(self, x):
        return float(np.prod(x))

    def grad(self, x):
        return np.array([np.prod(np.delete(x, i)) for i in range(5)])

    def c(self, x):
        return vec(x @ x - 10.0, x[1] * x[2] - 5.0 * x[3] * x[4], x[0] ** 3 + x[1] ** 3 + 1.0)

    def jac(self, x):
        return np.array([2.0 * x,
                         [0.0, x[2], x[1], -5.0 * x[4], -5.0 * x[3]],
                         [3.0 * x[0] ** 2, 3.0 * x[1] ** 2, 0.0, 0.0, 0.0]])

    def hess_lagrangian(self, x, lam):
        H = np.zeros((5, 5))
        for i in range(5):
            for j in range(i + 1, 5):
                H[i, j] = H[j, i] = np.prod(np.delete(x, [i, j]))
        H += 2.0 * lam[0] * np.eye(5)
        H[1, 2] += lam[1]
        H[2, 1] += lam[1]
        H[3, 4] -= 5.0 * lam[1]
        H[4, 3] -= 5.0 * lam[1]
        H[0, 0] += 6.0 * x[0] * lam[2]
        H[1, 1] += 6.0 * x[1] * lam[2]
        return H
