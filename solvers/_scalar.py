"""Scalar options given as 0-d NumPy arrays.

``np.asarray(1e-8)``, a reduction's 0-d result or a scalar read back from HDF5 is a number to NumPy and
SciPy; the option validators unwrap it first (:func:`unwrap`), so ``rtol``, ``tol``, ``eps``, ``maxiter`` ...
accept it as the problem classes' scalars (``EntropicOT``'s ``eps``, ``Poisson``'s ``f``) already did
(they refused it before, helper-101). A 0-d boolean or complex array is not unwrapped, so the validators
refuse it as they refuse ``True`` or ``1j``.
"""
import numpy as np


def unwrap(v):
    """The Python number held by a 0-d integer or real-float array ``v``; ``v`` itself otherwise. A masked value
    is refused (``rtol=np.ma.masked`` ran with 0, a masked 0-d array with the value under its mask; helper-151)."""
    if isinstance(v, np.ma.MaskedArray) and np.ma.is_masked(v):
        raise TypeError("a masked value (np.ma.masked) was given for a number option; pass the number itself")
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf":
        return v.item()
    return v
