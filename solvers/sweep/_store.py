"""The store of a sweep: a directory of one-run HDF5 files and an index the client appends to.

Layout::

    <store>/
        files/<key>.h5     one run per task (a RunStore file holding one run), written by the worker
                           that ran it: temporary name, then atomic rename
        index.jsonl        one JSON summary per stored run, appended by the client only
        sweep.lock         advisory lock held by the client while a sweep writes this store

The run files are the truth; the index is a fast catalogue of them. A client
killed between a worker's rename and its own index line loses nothing: the
next sweep on the store *adopts* run files the index does not list (it reads
the task key from the run's ``sweep_key`` tag). A torn last index line (a
client killed mid-append) is ignored. Only one sweep writes a store at a time
(``sweep.lock``, released by the kernel when its holder dies).

To get one HDF5 file with every run: ``newtonkit runs merge all.h5 <store>/files/*.h5``
(:meth:`solvers.RunStore.merge`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None


class StoreBusyError(RuntimeError):
    """Another sweep holds the store's lock."""


class SweepStore:
    """A sweep's run directory (see the module docstring); opened by the client that sweeps.

    Parameters
    ----------
    path : str or os.PathLike
        The directory; created (with its parent directories) when missing.
    """

    def __init__(self, path):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"store must be a directory path (str or os.PathLike), got {type(path).__name__}")
        self.path = Path(os.path.abspath(os.fspath(path)))
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"sweep store {str(self.path)!r} is a file; a sweep stores its runs in a "
                                     "directory (one HDF5 file per run), give a directory such as 'runs/'")
        self.files = self.path / "files"
        self.index_path = self.path / "index.jsonl"
        self._lock_fd = None

    # -- the client's lock -----------------------------------------------------------------------
    def acquire(self) -> "SweepStore":
        """Create the directories, take ``sweep.lock`` and remove temporary files of dead writers."""
        self.files.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            fd = os.open(self.path / "sweep.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreBusyError(f"another sweep is writing to {str(self.path)!r} (it holds sweep.lock); wait for "
                                     "it to finish or use another --store") from None
            self._lock_fd = fd
        for stale in self.files.glob(".tmp-*"):
            try:   # under the lock: a temporary file belongs to a writer of an earlier, dead sweep
                stale.unlink()
            except OSError:
                pass
        return self

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    # -- index -----------------------------------------------------------------------------------
    def read_index(self) -> dict[str, dict]:
        """``{key: summary}`` from ``index.jsonl`` (the last line of a key wins; torn lines are skipped)."""
        rows: dict[str, dict] = {}
        try:
            with open(self.index_path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(row, dict) and isinstance(row.get("key"), str):
                        rows[row["key"]] = row
        except FileNotFoundError:
            pass
        return rows

    def append(self, rows, *, durable: bool = False) -> None:
        """Append summaries to the index (client only)."""
        rows = list(rows)
        if not rows:
            return
        text = "".join(json.dumps(r, sort_keys=True, allow_nan=True) + "\n" for r in rows)
        with open(self.index_path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())

    def stored(self) -> dict[str, dict]:
        """``{key: summary}`` of every run in the store: the index, checked against the files, plus run files
        the index does not list yet (adopted: read from their tags and appended to the index)."""
        from . import _worker

        indexed = self.read_index()
        out, adopted = {}, []
        present = {p.stem: p for p in self.files.glob("*.h5")} if self.files.is_dir() else {}
        for key, path in present.items():
            row = indexed.get(key)
            if row is None or row.get("file") != path.name:
                try:
                    row = _worker.read_run_file(path)
                except Exception:  # noqa: BLE001 - a damaged or foreign file: not a stored run; rerun the task
                    row = None
                if row is None or row["key"] != key:
                    continue
                adopted.append(row)
            out[key] = row
        if adopted and self._lock_fd is not None:
            self.append(adopted)
        return out

    def file(self, key: str) -> Path:
        return self.files / f"{key}.h5"


__all__ = ["SweepStore", "StoreBusyError"]
