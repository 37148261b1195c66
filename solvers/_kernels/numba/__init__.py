"""Numba ``@njit(cache=True)`` kernels (CPU).

Numba keys a cached function on its own source file only. The kernels here call (and inline)
helpers from sibling modules, for example :mod:`.rbwave` inlines the row and plane helpers of
:mod:`._stencil_rows`, so after an edit of one module another module's cache can hold machine code
built from the old helpers: stale results or stale speed, with nothing to tell. On import this
package therefore compares a digest of all its sources with the one stored beside the in-tree
cache (``__pycache__/newtonkit-kernel-sources.sha256``) and, when they differ, removes the
package's cached ``.nbi``/``.nbc`` files so that every kernel is compiled again from the current
sources. An installed (unmodified) package pays this once, on its first import.

:func:`kernel_set` is the hook :meth:`solvers.backends.Backend.kernels` passes each kernel module
through: on Numba's ``workqueue`` threading layer, which aborts the process when two Python threads
launch parallel kernels at once, it hands out the module's functions under a process-wide lock.
"""
from __future__ import annotations

import os
import types
from pathlib import Path

from ... import _config
from ... import results as _results

_STAMP = "newtonkit-kernel-sources.sha256"


sources_digest = _config.sources_digest


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
# The compile clock (results.compile_seconds) listens from before the first kernel here can compile:
# a thread compiling while another installed it would end a section it never saw start.
_results._install_compile_listener()
_config.numba_cache_fallback(Path(__file__).resolve().parent / "krylov.py")


class _Serialized(types.SimpleNamespace):
    """A kernel module (or a kernel namespace one of its functions returns) whose functions run under
    :func:`solvers._config.launch_lock` (what :func:`kernel_set` hands out when Numba's threading layer
    is not threadsafe). A module lists in ``KERNEL_NAMESPACES`` the functions that return namespaces of
    kernels (``krylov.select``); their results are wrapped the same way (once per namespace)."""

    def __init__(self, module, name=None, namespaces=None):
        super().__init__(__name__=name or module.__name__, __doc__=getattr(module, "__doc__", None))
        namespaces = tuple(getattr(module, "KERNEL_NAMESPACES", ())) if namespaces is None else namespaces
        for key, obj in vars(module).items():
            if key.startswith("__"):
                continue
            if key in namespaces:
                obj = _wrapping_results(obj, self.__name__, namespaces)
            elif callable(obj) and not isinstance(obj, (type, types.ModuleType)):
                obj = _config.serialized(obj)
            setattr(self, key, obj)


def _wrapping_results(fn, name, namespaces):
    """``fn`` returning its kernel namespaces as :class:`_Serialized` copies (memoised per namespace)."""
    import functools

    done = {}

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        ns = fn(*args, **kwargs)
        got = done.get(id(ns))
        if got is None or got[0] is not ns:
            got = done[id(ns)] = (ns, _Serialized(ns, name, namespaces))
        return got[1]
    return wrapped


#: the families that pick serial kernels below a size and check a forked child only where they launch
#: parallel ones (``krylov.select``, ``sparse``): small solves keep working in such a child
SIZE_CHECKED = frozenset({"krylov", "sparse"})


def process_check(family):
    """Called by :meth:`solvers.backends.Backend.kernels` on every request: a clear error in a forked child
    that cannot run this family's parallel kernels (:func:`solvers._config.check_fork`)."""
    if family not in SIZE_CHECKED:
        _config.check_fork()


def kernel_set(module):
    """The kernel set ``module`` as the backend hands it out: the module itself, or, where Numba's
    threading layer aborts on concurrent launches (``workqueue``), a copy of its namespace whose
    functions take the process-wide launch lock (so kernel calls from several Python threads run one
    after another; a kernel calling another kernel re-enters the same lock)."""
    return module if _config.threading_layer_threadsafe() else _Serialized(module)
