"""Block / KKT and Gram operators: dot test, dense references, declared structure, errors."""
import numpy as np
import pytest
import scipy.sparse as sp

from solvers.operators import (BlockOperator, DiagonalOperator, FunctionOperator, GramOperator, aslinearoperator,
                               dot_test, kkt_operator)


def _dense(op):
    """The explicit matrix, column by column from matvecs on unit vectors."""
    be = op.backend
    return np.column_stack([be.to_numpy(op.matvec(be.asarray(e))) for e in np.eye(op.shape[1])])


def _dense_T(op):
    be = op.backend
    return np.column_stack([be.to_numpy(op.rmatvec(be.asarray(e))) for e in np.eye(op.shape[0])]).T


def test_block_matches_np_block(rng, cpu_backend):
    A = rng.standard_normal((3, 4))
    B = rng.standard_normal((3, 2))
    C = sp.random(5, 4, density=0.4, random_state=1, format="csr")
    d = rng.standard_normal(2)
    op = BlockOperator([[A, B], [C, None], [None, DiagonalOperator(d, backend=cpu_backend)]], backend=cpu_backend)
    ref = np.block([[A, B], [C.toarray(), np.zeros((5, 2))], [np.zeros((2, 4)), np.diag(d)]])
    assert op.shape == (10, 6) and op.row_sizes == (3, 5, 2) and op.col_sizes == (4, 2)
    assert op.backend.name == cpu_backend
    dot_test(op)
    np.testing.assert_allclose(_dense(op), ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(_dense_T(op), ref, rtol=1e-13, atol=1e-14)
    X = rng.standard_normal((6, 3))
    np.testing.assert_allclose(op.matmat(X), ref @ X, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(op @ X, ref @ X, rtol=1e-13, atol=1e-14)
    # 2x2 with all blocks present and a square diagonal structure: diagonal() from the blocks
    sq = BlockOperator([[np.eye(4) * 3, A.T[:, :2]], [A[:2], np.diag(d)]], backend=cpu_backend)
    sq_ref = np.block([[np.eye(4) * 3, A.T[:, :2]], [A[:2], np.diag(d)]])
    np.testing.assert_allclose(_dense(sq), sq_ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(sq.diagonal(), np.diag(sq_ref))
    with pytest.raises(NotImplementedError, match="square diagonal blocks"):
        op.diagonal()


def test_block_complex_and_function_blocks(rng):
    A = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    F = FunctionOperator((3, 2), lambda x: np.arange(6.0).reshape(3, 2) @ x,
                         lambda y: np.arange(6.0).reshape(3, 2).T @ y, backend="numpy")
    op = BlockOperator([[A, F]], backend="numpy")
    ref = np.block([[A, np.arange(6.0).reshape(3, 2)]])
    assert op.dtype == np.complex128
    dot_test(op)
    np.testing.assert_allclose(_dense(op), ref, rtol=1e-13)
    np.testing.assert_allclose(_dense_T(op), ref.conj(), rtol=1e-13)


def test_kkt_operator(rng, cpu_backend):
    n, m = 6, 3
    M = rng.standard_normal((n, n))
    H = M + M.T
    J = rng.standard_normal((m, n))
    K = kkt_operator(H, J, backend=cpu_backend)
    ref = np.block([[H, J.T], [J, np.zeros((m, m))]])
    assert K.shape == (n + m, n + m)
    assert K.symmetric and not K.positive_definite
    dot_test(K)
    np.testing.assert_allclose(_dense(K), ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(_dense_T(K), ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(K.diagonal(), np.diag(ref))
    ev = np.linalg.eigvalsh(_dense(K))
    assert (ev < 0).any() and (ev > 0).any()          # indefinite, as documented
    # sparse J and an operator H
    Ks = kkt_operator(aslinearoperator(H, backend=cpu_backend), sp.csr_matrix(J))
    np.testing.assert_allclose(_dense(Ks), ref, rtol=1e-13, atol=1e-14)


def test_kkt_solves_with_minres(rng):
    import solvers

    n, m = 20, 5
    M = rng.standard_normal((n, n))
    H = M @ M.T + n * np.eye(n)
    J = rng.standard_normal((m, n))
    K = kkt_operator(H, J, backend="numpy")
    rhs = rng.standard_normal(n + m)
    res = solvers.minres(K, rhs, rtol=1e-10)
    ref = np.linalg.solve(np.block([[H, J.T], [J, np.zeros((m, m))]]), rhs)
    np.testing.assert_allclose(res.x, ref, rtol=1e-7, atol=1e-8)


def test_block_errors(rng):
    A = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match=r"block \[1\]\[0\] has 5 columns but block column 0 has width 4"):
        BlockOperator([[A, None], [np.ones((2, 5)), np.ones((2, 2))]])
    with pytest.raises(ValueError, match=r"block \[0\]\[1\] has 2 rows but block row 0 has height 3"):
        BlockOperator([[A, np.ones((2, 2))]])
    with pytest.raises(ValueError, match="block row 1 is all None"):
        BlockOperator([[A], [None]])
    with pytest.raises(ValueError, match="block column 1 is all None"):
        BlockOperator([[A, None]])
    with pytest.raises(ValueError, match="rectangular"):
        BlockOperator([[A, A], [A]])
    with pytest.raises(TypeError, match="list of lists"):
        BlockOperator(A)
    with pytest.raises(ValueError, match="all blocks are None"):
        BlockOperator([[None]])
    with pytest.raises(ValueError, match="H must be symmetric"):
        kkt_operator(A[:, :3], A[:2, :3])
    with pytest.raises(ValueError, match="H must be symmetric"):
        kkt_operator(sp.csr_matrix(A[:, :3]), A[:2, :3])
    with pytest.raises(ValueError, match="J must have shape"):
        kkt_operator(np.eye(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="H must be square"):
        kkt_operator(aslinearoperator(A), np.ones((2, 4)))


def test_gram_operator(rng, cpu_backend):
    A = rng.standard_normal((8, 5))
    for shift in (0.0, 0.7):
        for Ain, name in ((A, "dense"), (sp.csr_matrix(A), "sparse"),
                          (FunctionOperator(A.shape, lambda x: A @ x, lambda y: A.T @ y), "function")):
            G = GramOperator(Ain, shift=shift, backend=cpu_backend)
            ref = A.T @ A + shift * np.eye(5)
            assert G.shape == (5, 5) and G.symmetric and G.positive_definite
            dot_test(G)
            np.testing.assert_allclose(_dense(G), ref, rtol=1e-12, atol=1e-13, err_msg=name)
            X = rng.standard_normal((5, 2))
            np.testing.assert_allclose(G.matmat(X), ref @ X, rtol=1e-12, atol=1e-13, err_msg=name)
            if name != "function":
                np.testing.assert_allclose(G.diagonal(), np.diag(ref), rtol=1e-13, err_msg=name)
            else:
                with pytest.raises(NotImplementedError, match="dense or sparse"):
                    G.diagonal()
    Ac = A + 1j * rng.standard_normal(A.shape)
    Gc = GramOperator(Ac, backend="numpy")
    dot_test(Gc)
    np.testing.assert_allclose(_dense(Gc), Ac.conj().T @ Ac, rtol=1e-12)
    np.testing.assert_allclose(Gc.diagonal(), np.diag(Ac.conj().T @ Ac).real, rtol=1e-12)


def test_gram_with_cg(rng):
    import solvers

    A = rng.standard_normal((40, 10))
    b = rng.standard_normal(10)
    res = solvers.cg(GramOperator(A, shift=0.1, backend="numpy"), b, rtol=1e-12)
    np.testing.assert_allclose(res.x, np.linalg.solve(A.T @ A + 0.1 * np.eye(10), b), rtol=1e-8)


def test_gram_errors():
    with pytest.raises(ValueError, match="shift must be finite and >= 0"):
        GramOperator(np.eye(3), shift=-1.0)
    with pytest.raises(ValueError, match="shift"):
        GramOperator(np.eye(3), shift=float("nan"))
    with pytest.raises(TypeError, match="shift must be a real number"):
        GramOperator(np.eye(3), shift="1")
    with pytest.raises(TypeError, match="shift must be a real number"):
        GramOperator(np.eye(3), shift=True)


@pytest.mark.gpu
def test_block_kkt_gram_gpu(rng):
    import cupy as cp
    import cupyx.scipy.sparse as csp

    n, m = 7, 3
    M = rng.standard_normal((n, n))
    H = M + M.T
    J = rng.standard_normal((m, n))
    K = kkt_operator(cp.asarray(H), csp.csr_matrix(cp.asarray(J)))
    assert K.backend.name == "cupy"
    ref = np.block([[H, J.T], [J, np.zeros((m, m))]])
    dot_test(K)
    np.testing.assert_allclose(_dense(K), ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(cp.asnumpy(K.diagonal()), np.diag(ref))
    X = rng.standard_normal((n + m, 2))
    np.testing.assert_allclose(cp.asnumpy(K.matmat(cp.asarray(X))), ref @ X, rtol=1e-12, atol=1e-13)
    for Ain in (cp.asarray(J), csp.csr_matrix(cp.asarray(J))):
        G = GramOperator(Ain, shift=0.3)
        gref = J.T @ J + 0.3 * np.eye(n)
        dot_test(G)
        np.testing.assert_allclose(_dense(G), gref, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(cp.asnumpy(G.diagonal()), np.diag(gref), rtol=1e-12)
