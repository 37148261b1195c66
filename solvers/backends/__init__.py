"""Array backends: ``"numpy"`` (reference), ``"numba"`` (CPU default), ``"cupy"`` (GPU).

A :class:`Backend` bundles the array module (``xp``) with conversion helpers
and hands out its **kernel sets**: ``backend.kernels("ot")`` is the module
``solvers._kernels.<name>.ot``. Every backend has a module of the same name
for every family, with the same function names and signatures; the NumPy set
(``solvers._kernels.numpy``) is the readable reference. Algorithm code is
written once against ``backend.xp`` and ``backend.kernels(family)`` and never
branches on ``backend.name`` (which is for reporting). CuPy is imported
lazily, only when the ``"cupy"`` backend is requested or a CuPy array is
passed in.

Backends pickle by name: unpickling calls :func:`get_backend` again in the
receiving process (so a ``"cupy"`` backend needs a GPU there too).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import importlib

import numpy as np

NAMES = ("numpy", "numba", "cupy")


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run on this machine (says why)."""


@dataclass(frozen=True)
class Backend:
    """An array backend.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"numba"`` or ``"cupy"``.
    xp : module
        ``numpy`` or ``cupy``.
    """

    name: str
    xp: Any = field(repr=False)

    def asarray(self, a, dtype=None):
        """Convert ``a`` to this backend's array type (no copy when already there)."""
        if self.name == "cupy":
            return self.xp.asarray(a, dtype=dtype)
        if _is_cupy_array(a):
            a = a.get()
        return np.asarray(a, dtype=dtype)

    def to_numpy(self, a):
        """Return ``a`` as a NumPy array (copies from the device for CuPy)."""
        if _is_cupy_array(a):
            return a.get()
        return np.asarray(a)

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on the CPU)."""
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()

    def device_name(self) -> str:
        """A human-readable description of the device this backend runs on."""
        if self.name == "cupy":
            dev = self.xp.cuda.Device()
            props = self.xp.cuda.runtime.getDeviceProperties(dev.id)
            name = props["name"]
            return name.decode() if isinstance(name, bytes) else str(name)
        import platform

        return platform.processor() or platform.machine() or "cpu"

    def kernels(self, family: str):
        """The kernel set of this backend for ``family`` (a module with the family's functions).

        ``family`` is one of :data:`FAMILIES`; the module is
        ``solvers._kernels.<backend name>.<family>``, imported once and passed through its package's
        ``kernel_set`` hook where it has one (the Numba set serialises launches from several Python
        threads where its threading layer needs it). The package's ``process_check`` hook, where it has
        one, runs on every request (the Numba set: a clear ``RuntimeError`` in a process forked from one
        whose kernels ran on GNU OpenMP, where its parallel kernels would hang; the Krylov and sparse
        sets check only when they pick their parallel kernels; :func:`solvers._config.check_fork`).
        """
        key = (self.name, family)
        mod = _KERNELS.get(key)
        if mod is None:
            if family not in FAMILIES:
                raise ValueError(f"unknown kernel family {family!r}; known: {', '.join(FAMILIES)}")
            pkg = importlib.import_module(f"solvers._kernels.{self.name}")
            _CHECKS[self.name] = getattr(pkg, "process_check", None)
            mod = importlib.import_module(f"solvers._kernels.{self.name}.{family}")
            adapt = getattr(pkg, "kernel_set", None)
            mod = mod if adapt is None else adapt(mod)    # e.g. Numba's guard against concurrent launches
            _KERNELS[key] = mod
        check = _CHECKS.get(self.name)
        if check is not None:                    # the package's per-request check (Numba: a forked child)
            check(family)
        return mod

    def dot(self, a, b) -> float:
        """``a . b`` of two vectors as a Python float, by this backend's ``krylov`` dot kernel. Inside a solve
        use this, not NumPy's dot: a threaded BLAS call between the Numba kernels leaves OpenBLAS's workers
        spinning on the kernels' cores for about 0.1 s (``benchmarks/blas_threads.py``)."""
        K = self.kernels("krylov").select(a.size)
        return float(K.dot(K.as_vector(a.reshape(-1)), K.as_vector(b.reshape(-1))))

    def __reduce__(self):
        # pickled by name; the receiving process builds (or reuses) its own backend
        return (get_backend, (self.name,))

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.name


_CACHE: dict[str, Backend] = {}
_KERNELS: dict = {}
_CHECKS: dict = {}      # backend name -> its kernel package's process_check (or None)
#: kernel families: each backend has ``solvers._kernels.<backend>.<family>`` for each
FAMILIES = ("krylov", "sparse", "stencil", "multigrid", "ot", "approx")


def _is_cupy_array(a) -> bool:
    mod = type(a).__module__
    return mod.startswith("cupy") and hasattr(a, "get") and hasattr(a, "__cuda_array_interface__")


def _is_cupy_input(a) -> bool:
    """A CuPy array or a cupyx.scipy.sparse matrix (both live on the device)."""
    return _is_cupy_array(a) or type(a).__module__.startswith("cupyx.scipy.sparse")


def _load_cupy():
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # ImportError, or CUDA library load errors
        raise BackendUnavailableError(
            "backend='cupy' needs CuPy, which could not be imported "
            f"({type(exc).__name__}: {exc}). Install it with `pip install newtonkit[gpu]` "
            "(or the cupy-cudaXXx wheel matching your CUDA), or use backend='numba'."
        ) from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendUnavailableError(
            f"backend='cupy': CuPy is installed but no CUDA device is usable ({type(exc).__name__}: {exc}). "
            "Use backend='numba' on this machine."
        ) from exc
    if n < 1:
        raise BackendUnavailableError("backend='cupy': CuPy is installed but no CUDA device was found; use backend='numba'.")
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and a CUDA device is usable."""
    try:
        _load_cupy()
    except BackendUnavailableError:
        return False
    return True


def get_backend(name=None, *arrays) -> Backend:
    """Return the backend called ``name``.

    Parameters
    ----------
    name : {"numpy", "numba", "cupy"}, Backend or None
        ``None`` picks the backend of the first input that carries one (an
        operator's ``backend`` attribute), else ``"cupy"`` when any of ``arrays``
        is a CuPy array or a cupyx sparse matrix, else ``"numba"``. A
        :class:`Backend` is returned unchanged (its ``name`` must be one of those: kernels are found by it).
    *arrays
        Inputs used to pick the default (arrays, sparse matrices, operators; ``None`` is skipped).

    Raises
    ------
    ValueError
        For an unknown name (or a Backend of an unknown name).
    BackendUnavailableError
        When ``"cupy"`` is requested but CuPy or a device is missing.
    """
    if isinstance(name, Backend):
        if name.name not in NAMES:      # its kernels are looked up by name (an unknown one failed deep, as a
            raise ValueError(f"backend {name.name!r}: a Backend's name must be one of {', '.join(NAMES)}")  # missing
        return name                                                            # module; outside probe helper-93)
    if name is None:
        for a in arrays:
            own = getattr(a, "backend", None)
            if isinstance(own, Backend):
                return own
        name = "cupy" if any(_is_cupy_input(a) for a in arrays) else "numba"
    if not isinstance(name, str):
        raise TypeError(f"backend must be a name {NAMES} or a Backend, got {type(name).__name__}")
    key = name.lower()
    if key not in NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    if key in _CACHE:
        return _CACHE[key]
    if key == "cupy":
        be = Backend("cupy", _load_cupy())
    else:
        be = Backend(key, np)   # threads are applied by each routine's Timer (solvers._config)
    _CACHE[key] = be
    return be


__all__ = ["Backend", "BackendUnavailableError", "get_backend", "cupy_available", "NAMES", "FAMILIES"]
