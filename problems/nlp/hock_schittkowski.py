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
