"""Command-line findings of an outside probe (session 21, helper-78): output paths are checked before any work
(a solve ran to the end, then failed with a raw errno line on ``--store /proc/x``), errno messages name the
target instead of a hidden temporary file, the demo refuses an unusable backend before it makes a store and
``--plot`` with ``--no-plot``, ``runs list --failed`` says that no run matched, and a negative
``NEWTONKIT_MEMORY_LIMIT`` is refused; ``RunStore.table(sort=...)`` of an unknown column is a ValueError too."""
import os

import numpy as np
import pytest

import solvers
from solvers.cli import main
from solvers.runs import RunStore

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc (no file can be created)")


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@needs_proc
@pytest.mark.parametrize("argv", [
    ("solve", "poisson", "--shape", "8", "8", "--store", "/proc/nk-x.h5"),
    ("demo", "--case", "ot", "--store", "/proc/nk-x.h5"),
    ("demo", "--case", "ot", "--no-plot", "--store", "{tmp}/d.h5", "--plot", "/proc/nk-x.png"),
    ("runs", "merge", "/proc/nk-x.h5", "{tmp}/missing.h5"),
])
def test_unwritable_outputs_are_refused_before_any_work(capsys, tmp_path, argv):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and "[Errno" not in err, err
    assert "cannot create files in '/proc'" in err or "not allowed with argument" in err, err
    assert "iterations" not in out and "demo:" not in out       # nothing solved
    assert not (tmp_path / "d.h5").exists()


def test_errno_messages_name_the_target_not_a_temporary_file(capsys, tmp_path):
    with RunStore(tmp_path / "r.h5") as s:
        s.save(solvers.SolveResult(np.zeros(2), True, "converged", "", 1, history={"residual": np.ones(2)},
                                   method="cg", backend="numpy"))
    target = tmp_path / "out.csv"
    os.mkdir(target)                 # a folder where the CSV should go
    rc, out, err = _run(capsys, "runs", "export", str(tmp_path / "r.h5"), "--csv", str(target))
    assert rc == 2 and "is a folder" in err and ".tmp-" not in err


def test_demo_backend_and_plot_flags_are_checked_before_the_store(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if not solvers.backends.cupy_available():
        rc, out, err = _run(capsys, "demo", "--case", "ot", "--backend", "cupy", "--store", "d.h5")
        assert rc == 2 and not os.path.exists("d.h5") and not os.path.exists("d.h5.lock")
    rc, out, err = _run(capsys, "demo", "--case", "ot", "--plot", "", "--store", "d.h5")
    assert rc == 2 and "--plot needs a file name" in err and not os.path.exists("d.h5")


def test_failed_filter_says_no_run_matched(capsys, tmp_path):
    p = tmp_path / "r.h5"
    with RunStore(p) as s:
        s.save(solvers.SolveResult(np.zeros(2), True, "converged", "", 1, history={"residual": np.ones(2)},
                                   method="cg", backend="numpy"), tags={"note": "a\nb"})
    rc, out, err = _run(capsys, "runs", "list", str(p), "--failed")
    assert rc == 0 and "no completed runs match the filters" in out
    rc, out, err = _run(capsys, "runs", "list", str(p))
    assert rc == 0 and "note=a\\nb" in out                     # a newline in a tag stays inside its row
    with RunStore(p, mode="r") as s:
        with pytest.raises(ValueError, match="cannot sort by 'bogus'"):
            s.table(sort="bogus")
        with pytest.raises(KeyError):
            s.table(sort="bogus")
        with pytest.raises(KeyError, match=r"\(5000 characters\)"):
            s.load("x" * 5000)


@pytest.mark.parametrize("value", ["-5", "0", "nan", "abc"])
def test_memory_limit_must_be_positive(capsys, monkeypatch, value):
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", value)
    rc, out, err = _run(capsys, "solve", "poisson", "--shape", "8", "8")
    assert rc == 2 and "NEWTONKIT_MEMORY_LIMIT must be a positive number of bytes" in err
