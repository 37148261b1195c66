"""Outside review (session 14): verify() reports a truncated run file instead of raising h5py's OSError;
a damaged sidecar file's advice names the store to salvage; RunStore.save takes an approximation (its
to_result()); potentials refuse a cutoff beyond the kernel's r_max with the right advice."""
import glob

import numpy as np
import pytest

import solvers
from problems.potentials import newton_kernel
from solvers.approx import ChebTucker
from solvers.results import SolveResult


def _result(i):
    return SolveResult(np.full(1000, float(i)), True, "converged", "ok", 1, method="cg", backend="numpy")


def test_verify_reports_a_truncated_run_file(tmp_path):
    with solvers.RunStore(str(tmp_path / "vs") + "/") as st:
        ids = [st.save(_result(i)) for i in range(3)]
    f = sorted(glob.glob(str(tmp_path / "vs" / "*.h5")))[0]
    data = open(f, "rb").read()
    open(f, "wb").write(data[: len(data) // 2])
    with solvers.RunStore(str(tmp_path / "vs") + "/", "r") as st:
        out = st.verify()
    assert set(ids) <= set(out)
    bad = [k for k, v in out.items() if v != "ok"]
    assert len(bad) == 1 and "damaged" in out[bad[0]] and "salvage" in out[bad[0]]
    assert sum(v == "ok" for v in out.values()) == 2
    with solvers.RunStore(str(tmp_path / "vs") + "/", "r") as st:      # the intact runs still read back
        for k in ids:
            if k not in bad:
                assert st.load(k).x[0] == float(ids.index(k))


def test_damaged_sidecar_file_advice_names_the_store(tmp_path):
    from solvers.runs._single import damaged

    msg = str(damaged(tmp_path / "runs.h5.d" / "20260101T000000Z-abc.h5", OSError("truncated")))
    assert f"RunStore.salvage({str(tmp_path / 'runs.h5')!r}" in msg


def test_save_takes_an_approximation(tmp_path):
    ct = solvers.chebtucker(lambda p: np.exp(p[:, 0] + p[:, 1]), [(0.0, 1.0), (0.0, 2.0)], tol=1e-10)
    with solvers.RunStore(str(tmp_path / "a.h5")) as st:
        rid = st.save(ct)
        back = ChebTucker.from_result(st.load(rid))
    X = np.random.default_rng(0).random((50, 2)) * [1.0, 2.0]
    np.testing.assert_array_equal(back(X), ct(X))
    assert np.abs(ct(X) - np.exp(X[:, 0] + X[:, 1])).max() < 1e-8
    with solvers.RunStore(str(tmp_path / "a.h5")) as st, pytest.raises(TypeError, match="to_result"):
        st.save(object())


@pytest.mark.parametrize("cutoff", [2.0, 50.0, 1e3])
def test_cutoff_beyond_r_max_is_refused(cutoff):
    k = newton_kernel(1e-7, r_min=1e-3, r_max=1.0)
    with pytest.raises(ValueError, match="beyond the kernel's r_max"):
        k.long_range(cutoff=cutoff)
    long = k.long_range(cutoff=0.5)
    r = np.geomspace(0.5, 1.0, 50)
    exact = 1.0 / r
    assert np.abs(long.radial(r) - exact).max() <= 1e-6 * exact.max()   # the long-range part alone matches beyond 0.5
