"""More equality-constrained Hock-Schittkowski problems (HS39, HS46, HS49, HS50, HS61, HS79).

Same conventions as :mod:`problems.nlp.hock_schittkowski`: the CUTEst
equality-only forms, hand-derived derivatives, standard starts and the
published optima of Hock & Schittkowski (1981).

References
----------
W. Hock and K. Schittkowski, *Test Examples for Nonlinear Programming Codes*,
Lecture Notes in Economics and Mathematical Systems 187, Springer, 1981.
"""
from __future__ import annotations

import numpy as np

from ._spec import SQRT2, ProblemSpec, vec
from .boggs_tolle import BT9
from .hock_schittkowski import _hs


class HS39(BT9):
    """``min -x1`` s.t. ``x2 - x1^3 - x3^2 = 0``, ``x1^2 - x2 - x4^2 = 0``; ``f* = -1`` (the same problem as BT9)."""

    name, source, f_star = "HS39", _hs(39), -1.0


class HS46(ProblemSpec):
    """``min (x1-x2)^2 + (x3-1)^2 + (x4-1)^4 + (x5-1)^6`` s.t. ``x1^2 x4 + sin(x4 - x5) = 1``,
    ``x2 + x3^4 x4^2 = 2``; ``f* = 0`` at ``x = 1``."""

    name, source, f_star = "HS46", _hs(46), 0.0

    def x0(self):
        return vec(0.5 * SQRT2, 1.75, 0.5, 2.0, 2.0)

    def x_star(self):
        return np.ones(5)

    def f(self, x):
        return (x[0] - x[1]) ** 2 + (x[2] - 1.0) ** 2 + (x[3] - 1.0) ** 4 + (x[4] - 1.0) ** 6

    def grad(self, x):
        a = 2.0 * (x[0] - x[1])
        return vec(a, -a, 2.0 * (x[2] - 1.0), 4.0 * (x[3] - 1.0) ** 3, 6.0 * (x[4] - 1.0) ** 5)

    def c(self, x):
        return vec(x[0] ** 2 * x[3] + np.sin(x[3] - x[4]) - 1.0, x[1] + x[2] ** 4 * x[3] ** 2 - 2.0)

    def jac(self, x):
        cs = np.cos(x[3] - x[4])
        return np.array([[2.0 * x[0] * x[3], 0.0, 0.0, x[0] ** 2 + cs, -cs],
                         [0.0, 1.0, 4.0 * x[2] ** 3 * x[3] ** 2, 2.0 * x[2] ** 4 * x[3], 0.0]])

    def hess_lagrangian(self, x, lam):
        s, (l1, l2) = np.sin(x[3] - x[4]), lam
        H = np.zeros((5, 5))
        H[0, 0], H[0, 1], H[1, 1] = 2.0 + 2.0 * x[3] * l1, -2.0, 2.0
        H[2, 2] = 2.0 + 12.0 * x[2] ** 2 * x[3] ** 2 * l2
        H[3, 3] = 12.0 * (x[3] - 1.0) ** 2 - s * l1 + 2.0 * x[2] ** 4 * l2
        H[4, 4] = 30.0 * (x[4] - 1.0) ** 4 - s * l1
        H[0, 3], H[3, 4], H[2, 3] = 2.0 * x[0] * l1, s * l1, 8.0 * x[2] ** 3 * x[3] * l2
        return np.triu(H) + np.triu(H, 1).T


class HS49(ProblemSpec):
    """``min (x1-x2)^2 + (x3-1)^2 + (x4-1)^4 + (x5-1)^6`` s.t. ``x1 + x2 + x3 + 4 x4 = 7``,
    ``x3 + 5 x5 = 6``; ``f* = 0`` at ``x = 1``."""

    name, source, f_star = "HS49", _hs(49), 0.0
    _J = np.array([[1.0, 1.0, 1.0, 4.0, 0.0], [0.0, 0.0, 1.0, 0.0, 5.0]])

    def x0(self):
        return vec(10.0, 7.0, 2.0, -3.0, 0.8)

    def x_star(self):
        return np.ones(5)

    def f(self, x):
        return (x[0] - x[1]) ** 2 + (x[2] - 1.0) ** 2 + (x[3] - 1.0) ** 4 + (x[4] - 1.0) ** 6

    def grad(self, x):
        a = 2.0 * (x[0] - x[1])
        return vec(a, -a, 2.0 * (x[2] - 1.0), 4.0 * (x[3] - 1.0) ** 3, 6.0 * (x[4] - 1.0) ** 5)

    def c(self, x):
        return self._J @ x - vec(7.0, 6.0)

    def jac(self, x):
        return self._J.copy()

    def hess_lagrangian(self, x, lam):
        H = np.diag([2.0, 2.0, 2.0, 12.0 * (x[3] - 1.0) ** 2, 30.0 * (x[4] - 1.0) ** 4])
        H[0, 1] = H[1, 0] = -2.0
        return H


class HS50(ProblemSpec):
    """``min (x1-x2)^2 + (x2-x3)^2 + (x3-x4)^4 + (x4-x5)^2`` s.t. ``x_i + 2 x_{i+1} + 3 x_{i+2} = 6``
    (i = 1, 2, 3); ``f* = 0`` at ``x = 1``."""

    name, source, f_star = "HS50", _hs(50), 0.0
    _J = np.array([[1.0, 2.0, 3.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 1.0, 2.0, 3.0]])

    def x0(self):
        return vec(35.0, -31.0, 11.0, 5.0, -5.0)

    def x_star(self):
        return np.ones(5)

    def f(self, x):
        return (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 2

    def grad(self, x):
        a, b, p, q = 2.0 * (x[0] - x[1]), 2.0 * (x[1] - x[2]), 4.0 * (x[2] - x[3]) ** 3, 2.0 * (x[3] - x[4])
        return vec(a, -a + b, -b + p, -p + q, -q)

    def c(self, x):
        return self._J @ x - 6.0

    def jac(self, x):
        return self._J.copy()

    def hess_lagrangian(self, x, lam):
        p = 12.0 * (x[2] - x[3]) ** 2
        H = np.diag([2.0, 4.0, 2.0 + p, p + 2.0, 2.0])
        H[0, 1] = H[1, 0] = -2.0
        H[1, 2] = H[2, 1] = -2.0
        H[2, 3] = H[3, 2] = -p
        H[3, 4] = H[4, 3] = -2.0
        return H


class HS61(ProblemSpec):
    """``min 4 x1^2 + 2 x2^2 + 2 x3^2 - 33 x1 + 16 x2 - 24 x3`` s.t. ``3 x1 - 2 x2^2 = 7``,
    ``4 x1 - x3^2 = 11``; ``f* = -143.6461422``.

    The standard start ``x0 = 0`` is a point where ``J(x0)`` has rank 1 (no
    constraint qualification): SLSQP stops there, trust-constr gets through.
    """

    name, source, f_star = "HS61", _hs(61), -143.6461422

    def x0(self):
        return np.zeros(3)

    def x_star(self):  # as published (7 digits)
        return vec(5.326770, -2.118998, 3.210464)

    def f(self, x):
        return 4.0 * x[0] ** 2 + 2.0 * x[1] ** 2 + 2.0 * x[2] ** 2 - 33.0 * x[0] + 16.0 * x[1] - 24.0 * x[2]

    def grad(self, x):
        return vec(8.0 * x[0] - 33.0, 4.0 * x[1] + 16.0, 4.0 * x[2] - 24.0)

    def c(self, x):
        return vec(3.0 * x[0] - 2.0 * x[1] ** 2 - 7.0, 4.0 * x[0] - x[2] ** 2 - 11.0)

    def jac(self, x):
        return np.array([[3.0, -4.0 * x[1], 0.0], [4.0, 0.0, -2.0 * x[2]]])

    def hess_lagrangian(self, x, lam):
        return np.diag([8.0, 4.0 - 4.0 * lam[0], 4.0 - 2.0 * lam[1]])


class HS79(ProblemSpec):
    """``min (x1-1)^2 + (x1-x2)^2 + (x2-x3)^2 + (x3-x4)^4 + (x4-x5)^4`` s.t.
    ``x1 + x2^2 + x3^3 = 2 + 3 sqrt(2)``, ``x2 - x3^2 + x4 = 2 sqrt(2) - 2``, ``x1 x5 = 2``;
    ``f* = 0.0787768209``."""

    name, source, f_star = "HS79", _hs(79), 0.0787768209

    def x0(self):
        return np.full(5, 2.0)

    def x_star(self):  # as published (7 digits)
        return vec(1.191127, 1.362603, 1.472818, 1.635017, 1.679081)

    def f(self, x):
        return ((x[0] - 1.0) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2
                + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4)

    def grad(self, x):
        a, b = 2.0 * (x[0] - x[1]), 2.0 * (x[1] - x[2])
        p, q = 4.0 * (x[2] - x[3]) ** 3, 4.0 * (x[3] - x[4]) ** 3
        return vec(2.0 * (x[0] - 1.0) + a, -a + b, -b + p, -p + q, -q)

    def c(self, x):
        return vec(x[0] + x[1] ** 2 + x[2] ** 3 - 2.0 - 3.0 * SQRT2,
                   x[1] - x[2] ** 2 + x[3] + 2.0 - 2.0 * SQRT2,
                   x[0] * x[4] - 2.0)

    def jac(self, x):
        return np.array([[1.0, 2.0 * x[1], 3.0 * x[2] ** 2, 0.0, 0.0],
                         [0.0, 1.0, -2.0 * x[2], 1.0, 0.0],
                         [x[4], 0.0, 0.0, 0.0, x[0]]])

    def hess_lagrangian(self, x, lam):
        p, q = 12.0 * (x[2] - x[3]) ** 2, 12.0 * (x[3] - x[4]) ** 2
        H = np.zeros((5, 5))
        H[0, 0], H[0, 1] = 4.0, -2.0
        H[1, 1], H[1, 2] = 4.0 + 2.0 * lam[0], -2.0
        H[2, 2], H[2, 3] = 2.0 + p + 6.0 * x[2] * lam[0] - 2.0 * lam[1], -p
        H[3, 3], H[3, 4] = p + q, -q
        H[4, 4] = q
        H[0, 4] = lam[2]
        return np.triu(H) + np.triu(H, 1).T
