"""Logistic regression: constrained as in Hong et al. (2023), and unconstrained with an L2 term.

Data ``Z`` (``N x d``, one sample a row) and labels ``y`` in ``{-1, +1}``; the
loss is the mean logistic loss

    f(x) = (1/N) sum_i log(1 + exp(-y_i z_i^T x)),
    grad f(x) = -(1/N) Z^T (y * s),                s_i = sigma(-y_i z_i^T x),
    hess f(x) = (1/N) Z^T diag(s * (1 - s)) Z,

with ``sigma`` the logistic function (evaluated stably with
:func:`numpy.logaddexp` and :func:`scipy.special.expit`).

* :func:`logistic_regression` adds ``k`` random linear equalities ``A x = b``
  and the sphere ``|x|^2 = 1`` — the constrained logistic regression on which
  the sketched inexact-Newton method of Hong, Na, Mahoney and Kolar was run.
* :func:`logistic_loss` is the unconstrained problem with ``reg/2 |x|^2``
  added, as SciPy-style ``fun``, ``jac``, ``hess``, ``hessp`` and ``x0``.

Data sets (``dataset=``):

``"breast_cancer"``
    The Wisconsin diagnostic breast-cancer data (569 samples, 30 features),
    read from ``problems/nlp/data/breast_cancer.csv``, package data installed
    with newtonkit (provenance and licence in the repository's
    ``data/README.md``); ``y = +1`` for benign, ``-1`` for malignant. Set
    ``NEWTONKIT_DATA_DIR`` to read it from elsewhere.
``"synthetic"``
    ``N = 500`` Gaussian samples in ``d = 20`` dimensions, labels drawn from a
    logistic model with a random unit weight vector scaled by 3 (from ``seed``).
``(Z, y)``
    Your own arrays; ``y`` must hold only -1 and +1 (0/1 labels are mapped to -1/+1).

Features are standardised per column (zero mean, unit standard deviation over
the samples; constant columns are left at zero) before use; no intercept
column is added.

References
----------
I. Hong, S. Na, M. W. Mahoney, M. Kolar, "Constrained optimization via exact
augmented Lagrangian and randomized iterative sketching", ICML 2023
(arXiv:2305.18379), constrained logistic regression experiments.
W. N. Street, W. H. Wolberg, O. L. Mangasarian, "Nuclear feature extraction for
breast tumor diagnosis", IS&T/SPIE 1905 (1993) 861-870 (the data set).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from scipy import special

from .. import _checks
from .problem import EqualityConstrainedProblem

DATASETS = ("breast_cancer", "synthetic")


def data_dir() -> Path:
    """Where the data files are: ``NEWTONKIT_DATA_DIR`` when set, else the package's ``problems/nlp/data/``
    (installed with the package, so ``pip install .`` finds it; provenance and licence in the
    repository's ``data/README.md``)."""
    env = os.environ.get("NEWTONKIT_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "data"


@functools.lru_cache(maxsize=4)
def _read_breast_cancer(path: str):
    raw = np.loadtxt(path, delimiter=",", skiprows=1)
    Z, benign = raw[:, :-1], raw[:, -1]
    y = np.where(benign == 1.0, 1.0, -1.0)
    return Z, y


def load_dataset(dataset="breast_cancer", *, seed: int = 0):
    """The standardised features ``Z`` (``N x d``) and labels ``y`` in {-1, +1} of a data set.

    Parameters
    ----------
    dataset : {"breast_cancer", "synthetic"} or tuple of arrays
        A named data set (see the module notes) or ``(Z, y)``.
    seed : int
        Seed of the ``"synthetic"`` data (ignored otherwise).

    Returns
    -------
    Z : ndarray, shape (N, d)
        Features, each column standardised to zero mean and unit standard deviation.
    y : ndarray, shape (N,)
        Labels, -1.0 or +1.0.

    Raises
    ------
    FileNotFoundError
        ``data/breast_cancer.csv`` is not where :func:`data_dir` looks.
    ValueError
        Unknown name, or arrays of the wrong shape, non-finite, or labels other than -1/+1 (or 0/1).
    """
    if isinstance(dataset, str):
        if dataset == "breast_cancer":
            path = data_dir() / "breast_cancer.csv"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: the breast-cancer data lives in the repository's data/ folder. Install "
                    "newtonkit from a clone with `pip install -e .`, or set NEWTONKIT_DATA_DIR to a folder holding "
                    "breast_cancer.csv (see data/README.md)")
            Z, y = _read_breast_cancer(str(path))
        elif dataset == "synthetic":
            rng = np.random.default_rng(_checks.count("seed", seed, minimum=0))
            Z = rng.standard_normal((500, 20))
            w = rng.standard_normal(20)
            w *= 3.0 / np.linalg.norm(w)
            y = np.where(rng.random(500) < special.expit(Z @ w), 1.0, -1.0)
        else:
            raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}, or a tuple (Z, y) of arrays")
    elif isinstance(dataset, tuple) and len(dataset) == 2:
        Z = _checks.real_array("dataset[0] (Z)", dataset[0], ndims=(2,), what="feature array (N x d)")
        y = _checks.real_array("dataset[1] (y)", dataset[1], ndims=(1,), what="1-D label array")
        if Z.shape[0] != y.size or y.size < 2 or Z.shape[1] < 1:
            raise ValueError(f"Z (N x d) and y (N,) must agree in N >= 2 with d >= 1, got Z {Z.shape} and y {y.shape}")
        if np.all(np.isin(y, (0.0, 1.0))):
            y = 2.0 * y - 1.0
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise ValueError("y must hold the labels -1 and +1 (or 0 and 1)")
    else:
        raise TypeError(f"dataset must be one of {DATASETS} or a tuple (Z, y) of arrays, got {type(dataset).__name__}")
    return _standardise(Z), np.array(y, dtype=np.float64)


def _standardise(Z: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit standard deviation, the same for ``Z`` and ``s Z`` at any scale
    ``s``: each column is first divided by its largest magnitude (``Z.std`` of columns near 1e300
    overflowed and of columns near 1e-300 underflowed, which zeroed them). Columns constant to
    rounding (standard deviation below ``16 eps`` of their magnitude) become zero."""
    top = np.abs(Z).max(axis=0)
    Zn = Z / np.where(top > 0, top, 1.0)
    mu, sd = Zn.mean(axis=0), Zn.std(axis=0)
    keep = sd > 16 * np.finfo(np.float64).eps
    return np.where(keep, (Zn - mu) / np.where(keep, sd, 1.0), 0.0)


class LogisticData:
    """The mean logistic loss of data ``(Z, y)`` and its derivatives (module-level, so it pickles)."""

    def __init__(self, Z: np.ndarray, y: np.ndarray):
        self.Z, self.y = Z, y

    def _margins(self, x):
        return self.y * (self.Z @ x)

    def loss(self, x) -> float:
        return float(np.mean(np.logaddexp(0.0, -self._margins(x))))

    def loss_grad(self, x) -> np.ndarray:
        s = special.expit(-self._margins(x))
        return -(self.Z.T @ (self.y * s)) / self.y.size

    def loss_hess(self, x) -> np.ndarray:
        s = special.expit(-self._margins(x))
        w = s * (1.0 - s) / self.y.size
        return (self.Z.T * w) @ self.Z

    def loss_hessp(self, x, p) -> np.ndarray:
        s = special.expit(-self._margins(x))
        return self.Z.T @ ((s * (1.0 - s)) * (self.Z @ p)) / self.y.size


class ConstrainedLogistic(LogisticData):
    """Mean logistic loss subject to ``A x = b`` (first ``k`` constraints) and ``|x|^2 = 1`` (last)."""

    def __init__(self, Z, y, A, b):
        super().__init__(Z, y)
        self.A, self.b = A, b

    def f(self, x):
        return self.loss(x)

    def grad(self, x):
        return self.loss_grad(x)

    def c(self, x):
        return np.concatenate([self.A @ x - self.b, [x @ x - 1.0]])

    def jac(self, x):
        return np.vstack([self.A, 2.0 * x[None, :]])

    def hess_lagrangian(self, x, lam):
        H = self.loss_hess(x)
        H[np.diag_indices_from(H)] += 2.0 * lam[-1]
        return H


def logistic_regression(dataset="breast_cancer", constraints: int = 10, seed: int = 0) -> EqualityConstrainedProblem:
    """Constrained logistic regression: mean logistic loss s.t. ``A x = b`` and ``|x|^2 = 1``.

    Parameters
    ----------
    dataset : {"breast_cancer", "synthetic"} or tuple (Z, y)
        The data (see :func:`load_dataset`); features standardised, no intercept.
    constraints : int, default 10
        Number ``k`` of random linear equalities (``0 <= k <= d - 2``); with the
        sphere the problem has ``m = k + 1`` constraints.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng` for ``A``, ``b``, ``x0`` (and the synthetic data).

    Returns
    -------
    EqualityConstrainedProblem
        ``n = d``, ``m = k + 1``; ``f_star`` and ``x_star`` are ``None`` (no
        published optimum).

    Notes
    -----
    ``A`` (``k x d``) has independent standard Gaussian entries. The
    constraints are made consistent by construction: ``x_hat`` is a uniformly
    random unit vector and ``b = A x_hat``, so ``x_hat`` is feasible and the
    feasible set (a ``(d - k - 1)``-sphere) is nonempty. The start ``x0`` is an
    independent Gaussian vector scaled by ``1/sqrt(d)`` (infeasible, away from 0,
    where the sphere's gradient would vanish). Hong et al. draw ``A`` and ``b``
    at random and do not say how feasibility is ensured; this choice is ours.

    References
    ----------
    I. Hong, S. Na, M. W. Mahoney, M. Kolar, ICML 2023 (arXiv:2305.18379).
    """
    Z, y = load_dataset(dataset, seed=seed)
    d = Z.shape[1]
    k = _checks.count("constraints", constraints, minimum=0)
    if d < 2:                     # (the bound below read 'at most d - 2 = -1 ... got 0', helper-100)
        raise ValueError(f"dataset: the features Z have d = {d} column(s); the sphere-constrained problem needs "
                         "d >= 2 features (a free direction on the sphere)")
    if k > d - 2:
        raise ValueError(f"constraints must be at most d - 2 = {d - 2} (d = {d} features; with the sphere the "
                         f"feasible set must keep a free direction), got {k}")
    rng = np.random.default_rng(_checks.count("seed", seed, minimum=0) + 1)
    A = rng.standard_normal((k, d))
    x_hat = rng.standard_normal(d)
    x_hat /= np.linalg.norm(x_hat)
    x0 = rng.standard_normal(d) / np.sqrt(d)
    prob = ConstrainedLogistic(Z, y, A, A @ x_hat)
    label = dataset if isinstance(dataset, str) else "custom"
    p = EqualityConstrainedProblem(prob.f, prob.grad, prob.c, prob.jac, prob.hess_lagrangian, x0,
                                   name=f"logistic_regression({label}, k={k}, seed={seed})",
                                   source="Hong, Na, Mahoney & Kolar (ICML 2023), constrained logistic regression; "
                                          "A Gaussian, b = A x_hat with x_hat a random unit vector")
    p.x_feasible = x_hat
    return p


class LogisticLoss(LogisticData):
    """``fun(x) = mean logistic loss + reg/2 |x|^2`` with ``jac``, ``hess``, ``hessp`` and ``x0 = 0``.

    Unpacks as ``fun, jac, hess, hessp, x0 = loss`` for SciPy-style calls.
    """

    def __init__(self, Z, y, reg: float, name: str = "logistic_loss"):
        super().__init__(Z, y)
        self.reg, self.name = reg, name
        self.x0 = np.zeros(Z.shape[1])
        self.n = Z.shape[1]

    def fun(self, x):
        x = np.asarray(x, dtype=np.float64)
        return self.loss(x) + 0.5 * self.reg * float(x @ x)

    def jac(self, x):
        x = np.asarray(x, dtype=np.float64)
        return self.loss_grad(x) + self.reg * x

    def hess(self, x):
        H = self.loss_hess(np.asarray(x, dtype=np.float64))
        H[np.diag_indices_from(H)] += self.reg
        return H

    def hessp(self, x, p):
        return self.loss_hessp(np.asarray(x, dtype=np.float64), np.asarray(p, dtype=np.float64)) + self.reg * p

    def __iter__(self):
        return iter((self.fun, self.jac, self.hess, self.hessp, self.x0.copy()))

    def __repr__(self):
        return f"LogisticLoss(name={self.name!r}, N={self.y.size}, d={self.n}, reg={self.reg:g})"


def logistic_loss(dataset="breast_cancer", reg: float = 1e-3, *, seed: int = 0) -> LogisticLoss:
    """The unconstrained L2-regularised logistic loss as SciPy-style callables.

    Parameters
    ----------
    dataset : {"breast_cancer", "synthetic"} or tuple (Z, y)
        The data (see :func:`load_dataset`).
    reg : float, default 1e-3
        L2 weight (>= 0); ``fun(x) = mean loss + reg/2 |x|^2``. With ``reg > 0``
        the problem is strongly convex and has a unique minimiser; with
        ``reg = 0`` on (nearly) separable data it may have none.
    seed : int
        Seed of the synthetic data.

    Returns
    -------
    LogisticLoss
        Picklable; ``loss.fun``, ``loss.jac``, ``loss.hess``, ``loss.hessp(x, p)``,
        ``loss.x0`` (zeros), or unpack ``fun, jac, hess, hessp, x0 = loss``.

    Examples
    --------
    >>> from scipy.optimize import minimize
    >>> from problems import nlp
    >>> fun, jac, hess, hessp, x0 = nlp.logistic_loss("synthetic", reg=1e-2)
    >>> bool(minimize(fun, x0, jac=jac, hessp=hessp, method="trust-ncg").success)
    True
    """
    Z, y = load_dataset(dataset, seed=seed)
    reg = _checks.real_scalar("reg", reg, nonneg=True)
    label = dataset if isinstance(dataset, str) else "custom"
    return LogisticLoss(Z, y, reg, name=f"logistic_loss({label}, reg={reg:g})")


__all__ = ["logistic_regression", "logistic_loss", "load_dataset", "LogisticLoss", "data_dir", "DATASETS"]
