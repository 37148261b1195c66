"""NumPy reference kernel sets: the readable, obviously-correct version of every kernel family.

One module per family (``krylov``, ``sparse``, ``stencil``, ``multigrid``, ``ot``) with the same
function names and signatures as its ``numba`` and ``cupy`` twins; the fast sets are tested against
these. Nothing here imports from the ``solvers`` package.
"""
