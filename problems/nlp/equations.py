"""Square linear systems from CUTEst posed as equality-constrained problems with a zero objective.

CUTEst classifies BOOTH and HIMMELBA as ``NLR2`` (no objective, linear
constraints): solving the constraints is the whole problem, ``f* = 0``. They
check that a constrained solver handles ``grad f = 0`` and a zero Hessian.

References
----------
A. R. Buckley, "Test functions for unconstrained minimization", TR 1989CS-3,
Dalhousie University, 1989 (problem 36: Booth); D. H. Himmelblau, *Applied
Nonlinear Programming*, McGraw-Hill, 1972 (problem 25). CUTEst BOOTH.SIF and
HIMMELBA.SIF (Ph. Toint, 1989).
"""
from __future__ import annotations

import numpy as np

from ._spec import ProblemSpec, vec


class _ZeroObjective(ProblemSpec):
    """``f = 0`` subject to ``A x = b``."""

    A = np.eye(2)
    b = np.zeros(2)
    f_star = 0.0

    def x_star(self):
        return np.linalg.solve(self.A, self.b)

    def f(self, x):
        return 0.0

    def grad(self, x):
        return np.zeros(x.size)

    def c(self, x):
        return self.A @ x - self.b

    def jac(self, x):
        return self.A.copy()

    def hess_lagrangian(self, x, lam):
        return np.zeros((x.size, x.size))


class BOOTH(_ZeroObjective):
    """``x1 + 2 x2 = 7``, ``2 x1 + x2 = 5`` from ``(0, 0)``; solution ``(1, 3)``, ``f* = 0``."""

    name, source = "BOOTH", "Buckley (1989), problem 36 (Booth); CUTEst BOOTH.SIF (NLR2-AN-2-2)"
    A = np.array([[1.0, 2.0], [2.0, 1.0]])
    b = vec(7.0, 5.0)

    def x0(self):
        return vec(0.0, 0.0)


class HIMMELBA(_ZeroObjective):
    """``(x1 - 5) / 0.25 = 0``, ``x2 - 6 = 0`` from ``(8, 9)``; solution ``(5, 6)``, ``f* = 0``.

    The first constraint carries the SIF group scale 0.25 (a group is divided
    by its scale), so its row of the Jacobian is ``(4, 0)``.
    """

    name, source = "HIMMELBA", "Himmelblau (1972), problem 25; CUTEst HIMMELBA.SIF (NLR2-AN-2-2)"
    A = np.array([[4.0, 0.0], [0.0, 1.0]])
    b = vec(20.0, 6.0)

    def x0(self):
        return vec(8.0, 9.0)
