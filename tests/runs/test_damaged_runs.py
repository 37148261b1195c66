"""Damaged runs in a single-file store: one byte of the middle run of ``data/three_runs.h5`` (three intact
runs written by RunStore) flipped at offsets found by flipping every byte of that run and keeping those
whose damage HDF5 reports in a different way (an unreadable group header, attribute table or attribute
type, a failed chunk checksum, a changed value). Whatever the way, the store must name that run damaged
and go on serving the other two: listing, verify, salvage, load, merge and ``runs show``."""
import shutil
import warnings
from pathlib import Path

import pytest

import solvers
from solvers.runs import DamagedRunError
from solvers.runs._integrity import DamagedStoreError

DATA = Path(__file__).parent / "data" / "three_runs.h5"
IDS = ["20261202T011802260632Z-f16728", "20261202T011802302213Z-48d44d", "20261202T011802332513Z-6f839c"]
TARGET = IDS[1]
#: byte offset -> how HDF5 reports the damage before these fixes
FLIPS = {18491: "group header unreadable (KeyError)", 18832: "history KeyError", 18940: "attribute TypeError",
         18981: "chunk checksum OSError", 18996: "changed value (digest mismatch)", 18997: "ValueError",
         19229: "RuntimeError", 20938: "attribute table RuntimeError"}


def _damaged(tmp_path, offset):
    path = tmp_path / "s.h5"
    shutil.copyfile(DATA, path)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0xFF]))
    return path


def test_the_pristine_file_verifies():
    with solvers.RunStore(DATA, "r") as st:
        assert [r["run_id"] for r in st.list()] == IDS
        assert set(st.verify().values()) == {"ok"}


@pytest.mark.parametrize("offset", sorted(FLIPS))
def test_one_damaged_run_is_named_and_the_others_served(tmp_path, offset):
    path = _damaged(tmp_path, offset)
    with solvers.RunStore(path, "r") as st:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            listed = [r["run_id"] for r in st.list()]
        assert {IDS[0], IDS[2]} <= set(listed) <= set(IDS)
        out = st.verify()
        assert out[TARGET].startswith("damaged") and out[IDS[0]] == out[IDS[2]] == "ok"
        with pytest.raises((DamagedRunError, KeyError)):
            st.load(TARGET)
        for rid in (IDS[0], IDS[2]):
            assert st.load(rid).x is not None
    rep = solvers.RunStore.salvage(path, tmp_path / "intact.h5")
    assert sorted(rep["copied"]) == [IDS[0], IDS[2]] and list(rep["damaged"]) == [TARGET]
    with solvers.RunStore(tmp_path / "intact.h5", "r") as st:
        assert set(st.verify().values()) == {"ok"} and len(st.list()) == 2
    with pytest.raises((DamagedRunError, DamagedStoreError)):
        with solvers.RunStore(tmp_path / "merged.h5") as out:
            out.merge([path])


@pytest.mark.parametrize("offset", [18491, 18940, 20938])
def test_cli_show_and_merge_name_the_damage(tmp_path, offset, capsys):
    from solvers.cli import main

    path = _damaged(tmp_path, offset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main(["runs", "show", str(path), TARGET]) == 2
        assert "damaged" in capsys.readouterr().err
        assert main(["runs", "merge", str(tmp_path / "m.h5"), str(path)]) == 2
        err = capsys.readouterr().err
        assert "damaged" in err or "cannot be read" in err
        assert not (tmp_path / "m.h5").exists()
        assert main(["runs", "list", str(path)]) == 0
    assert IDS[0] in capsys.readouterr().out
