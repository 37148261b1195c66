"""Numba ``@njit(cache=True)`` kernels (CPU).

Numba keys a cached function on its own source file only. The kernels here call (and inline)
helpers from sibling modules, for example :mod:`.rbwave` inlines the row and plane helpers of
:mod:`.stencil`, so after an edit of one module another module's cache can hold machine code
built from the old helpers: stale results or stale speed, with nothing to tell. On import this
package therefore compares a digest of all its sources with the one stored beside the in-tree
cache (``__pycache__/newtonkit-kernel-sources.sha256``) and, when they differ, removes the
package's cached ``.nbi``/``.nbc`` files so that every kernel is compiled again from the current
sources. An installed (unmodified) package pays this once, on its first import.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_STAMP = "newtonkit-kernel-sources.sha256"


def sources_digest(folder: Path) -> str:
    """SHA-256 of the names and bytes of every ``*.py`` file in ``folder``."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def drop_stale_cache(folder: Path | None = None) -> bool:
    """Remove ``folder``'s in-tree Numba cache when its sources changed since it was written.

    Returns ``True`` when cache files were removed. Never raises for a read-only install or a
    concurrent import (a cache file another process still reads stays readable after unlink).
    """
    folder = Path(__file__).resolve().parent if folder is None else Path(folder)
    cache = folder / "__pycache__"
    try:
        digest = sources_digest(folder)
        stamp = cache / _STAMP
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return False
        removed = False
        if cache.is_dir():
            for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                f.unlink(missing_ok=True)
                removed = True
        cache.mkdir(exist_ok=True)
        tmp = cache / f".{_STAMP}.{os.getpid()}"
        tmp.write_text(digest)
        os.replace(tmp, stamp)
        return removed
    except OSError:
        return False


drop_stale_cache()
