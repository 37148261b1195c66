"""Numba ``@njit(cache=True)`` kernels (CPU)."""
