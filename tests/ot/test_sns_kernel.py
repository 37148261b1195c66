"""The Newton stage of SNS in kernel space (``solvers.ot._sns_kernel``) and the kernel sets'
``scaling_sparse``.

References: the plan ``u_i K_ij v_j`` formed densely in NumPy (row sums, the truncation rule
checked entry by entry), POT's ``ot.sinkhorn(method="sinkhorn_log")`` plans and the exact LP
``ot.emd2``."""
import sys
import tracemalloc

import numpy as np
import pytest

import solvers
from solvers._kernels.numba import ot as numba_ot
from solvers._kernels.numpy import ot as ref

from ._refs import random_problem as _prob
from .test_exact import import_pot

pot = import_pot()
needs_pot = pytest.mark.skipif(pot is None, reason="POT is not installed")
SETS = {"numpy": ref, "numba": numba_ot}


def _kernel(rng, n, m, dtype, eps=1e-2):
    x, y = rng.random((n, 2)), rng.random((m, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    K = np.exp((0.01 * rng.random(n)[:, None] + 0.01 * rng.random(m)[None] - C) / eps).astype(dtype)
    K[K < np.finfo(dtype).tiny] = 0.0
    return K


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rho, kmax, share", [(1e-8, 25, 0.0), (1e-8, 25, 1 - 1e-4), (1e-3, 10**6, 0.0)])
def test_scaling_sparse_against_the_dense_plan(rng, name, dtype, rho, kmax, share):
    K = _kernel(rng, 90, 70, dtype)
    u, v = np.exp(rng.standard_normal(90)), np.exp(rng.standard_normal(70))
    r, (indptr, indices, data) = SETS[name].scaling_sparse(K, u, v, rho, kmax, share)
    P = u[:, None] * K.astype(np.float64) * v[None, :]
    np.testing.assert_allclose(r, P.sum(1), rtol=1e-13)
    for i in range(90):
        row, cols = P[i], indices[indptr[i]:indptr[i + 1]]
        np.testing.assert_allclose(data[indptr[i]:indptr[i + 1]], row[cols], rtol=1e-14)
        cand = np.sort(row[row >= rho * row.max()])[::-1]
        need = np.searchsorted(np.cumsum(cand), share * row.sum()) + 1 if share > 0 else 0
        k = min(cand.size, max(kmax, need))
        assert cols.size == k and row.argmax() in cols
        assert np.sort(row[cols])[::-1] == pytest.approx(cand[:k], rel=1e-14)   # the k largest


@pytest.mark.parametrize("name", SETS)
def test_scaling_sparse_checks_its_vectors(name):
    K = np.ones((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="u has shape"):
        SETS[name].scaling_sparse(K, np.ones(3), np.ones(3), 1e-8, 2)
    with pytest.raises(TypeError, match="v must be float64"):
        SETS[name].scaling_sparse(K, np.ones(4), np.ones(3, dtype=np.float32), 1e-8, 2)


@needs_pot
@pytest.mark.parametrize("eps", [3e-2, 1e-2])
def test_newton_in_kernel_space_matches_pot(rng, cpu_backend, eps):
    p = _prob(rng, 40, 30, eps, weights=True)
    res = solvers.sns(p, tol=1e-10, domain="kernel", backend=cpu_backend)
    assert res.converged, res.message
    assert res.stats["newton_kernel_iterations"] > 0
    P = pot.sinkhorn(p.a, p.b, p.C, eps, method="sinkhorn_log", numItermax=50_000, stopThr=1e-13)
    np.testing.assert_allclose(res.plan(), P, atol=1e-10)


@needs_pot
@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge")
def test_newton_in_kernel_space_small_eps_and_the_lp(rng, cpu_backend):
    """eps = 1e-3 (exp(-C/eps) underflows: stabilised kernels only) with eps continuation off:
    the cost approaches the exact LP within the entropic bound, the plan matches sinkhorn_log."""
    p = _prob(rng, 30, 24, 1e-3)
    res = solvers.sns(p, tol=1e-9, domain="kernel", eps_scaling=None, backend=cpu_backend)
    assert res.converged, res.message
    assert res.stats["newton_kernel_iterations"] > 0
    lp = pot.emd2(p.a, p.b, p.C)
    assert -1e-8 <= res.cost - lp <= p.eps * np.log(30 * 24)
    P = pot.sinkhorn(p.a, p.b, p.C, p.eps, method="sinkhorn_log", numItermax=20_000, stopThr=1e-12)
    np.testing.assert_allclose(res.plan(), P, atol=1e-8)


@needs_pot
def test_unsafe_kernel_switches_to_the_log_domain(rng):
    """A weight of 1e-30: that row's plan entries are below the float32 window (exponents < -25),
    so no kernel passes the safety test and every Newton iteration runs from C; same answer."""
    p = _prob(rng, 30, 25, 1e-2, weights=True)
    a = p.a.copy()
    a[3] = 1e-30
    a /= a.sum()
    b = p.b / p.b.sum() * a.sum()
    res = solvers.sns(p.C, a, b, eps=1e-2, tol=1e-10, domain="kernel", backend="numba")
    assert res.converged, res.message
    assert res.stats["newton_log_iterations"] > 0 and res.stats["newton_kernel_iterations"] == 0
    P = pot.sinkhorn(a, b, p.C, 1e-2, method="sinkhorn_log", numItermax=50_000, stopThr=1e-13)
    np.testing.assert_allclose(res.plan(), P, atol=1e-10)


def test_kernel_phase_ends_in_float64(rng):
    """The kernel is used only above 1e-5; the last iterates are measured from C in float64 and
    the claim is re-measured (the result's error is that of the returned potentials)."""
    p = _prob(rng, 50, 50, 3e-3)
    res = solvers.sns(p, tol=1e-11, domain="kernel", backend="numba")
    assert res.converged, res.message
    st = res.stats
    assert st["newton_kernel_iterations"] > 0 and st["newton_log_iterations"] >= 1
    P = res.plan()
    assert np.abs(P.sum(1) - p.a).sum() + np.abs(P.sum(0) - p.b).sum() <= 1.01e-11


def test_size_rule_and_memory(rng, monkeypatch):
    """domain="auto" keeps the Newton kernel only up to NEWTON_KERNEL_MAX entries; above it (here
    forced by a threshold of 0) no kernel lives in the Newton stage and the tracemalloc peak of the
    whole solve is C + stage 1's float32 kernel (+ O(n) and the truncated plans)."""
    sns_mod = sys.modules["solvers.ot.sns"]
    p = _prob(rng, 400, 400, 1e-3)
    small = solvers.sns(p, tol=1e-8)
    assert small.stats["newton_kernel_iterations"] > 0
    monkeypatch.setattr(sns_mod, "NEWTON_KERNEL_MAX", 0)
    C = p.C.copy()
    tracemalloc.start()
    try:
        res = solvers.sns(C, p.a, p.b, eps=1e-3, tol=1e-8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.converged and "newton_kernel_iterations" not in res.stats
    assert peak <= 1.5 * C.nbytes + 0.1 * C.nbytes, peak / C.nbytes
    np.testing.assert_allclose(res.f - res.f[0], small.f - small.f[0], atol=1e-9)


def test_domain_option_is_checked(rng):
    p = _prob(rng, 10, 10, 1e-2)
    with pytest.raises(ValueError, match="domain must be one of 'auto', 'kernel', 'log'"):
        solvers.sns(p, domain="float32")


def test_cupy_scaling_sparse_emulated(rng, monkeypatch):
    """The CuPy set's ``scaling_sparse`` (plain array ops) run on NumPy through a stand-in
    ``cupy`` module, against the dense plan and the NumPy reference (see
    tests/kernels/test_cupy_kernels_emulated.py for the emulation of the compiled kernels)."""
    import types

    from solvers._kernels.cupy import ot as cot

    fake = types.ModuleType("cupy")
    fake.__getattr__ = lambda name: getattr(np, name)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    K = _kernel(rng, 60, 50, np.float32)
    u, v = np.exp(rng.standard_normal(60)), np.exp(rng.standard_normal(50))
    P = u[:, None] * K.astype(np.float64) * v[None, :]
    for rho, kmax, share in ((1e-3, 50, 0.0), (1e-8, 4, 0.0), (1e-8, 3, 0.9), (1e-8, 2, 1 - 1e-9)):
        r, (ip, ix, dv) = cot.scaling_sparse(K, u, v, rho, kmax, share)
        rr, (rp, rx, rv) = ref.scaling_sparse(K, u, v, rho, kmax, share)
        np.testing.assert_allclose(r, P.sum(1), rtol=1e-13)
        assert ip.dtype == np.int32 and ix.dtype == np.int32
        np.testing.assert_array_equal(ip, rp)
        np.testing.assert_array_equal(ix, rx)
        np.testing.assert_allclose(dv, rv, rtol=1e-14)


@needs_pot
def test_kernel_rebuilt_at_each_eps_stage(rng):
    """eps = 1e-4 with the default continuation (1e-3 -> 1e-4): the kernel of stage 1 serves the
    first eps, a new one is built (and safety-tested) at the next; the plan's marginals (NumPy)
    and its cost against the exact LP (POT emd2, within the entropic bound) check the answer."""
    p = _prob(rng, 60, 50, 1e-4)
    res = solvers.sns(p, tol=1e-9, domain="kernel", backend="numba")
    assert res.converged, res.message
    st = res.stats
    assert st["eps_stages"] == 2 and st["newton_kernel_builds"] >= 1 and st["newton_kernel_iterations"] > 0
    P = res.plan()
    assert np.abs(P.sum(1) - p.a).sum() + np.abs(P.sum(0) - p.b).sum() <= 1.01e-9
    lp = pot.emd2(p.a, p.b, p.C)
    assert -1e-8 <= res.cost - lp <= p.eps * np.log(60 * 50)
