"""One-dimensional Chebyshev tools of the Chebyshev–Tucker format.

Points of the second kind (extrema of :math:`T_n`, endpoints included), in
**ascending** order on :math:`[-1, 1]`: :math:`t_j = -\\cos(\\pi j / n)`, ``j = 0..n``,
``n = degree``. Values at these points map to coefficients of
:math:`p(t) = \\sum_k c_k T_k(t)` by a type-I discrete cosine transform
(:func:`scipy.fft.dct` with ``type=1``): with :math:`y = \\mathrm{DCT\\text{-}I}(v)` of the
values in the descending order :math:`\\cos(\\pi j/n)`, :math:`c_k = y_k / n` and the first and
last coefficients halved (Trefethen, *Approximation Theory and Approximation Practice*,
SIAM 2013, ch. 3). Reversing the point order multiplies :math:`c_k` by :math:`(-1)^k`.
"""
from __future__ import annotations

import numpy as np
import scipy.fft


def points(degree: int) -> np.ndarray:
    """The ``degree + 1`` Chebyshev points of the second kind on [-1, 1], ascending."""
    n = int(degree)
    t = -np.cos(np.pi * np.arange(n + 1) / n)
    t[0], t[-1] = -1.0, 1.0
    if n % 2 == 0:
        t[n // 2] = 0.0
    return t


def to_box(t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``t`` in [-1, 1] to [lo, hi]."""
    return 0.5 * (hi + lo) + 0.5 * (hi - lo) * t


def from_box(x, lo: float, hi: float):
    """Map ``x`` in [lo, hi] to [-1, 1] (works on NumPy and CuPy arrays)."""
    return (2.0 * x - (hi + lo)) / (hi - lo)


def coefficients(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Chebyshev coefficients from values at the ascending points, along ``axis`` (DCT-I)."""
    v = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
    n = v.shape[0] - 1
    c = scipy.fft.dct(v[::-1], type=1, axis=0) / n
    c[0] *= 0.5
    c[n] *= 0.5
    return np.moveaxis(c, 0, axis)


def coefficients_all(values: np.ndarray, scale: float = 1.0, workers: int = 1) -> np.ndarray:
    """The coefficient tensor of a value grid (ascending points in every mode) divided by ``scale``:
    :func:`coefficients` along every axis, as ONE multi-axis DCT-I (:func:`scipy.fft.dctn`, ``workers``
    threads) of the values as they are, then one product with the per-axis weights ``(-1)^k / n`` (the
    point order reversed, see the module docs), the end coefficients halved and ``1 / scale``. A new
    C-contiguous array. The per-axis form read the values reversed, divided, and moved axes around in
    every mode, and left a strided tensor that the unfoldings after it copied: 129^3 values, one thread,
    31 -> 23 ms (15 ms on two workers), bitwise the same coefficients (``/tmp/s30/dct.py``, session 30)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0 or min(v.shape) < 2:          # a single point per mode: nothing to transform there
        out = v / scale
        for i in range(v.ndim):
            if v.shape[i] >= 2:
                out = coefficients(out, axis=i)
        return np.ascontiguousarray(out)
    c = scipy.fft.dctn(v, type=1, workers=max(1, int(workers)))
    w = []
    for n1 in v.shape:
        x = np.where(np.arange(n1) % 2 == 0, 1.0, -1.0) / (n1 - 1)
        x[0] *= 0.5
        x[-1] *= 0.5
        w.append(x)
    w[0] = w[0] / scale
    if v.ndim == 1:
        c *= w[0]
        return c
    lead = w[0]
    for x in w[1:-1]:                            # the weights of all but the last axis as one small array
        lead = np.multiply.outer(lead, x)
    c *= lead[..., None]
    c *= w[-1]
    return c


def values_all(coef: np.ndarray, workers: int = 1, overwrite: bool = False) -> np.ndarray:
    """The values at the ascending grid of a coefficient tensor: the inverse of :func:`coefficients_all`. Along
    a mode of degree ``n``, ``p(t_j) = sum_k (-1)^k c_k cos(pi j k / n)`` is the DCT-I of ``(-1)^k c_k`` with the
    interior entries halved: one product with those per-axis weights, then one multi-axis DCT-I. A new array
    unless ``overwrite`` (then a float64 ``coef`` is the work array)."""
    c = np.asarray(coef, dtype=np.float64) if overwrite else np.array(coef, dtype=np.float64)
    axes = [i for i, m in enumerate(c.shape) if m >= 2]
    if not axes:
        return c
    W = np.ones((1,) * c.ndim)
    for i in axes:
        m = c.shape[i]
        x = np.where(np.arange(m) % 2 == 0, 0.5, -0.5)
        x[0] *= 2.0
        x[-1] *= 2.0
        if i == c.ndim - 1:
            break
        W = W * x.reshape((m,) + (1,) * (c.ndim - i - 1))
    c *= W                                    # the weights of all but the last axis as one small array
    if axes[-1] == c.ndim - 1:
        c *= x
    return scipy.fft.dctn(c, type=1, axes=axes, overwrite_x=True, workers=max(1, int(workers)))


def vander(t: np.ndarray, m: int) -> np.ndarray:
    """``T_k(t_j)`` for ``k < m`` by the three-term recurrence, shape ``(len(t), m)``."""
    t = np.asarray(t, dtype=np.float64)
    V = np.empty((t.size, m))
    V[:, 0] = 1.0
    if m > 1:
        V[:, 1] = t
    for k in range(2, m):
        V[:, k] = 2.0 * t * V[:, k - 1] - V[:, k - 2]
    return V


def derivative(A: np.ndarray) -> np.ndarray:
    """Coefficients (columns of ``A``, shape ``(m, r)``) of the derivatives d/dt, same shape.

    Backward recurrence :math:`c'_{k-1} = c'_{k+1} + 2k c_k` with :math:`c'_0` halved.
    """
    m = A.shape[0]
    D = np.zeros_like(A, dtype=np.float64)
    for k in range(m - 1, 0, -1):
        D[k - 1] = (D[k + 1] if k + 1 < m else 0.0) + 2.0 * k * A[k]
    D[0] *= 0.5
    return D


def moments(m: int) -> np.ndarray:
    """``\\int_{-1}^{1} T_k(t) dt`` for ``k < m``: ``2 / (1 - k^2)`` for even ``k``, 0 for odd."""
    k = np.arange(m)
    w = np.zeros(m)
    even = k % 2 == 0
    w[even] = 2.0 / (1.0 - k[even].astype(np.float64) ** 2)
    return w
