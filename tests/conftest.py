"""Shared test configuration: GPU marker handling and fixtures."""
import os

# one BLAS thread: the suite's matrices are small, and on a loaded 2-core machine OpenBLAS's thread
# start-up dominated some tests (set before NumPy loads OpenBLAS; an explicit setting wins)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from solvers import backends  # noqa: E402


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
