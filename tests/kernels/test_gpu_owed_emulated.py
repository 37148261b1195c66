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


def test_gpu_script_writes_the_report_after_each_step(fake_cupy_backend, monkeypatch, tmp_path):
    """``gpu.py --only ot_sweep approx`` end to end on the emulated device (quick sizes): the JSON is written after
    every step (a device command cut at its time limit keeps the finished steps) and at the end; the sweep's
    total budget skips the runs after it, saying why. (The sweep's runs themselves: the tests above.)"""
    import importlib
    import json

    from solvers import backends

    monkeypatch.setitem(backends._CACHE, "cupy", fake_cupy_backend)
    monkeypatch.setattr(fake_cupy_backend.xp.cuda, "runtime",
                        types.SimpleNamespace(runtimeGetVersion=lambda: 0,
                                              getDeviceProperties=lambda i: {"name": b"emulated"}), raising=False)
    gpu = types.SimpleNamespace(**runpy.run_path(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
                                                     / "gpu.py")))
    owed = importlib.import_module("gpu_owed")         # the module gpu.main imports (benchmarks/ is on sys.path)
    out = tmp_path / "gpu.json"
    on_disk = []

    def approx_step(be, degree, n_points):              # stands in for step 8: what was on disk when it started
        on_disk.append(json.loads(out.read_text()))
        return {"stub": True}

    monkeypatch.setattr(owed, "chebtucker_m257", approx_step)
    assert gpu.main(["--quick", "--skip-tests", "--only", "ot_sweep", "approx", "--ot-budget", "5",
                     "--ot-total", "0", "--out", str(out)]) == 0
    assert on_disk and "ot_eps_sweep" in on_disk[0]    # step 7 was saved before step 8 ran
    rep = json.loads(out.read_text())
    rows = list(rep["ot_eps_sweep"]["eps"].values())
    assert rep["chebtucker_m257"] == {"stub": True} and len(rows) == 9
    # a total budget of 0 s: no run starts, each says why (and none counts as reaching the target)
    assert all("total budget" in r[m]["skipped"] and not r[m]["reached_target"]
               for r in rows for m in ("sinkhorn", "sns", "auto"))
