"""Session 39: the outside review's findings (helpers 137-140) and the items left open by session 38, each with the
case that showed it."""
import numpy as np
import pytest

import solvers


def _saddle_1e100():
    f = lambda z: 1e100 * (1e9 * z[0] ** 2 - z[1] ** 2)           # noqa: E731
    g = lambda z: 1e100 * np.array([2e9 * z[0], -2.0 * z[1]])     # noqa: E731
    H = lambda z: 1e100 * np.diag([2e9, -2.0])                    # noqa: E731
    return f, g, H


@pytest.mark.parametrize("x0", [np.zeros(2), np.array([0.0, 1e-200])])
def test_newton_saddle_whose_f_underflows_along_the_short_steps(x0):
    """f = 1e100 (1e9 x^2 - y^2) at 0: f's rounding at f = 0 made the curvature test's steps so short that f's own
    arithmetic underflowed (s^2 = 0), f did not change, and the saddle was 'converged' (left open in session 38).
    The steps now grow by 2^32 while f does not change at all."""
    f, g, H = _saddle_1e100()
    res = solvers.newton(f, x0, jac=g, hess=H)
    assert not res.converged
    assert "saddle" in res.message


def test_newton_minimum_with_f_zero_at_huge_scale_still_converges():
    f = lambda z: 1e100 * (1e9 * z[0] ** 2 + z[1] ** 2)           # noqa: E731
    g = lambda z: 1e100 * np.array([2e9 * z[0], 2.0 * z[1]])      # noqa: E731
    H = lambda z: 1e100 * np.diag([2e9, 2.0])                     # noqa: E731
    res = solvers.newton(f, np.zeros(2), jac=g, hess=H)
    assert res.converged and np.all(res.x == 0.0)


def test_falls_along_no_verdict_from_a_flat_f_stays_false():
    """A direction where f is exactly flat (f does not change at any step length) is no saddle: the retries end and
    the verdict is False (the curvature estimate alone is not trusted)."""
    from solvers.backends import get_backend
    from solvers.nonlinear._curvature import _falls_along

    be = get_backend("numpy")
    x = np.zeros(3)
    assert _falls_along(lambda z: 0.0, x, 0.0, np.zeros(3), np.array([0.0, 1.0, 0.0]), -1.0, be) is False


def test_chebtucker_f_of_separate_coordinates_gets_a_clear_error():
    """f(x, y) instead of f(points): a raw 'missing 1 required positional argument' from deep in the sampler before;
    now a TypeError naming the expected signature and the fix."""
    with pytest.raises(TypeError, match=r"one argument, an \(N, d\) array of points.*lambda p: f\(\*p.T\)"):
        solvers.chebtucker(lambda x, y: np.exp(-(x ** 2 + y ** 2)), [(-1, 1), (-1, 1)])


def test_chebtucker_f_raising_its_own_type_error_is_passed_on():
    def f(p):
        raise TypeError("inside f")

    with pytest.raises(TypeError, match="^inside f$"):
        solvers.chebtucker(f, [(-1, 1)])


def test_chebtucker_the_suggested_wrapper_works_against_the_exact_function():
    g = lambda x, y: np.exp(-(x ** 2 + y ** 2))                   # noqa: E731
    ct = solvers.chebtucker(lambda p: g(*p.T), [(-1, 1), (-1, 1)])
    pts = np.random.default_rng(3).uniform(-1, 1, (200, 2))
    assert ct.converged
    assert np.max(np.abs(ct(pts) - g(*pts.T))) < 1e-11


def _hidden_saddle(n=1000):
    lam = np.geomspace(1e-3, 1e3, n)
    lam[n // 2] = -1e-3
    x0 = np.ones(n)
    x0[n // 2] = 0.0
    return lam, x0


@pytest.mark.parametrize("route", ["hessp", "operator", "grad-reg", "rotated"])
def test_newton_hidden_small_negative_eigenvalue_with_hessp_or_operator(route):
    """helper-139: -1e-3 below a spectrum [1e-3, 1e3] at n = 1000 was 'converged' with hessp / an operator Hessian
    (400 Lanczos steps cannot resolve that gap); the dense hess array of the same matrix was 'failed'. Now the
    operator is assembled from n products (n <= 2000) where the Ritz values reach near 0. Reference: the diagonal
    itself (lam[n // 2] < 0)."""
    import scipy.sparse.linalg as sla

    lam, x0 = _hidden_saddle()
    n = lam.size
    f, g = (lambda x: 0.5 * x @ (lam * x)), (lambda x: lam * x)
    if route == "hessp":
        res = solvers.newton(f, x0, jac=g, hessp=lambda x, p: lam * p)
    elif route == "operator":
        op = sla.LinearOperator((n, n), matvec=lambda p: lam * p)
        res = solvers.newton(f, x0, jac=g, hess=lambda x: op)
    elif route == "grad-reg":
        res = solvers.newton(f, x0, jac=g, hessp=lambda x, p: lam * p, method="grad-reg")
    else:
        Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))
        Hm = (Q * lam) @ Q.T
        res = solvers.newton(lambda x: 0.5 * x @ (Hm @ x), Q @ x0, jac=lambda x: Hm @ x, hessp=lambda x, p: Hm @ p)
    assert not res.converged and res.status == "failed"
    assert "negative curvature" in res.message


def test_newton_hessp_positive_definite_wide_spectrum_still_converges():
    lam, x0 = _hidden_saddle()
    lam = np.abs(lam)
    res = solvers.newton(lambda x: 0.5 * x @ (lam * x), x0, jac=lambda x: lam * x, hessp=lambda x, p: lam * p)
    assert res.converged
    assert np.max(np.abs(lam * res.x)) <= 1e-8          # the gradient at the returned x, computed here


def _metrics():
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    B = np.diag([1.0, 10.0, 100.0])
    return [B, sp.csr_matrix(B), sla.aslinearoperator(B)]


@pytest.mark.parametrize("k", range(3))
def test_grad_reg_metric_B_measures_gradients_in_its_dual_norm(k):
    """helper-139: grad-reg with B = diag(1, 10, 100) stagnated on 0.5 ||x||^2 (gamma -> 2.8e-45, blaming jac): lam
    and the decrease test used Euclidean gradient norms while the step used B. Reference: the minimiser 0."""
    B = _metrics()[k]
    for kw in ({"hess": lambda x: np.eye(3)}, {"hessp": lambda x, p: p.copy()}):
        res = solvers.newton(lambda x: 0.5 * x @ x, np.ones(3), jac=lambda x: x.copy(), method="grad-reg", B=B, **kw)
        assert res.converged and np.max(np.abs(res.x)) <= 1e-8


@pytest.mark.parametrize("k", range(3))
def test_grad_reg_operator_B_is_used_with_a_dense_hess(k):
    """helper-139: an operator B was dropped when hess returns an array (the identity-metric step was taken). The
    first step of 0.5 ||x||^2 from 1 is (I + lam B)^-1 g with lam = ||g||_* / gamma0, computed here."""
    B = _metrics()[k]
    seen = []
    solvers.newton(lambda x: 0.5 * x @ x, np.ones(3), jac=lambda x: x.copy(), hess=lambda x: np.eye(3),
                   method="grad-reg", B=B, maxiter=1, callback=lambda xk: seen.append(xk))
    Bd = np.diag([1.0, 10.0, 100.0])
    g = np.ones(3)
    lam = np.sqrt(g @ np.linalg.solve(Bd, g))
    assert np.allclose(seen[0], g - np.linalg.solve(np.eye(3) + lam * Bd, g), rtol=1e-12)


def test_grad_reg_rosenbrock_with_a_diagonal_metric_reaches_scipys_minimiser():
    from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

    x0 = np.array([-1.2, 1.0, 0.8])
    res = solvers.newton(rosen, x0, jac=rosen_der, hess=rosen_hess, method="grad-reg", B=np.diag([1.0, 10.0, 100.0]))
    ref = minimize(rosen, x0, jac=rosen_der, hess=rosen_hess, method="trust-exact")
    assert res.converged and np.allclose(res.x, ref.x, atol=1e-6)


def test_callbacks_get_copies_of_the_iterate():
    """helper-139: a callback writing into xk changed the solver's iterate (r.x = [100, 100] with r.fun of the old
    point, 'stagnated' blaming jac)."""
    from problems import nlp

    def cb(xk):
        xk[...] = 100.0

    res = solvers.newton(lambda x: float(np.sum((x - 1) ** 2)), np.zeros(2), jac=lambda x: 2 * (x - 1),
                         hess=lambda x: 2 * np.eye(2), callback=cb)
    assert res.converged and np.allclose(res.x, 1.0)
    res = solvers.newton_krylov(lambda x: x ** 3 - 8.0, np.ones(2), callback=cb)
    assert res.converged and np.allclose(res.x, 2.0)
    prob = nlp.hs("HS47")
    res = solvers.sketched_newton(prob, callback=cb)
    assert res.converged and abs(prob.f(res.x) - prob.f_star) <= 1e-6 * max(1.0, abs(prob.f_star))
    res = solvers.cg(np.diag([1.0, 2.0, 3.0]), np.ones(3), callback=cb)
    assert res.converged and np.allclose(res.x, [1.0, 0.5, 1.0 / 3.0])


# ---------------------------------------------------------------- run store (helper-140)
def _res(v=0.0, **kw):
    from solvers.results import SolveResult

    return SolveResult(np.zeros(2) + v, True, "converged", "m", 0, **kw)


def test_store_numpy_str_values_round_trip(tmp_path):
    """numpy.str_ in options / tags reached h5py as a '<U' array: a raw 'No conversion path for dtype' and nothing
    stored."""
    from solvers.runs import RunStore

    with RunStore(tmp_path / "s.h5") as st:
        rid = st.save(_res(options={"sketch": np.array(["gaussian"])[0]}), tags={"k": np.str_("a")})
    back = RunStore(tmp_path / "s.h5", mode="r").load(rid)
    assert back.options["sketch"] == "gaussian" and back.tags["k"] == "a"


def test_store_masked_array_in_options_is_named_inexact(tmp_path):
    from solvers.runs import RunStore

    m = np.ma.masked_array([1.0, -999.0], mask=[0, 1])
    with RunStore(tmp_path / "s.h5") as st:
        with pytest.warns(RuntimeWarning, match=r"stored inexactly: options 'w' \(a masked array"):
            st.save(_res(options={"w": m}))


def test_store_close_with_a_damaged_sidecar_file_keeps_the_save(tmp_path):
    """One truncated sidecar run file made every later `with RunStore(p) as st: st.save(r)` raise at close after
    the save succeeded (a retry stored the run twice). Now close warns; the new run is listed."""
    import os

    from solvers.runs import RunStore

    p = tmp_path / "dm.h5"
    st = RunStore(p, compact_on_close=False)
    for i in range(3):
        st.save(_res(i))
    st.close()
    os.truncate(sorted((tmp_path / "dm.h5.d").glob("*.h5"))[0], 2000)
    with pytest.warns(RuntimeWarning, match="compacting .* at close failed .*damaged"):
        with RunStore(p) as st:
            rid = st.save(_res(7.0))
    with pytest.warns(RuntimeWarning):                   # the listing names the damaged file too
        ids = [r["run_id"] for r in RunStore(p, mode="r").list()]
    assert rid in ids


def test_store_refuses_a_run_without_free_space_before_writing(tmp_path, monkeypatch):
    """A nearly full disk crashed the process in h5py's flush (helper-140: a segmentation fault with a few pages
    free): the free space is checked first, and an OSError(ENOSPC) is raised with nothing written."""
    import errno
    import shutil
    from collections import namedtuple

    from solvers.runs import RunStore

    p = tmp_path / "s.h5"
    with RunStore(p) as st:
        st.save(_res())
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 8192, 8192))
    with pytest.raises(OSError) as ei:
        RunStore(p).save(_res(1.0))
    assert ei.value.errno == errno.ENOSPC and "no space left on the device" in str(ei.value)
    monkeypatch.undo()
    assert len(RunStore(p, mode="r").list()) == 1
    assert not list(tmp_path.glob("s.h5.d/*.h5")) and not list(tmp_path.glob(".*tmp*"))


def test_store_close_treats_hdf5_enospc_runtime_error_as_deferred(tmp_path, monkeypatch):
    """HDF5 reports a full disk during the close's rewrite as RuntimeError('... errno = 28 ...'): the CLI said
    'internal error' (exit 3) though the run was stored. Now the same warning as for OSError(ENOSPC)."""
    from solvers.runs import RunStore

    st = RunStore(tmp_path / "s.h5")
    rid = st.save(_res())

    def full():
        raise RuntimeError("Disable slist on flush dest failure failed (file write failed: errno = 28)")

    monkeypatch.setattr(st, "compact", full)
    with pytest.warns(RuntimeWarning, match="at close failed .*Free space"):
        st.close()
    assert rid in [r["run_id"] for r in RunStore(tmp_path / "s.h5", mode="r").list()]


# ---------------------------------------------------------------- Krylov / multigrid / Poisson (helper-137)
def test_poisson_box_too_narrow_for_its_position_is_refused():
    """A box of width 1e-4 at 1e12 had 2 distinct node coordinates of 63 and MG-CG 'converged' to an error of
    1.6 against the exact solution (2e-4 at lo = 0)."""
    from problems import pde

    for lo in (1e12, 1e10):
        with pytest.raises(ValueError, match=r"domain\[0\].*too narrow for its position.*shift the coordinates"):
            pde.Poisson((63, 63), domain=[(lo, lo + 1e-4), (0.0, 1.0)])


@pytest.mark.parametrize("lo", [0.0, 1e6])
def test_poisson_offset_box_that_resolves_its_nodes_solves_to_the_exact_solution(lo):
    from problems import pde

    w = 1e-4
    u = lambda x, y: np.sin(np.pi * (x - lo) / w) * np.sin(np.pi * y)            # noqa: E731
    f = lambda x, y: ((np.pi / w) ** 2 + np.pi ** 2) * u(x, y)                     # noqa: E731
    p = pde.Poisson((63, 63), f=f, domain=[(lo, lo + w), (0.0, 1.0)])
    res = solvers.solve(p, precond="mg")
    X, Y = p.coordinates()
    assert res.converged and np.max(np.abs(res.x - u(X, Y))) < 5e-4   # the O(h^2) error, 2.0e-4 measured


def test_preconditioners_refuse_an_aliased_out():
    """M.matvec_into(x, x) on the multigrid and Chebyshev preconditioners returned garbage (relative difference
    0.999 / 0.87 from M x); the stencil operator refused it already."""
    from problems import pde
    from solvers.linear import multigrid, precond

    A = pde.Poisson((17, 13)).operator()
    x = np.ones(221)
    M = multigrid.multigrid(A)
    for call in (lambda: M.matvec_into(x, x), lambda: M.matvec_dot(x, x), lambda: M.initial_guess(x, x),
                 lambda: precond.chebyshev(A).matvec_into(x, x), lambda: M.matvec_into(x, x[::-1])):
        with pytest.raises(ValueError, match="out shares memory"):
            call()
    J = precond.jacobi(A)                                   # elementwise: aliasing is exact there
    y = x.copy()
    assert np.array_equal(J.matvec_into(y, y), J.matvec(x))


def test_large_restart_and_k_allocate_what_the_iterations_use():
    """restart=10**6 (gmres) and k=10**6 (cdm) on a 256^2 grid allocated (n + 1) x n doubles up front: 32 GiB and
    a MemoryError naming nothing. Reference: the true residual computed here."""
    from problems import pde

    p = pde.Poisson((256, 256))
    A, b = p.operator(), p.rhs()
    for kw in ({"method": "gmres", "restart": 10 ** 6}, {"method": "cdm", "k": 10 ** 6}):
        res = solvers.solve(p, precond="mg", **kw)
        assert res.converged
        assert np.linalg.norm(b - A.matvec(res.x.ravel())) <= 1e-8 * np.linalg.norm(b) * 1.0001


def test_gmres_growing_basis_matches_scipy():
    """The basis grows by doubling from 33 rows; GMRES(200) on a random non-symmetric matrix takes 157 iterations
    and reaches SciPy's residual (both 7.2e-11 relative)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    rng = np.random.default_rng(0)
    n = 300
    A = sp.eye(n) * 4 + sp.random(n, n, density=0.02, random_state=1) * 3
    b = rng.standard_normal(n)
    res = solvers.gmres(A, b, restart=200, rtol=1e-10)
    xs, info = spla.gmres(A, b, restart=200, rtol=1e-10)
    assert res.converged and info == 0
    r_nk, r_sp = (np.linalg.norm(b - A @ v) / np.linalg.norm(b) for v in (res.x, xs))
    assert r_nk <= 1e-10 and abs(r_nk - r_sp) <= 1e-11


# ---------------------------------------------------------------- zero curvature where f falls (helper-139)
def _gauss_newton_ridge():
    r = lambda x: np.array([x[0] ** 2 - 1.0, x[1]])                    # noqa: E731
    J = lambda x: np.array([[2.0 * x[0], 0.0], [0.0, 1.0]])             # noqa: E731
    return (lambda x: 0.5 * r(x) @ r(x)), (lambda x: J(x).T @ r(x)), (lambda x: J(x).T @ J(x))


@pytest.mark.parametrize("method", ["grad-reg", "newton", "newton-cg"])
def test_gauss_newton_hessian_at_a_ridge_is_not_a_minimiser(method):
    """f = |r|^2 / 2, r = (x0^2 - 1, x1), hess = J^T J (Gauss-Newton, offered for grad-reg): from (0, 1) the methods
    reach (0, 0), where f = 0.5 and the exact Hessian has eigenvalue -1; J^T J = diag(0, 1) cannot see it, and the
    point was 'converged'. Reference: f(+-1, 0) = 0 < f(0, 0)."""
    f, g, H = _gauss_newton_ridge()
    res = solvers.newton(f, np.array([0.0, 1.0]), jac=g, hess=H, method=method)
    if res.converged:                                   # a run that reached a true minimiser is fine
        assert f(res.x) <= 1e-12
    else:
        assert res.status == "failed" and "(near-)zero curvature" in res.message and "f itself falls" in res.message


@pytest.mark.parametrize("case", ["-x^4", "x^3", "x^3+y^2", "1-x^4", "1-|x|^4 in 3-D"])
def test_zero_hessian_maximum_or_inflection_is_not_a_minimiser(case):
    f, g, H, x0 = {
        "-x^4": (lambda x: -x[0] ** 4, lambda x: np.array([-4 * x[0] ** 3]), lambda x: np.array([[-12 * x[0] ** 2]]),
                 [0.0]),
        "x^3": (lambda x: x[0] ** 3, lambda x: np.array([3 * x[0] ** 2]), lambda x: np.array([[6 * x[0]]]), [0.0]),
        "x^3+y^2": (lambda x: x[0] ** 3 + x[1] ** 2, lambda x: np.array([3 * x[0] ** 2, 2 * x[1]]),
                    lambda x: np.array([[6 * x[0], 0.0], [0.0, 2.0]]), [0.0, 1.0]),
        # session 40: f = 1 at the maximum, so its fall t^4 first shows above 1e3 times f's rounding at t = 1.4e-3,
        # past the probe's earlier reach of 1e-3 ('converged in 0 iterations'). Reference: f(0.1) < f(0).
        "1-x^4": (lambda x: 1.0 - x[0] ** 4, lambda x: np.array([-4 * x[0] ** 3]),
                  lambda x: np.array([[-12 * x[0] ** 2]]), [0.0]),
        "1-|x|^4 in 3-D": (lambda x: 1.0 - np.sum(x ** 4), lambda x: -4 * x ** 3, lambda x: np.diag(-12 * x ** 2),
                           [0.0, 0.0, 0.0]),
    }[case]
    res = solvers.newton(f, np.array(x0), jac=g, hess=H)
    assert not res.converged and res.status == "failed"


@pytest.mark.parametrize("case", ["x^4+y^2", "valley", "gauss-newton minimum"])
def test_true_minima_with_singular_hessians_still_converge(case):
    if case == "x^4+y^2":
        f, g, H = (lambda x: x[0] ** 4 + x[1] ** 2, lambda x: np.array([4 * x[0] ** 3, 2 * x[1]]),
                   lambda x: np.array([[12 * x[0] ** 2, 0.0], [0.0, 2.0]]))
        x0, kw = np.array([0.5, 1.0]), {}
    elif case == "valley":                              # (xy - 1)^2: a curve of minimisers, H singular on it
        f = lambda z: (z[0] * z[1] - 1) ** 2                                                          # noqa: E731
        g = lambda z: 2 * (z[0] * z[1] - 1) * np.array([z[1], z[0]])                                  # noqa: E731
        H = lambda z: (2 * np.outer([z[1], z[0]], [z[1], z[0]])                                       # noqa: E731
                       + 2 * (z[0] * z[1] - 1) * np.array([[0.0, 1.0], [1.0, 0.0]]))
        x0, kw = np.array([2.0, 3.0]), {}
    else:                                               # r = (x0^2, x1): GN Hessian singular at the minimiser 0
        r = lambda x: np.array([x[0] ** 2, x[1]])                                                     # noqa: E731
        J = lambda x: np.array([[2.0 * x[0], 0.0], [0.0, 1.0]])                                       # noqa: E731
        f, g, H = (lambda x: 0.5 * r(x) @ r(x)), (lambda x: J(x).T @ r(x)), (lambda x: J(x).T @ J(x))
        x0, kw = np.array([0.3, 1.0]), {"method": "grad-reg"}
    res = solvers.newton(f, x0, jac=g, hess=H, **kw)
    assert res.converged and f(res.x) <= 1e-10


@pytest.mark.parametrize("trial", [1, 18, 48])
def test_sketched_newton_names_infeasible_constraints(trial):
    """helper-139: on random infeasible quadratic constraints sketched_newton (sketch=None) stalled with ||J^T c|| /
    ||c|| ~ 1e-4 and said only 'KKT residual has not changed ... rescale' / 'try sketch=None'. Reference: the
    smallest ||c|| over 20 least-squares starts (SciPy) is 0.26-1.1 > 0, so the constraints have no solution."""
    from scipy.optimize import least_squares

    from problems import nlp

    rng = np.random.default_rng(1000 + trial)
    n = int(rng.integers(3, 8))
    m = int(rng.integers(1, n))
    A, b, C = rng.standard_normal((m, n)), rng.standard_normal(m), rng.standard_normal((n, n))
    C = C + C.T
    w, x0 = rng.standard_normal(n), rng.standard_normal(n)
    c = lambda x: A @ x + 0.3 * np.sum(x ** 2) - b                                              # noqa: E731
    jac = lambda x: A + 0.6 * np.ones((m, 1)) * x[None, :]                                      # noqa: E731
    prob = nlp.EqualityConstrainedProblem(
        lambda x: np.sum(x ** 4) / 4 - np.sum(x ** 2) / 2 + 0.05 * x @ C @ x + w @ x,
        lambda x: x ** 3 - x + 0.1 * C @ x + w, c, jac,
        lambda x, lam: np.diag(3 * x ** 2 - 1) + 0.1 * C + 0.6 * np.sum(lam) * np.eye(n), x0)
    best = min(np.linalg.norm(least_squares(c, np.random.default_rng(k).standard_normal(n) * 3, jac=jac).fun)
               for k in range(20))
    assert best > 0.1
    res = solvers.sketched_newton(prob, sketch=None, seed=trial)
    assert not res.converged and "constraints look inconsistent" in res.message


def test_cg_maxiter_message_on_an_ill_conditioned_spd_poisson_names_conditioning():
    """helper-137: an SPD Poisson matrix with k jumping 1e-8 .. 1e8, no preconditioner: 'A or M may not be positive
    definite' (and 'cond(M^-1 A) at least inf' elsewhere). A is SPD by construction; its diagonal spread (1e16, a
    lower bound of cond(A)) explains the growth, and the advice names the preconditioners solve() takes."""
    import warnings

    from problems import pde

    p = pde.Poisson((31, 31), k=lambda x, y: np.where(x < 0.5, 1e-8, 1e8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # no overflow RuntimeWarning from the diagonal spread
        res = solvers.solve(p, method="cg", maxiter=300)
    assert not res.converged
    assert "positive definite" not in res.message and "inf" not in res.message.split("grew")[1]
    msg = res.message                                # (which bound explains the growth depends on the run's rounding)
    assert ("diagonal spans a factor 1.0e+16" in msg or "condition number of A estimated" in msg) and "M^-1 A" not in msg
    assert "precond='mg'" in msg


@pytest.mark.parametrize("field", ["f", "g", "k"])
def test_poisson_masked_callable_values_are_refused(field):
    """A masked array returned by f / g / k was silently unmasked (the values under the mask were used)."""
    from problems import pde

    m = lambda x, y: np.ma.masked_array(np.ones_like(x), mask=x < 0.5)          # noqa: E731
    with pytest.raises(ValueError, match=f"{field} returned a masked array"):
        p = pde.Poisson((15, 15), **{field: m})
        solvers.solve(p)


# ---------------------------------------------------------------- command line (helper-140)
def test_cli_runs_list_refuses_an_unknown_status(tmp_path, capsys):
    from solvers.cli import main

    assert main(["runs", "list", "--status", "bogus", str(tmp_path / "x.h5")]) == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_cli_nlp_size_error_names_the_flag(capsys):
    from solvers.cli import main

    assert main(["solve", "nlp", "GENHS28", "--size", "1"]) == 2
    assert "--size 1: n must be" in capsys.readouterr().err


def test_cli_plot_text_history_is_skipped_with_a_message(tmp_path, capsys):
    from solvers.cli import main
    from solvers.runs import RunStore

    p = str(tmp_path / "t.h5")
    with RunStore(p) as st:
        st.save(_res(history={"txt": np.array(["a", "b"])}))
    assert main(["runs", "plot", p, "--metric", "txt", "--output", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "no numeric history 'txt'" in err and "could not convert" not in err


def test_sketched_newton_operator_jac_without_rmatvec_is_named():
    """A SciPy LinearOperator built from a matvec only, returned by jac, raised SciPy's NotImplementedError five
    frames deep."""
    import scipy.sparse.linalg as sla

    from problems import nlp

    A = np.ones((1, 4))
    jac = lambda x: sla.LinearOperator((1, 4), matvec=lambda v: A @ v)               # noqa: E731
    prob = nlp.EqualityConstrainedProblem(lambda x: x @ x, lambda x: 2 * x, lambda x: A @ x - 1.0, jac,
                                          lambda x, lam: 2 * np.eye(4), np.zeros(4))
    with pytest.raises(TypeError, match="operator without a transpose product .*rmatvec"):
        solvers.sketched_newton(prob)


# ---------------------------------------------------------------- OT (helper-138)
def _import_pot():
    """POT, through tests/ot/test_exact.py's import_pot (under pytest 'ot' may name the tests/ot package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_nk_pot_import", Path(__file__).parents[1] / "ot" / "test_exact.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.import_pot()


def test_ot_plan_refuses_after_the_cost_matrix_changed():
    """EntropicOT keeps C by reference: after C *= 2 a converged result's plan() summed to 1.69 and no longer
    matched res.cost. Reference: the plan recomputed here from f, g and the original C."""
    import pickle

    from problems.ot import EntropicOT

    C = np.random.default_rng(0).random((30, 20))
    C0 = C.copy()
    res = solvers.sinkhorn(EntropicOT(C, eps=0.05), tol=1e-9)
    a, b = np.full(30, 1 / 30), np.full(20, 1 / 20)
    ref = np.exp((res.f[:, None] + res.g[None, :] - C0) / 0.05)
    P = res.plan()
    assert np.allclose(P, ref, rtol=1e-12, atol=0) or np.allclose(P, a[:, None] * b[None, :] * ref, rtol=1e-12)
    again = pickle.loads(pickle.dumps(res))               # (carries its own copy of C)
    C *= 2.0
    with pytest.raises(ValueError, match="C was changed after the solve"):
        res.plan()
    assert np.array_equal(again.plan(), P)


@pytest.mark.parametrize("big", [1e10, 1e30, 1e100])
def test_ot_explicit_eps_scaling_with_forbidden_pair_costs(big):
    """Forbidden pairs given a huge finite cost (the library's advice): an explicit eps_scaling started the schedule
    from that cost (eps = 1e28 ...: nonfinite, stagnated, maxiter with error 2), while the automatic one was fine.
    Reference: POT's sinkhorn_log cost on the same problem."""
    from problems.ot import EntropicOT

    pot = _import_pot()
    if pot is None:
        pytest.skip("POT is not installed")

    rng = np.random.default_rng(12)
    x, y = rng.random((60, 2)), rng.random((50, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    C[rng.random(C.shape) < 0.2] = big
    pr = EntropicOT(C, eps=1e-2)
    a, b = np.full(60, 1 / 60), np.full(50, 1 / 50)
    ref = float(np.sum(pot.sinkhorn(a, b, np.minimum(C, 1e3), 1e-2, method="sinkhorn_log", stopThr=1e-13,
                                    numItermax=200000) * np.minimum(C, 1e3)))
    for r in (solvers.sns(pr, tol=1e-9, eps_scaling=0.5), solvers.sinkhorn(pr, tol=1e-9, eps_scaling=0.5)):
        assert r.converged and abs(r.cost - ref) <= 1e-7 * ref


def test_ot_solve_eps_scaling_auto_when_sinkhorn_is_picked_is_named():
    from problems.ot import EntropicOT

    rng = np.random.default_rng(0)
    pr = EntropicOT.from_points(rng.random((60, 2)), rng.random((50, 2)), eps=0.1)
    with pytest.raises(ValueError, match="eps_scaling='auto' is sns's automatic schedule, and the rule picked sinkhorn"):
        solvers.solve(pr, eps_scaling="auto")


def test_ot_numpy_bool_flags_are_accepted():
    from problems.ot import EntropicOT

    rng = np.random.default_rng(0)
    pr = EntropicOT.from_points(rng.random((40, 2)), rng.random((30, 2)), eps=0.05)
    assert solvers.sinkhorn(pr, float32=np.True_).converged
    assert solvers.sns(pr, polish=np.False_).converged


# ---------------------------------------------------------------- review of this session's diff (helper-141)
def test_least_squares_minimisers_with_flat_directions_converge():
    """The zero-curvature probe first called true minimisers of ||A z - b||^2 (2 x 3, f ~ 1e-31 at the solution)
    'not a minimiser' in 65 / 53 / 48 of 200 starts: rounding moves f along a null direction. Reference: the
    minimum value 0 (b is in the range of A)."""
    A, b = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([1.0, 2.0])
    f = lambda z: float(np.sum((A @ z - b) ** 2))                     # noqa: E731
    g = lambda z: 2 * A.T @ (A @ z - b)                               # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(40):
        x0 = rng.standard_normal(3) * 3
        for m in ("newton", "newton-cg", "grad-reg"):
            res = solvers.newton(f, x0, jac=g, hess=lambda z: 2 * A.T @ A, method=m)
            assert res.converged and f(res.x) <= 1e-12, (m, res.message)


def test_near_valley_points_of_xy_minus_one_converge():
    """(xy - 1)^2 a hair (1e-12) off its valley of minimisers: the fall along the valley's tangent stops at f's own
    value (~1e-24) and turns into a rise; it was called a saddle in 33-103 of 300 cases."""
    f = lambda z: (z[0] * z[1] - 1) ** 2                                             # noqa: E731
    g = lambda z: 2 * (z[0] * z[1] - 1) * np.array([z[1], z[0]])                    # noqa: E731
    H = lambda z: (2 * np.outer([z[1], z[0]], [z[1], z[0]])                         # noqa: E731
                   + 2 * (z[0] * z[1] - 1) * np.array([[0.0, 1.0], [1.0, 0.0]]))
    J = lambda z: np.array([[z[1], z[0]]])                                            # noqa: E731
    rng = np.random.default_rng(1)
    for a in rng.uniform(0.2, 5.0, 60):
        x0 = np.array([a, (1.0 + 1e-12 * rng.standard_normal()) / a])
        for hess in (H, lambda z: 2 * J(z).T @ J(z)):
            res = solvers.newton(f, x0, jac=g, hess=hess)
            assert res.converged and f(res.x) <= 1e-16


@pytest.mark.parametrize("seed", range(3))
def test_rank_deficient_hessp_least_squares_is_no_saddle(seed):
    """Lanczos on a rank-deficient hessp (A^T A, A 10 x 20) lost orthogonality in the null space (its breakdown
    test was relative to |alpha_j| ~ 0) and returned 'negative curvature -1.9e-4 ... saddle'; the dense hess of
    the same matrix converged. Reference: the least-squares optimality A^T (A x - b) = 0 computed here."""
    A = np.random.default_rng(5 + seed).standard_normal((10, 20))
    b = np.ones(10)
    f = lambda z: 0.5 * float(np.sum((A @ z - b) ** 2))                            # noqa: E731
    g = lambda z: A.T @ (A @ z - b)                                                 # noqa: E731
    for m in ("newton-cg", "grad-reg"):
        res = solvers.newton(f, np.zeros(20), jac=g, hessp=lambda z, p: A.T @ (A @ p), method=m)
        assert res.converged and np.max(np.abs(g(res.x))) <= 1e-8


def test_poisson_control_large_alpha_convergence_carries_a_caution():
    """helper-142: PoissonControl(16, alpha=1e8) 'converged' with the state 91x off its reference: y, u ~ 1e-11, so
    the absolute tol 1e-8 cannot resolve h^2 (A y - u) = 0. The message and a RuntimeWarning now say so; a lower tol
    resolves it (reference_solution)."""
    from problems import pde

    p = pde.PoissonControl(16, alpha=1e8)
    with pytest.warns(RuntimeWarning, match="does not resolve the constraints"):
        res = solvers.solve(p)
    assert "not resolved" in res.message
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = solvers.solve(pde.PoissonControl(16, alpha=1e-4))
    assert ok.converged and "not resolved" not in ok.message


def test_chebtucker_factors_and_domain_cannot_be_changed_in_place():
    """helper-143: factors was a plain list and domain writeable: ct.factors[0] = 2 * ct.factors[0] left the cached
    evaluation at the old values while on_grid / integral() doubled; ct.domain[0, 1] = 3 moved the box silently."""
    ct = solvers.chebtucker(lambda p: np.exp(p.sum(1)), [(-1, 1), (-1, 1)], degree=12)
    with pytest.raises(TypeError):
        ct.factors[0] = 2 * ct.factors[0]
    with pytest.raises(ValueError):
        ct.domain[0, 1] = 3.0


def test_callbacks_of_scaled_linear_solves_are_copied_once():
    """The linear solvers pass ldexp(x, scale), already a fresh array, and the callback wrapper copied it again
    (+7 % on CG with a no-op callback: helper-141); the callback still cannot reach the solver's x."""
    A = np.diag([1e-200, 2e-200, 3e-200])
    seen = []

    def cb(xk):
        seen.append(xk)
        xk[...] = 0.0

    res = solvers.cg(A, np.ones(3) * 1e-200, callback=cb)
    assert res.converged and np.allclose(res.x, [1.0, 0.5, 1.0 / 3.0]) and len(seen) == res.nit


# ---------------------------------------------------------------- newton_krylov (helper-142)
def test_newton_krylov_forcing_object_starts_each_solve_afresh():
    """An EisenstatWalker object passed to two solves kept its last eta and ||F||: the second identical Bratu solve
    started at eta 0.9 and took 8 Newton steps / 302 inner iterations against 7 / 267. Reference: ||F(x)|| computed
    here."""
    from problems import pde
    from solvers.nonlinear.forcing import EisenstatWalker

    ns = pde.Bratu((31, 31), lam=6.7).nonlinear_system("numba")
    ns.pop("M", None)
    ew = EisenstatWalker(2)
    r1, r2 = (solvers.newton_krylov(**ns, forcing=ew) for _ in range(2))
    assert r1.converged and r2.converged and r1.nit == r2.nit
    assert r1.stats["inner_iterations"] == r2.stats["inner_iterations"] and ew.prev_eta is None
    assert np.max(np.abs(np.asarray(ns["F"](r2.x)))) <= 1e-8


def test_solve_bratu_with_M_says_how_to_pass_one():
    from problems import pde

    with pytest.raises(TypeError, match=r"solvers.newton_krylov\(\*\*problem.nonlinear_system\(be\), M=M\)"):
        solvers.solve(pde.Bratu((9, 9), lam=5.0), M=np.eye(81))


@pytest.mark.parametrize("eta", [1.0, 1.5, -0.1, float("nan"), None, np.array([0.1])])
def test_newton_krylov_custom_forcing_with_a_bad_eta_is_named(eta):
    """A user's forcing rule returning 1 or more was reported as a singular Jacobian ('breakdown'), a negative or NaN
    one as the inner solver rejecting jac or M, None or an array as a raw float() TypeError (helper-142)."""
    class Rule:
        def __call__(self, fnorm):
            return eta

        def observe(self, r):
            pass

    with pytest.raises(ValueError, match=r"forcing: the rule Rule returned eta = .*\[0, 1\)"):
        solvers.newton_krylov(lambda x: x ** 3 - 8.0, np.ones(3), forcing=Rule())


def test_newton_krylov_custom_forcing_in_range_converges_to_the_root():
    class Rule:
        def __call__(self, fnorm):
            return np.float64(0.1)

        def observe(self, r):
            pass

    res = solvers.newton_krylov(lambda x: x ** 3 - 8.0, np.ones(3), forcing=Rule())
    assert res.converged and np.allclose(res.x, 2.0, rtol=1e-8)
