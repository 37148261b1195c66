"""The base class of the built-in test problems: a picklable bundle of derivative methods plus metadata.

Each built-in problem is a module-level subclass of :class:`ProblemSpec` whose
methods ``f``, ``grad``, ``c``, ``jac`` and ``hess_lagrangian`` are written out
by hand from the published formulation; :meth:`ProblemSpec.build` wraps the
bound methods in an :class:`~problems.nlp.problem.EqualityConstrainedProblem`.
Bound methods of a module-level class pickle with the standard library, so the
problems cross process boundaries.
"""
from __future__ import annotations

import numpy as np

from .problem import EqualityConstrainedProblem

SQRT2 = float(np.sqrt(2.0))


class ProblemSpec:
    """A test problem written out by hand; subclasses set the class attributes and the five methods."""

    name: str = ""
    source: str = ""
    #: the published optimal objective value
    f_star: float | None = None

    def x0(self) -> np.ndarray:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def x_star(self) -> np.ndarray | None:
        """A published optimal point, or ``None`` when only the value is published."""
        return None

    def build(self) -> EqualityConstrainedProblem:
        """The problem, with the standard starting point and the published optimum."""
        return EqualityConstrainedProblem(self.f, self.grad, self.c, self.jac, self.hess_lagrangian, self.x0(),
                                          name=self.name, f_star=self.f_star, x_star=self.x_star(),
                                          source=self.source)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def vec(*vals) -> np.ndarray:
    """A float64 vector from scalars."""
    return np.array(vals, dtype=np.float64)
