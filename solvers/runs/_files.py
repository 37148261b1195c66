"""File-level helpers of the run store: run ids, fsync, the advisory lock."""
from __future__ import annotations

import datetime as _dt
import os
import secrets
import threading
import time
from pathlib import Path

import numpy as np

try:  # POSIX advisory locks; on other platforms saves are not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def new_run_id() -> str:
    t = time.time()
    stamp = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}{int((t % 1) * 1e6):06d}Z-{secrets.token_hex(3)}"


def fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class Lock:
    """Exclusive advisory lock on ``<store>.lock`` (``fcntl.flock``; between processes a no-op where
    fcntl is missing).

    Re-entrant within a thread: a thread that holds the lock of a path (e.g. a compaction that
    triggers the finaliser of another store object of the same path) takes it again without
    deadlocking on its own ``flock``; other threads of the process wait on a per-path ``RLock``.
    """

    _held: dict = {}                    # path -> [RLock, depth, fd]
    _guard = threading.Lock()

    def __init__(self, path: Path):
        self.path = path
        self.key = os.path.abspath(os.fspath(path))

    def __enter__(self):
        with Lock._guard:
            entry = Lock._held.setdefault(self.key, [threading.RLock(), 0, None])
        entry[0].acquire()
        if entry[1] == 0 and fcntl is not None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                entry[0].release()
                raise
            entry[2] = fd
        entry[1] += 1
        return self

    def __exit__(self, *exc):
        entry = Lock._held[self.key]
        entry[1] -= 1
        if entry[1] == 0 and entry[2] is not None:
            fcntl.flock(entry[2], fcntl.LOCK_UN)
            os.close(entry[2])
            entry[2] = None
        entry[0].release()


def check_name_length(path: Path, extra: int) -> None:
    """A store name too long for the temporary files beside it (``extra`` characters longer: ``.<name>.tmp-<host>-
    <pid>-<hex>``): one clear error up front (a save failed with 'File name too long' naming a hidden temp file)."""
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    if len(path.name.encode("utf-8", "surrogateescape")) + extra > limit:
        raise ValueError(f"RunStore: the name {path.name[:40]!r}... is too long: the store keeps temporary files "
                         f"named after it, so it may have at most {limit - extra} bytes here")


#: room kept free beyond a write's own bytes: HDF5's metadata, and below a few pages of free space its flush
#: crashed the process (a segmentation fault in h5py's File.flush on a nearly full disk, helper-140)
FREE_SPACE_MARGIN = 1 << 20


def check_free_space(folder: Path, need: int, what: str, file_bytes: int | None = None) -> None:
    """An ``OSError(ENOSPC)`` before anything is written when ``folder``'s file system has less than ``need`` bytes
    plus :data:`FREE_SPACE_MARGIN` free (a file system that cannot say is not checked), and an ``OSError(EFBIG)``
    when the file to write (``file_bytes``, default ``need``) exceeds the process's file-size limit."""
    import errno
    import shutil

    check_file_size_limit(need if file_bytes is None else file_bytes, what)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < need + FREE_SPACE_MARGIN:
        raise OSError(errno.ENOSPC, f"RunStore: {what} could not be written to {str(folder)!r}: no space left on "
                      f"the device ({free} bytes free, about {need + FREE_SPACE_MARGIN} needed); nothing was "
                      "written, the runs stored before are intact. Free space, or save to another disk")


def check_file_size_limit(need: int, what: str) -> None:
    """An ``OSError(EFBIG)`` before anything is written when the process's file-size limit (``ulimit -f``,
    ``RLIMIT_FSIZE``) is below ``need`` bytes: HDF5 crashed the process (a segmentation fault at its flush)
    when a write failed with EFBIG part-way through a file."""
    import errno

    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, OSError, ValueError, AttributeError):
        return
    if soft != resource.RLIM_INFINITY and soft >= 0 and need + FREE_SPACE_MARGIN // 16 > soft:
        raise OSError(errno.EFBIG, f"RunStore: {what} could not be written: it needs about "
                      f"{need + FREE_SPACE_MARGIN // 16} bytes, above this process's file-size limit of {soft} "
                      "bytes (ulimit -f / RLIMIT_FSIZE); nothing was written, the runs stored before are intact. "
                      "Raise the limit (ulimit -f unlimited) and save again")


#: HDF5's bytes per stored entry (object header, attribute or link), above its data: measured about 350 B for a
#: small history array; counted high, as a file-size limit is checked with this estimate
ENTRY_BYTES = 1024


def payload_bytes(p) -> int:
    """An estimate from above of a payload's run file: the arrays' bytes (x, history, stats, options, extras, tags),
    the text of every other value (lists, strings, JSON), and :data:`ENTRY_BYTES` per entry (3000 small history
    entries were counted as 72 kB and a run file past ``ulimit -f`` crashed HDF5; helper-151)."""
    r = p.result
    maps = [dict(d or {}) for d in (r.history, r.stats, r.options, r.extras, getattr(p, "tags", None))]
    total = ENTRY_BYTES * (1 + sum(len(d) for d in maps))
    for v in [p.x] + [v for d in maps for v in d.values()]:
        nbytes = getattr(v, "nbytes", None)
        if getattr(v, "dtype", None) == object:  # stored as the text of its entries (str() of it abbreviates)
            total += int(nbytes) + sum(4 * len(str(e)) for e in np.asarray(v).flat)
        elif nbytes is not None:
            total += int(nbytes)
        elif v is not None and not isinstance(v, (bool, int, float, complex)):
            try:                                 # a list, string or other value stored as text (UTF-8 at most 4)
                total += 4 * len(str(v))
            except (RecursionError, ValueError, TypeError):     # refused by name when it is encoded
                pass
    return total


def _renew_in_child() -> None:
    """A forked child starts with no store lock held: a lock another parent thread held at the fork (its save
    under way) stayed held in the child, whose own saves to that store then hung."""
    Lock._held = {}
    Lock._guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_in_child)


__all__ = ["new_run_id", "fsync_path", "Lock", "check_name_length", "flag", "compression"]


def flag(name, v) -> bool:
    """A bool option (``durable="no"`` was taken as True: any non-empty string is); 0 and 1 are accepted."""
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
        return bool(v)
    raise TypeError(f"{name} must be True or False, got {type(v).__name__} {v!r}")


def compression(c):
    """``compression`` checked at once, by h5py on a dataset in memory (an unknown filter was accepted and failed
    at the first save, in h5py's words, without naming the argument)."""
    if c is None:
        return None
    import h5py

    try:
        with h5py.File("probe", "w", driver="core", backing_store=False) as f:
            f.create_dataset("probe", data=np.zeros(4), compression=c)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"compression={c!r} is not usable here ({exc}); use None, 'gzip' or 'lzf'") from None
    return c
