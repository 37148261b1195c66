"""File-level helpers of the run store: run ids, fsync, the advisory lock."""
from __future__ import annotations

import datetime as _dt
import os
import secrets
import time
from pathlib import Path

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
    """Exclusive advisory lock on ``<store>.lock`` (a no-op where fcntl is missing)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = None

    def __enter__(self):
        if fcntl is not None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None



__all__ = ["new_run_id", "fsync_path", "Lock"]
