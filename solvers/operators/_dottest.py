"""The dot test of an operator: ``<A x, y> = <x, A^H y>`` on random vectors (:func:`dot_test`)."""
from __future__ import annotations

import numpy as np

from .. import backends as _backends


def dot_test(op, *, rng=None, rtol=1e-10, nvec: int = 3) -> float:
    """Check ``<A x, y> = <x, A^H y>`` on random vectors; return the worst relative mismatch.

    Raises ``AssertionError`` when the mismatch exceeds ``rtol`` or is not finite (a product with NaN/inf, or
    overflowing, proves nothing: ``max(0.0, nan)`` kept 0.0 and such operators passed; outside probe helper-90);
    ``ValueError`` for an ``rtol`` that is not a non-negative number or ``nvec < 1``.
    """
    import math
    import numbers

    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not rtol >= 0:
        raise ValueError(f"dot_test: rtol must be a non-negative number, got {rtol!r}")
    if isinstance(nvec, bool) or not isinstance(nvec, numbers.Integral) or nvec < 1:
        raise ValueError(f"dot_test: nvec must be a positive int (the random pairs tested), got {nvec!r}")
    rng = np.random.default_rng(rng)
    if not hasattr(op, "rmatvec"):     # an array, sparse matrix or duck-typed operator (raw AttributeErrors: helper-134)
        from . import aslinearoperator

        try:
            op = aslinearoperator(op)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"dot_test: op must be an operator, array or sparse matrix ({exc})") from None
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
        try:
            aty = be.to_numpy(op.rmatvec(yb))
        except NotImplementedError as exc:
            raise TypeError(f"dot_test: the operator has no adjoint product (rmatvec), which the test compares "
                            f"against ({exc}); give it an rmatvec (or rmatvec= to FunctionOperator)") from None
        lhs = np.vdot(y, ax)
        rhs = np.vdot(aty, x)
        scale = max(abs(lhs), abs(rhs), _norm(ax) * _norm(y), 1e-300)
        err = abs(lhs - rhs) / scale if math.isfinite(scale) else math.nan    # (an inf scale gave err = 0: review)
        if not math.isfinite(err):
            raise AssertionError(f"dot test failed for {op!r}: the mismatch is not finite (<A x, y> = {lhs}, "
                                 f"<x, A^H y> = {rhs}): the products hold NaN/inf or overflow")
        worst = max(worst, err)
    if worst > rtol:
        raise AssertionError(f"dot test failed for {op!r}: relative mismatch {worst:.3e} > {rtol:.1e}")
    return worst


def _norm(v) -> float:
    """``||v||_2`` scaled so that the squares do not overflow (entries near 1e154 overflowed it to inf)."""
    top = float(np.abs(v).max()) if np.size(v) else 0.0
    return top * float(np.linalg.norm(v / top)) if 0.0 < top < np.inf else top
