"""sketched_newton (Poisson control) and newton_krylov (Bratu) on a real GPU (``backend="cupy"``).

Skipped without CuPy and a CUDA device (tests/conftest.py). References are independent of the solvers:
the sparse direct solve of the linear control problem's KKT system (``PoissonControl.reference_solution``,
SciPy ``spsolve`` on a Kronecker Laplacian), first-order residuals on assembled sparse matrices
(``PoissonControl.kkt_residual``) for the semilinear one, and a sparse-direct Newton on an own Kronecker
Laplacian for Bratu. The emulated twins (no GPU) are in tests/nonlinear/test_newton_cupy_emulated.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from _bratu_ref import sparse_newton as _bratu_reference

pytestmark = pytest.mark.gpu


def test_linear_control_n64_on_gpu_matches_sparse_direct_kkt_solve():
    import cupy as cp

    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    P = PoissonControl(64)
    res = sketched_newton(P, sketch=None, tol=1e-10, backend="cupy")
    assert res.converged and res.backend == "cupy", res.message
    assert isinstance(res.x, cp.ndarray) and isinstance(res.lam, cp.ndarray)
    assert all(type(v) is np.ndarray and v.shape == (res.nit + 1,) for v in res.history.values())
    x_ref, lam_ref = P.reference_solution()
    np.testing.assert_allclose(cp.asnumpy(res.x), x_ref, rtol=0, atol=1e-7 * np.abs(x_ref).max())
    np.testing.assert_allclose(cp.asnumpy(res.lam), lam_ref, rtol=0, atol=1e-7 * np.abs(lam_ref).max())


def test_semilinear_control_n64_on_gpu_first_order_conditions():
    import cupy as cp

    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    P = PoissonControl(64, semilinear=True)
    res = sketched_newton(P, sketch=None, tol=1e-10, backend="cupy")
    assert res.converged, res.message
    r = P.kkt_residual(cp.asnumpy(res.x), cp.asnumpy(res.lam))
    assert r["stationarity"] <= 1e-10 and r["feasibility"] <= 1e-10
    ref = sketched_newton(PoissonControl(64, semilinear=True), sketch=None, tol=1e-10, backend="numpy")
    np.testing.assert_allclose(cp.asnumpy(res.x), ref.x, rtol=0, atol=1e-8 * np.abs(ref.x).max())   # extra


@pytest.mark.parametrize("lam", [1.0, 6.0])
def test_bratu_64_on_gpu_matches_sparse_newton(lam):
    import cupy as cp

    from problems.pde.bratu import Bratu
    from solvers.nonlinear.newton_krylov import newton_krylov

    n = 64
    p = Bratu((n, n), lam=lam)
    res = newton_krylov(**p.nonlinear_system("cupy"), tol=1e-10)
    assert res.converged and res.backend == "cupy", res.message
    assert res.nit <= 8 and isinstance(res.x, cp.ndarray) and res.x.shape == (n, n)
    np.testing.assert_allclose(cp.asnumpy(res.x).ravel(), _bratu_reference(n, lam), rtol=0, atol=1e-9)


def test_device_refusals_on_gpu():
    from problems.nlp import hs
    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    with pytest.raises(TypeError, match="sketch=None"):
        sketched_newton(PoissonControl(8), sketch="gaussian", backend="cupy")
    with pytest.raises(TypeError, match="backend='numpy'"):
        sketched_newton(hs("HS28"), sketch=None, backend="cupy")
