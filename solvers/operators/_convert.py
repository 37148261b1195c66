"""Moving a :class:`~solvers.operators.base.LinearOperator` to another backend (``aslinearoperator(A, backend=...)``),
refused where the rebuilt operator would not compute the caller's product."""
from __future__ import annotations


def convert(A, be):
    """``A`` on backend ``be``: ``A`` itself there, else ``A.with_backend(be)``. A ``TypeError`` naming the fix when the
    conversion would drop the caller's own code: a product replaced on the instance (helper-146), or a subclass whose
    ``with_backend`` (inherited) rebuilds the parent class (a StencilOperator subclass adding 50 x in ``matvec_dot``
    was solved as the bare stencil on numba: 'converged' at true residual 2.7, helper-154)."""
    if be == A.backend:
        return A
    if {"matvec", "_matvec", "matvec_into", "matvec_dot"} & set(vars(A)):
        raise TypeError(f"{type(A).__name__} on backend {A.backend.name!r} has its product replaced on the instance, "
                        f"which a conversion to {be.name!r} (rebuilt from its arrays) would drop; build it on "
                        f"{be.name!r} and set the product there, or leave backend=None")
    B = A.with_backend(be)
    if type(B) is not type(A):
        raise TypeError(f"{type(A).__name__} on backend {A.backend.name!r} converts to {be.name!r} only as a "
                        f"{type(B).__name__} (its inherited with_backend), which would drop {type(A).__name__}'s own "
                        f"code; build it with backend={be.name!r}, define {type(A).__name__}.with_backend, or leave "
                        "backend=None to use the operator's own backend")
    return B
