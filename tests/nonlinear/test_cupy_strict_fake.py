"""A strict stand-in for CuPy: device arrays that refuse to mix with host (NumPy) arrays.

Real CuPy raises ``TypeError`` on every implicit device <-> host conversion: ``np.asarray`` of a
device array, a ufunc or ``np.concatenate`` with one NumPy and one CuPy operand, a CuPy function
given a NumPy array. The fake in ``tests/kernels/test_cupy_kernels_emulated.py`` runs the CuPy
kernel sets on plain NumPy arrays, so it cannot see such mixing; this one can:

* device arrays are :class:`ndarray`, a NumPy subclass whose ``type(a).__module__`` is ``"cupy"``
  (so :func:`solvers.backends.get_backend` takes them for CuPy arrays), with ``get()`` and a
  ``__cuda_array_interface__``; ufuncs, NumPy functions (``__array_function__``), ``__setitem__``
  and every function of the fake ``cupy`` module refuse a NumPy array operand of more than one
  element with CuPy's ``TypeError``; their results are device arrays (0-d ones for reductions, as
  in CuPy);
* while the fixture is active ``np.asarray``, ``np.array``, ``np.asanyarray`` and
  ``np.ascontiguousarray`` refuse a device array (or a list holding one), as CuPy's ``__array__``
  does;
* explicit transfers (``cupy.asarray`` / ``cupy.array`` of host data, ``get()``, ``cupy.asnumpy``)
  are logged with their sizes in :data:`TRANSFERS`, so a test can bound the vector-sized host
  round trips of a solve;
* the compiled kernels (``ElementwiseKernel``, ``ReductionKernel``, ``RawModule``) are the NumPy
  transcriptions of ``tests/kernels/test_cupy_kernels_emulated.py`` (with their launch checks:
  pointer dtypes, contiguity, ``int`` as ``np.int32``), run on the device arrays' memory.

What it cannot see: host code that writes a device array into a NumPy array
(``host[...] = dev`` copies through the buffer protocol without a hook), ``float()`` of a 0-d
device array (a scalar read-back, allowed in CuPy too), and whether the CUDA C compiles or is
fast (the ``@pytest.mark.gpu`` tests and ``benchmarks/gpu.py``). ``cupyx.scipy.sparse`` is SciPy
here (used only by Galerkin multigrid levels and sparse operators; not on the paths tested).
"""
from __future__ import annotations

import importlib.util
import pathlib
import sys
import types

import numpy as np
import pytest

_np_asarray, _np_array, _np_asanyarray, _np_ascontiguousarray = np.asarray, np.array, np.asanyarray, \
    np.ascontiguousarray
#: explicit transfers while a fake is active: ("h2d" | "d2h", number of elements)
TRANSFERS: list = []
_MSG = "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array explicitly."


def _is_host(a) -> bool:
    """A NumPy array of more than one element that is not a device array (0-d / 1-element: a scalar)."""
    return isinstance(a, np.ndarray) and not isinstance(a, ndarray) and a.size > 1


def _refuse_host(tree, where):
    if _is_host(tree):
        raise TypeError(f"Unsupported type <class 'numpy.ndarray'> in {where} (a NumPy array mixed with CuPy arrays)")
    if isinstance(tree, (list, tuple)):
        for t in tree:
            _refuse_host(t, where)
    elif isinstance(tree, dict):
        for t in tree.values():
            _refuse_host(t, where)


def _unwrap(tree):
    if isinstance(tree, ndarray):
        return tree.view(np.ndarray)
    if isinstance(tree, list):
        return [_unwrap(t) for t in tree]
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        return tuple(_unwrap(t) for t in tree)
    if isinstance(tree, dict):
        return {k: _unwrap(v) for k, v in tree.items()}
    return tree


def _wrap(tree):
    if isinstance(tree, np.ndarray) and not isinstance(tree, ndarray):
        return tree.view(ndarray)
    if isinstance(tree, (np.floating, np.integer, np.bool_)):
        return _np_asarray(tree).view(ndarray)       # CuPy reductions return 0-d device arrays
    if isinstance(tree, tuple):
        items = [_wrap(t) for t in tree]
        return type(tree)(*items) if hasattr(tree, "_fields") else tuple(items)
    if isinstance(tree, list):
        return [_wrap(t) for t in tree]
    return tree


class ndarray(np.ndarray):
    """A device array of the fake CuPy (NumPy memory; refuses to mix with NumPy arrays)."""

    __module__ = "cupy"

    def get(self, stream=None, out=None):
        TRANSFERS.append(("d2h", int(self.size)))
        return _np_array(self.view(np.ndarray), copy=True)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ctypes.data, False), "version": 3}

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _refuse_host(inputs, f"cupy.{ufunc.__name__}")
        if out is not None:
            _refuse_host(out, f"cupy.{ufunc.__name__} (out=)")
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        res = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(res)

    def __array_function__(self, func, types_, args, kwargs):
        _refuse_host((args, kwargs), f"numpy.{func.__name__} (dispatched to cupy)")
        out = kwargs.get("out")
        res = func(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None else _wrap(res)

    def __setitem__(self, key, value):
        _refuse_host(value, "cupy.ndarray.__setitem__")
        super().__setitem__(key, value.view(np.ndarray) if isinstance(value, ndarray) else value)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return arr.view(ndarray)


def _contains_device(tree) -> bool:
    if isinstance(tree, ndarray):
        return True
    return isinstance(tree, (list, tuple)) and any(_contains_device(t) for t in tree)


def _guarded(orig):
    def conv(a, *args, **kwargs):
        if _contains_device(a):
            raise TypeError(_MSG)
        return orig(a, *args, **kwargs)
    return conv


# ----------------------------------------------------------------------------- the fake module
def _to_device(a, dtype=None, copy=False):
    if isinstance(a, ndarray):
        out = a.astype(dtype, copy=copy) if dtype is not None else (a.copy() if copy else a)
        return out
    if isinstance(a, np.ndarray) and a.size > 1:
        TRANSFERS.append(("h2d", int(a.size)))
    if isinstance(a, (list, tuple)) and _contains_device(a):
        a = [t.view(np.ndarray) if isinstance(t, ndarray) else t for t in a]
    return _np_array(a, dtype=dtype, copy=True).view(ndarray)


def _device_function(fn, name):
    def call(*args, **kwargs):
        _refuse_host((args, kwargs), f"cupy.{name}")
        out = kwargs.get("out")
        res = fn(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None else _wrap(res)
    call.__name__ = name
    return call


def _namespace(src, prefix):
    ns = types.ModuleType(prefix)

    def getter(name):
        obj = getattr(src, name)
        if isinstance(obj, type) or not callable(obj):
            return obj
        return _device_function(obj, f"{prefix}.{name}")
    ns.__getattr__ = getter
    return ns


def _load_cpu_kernels():
    """The NumPy transcriptions of the CUDA kernels (and their launch checks) of the kernel-set tests."""
    path = pathlib.Path(__file__).resolve().parents[1] / "kernels" / "test_cupy_kernels_emulated.py"
    spec = importlib.util.spec_from_file_location("_newtonkit_cupy_kernel_fakes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _kernel_classes():
    k = _load_cpu_kernels()

    class Elementwise(k._Elementwise):
        def __call__(self, *args):
            return _wrap(super().__call__(*_unwrap(args)))

    class Reduction(k._Reduction):
        def __call__(self, *args, axis=None):
            return _wrap(super().__call__(*_unwrap(args), axis=axis))

    class Raw(k._RawModule):
        def get_function(self, name):
            launch = super().get_function(name)
            return lambda grid, block, args: launch(grid, block, _unwrap(tuple(args)))

    return Elementwise, Reduction, Raw, k


def make_fake_cupy():
    """The fake ``cupy`` module (see the module notes)."""
    Elementwise, Reduction, Raw, k = _kernel_classes()
    mod = _namespace(np, "cupy")
    fallback = mod.__getattr__
    special = {"ndarray": ndarray, "asarray": lambda a, dtype=None, order=None: _to_device(a, dtype),
               "array": lambda a, dtype=None, copy=True, order=None, ndmin=0: _to_device(a, dtype, copy=copy),
               "ascontiguousarray": lambda a, dtype=None: _wrap(_np_ascontiguousarray(_unwrap(a), dtype=dtype))
               if isinstance(a, ndarray) else _to_device(a, dtype),
               "asnumpy": lambda a, stream=None: a.get() if isinstance(a, ndarray) else _np_asarray(a),
               "linalg": _namespace(np.linalg, "cupy.linalg"),
               "ElementwiseKernel": Elementwise, "ReductionKernel": Reduction,
               "RawModule": lambda code, options=(): Raw(code)}

    class _Stream:
        def synchronize(self):
            pass

    special["cuda"] = types.SimpleNamespace(
        get_current_stream=lambda: _Stream(), Device=lambda *a: types.SimpleNamespace(id=0, synchronize=lambda: None),
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1,
                                      getDeviceProperties=lambda i: {"name": b"emulated (strict)"}))
    mod.__getattr__ = lambda name: special[name] if name in special else fallback(name)
    return mod, k


@pytest.fixture
def strict_cupy(monkeypatch):
    """``Backend("cupy", fake)`` registered as the ``"cupy"`` backend, with NumPy's converters guarded."""
    import scipy.sparse

    from solvers import backends
    from solvers._kernels.cupy import _build
    from solvers._kernels.cupy import multigrid as cm
    from solvers._kernels.cupy import stencil as cs

    fake, _ = make_fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    cx, cxs = types.ModuleType("cupyx"), types.ModuleType("cupyx.scipy")
    cx.scipy, cxs.sparse = cxs, scipy.sparse
    for name, m in (("cupyx", cx), ("cupyx.scipy", cxs), ("cupyx.scipy.sparse", scipy.sparse)):
        monkeypatch.setitem(sys.modules, name, m)
    monkeypatch.setattr(_build, "_BUILT", {})
    for kmod in (cs, cm):
        monkeypatch.setattr(kmod, "_CACHE", {})
    be = backends.Backend("cupy", fake)
    monkeypatch.setitem(backends._CACHE, "cupy", be)
    for name, orig in (("asarray", _np_asarray), ("array", _np_array), ("asanyarray", _np_asanyarray),
                       ("ascontiguousarray", _np_ascontiguousarray)):
        monkeypatch.setattr(np, name, _guarded(orig))
    TRANSFERS.clear()
    yield be
    TRANSFERS.clear()


# ----------------------------------------------------------------------------- the fake is strict
def test_strict_fake_refuses_host_mixing(strict_cupy):
    """The checks the solver tests rely on are not vacuous: each kind of mixing raises, as in CuPy."""
    xp = strict_cupy.xp
    d = xp.arange(5.0)
    h = np.arange(5.0)
    assert type(d).__module__ == "cupy" and strict_cupy.to_numpy(d).__class__ is np.ndarray
    for bad in (lambda: d + h, lambda: h * d, lambda: xp.concatenate([d, h]), lambda: np.concatenate([d, h]),
                lambda: np.asarray(d), lambda: np.array([d, d]), lambda: xp.dot(d, h), lambda: d @ h,
                lambda: d.__setitem__(slice(None), h), lambda: np.linalg.norm(d - h)):
        with pytest.raises(TypeError):
            bad()
    # allowed, as in CuPy: scalars, 0-d reductions read back by float(), explicit transfers (logged)
    s = xp.linalg.norm(d)
    assert isinstance(s, xp.ndarray) and s.ndim == 0 and float(s) == pytest.approx(np.linalg.norm(h))
    assert float(d @ d) == 30.0 and isinstance(np.float64(2.0) * d, xp.ndarray)
    TRANSFERS.clear()
    e = xp.asarray(h)
    assert isinstance(e, xp.ndarray) and TRANSFERS == [("h2d", 5)]
    assert np.array_equal(e.get(), h) and TRANSFERS[-1] == ("d2h", 5)
