"""`newtonkit solve ot` stores a converged run whose cost matches a direct solve."""
import pytest

import solvers
from problems import ot
from solvers import cli


@pytest.mark.parametrize("method", ["sns", "sinkhorn"])
def test_cli_solve_ot_stores_run(tmp_path, capsys, method):
    path = str(tmp_path / "runs.h5")
    rc = cli.main(["solve", "ot", "--n", "60", "--eps", "1e-2", "--method", method, "--seed", "3",
                   "--no-progress", "--store", path])
    assert rc == 0
    out = capsys.readouterr().out
    assert "transport cost" in out and "stored run" in out
    ref = solvers.sinkhorn(ot.random_point_clouds(60, 1e-2, seed=3), tol=1e-10)
    cost = float(out.split("transport cost <P, C>:")[1].split()[0])
    assert cost == pytest.approx(ref.cost, rel=1e-6)
    with solvers.RunStore(path) as store:
        rows = store.list()
    assert len(rows) == 1 and rows[0]["method"] == method and rows[0]["converged"]


def test_cli_solve_ot_bad_eps(capsys):
    assert cli.main(["solve", "ot", "--n", "10", "--eps", "0", "--no-progress"]) == 2
    assert "--eps" in capsys.readouterr().err
