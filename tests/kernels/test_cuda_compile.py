"""Every CUDA source the CuPy backend can launch compiles with NVRTC, on a machine without a GPU.

Sources are discovered from the kernel modules themselves: each module of
``solvers._kernels.cupy`` declares them in ``SOURCES`` (specs of
:mod:`solvers._kernels.cupy._build`), and a second test checks that no module
constructs a CuPy kernel any other way, so a new kernel is compiled here as soon as
it exists. ``ElementwiseKernel``/``ReductionKernel`` fragments are wrapped the way
CuPy wraps them (see :mod:`tests.kernels._nvrtc` for how faithfully).
"""
import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _nvrtc  # noqa: E402

import solvers._kernels.cupy as cupy_kernels  # noqa: E402
from solvers._kernels.cupy import _build  # noqa: E402

ARCHS = ("compute_80", "compute_90")
CONSTRUCTORS = {"RawModule", "RawKernel", "ElementwiseKernel", "ReductionKernel"}


def _modules():
    for info in pkgutil.iter_modules(cupy_kernels.__path__):
        if info.name.startswith("_"):
            continue
        yield importlib.import_module(f"solvers._kernels.cupy.{info.name}")


def all_sources():
    out = []
    for mod in _modules():
        for spec in getattr(mod, "SOURCES", ()):
            out.append((mod.__name__.rsplit(".", 1)[1], spec))
    return out


def source_text(spec) -> str:
    if isinstance(spec, _build.RawSource):
        return spec.code
    if isinstance(spec, _build.Elementwise):
        return _nvrtc.elementwise_source(spec.in_params, spec.out_params, spec.operation, spec.name, spec.preamble)
    if isinstance(spec, _build.Reduction):
        return _nvrtc.reduction_source(spec.in_params, spec.out_params, spec.map_expr, spec.reduce_expr,
                                       spec.post_map_expr, spec.identity, spec.name, spec.reduce_type, spec.preamble)
    raise TypeError(spec)


def _nvrtc_or_skip():
    try:
        _nvrtc.load()
    except _nvrtc.NvrtcUnavailable as exc:
        pytest.skip(f"NVRTC not available here: {exc}")


@pytest.mark.parametrize("arch", ARCHS)
def test_every_cuda_source_compiles(arch):
    _nvrtc_or_skip()
    sources = all_sources()
    assert sources, "no CUDA sources declared"
    failures = []
    for modname, spec in sources:
        try:
            _nvrtc.compile_cuda(source_text(spec), f"{modname}.{spec.name}", arch, spec.options)
        except _nvrtc.NvrtcError as exc:
            failures.append(str(exc))
    kinds = {}
    for _, spec in sources:
        kinds[type(spec).__name__] = kinds.get(type(spec).__name__, 0) + 1
    print(f"NVRTC {_nvrtc.version()} {arch}: compiled {len(sources) - len(failures)}/{len(sources)} sources {kinds}")
    assert not failures, "\n\n".join(failures)


def test_a_broken_kernel_fails_with_the_compiler_message():
    _nvrtc_or_skip()
    bad = _build.Elementwise("nk_broken", "float64 x", "float64 y", "y = x * undeclared_thing;")
    with pytest.raises(_nvrtc.NvrtcError, match="undeclared_thing"):
        _nvrtc.compile_cuda(source_text(bad), "nk_broken", "compute_90")


def test_kernels_are_only_built_from_declared_sources():
    """No module constructs CuPy kernels except through _build (which the compile test covers)."""
    bad = []
    for path in sorted(Path(cupy_kernels.__path__[0]).glob("*.py")):
        if path.name == "_build.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if name in CONSTRUCTORS:
                    bad.append(f"{path.name}:{node.lineno}: {name}(...)")
    assert not bad, "build CuPy kernels with _build.build(spec) from a declared SOURCES spec:\n" + "\n".join(bad)
