"""The relative precision of the values a Chebyshev-Tucker build approximates (a per-build context variable):
float64's, or that of a coarser float type the function returned, which raises the rounding plateaus of the
sampling (:mod:`solvers.approx._sample`) and of the decay test (:mod:`solvers.approx._decay`)."""
from __future__ import annotations

import contextvars

import numpy as np

_EPS64 = np.finfo(np.float64).eps
#: the relative precision of the values being approximated: float64's, or that of the coarsest float type the
#: function returned in this build (float32: 1.2e-7), set by :func:`sample` and :func:`value_precision`
_PREC = contextvars.ContextVar("chebtucker_value_eps", default=_EPS64)


def _eps() -> float:
    """The rounding unit of the rounding plateaus (:data:`_PREC`)."""
    return _PREC.get()


def value_precision(dtype) -> None:
    """Note values of ``dtype`` in this build: a float type coarser than float64 (float32, float16) raises the
    rounding plateaus to its precision. (A float32 f was sampled to its noise: degree 256, full ranks, 137 MB,
    where the float64 f took degree 32 and ranks 2 -- outside probe helper-101.)"""
    dt = np.dtype(dtype)
    if dt.kind == "f" and np.finfo(dt).eps > _PREC.get():
        _PREC.set(float(np.finfo(dt).eps))
