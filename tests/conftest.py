"""Shared test configuration: GPU marker handling and fixtures."""
import numpy as np
import pytest

from solvers import backends


def pytest_collection_modifyitems(config, items):
    if backends.cupy_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a usable CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


CPU_BACKENDS = ("numpy", "numba")


@pytest.fixture(params=CPU_BACKENDS)
def cpu_backend(request):
    return request.param
