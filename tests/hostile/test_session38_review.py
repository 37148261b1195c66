"""Session 38: failure messages that name the likely cause."""
import numpy as np

import solvers
from problems.nlp import EqualityConstrainedProblem


def _cubic_on_line():
    # min -x^3 - y s.t. x = y: f -> -inf along the feasible ray x = y -> inf (no minimiser)
    return EqualityConstrainedProblem(
        f=lambda x: -x[0] ** 3 - x[1], grad=lambda x: np.array([-3.0 * x[0] ** 2, -1.0]),
        c=lambda x: np.array([x[0] - x[1]]), jac=lambda x: np.array([[1.0, -1.0]]),
        hess_lagrangian=lambda x, lam: np.array([[-6.0 * x[0], 0.0], [0.0, 0.0]]), x0=np.array([1.0, 1.0]))


def test_sketched_newton_unbounded_failure_says_unbounded():
    for seed in (0, 1):
        res = solvers.sketched_newton(_cubic_on_line(), maxiter=200, seed=seed)
        assert not res.converged
        # whichever exit ends it (no descent direction, divergence, maxiter), the message names unboundedness
        assert "unbounded below" in res.message, res.message
        f = -res.x[0] ** 3 - res.x[1]
        assert f < -1e6                    # the objective really fell far: the note is true


def test_far_and_falling_note_is_quiet_near_x0():
    from solvers.nonlinear._newton_parts import far_and_falling

    assert far_and_falling(1.0, 0.5, 10.0, 1.0) == ""          # near x0, small decrease
    assert far_and_falling(1.0, -1e9, 10.0, 1.0) == ""         # large decrease but close to x0
    assert far_and_falling(1.0, 0.0, 1e9, 1.0) == ""           # far but f barely fell
    assert "unbounded" in far_and_falling(1.0, -1e9, 1e9, 1.0)


# --------------------------------------------------------------------------------------- saddles (helper-128)
import pytest  # noqa: E402


def _quad(d):
    d = np.asarray(d, dtype=float)
    return (lambda x: 0.5 * float(x @ (d * x))), (lambda x: d * x), (lambda x: np.diag(d)), (lambda x, p: d * p)


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
def test_newton_small_negative_curvature_near_saddle_is_not_converged(method):
    # f = (1000 x^2 - 1e-3 y^2) / 2 from 5e-12 off the saddle: ||g|| <= tol at x0; eigvalsh(H) = [-1e-3, 1e3] and
    # f falls without bound along y (the reference): a failure, not convergence
    f, g, h, _ = _quad([1000.0, -1e-3])
    res = solvers.newton(f, np.array([5e-12, 0.0]), jac=g, hess=h, method=method)
    assert not res.converged and res.status == "failed" and "not a minimiser" in res.message
    assert np.linalg.eigvalsh(h(res.x))[0] < 0 and f(res.x + np.array([0.0, 1.0])) < f(res.x)


def test_newton_badly_scaled_exact_saddle_is_not_converged():
    f, g, h, hp = _quad([2e9, -2.0])            # 1e9 x^2 - y^2 at the saddle (0, 0): g = 0, lambda_min = -2
    for kw in ({"hess": h}, {"hessp": hp}):     # dense eigenvalues, and the Lanczos (Ritz vector) route
        res = solvers.newton(f, np.zeros(2), jac=g, method="newton-cg", **kw)
        assert not res.converged and "not a minimiser" in res.message, (kw, res.message)


def test_newton_lanczos_route_small_negative_curvature():
    d = np.concatenate([[-1e-3], np.linspace(2.0, 1000.0, 299)])
    f, g, h, hp = _quad(d)
    x0 = np.zeros(300)
    x0[1] = 1e-12                               # ||g|| = 2e-12: stationary to tol
    res = solvers.newton(f, x0, jac=g, hessp=hp, method="newton-cg")
    assert not res.converged and "not a minimiser" in res.message


@pytest.mark.parametrize("delta", [1e-9, 1e-10])
def test_newton_valley_of_minimisers_still_converges(delta):
    # (y - x^2)^2 at (0, delta): gradient 2 delta <= tol, curvature -4 delta along x, a minimiser within delta
    # (f* = 0 on y = x^2): first-order converged, not a saddle -- the probe must not call it one
    f = lambda z: (z[1] - z[0] ** 2) ** 2
    g = lambda z: np.array([-4.0 * z[0] * (z[1] - z[0] ** 2), 2.0 * (z[1] - z[0] ** 2)])
    h = lambda z: np.array([[12.0 * z[0] ** 2 - 4.0 * z[1], -4.0 * z[0]], [-4.0 * z[0], 2.0]])
    res = solvers.newton(f, np.array([0.0, delta]), jac=g, hess=h, method="newton")
    assert res.converged, res.message
    assert f(res.x) <= 1e-17


def test_newton_true_minimiser_unaffected():
    f, g, h, _ = _quad([1.0, 1e-3])
    res = solvers.newton(f, np.array([1.0, 1.0]), jac=g, hess=h)
    assert res.converged and np.allclose(res.x, 0.0, atol=1e-5)


@pytest.mark.parametrize("big", [1e4, 1e7, 1e9])
def test_sketched_newton_badly_scaled_reduced_saddle(big):
    # min big x^2 - y^2 + z^2 s.t. x = z: Z^T H Z = diag(big + 1, -2) exactly; feasible (0, 1, 0) has f = -1 < 0
    p = EqualityConstrainedProblem(
        f=lambda v: big * v[0] ** 2 - v[1] ** 2 + v[2] ** 2,
        grad=lambda v: np.array([2 * big * v[0], -2 * v[1], 2 * v[2]]),
        c=lambda v: np.array([v[0] - v[2]]), jac=lambda v: np.array([[1.0, 0.0, -1.0]]),
        hess_lagrangian=lambda v, lam: np.diag([2 * big, -2.0, 2.0]), x0=np.zeros(3))
    for sketch in ("gaussian", None):
        res = solvers.sketched_newton(p, sketch=sketch, seed=0, backend="numpy")
        assert not res.converged and res.status == "failed"
        assert res.stats["second_order"].startswith("negative curvature")
        assert res.stats["reduced_hessian_min_eig"] == pytest.approx(-2.0, rel=1e-10)   # the problem's own units


def test_sketched_newton_convex_reduced_problem_converges():
    big = 1e7                                   # the same with +y^2: a minimiser at 0
    p = EqualityConstrainedProblem(
        f=lambda v: big * v[0] ** 2 + v[1] ** 2 + v[2] ** 2,
        grad=lambda v: np.array([2 * big * v[0], 2 * v[1], 2 * v[2]]),
        c=lambda v: np.array([v[0] - v[2] - 1.0]), jac=lambda v: np.array([[1.0, 0.0, -1.0]]),
        hess_lagrangian=lambda v, lam: np.diag([2 * big, 2.0, 2.0]), x0=np.zeros(3))
    res = solvers.sketched_newton(p, sketch=None, seed=0, backend="numpy")
    assert res.converged, res.message
    # analytic minimiser: x = z + 1, minimise big x^2 + z^2 -> z = -big / (big + 1), x = 1 / (big + 1)
    assert np.allclose(res.x, [1 / (big + 1), 0.0, -big / (big + 1)], atol=1e-9)


# --------------------------------------------------------------------------------------- OT (helper-127)
def _forbidden(big, n=120, m=90, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.random((n, m))
    forbid = rng.random((n, m)) < 0.3
    a = rng.random(n) ** 4
    b = rng.random(m) ** 4
    return np.where(forbid, big, C), a / a.sum(), b / b.sum()


def test_rounding_floor_ignores_forbidden_costs():
    # a forbidden pair at cost 1e20 (the library's advice for forbidden pairs) carries no mass: the floor of the
    # same potentials is that of the problem with the pair at cost 100 (exp(-100 / 1e-4) is 0 in double too)
    eps = 1e-4
    out = []
    for big in (1e20, 100.0):
        C, a, b = _forbidden(big)
        r = solvers.sinkhorn(C, a, b, eps=eps, maxiter=3000)
        out.append(r)
        assert r.status != "stagnated", r.message     # the floor is ~1e-12, the error 1e-3..1e-5: no stall claim
    # the same plan either way (the forbidden entries are exact zeros): same error history
    h0, h1 = out[0].history["marginal_error"], out[1].history["marginal_error"]
    assert len(h0) == len(h1) and np.allclose(h0, h1, rtol=1e-6)


def test_auto_messages_name_the_problem():
    from problems.ot import EntropicOT

    C = np.random.default_rng(1).random((6, 5))
    p = EntropicOT(C, eps=0.1)
    p.eps = None
    with pytest.raises(TypeError, match=r"eps \(problem.eps\)"):
        solvers.solve(p)
    p = EntropicOT(C, eps=0.1)
    p.a = None
    with pytest.raises(TypeError, match="auto: problem.a and problem.b"):
        solvers.solve(p)

    class NotAProblem:
        methods = ("auto",)

    with pytest.raises(TypeError, match="auto: expected an EntropicOT"):
        solvers.ot.auto(NotAProblem())


def test_sinkhorn_overflowing_cost_range_message():
    rng = np.random.default_rng(0)
    C = (rng.random((30, 20)) * 2 - 1) * 1.5e308      # finite, but C_ij - C_kl overflows
    with np.errstate(all="ignore"):
        r = solvers.sinkhorn(C, np.full(30, 1 / 30), np.full(20, 1 / 20), eps=3e306)
    if r.status == "nonfinite":
        assert "divide C and eps by a common factor" in r.message
    else:                                             # a solve that got through must be honest about it
        assert r.converged == (r.marginal_error <= r.options["tol"])


def test_grad_reg_nan_jac_beyond_x_is_named():
    from scipy.optimize import rosen, rosen_der, rosen_hess

    jac = lambda x: rosen_der(x) if x[0] < -1.1 else np.full(2, np.nan)   # f finite, jac NaN past x0 = -1.1
    r = solvers.newton(rosen, np.array([-1.2, 1.0]), jac=jac, hess=rosen_hess, method="grad-reg", backend="numpy")
    assert not r.converged
    assert "jac was NaN or inf" in r.message, r.message


def test_sketched_newton_shift_uses_the_reduced_scale():
    # min 1e7 x^2 - y^2 + z^2 s.t. x = 0 from (0, 0, 0.5): the Hessian shift was sized by ||H|| = 2e7 (curvature the
    # constraint removes), so each step moved z by ~1e-6 and maxiter ended it; with the reduced scale z reaches 0
    # within a few iterations and the verdict is the true one: a saddle (sketch=None: y stays 0 by symmetry) or
    # the unbounded descent along y (sketched)
    big = 1e7
    p = EqualityConstrainedProblem(
        f=lambda v: big * v[0] ** 2 - v[1] ** 2 + v[2] ** 2, grad=lambda v: np.array([2 * big * v[0], -2 * v[1], 2 * v[2]]),
        c=lambda v: np.array([v[0]]), jac=lambda v: np.array([[1.0, 0.0, 0.0]]),
        hess_lagrangian=lambda v, lam: np.diag([2 * big, -2.0, 2.0]), x0=np.array([0.0, 0.0, 0.5]))
    r = solvers.sketched_newton(p, sketch=None, seed=0, backend="numpy")
    assert r.status == "failed" and "NOT a local minimiser" in r.message and r.nit < 60 and abs(r.x[2]) < 1e-6
    r = solvers.sketched_newton(p, sketch="gaussian", seed=0, backend="numpy")
    assert not r.converged and r.status != "maxiter"


# ------------------------------------------------------------------- the probe's review (helper-130)
def test_valley_with_a_far_basin_still_converges():
    # (y - x^2)^2 + x^4 - 0.2 x^6 at (0, 3e-9): the minimiser (0, 0) is 3e-9 away; f falls again only at |x| ~ 4
    f = lambda z: (z[1] - z[0] ** 2) ** 2 + z[0] ** 4 - 0.2 * z[0] ** 6
    g = lambda z: np.array([-4 * z[0] * (z[1] - z[0] ** 2) + 4 * z[0] ** 3 - 1.2 * z[0] ** 5, 2 * (z[1] - z[0] ** 2)])
    h = lambda z: np.array([[12 * z[0] ** 2 - 4 * z[1] + 12 * z[0] ** 2 - 6 * z[0] ** 4, -4 * z[0]],
                            [-4 * z[0], 2.0]])
    for method in ("newton", "newton-cg", "grad-reg"):
        res = solvers.newton(f, np.array([0.0, 3e-9]), jac=g, hess=h, method=method)
        assert res.converged, (method, res.message)


def test_sketched_valley_of_minimisers_converges():
    # min (y - 1000 x^2)^2 + 100 z^2 s.t. z = 0 from (0, 2e-9, 0): every point of the valley is a global minimiser;
    # reduced curvature -8e-6 (order ||g||) is the valley's, not a saddle's
    a = 1000.0
    p = EqualityConstrainedProblem(
        f=lambda v: (v[1] - a * v[0] ** 2) ** 2 + 100 * v[2] ** 2,
        grad=lambda v: np.array([-4 * a * v[0] * (v[1] - a * v[0] ** 2), 2 * (v[1] - a * v[0] ** 2), 200 * v[2]]),
        c=lambda v: np.array([v[2]]), jac=lambda v: np.array([[0.0, 0.0, 1.0]]),
        hess_lagrangian=lambda v, lam: np.array([[12 * a * a * v[0] ** 2 - 4 * a * v[1], -4 * a * v[0], 0.0],
                                                  [-4 * a * v[0], 2.0, 0.0], [0.0, 0.0, 200.0]]),
        x0=np.array([0.0, 2e-9, 0.0]))
    for sketch in ("gaussian", None):
        res = solvers.sketched_newton(p, sketch=sketch, seed=0, backend="numpy")
        assert res.converged, res.message


@pytest.mark.parametrize("neg", [-1e-2, -1e-3, -1e-4])
def test_lanczos_route_finds_negative_eigenvalue_below_a_wide_spectrum(neg):
    import scipy.sparse as sps

    d = np.concatenate([[neg], np.geomspace(1e-3, 1e3, 299)])
    f = lambda x: 0.5 * float(x @ (d * x))
    g = lambda x: d * x
    for kw in ({"hessp": lambda x, p: d * p}, {"hess": lambda x: sps.diags(d).tocsr()}):
        res = solvers.newton(f, np.zeros(300), jac=g, method="newton-cg", **kw)
        assert res.status == "failed" and "not a minimiser" in res.message, (neg, list(kw))


def test_jac_check_quiet_for_an_f_that_cancels_near_zero():
    # pseudo-Huber written as sqrt(1 + r^2) - 1 (absolute rounding ~eps near f* = 0) with an exact jac: converged
    rng = np.random.default_rng(1)
    bad = 0
    for _ in range(10):
        A, b = rng.standard_normal((6, 9)), rng.standard_normal(6)
        f = lambda z: float(np.sum(np.sqrt(1 + (A @ z - b) ** 2) - 1))
        g = lambda z: A.T @ ((A @ z - b) / np.sqrt(1 + (A @ z - b) ** 2))
        h = lambda z: A.T @ ((1 + (A @ z - b) ** 2) ** -1.5 * A.T).T
        for m in ("newton", "newton-cg"):
            r = solvers.newton(f, 2 * rng.standard_normal(9), jac=g, hess=h, method=m)
            bad += not r.converged
            if r.converged:
                assert np.abs(A @ r.x - b).max() < 1e-6
    assert bad == 0


def test_jac_check_still_catches_a_wrong_gradient():
    f = lambda x: float(np.sum((x - 3.0) ** 2))
    r = solvers.newton(f, np.zeros(3), jac=lambda x: 2 * (x - 1.0), hess=lambda x: 2 * np.eye(3))
    assert not r.converged


# ------------------------------------------------------------------- run stores (helper-129)
def _res(v=0.0):
    from solvers.results import SolveResult

    return SolveResult(np.arange(3.0) + v, True, "converged", "m", 1)


def test_single_file_store_does_not_adopt_a_directory_store_of_that_name(tmp_path):
    import os

    with solvers.RunStore(str(tmp_path / "exp.h5.d") + os.sep) as st:     # a directory store of its own
        ids = [st.save(_res(k)) for k in range(3)]
    with pytest.raises(FileExistsError, match="directory store of its own"):
        solvers.RunStore(tmp_path / "exp.h5")
    assert not (tmp_path / "exp.h5").exists()                              # nothing made
    with solvers.RunStore(str(tmp_path / "exp.h5.d") + os.sep, mode="r") as st:   # still there, unchanged
        assert sorted(r["run_id"] for r in st.list()) == sorted(ids)
        np.testing.assert_array_equal(st.load(ids[2]).x, np.arange(3.0) + 2)


def test_store_name_clashes_are_named_before_anything_is_written(tmp_path):
    (tmp_path / "a.h5.d").write_text("not a folder")
    with pytest.raises(FileExistsError, match="is not a folder"):
        solvers.RunStore(tmp_path / "a.h5")
    (tmp_path / "b.h5.lock").mkdir()
    with pytest.raises(IsADirectoryError, match="lock file"):
        solvers.RunStore(tmp_path / "b.h5")
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "b.h5").exists()


def test_a_real_sidecar_is_still_used(tmp_path):
    path = tmp_path / "runs.h5"
    with solvers.RunStore(path, compact_on_close=False) as st:
        rid = st.save(_res(1))
    assert (tmp_path / "runs.h5.d").is_dir()
    with solvers.RunStore(path) as st:
        assert [r["run_id"] for r in st.list()] == [rid]


def test_gmres_maxiter_message_with_a_preconditioner():
    A = np.diag(np.linspace(1.0, 1e4, 200)) + np.diag(np.full(199, 0.5), 1)
    b = np.ones(200)
    r = solvers.gmres(A, b, M=solvers.linear.jacobi(A), restart=2, maxiter=1, rtol=1e-12)
    assert not r.converged and "stronger preconditioner" in r.message
    r = solvers.gmres(A, b, restart=2, maxiter=1, rtol=1e-12)
    assert "Try a preconditioner" in r.message


def test_chebtucker_refuses_a_masked_return():
    f = lambda P: np.ma.masked_greater(np.exp(P[:, 0]), 2.0)
    with pytest.raises(ValueError, match="masked array"):
        solvers.chebtucker(f, [(0, 1), (0, 1)])
    g = lambda P: np.ma.masked_array(np.exp(P[:, 0]))      # a mask that hides nothing is fine
    F = solvers.chebtucker(g, [(0, 1), (0, 1)])
    assert F.converged and abs(F(np.array([[0.9, 0.5]]))[0] - np.exp(0.9)) < 1e-10


def test_a_sidecar_renamed_with_its_file_is_still_a_sidecar(tmp_path):
    import shutil

    path = tmp_path / "runs.h5"
    with solvers.RunStore(path, compact_on_close=False) as st:
        rid = st.save(_res(2))
    shutil.copytree(tmp_path / "runs.h5.d", tmp_path / "copy.h5.d")
    shutil.copy(path, tmp_path / "copy.h5")
    (tmp_path / "runs.h5").rename(tmp_path / "old.h5")
    (tmp_path / "runs.h5.d").rename(tmp_path / "old.h5.d")
    for name in ("copy.h5", "old.h5"):
        with solvers.RunStore(tmp_path / name, mode="r") as st:
            assert [r["run_id"] for r in st.list()] == [rid]


@pytest.mark.parametrize("n", [1000, 5000])
def test_sparse_hessian_small_negative_eigenvalue_found_by_shift_invert(n):
    import scipy.sparse as sps
    import scipy.sparse.linalg as spla

    L = sps.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()
    lam1 = 2 - 2 * np.cos(np.pi / (n + 1))                   # the 1-D Laplacian's smallest eigenvalue (analytic)
    H = (L - 1.5 * lam1 * sps.eye(n)).tocsr()                 # one eigenvalue -lam1 / 2 < 0, tiny against ||H|| = 4
    r = solvers.newton(lambda x: 0.5 * x @ (H @ x), np.zeros(n), jac=lambda x: H @ x, hess=lambda x: H,
                       method="newton-cg")
    assert r.status == "failed" and "not a minimiser" in r.message
    Hp = (L + 0.5 * lam1 * sps.eye(n)).tocsr()                # its SPD twin converges to the direct solve
    r = solvers.newton(lambda x: 0.5 * x @ (Hp @ x) - x.sum(), np.zeros(n), jac=lambda x: Hp @ x - 1,
                       hess=lambda x: Hp, method="newton-cg")
    xs = spla.spsolve(Hp.tocsc(), np.ones(n))
    assert r.converged and np.abs(r.x - xs).max() <= 1e-8 * np.abs(xs).max()


def test_poisson_g_none_is_recorded_as_zero():
    from problems.pde import Poisson

    p0, pn = Poisson((6, 5), g=0.0), Poisson((6, 5), g=None)
    assert "NoneType" not in str(pn.describe())
    np.testing.assert_array_equal(p0.rhs("numpy"), pn.rhs("numpy"))


# ------------------------------------------------------------------- newton_krylov, dot_test (helper-134)
class _DomainError(ValueError):
    def __init__(self, msg, detail):
        super().__init__(msg)
        self.detail = detail


def test_newton_krylov_lets_the_users_exception_through():
    def F(x):
        if np.any(x > 1.0 + 1e-12):
            raise _DomainError("log of negative", detail=x.copy())
        return x - 2.0

    with pytest.raises(_DomainError) as info:
        solvers.newton_krylov(F, np.ones(3))
    assert info.value.detail.shape == (3,)

    def G(x):
        if np.any(x > 1.0 + 1e-12):
            raise ValueError("my F: math domain error")
        return x - 2.0

    with pytest.raises(ValueError, match="^my F: math domain error"):
        solvers.newton_krylov(G, np.ones(3))


def test_newton_krylov_accepts_a_callable_from_M_of_x():
    F = lambda x: x ** 3 - 8.0
    r = solvers.newton_krylov(F, np.ones(3), M=lambda x: (lambda v: v / (3 * x ** 2)))
    assert r.converged and np.allclose(r.x, 2.0)


def test_dot_test_takes_arrays_and_names_a_missing_adjoint():
    A = np.arange(9.0).reshape(3, 3)

    class Duck:
        shape, dtype = (3, 3), np.float64

        def matvec(self, v):
            return A @ v

    assert solvers.dot_test(A) < 1e-12
    with pytest.raises(TypeError, match="rmatvec"):
        solvers.dot_test(Duck())


# ------------------------------------------------------------------- the CLI (helper-133)
def _cli_pipe_closed(args, tmp_path):
    """Run ``python -m solvers ARGS`` with its stdout a pipe whose reader has already gone (``| true``)."""
    import os
    import subprocess
    import sys

    r, w = os.pipe()
    os.close(r)                                     # the reader is gone before the first write
    env = dict(os.environ, NEWTONKIT_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "solvers", *args], stdout=w, stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path, env=env, timeout=300)
    finally:
        os.close(w)
    return proc


def test_cli_stores_and_reports_status_when_the_pipe_reader_is_gone(tmp_path):
    store = tmp_path / "p.h5"
    ok = _cli_pipe_closed(["solve", "poisson", "--shape", "16", "16", "--store", str(store)], tmp_path)
    assert ok.returncode == 0, ok.stderr
    with solvers.RunStore(store, mode="r") as st:   # the run is stored (it was dropped: the error ended the command)
        assert len(st.list()) == 1
    bad = _cli_pipe_closed(["solve", "poisson", "--shape", "16", "16", "--maxiter", "1", "--store",
                            str(tmp_path / "q.h5")], tmp_path)
    assert bad.returncode == 1, bad.stderr          # a failed solve exits 1 (it exited 0)
    with solvers.RunStore(tmp_path / "q.h5", mode="r") as st:
        assert len(st.list()) == 1


def test_cli_rhs_norm_does_not_overflow(tmp_path):
    from solvers import cli

    store = tmp_path / "r.h5"
    assert cli.main(["solve", "poisson", "--shape", "16", "16", "--f", "1e160", "--store", str(store)]) == 0
    with solvers.RunStore(store, mode="r") as st:
        res = st.load(st.list()[0]["run_id"])
    assert np.isfinite(res.stats["rhs_norm"]) and res.stats["rhs_norm"] == pytest.approx(1.6e161, rel=1e-2)


def test_cli_checks_the_workspace_variable_for_every_size(tmp_path, monkeypatch):
    from solvers import cli

    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "abc")
    assert cli.main(["solve", "poisson", "--shape", "8", "8"]) == 2


def test_cli_export_csv_dash_is_stdout(tmp_path, capsys, monkeypatch):
    import csv
    import io

    from solvers import cli

    store = tmp_path / "e.h5"
    assert cli.main(["solve", "poisson", "--shape", "8", "8", "--store", str(store)]) == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["runs", "export", str(store), "--csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["method"] == "cg+mg"
    assert not (tmp_path / "-").exists()


# ------------------------------------------------------------------- result convention (helper-136)
@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_ot_stop_at_the_converging_iteration_is_converged(method):
    # the convergence test comes first in every family (cg, gmres, newton_krylov, sketched_newton did so): a callback
    # stopping at the iteration that meets tol gives 'converged', measured on the returned potentials
    rng = np.random.default_rng(0)
    C = rng.random((20, 15))
    a, b = np.full(20, 1 / 20), np.full(15, 1 / 15)
    fn = getattr(solvers, method)
    ref = fn(C, a, b, eps=0.1, tol=1e-9)
    assert ref.converged

    def stop_last(intermediate_result):
        if intermediate_result.nit >= ref.nit:
            raise StopIteration

    res = fn(C, a, b, eps=0.1, tol=1e-9, callback=stop_last)
    assert res.converged and res.status == "converged" and res.marginal_error <= 1e-9

    def stop_first(intermediate_result):
        raise StopIteration

    res = fn(C, a, b, eps=0.1, tol=1e-9, callback=stop_first)
    assert res.status == "stopped" and not res.converged


def test_newton_krylov_records_the_preconditioner_type():
    M = solvers.operators.DiagonalOperator(np.full(3, 1 / 12.0))
    r = solvers.newton_krylov(lambda x: x ** 3 - 8.0, np.ones(3), M=M)
    assert r.options["M"] == "DiagonalOperator"
    assert solvers.newton_krylov(lambda x: x ** 3 - 8.0, np.ones(3)).options["M"] is None


# ------------------------------------------------------------------- ChebTucker inputs (helper-135)
def test_chebtucker_refuses_masked_and_boolean_points_and_array_products():
    F = solvers.chebtucker(lambda P: np.cos(P[:, 0]), [(0.0, 1.0)])
    with pytest.raises(ValueError, match="masked"):
        F(np.ma.masked_array([[0.5], [1.0]], mask=[[False], [True]]))
    with pytest.raises(TypeError, match="booleans"):
        F(np.array([[True], [False]]))
    with pytest.raises(TypeError):
        F * np.array([1.0, 2.0])
    assert abs(F(np.array([[0.5]]))[0] - np.cos(0.5)) < 1e-12
    assert abs((2.0 * F)(np.array([[0.5]]))[0] - 2 * np.cos(0.5)) < 1e-12


def test_chebtucker_names_a_box_too_narrow_for_double_precision():
    import warnings

    lo, w = 1000.0, 2e-9
    with pytest.warns(RuntimeWarning, match="narrow against its position"):
        F = solvers.chebtucker(lambda x: np.exp((x[:, 0] - lo) / w), [(lo, lo + w)])
    assert not F.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                    # an ordinary box: no warning at all
        G = solvers.chebtucker(lambda x: np.exp(x[:, 0]), [(0.0, 1.0)])
    assert G.converged
