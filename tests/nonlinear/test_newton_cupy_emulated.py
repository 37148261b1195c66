"""sketched_newton (Poisson control, a double well) and newton_krylov (Bratu + multigrid) on a strict emulated CuPy.

The fake (tests/nonlinear/test_cupy_strict_fake.py) makes every implicit device <-> host conversion a
``TypeError``, as real CuPy does, and logs the explicit transfers, so these tests check that the solvers keep
the iterate, multipliers, gradients, constraints and KKT vectors on the device and bring back only scalars.
References are independent of the solvers: the sparse direct KKT solve of the linear control problem
(``PoissonControl.reference_solution``), first-order residuals on assembled SciPy matrices
(``PoissonControl.kkt_residual``) and an own dense SQP for the semilinear one, a sparse-direct Newton for
Bratu, the analytic minimiser of the double well. Agreement with the NumPy backend is checked besides.
What the emulation cannot check: speed, and that the CUDA C compiles and runs (tests/pde/test_newton_cupy_gpu.py
and ``benchmarks/gpu.py --only nlp`` on a GPU).
"""
from __future__ import annotations

import importlib.util
import pathlib
import pickle

import numpy as np
import pytest

from .test_cupy_strict_fake import TRANSFERS, strict_cupy  # noqa: F401  (the fixture)
from _bratu_ref import sparse_newton as _bratu_reference


def _big(direction, size):
    """Transfers of whole vectors (``size``, ``2 size`` or ``3 size`` elements: a grid function, ``x`` or a KKT
    vector) in one direction. Matrices of the coarsest multigrid level (``<= 100^2`` entries) are not vectors."""
    return [t for t in TRANSFERS if t[0] == direction and t[1] in (size, 2 * size, 3 * size)]


@pytest.mark.parametrize("n", [16, 24])
def test_linear_control_on_device_matches_sparse_direct_kkt_solve(strict_cupy, n):
    """sketched_newton(sketch=None) on the device against the sparse direct KKT solve (SciPy spsolve on an own
    Kronecker Laplacian, PoissonControl.reference_solution); x, lam stay on the device, the history on the host,
    and no vector crosses to the host during the iterations (see the transfer bound)."""
    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    xp = strict_cupy.xp
    P = PoissonControl(n)
    res = sketched_newton(P, sketch=None, tol=1e-11, backend=strict_cupy)
    assert res.converged and res.backend == "cupy", res.message
    assert isinstance(res.x, xp.ndarray) and isinstance(res.lam, xp.ndarray)
    assert all(type(v) is np.ndarray and v.shape == (res.nit + 1,) for v in res.history.values())
    N = P.N
    # uploads: x0, lam0 and y_d once; downloads: none by sketched_newton. The multigrid set-up of the
    # preconditioner (solvers/linear/multigrid_setup.py) reads the fine-grid shift back once per build.
    assert len(_big("h2d", N)) == 3, _big("h2d", N)
    assert len(_big("d2h", N)) <= res.stats["preconditioner_evaluations"] == res.nit
    x_ref, lam_ref = P.reference_solution()
    np.testing.assert_allclose(res.x.get(), x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())
    np.testing.assert_allclose(res.lam.get(), lam_ref, rtol=0, atol=1e-8 * np.abs(lam_ref).max())
    ref = sketched_newton(PoissonControl(n), sketch=None, tol=1e-11, backend="numpy")   # extra: same iterations
    assert res.nit == ref.nit and res.stats["inner_iterations"] == ref.stats["inner_iterations"]


def test_semilinear_control_on_device_first_order_conditions(strict_cupy):
    """The semilinear problem (y^3 active: y_d = 3) on the device: first-order residuals on assembled sparse
    matrices (PoissonControl.kkt_residual, independent of the stencil kernels) and an own dense SQP."""
    from problems.pde import PoissonControl
    from problems.pde.control import kron_laplacian
    from solvers.nonlinear.sketched_newton import sketched_newton

    n, alpha = 8, 1e-3
    P = PoissonControl(n, alpha=alpha, semilinear=True, y_desired=3.0)
    res = sketched_newton(P, sketch=None, tol=1e-11, maxiter=200, backend=strict_cupy)
    assert res.converged, res.message
    x, lam = res.x.get(), res.lam.get()
    r = P.kkt_residual(x, lam)
    assert r["stationarity"] <= 1e-11 and r["feasibility"] <= 1e-11
    # dense Newton on the KKT conditions (own matrices) from the same start
    N, h2 = P.N, P.h2
    A = kron_laplacian(n, P.h).toarray()
    y, u, mult = np.zeros(N), np.zeros(N), np.zeros(N)
    for _ in range(30):
        K = A + np.diag(3 * y * y)
        res_kkt = np.concatenate([h2 * (y - 3.0) + h2 * K @ mult, alpha * h2 * u - h2 * mult,
                                  h2 * (A @ y + y ** 3 - u)])
        Hyy = h2 * np.diag(1 + 6 * y * mult)
        Z, eye = np.zeros((N, N)), np.eye(N)
        KKT = np.block([[Hyy, Z, h2 * K.T], [Z, alpha * h2 * eye, -h2 * eye], [h2 * K, -h2 * eye, Z]])
        d = np.linalg.solve(KKT, -res_kkt)
        y, u, mult = y + d[:N], u + d[N:2 * N], mult + d[2 * N:]
    assert y.max() > 1.0                                 # the nonlinearity matters
    np.testing.assert_allclose(x, np.concatenate([y, u]), rtol=0, atol=1e-7 * np.abs(u).max())


def test_semilinear_control_on_device_transfers_and_numpy_agreement(strict_cupy):
    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    P = PoissonControl(16, semilinear=True)
    res = sketched_newton(P, sketch=None, tol=1e-11, backend=strict_cupy)
    assert res.converged, res.message
    assert len(_big("h2d", P.N)) == 3 and len(_big("d2h", P.N)) <= res.nit     # before the test reads x back
    r = P.kkt_residual(res.x.get(), res.lam.get())
    assert r["stationarity"] <= 1e-11 and r["feasibility"] <= 1e-11
    ref = sketched_newton(PoissonControl(16, semilinear=True), sketch=None, tol=1e-11, backend="numpy")
    assert res.nit == ref.nit
    np.testing.assert_allclose(res.x.get(), ref.x, rtol=0, atol=1e-12 * np.abs(ref.x).max())


class _NoEval:
    """A problem whose callables must not run (the refusal comes before any evaluation)."""

    x0 = np.zeros(3)

    def f(self, x):
        raise AssertionError("evaluated")

    grad = c = jac = hess_lagrangian = f


def test_device_backend_refusals_name_the_fix(strict_cupy):
    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    for sketch in ("gaussian", "kaczmarz", "countsketch", "block"):
        with pytest.raises(TypeError, match="sketch=None"):
            sketched_newton(_NoEval(), sketch=sketch, backend=strict_cupy)
    with pytest.raises(ValueError, match="finite"):                     # x0 is checked on the host, once
        bad = PoissonControl(4)
        bad.x0 = np.full(bad.n, np.nan)
        sketched_newton(bad, sketch=None, backend=strict_cupy)

    class HostGrad(PoissonControl):                                     # returns host arrays on the device backend
        def grad(self, x, backend=None):
            return super().grad(x, backend).get()

    with pytest.raises(TypeError, match="problem.grad .*backend"):
        sketched_newton(HostGrad(4), sketch=None, backend=strict_cupy)

    class DenseJac(PoissonControl):                                     # a dense (device) Jacobian matrix
        def jac(self, x, backend=None):
            return strict_cupy.xp.zeros((self.m, self.n))

    with pytest.raises(TypeError, match="problem.jac .*operator problems"):
        sketched_newton(DenseJac(4), sketch=None, backend=strict_cupy)
    from problems.nlp import hs                                          # a NumPy-only problem fails on x0 clearly
    with pytest.raises(TypeError, match="backend='numpy'"):
        sketched_newton(hs("HS28"), sketch=None, backend=strict_cupy)


@pytest.mark.parametrize("n, lam", [(15, 1.0), (23, 6.0), (31, 6.5)])
def test_bratu_newton_krylov_multigrid_on_device_matches_sparse_newton(strict_cupy, n, lam):
    """newton_krylov + GMRES + a multigrid V-cycle of J(u) on the device (Bratu.nonlinear_system), against a
    sparse-direct Newton; the iterate never comes back to the host (the multigrid set-up reads the fine-grid
    shift back once per Newton step, see solvers/linear/multigrid_setup.py)."""
    from problems.pde.bratu import Bratu
    from solvers.nonlinear.newton_krylov import newton_krylov

    xp = strict_cupy.xp
    p = Bratu((n, n), lam=lam)
    res = newton_krylov(**p.nonlinear_system(strict_cupy), tol=1e-10)
    assert res.converged and res.backend == "cupy", res.message
    assert res.nit <= 8
    assert isinstance(res.x, xp.ndarray) and res.x.shape == (n, n)
    assert all(type(v) is np.ndarray and v.shape == (res.nit + 1,) for v in res.history.values())
    assert not _big("h2d", n * n) and len(_big("d2h", n * n)) <= res.stats["precond_builds"] == res.nit
    np.testing.assert_allclose(res.x.get().ravel(), _bratu_reference(n, lam), rtol=0, atol=1e-9)
    assert float(xp.max(xp.abs(p.residual(res.x)))) <= 1e-10


def test_bratu_jacobian_free_newton_krylov_on_device(strict_cupy):
    """The directional-difference Jacobian (no jac=) also stays on the device."""
    from problems.pde.bratu import Bratu
    from solvers.nonlinear.newton_krylov import newton_krylov

    n, lam = 15, 3.0
    p = Bratu((n, n), lam=lam)
    system = p.nonlinear_system(strict_cupy)
    system.pop("jac")
    res = newton_krylov(**system, tol=1e-9)
    assert res.converged, res.message
    assert res.stats["jvps"] > 0 and not _big("h2d", n * n)
    np.testing.assert_allclose(res.x.get().ravel(), _bratu_reference(n, lam), rtol=0, atol=1e-8)


def test_gpu_benchmark_nlp_steps_run_on_the_fake(strict_cupy):
    """benchmarks/gpu.py step 6 (``--only nlp``) end to end at small sizes on the emulated device: what a session
    with a GPU runs as-is at n = 512 and 1024^2."""
    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"
    spec = importlib.util.spec_from_file_location("_newtonkit_gpu_benchmark", path)
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)
    for semilinear in (False, True):
        out = gpu.control_cupy(strict_cupy.xp, 16, semilinear, ("numpy",))
        cu, ref = out["runs"]["cupy"], out["runs"]["numpy"]
        assert cu["converged"] and ref["converged"] and cu["nit"] == ref["nit"]
        assert max(ref["max_rel_diff_vs_cupy"]) <= 1e-10
        assert max(cu["kkt_residual_assembled"].values()) <= 1e-10
    out = gpu.bratu_cupy(strict_cupy.xp, 31, ("numpy",))
    cu, ref = out["runs"]["cupy"], out["runs"]["numpy"]
    assert cu["converged"] and ref["max_rel_diff_vs_cupy"][0] <= 1e-9 and cu["residual_inf_assembled"] <= 1e-8


class _DoubleWell:
    """``min sum(x^4/4 - x^2/2)`` s.t. ``sum(x) = 1`` with operators on the backend's arrays: the Hessian
    ``diag(3 x^2 - 1)`` is indefinite at ``x0``, so the operator curvature test shifts ``B = H + t I``."""

    def __init__(self, be, n):
        self.be, self.xp = be, be.xp
        self.x0 = np.linspace(-0.5, 0.6, n)

    def f(self, x):
        return float(self.xp.sum(x ** 4 / 4 - x ** 2 / 2))

    def grad(self, x):
        return x ** 3 - x

    def c(self, x):
        return self.xp.sum(x).reshape(1) - 1.0

    def jac(self, x):
        from solvers.operators import DenseOperator

        return DenseOperator(self.xp.ones((1, x.size)), backend=self.be)

    def hess_lagrangian(self, x, lam):
        from solvers.operators import DiagonalOperator

        return DiagonalOperator(3 * x * x - 1, backend=self.be)


def test_hessian_shift_on_device_reaches_a_local_minimiser(strict_cupy):
    """The Hessian modification (B + t I as operators) and the automatic zero multipliers on the device; the
    answer checked by its own first-order conditions and the reduced Hessian's eigenvalues (dense, host). (The
    operator curvature test does not see every indefinite reduced Hessian, see the docstring: from other starts
    this toy ends at saddle points on every backend.) From this start it reaches a global minimiser: every
    coordinate at the bottom of a well, two at -1 and three at +1 (sum 1, lam = 0, f = -5/4)."""
    from solvers.nonlinear.sketched_newton import sketched_newton

    res = sketched_newton(_DoubleWell(strict_cupy, 5), sketch=None, tol=1e-10, backend=strict_cupy)
    assert res.converged, res.message
    assert res.stats["hessian_modifications"] > 0 and res.stats["lam0"] == "zeros"
    x, lam = res.x.get(), float(res.lam.get()[0])
    assert np.abs(x ** 3 - x + lam).max() <= 1e-10 and abs(x.sum() - 1.0) <= 1e-10
    np.testing.assert_allclose(np.sort(x), [-1, -1, 1, 1, 1], atol=1e-9)
    assert abs(lam) <= 1e-9
    Z = np.linalg.svd(np.ones((1, x.size)))[2][1:].T                     # null space of J = 1^T
    assert np.linalg.eigvalsh(Z.T @ np.diag(3 * x * x - 1) @ Z).min() > 1e-3
    ref = sketched_newton(_DoubleWell(strict_cupy.__class__("numpy", np), 5), sketch=None, tol=1e-10,
                          backend="numpy")
    assert ref.nit == res.nit                                            # extra: the same iterations


def test_watchdog_on_device(strict_cupy):
    """A semilinear case whose unit step is relaxed once and then returned from (the watchdog) on the device."""
    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    P = PoissonControl(8, alpha=1e-6, semilinear=True, y_desired=30.0)
    res = sketched_newton(P, sketch=None, tol=1e-10, maxiter=200, backend=strict_cupy)
    assert res.converged, res.message
    assert res.stats["relaxed_steps"] >= 1 and res.stats["watchdog_returns"] >= 1
    r = P.kkt_residual(res.x.get(), res.lam.get())
    assert r["stationarity"] <= 1e-10 and r["feasibility"] <= 1e-10


def test_through_solvers_solve_on_device(strict_cupy):
    """``solvers.solve(problem, backend=...)`` reaches the same device paths (the CLI's route)."""
    import solvers
    from problems.pde import PoissonControl
    from problems.pde.bratu import Bratu

    P = PoissonControl(8)
    res = solvers.solve(P, method="sketched_newton", backend=strict_cupy, sketch=None, tol=1e-11)
    assert res.converged and isinstance(res.x, strict_cupy.xp.ndarray), res.message
    back = pickle.loads(pickle.dumps(res))                    # results pickle (sweeps ship them between processes)
    assert back.nit == res.nit and np.array_equal(back.x.get(), res.x.get())
    x_ref, _ = P.reference_solution()
    np.testing.assert_allclose(res.x.get(), x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())
    p = Bratu((15, 15), lam=1.0)
    r = solvers.solve(p, method="newton_krylov", backend=strict_cupy, tol=1e-10)
    assert r.converged and r.x.shape == (15, 15) and isinstance(r.x, strict_cupy.xp.ndarray), r.message
    np.testing.assert_allclose(r.x.get().ravel(), _bratu_reference(15, 1.0), rtol=0, atol=1e-9)
