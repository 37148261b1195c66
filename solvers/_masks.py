"""Masked NumPy arrays at the entry points.

``np.asarray`` (and every conversion to a backend array) drops a mask and keeps the values under it, so a
masked entry would be used as if it were valid. Entry points that take arrays of data (operators and dense
matrices, right-hand sides, starting points, weights, costs, potentials, sampled values) call
:func:`refuse_masked` first, and :func:`solvers._scalar.unwrap` refuses a masked option value; a masked array
without masked entries is its data and is accepted everywhere (helper-149 and helper-151:
``cg``'s ``b``, ``EntropicOT.from_grids`` / ``from_points``, ``ChebTucker.from_values`` and
``PoissonControl``'s target used the masked values silently, where ``EntropicOT(C)`` refused them).
"""
import numpy as np


def refuse_masked(name: str, v, fix: str = "") -> None:
    """A ``TypeError`` naming ``name`` when ``v`` is a masked array with masked entries; ``fix`` says what to pass
    instead (default: ``name.filled(value)``)."""
    if isinstance(v, np.ma.MaskedArray) and np.ma.is_masked(v):
        k = int(np.count_nonzero(np.ma.getmaskarray(v)))
        raise TypeError(f"{name} is a masked array with {k} masked entries; masks are not supported (the values "
                        f"under the mask would be used). {fix or f'Pass {name}.filled(value) with the value you mean'}")


__all__ = ["refuse_masked"]
