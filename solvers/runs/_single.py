"""The single store file (``runs.h5``): format checks, its in-file index, and the copy-and-rename
rewrite that every change of the file goes through (compaction, merge, creation, salvage).

The file carries ``/index``: a resizable ``uint8`` dataset (Fletcher-32 checked; a damaged
one is ignored) holding JSON lines, one run summary per line (:func:`~solvers.runs._runfile.summary_of`), rewritten inside every rewrite of the
file, so listing a file of 10,000 runs reads one dataset instead of 10,000 groups. It is a
cache: a reader compares it with the names under ``/runs`` and summarises any run it does not
cover (files of format version 1/2 written before it existed, runs added by other tools).
"""
from __future__ import annotations

import errno

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from . import _files
from . import _integrity
from . import _runfile
from ._encoding import decode as _decode
from ._integrity import DamagedStoreError

READABLE_VERSIONS = (1, 2)
INDEX = "index"


class StoreInUseError(OSError):
    """The store file is locked by another process (HDF5 file locking): it is in use, not damaged."""


def damaged(path: Path, exc) -> OSError:
    path = Path(path)
    if isinstance(exc, BlockingIOError) or "unable to lock file" in str(exc):   # helper-98: called 'damaged'
        return StoreInUseError(f"RunStore: {str(path)!r} is open for writing in another process (HDF5 file "
                               f"locking: {exc}); wait for it to close the file, or read it with HDF5 file locking "
                               "off (HDF5_USE_FILE_LOCKING=FALSE) if that writer is known to be idle")
    # a run file of a single-file store's sidecar directory (``runs.h5.d/``): the store is what to salvage
    store = path.parent.with_name(path.parent.name[:-2]) if path.parent.name.endswith(".h5.d") else path
    return DamagedStoreError(
        f"RunStore: {str(path)!r} is damaged and cannot be read as HDF5 ({type(exc).__name__}: {exc}). "
        f"It is not empty: try RunStore.salvage({str(store)!r}, 'recovered.h5') to copy the runs that are "
        "still intact into a new store")


def _foreign_runs(f) -> bool:
    """Whether the file's ``/runs`` (a file without the store's ``format`` attribute: another program's, or a
    store of format 1/2) holds members and none of the first 50 is a run group (``run_id``, ``status`` or
    ``complete`` among its attributes). A member whose attributes cannot be read counts as a (damaged) run."""
    runs = f.get("runs")
    if not isinstance(runs, h5py.Group) or not len(runs):
        return False
    for i, name in enumerate(runs):
        if i >= 50:
            break
        try:
            g = runs[name]
            if not isinstance(g, h5py.Group) or not any(k in g.attrs for k in ("run_id", "status", "complete")):
                continue
        except Exception:                                  # unreadable: a damaged run, not a foreign object
            pass
        return False
    return True


def _near_format(text) -> bool:
    """Whether ``text`` is the store's format name with a character or two damaged (not another program's)."""
    ref = _runfile.FORMAT
    return isinstance(text, str) and len(text) == len(ref) and sum(a != b for a, b in zip(text, ref)) <= 2


def check_format(path: Path) -> None:
    """Refuse what is not a readable run-store file, naming the file and the reason."""
    size = path.stat().st_size
    if not h5py.is_hdf5(path):
        if size == 0:
            raise ValueError(f"RunStore: {str(path)!r} is an empty file, not a run store")
        with open(path, "rb") as fh:
            head = fh.read(65536)
        # the signature or the store's format name, or HDF5's own structures (object headers, B-trees, local heaps,
        # symbol nodes) near the start: an HDF5 store whose first bytes were overwritten (its format name sits at
        # byte ~2080, past the 1 KiB read before: helper-158), not some other file
        hdf5_parts = sum(tag in head for tag in (b"OHDR", b"TREE", b"HEAP", b"SNOD"))
        if b"\x89HDF\r\n\x1a\n" in head or b"newtonkit-runs" in head or hdf5_parts >= 3:
            what = "HDF5 signature" if b"\x89HDF\r\n\x1a\n" in head else "HDF5 metadata (no signature at its start)"
            raise damaged(path, OSError(f"{what} found but the superblock is unreadable"))
        raise ValueError(f"RunStore: {str(path)!r} is not an HDF5 file")
    bad_runs = None
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            if fmt is not None and _decode(fmt, None) != _runfile.FORMAT:
                if _near_format(_decode(fmt, None)):          # one flipped byte of the store's own attribute
                    raise OSError(f"its format attribute is garbled ({fmt!r})")
                raise ValueError(f"RunStore: {str(path)!r} is an HDF5 file of format {fmt!r}, not a run store")
            if fmt is None and len(f.keys()) and "runs" not in f:
                raise ValueError(f"RunStore: {str(path)!r} is an HDF5 file but not a newtonkit run store "
                                 f"(no /runs group; it holds {sorted(f.keys())[:5]})")
            if fmt is None and _foreign_runs(f):
                raise ValueError(f"RunStore: {str(path)!r} is an HDF5 file but not a newtonkit run store (no format "
                                 f"attribute, and nothing in its /runs is a run: {sorted(f['runs'].keys())[:5]})")
            link = f.get("runs", getlink=True)
            if link is not None and not isinstance(link, h5py.HardLink):
                bad_runs = type(link).__name__            # a store never writes links
            elif link is not None and not isinstance(f["runs"], h5py.Group):
                bad_runs = type(f["runs"]).__name__       # e.g. a Dataset: its runs are gone
            ver = f.attrs.get("format_version")
            if ver is not None:
                try:
                    ver = int(ver)
                except (TypeError, ValueError):
                    ver = repr(ver)
                if ver not in READABLE_VERSIONS and not (isinstance(ver, int) and max(READABLE_VERSIONS) < ver <= 100):
                    raise OSError(f"its format_version attribute is garbled ({ver!r})")   # a flipped byte, not a
                if ver not in READABLE_VERSIONS:                                         # newer format
                    raise ValueError(f"RunStore: {str(path)!r} has format_version {ver}; this newtonkit "
                                     f"reads versions {READABLE_VERSIONS}. Upgrade newtonkit to read it")
    except _integrity.HDF5_ERRORS + (MemoryError,) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("RunStore: "):
            raise                                    # this function's own refusals (a foreign file) pass through
        raise damaged(path, exc) from exc           # damaged metadata: h5py raises KeyError, RuntimeError, ...
    if bad_runs:
        raise DamagedStoreError(f"RunStore: {str(path)!r} is damaged: its /runs is a {bad_runs}, not the group of "
                                "runs, so no run can be listed from it (it is never reported as an empty store)")


def _read_index(f) -> dict[str, dict]:
    ds = f.get(INDEX)
    if not isinstance(ds, h5py.Dataset):
        return {}
    try:
        if ds.size * ds.dtype.itemsize > os.path.getsize(f.filename):
            return {}    # a damaged shape (helper-98: 1.1e12 entries, "out of memory"): the runs are read instead
        data = ds[...].tobytes()
    except _integrity.HDF5_ERRORS + (MemoryError,):   # Fletcher-32 mismatch, damaged metadata: likewise
        return {}
    out = {}
    for line in data.split(b"\n"):
        try:
            s = json.loads(line)
        except ValueError:
            continue
        if isinstance(s, dict) and isinstance(s.get("run_id"), str):
            out[s["run_id"]] = s
    return out


def summaries(f, damaged: list | None = None) -> list[dict]:
    """Summaries of the complete runs of the open store file ``f`` (in-file index + any run it lacks).
    Runs that cannot be read are left out and their ids appended to ``damaged`` when it is a list
    (else the error is raised)."""
    runs = f.get("runs")
    if not isinstance(runs, h5py.Group):
        return []
    return _runfile.group_summaries(runs, damaged, _read_index(f))


def index_is_current(path: Path) -> bool:
    """Whether the file's ``/index`` covers exactly the run groups it holds (else a rewrite adds it)."""
    with h5py.File(path, "r") as f:
        runs = f.get("runs")
        names = set(runs.keys()) if isinstance(runs, h5py.Group) else set()
        return INDEX in f and set(_read_index(f)) == names


def refresh_index(f) -> None:
    """Rewrite ``/index`` of the open (writable) file ``f`` to cover exactly its complete runs."""
    text = "".join(json.dumps(s, separators=(",", ":")) + "\n" for s in summaries(f)).encode("utf-8")
    data = np.frombuffer(text, dtype=np.uint8)
    ds = f.get(INDEX)
    if isinstance(ds, h5py.Dataset) and ds.maxshape == (None,):
        ds.resize((data.size,))       # in place: the chunks are reused, the file does not grow each time
    else:
        if ds is not None:
            del f[INDEX]
        ds = f.create_dataset(INDEX, shape=(data.size,), maxshape=(None,), dtype=np.uint8, chunks=(1 << 16,),
                              fletcher32=True)
    if data.size:
        ds[:] = data


def rewrite(path: Path, write, durable: bool, extra: int = 0):
    """Apply ``write(h5file)`` to a copy of the store file (a new one when missing), refresh its
    index, ``fsync`` and rename it over ``path``. ``extra``: the bytes ``write`` adds (the run files
    it copies in), checked with the copy's size before anything is written (HDF5 aborted the process
    when the disk filled during a copy). The caller holds the store's lock."""
    if path.exists() and not os.access(path, os.W_OK):      # the copy would keep its mode: named here
        raise PermissionError(errno.EACCES, f"RunStore: the store file {str(path)!r} is read-only, so it cannot be "
                              f"rewritten (runs saved to it stay in its sidecar {str(path) + '.d'!r}, listed with "
                              "the store); make the file writable, then run `newtonkit runs compact` "
                              "(RunStore.compact())")
    prefix = f".{path.name}.tmp-"
    for stale in path.parent.glob(prefix + "*"):
        # under the lock, any temporary copy of the store file belongs to a writer that died
        stale.unlink(missing_ok=True)
    size = path.stat().st_size if path.exists() else 0
    _files.check_free_space(path.parent, size + int(extra), "the rewritten store file")
    tmp = _runfile.tmp_name(path)
    try:
        if path.exists():
            shutil.copyfile(path, tmp)
            shutil.copymode(path, tmp)  # keep the store's permission bits
            f = h5py.File(tmp, "r+")
        else:
            f = _runfile.new_store_file(tmp)
        try:
            out = write(f)
            refresh_index(f)
            f.flush()
        finally:
            f.close()
        if durable:
            _files.fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            _files.fsync_path(path.parent, directory=True)
        return out
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def has_run(path: Path, run_id: str) -> bool:
    """Whether the store file holds a group ``runs/<run_id>`` (complete or not)."""
    if "/" in run_id or not path.exists():
        return False
    with h5py.File(path, "r") as f:
        return f.get(f"runs/{run_id}") is not None


__all__ = ["check_format", "damaged", "summaries", "refresh_index", "index_is_current", "rewrite", "has_run", "READABLE_VERSIONS"]
