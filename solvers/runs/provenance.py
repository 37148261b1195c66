"""Provenance recorded with every stored run.

:func:`collect` returns a flat dict of strings and numbers: package and
dependency versions, backend and device, host, Python and platform, the git
commit of the source tree when the package runs from a git checkout, the seed
(when given), UTC start/end of the solve, wall time and the thread count.

Nothing here raises because some piece of information is unavailable; missing
items are simply left out (the git commit outside a checkout, CuPy when it was
never imported, ...).
"""
from __future__ import annotations

import datetime as _dt
import functools
import math
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

# distribution name -> module name; versions are recorded for these when present
_DEPENDENCIES = {"numpy": "numpy", "scipy": "scipy", "numba": "numba", "h5py": "h5py"}
# optional modules: recorded only when already imported by this process (never imported here)
_OPTIONAL_LOADED = ("cupy", "dask", "distributed", "matplotlib", "pyamg", "ot")


def utc_iso(t: float) -> str:
    """ISO-8601 UTC time stamp (microsecond resolution) for a POSIX time ``t``."""
    return _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).isoformat(timespec="microseconds")


def _version_of(dist: str, module: str) -> str | None:
    mod = sys.modules.get(module)
    v = getattr(mod, "__version__", None) if mod is not None else None
    if isinstance(v, str):
        return v
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    """Versions of newtonkit, its core dependencies and optional modules already loaded."""
    import solvers

    out = {"newtonkit": solvers.__version__}
    for dist, module in _DEPENDENCIES.items():
        v = _version_of(dist, module)
        if v is not None:
            out[dist] = v
    for module in _OPTIONAL_LOADED:
        mod = sys.modules.get(module)
        v = getattr(mod, "__version__", None) if mod is not None else None
        if isinstance(v, str):
            out[module] = v
    h5py = sys.modules.get("h5py")
    if h5py is not None:
        out["hdf5"] = h5py.version.hdf5_version
    return out


@functools.lru_cache(maxsize=1)
def git_info() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout the package runs from, or ``(None, None)``.

    Only reported when the imported ``solvers`` package *is* the ``solvers/``
    directory at the top of a git work tree (an editable install or a run from
    the clone), not when it is installed into a virtual environment that merely
    lives inside some repository.
    """
    import solvers

    pkg = Path(solvers.__file__).resolve().parent
    try:
        top = subprocess.run(["git", "-C", str(pkg), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=5)
        if top.returncode != 0:
            return None, None
        if Path(top.stdout.strip()).resolve() / "solvers" != pkg:
            return None, None
        head = subprocess.run(["git", "-C", str(pkg), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5)
        if head.returncode != 0:
            return None, None
        st = subprocess.run(["git", "-C", str(pkg), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, timeout=10)
        dirty = bool(st.stdout.strip()) if st.returncode == 0 else None
        return head.stdout.strip(), dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def device_of(backend_name: str) -> str:
    """Device description for a backend name (``"unknown"`` when it cannot be determined)."""
    from .. import backends

    try:
        if backend_name == "cupy" and "cupy" not in sys.modules:
            return "unknown (cupy not loaded)"
        return backends.get_backend(backend_name).device_name()
    except Exception:  # unknown name, no device: provenance never fails a save
        return "unknown"


def collect(*, backend: str = "", time_s: float | None = None, finished: float | None = None,
            seed=None, start: float | None = None, threads: int | None = None) -> dict:
    """Provenance for a run.

    Parameters
    ----------
    backend : str
        The backend name the run used (for the device description).
    time_s : float, optional
        Wall time of the solve; with ``finished`` it gives the UTC start.
    finished : float, optional
        POSIX time at which the solve finished (default: now).
    start : float, optional
        POSIX time at which the solve started (else derived from ``time_s``).
    threads : int, optional
        The Numba thread count the solve ran with (else the configured count).
    seed : int, optional
        Random seed of the run, recorded when given.

    Returns
    -------
    dict
        Flat dict of str / int / float / bool values.
    """
    from .. import _config

    now = time.time()
    end = now if finished is None else float(finished)
    out: dict = {}
    for k, v in versions().items():
        out[f"version_{k}"] = v
    out["backend"] = backend
    out["device"] = device_of(backend) if backend else "unknown"
    out["host"] = socket.gethostname()
    out["python"] = sys.version.split()[0]
    out["python_implementation"] = platform.python_implementation()
    out["platform"] = platform.platform()
    out["machine"] = platform.machine()
    out["cpu_count"] = os.cpu_count() or 0
    out["pid"] = os.getpid()
    argv = " ".join(sys.argv)
    out["command"] = argv if len(argv) <= 1000 else argv[:1000] + "..."
    if threads is not None:
        out["num_threads"] = int(threads)
    else:
        try:
            out["num_threads"] = int(_config.get_num_threads())
        except Exception:  # numba unavailable: leave it out
            pass
    commit, dirty = git_info()
    if commit is not None:
        out["git_commit"] = commit
        if dirty is not None:
            out["git_dirty"] = dirty
    if seed is not None:
        out["seed"] = int(seed) if isinstance(seed, (int,)) or hasattr(seed, "__index__") else str(seed)
    if start is not None:
        out["wall_time_s"] = float(end - start)
        out["utc_start"] = utc_iso(float(start))
    elif time_s is not None and math.isfinite(float(time_s)):
        out["wall_time_s"] = float(time_s)
        out["utc_start"] = utc_iso(end - float(time_s))
    out["utc_end"] = utc_iso(end)
    return out


__all__ = ["collect", "versions", "git_info", "device_of", "utc_iso"]
