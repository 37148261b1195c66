"""The serial and parallel twins of the Numba multigrid kernels are separate compilations.

Numba's on-disk cache names an entry by the function's qualified name and first line, and its index
key does not record ``parallel``: two ``njit(cache=True)`` dispatchers of one Python function share one
entry, and the second loads the machine code of the first (the parallel wavefront then ran on one
thread). Every cached dispatcher of the kernel package must therefore have its own entry.
"""
import importlib
import pkgutil

import numpy as np
import pytest

nb = pytest.importorskip("numba")

import solvers._kernels.numba as pkg  # noqa: E402
from solvers._kernels.numba import multigrid as mgk  # noqa: E402
from solvers._kernels.numba import rbwave  # noqa: E402


def _cached_dispatchers():
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, nb.core.registry.CPUDispatcher) and getattr(obj, "_cache", None) is not None \
                    and type(obj._cache).__name__ == "FunctionCache" and obj.__module__ == mod.__name__:
                yield f"{mod.__name__}.{name}", obj


def test_every_cached_kernel_has_its_own_cache_entry():
    seen = {}
    for name, disp in _cached_dispatchers():
        key = (disp.py_func.__code__.co_filename, disp._cache._cache_file._index_name)
        if key in seen and seen[key][1] is not disp:
            pytest.fail(f"{name} and {seen[key][0]} share the Numba cache entry {key[1]} (compile a renamed "
                        "copy, rbwave.twin, for the second one)")
        seen[key] = (name, disp)


@pytest.mark.parametrize("pair", [(rbwave.wave2, rbwave.wave2_s), (rbwave.wave3, rbwave.wave3_s),
                                  (mgk.residual_restrict2c, mgk.residual_restrict2c_s),
                                  (mgk.residual_restrict3c, mgk.residual_restrict3c_s)])
def test_twins_are_distinct(pair):
    par, ser = pair
    assert par.py_func is not ser.py_func
    assert par.py_func.__code__ is ser.py_func.__code__          # the same code, compiled twice
    assert par._cache._cache_file._index_name != ser._cache._cache_file._index_name
    assert par.targetoptions.get("parallel") and not ser.targetoptions.get("parallel")


def test_twin_copies_the_function():
    def f(a, b=2):
        """doc"""
        return a * b

    g = rbwave.twin(f, "_x")
    assert g(3) == f(3) == 6 and g.__name__ == "f_x" and g.__qualname__.endswith("f_x") and g.__doc__ == "doc"
    assert np.isclose(nb.njit(g)(1.5), 3.0)
