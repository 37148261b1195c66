"""Thread configuration for the CPU kernels, in one place.

The number of threads used by the Numba kernels is taken, in order, from
:func:`set_num_threads`, the environment variable ``NEWTONKIT_NUM_THREADS``, or
Numba's own default (``NUMBA_NUM_THREADS``, normally the number of cores).
Benchmarks pin it together with ``OPENBLAS_NUM_THREADS=1``.
"""
from __future__ import annotations

import os

_ENV = "NEWTONKIT_NUM_THREADS"
_requested: int | None = None


def _parse_env() -> int | None:
    raw = os.environ.get(_ENV)
    if raw is None or raw.strip() == "":
        return None
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{_ENV}={raw!r} is not an integer; set it to a positive thread count") from None
    if n < 1:
        raise ValueError(f"{_ENV}={raw!r} must be >= 1")
    return n


def set_num_threads(n: int) -> None:
    """Set the number of threads the Numba kernels use (>= 1)."""
    global _requested
    if not isinstance(n, (int,)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"num_threads must be a positive integer, got {n!r}")
    _requested = int(n)
    _apply()


def get_num_threads() -> int:
    """The number of threads the Numba kernels will use."""
    import numba

    _apply()
    return numba.get_num_threads()


def _apply() -> None:
    """Push the configured thread count into Numba (called before kernels run)."""
    n = _requested if _requested is not None else _parse_env()
    if n is None:
        return
    import numba

    n = min(n, numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
