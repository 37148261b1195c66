"""Machine and version facts recorded in every benchmark JSON, and the JSON writer (one place for all scripts)."""
from __future__ import annotations

import importlib
import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(*peers: str) -> dict:
    """CPU, cores, thread settings, load, git commit and the versions of newtonkit's deps and of ``peers``."""
    import solvers
    from solvers.runs import provenance

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": solvers.get_num_threads(),
            "platform": platform.platform(), "python": platform.python_version(),
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                   "NEWTONKIT_NUM_THREADS")}}
    versions = {"newtonkit": solvers.__version__}
    for name in ("numpy", "scipy", "numba", "h5py", *peers):
        try:
            versions[name] = getattr(importlib.import_module(name), "__version__", "installed")
        except Exception:  # a peer that is not installed
            versions[name] = None
    info["versions"] = versions
    from solvers import _blasinfo

    info["blas"] = [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
                    for lib in _blasinfo.blas_libraries()]
    info["env"]["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    info["blas_hint"] = _blasinfo.avx512_hint()
    commit, dirty = provenance.git_info()
    info["git_commit"], info["git_dirty"] = commit, dirty
    try:
        info["loadavg"] = list(os.getloadavg())
    except OSError:
        pass
    return info


def write_json(path: str, result: dict) -> None:
    """Write a benchmark's ``result`` to ``path`` (its folder made if missing) and say where."""
    import json

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"wrote {path}")
