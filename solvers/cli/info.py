"""``newtonkit info``: versions, optional packages, threads, the BLAS kernels, backends and devices, git commit.

Like ``xarray.show_versions()``: everything a bug report needs, in one command.
"""
from __future__ import annotations

import importlib.util
import os
import platform

import solvers
from solvers import _blasinfo, backends

from . import EXIT_OK

#: optional packages reported as installed or not
OPTIONAL = ("cupy", "matplotlib", "tqdm", "dask", "pyamg", "ot")


def cmd_info(args) -> int:
    from solvers.runs import provenance  # loads h5py: only for this command

    threads = solvers.get_num_threads()   # a bad NEWTONKIT_NUM_THREADS fails here, before any output (helper-103)
    print(f"newtonkit {solvers.__version__}  (python {platform.python_version()}, {platform.platform()})")
    vers = provenance.versions()
    print("core:     " + ", ".join(f"{k} {v}" for k, v in vers.items() if k != "newtonkit"))
    opt = [f"{mod} {'yes' if importlib.util.find_spec(mod) is not None else 'no'}" for mod in OPTIONAL]
    print("optional: " + ", ".join(opt))
    env = os.environ.get("NEWTONKIT_NUM_THREADS")
    capped = "; capped at NUMBA_NUM_THREADS" if env and env.strip().isdigit() and int(env) > threads else ""
    print(f"threads:  {threads} (NEWTONKIT_NUM_THREADS={env if env is not None else 'unset'}{capped})")
    libs = _blasinfo.blas_libraries()
    for k, lib in enumerate(libs):
        print(("blas:     " if k == 0 else "          ") + _blasinfo.describe(lib))
    hint = _blasinfo.avx512_hint(libs)
    if hint:
        print("hint:     " + hint)
    print("backends:")
    for name in backends.NAMES:
        try:
            be = backends.get_backend(name)
            print(f"  {name:6s} available  ({be.device_name()})")
        except backends.BackendUnavailableError as exc:
            print(f"  {name:6s} unavailable: {exc}")
    commit, dirty = provenance.git_info()
    if commit:
        print(f"git:      {commit}{' (modified)' if dirty else ''}")
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="versions, backends, devices and threads")
    p.set_defaults(func=cmd_info)


__all__ = ["cmd_info", "add_parser", "OPTIONAL"]
