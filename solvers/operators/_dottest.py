"""The dot test of an operator: ``<A x, y> = <x, A^H y>`` on random vectors (:func:`dot_test`)."""
from __future__ import annotations

import numpy as np

from .. import backends as _backends


def dot_test(op, *, rng=None, rtol=1e-10, nvec: int = 3) -> float:
    """Check ``<A x, y> = <x, A^H y>`` on random vectors; return the worst relative mismatch.

    Raises ``AssertionError`` when the mismatch exceeds ``rtol``.
    """
    rng = np.random.default_rng(rng)
    be = getattr(op, "backend", None) or _backends.get_backend("numpy")
    worst = 0.0
    m, n = op.shape
    for _ in range(nvec):
        x = rng.standard_normal(n)
        y = rng.standard_normal(m)
        if np.iscomplexobj(np.empty(0, op.dtype)):
            x = x + 1j * rng.standard_normal(n)
            y = y + 1j * rng.standard_normal(m)
        xb, yb = be.asarray(x), be.asarray(y)
        ax = be.to_numpy(op.matvec(xb))
        aty = be.to_numpy(op.rmatvec(yb))
        lhs = np.vdot(y, ax)
        rhs = np.vdot(aty, x)
        scale = max(abs(lhs), abs(rhs), np.linalg.norm(ax) * np.linalg.norm(y), 1e-300)
        err = abs(lhs - rhs) / scale
        worst = max(worst, err)
    if worst > rtol:
        raise AssertionError(f"dot test failed for {op!r}: relative mismatch {worst:.3e} > {rtol:.1e}")
    return worst
