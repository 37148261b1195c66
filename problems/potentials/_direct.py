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


#: points per block of :func:`coulomb_direct` (their coordinates and sums stay in registers and L1)
POINT_BLOCK = 64


@njit(cache=True, parallel=True)
def coulomb_direct(points, positions, charges):  # pragma: no cover - compiled
    """``out[p] = sum_nu charges[nu] / |points[p] - positions[nu]|`` (inf at a particle).

    Blocks of :data:`POINT_BLOCK` points, their coordinates copied to a contiguous ``(d, block)`` array, and
    every loop over the block's points innermost, so the square roots and divisions vectorise over points
    while each point's sum still runs over the particles in order: the same numbers as the point-by-point loop,
    bit for bit (whose reduction over particles could not vectorise without reassociating it). 129^3 points,
    50 particles, 2 threads: 178 -> 46 ms (``/tmp/s30/coul.py``, session 30)."""
    n, m, d = points.shape[0], positions.shape[0], points.shape[1]
    out = np.empty(n)
    nblk = (n + POINT_BLOCK - 1) // POINT_BLOCK
    for b in prange(nblk):
        p0 = b * POINT_BLOCK
        cnt = min(POINT_BLOCK, n - p0)
        X = np.empty((d, POINT_BLOCK))
        acc = np.zeros(POINT_BLOCK)
        r2 = np.empty(POINT_BLOCK)
        for q in range(cnt):
            for i in range(d):
                X[i, q] = points[p0 + q, i]
        for nu in range(m):
            for q in range(cnt):
                r2[q] = 0.0
            for i in range(d):
                y = positions[nu, i]
                xi = X[i]
                for q in range(cnt):
                    dx = xi[q] - y
                    r2[q] += dx * dx
            z = charges[nu]
            for q in range(cnt):
                acc[q] += z / math.sqrt(r2[q])
        for q in range(cnt):
            out[p0 + q] = acc[q]
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
