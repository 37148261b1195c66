"""Equality-constrained nonlinear programs ``min f(x) s.t. c(x) = 0``.

* :class:`EqualityConstrainedProblem` — the problem as five callables
  (``f``, ``grad``, ``c``, ``jac``, ``hess_lagrangian``) and a start ``x0``;
  ``solvers.sketched_newton`` consumes it.
* :func:`hs` / :data:`HS_NAMES` — Hock-Schittkowski, Boggs-Tolle and other
  CUTEst equality-constrained test problems with published optima
  (``hs("GENHS28", n=...)`` takes its size).
* :func:`equality_qp`, :func:`sphere_projection` — random problems of any
  size with exactly known solutions.
* :func:`logistic_regression` — mean logistic loss subject to random linear
  equalities and the unit sphere (the paper's experiment);
  :func:`logistic_loss` — the unconstrained, L2-regularised loss as
  SciPy-style callables.

Reference for the solver these problems were collected for: I. Hong, S. Na,
M. W. Mahoney, M. Kolar, ICML 2023 (arXiv:2305.18379).
"""
from .catalogue import HS_NAMES, hs
from .logistic import LogisticLoss, load_dataset, logistic_loss, logistic_regression
from .problem import EqualityConstrainedProblem
from .scalable import equality_qp, sphere_projection

__all__ = ["EqualityConstrainedProblem", "hs", "HS_NAMES", "equality_qp", "sphere_projection",
           "logistic_regression", "logistic_loss", "LogisticLoss", "load_dataset"]
