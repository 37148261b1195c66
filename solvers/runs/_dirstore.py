"""A directory of run files with a rebuildable index (the layout behind directory stores and
the sidecar of single-file stores).

Layout::

    <dir>/newtonkit-runs.json      marker: {"layout": "newtonkit-runs-directory", "layout_version": 1}
    <dir>/<run_id>.h5              one complete run per file (format version 2 store files)
    <dir>/index.jsonl              the index: one JSON line per run file (a cache, never the data)
    <dir>/.<name>.tmp-<host>-<pid>-<random>   files being written

Run files are the truth. The index is an append-only journal of lines ``JSON TAB CRC``:
the JSON is ``{"file": name, "runs": [summary, ...]}`` (``summary`` as
:func:`~solvers.runs._runfile.summary_of`), the CRC-32 (8 hex digits) covers its bytes, so
a line changed in any byte is dropped like a missing one. A reader takes the directory listing,
keeps the index lines of the files that exist, and summarises any run file the
index does not know (written by a worker, or an index lost or damaged). Each line also
records its file's ``stamp`` (its size): a file whose size no longer matches (truncated,
rewritten) is summarised again from the file, so a listing never shows a truncated run as
intact (lines of older versions carry no stamp and are trusted as written; a changed byte
that keeps the size is found by the digest check of load() and verify()). So a
missing, truncated or corrupt index costs time, never runs. A line cut short by a
killed writer is skipped (and the next append starts on a fresh line). Appends
hold the store's advisory lock; the run files themselves are written without it.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import shutil
import zlib
from pathlib import Path

import h5py

from . import _files
from . import _runfile

MARKER = "newtonkit-runs.json"
INDEX = "index.jsonl"
LAYOUT = "newtonkit-runs-directory"
LAYOUT_VERSION = 1
_READABLE_LAYOUTS = (1,)


def index_line(entry: dict) -> str:
    """One index line: compact JSON, a tab, the CRC-32 of the JSON (8 hex digits), a newline."""
    body = json.dumps(entry, separators=(",", ":"))
    return f"{body}\t{zlib.crc32(body.encode('utf-8')):08x}\n"


def file_stamp(path) -> list | None:
    """``[size]`` of ``path`` (``None`` when it cannot be stat'ed): the index trusts a line only while its
    file keeps the size the line records. A truncated or rewritten file changes size; the modification time
    is left out on purpose: copies (``cp -r``, scp, sync tools) change it on every file, which made every
    read-only listing of a copied store open all its files again."""
    try:
        return [os.stat(path).st_size]
    except OSError:
        return None


def _vanished(e: dict, folder: Path) -> bool:
    """An index line of a file that could not be read because it no longer exists (not damage)."""
    return "error" in e and e.get("stamp") is None and not os.path.lexists(folder / e["file"])


class RunDir:
    """The run files of one directory and their index (see the module docstring)."""

    def __init__(self, path: Path, lock_path: Path, durable: bool = True):
        self.path = path
        self.lock_path = lock_path
        self.durable = durable

    # -- the marker ------------------------------------------------------------------------------
    @property
    def marker(self) -> Path:
        return self.path / MARKER

    @property
    def index_path(self) -> Path:
        return self.path / INDEX

    def exists(self) -> bool:
        return self.marker.is_file()

    def check(self, missing_ok: bool = False) -> None:
        """Refuse a marker of another layout or of a newer layout version. ``missing_ok``: a marker gone since
        :meth:`exists` saw it (another process closing a single-file store removed its emptied sidecar in
        between) is no sidecar, not an unreadable marker."""
        try:
            meta = json.loads(self.marker.read_text())
        except FileNotFoundError:
            if missing_ok:
                return
            raise ValueError(f"RunStore: the run-store marker {str(self.marker)!r} vanished while the store was "
                             "being opened (another process removed it); open the store again") from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"RunStore: {str(self.marker)!r} is not a readable run-store marker ({exc}); "
                             "the run files are intact: delete the marker and open the directory with mode='a' "
                             "to rewrite it") from exc
        if not isinstance(meta, dict) or meta.get("layout") != LAYOUT:
            raise ValueError(f"RunStore: {str(self.path)!r} is not a newtonkit run-store directory "
                             f"({MARKER} says {meta!r})")
        ver = meta.get("layout_version")
        if ver not in _READABLE_LAYOUTS:
            raise ValueError(f"RunStore: {str(self.path)!r} has layout_version {ver!r}; this newtonkit reads "
                             f"versions {_READABLE_LAYOUTS}. Upgrade newtonkit to read it")

    def create(self, *, exclusive: bool = False, **meta) -> None:
        """Create the directory and its marker (no-op when the marker exists). ``exclusive``: raise
        FileExistsError when the marker exists, also when another process makes it at the same moment (the
        marker is linked into place, which never replaces a file)."""
        self.path.mkdir(exist_ok=True)
        if self.exists():
            if exclusive:
                raise FileExistsError(errno.EEXIST, "run-store marker exists", str(self.marker))
            return
        tmp = _runfile.tmp_name(self.marker)
        tmp.write_text(json.dumps({"layout": LAYOUT, "layout_version": LAYOUT_VERSION, **meta}) + "\n")
        if self.durable:
            _files.fsync_path(tmp)
        if exclusive:
            try:
                os.link(tmp, self.marker)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, self.marker)
        if self.durable:
            _files.fsync_path(self.path, directory=True)

    # -- run files and the index -----------------------------------------------------------------
    def run_files(self) -> list[str]:
        """Names of the run files present (``*.h5`` not starting with a dot; one that is not a regular file is
        reported as unreadable by :meth:`describe_file`, never opened)."""
        try:
            with os.scandir(self.path) as it:
                return [e.name for e in it if e.name.endswith(_runfile.RUN_SUFFIX) and not e.name.startswith(".")]
        except FileNotFoundError:
            return []

    def read_index(self) -> dict[str, dict]:
        """The latest index line per file name (lines that do not parse are skipped)."""
        out: dict[str, dict] = {}
        try:
            data = self.index_path.read_bytes()
        except FileNotFoundError:
            return out
        good = []
        for line in data.split(b"\n"):
            body, _, crc = line.rpartition(b"\t")
            # a line cut short by a killed writer, or changed in any byte, fails its CRC: the run
            # file it described is summarised again from the file
            if body and crc == b"%08x" % zlib.crc32(body):
                good.append(body)
        try:   # fast path: one parse for all lines
            parsed = json.loads(b"[" + b",".join(good) + b"]")
        except ValueError:
            parsed = []
            for body in good:
                try:
                    parsed.append(json.loads(body))
                except ValueError:
                    continue
        for e in parsed:
            if isinstance(e, dict) and isinstance(e.get("file"), str) and (
                    isinstance(e.get("runs"), list) or "error" in e):
                out[e["file"]] = e
        return out

    def describe_file(self, name: str) -> dict:
        """A fresh index line for the run file ``name`` (``error`` when HDF5 cannot read it)."""
        p = self.path / name
        stamp = file_stamp(p)        # before reading: a change while it is read makes the line stale
        damaged: list = []
        try:
            kind = os.stat(p).st_mode
            if not stat.S_ISREG(kind):     # a FIFO blocked the listing forever when opened; a device never ends
                what = "a directory" if stat.S_ISDIR(kind) else "a FIFO, socket or device"
                raise OSError(f"not a regular file ({what})")
            runs = _runfile.summaries_in_file(p, damaged)
        except (OSError, KeyError, ValueError) as exc:
            return {"file": name, "error": f"{type(exc).__name__}: {exc}", "stamp": stamp}
        line = {"file": name, "runs": runs, "stamp": stamp}
        if damaged:                  # runs of this file that cannot be read (listed apart, named by verify)
            line["damaged"] = damaged
        return line

    def _stale(self, e: dict) -> bool:
        """Whether the file of the line ``e`` changed size since the line was written (run lines without a
        stamp, written by older versions, are trusted; an error line without one is stale)."""
        recorded = e.get("stamp")
        if recorded is None:
            return "error" in e and file_stamp(self.path / e["file"]) is not None
        st = file_stamp(self.path / e["file"])
        return st is not None and (not isinstance(recorded, list) or recorded[:1] != st)

    def entries(self, adopt: bool = False) -> list[dict]:
        """Index lines of every run file present; files the index lacks are summarised now (and
        appended to the index when ``adopt``)."""
        names = self.run_files()
        if not names:
            return []
        idx = self.read_index()
        fresh = []
        out = []
        for n in names:
            e = idx.get(n)
            if e is None or self._stale(e):
                was, e = e, self.describe_file(n)
                if "error" in e and was and isinstance(was.get("runs"), list):   # the runs it held, by id
                    e["indexed_runs"] = [r.get("run_id") for r in was["runs"] if isinstance(r, dict)]
                if _vanished(e, self.path):
                    continue    # removed since it was listed (a compaction moved its run into the file)
                fresh.append(e)
            out.append(e)
        if adopt and fresh:
            try:
                self.append(fresh)
            except FileNotFoundError:    # the sidecar was compacted away meanwhile: the index is only a cache
                pass
        return out

    def append(self, lines: list[dict], locked: bool = False) -> None:
        """Append index lines (under the lock unless the caller holds it)."""
        text = "".join(index_line(e) for e in lines)
        if locked:
            self._append(text)
        else:
            with _files.Lock(self.lock_path):
                self._append(text)

    def _append(self, text: str) -> None:
        try:
            fd = os.open(self.index_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            if not self.path.exists():     # a sidecar compacted away meanwhile (its runs are in the store file
                return                     # now): the index is only a cache (a sweep stopped here, session 24)
            raise
        try:
            size = os.fstat(fd).st_size
            if size:
                with open(self.index_path, "rb") as fh:   # a line cut short by a killed writer stays apart
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        text = "\n" + text
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)

    def rewrite_index(self, lines: list[dict]) -> None:
        """Replace the index atomically by ``lines`` (the caller holds the lock)."""
        tmp = _runfile.tmp_name(self.index_path)
        tmp.write_text("".join(index_line(e) for e in lines))
        os.replace(tmp, self.index_path)

    def reindex(self) -> list[dict]:
        """Rebuild the index from the run files alone (under the lock); returns its lines."""
        with _files.Lock(self.lock_path):
            lines = [e for e in map(self.describe_file, sorted(self.run_files())) if not _vanished(e, self.path)]
            self.rewrite_index(lines)
        return lines

    # -- adding files ------------------------------------------------------------------------------
    def adopt(self, path: Path, move: bool = False) -> dict:
        """Bring the run file ``path`` into this directory (copy, or rename with ``move`` on one file
        system) unless it is already here; returns its index line (not appended)."""
        path = Path(os.path.abspath(os.fspath(path)))
        if path.parent == self.path:
            return self.describe_file(path.name)
        with h5py.File(path, "r"):     # an unreadable file is refused before anything is copied
            pass
        final = self.path / path.name
        if final.exists():
            raise FileExistsError(f"RunStore.index_files: {str(final)!r} exists already; a run file is never "
                                  "overwritten")
        tmp = _runfile.tmp_name(final)
        try:
            if move:
                try:
                    os.link(path, tmp)
                except OSError:
                    shutil.copyfile(path, tmp)
            else:
                shutil.copyfile(path, tmp)
            _runfile.place(tmp, final, self.durable)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if move:
            path.unlink()
        return self.describe_file(final.name)


def sidecar_of_store(path: Path) -> Path | None:
    """``path`` when it is the sidecar ``<file>.h5.d`` of an existing single-file store (whether or not it exists
    now: another process closing or compacting the store removes it when empty), else None."""
    if path.name.endswith(".h5.d") and path.with_name(path.name[:-2]).is_file():
        return path
    return None


def make_sidecar(path: Path, durable: bool) -> None:
    """(Re)create a store's sidecar with its marker. A worker told to write into :attr:`RunStore.run_dir` wrote a
    *file* of the sidecar's name when a compaction had removed the directory: the run was hidden and the
    store unusable (outside probe helper-98)."""
    store = path.with_name(path.name[:-2])
    RunDir(path, store.with_name(store.name + ".lock"), durable).create(sidecar_of=store.name)


def check_sidecar_names(path: Path, sidecar: RunDir, lock: Path) -> None:
    """Refuse a single-file store whose sidecar or lock name is taken by something else, before anything is
    written: a directory store named ``<file>.d`` was adopted as the sidecar, and the close moved its runs into
    the file and removed it; a file of that name, or a folder named like the lock, gave raw OS errors after an
    empty store file was made (helper-129)."""
    if lock.is_dir():
        raise IsADirectoryError(f"RunStore: {str(lock)!r} is a folder, but it is the name of this store's lock "
                                "file: rename or remove it, or name the store file differently")
    d = sidecar.path
    try:                                # one stat: another process's close may remove an empty sidecar meanwhile
        mode = os.stat(d).st_mode
    except FileNotFoundError:
        mode = None
        if os.path.islink(d):           # a dangling link
            raise FileExistsError(f"RunStore: {str(d)!r} is a broken link, but a single-file store keeps new runs "
                                  "in the folder <file>.d: remove it, or name the store file differently") from None
    if mode is not None and not stat.S_ISDIR(mode):
        raise FileExistsError(f"RunStore: {str(d)!r} exists and is not a folder, but a single-file store keeps new "
                              "runs in the folder <file>.d: rename or remove it, or name the store file differently")
    if mode is not None:
        try:
            meta = json.loads(sidecar.marker.read_text())
        except (OSError, ValueError):   # no marker, vanished (another process dropped the empty sidecar), or
            return                      # unreadable: the store's own checks answer those
        # every sidecar's marker names its file (sidecar_of, since the layout began); a directory store's has
        # none. A sidecar copied or renamed with its file names the old file: still a sidecar (helper-132)
        if isinstance(meta, dict) and "sidecar_of" not in meta:
            raise FileExistsError(f"RunStore: {str(d)!r} is a directory store of its own (its marker names no store "
                                  f"file), not the sidecar of {str(path)!r}: open it as "
                                  f"RunStore({str(d) + os.sep!r}), or name the store file differently")


__all__ = ["RunDir", "index_line", "MARKER", "INDEX", "LAYOUT", "LAYOUT_VERSION", "make_sidecar", "sidecar_of_store",
           "check_sidecar_names"]
