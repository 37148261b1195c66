"""``solvers._blasinfo``: the BLAS kernels reported by ``newtonkit info`` and the benchmarks, and the
hint for an AVX-512 CPU on narrower OpenBLAS kernels (synthetic records: the rule does not depend on
the machine the tests run on)."""
from solvers import _blasinfo as B

HASWELL = {"internal_api": "openblas", "version": "0.3.31", "architecture": "Haswell", "num_threads": 1,
           "filepath": "/x/libscipy_openblas.so", "user_api": "blas"}
SKX = dict(HASWELL, architecture="SkylakeX")
MKL = {"internal_api": "mkl", "version": "2024", "architecture": None, "num_threads": 2, "filepath": "/x/libmkl.so"}


def test_hint_names_the_cause_and_only_when_the_cpu_has_avx512():
    avx512 = frozenset({"avx2", "avx512f"})
    forced = B.avx512_hint([HASWELL], avx512, coretype="Haswell")
    assert "OPENBLAS_CORETYPE=Haswell in the environment" in forced and "SkylakeX" in forced
    chosen = B.avx512_hint([SKX, HASWELL], avx512, coretype="")
    assert "OpenBLAS chose its Haswell kernels" in chosen
    assert B.avx512_hint([HASWELL], frozenset({"avx2"}), coretype="") is None       # an AVX2 CPU: nothing to gain
    assert B.avx512_hint([SKX], avx512, coretype="") is None                        # already the wide kernels
    assert B.avx512_hint([MKL], avx512, coretype="") is None                        # not OpenBLAS
    assert B.avx512_hint([], avx512, coretype="") is None
    assert B.avx512_hint([dict(HASWELL, architecture=None)], avx512, coretype="") is None    # unknown: no claim
    ignored = B.avx512_hint([HASWELL], avx512, coretype="SkylakeX")     # asked for, not granted
    assert "is set, but OpenBLAS runs its Haswell kernels" in ignored


def test_records_and_lines():
    assert "Haswell kernels" in B.describe(HASWELL) and "libscipy_openblas.so" in B.describe(HASWELL)
    libs = B.blas_libraries()                  # SciPy loaded: at least its BLAS is listed
    assert libs and all(lib["user_api"] == "blas" for lib in libs)
    assert isinstance(B.cpu_flags(), frozenset)


def test_info_prints_the_blas_kernels(capsys):
    from solvers import cli

    assert cli.main(["info"]) == 0
    assert "blas:" in capsys.readouterr().out
