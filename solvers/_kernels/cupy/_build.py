"""Every CUDA source the CuPy backend can launch, declared as data and built in one place.

A kernel module declares its sources in a module-level tuple ``SOURCES`` of
:class:`RawSource`, :class:`Elementwise` and :class:`Reduction` specs and gets the
CuPy objects from :func:`build` (cached per spec). Nothing else in
``solvers._kernels.cupy`` constructs ``cupy.RawModule`` / ``RawKernel`` /
``ElementwiseKernel`` / ``ReductionKernel`` directly; a test checks that, and
compiles every declared source with NVRTC for ``compute_80`` and ``compute_90`` on
machines without a GPU (``tests/kernels/test_cuda_compile.py``), so a new kernel is
covered as soon as it is declared.

CuPy is imported inside :func:`build` only.
"""
from __future__ import annotations

from dataclasses import dataclass

#: NVRTC options of every RawModule (none: CuPy's defaults; the compile test uses the same options)
RAW_OPTIONS: tuple = ()


@dataclass(frozen=True)
class RawSource:
    """A CUDA translation unit (``cupy.RawModule(code=code, options=options)``); ``name`` is for reports."""

    name: str
    code: str
    options: tuple = RAW_OPTIONS


@dataclass(frozen=True)
class Elementwise:
    """``cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble=preamble)``."""

    name: str
    in_params: str
    out_params: str
    operation: str
    preamble: str = ""
    options: tuple = ()


@dataclass(frozen=True)
class Reduction:
    """``cupy.ReductionKernel(in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name,
    reduce_type=reduce_type, preamble=preamble)``."""

    name: str
    in_params: str
    out_params: str
    map_expr: str
    reduce_expr: str
    post_map_expr: str
    identity: str
    reduce_type: str | None = None
    preamble: str = ""
    options: tuple = ()


_BUILT: dict = {}


def build(spec):
    """The CuPy object for ``spec`` (a RawModule for :class:`RawSource`), built once."""
    obj = _BUILT.get(spec)
    if obj is not None:
        return obj
    import cupy

    if isinstance(spec, RawSource):
        obj = cupy.RawModule(code=spec.code, options=spec.options)
    elif isinstance(spec, Elementwise):
        obj = cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation, spec.name,
                                     preamble=spec.preamble, options=spec.options)
    elif isinstance(spec, Reduction):
        obj = cupy.ReductionKernel(spec.in_params, spec.out_params, spec.map_expr, spec.reduce_expr,
                                   spec.post_map_expr, spec.identity, spec.name, reduce_type=spec.reduce_type,
                                   preamble=spec.preamble, options=spec.options)
    else:
        raise TypeError(f"not a kernel spec: {spec!r}")
    _BUILT[spec] = obj
    return obj


def function(spec: RawSource, name: str):
    """A kernel function of a RawModule, cached."""
    key = (spec, name)
    fn = _BUILT.get(key)
    if fn is None:
        fn = _BUILT[key] = build(spec).get_function(name)
    return fn


def clear() -> None:
    """Forget every built object (tests swap the ``cupy`` module)."""
    _BUILT.clear()
