"""Manufactured solutions for :class:`~problems.pde.poisson.Poisson` (known ``u``, matching ``f``).

Every field here is a module-level class with ``__call__(*coords)``, so problems
built from them pickle with the standard library (they cross process boundaries
in sweeps), unlike closures or lambdas.

* :class:`SinSolution` ``u = prod_a sin(pi x_a) + x_0 x_1`` (non-zero boundary data
  from the bilinear part).
* :class:`BubbleSolution` ``u = prod_a x_a (1 - x_a) e^{x_a}``: zero on the
  boundary of the unit box and *not* an eigenvector of the discrete Laplacian
  (a product of sines is, and CG solves that in one step), so it is a fair
  test for comparing solvers.
* :class:`WavyCoefficient` ``k = 1 + sin(2 pi (x_0 + ... + x_{d-1})) / 2``.
* :class:`Source` ``f = -div(k grad u)`` for a solution and a coefficient.

References
----------
P. J. Roache, "Code verification by the method of manufactured solutions",
J. Fluids Eng. 124 (2002) 4-10.
"""
from __future__ import annotations

import numpy as np

_PI = np.pi


def _coords(name, x, minimum=1):
    if not minimum <= len(x) <= 3:
        raise TypeError(f"{name} takes {'2 or 3' if minimum == 2 else '1 to 3'} coordinate arrays (x, y[, z]), "
                        f"got {len(x)}")
    return x


class SinSolution:
    """``u = prod_a sin(pi x_a) + x_0 x_1`` in 2 or 3 dimensions."""

    def __call__(self, *x):
        _coords("SinSolution", x, 2)
        return np.prod([np.sin(_PI * xi) for xi in x], axis=0) + x[0] * x[1]

    def gradient(self, *x):
        """List of the ``d`` partial derivatives."""
        _coords("SinSolution.gradient", x, 2)
        s = [np.sin(_PI * xi) for xi in x]
        g = []
        for a in range(len(x)):
            ga = _PI * np.cos(_PI * x[a])
            for b in range(len(x)):
                if b != a:
                    ga = ga * s[b]
            g.append(ga)
        g[0] = g[0] + x[1]
        g[1] = g[1] + x[0]
        return g

    def laplacian(self, *x):
        """``Δu = -d pi^2 prod_a sin(pi x_a)`` (the bilinear part is harmonic)."""
        _coords("SinSolution.laplacian", x, 2)
        return -len(x) * _PI ** 2 * np.prod([np.sin(_PI * xi) for xi in x], axis=0)

    def __repr__(self) -> str:
        return "SinSolution()"


def _bubble_1d(t):
    return t * (1.0 - t) * np.exp(t)


class BubbleSolution:
    """``u = prod_a p(x_a)`` with ``p(t) = t (1 - t) e^t``; ``-p''(t) = t (3 + t) e^t``."""

    def __call__(self, *x):
        _coords("BubbleSolution", x)
        out = _bubble_1d(x[0])
        for xi in x[1:]:
            out = out * _bubble_1d(xi)
        return out

    def gradient(self, *x):
        """List of the ``d`` partial derivatives (``p'(t) = (1 - t - t^2) e^t``)."""
        g = []
        for a, xa in enumerate(x):
            ga = (1.0 - xa - xa * xa) * np.exp(xa)
            for b, xb in enumerate(x):
                if b != a:
                    ga = ga * _bubble_1d(xb)
            g.append(ga)
        return g

    def laplacian(self, *x):
        """``Δu = -sum_i x_i (3 + x_i) e^{x_i} prod_{j != i} p(x_j)``."""
        total = 0.0
        for i, xi in enumerate(x):
            term = xi * (3.0 + xi) * np.exp(xi)  # = -p''(x_i)
            for j, xj in enumerate(x):
                if j != i:
                    term = term * _bubble_1d(xj)
            total = total + term
        return -total

    def __repr__(self) -> str:
        return "BubbleSolution()"


class WavyCoefficient:
    """``k = 1 + sin(2 pi (x_0 + ... + x_{d-1})) / 2`` (between 1/2 and 3/2)."""

    def __call__(self, *x):
        return 1.0 + 0.5 * np.sin(2 * _PI * sum(x))

    def gradient(self, *x):
        """Every partial derivative is ``pi cos(2 pi sum x)``."""
        dk = _PI * np.cos(2 * _PI * sum(x))
        return [dk] * len(x)

    def __repr__(self) -> str:
        return "WavyCoefficient()"


class Source:
    """``f = -div(k grad u) = -grad k . grad u - k Δu`` for ``solution`` and ``k`` (None: ``k = 1``).

    ``solution`` needs ``laplacian(*x)`` (and ``gradient(*x)`` when ``k`` is given);
    ``k`` needs ``__call__`` and ``gradient``.
    """

    def __init__(self, solution, k=None):
        if not callable(getattr(solution, "laplacian", None)):
            raise TypeError(f"solution must provide laplacian(*x) (e.g. SinSolution()), got {type(solution).__name__}")
        if k is not None:
            if not callable(k) or not callable(getattr(k, "gradient", None)):
                raise TypeError(f"k must be None or a callable with gradient(*x) (e.g. WavyCoefficient()), "
                                f"got {type(k).__name__}")
            if not callable(getattr(solution, "gradient", None)):
                raise TypeError("solution must provide gradient(*x) when k is given")
        self.solution, self.k = solution, k

    def __call__(self, *x):
        if self.k is None:
            return -self.solution.laplacian(*x)
        dk, du = self.k.gradient(*x), self.solution.gradient(*x)
        return -sum(a * b for a, b in zip(dk, du)) - self.k(*x) * self.solution.laplacian(*x)

    def __repr__(self) -> str:
        return f"Source({self.solution!r}, k={self.k!r})"


KINDS = {
    # kind: (solution class, coefficient class or None)
    "sin": (SinSolution, None),
    "variable_k": (SinSolution, WavyCoefficient),
    "bubble": (BubbleSolution, None),
}

__all__ = ["SinSolution", "BubbleSolution", "WavyCoefficient", "Source", "KINDS"]
