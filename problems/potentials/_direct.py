"""Direct summation over particles (Numba, parallel over the evaluation points): the REFERENCE.

These loops compute the multi-particle sums point by point, at cost
``O(points x particles x terms)``; they are the independent check of the tensor
formats and the benchmarks' peer, not a fast method.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from solvers import _config

_config.numba_cache_fallback(__file__)


@njit(cache=True, parallel=True)
def gaussian_sum_direct(points, positions, charges, c, a):  # pragma: no cover - compiled
    """``out[p] = sum_nu charges[nu] sum_k c[k] exp(-a[k] |points[p] - positions[nu]|^2)``."""
    n, m, nk = points.shape[0], positions.shape[0], c.shape[0]
    d = points.shape[1]
    out = np.empty(n)
    for p in prange(n):
        acc = 0.0
        for nu in range(m):
            r2 = 0.0
            for i in range(d):
                dx = points[p, i] - positions[nu, i]
                r2 += dx * dx
            s = 0.0
            for k in range(nk):
                s += c[k] * math.exp(-a[k] * r2)
            acc += charges[nu] * s
        out[p] = acc
    return out


@njit(cache=True, parallel=True)
def coulomb_direct(points, positions, charges):  # pragma: no cover - compiled
    """``out[p] = sum_nu charges[nu] / |points[p] - positions[nu]|`` (inf at a particle)."""
    n, m, d = points.shape[0], positions.shape[0], points.shape[1]
    out = np.empty(n)
    for p in prange(n):
        acc = 0.0
        for nu in range(m):
            r2 = 0.0
            for i in range(d):
                dx = points[p, i] - positions[nu, i]
                r2 += dx * dx
            acc += charges[nu] / math.sqrt(r2)
        out[p] = acc
    return out


def gaussian_sum_numpy(points, positions, charges, c, a, chunk: int = 2048):
    """NumPy version of :func:`gaussian_sum_direct` (chunked over points)."""
    out = np.empty(points.shape[0])
    for s in range(0, points.shape[0], chunk):
        x = points[s:s + chunk]
        r2 = ((x[:, None, :] - positions[None, :, :]) ** 2).sum(-1)          # (n, m)
        kern = np.zeros_like(r2)
        for ck, ak in zip(c, a):
            kern += ck * np.exp(-ak * r2)
        out[s:s + chunk] = kern @ charges
    return out


def coulomb_numpy(points, positions, charges, chunk: int = 2048):
    """NumPy version of :func:`coulomb_direct`."""
    out = np.empty(points.shape[0])
    for s in range(0, points.shape[0], chunk):
        x = points[s:s + chunk]
        r = np.sqrt(((x[:, None, :] - positions[None, :, :]) ** 2).sum(-1))
        with np.errstate(divide="ignore"):
            out[s:s + chunk] = (1.0 / r) @ charges
    return out
