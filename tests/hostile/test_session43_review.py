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


# ----------------------------------------------------------------------------- helper-156: sketched_newton
from scipy.sparse.linalg import LinearOperator as _SciLO  # noqa: E402


def _qp_with_operators(Hop, s=1.0):
    Hs = np.diag([1.0, 2.0, 3.0])

    class Prob:
        x0 = np.zeros(3)

        def f(self, x):
            return 0.5 * x @ Hs @ x

        def grad(self, x):
            return Hs @ x

        def c(self, x):
            return np.array([s * (x.sum() - 1)])

        def jac(self, x):
            return _SciLO((1, 3), matvec=lambda v: np.array([s * v.sum()]), rmatvec=lambda v: s * v[0] * np.ones(3),
                          dtype=float)

        def hess_lagrangian(self, x, lam):
            return Hop

    return Prob()


@pytest.mark.parametrize("scale", [1.0, 1e7])
def test_nonsymmetric_hessian_operator_refused_whatever_the_jacobian_scale(scale):
    # measured against max |K|, a Jacobian 1e7 larger hid it: 'stagnated ... the KKT matrix may be singular'
    Hbad = np.diag([1.0, 2.0, 3.0])
    Hbad[0, 1] = 3.0
    H = _SciLO((3, 3), matvec=lambda v: Hbad @ v, rmatvec=lambda v: Hbad.T @ v, dtype=float)
    for sketch in ("gaussian", None):
        with pytest.raises(ValueError, match="hess_lagrangian's products are not those of a symmetric matrix"):
            solvers.sketched_newton(_qp_with_operators(H, scale), seed=0, sketch=sketch)


def test_symmetric_operator_qp_at_a_large_jacobian_scale_still_solves():
    H = _SciLO((3, 3), matvec=lambda v: np.array([1.0, 2.0, 3.0]) * v, dtype=float)
    r = solvers.sketched_newton(_qp_with_operators(H, 1e7), seed=0)
    w = 1.0 / np.array([1.0, 2.0, 3.0])
    assert r.converged and np.allclose(r.x, w / w.sum(), atol=1e-8)   # analytic: x ~ H^-1 1, sum x = 1


def test_nonsymmetric_hessian_operator_refused_before_a_minres_solve():
    # 201 <= n + m <= 2000 under MINRES: refused only by the second-order check, after six iterations
    n, m = 250, 50
    rng = np.random.default_rng(0)
    d = rng.uniform(1, 3, n)
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    g = rng.standard_normal(n)
    Hb = np.diag(d)
    Hb[0, 1] += 1.0

    class Prob:
        x0 = np.zeros(n)

        def f(self, x):
            return 0.5 * x @ (d * x) + g @ x

        def grad(self, x):
            return d * x + g

        def c(self, x):
            return A @ x - b

        def jac(self, x):
            return _SciLO((m, n), matvec=lambda v: A @ v, rmatvec=lambda v: A.T @ v, dtype=float)

        def hess_lagrangian(self, x, lam):
            return _SciLO((n, n), matvec=lambda v: Hb @ v, rmatvec=lambda v: Hb.T @ v, dtype=float)

    seen = []
    with pytest.raises(ValueError, match="dot test"):
        solvers.sketched_newton(Prob(), seed=0, sketch=None, callback=lambda intermediate_result: seen.append(1))
    assert seen == []


def test_tol_below_rounding_stagnates_instead_of_cycling_to_maxiter():
    from problems import nlp
    r = solvers.sketched_newton(nlp.hs("HS40"), seed=0, sketch=None, tol=1e-20, maxiter=2000)
    assert r.status == "stagnated" and r.nit < 100, (r.status, r.nit)
    assert "rounding level" in r.message and "loosen tol" in r.message
    # the iterate returned is the optimum: HS40's published f* = -0.25
    assert abs(r.history["objective"][-1] - nlp.hs("HS40").f_star) <= 1e-12


def test_equality_problem_names_bad_gradient_and_constraint_types():
    from problems.nlp import EqualityConstrainedProblem as ECP
    f = lambda x: float(x @ x)                                   # noqa: E731
    c = lambda x: np.array([x.sum() - 1])                        # noqa: E731
    J = lambda x: np.ones((1, 2))                                # noqa: E731
    H = lambda x, lam: 2 * np.eye(2)                             # noqa: E731
    for g, who in ((lambda x: np.array([1, None]), "grad"), (lambda x: np.array(["a", "b"]), "grad"),
                   (lambda x: 2 * x + 1j, "grad")):
        with pytest.raises(TypeError, match=rf"{who}\(x0\)"):
            ECP(f, g, c, J, H, [1.0, 2.0])
    with pytest.raises(TypeError, match=r"c\(x0\)"):
        ECP(f, lambda x: 2 * x, lambda x: np.array([None]), J, H, [1.0, 2.0])


class _DuckJac:
    """What the docs ask of a Jacobian operator: shape, matvec, rmatvec (no dtype)."""
    shape = (1, 2)

    def matvec(self, v):
        return np.array([v.sum()])

    def rmatvec(self, v):
        return v[0] * np.ones(2)


class _SphereProb:
    x0 = np.array([3.0, -1.0])

    def f(self, x):
        return float(x @ x)

    def grad(self, x):
        return 2 * x

    def c(self, x):
        return np.array([x.sum() - 1])

    def jac(self, x):
        return _DuckJac()

    def hess_lagrangian(self, x, lam):
        return 2 * np.eye(2)


@pytest.mark.parametrize("sketch", ["gaussian", None])
def test_duck_typed_jacobian_without_dtype(sketch):
    r = solvers.sketched_newton(_SphereProb(), seed=0, sketch=sketch)
    assert r.converged and np.allclose(r.x, [0.5, 0.5], atol=1e-8)     # analytic minimiser of |x|^2 on sum x = 1


@pytest.mark.parametrize("sketch", ["gaussian", None])
def test_complex_hessian_operator_named(sketch):
    Hc = np.eye(2) + 5j * np.array([[0, 1], [1, 0]])

    class Prob(_SphereProb):
        def jac(self, x):
            return np.ones((1, 2))

        def hess_lagrangian(self, x, lam):
            return _SciLO((2, 2), matvec=lambda v: Hc @ v, rmatvec=lambda v: Hc.conj().T @ v, dtype=complex)

    with pytest.raises(TypeError, match="problem.hess_lagrangian returned a complex operator"):
        solvers.sketched_newton(Prob(), seed=0, sketch=sketch)


def test_x0_shape_message_reads():
    from problems import nlp
    p = nlp.hs("HS40")
    p.x0 = np.zeros((2, 2))
    with pytest.raises(ValueError, match="must be a non-empty 1-D array"):
        solvers.sketched_newton(p, seed=0)


def test_split_plane_magnitude_from_bits_matches_numpy():
    # the split's max |f| is now an integer maximum over f's bits, turned back into a float by ldexp
    from solvers._kernels.numba._split_rows import _magnitude
    rng = np.random.default_rng(5)
    vals = np.concatenate([rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, 50),
                           [0.0, -0.0, 5e-324, -2.5e-310, 1.7976931348623157e308, np.inf, -np.inf, np.nan]])
    for v in vals:
        got = _magnitude(np.array([v]).view(np.uint64)[0] & np.uint64(0x7FFFFFFFFFFFFFFF))
        want = np.inf if not np.isfinite(v) else abs(v)
        assert got == want, (v, got)


# ----------------------------------------------------------------------------- helper-159: Chebyshev-Tucker
def _ct(*a, **k):
    from solvers.approx import chebtucker
    return chebtucker(*a, **k)


def test_unpickled_chebtucker_keeps_its_factors_immutable():
    F = _ct(lambda p: np.exp(p[:, 0]) * np.cos(p[:, 1]), [(0, 1), (0, 1)])
    G = pickle.loads(pickle.dumps(F))
    assert type(G.factors) is tuple
    with pytest.raises(TypeError):
        G.factors[0] = G.factors[0] * 2


def test_chebtucker_sum_overflow_is_named():
    f = lambda p: np.exp(p[:, 0]) * np.cos(3 * p[:, 1])                # noqa: E731
    F = _ct(f, [(0, 1), (-2, 2)])
    B = F * 8e307
    with pytest.raises(ValueError, match=r"ChebTucker \+: the sum overflows"):
        B + B                                                          # (was numpy's 'SVD did not converge')
    P = np.array([[0.3, 0.4], [0.9, -1.7]])
    S = (F * 4e307) + (F * 4e307)                                      # near the limit, still exact to rounding
    np.testing.assert_allclose(S(P) / 8e307, f(P), rtol=1e-12)


@pytest.mark.parametrize("route", ["chebyshev", "table"])
def test_float32_points_at_the_box_end(route):
    f = lambda p: np.sin(p[:, 0]) * np.cos(p[:, 1])                    # noqa: E731
    F = _ct(f, [(0, 0.1), (-0.3, 0.7)], degree=[32, 32], eval_method=route)
    y = np.array([[0.1, 0.7], [0.0, -0.3], [0.05, 0.2]], dtype=np.float32)   # float32(0.1) = 0.10000000149
    ref = f(np.clip(y.astype(np.float64), [0.0, -0.3], [0.1, 0.7]))
    np.testing.assert_allclose(F(y), ref, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="outside the domain"):        # beyond float32's rounding: still refused
        F(np.array([[0.1001, 0.0]], dtype=np.float32))


def test_chebtucker_messages_name_the_problem():
    with pytest.raises(TypeError, match="complex"):
        _ct(lambda p: p[:, 0], [(0, 1j)])
    F, G = _ct(lambda p: p[:, 0], [(0, 1)]), _ct(lambda p: p[:, 0], [(0, 2)])
    with pytest.raises(ValueError, match=r"\[\[0.0, 1.0\]\] and \[\[0.0, 2.0\]\]"):
        F + G
    f = lambda p: 1 / (2.2 + p[:, 0] + p[:, 1] * p[:, 2]) + np.sin(2 * p[:, 0] * p[:, 1])   # noqa: E731
    H = _ct(f, [(-1, 1)] * 3, ranks=1)
    P = np.random.default_rng(0).uniform(-1, 1, (2000, 3))
    err = np.max(np.abs(H(P) - f(P)))
    assert err > 1.0                                                   # rank 1 cannot hold it: the message says so
    assert "truncate far above tol" in H.message
    assert "truncate far above tol" not in _ct(f, [(-1, 1)] * 3).message


# ----------------------------------------------------------------------------- helper-160: sweep specs
def test_sweep_spec_parameter_names_checked_against_the_factory():
    from solvers.sweep._tasks import tasks_from_spec
    base = {"factory": "problems.pde:Poisson", "method": "cg"}
    with pytest.raises(ValueError, match="'shap', which factory 'problems.pde:Poisson' does not take"):
        tasks_from_spec({**base, "grid": {"shap": [[8, 8]]}})
    with pytest.raises(ValueError, match="missing a required argument: 'shape'"):
        tasks_from_spec(base)
    assert len(tasks_from_spec({**base, "grid": {"shape": [[8, 8], [6, 6]]}})) == 2


def test_sweep_cli_names_a_store_of_the_wrong_type(tmp_path):
    import subprocess
    spec = tmp_path / "s.toml"
    spec.write_text('factory = "problems.pde:Poisson"\nmethod = "cg"\nstore = 5\n[grid]\nshape = [[8, 8]]\n')
    r = subprocess.run([sys.executable, "-m", "solvers", "sweep", str(spec), "--dry-run"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "store must be a path" in r.stderr, r.stderr


@pytest.mark.parametrize("opts, exc, match", [({"rtol": float("nan")}, ValueError, "spec option rtol"),
                                              ({"maxiter": -1}, ValueError, "spec option maxiter"),
                                              ({"rtol": "x"}, TypeError, "spec option rtol"),
                                              ({"maxiter": 1.5}, TypeError, "spec option maxiter")])
def test_sweep_spec_option_values_checked_before_running(opts, exc, match):
    from solvers.sweep._tasks import tasks_from_spec
    spec = {"factory": "problems.pde:Poisson", "method": "cg", "grid": {"shape": [[8, 8]]}, "options": opts}
    with pytest.raises(exc, match=match):
        tasks_from_spec(spec)
    assert len(tasks_from_spec({**spec, "options": {"rtol": 1e-6, "maxiter": 50}})) == 1


def test_sweep_spec_method_checked_against_a_problem_class():
    from solvers.sweep._tasks import tasks_from_spec
    spec = {"factory": "problems.pde:Poisson", "method": "sns", "grid": {"shape": [[8, 8]]}}
    with pytest.raises(ValueError, match="'sns' does not fit Poisson; it offers: cg, minres, gmres, cdm"):
        tasks_from_spec(spec)
    assert len(tasks_from_spec({**spec, "method": ["cg", "minres"]})) == 2


def test_sweep_cli_json_spec_directory_and_conflicting_cluster(tmp_path):
    import json
    import subprocess

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "solvers", "sweep", *map(str, args)], capture_output=True,
                              text=True, timeout=300)

    spec = {"factory": "problems.pde:Poisson", "method": "cg", "grid": {"shape": [[8, 8], [6, 6]]}}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    r = cli(tmp_path / "s.json", "--dry-run", "--store", tmp_path / "st")
    assert r.returncode == 0 and "2 tasks" in r.stdout, r.stdout + r.stderr      # (was 'not valid TOML')
    (tmp_path / "d").mkdir()
    r = cli(tmp_path / "d", "--dry-run")
    assert r.returncode == 2 and "is a directory" in r.stderr and "spec" in r.stderr, r.stderr
    r = cli(tmp_path / "s.json", "--store", tmp_path / "st", "--cluster", "local", "--scheduler", "tcp://127.0.0.1:1")
    assert r.returncode == 2 and "give one" in r.stderr, r.stderr


def test_refused_sweep_store_leaves_no_lock_file(tmp_path):
    import subprocess
    d = tmp_path / "d"
    d.mkdir()
    (d / "readme.txt").write_text("hi")
    spec = tmp_path / "ok.toml"
    spec.write_text('factory = "problems.pde:Poisson"\nmethod = "cg"\n[grid]\nshape = [[8, 8]]\n')
    r = subprocess.run([sys.executable, "-m", "solvers", "sweep", str(spec), "--store", str(d)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "not a run store" in r.stderr, r.stderr
    assert sorted(p.name for p in d.iterdir()) == ["readme.txt"]
