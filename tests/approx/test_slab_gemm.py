"""The generated fixed-shape GEMM kernels of the slab form (:mod:`solvers._kernels.numba._slab_gemm`).

Reference: NumPy's matrix product (BLAS) on the same operands, to a few units of rounding (stated per test);
the values of the slab route they serve against the exact Chebyshev-Tucker sum (``einsum`` on
``chebvander`` rows, :mod:`tests.approx._slabref`) within the route's own error bound.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from solvers.approx import ChebTucker
from solvers._kernels.numba import _slab_gemm as G
from solvers._kernels.numba import approx_slab as SLAB
from tests.approx import _slabref as slabref

ROOT = Path(__file__).resolve().parents[2]


def test_generated_module_is_what_the_generator_writes():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_slab_gemm.py"), "--check"], cwd=ROOT)
    assert run.returncode == 0, "solvers/_kernels/numba/_slab_gemm.py is stale: run tools/gen_slab_gemm.py"


@pytest.mark.parametrize("kp", G.PADS)
@pytest.mark.parametrize("n", G.WIDTHS)
@pytest.mark.parametrize("m", [1, 7, 120])
def test_kernels_match_numpy_matmul(kp, n, m):
    rng = np.random.default_rng(kp * 1000 + n + m)
    A = rng.standard_normal((m, kp))
    B = rng.standard_normal((kp, n))
    Y = np.full((m, n), np.nan)
    assert G.gemm(A, B, Y)
    ref = A @ B
    # kp products summed: |error| <= kp * eps * sum |a_k b_kj| (standard dot-product bound)
    bound = kp * np.finfo(float).eps * (np.abs(A) @ np.abs(B))
    assert np.all(np.abs(Y - ref) <= bound)


def test_unsupported_shapes_write_nothing():
    A, B = np.ones((4, 10)), np.ones((10, 64))
    Y = np.full((4, 64), 7.0)
    assert not G.gemm(A, B, Y)                    # 10 is no padded rank
    assert np.all(Y == 7.0)
    assert not G.gemm(np.ones((4, 8)), np.ones((8, 48)), np.empty((4, 48)))   # 48 columns: none


def test_a_value_does_not_depend_on_its_column():
    """Every entry is the same chain of FMAs: a column computed among 64, among 32, or shifted, is bitwise
    the same (the vector lanes and any remainder loop agree)."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((30, 24))
    B = rng.standard_normal((24, 64))
    Y64 = np.empty((30, 64))
    G.gemm(A, B, Y64)
    for s in (0, 5, 32):
        Y32 = np.empty((30, 32))
        G.gemm(A, np.ascontiguousarray(B[:, s:s + 32]), Y32)
        np.testing.assert_array_equal(Y32, Y64[:, s:s + 32])


@pytest.mark.parametrize("fixed", [True, False])
@pytest.mark.parametrize("ranks", [(16, 24, 24), (12, 17, 30), (20, 32, 32)])
def test_slab_values_by_either_gemm_do_not_depend_on_the_call_size(ranks, fixed, monkeypatch):
    """Ranks of mode d-2 up to 32 take the generated kernels (padded to a multiple of 4) where
    :func:`fixed_gemm` says so, else BLAS; both are forced here: the values within the route's bound of the
    exact sum, and the same bits in one call of many points (64-point items) and in four calls (32-point
    items)."""
    monkeypatch.setattr(SLAB, "_FIXED", fixed)
    rng = np.random.default_rng(sum(ranks))
    core, factors = slabref.tucker(rng, (33, 40, 41), ranks)
    assert SLAB.pad_rank(ranks[1]) in G.PADS
    ct = ChebTucker(core, factors, [(-1.0, 1.0)] * 3, tol=1e-7, eval_method="table")
    x, whole, parts = slabref.call_size_split(ct, rng)
    assert int(np.count_nonzero(whole != parts)) == 0
    ref = slabref.exact(core, factors, x[:5000])
    assert np.abs(whole[:5000] - ref).max() <= ct.table_info()["f_bound"]


def test_pad_rank():
    assert [SLAB.pad_rank(r) for r in (1, 4, 5, 8, 9, 19, 20, 32, 33, 0)] == [4, 4, 8, 8, 12, 20, 20, 32, 0, 0]


def test_fixed_gemm_follows_the_cpu_and_the_blas_kernels():
    """The generated kernels where the CPU has AVX-512 and SciPy's OpenBLAS runs narrower kernels; in a
    subprocess with ``OPENBLAS_CORETYPE`` set to each (OpenBLAS reads it once)."""
    from solvers import _blasinfo

    libs = _blasinfo.blas_libraries()
    if not libs or not all(lib.get("internal_api") == "openblas" for lib in libs):
        pytest.skip("not OpenBLAS")
    avx512 = "avx512f" in _blasinfo.cpu_flags()
    code = ("from solvers._kernels.numba import approx_slab as S; from solvers import _blasinfo as B; "
            "print(S.fixed_gemm(), ','.join(str(l['architecture']) for l in B.blas_libraries()))")
    for core in ("Haswell", "SkylakeX"):
        env = dict(__import__("os").environ, OPENBLAS_CORETYPE=core)
        run = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
        fixed, archs = run.stdout.split()
        narrow = all(a.lower() not in _blasinfo.AVX512_KERNELS for a in archs.split(","))
        assert (fixed == "True") == (avx512 and narrow), (core, fixed, archs)


def test_the_cost_model_reads_the_plain_route_line_of_the_blas_kernels(monkeypatch):
    """Where the slab form runs its own kernels and BLAS narrower ones (``fixed_gemm``), the plain route's
    cost line is :data:`GEMM_NS_NARROW`: rank 12 at 10^6 points takes the slab form (measured 65 against 88 ms
    on the plain route, session 34); with the other line, the plain route."""
    rng = np.random.default_rng(12)
    core = rng.standard_normal((12, 12, 12))
    fac = [np.linalg.qr(rng.standard_normal((129, 12)))[0] for _ in range(3)]
    ct = ChebTucker(core, fac, [(-1.0, 1.0)] * 3, tol=1e-7, eval_method="table")
    _, p = ct._pack("table")
    monkeypatch.setattr(SLAB, "_FIXED", True)
    assert SLAB.use_slab(p, 10 ** 6)
    monkeypatch.setattr(SLAB, "_FIXED", False)
    assert not SLAB.use_slab(p, 10 ** 6)
