"""Every operator built from arrays pickles with the standard library and keeps its products.

Operators cross process boundaries in sweeps (ARCHITECTURE.md, "Results"): a
pickled operator must unpickle into one with the same shape, dtype, backend,
declared structure and products (``matvec`` and, where defined, ``rmatvec``).
"""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from solvers.operators import (BlockOperator, DenseOperator, DiagonalOperator, GramOperator, IdentityOperator,
                               SparseOperator, StencilOperator, count_sketch, gaussian_sketch, kkt_operator,
                               row_sampling)


def _cases(backend):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    R = rng.standard_normal((4, 6))
    Sp = sp.random(6, 6, density=0.5, random_state=2, format="csr") + sp.eye(6)
    d = rng.uniform(1, 2, 6)
    dense = DenseOperator(A, backend=backend)
    sparse = SparseOperator(Sp, backend=backend)
    diag = DiagonalOperator(d, backend=backend)
    ident = IdentityOperator(6, backend=backend)
    grid = (4, 3)
    kx = rng.uniform(1, 2, (5, 3))
    ky = rng.uniform(1, 2, (4, 4))
    return {
        "dense": dense,
        "sparse": sparse,
        "diagonal": diag,
        "identity": ident,
        "sum": dense + sparse,
        "difference": sparse - diag,
        "product": dense @ diag,
        "scaled": 2.5 * sparse,
        "transposed": dense.T,
        "mixed": (dense + ident).T @ (3.0 * diag),
        "stencil_const": StencilOperator(grid, 0.25, backend=backend),
        "stencil_var": StencilOperator(grid, (0.25, 0.5), k=(kx, ky), shift=rng.uniform(0, 1, grid), backend=backend),
        "block": BlockOperator([[dense, None], [R, DiagonalOperator(d[:4], backend=backend)]], backend=backend),
        "kkt": kkt_operator(A + A.T, R, backend=backend),
        "gram": GramOperator(R, shift=0.5, backend=backend),
        "gram_sparse": GramOperator(Sp, backend=backend),
        "gaussian_sketch": gaussian_sketch(3, 6, seed=4, backend=backend),
        "count_sketch": count_sketch(3, 6, seed=4, backend=backend),
        "row_sampling": row_sampling(3, 6, seed=4, probabilities=np.arange(1, 7) / 21, backend=backend),
    }


NAMES = list(_cases("numpy"))


@pytest.mark.parametrize("name", NAMES)
def test_pickle_roundtrip(name, cpu_backend):
    op = _cases(cpu_backend)[name]
    blob = pickle.dumps(op)
    back = pickle.loads(blob)
    assert type(back) is type(op)
    assert back.shape == op.shape and back.dtype == op.dtype
    assert back.backend == op.backend and back.backend.name == cpu_backend
    assert (back.symmetric, back.positive_definite) == (op.symmetric, op.positive_definite)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(op.shape[1])
    y = rng.standard_normal(op.shape[0])
    np.testing.assert_array_equal(back.matvec(x), op.matvec(x))
    np.testing.assert_array_equal(back.rmatvec(y), op.rmatvec(y))
    if hasattr(op, "seed"):
        assert back.seed == op.seed
    # a second round trip of the unpickled operator still works (no state lost on the way)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(back)).matvec(x), op.matvec(x))


@pytest.mark.parametrize("name", ["dense", "sparse", "stencil_var", "gaussian_sketch"])
def test_pickle_size_is_the_arrays(name):
    """A pickled operator ships its arrays once (no duplicated transposes or caches beyond 3x)."""
    op = _cases("numpy")[name]
    arrays = [v for v in vars(op).values() if isinstance(v, np.ndarray)]
    arrays += [a for v in vars(op).values() if isinstance(v, tuple) for a in v if isinstance(a, np.ndarray)]
    if sp.issparse(getattr(op, "A", None)):
        arrays += [op.A.data, op.A.indices, op.A.indptr]
    nbytes = sum(a.nbytes for a in arrays)
    assert len(pickle.dumps(op)) <= 3 * nbytes + 4096


@pytest.mark.gpu
@pytest.mark.parametrize("name", NAMES)
def test_pickle_roundtrip_gpu(name):
    import cupy as cp

    op = _cases("cupy")[name]
    back = pickle.loads(pickle.dumps(op))
    assert back.backend.name == "cupy"
    x = cp.asarray(np.random.default_rng(1).standard_normal(op.shape[1]))
    cp.testing.assert_array_equal(back.matvec(x), op.matvec(x))
