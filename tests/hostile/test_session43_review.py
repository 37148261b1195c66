"""Session 43's outside probes (helpers 157, 158): every case failed before its fix.

References are independent of the solvers under test: SciPy CSR products and NumPy residuals.
"""
import pickle
import shutil
import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from solvers import RunStore, cdm, cg, gmres, minres, multigrid
from solvers.linear import chebyshev, jacobi
from solvers.operators import DiagonalOperator, SparseOperator, StencilOperator
from solvers.operators._convert import stale_fast_products
from solvers.results import SolveResult
from solvers.runs import DamagedStoreError

BACKENDS = ["numpy", "numba"]


class _Pinned(StencilOperator):
    """The stencil plus 1e3 x[0] at node 0, through the documented hook ``_matvec`` only."""

    def _matvec(self, x):
        y = super()._matvec(x)
        y[0] += 1e3 * x[0]
        return y


class _PinnedPublic(StencilOperator):
    """The same, overriding the public ``matvec``."""

    def matvec(self, x):
        y = super().matvec(x)
        y[0] += 1e3 * x[0]
        return y


class _ShiftedSparse(SparseOperator):
    """A SparseOperator subclass adding 50 x in ``_matvec``."""

    def _matvec(self, x):
        return super()._matvec(x) + 50.0 * x


def _pinned_reference(A):
    ref = A.to_csr().tolil()
    ref[0, 0] += 1e3
    return ref.tocsr()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls", [_Pinned, _PinnedPublic])
@pytest.mark.parametrize("solver", [cg, minres, gmres, cdm])
def test_subclass_product_override_is_what_the_solvers_solve(backend, cls, solver):
    # the inherited matvec_dot / matvec_into computed the bare stencil: 'converged' at true residual 3.3 (tol 2e-7)
    A = cls((20, 20), 1 / 21, backend=backend)
    ref = _pinned_reference(A)
    b = np.ones(A.shape[0])
    b[0] = 0.0                                  # the first Krylov vector has x[0] = 0: the first products agree
    res = solver(A, b, rtol=1e-8)
    assert res.converged, res.message
    assert np.linalg.norm(b - ref @ res.x) <= 1.5e-8 * np.linalg.norm(b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("precond", ["mg", "jacobi"])
def test_subclass_product_override_with_a_preconditioner(backend, precond):
    A = _Pinned((20, 20), 1 / 21, backend=backend)
    ref = _pinned_reference(A)
    b = np.ones(A.shape[0])
    b[0] = 0.0
    M = multigrid(A) if precond == "mg" else jacobi(A)
    for solver in (cg, minres, gmres):
        res = solver(A, b, M=M, rtol=1e-8)
        assert res.converged, (solver.__name__, res.message)
        assert np.linalg.norm(b - ref @ res.x) <= 1.5e-8 * np.linalg.norm(b), solver.__name__


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_subclass_override(backend):
    n = 200
    S = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    A = _ShiftedSparse(S, backend=backend)
    b = np.random.default_rng(0).standard_normal(n)
    for solver in (cg, minres, gmres):
        res = solver(A, b, rtol=1e-10)
        assert res.converged, res.message
        assert np.linalg.norm(b - (S @ res.x + 50.0 * res.x)) <= 1.5e-10 * np.linalg.norm(b)


def test_stale_fast_products_and_plain_products():
    assert stale_fast_products(_Pinned((4, 4), 0.2)) == ("matvec_dot", "matvec_into")
    assert stale_fast_products(_PinnedPublic((4, 4), 0.2)) == ("matvec_dot", "matvec_into")
    assert stale_fast_products(StencilOperator((4, 4), 0.2)) == ()

    class Consistent(_Pinned):                  # defines its fast products too: kept
        def matvec_into(self, x, out):
            out[...] = self._matvec(x)
            return out

        def matvec_dot(self, x, out):
            self.matvec_into(x, out)
            return float(x @ out)

    assert stale_fast_products(Consistent((4, 4), 0.2)) == ()
    assert not _PinnedPublic((4, 4), 0.2).plain_products()     # CG's fused stencil pass would skip the override
    assert StencilOperator((4, 4), 0.2).plain_products()


@pytest.mark.parametrize("backend", BACKENDS)
def test_chebyshev_preconditioner_from_threads(backend):
    # its work arrays were shared unlocked: vectors off by 1e26, CG 'breakdown ... M is not SPD'
    A = StencilOperator((30, 30), 1 / 31, backend=backend)
    M = pickle.loads(pickle.dumps(chebyshev(A)))        # the lock is rebuilt on unpickling
    R = np.random.default_rng(0).standard_normal((4, A.shape[0]))
    ref = [M.matvec(R[i]).copy() for i in range(4)]
    err = [0.0] * 4
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def work(i):
            for _ in range(30):
                err[i] = max(err[i], float(np.abs(M.matvec(R[i]) - ref[i]).max()))
        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert max(err) == 0.0


def test_indefinite_multigrid_advice_names_gmres_only():
    A = StencilOperator((32, 32), 1 / 33, shift=-200.0, backend="numpy")
    M = multigrid(A)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    msg = M.solve(b, maxiter=3).message
    assert "solvers.gmres" in msg and "solvers.minres or" not in msg
    res = gmres(A, b, M=M)
    assert res.converged
    assert np.linalg.norm(b - A.to_csr() @ res.x) <= 1.5e-8 * np.linalg.norm(b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_minres_singular_preconditioner_is_named(backend):
    # ran on into 0/0: 'a non-finite value ... the operator or preconditioner produced NaN/inf'
    n = 100
    A = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    b = np.random.default_rng(3).standard_normal(n)
    res = minres(A, b, M=DiagonalOperator(np.r_[np.ones(50), np.zeros(50)]), backend=backend)
    assert not res.converged
    assert res.status != "nonfinite"
    assert "preconditioner maps the residual to (nearly) zero" in res.message
    assert np.isfinite(res.x).all()
    assert res.history["residual"][-1] == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-10)


def test_jacobi_advice_does_not_repeat_the_option_given():
    A = sp.diags([1.0, 0.0, 2.0]).tocsr()
    with pytest.raises(ValueError, match="entry 1") as e:
        jacobi(A, require_positive=False)
    assert "require_positive=False" not in str(e.value)
    with pytest.raises(ValueError, match="require_positive=False"):
        jacobi(sp.diags([1.0, -1.0, 2.0]).tocsr())


def _store_with_runs(path, k=3):
    with RunStore(path) as st:
        for i in range(k):
            st.save(SolveResult(np.arange(500.0) + i, True, "converged", f"m{i}", i))


def test_store_with_overwritten_signature_is_damaged_not_foreign(tmp_path):
    # its format name sits at byte ~2080, past the 1 KiB read before: a plain ValueError 'not an HDF5 file'
    p = tmp_path / "a.h5"
    _store_with_runs(p)
    q = tmp_path / "sig.h5"
    shutil.copy(p, q)
    with open(q, "r+b") as fh:
        fh.write(b"\0" * 8)
    with pytest.raises(DamagedStoreError, match="salvage"):
        RunStore(q, mode="r")
    other = tmp_path / "x.csv"                  # another program's file stays 'not an HDF5 file'
    other.write_text("a,b\n1,2\n" * 100)
    with pytest.raises(ValueError, match="not an HDF5 file"):
        RunStore(other, mode="r")


def test_nan_tag_shows_as_nan_in_the_runs_table():
    from solvers.cli.runs import _tags_str
    assert _tags_str({"a": float("nan"), "b": 0.5, "c": "x"}) == "a=nan,b=0.5,c=x"


def test_sinkhorn_docs_explain_zero_history_rows():
    import importlib
    sk = importlib.import_module("solvers.ot.sinkhorn")
    assert "fixed" in sk.__doc__ and "reads exactly 0" in sk.__doc__
    rng = np.random.default_rng(1)
    C = rng.random((6, 5))
    r = solvers.sns(C, np.full(6, 1 / 6), np.full(5, 1 / 5), eps=1e-12)
    # whatever rows read 0, the claim rests on the returned pair measured again
    assert not r.converged and r.marginal_error > 0 and r.history["marginal_error"][-1] == r.marginal_error
