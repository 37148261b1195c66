"""``benchmarks/gpu_owed.py`` (the OT eps sweep and the Chebyshev-Tucker m = 257 steps of ``benchmarks/gpu.py``,
owed to issues 12 and 9) end to end at small sizes on the emulated device (the CuPy kernel sets run on NumPy arrays): what a session with a GPU runs
as-is at n = 20 000 and m = 257. The OT rows are judged by the solvers' final L1 marginal errors (each solver
re-measures its returned potentials from C in float64 before it claims convergence); the Chebyshev-Tucker rows
against the NumPy build and against the exact function."""
from __future__ import annotations

import pathlib
import runpy
import types

import pytest

from test_cupy_kernels_emulated import fake_cupy, fake_cupy_backend  # noqa: F401  (the fixtures)


def _load():
    """``benchmarks/gpu_owed.py``'s functions (the script is not a package module)."""
    return types.SimpleNamespace(**runpy.run_path(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
                                                      / "gpu_owed.py")))


def test_ot_sweep_step_on_the_fake(fake_cupy_backend):
    owed = _load()
    out = owed.ot_sweep(fake_cupy_backend, 60, (0.1, 1e-2), budget_s=30.0)
    assert out["n"] == 60 and set(out["eps"]) == {"0.1", "0.01"}
    for row in out["eps"].values():
        for name in ("sinkhorn", "sns", "auto"):
            assert row[name]["reached_target"], (name, row[name])
            assert row[name]["marginal_error"] <= owed.TARGET
        assert row["best_method"] in ("sinkhorn", "sns") and 0.0 < row["auto_over_best"] < 100.0


def test_ot_sweep_budget_stops_and_skips(fake_cupy_backend):
    """A run stopped by the budget is not counted as reaching the target, and Sinkhorn is skipped afterwards."""
    owed = _load()
    out = owed.ot_sweep(fake_cupy_backend, 60, (1e-3, 1e-4), budget_s=0.0)
    first, second = out["eps"]["0.001"], out["eps"]["0.0001"]
    assert first["sinkhorn"]["status"] == "stopped" and not first["sinkhorn"]["reached_target"]
    assert "skipped" in second["sinkhorn"] and not second["sinkhorn"]["reached_target"]


@pytest.mark.filterwarnings("ignore:chebtucker")      # degree 40 does not resolve 1/|x - x0| (expected)
def test_chebtucker_step_on_the_fake(fake_cupy_backend, monkeypatch):
    from solvers import backends

    import test_cupy_approx_emulated as approx_fake
    import test_cupy_kernels_emulated as kernels_fake

    monkeypatch.setitem(backends._CACHE, "cupy", fake_cupy_backend)   # a ChebTucker keeps its backend's name
    for name, impl in approx_fake._IMPL.items():                      # the approx kernels' transcriptions too
        monkeypatch.setitem(kernels_fake._IMPL, name, impl)
    owed = _load()
    out = owed.chebtucker_m257(fake_cupy_backend, degree=40, n_points=2000)
    for name, row in out.items():
        assert row["ranks"] == row["ranks_numpy"]
        assert row["max_diff_vs_numpy_rel"] <= 1e-12
        # against the exact function: 1/|x - x0| with x0 at distance 0.1 from the box is not resolved at
        # degree 40 (about 1e-3), exp(-|x - x0|) nearly is; both bounded independently of the device path
        assert row["max_error_vs_exact_rel"] == row["max_error_numpy_vs_exact_rel"] or \
            abs(row["max_error_vs_exact_rel"] - row["max_error_numpy_vs_exact_rel"]) <= 1e-12
        assert row["max_error_vs_exact_rel"] < (5e-2 if name == "newton_x0" else 1e-4)
