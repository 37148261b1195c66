"""Thread configuration for the CPU kernels, in one place.

The number of threads the Numba kernels use is, in order of precedence:

1. :func:`set_num_threads` (process-wide; also exported to the environment as
   ``NEWTONKIT_NUM_THREADS`` so worker processes started later inherit it);
2. the environment variable ``NEWTONKIT_NUM_THREADS``;
3. Numba's own default (``NUMBA_NUM_THREADS``, normally the number of cores).

A count above ``NUMBA_NUM_THREADS`` is refused by :func:`set_num_threads`; from the
environment variable it is capped there (an environment shared by machines of
different sizes stays usable).

Numba keeps its thread count per Python thread, so a count set in one thread
does not reach another. Every routine therefore calls :func:`apply` on entry
(the solvers' :class:`~solvers.results.Timer` does it), which pushes the
configured count into Numba for the calling thread: the setting holds in
every Python thread and in every worker process. Nothing else in newtonkit
changes Numba's thread count, except :func:`limit`, a scoped, thread-local
cap that is always restored (multigrid runs its small coarse grids serially
with it). Getters have no side effects. Benchmarks pin the count together with
``OPENBLAS_NUM_THREADS=1``.

Concurrent launches: Numba's ``workqueue`` threading layer aborts the process when two Python
threads launch parallel kernels at once (a threaded Dask worker, a user's thread pool). Where it
is the layer in use, :func:`launch_lock` serialises the launches: the Numba kernel sets hand out
their functions wrapped in it (:func:`solvers._kernels.numba.kernel_set`), and other parallel
entry points take it themselves. With ``omp`` or ``tbb`` nothing is locked.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import threading
import weakref

_ENV = "NEWTONKIT_NUM_THREADS"
_requested: int | None = None


def _parse_env() -> int | None:
    raw = os.environ.get(_ENV)
    if raw is None or raw.strip() == "":
        return None
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{_ENV}={raw!r} is not an integer; set it to a positive thread count") from None
    if n < 1:
        raise ValueError(f"{_ENV}={raw!r} must be >= 1")
    return n


def configured_threads() -> int | None:
    """The configured thread count (``set_num_threads`` or the environment), or None for Numba's default."""
    return _requested if _requested is not None else _parse_env()


def set_num_threads(n: int) -> None:
    """Set the number of threads the Numba kernels use (>= 1), for every Python thread of this
    process and for worker processes started afterwards."""
    global _requested
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"num_threads must be a positive integer, got {n!r}")
    import numba

    cap = numba.config.NUMBA_NUM_THREADS
    if n > cap:
        raise ValueError(f"num_threads={n} exceeds the {cap} threads Numba was started with (NUMBA_NUM_THREADS, "
                         f"normally the number of cores); use at most {cap}")
    _requested = int(n)
    os.environ[_ENV] = str(_requested)
    apply()


def get_num_threads() -> int:
    """The number of threads the Numba kernels will use (no side effects)."""
    n = configured_threads()
    import numba

    cap = numba.config.NUMBA_NUM_THREADS
    return cap if n is None else min(n, cap)


def apply() -> None:
    """Push the configured thread count into Numba for the calling thread (cheap; nothing
    happens when no count is configured)."""
    n = configured_threads()
    if n is None:
        return
    import numba

    n = min(n, numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


@contextlib.contextmanager
def limit(n: int):
    """Cap the Numba thread count of the calling thread at ``n`` inside the block (restored after)."""
    import numba

    old = numba.get_num_threads()
    new = max(1, min(int(n), old))
    if new != old:
        numba.set_num_threads(new)
    try:
        yield new
    finally:
        if new != old:
            numba.set_num_threads(old)


# ------------------------------------------------------------------ BLAS threads
_blas_controller = None
_blas_lock = threading.Lock()
_serial_users = 0                # blocks inside blas_serial now, over all Python threads
_serial_limiter = None


def _controller():
    """threadpoolctl's view of the BLAS libraries loaded now (made once; None without threadpoolctl)."""
    global _blas_controller
    with _blas_lock:
        if _blas_controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:                  # pragma: no cover - a dependency; without it nothing is capped
                _blas_controller = False
            else:
                try:
                    _blas_controller = ThreadpoolController()
                except Exception:                # a library threadpoolctl cannot inspect: run uncapped
                    _blas_controller = False
        return _blas_controller or None


@contextlib.contextmanager
def blas_serial():
    """Run the block's BLAS / LAPACK calls on one thread; the libraries' counts are restored after.

    For small dense work done next to the Numba kernels. OpenBLAS's worker threads keep spinning for
    about 0.1 s after a threaded call, on the cores the Numba kernels then run on: the multigrid set-up's
    Cholesky inverse of a 100-point coarsest matrix (a threaded LAPACK call of a few microseconds' work)
    made the MG-CG solve after it 2-3x slower (96^3: 180 against 74 ms; 1024^2: 164 against 76 ms; 2
    threads, ``OPENBLAS_NUM_THREADS`` unset). Uses threadpoolctl (the libraries loaded when it is first
    needed; SciPy's LAPACK is imported before); when it fails the block runs uncapped.

    The counts are process-wide (as with every threadpoolctl limit): the first block in, of any Python
    thread, caps them and the last one out restores what it found. Another thread that changes or restores
    the BLAS counts itself *while* a block is inside (its own threadpoolctl limit) can therefore find them
    restored to the value before its change. The blocks are kept short for that reason: a coarse-grid inverse
    (milliseconds), a Chebyshev-Tucker build's compression below ``SERIAL_BUILD_FLOPS`` (at most a few tenths of
    a second) and its tables."""
    global _serial_users, _serial_limiter
    ctl = _controller()
    if ctl is None:
        yield
        return
    # BLAS thread counts are process-wide: the first block in (of any Python thread) caps them, the last one
    # out restores them (two overlapping blocks each restoring "its" count left the caller's count at 1)
    with _blas_lock:
        if _serial_users == 0:
            try:
                _serial_limiter = ctl.limit(limits=1, user_api="blas")
            except Exception:                    # could not cap: run uncapped rather than fail the solve
                _serial_limiter = None
        _serial_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _serial_users -= 1
            if _serial_users == 0 and _serial_limiter is not None:
                _serial_limiter.restore_original_limits()
                _serial_limiter = None


# ------------------------------------------------------------------ concurrent launches
#: held around every parallel kernel launch when Numba's threading layer cannot take launches from
#: several Python threads at once (see :func:`launch_lock`); re-entrant, since kernels call kernels
_LAUNCH = threading.RLock()
_layer_threadsafe: bool | None = None


def threading_layer() -> str:
    """The threading layer Numba's parallel kernels run on (``"tbb"``, ``"omp"`` or ``"workqueue"``);
    starts Numba's thread pool when no parallel kernel has run yet."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:                       # no parallel region launched yet: start the pool
        from numba.np.ufunc import parallel

        parallel._launch_threads()
        return numba.threading_layer()


def threading_layer_threadsafe() -> bool:
    """Whether several Python threads may launch parallel kernels at once. ``tbb`` and ``omp`` may;
    Numba's ``workqueue`` layer (used where neither TBB nor OpenMP loads, e.g. many macOS installs, or
    ``NUMBA_THREADING_LAYER=workqueue``) aborts the whole process on a concurrent launch."""
    global _layer_threadsafe
    if _layer_threadsafe is None:
        _layer_threadsafe = threading_layer() != "workqueue"
    return _layer_threadsafe


#: set in a process forked from one whose Numba kernels ran on GNU OpenMP (:func:`check_fork`)
_forked_from_gnu_omp = False


def _after_fork_in_child() -> None:
    """``os.register_at_fork`` hook: note whether the parent had started Numba's threading layer on GNU
    OpenMP, whose runtime cannot run parallel regions in a forked child (Numba prints "Terminating: fork()
    called from a process already using GNU OpenMP" and the child's kernel never returns)."""
    global _forked_from_gnu_omp
    numba = sys.modules.get("numba")
    if numba is None:
        return
    try:
        layer = numba.threading_layer()
    except ValueError:                       # no kernel launched in the parent: the child starts its own pool
        return
    omp = sys.modules.get("numba.np.ufunc.omppool")
    _forked_from_gnu_omp = layer == "omp" and getattr(omp, "openmp_vendor", "GNU") == "GNU"


#: locks of objects (multigrid levels, scratch arrays) re-made in a forked child: see :func:`fork_safe`
_FORK_LOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def fork_safe(obj, attr: str, factory=threading.Lock):
    """``obj.attr = factory()``, made again in a forked child (returns the lock). A lock another thread of the
    parent held at the fork stays held in the child forever: a child that used the object (or launched a kernel
    under :func:`launch_lock`) then hung instead of running."""
    lock = factory()
    setattr(obj, attr, lock)
    _FORK_LOCKS.setdefault(obj, {})[attr] = factory
    return lock


def _renew_locks_in_child() -> None:
    global _LAUNCH, _blas_lock
    _LAUNCH, _blas_lock = threading.RLock(), threading.Lock()
    for obj, attrs in list(_FORK_LOCKS.items()):
        for attr, factory in attrs.items():
            setattr(obj, attr, factory())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
    os.register_at_fork(after_in_child=_renew_locks_in_child)


def check_fork() -> None:
    """Raise a clear error, instead of a hang, in a process forked from one whose Numba kernels ran on GNU
    OpenMP (called by the Numba backend whenever a routine asks it for kernels)."""
    if _forked_from_gnu_omp:
        raise RuntimeError(
            "newtonkit: this process was forked (os.fork, or multiprocessing's 'fork' start method) from a "
            "process whose Numba kernels ran on GNU OpenMP, which cannot run parallel kernels in a forked child "
            "(Numba would abort or hang here; small problems on serial kernels still run). Start worker processes with "
            "multiprocessing.get_context('spawn') or 'forkserver' (ProcessPoolExecutor(mp_context=...)), or set "
            "NUMBA_THREADING_LAYER=workqueue (or install tbb) before the parent's first solve, or pass "
            "backend='numpy' in the child")


def launch_lock():
    """Context manager for a parallel kernel launch: the process-wide lock when the threading layer is not
    threadsafe (launches from several Python threads then run one after another instead of aborting the
    process), else nothing."""
    return contextlib.nullcontext() if threading_layer_threadsafe() else _LAUNCH


def serialized(fn):
    """``fn`` run under :func:`launch_lock` (for a Python-level entry point that launches parallel kernels)."""
    @functools.wraps(fn)
    def locked(*args, **kwargs):
        with launch_lock():
            return fn(*args, **kwargs)
    return locked


# ------------------------------------------------------------------ memory
#: share of the physical memory one problem or routine may plan to use
MEMORY_FRACTION = 0.75


def memory_limit() -> int:
    """Bytes a problem or routine may plan to use: ``NEWTONKIT_MEMORY_LIMIT`` (bytes) when set, else
    :data:`MEMORY_FRACTION` of the physical memory (``os.sysconf``). The one place both ``solvers``
    (e.g. Chebyshev-Tucker compressions) and ``problems`` (sizes checked before allocating) read it."""
    env = os.environ.get("NEWTONKIT_MEMORY_LIMIT")
    if env:
        try:
            v = float(env)
        except ValueError:
            v = math.nan
        if not (math.isfinite(v) and v > 0):     # -5 was taken as a limit of -5 B (helper-78)
            raise ValueError(f"NEWTONKIT_MEMORY_LIMIT must be a positive number of bytes (e.g. 8e9), got {env!r}")
        return int(v)
    try:
        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without sysconf
        phys = 16 * 2 ** 30
    return int(MEMORY_FRACTION * phys)


# ----------------------------------------------------------------------------- the Numba cache
def numba_cache_fallback(source_file) -> str | None:
    """Give Numba a private cache folder when it would find none for ``source_file``.

    The kernels are ``@njit(cache=True)``. Numba caches beside the sources (``__pycache__``) or, when that
    is read-only, under the user's cache folder (``~/.cache/numba``); with neither writable -- a read-only
    install used by an account without a writable home, as on some clusters and containers -- decorating
    the first kernel raised ``RuntimeError: cannot cache function ...: no locator available`` and nothing
    in newtonkit ran. Then this sets ``numba.config.CACHE_DIR`` (what ``NUMBA_CACHE_DIR`` sets) to
    ``<tmp>/newtonkit-numba-<uid>/<digest of the kernel sources>``, created with mode 0700 and used only when this user owns it and no
    one else can write there (cached machine code is loaded as trusted); otherwise to a fresh private
    folder (``tempfile.mkdtemp``, removed at exit: compiled again every process, but running). The setting is
    Numba's, for the whole process: other packages' ``cache=True`` functions are cached there too. Returns the folder set,
    or None when Numba already has a locator (or ``NUMBA_CACHE_DIR`` is set). Called before the first
    ``cache=True`` decoration of each package folder."""
    import numba

    if numba.config.CACHE_DIR:
        return None
    try:
        from numba.core import caching

        def probe():                                   # a function "of" source_file, for the locators
            return None

        for name in ("InTreeCacheLocator", "UserWideCacheLocator"):
            cls = getattr(caching, name, None) or getattr(caching, "_" + name, None)
            if cls is not None and cls.from_function(probe, str(source_file)) is not None:
                return None
    except Exception:                                  # pragma: no cover - another Numba's internals
        return None
    import tempfile

    path = _private_folder(os.path.join(tempfile.gettempdir(), f"newtonkit-numba-{_uid()}"))
    if path is not None:            # one subfolder per version of the kernel sources (kernels inline helpers of
        from pathlib import Path    # other modules: see _kernels/numba)

        kernels = Path(__file__).resolve().parent / "_kernels" / "numba"
        path = _private_folder(os.path.join(path, sources_digest(kernels)[:16]))
    if path is None:                   # a fresh private folder: removed when the process ends
        import atexit
        import shutil

        path = tempfile.mkdtemp(prefix="newtonkit-numba-")
        atexit.register(shutil.rmtree, path, True)
    numba.config.CACHE_DIR = path
    return path


def sources_digest(folder) -> str:
    """SHA-256 of the names and bytes of every ``*.py`` file in ``folder`` (the Numba kernel package's stale-cache
    stamp, and the name of its fallback cache folder)."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _uid() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")


def _private_folder(path: str) -> str | None:
    """``path`` created (mode 0700) or found as a real folder owned by this user that no one else can
    write, else None."""
    import stat

    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None
