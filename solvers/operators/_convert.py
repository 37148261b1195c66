"""Moving a :class:`~solvers.operators.base.LinearOperator` to another backend (``aslinearoperator(A, backend=...)``,
and every operator that holds others: the composed operators, the preconditioners), refused where the rebuilt
operator would not compute the caller's product."""
from __future__ import annotations

#: the methods that make an operator's products (a subclass overriding one of them computes its own product)
PRODUCT_METHODS = ("_matvec", "matvec", "_rmatvec", "rmatvec", "_matmat", "matmat", "matvec_into", "matvec_dot",
                   "residual_into", "diagonal")
#: those a caller may set on an instance (the conversion rebuilds from the arrays and would drop them)
INSTANCE_PRODUCTS = frozenset(("_matvec", "matvec", "_rmatvec", "rmatvec", "matvec_into", "matvec_dot"))


def _inherited_rebuild(A):
    """The ancestor class whose ``with_backend`` ``A`` inherits, when a class between it and ``type(A)`` overrides a
    product method (the rebuilt operator would be that ancestor, without those products); else None."""
    mro = type(A).__mro__
    owner = next((c for c in mro if "with_backend" in vars(c)), None)
    if owner is None or owner is mro[0]:
        return None
    below = mro[: mro.index(owner)]
    return owner if any(m in vars(c) for c in below for m in PRODUCT_METHODS) else None


def convert(A, be):
    """``A`` on backend ``be``: ``A`` itself there, else ``A.with_backend(be)``. A ``TypeError`` naming the fix when the
    conversion would drop the caller's own code: a product replaced on the instance (helper-146), or a subclass that
    overrides a product method and inherits ``with_backend`` from a parent that rebuilds the parent class (a
    StencilOperator subclass adding 50 x in ``matvec_dot`` was solved as the bare stencil on numba: 'converged' at
    true residual 2.7, helper-154). A subclass adding only data or labels converts as its parent does."""
    if be == A.backend:
        return A
    if INSTANCE_PRODUCTS & set(vars(A)):
        raise TypeError(f"{type(A).__name__} on backend {A.backend.name!r} has its product replaced on the instance, "
                        f"which a conversion to {be.name!r} (rebuilt from its arrays) would drop; build it on "
                        f"{be.name!r} and set the product there, or leave backend=None")
    owner = _inherited_rebuild(A)
    if owner is not None:
        raise TypeError(f"{type(A).__name__} on backend {A.backend.name!r} overrides its products but inherits "
                        f"{owner.__name__}.with_backend, which would rebuild a plain {owner.__name__} on {be.name!r} "
                        f"without them; build it with backend={be.name!r}, define {type(A).__name__}.with_backend, or "
                        "leave backend=None to use the operator's own backend")
    return A.with_backend(be)
