"""The Boggs-Tolle test problems (BT2, BT3, BT6, BT9-BT12) in their CUTEst equality-constrained form.

Each class writes out one problem from its CUTEst SIF file (objective groups,
constraint constants and start point as there), with hand-derived gradient,
constraint Jacobian and Lagrangian Hessian and the ``SOLTN`` value of the
SIF file as ``f_star``. Where the SIF form differs from the paper (BT10 fixes
a sign, BT6 and BT11 are not HS77 and HS79) the SIF form is the one written.

References
----------
P. T. Boggs and J. W. Tolle, "A strategy for global convergence in a
sequential quadratic programming algorithm", SIAM J. Numer. Anal. 26 (1989)
600-623. CUTEst SIF files BT2.SIF, ..., BT12.SIF (Ph. Toint, 1993).
"""
from __future__ import annotations

import numpy as np

from ._spec import SQRT2, ProblemSpec, vec


def _bt(k: int, note: str = "") -> str:
    return f"Boggs & Tolle (1989), problem {k}; CUTEst BT{k}.SIF{note}"


class BT2(ProblemSpec):
    """``min (x1-1)^2 + (x1-x2)^2 + (x2-x3)^4`` s.t. ``x1 (1 + x2^2) + x3^4 = 8.2426407``; ``f* = 0.0325682``.

    The constant is the SIF file's ``8.2426407`` (``4 + 3 sqrt(2)`` rounded).
    """

    name, source, f_star = "BT2", _bt(2), 0.032568200

    def x0(self):
        return np.full(3, 10.0)

    def f(self, x):
        return (x[0] - 1.0) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4

    def grad(self, x):
        a, u3 = x[0] - x[1], 4.0 * (x[1] - x[2]) ** 3
        return vec(2.0 * (x[0] - 1.0) + 2.0 * a, -2.0 * a + u3, -u3)

    def c(self, x):
        return vec(x[0] * (1.0 + x[1] ** 2) + x[2] ** 4 - 8.2426407)

    def jac(self, x):
        return np.array([[1.0 + x[1] ** 2, 2.0 * x[0] * x[1], 4.0 * x[2] ** 3]])

    def hess_lagrangian(self, x, lam):
        q, mu = 12.0 * (x[1] - x[2]) ** 2, lam[0]
        return np.array([[4.0, -2.0 + 2.0 * mu * x[1], 0.0],
                         [-2.0 + 2.0 * mu * x[1], 2.0 + q + 2.0 * mu * x[0], -q],
                         [0.0, -q, q + 12.0 * mu * x[2] ** 2]])


class BT3(ProblemSpec):
    """``min (x1-x2)^2 + (x2+x3-2)^2 + (x4-1)^2 + (x5-1)^2`` s.t. ``x1 + 3 x2 = 0``, ``x3 + x4 = 2 x5``,
    ``x2 = x5``; a convex QP with ``f* = 176/43 = 4.09302326`` (SIF: 4.09301056).

    The SIF file's ``SOLTN 4.09301056`` is off in the sixth digit; the exact
    value, from the KKT system of this QP, is ``176/43`` at
    ``x* = (-99, 33, 81, -15, 33)/129`` (checked against SciPy in the tests).
    """

    name, source = "BT3", _bt(3, " (SIF SOLTN 4.09301056; exact QP optimum 176/43 used)")
    f_star = 176.0 / 43.0
    _J = np.array([[1.0, 3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, -2.0], [0.0, 1.0, 0.0, 0.0, -1.0]])

    def x0(self):
        return np.full(5, 20.0)

    def x_star(self):
        return vec(-99.0, 33.0, 81.0, -15.0, 33.0) / 129.0

    def f(self, x):
        return (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2.0) ** 2 + (x[3] - 1.0) ** 2 + (x[4] - 1.0) ** 2

    def grad(self, x):
        a, b = 2.0 * (x[0] - x[1]), 2.0 * (x[1] + x[2] - 2.0)
        return vec(a, -a + b, b, 2.0 * (x[3] - 1.0), 2.0 * (x[4] - 1.0))

    def c(self, x):
        return self._J @ x

    def jac(self, x):
        return self._J.copy()

    def hess_lagrangian(self, x, lam):
        return np.array([[2.0, -2.0, 0, 0, 0], [-2.0, 4.0, 2.0, 0, 0], [0, 2.0, 2.0, 0, 0],
                         [0, 0, 0, 2.0, 0], [0, 0, 0, 0, 2.0]])


class BT6(ProblemSpec):
    """HS77's objective with ``x1^2 x4 + sin(x4 - x5) = 2 sqrt(2)``, ``x2 + x2^2 x3^4 = 8 + sqrt(2)``;
    ``f* = 0.277044924``.

    ``f_star`` is the SIF file's value; SLSQP and trust-constr both end at
    ``0.2770447888`` (relative difference 5e-7), so trust it to 6 digits.
    """

    name, source, f_star = "BT6", _bt(6), 0.277044924

    def x0(self):
        return np.full(5, 2.0)

    def f(self, x):
        return (x[0] - 1.0) ** 2 + (x[0] - x[1]) ** 2 + (x[2] - 1.0) ** 2 + (x[3] - 1.0) ** 4 + (x[4] - 1.0) ** 6

    def grad(self, x):
        return vec(2.0 * (x[0] - 1.0) + 2.0 * (x[0] - x[1]), -2.0 * (x[0] - x[1]), 2.0 * (x[2] - 1.0),
                   4.0 * (x[3] - 1.0) ** 3, 6.0 * (x[4] - 1.0) ** 5)

    def c(self, x):
        return vec(x[0] ** 2 * x[3] + np.sin(x[3] - x[4]) - 2.0 * SQRT2,
                   x[1] + x[1] ** 2 * x[2] ** 4 - 8.0 - SQRT2)

    def jac(self, x):
        cs = np.cos(x[3] - x[4])
        return np.array([[2.0 * x[0] * x[3], 0.0, 0.0, x[0] ** 2 + cs, -cs],
                         [0.0, 1.0 + 2.0 * x[1] * x[2] ** 4, 4.0 * x[1] ** 2 * x[2] ** 3, 0.0, 0.0]])

    def hess_lagrangian(self, x, lam):
        s, (l1, l2) = np.sin(x[3] - x[4]), lam
        H = np.zeros((5, 5))
        H[0, 0], H[0, 1], H[1, 1] = 4.0 + 2.0 * x[3] * l1, -2.0, 2.0 + 2.0 * x[2] ** 4 * l2
        H[2, 2] = 2.0 + 12.0 * x[1] ** 2 * x[2] ** 2 * l2
        H[1, 2] = 8.0 * x[1] * x[2] ** 3 * l2
        H[3, 3] = 12.0 * (x[3] - 1.0) ** 2 - s * l1
        H[4, 4] = 30.0 * (x[4] - 1.0) ** 4 - s * l1
        H[0, 3], H[3, 4] = 2.0 * x[0] * l1, s * l1
        return np.triu(H) + np.triu(H, 1).T


class BT9(ProblemSpec):
    """``min -x1`` s.t. ``x2 - x1^3 - x3^2 = 0``, ``x1^2 - x2 - x4^2 = 0`` (also HS39);
    ``f* = -1`` at ``(1, 1, 0, 0)``."""

    name, source, f_star = "BT9", _bt(9, "; = Hock & Schittkowski problem 39"), -1.0

    def x0(self):
        return np.full(4, 2.0)

    def x_star(self):
        return vec(1.0, 1.0, 0.0, 0.0)

    def f(self, x):
        return -float(x[0])

    def grad(self, x):
        return vec(-1.0, 0.0, 0.0, 0.0)

    def c(self, x):
        return vec(x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2)

    def jac(self, x):
        return np.array([[-3.0 * x[0] ** 2, 1.0, -2.0 * x[2], 0.0], [2.0 * x[0], -1.0, 0.0, -2.0 * x[3]]])

    def hess_lagrangian(self, x, lam):
        return np.diag([-6.0 * x[0] * lam[0] + 2.0 * lam[1], 0.0, -2.0 * lam[0], -2.0 * lam[1]])


class BT10(ProblemSpec):
    """``min -x1`` s.t. ``x2 - x1^3 = 0``, ``x1^2 - x2 = 0`` (SIF sign fix of the paper); ``f* = -1`` at ``(1, 1)``."""

    name, source, f_star = "BT10", _bt(10, " (sign of x2 in the second constraint as in the SIF file)"), -1.0

    def x0(self):
        return vec(2.0, 2.0)

    def x_star(self):
        return vec(1.0, 1.0)

    def f(self, x):
        return -float(x[0])

    def grad(self, x):
        return vec(-1.0, 0.0)

    def c(self, x):
        return vec(x[1] - x[0] ** 3, x[0] ** 2 - x[1])

    def jac(self, x):
        return np.array([[-3.0 * x[0] ** 2, 1.0], [2.0 * x[0], -1.0]])

    def hess_lagrangian(self, x, lam):
        return np.array([[-6.0 * x[0] * lam[0] + 2.0 * lam[1], 0.0], [0.0, 0.0]])


class BT11(ProblemSpec):
    """``min (x1-1)^2 + (x1-x2)^2 + (x2-x3)^2 + (x3-x4)^4 + (x4-x5)^4`` s.t.
    ``x1 + x2^2 + x3^3 = 3 sqrt(2) - 2``, ``x2 - x3^2 + x4 = 2 sqrt(2) - 2``, ``x1 - x5 = 2``;
    ``f* = 0.824891647``.

    ``f_star`` is the SIF file's value; SLSQP and trust-constr both end at
    ``0.8248917783`` (relative difference 2e-7).
    """

    name, source, f_star = "BT11", _bt(11), 0.824891647

    def x0(self):
        return np.full(5, 2.0)

    def f(self, x):
        return ((x[0] - 1.0) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2
                + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4)

    def grad(self, x):
        a, b = 2.0 * (x[0] - x[1]), 2.0 * (x[1] - x[2])
        p, q = 4.0 * (x[2] - x[3]) ** 3, 4.0 * (x[3] - x[4]) ** 3
        return vec(2.0 * (x[0] - 1.0) + a, -a + b, -b + p, -p + q, -q)

    def c(self, x):
        return vec(x[0] + x[1] ** 2 + x[2] ** 3 - (3.0 * SQRT2 - 2.0),
                   x[1] - x[2] ** 2 + x[3] - (2.0 * SQRT2 - 2.0),
                   x[0] - x[4] - 2.0)

    def jac(self, x):
        return np.array([[1.0, 2.0 * x[1], 3.0 * x[2] ** 2, 0.0, 0.0],
                         [0.0, 1.0, -2.0 * x[2], 1.0, 0.0],
                         [1.0, 0.0, 0.0, 0.0, -1.0]])

    def hess_lagrangian(self, x, lam):
        p, q = 12.0 * (x[2] - x[3]) ** 2, 12.0 * (x[3] - x[4]) ** 2
        H = np.zeros((5, 5))
        H[0, 0], H[0, 1] = 4.0, -2.0
        H[1, 1], H[1, 2] = 4.0 + 2.0 * lam[0], -2.0
        H[2, 2], H[2, 3] = 2.0 + p + 6.0 * x[2] * lam[0] - 2.0 * lam[1], -p
        H[3, 3], H[3, 4] = p + q, -q
        H[4, 4] = q
        return np.triu(H) + np.triu(H, 1).T


class BT12(ProblemSpec):
    """``min 0.01 x1^2 + x2^2`` s.t. ``x1 + x2 - x3^2 = 25``, ``x1^2 + x2^2 - x4^2 = 25``, ``x1 - x5^2 = 2``
    (inequalities of the paper with squared slacks); ``f* = 625/101 = 6.18811881``."""

    name, source, f_star = "BT12", _bt(12), 625.0 / 101.0

    def x0(self):
        return vec(15.811, 1.5811, 0.0, 15.083, 3.7164)

    def x_star(self):
        x1, x2 = 2500.0 / 101.0, 25.0 / 101.0
        return vec(x1, x2, 0.0, np.sqrt(x1 * x1 + x2 * x2 - 25.0), np.sqrt(x1 - 2.0))

    def f(self, x):
        return 0.01 * x[0] ** 2 + x[1] ** 2

    def grad(self, x):
        return vec(0.02 * x[0], 2.0 * x[1], 0.0, 0.0, 0.0)

    def c(self, x):
        return vec(x[0] + x[1] - x[2] ** 2 - 25.0, x[0] ** 2 + x[1] ** 2 - x[3] ** 2 - 25.0, x[0] - x[4] ** 2 - 2.0)

    def jac(self, x):
        return np.array([[1.0, 1.0, -2.0 * x[2], 0.0, 0.0],
                         [2.0 * x[0], 2.0 * x[1], 0.0, -2.0 * x[3], 0.0],
                         [1.0, 0.0, 0.0, 0.0, -2.0 * x[4]]])

    def hess_lagrangian(self, x, lam):
        return np.diag([0.02 + 2.0 * lam[1], 2.0 + 2.0 * lam[1], -2.0 * lam[0], -2.0 * lam[1], -2.0 * lam[2]])
