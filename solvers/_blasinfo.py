"""Which BLAS kernels the process runs, for ``newtonkit info`` and the benchmark records.

NumPy's and SciPy's OpenBLAS builds carry kernels for several CPU generations and pick one set when the
library loads, by CPU model, unless the environment variable ``OPENBLAS_CORETYPE`` names one (read
once, at load: it must be set before Python starts, or at least before NumPy is imported). On an
AVX-512 CPU a setting such as ``OPENBLAS_CORETYPE=Haswell`` keeps OpenBLAS on its AVX2 kernels: the
development machine of session 29 (AMD Zen 5) had it in its environment, and OpenBLAS's own choice there
is ``SkylakeX``.

Newtonkit never sets it (it changes every BLAS call of the process: the user's choice). What it changes,
measured on that Zen 5 machine (session 29): a (160 x 20) x (20 x 32) DGEMM, the slab form's work item,
4.7 -> 1.95 us (43 -> 105 GFLOP/s, one thread); Chebyshev–Tucker evaluation of 10^6 points at rank 20
by the table route's slab form, 2 threads, about 165 -> 106 ms. Since session 34 the slab form runs its own
generated 512-bit kernels where OpenBLAS runs narrower ones (:func:`solvers._kernels.numba.approx_slab.fixed_gemm`):
rank 20 at 1.09e7 points/s with the Haswell kernels against 1.46e7 with SkylakeX (``benchmarks/chebtucker.py
--throughput-only``, ``chebtucker_throughput_s34_zen5*.json``).
"""
from __future__ import annotations

import os

#: OpenBLAS kernel sets (threadpoolctl's ``architecture``) that use 512-bit vectors
AVX512_KERNELS = frozenset({"skylakex", "cooperlake", "sapphirerapids"})


def cpu_flags() -> frozenset:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def blas_libraries() -> list:
    """threadpoolctl's records of the BLAS libraries loaded, after loading SciPy's (the one Numba's
    ``np.dot`` calls): ``internal_api``, ``version``, ``architecture``, ``num_threads``, ``filepath``.
    Empty without threadpoolctl or SciPy."""
    try:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS)
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]


def avx512_hint(libs=None, flags=None, coretype=None) -> str | None:
    """A one-line hint when the CPU has AVX-512 and an OpenBLAS runs narrower kernels, naming the cause
    (``OPENBLAS_CORETYPE`` when set, else OpenBLAS's own choice); ``None`` otherwise. ``libs``, ``flags``,
    ``coretype``: as from :func:`blas_libraries`, :func:`cpu_flags` and the environment (read when not given)."""
    libs = blas_libraries() if libs is None else libs
    flags = cpu_flags() if flags is None else flags
    coretype = os.environ.get("OPENBLAS_CORETYPE") if coretype is None else coretype
    narrow = sorted({str(lib["architecture"]) for lib in libs if lib.get("internal_api") == "openblas"
                     and lib.get("architecture") and str(lib["architecture"]).lower() not in AVX512_KERNELS})
    if "avx512f" not in flags or not narrow:
        return None
    if coretype and coretype.lower() in AVX512_KERNELS:     # asked for, not granted: a build without those kernels
        return (f"OPENBLAS_CORETYPE={coretype} is set, but OpenBLAS runs its {'/'.join(narrow)} kernels (a build "
                "without per-CPU kernel sets ignores it)")
    why = (f"OPENBLAS_CORETYPE={coretype} in the environment keeps OpenBLAS on" if coretype else
           "OpenBLAS chose")
    return (f"this CPU has AVX-512; {why} its {'/'.join(narrow)} kernels. OPENBLAS_CORETYPE=SkylakeX, set before "
            "Python starts, selects the AVX-512 ones (DGEMM-bound work such as Chebyshev-Tucker evaluation: "
            "1.3x faster on Zen 5)")


def describe(lib: dict) -> str:
    """One line for a BLAS record: ``openblas 0.3.31, Haswell kernels, 1 thread (libscipy_openblas...)``."""
    return (f"{lib.get('internal_api')} {lib.get('version')}, {lib.get('architecture')} kernels, "
            f"{lib.get('num_threads')} thread(s) ({os.path.basename(str(lib.get('filepath', '')))})")


__all__ = ["cpu_flags", "blas_libraries", "avx512_hint", "describe", "AVX512_KERNELS"]
