"""Seeded randomized sketching operators ``S`` of shape ``(s, m)``.

A sketch compresses ``m``-vectors to ``s``-vectors (``s`` usually much smaller
than ``m``) such that ``E[S^T S] = I``, so ``||S x||`` estimates ``||x||`` and
``(S A)^T (S A)`` estimates ``A^T A``. Sketched Newton methods for constrained
problems apply such an ``S`` to the constraint Jacobian or the KKT residual
(Hong, Na, Mahoney and Kolar, 2023). Three families are provided:

- :func:`gaussian_sketch`: dense, entries i.i.d. ``N(0, 1/s)``.
- :func:`count_sketch`: one ``+-1`` per column at a uniformly random row
  (a CountSketch / sparse embedding; applied in ``O(m)``).
- :func:`row_sampling`: ``s`` rows of the identity sampled with replacement
  with probabilities ``p``, scaled by ``1 / sqrt(s p_i)``.

Every sketch is drawn once, when it is built, from
``numpy.random.default_rng(seed)`` on the host, then moved to the backend: the
same seed gives the same matrix on every backend. ``seed=None`` draws a fresh
seed from the operating system and records it, so every sketch can be rebuilt
from its ``seed`` attribute.

References
----------
I. Hong, S. Na, M. W. Mahoney and M. Kolar, "Constrained optimization via exact
augmented Lagrangian and randomized iterative sketching", *ICML* 2023.
D. P. Woodruff, "Sketching as a tool for numerical linear algebra",
*Foundations and Trends in Theoretical Computer Science* 10 (2014), sections 2.1 and 2.4.
K. L. Clarkson and D. P. Woodruff, "Low-rank approximation and regression in
input sparsity time", *J. ACM* 63 (2017) (the sparse embedding / CountSketch).
P. Drineas, M. W. Mahoney and S. Muthukrishnan, "Sampling algorithms for l2
regression and applications", *SODA* 2006 (row sampling with rescaling).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backends as _backends
from .base import LinearOperator


def _check_size(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _check_seed(seed):
    """Return an int seed: ``seed`` itself, or fresh OS entropy when ``None``."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative integer or None, got {type(seed).__name__} "
                        "(a Generator cannot be recorded; pass an integer)")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed}")
    return int(seed)


def _scatter_add(xp, index, weights, n):
    """``out[index[k]] += weights[k]`` into a zero vector of length ``n`` (NumPy and CuPy alike)."""
    if xp.iscomplexobj(weights):
        return (xp.bincount(index, weights=weights.real, minlength=n)
                + 1j * xp.bincount(index, weights=weights.imag, minlength=n))
    out = xp.bincount(index, weights=weights, minlength=n)
    return out if out.dtype.kind == "f" else out.astype(xp.float64)    # bincount of no weights is int64 (helper-82)


def _scatter_add_rows(xp, index, W, n):
    """``out[index[k], :] += W[k, :]`` into a zero ``(n, W.shape[1])`` array, one bincount."""
    k = W.shape[1]
    flat = (index[:, None] * k + xp.arange(k, dtype=index.dtype)[None, :]).ravel()
    return _scatter_add(xp, flat, W.ravel(), n * k).reshape(n, k)


class SketchOperator(LinearOperator):
    """Base class of the seeded sketches: an ``(s, m)`` operator with a recorded ``seed``.

    Attributes
    ----------
    seed : int
        The seed the sketch was drawn from (rebuild it with the same arguments and this seed).
    """

    def __init__(self, s, m, seed, backend):
        s = _check_size(s, "s")
        m = _check_size(m, "m")
        self.seed = _check_seed(seed)
        super().__init__((s, m), np.float64, backend)

    def _matvec(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def todense(self):
        """The explicit ``(s, m)`` matrix on the backend (for tests and small sizes)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _check_X(self, X):
        self._block(X)

    def __repr__(self) -> str:
        return (f"<{self.shape[0]}x{self.shape[1]} {type(self).__name__} seed={self.seed} "
                f"backend={self.backend.name}>")


class GaussianSketch(SketchOperator):
    """Dense Gaussian sketch, entries i.i.d. ``N(0, 1/s)``; build it with :func:`gaussian_sketch`.

    Attributes
    ----------
    S : array, shape (s, m)
        The matrix, on the backend.
    seed : int
    """

    def __init__(self, s, m, seed=None, backend=None):
        super().__init__(s, m, seed, backend)
        s, m = self.shape
        G = np.random.default_rng(self.seed).standard_normal((s, m))
        G /= np.sqrt(s)
        self.S = self.backend.asarray(G)

    def _matvec(self, x):
        return self.S @ x

    def _rmatvec(self, y):
        return self.S.T @ y

    def matmat(self, X):
        self._check_X(X)
        return self.S @ X

    def todense(self):
        return self.S.copy()


class CountSketch(SketchOperator):
    """CountSketch: column ``j`` holds ``signs[j]`` at row ``rows[j]``; build it with :func:`count_sketch`.

    Stored as two length-``m`` arrays (the CSC pattern of a matrix with one
    entry per column); products are a gather (``rmatvec``) and a bincount
    scatter-add (``matvec``), both ``O(m)`` and the same code on NumPy and CuPy.

    Attributes
    ----------
    rows : int64 array, shape (m,)
        Row of the single entry of each column, uniform on ``0 .. s-1``.
    signs : float64 array, shape (m,)
        Its value, ``+1`` or ``-1`` with probability 1/2 each.
    seed : int
    """

    def __init__(self, s, m, seed=None, backend=None):
        super().__init__(s, m, seed, backend)
        s, m = self.shape
        rng = np.random.default_rng(self.seed)
        rows = rng.integers(0, s, size=m, dtype=np.int64)
        signs = rng.integers(0, 2, size=m).astype(np.float64) * 2.0 - 1.0
        self.rows = self.backend.asarray(rows)
        self.signs = self.backend.asarray(signs)

    def _matvec(self, x):
        return _scatter_add(self.backend.xp, self.rows, self.signs * x, self.shape[0])

    def _rmatvec(self, y):
        return self.signs * y[self.rows]

    def matmat(self, X):
        self._check_X(X)
        return _scatter_add_rows(self.backend.xp, self.rows, self.signs[:, None] * X, self.shape[0])

    def todense(self):
        xp = self.backend.xp
        D = xp.zeros(self.shape, dtype=np.float64)
        D[self.rows, xp.arange(self.shape[1])] = self.signs
        return D


class RowSamplingSketch(SketchOperator):
    """Row sampling with replacement and rescaling; build it with :func:`row_sampling`.

    Row ``i`` of ``S`` is ``e_{k_i}^T / sqrt(s p_{k_i})`` with ``k_i`` drawn
    i.i.d. from ``p``.

    Attributes
    ----------
    rows : int64 array, shape (s,)
        The sampled row indices ``k_i``.
    scale : float64 array, shape (s,)
        ``1 / sqrt(s p_{k_i})``.
    probabilities : numpy.ndarray or None
        The sampling probabilities (host array, normalised to sum 1); ``None`` for uniform.
    seed : int
    """

    def __init__(self, s, m, seed=None, probabilities=None, backend=None):
        super().__init__(s, m, seed, backend)
        s, m = self.shape
        p = _check_probabilities(probabilities, m)
        rng = np.random.default_rng(self.seed)
        if p is None:
            rows = rng.integers(0, m, size=s, dtype=np.int64)
            scale = np.full(s, np.sqrt(m / s))
        else:
            rows = rng.choice(m, size=s, replace=True, p=p).astype(np.int64)
            scale = 1.0 / np.sqrt(s * p[rows])
        self.probabilities = p
        self.rows = self.backend.asarray(rows)
        self.scale = self.backend.asarray(scale)

    def _matvec(self, x):
        return self.scale * x[self.rows]

    def _rmatvec(self, y):
        return _scatter_add(self.backend.xp, self.rows, self.scale * y, self.shape[1])

    def matmat(self, X):
        self._check_X(X)
        return self.scale[:, None] * X[self.rows]

    def todense(self):
        xp = self.backend.xp
        D = xp.zeros(self.shape, dtype=np.float64)
        D[xp.arange(self.shape[0]), self.rows] = self.scale
        return D


def _check_probabilities(p, m):
    if p is None:
        return None
    try:
        arr = _backends.get_backend("numpy").to_numpy(p)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        raise TypeError(f"probabilities must be a 1-D array of length m = {m}, got {type(p).__name__}") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"probabilities must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape != (m,):
        raise ValueError(f"probabilities must have shape (m,) = ({m},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("probabilities must be finite (found nan or inf)")
    if np.any(arr < 0):
        raise ValueError(f"probabilities must be non-negative, found {arr.min():.3e} at index {int(arr.argmin())}")
    total = float(arr.sum())
    if abs(total - 1.0) > 1e-8:
        raise ValueError(f"probabilities must sum to 1 (within 1e-8), they sum to {total!r}; pass p / p.sum()")
    return arr / total


def gaussian_sketch(s, m, *, seed=None, backend=None) -> GaussianSketch:
    """A dense ``(s, m)`` Gaussian sketch with i.i.d. ``N(0, 1/s)`` entries (so ``E[S^T S] = I``).

    Parameters
    ----------
    s, m : int
        Sketch size and input size (positive).
    seed : int, optional
        Seed of ``numpy.random.default_rng``; ``None`` draws one and records it in ``S.seed``.
    backend : str or Backend, optional

    Returns
    -------
    GaussianSketch
        ``matvec``/``rmatvec``/``matmat`` cost ``O(s m)``.

    Examples
    --------
    >>> from solvers.operators import gaussian_sketch
    >>> S = gaussian_sketch(3, 10, seed=0, backend="numpy")
    >>> S.shape, S.seed
    ((3, 10), 0)
    """
    return GaussianSketch(s, m, seed=seed, backend=backend)


def count_sketch(s, m, *, seed=None, backend=None) -> CountSketch:
    """A CountSketch: one ``+-1`` per column at a uniformly random row (``E[S^T S] = I``).

    Parameters
    ----------
    s, m : int
        Sketch size and input size (positive).
    seed : int, optional
        Seed of ``numpy.random.default_rng``; ``None`` draws one and records it in ``S.seed``.
    backend : str or Backend, optional

    Returns
    -------
    CountSketch
        ``matvec``/``rmatvec`` cost ``O(m)``; ``matmat`` ``O(m k)``.
    """
    return CountSketch(s, m, seed=seed, backend=backend)


def row_sampling(s, m, *, seed=None, probabilities=None, backend=None) -> RowSamplingSketch:
    """Sample ``s`` of ``m`` rows with replacement, scaled by ``1 / sqrt(s p_i)``.

    Parameters
    ----------
    s, m : int
        Number of samples and input size (positive).
    seed : int, optional
        Seed of ``numpy.random.default_rng``; ``None`` draws one and records it in ``S.seed``.
    probabilities : array_like, shape (m,), optional
        Non-negative sampling probabilities summing to 1 (within ``1e-8``);
        default uniform ``1/m``. ``E[S^T S] = diag(p > 0)``, the identity when
        every ``p_i > 0``.
    backend : str or Backend, optional

    Returns
    -------
    RowSamplingSketch
        ``matvec`` is a gather (``O(s)``), ``rmatvec`` a scatter-add (``O(s + m)``).

    Raises
    ------
    ValueError
        When ``probabilities`` has the wrong shape, a negative or non-finite
        entry, or does not sum to 1.
    """
    return RowSamplingSketch(s, m, seed=seed, probabilities=probabilities, backend=backend)
