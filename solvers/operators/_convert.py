"""Moving a :class:`~solvers.operators.base.LinearOperator` to another backend (``aslinearoperator(A, backend=...)``,
and every operator that holds others: the composed operators, the preconditioners), refused where the rebuilt
operator would not compute the caller's product."""
from __future__ import annotations

#: the methods that make an operator's products (a subclass overriding one of them computes its own product)
PRODUCT_METHODS = ("_matvec", "matvec", "_rmatvec", "rmatvec", "_matmat", "matmat", "matvec_into", "matvec_dot",
                   "residual_into", "diagonal")
#: those a caller may set on an instance (the conversion rebuilds from the arrays and would drop them)
INSTANCE_PRODUCTS = frozenset(("_matvec", "matvec", "_rmatvec", "rmatvec", "matvec_into", "matvec_dot"))


#: the optional fast products a solver prefers to ``matvec`` (:class:`solvers.linear._apply.Applier`)
FAST_PRODUCTS = ("matvec_dot", "matvec_into")


def stale_fast_products(obj) -> tuple:
    """The fast products of :data:`FAST_PRODUCTS` that ``obj``'s class inherits from an ancestor below which a
    subclass redefines ``matvec`` or ``_matvec``: they compute the ancestor's product, not the subclass's (a
    StencilOperator subclass adding a penalty in ``_matvec`` was solved by CG, MINRES, GMRES and CDM with the bare
    stencil's ``matvec_dot`` and reported converged at true residual 3.3 against a tolerance 2e-7; outside probe
    helper-157). A subclass that defines the fast products too keeps them."""
    mro = type(obj).__mro__
    stale = []
    for name in FAST_PRODUCTS:
        owner = next((c for c in mro if name in vars(c)), None)
        if owner is not None and any(m in vars(c) for c in mro[: mro.index(owner)] for m in ("matvec", "_matvec")):
            stale.append(name)
    return tuple(stale)


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
