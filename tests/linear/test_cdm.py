"""solvers.cdm: PCG equivalence with a linear SPD preconditioner, convergence with nonlinear approximate inverses."""
import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from solvers.linear import jacobi


def scaled_laplacian(m, rng):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    L = sp.kron(T, sp.identity(m)) + sp.kron(sp.identity(m), T)
    D = sp.diags(np.exp(rng.uniform(-2, 2, m * m)))
    return (D @ L @ D).tocsr()


@pytest.mark.parametrize("k", [1, 2, 8])
def test_cdm_linear_preconditioner_is_pcg(cpu_backend, rng, k):
    A = scaled_laplacian(14, rng)
    b = rng.standard_normal(A.shape[0])
    J = jacobi(A)
    ref = solvers.cg(A, b, M=J, backend=cpu_backend)
    res = solvers.cdm(A, b, M=J, k=k, backend=cpu_backend)
    assert res.converged and abs(res.nit - ref.nit) <= 1
    n = min(res.nit, ref.nit, 25)
    np.testing.assert_allclose(res.history["residual"][:n], ref.history["residual"][:n], rtol=1e-7)
    np.testing.assert_allclose(res.x, np.linalg.solve(A.toarray(), b), rtol=1e-5)
    # M given as a plain callable instead of an operator: same iterates
    d = 1.0 / A.diagonal()
    res2 = solvers.cdm(A, b, M=lambda r: d * r, k=k, backend=cpu_backend)
    np.testing.assert_allclose(res2.history["residual"], res.history["residual"], rtol=1e-10)


def test_cdm_scale_invariant_normalised_callable(cpu_backend, rng):
    """A nonlinear map z = D r / ||D r||: the line search makes the output scale irrelevant."""
    A = scaled_laplacian(12, rng)
    b = rng.standard_normal(A.shape[0])
    d = 1.0 / A.diagonal()
    lin = solvers.cdm(A, b, M=lambda r: d * r, backend=cpu_backend)
    nl = solvers.cdm(A, b, M=lambda r: d * r / np.linalg.norm(d * r), backend=cpu_backend)
    assert nl.converged and nl.nit == lin.nit
    np.testing.assert_allclose(nl.history["residual"], lin.history["residual"], rtol=1e-6)


@pytest.mark.parametrize("m,k", [(10, 2), (16, 4)])
def test_cdm_nonlinear_residual_dependent_sweeps(cpu_backend, rng, m, k):
    """M(r): a residual-dependent number of damped Jacobi sweeps on A z = r (a nonlinear map)."""
    A = scaled_laplacian(m, rng)
    b = rng.standard_normal(A.shape[0])
    d = 1.0 / A.diagonal()
    bn = np.linalg.norm(b)
    sweep_counts = []

    def M(r):
        s = 1 + min(4, int(np.log10(bn / np.linalg.norm(r))))
        sweep_counts.append(s)
        z = np.zeros_like(r)
        for _ in range(s):
            z += 0.67 * d * (r - A @ z)
        return z

    xs = np.linalg.solve(A.toarray(), b)
    errs = []
    res = solvers.cdm(A, b, M=M, k=k, rtol=1e-9, backend=cpu_backend,
                      callback=lambda xk: errs.append(np.sqrt((xk - xs) @ (A @ (xk - xs)))))
    assert res.converged and len(set(sweep_counts)) > 1
    np.testing.assert_allclose(res.x, xs, rtol=1e-6, atol=1e-9 * np.abs(xs).max())
    assert np.linalg.norm(b - A @ res.x) <= 1.1e-9 * bn
    # exact line search: the A-norm of the error decreases monotonically
    assert np.all(np.diff(errs) <= 1e-10 * errs[0])
    assert res.stats["precond_applications"] == res.nit


def test_cdm_random_perturbed_preconditioner_converges(rng):
    """A non-deterministic approximate inverse (noisy Jacobi) still converges; steepest descent (k=0) is slower."""
    A = scaled_laplacian(10, rng)
    b = rng.standard_normal(A.shape[0])
    d = 1.0 / A.diagonal()
    noise = np.random.default_rng(7)
    M = lambda r: d * r * (1.0 + 0.3 * noise.standard_normal(r.size))  # noqa: E731
    res = solvers.cdm(A, b, M=M, k=4, rtol=1e-8, backend="numba")
    assert res.converged
    np.testing.assert_allclose(res.x, np.linalg.solve(A.toarray(), b), rtol=1e-5)
    sd = solvers.cdm(A, b, M=jacobi(A), k=0, rtol=1e-8, maxiter=res.nit, backend="numba")
    assert not sd.converged


def test_cdm_breakdown_and_edges(cpu_backend, rng):
    res = solvers.cdm(np.diag([1.0, -1.0, 2.0]), np.array([0.0, 1.0, 0.0]), backend=cpu_backend)
    assert res.status == "breakdown" and "not symmetric positive definite" in res.message
    A = scaled_laplacian(5, rng)
    b = rng.standard_normal(25)
    z = solvers.cdm(A, np.zeros(25), backend=cpu_backend)
    assert z.converged and z.nit == 0 and np.all(z.x == 0)
    stuck = solvers.cdm(A, b, M=lambda r: np.zeros_like(r), backend=cpu_backend)
    assert stuck.status == "stagnated" and not stuck.converged
    x0 = rng.standard_normal(25)
    r = solvers.cdm(A, b, x0=x0, M=jacobi(A), rtol=1e-10, backend=cpu_backend)
    np.testing.assert_allclose(r.history["residual"][0], np.linalg.norm(b - A @ x0), rtol=1e-12)
    np.testing.assert_allclose(r.x, np.linalg.solve(A.toarray(), b), rtol=1e-7)
    m = solvers.cdm(A, b, maxiter=3, backend=cpu_backend)
    assert m.status == "maxiter" and m.nit == 3
    with pytest.raises(ValueError, match="k"):
        solvers.cdm(A, b, k=-1)
    with pytest.raises(ValueError, match=r"M\(r\) returned an array of shape \(3,\), expected \(25,\)"):
        solvers.cdm(A, b, M=lambda r: r[:3])
    nanM = solvers.cdm(A, b, M=lambda r: r * np.nan, backend=cpu_backend)
    assert nanM.status == "nonfinite" and np.all(np.isfinite(nanM.x))


@pytest.mark.gpu
def test_cdm_cupy(rng):
    import cupy

    A = scaled_laplacian(10, rng)
    b = rng.standard_normal(100)
    ref = solvers.cdm(A, b, M=jacobi(A), backend="numpy")
    d = cupy.asarray(1.0 / A.diagonal())
    res = solvers.cdm(cupy.asarray(A.toarray()), cupy.asarray(b), M=lambda r: d * r)
    assert res.backend == "cupy" and abs(res.nit - ref.nit) <= 1
    np.testing.assert_allclose(cupy.asnumpy(res.x), ref.x, rtol=1e-6)
