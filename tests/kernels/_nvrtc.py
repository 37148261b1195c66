"""Compile CUDA C++ with NVRTC through ``ctypes``: no GPU, no driver, no CuPy needed.

NVIDIA's runtime compiler ships as a PyPI wheel (``nvidia-cuda-nvrtc-cu12``, pulled
in by newtonkit's ``test`` extra on x86-64 Linux). CuPy's own compile path checks the
driver first, so it cannot be used on a machine without a GPU; NVRTC can.

:func:`compile_cuda` compiles one translation unit for a virtual architecture
(``compute_80``, ``compute_90``) to PTX and returns the log; :class:`NvrtcError`
carries the compiler's message.

CuPy's ``ElementwiseKernel`` and ``ReductionKernel`` take code *fragments*;
:func:`elementwise_source` and :func:`reduction_source` wrap them into a full kernel
the way CuPy does, with two simplifications:

* CuPy's ``CArray``/``CIndexer`` (broadcasting, strides) become raw pointers and a flat
  grid-stride index ``i``; everything the fragment can see keeps its name and type:
  each non-raw input ``T x`` is ``const T x = _raw_x[i]``, each output ``T &y =
  _raw_y[i]``, ``raw T a`` is a pointer ``a`` indexable as ``a[j]``, the index ``i``
  and the ``preamble`` are in scope, and type placeholders (``T``) are typedefs;
* a reduction is a single-thread loop: ``map_expr`` per element into the reduce type,
  ``REDUCE(a, b)`` and ``POST_MAP(a)`` as CuPy's macros, ``identity`` as the start value.

So every identifier, type and expression written in newtonkit's fragments is compiled
and type-checked as CuPy would; CuPy's own headers (complex numbers, CArray methods
such as ``.size()``) are not included, so a fragment using those would need them added.
"""
from __future__ import annotations

import ctypes
import importlib.util
import pathlib
import re

_TYPES = {"float64": "double", "float32": "float", "float16": "half", "int64": "long long",
          "int32": "int", "int16": "short", "int8": "signed char", "uint64": "unsigned long long",
          "uint32": "unsigned int", "uint16": "unsigned short", "uint8": "unsigned char", "bool": "bool"}


class NvrtcUnavailable(RuntimeError):
    """libnvrtc could not be found or loaded (the reason says which)."""


class NvrtcError(RuntimeError):
    """A source failed to compile; ``log`` holds the compiler's message."""

    def __init__(self, name: str, arch: str, log: str):
        super().__init__(f"NVRTC failed to compile {name!r} for {arch}:\n{log}")
        self.name, self.arch, self.log = name, arch, log


_LIB = None


def library_path() -> pathlib.Path:
    spec = importlib.util.find_spec("nvidia.cuda_nvrtc") if importlib.util.find_spec("nvidia") else None
    if spec is None or not spec.submodule_search_locations:
        raise NvrtcUnavailable("the nvidia-cuda-nvrtc-cu12 wheel is not installed (pip install '.[test]' on "
                               "x86-64 Linux installs it)")
    for loc in spec.submodule_search_locations:
        for cand in sorted(pathlib.Path(loc, "lib").glob("libnvrtc.so*")):
            return cand
    raise NvrtcUnavailable("nvidia.cuda_nvrtc is installed but holds no libnvrtc.so")


def load():
    """The loaded ``libnvrtc`` (ctypes.CDLL) with the prototypes used here."""
    global _LIB
    if _LIB is not None:
        return _LIB
    path = library_path()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise NvrtcUnavailable(f"cannot load {path}: {exc}") from exc
    prog = ctypes.c_void_p
    lib.nvrtcCreateProgram.argtypes = [ctypes.POINTER(prog), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.c_void_p, ctypes.c_void_p]
    lib.nvrtcCompileProgram.argtypes = [prog, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    lib.nvrtcGetProgramLogSize.argtypes = [prog, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcGetProgramLog.argtypes = [prog, ctypes.c_char_p]
    lib.nvrtcGetPTXSize.argtypes = [prog, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(prog)]
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    lib.nvrtcVersion.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    _LIB = lib
    return lib


def version() -> tuple[int, int]:
    lib = load()
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def compile_cuda(source: str, name: str, arch: str = "compute_90", options=()) -> str:
    """Compile ``source`` to PTX for ``arch``; return the (possibly empty) log, raise :class:`NvrtcError`."""
    lib = load()
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), f"{name}.cu".encode(), 0, None, None)
    if rc != 0:
        raise NvrtcError(name, arch, lib.nvrtcGetErrorString(rc).decode())
    try:
        opts = [f"--gpu-architecture={arch}", *options]
        arr = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, buf)
        log = buf.value.decode(errors="replace")
        if rc != 0:
            raise NvrtcError(name, arch, log or lib.nvrtcGetErrorString(rc).decode())
        ptx = ctypes.c_size_t()
        lib.nvrtcGetPTXSize(prog, ctypes.byref(ptx))
        if ptx.value <= 1:
            raise NvrtcError(name, arch, "compiled to empty PTX")
        return log
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


# ------------------------------------------------------------------ CuPy-style wrappers of code fragments
_PARAM = re.compile(r"^\s*(raw\s+)?([A-Za-z_][A-Za-z0-9_]*)\s+([A-Za-z_][A-Za-z0-9_]*)\s*$")


def _params(spec: str):
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        m = _PARAM.match(part)
        if m is None:
            raise ValueError(f"cannot parse kernel parameter {part!r}")
        raw, t, n = m.groups()
        out.append((bool(raw), t, n))
    return out


def _ctype(t: str, placeholders: set) -> str:
    if t in _TYPES:
        return _TYPES[t]
    placeholders.add(t)
    return t


def _typedefs(placeholders) -> str:
    # placeholders (T, U, ...) are resolved from the argument dtypes at launch; float64 is what newtonkit passes
    return "".join(f"typedef double {t};\n" for t in sorted(placeholders))


def _bind(params: str, ph: set, *, const: bool, index: str):
    """Kernel parameters and per-element bindings of CuPy parameters: ``raw T a`` is a pointer
    ``a``; ``T x`` is ``_raw_x`` bound as ``x = _raw_x[index]`` (a reference for outputs)."""
    sig, bind = [], []
    q = "const " if const else ""
    for raw, t, n in _params(params):
        ct = _ctype(t, ph)
        if raw:
            sig.append(f"{q}{ct}* {n}")
        else:
            sig.append(f"{q}{ct}* _raw_{n}")
            bind.append(f"const {ct} {n} = _raw_{n}[{index}];" if const else f"{ct} &{n} = _raw_{n}[{index}];")
    return sig, bind


def elementwise_source(in_params: str, out_params: str, operation: str, name: str, preamble: str = "") -> str:
    """A full kernel equivalent to ``cupy.ElementwiseKernel(in_params, out_params, operation, name)``."""
    ph: set = set()
    sig_in, body_in = _bind(in_params, ph, const=True, index="i")
    sig_out, body_out = _bind(out_params, ph, const=False, index="i")
    decl = "\n        ".join(body_in + body_out)
    return (f"{_typedefs(ph)}{preamble}\n"
            f'extern "C" __global__ void {name}({", ".join(sig_in + sig_out + ["long long _n"])}) {{\n'
            f"    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < _n;\n"
            f"         i += (long long)blockDim.x * gridDim.x) {{\n"
            f"        {decl}\n        {operation};\n    }}\n}}\n")


def reduction_source(in_params: str, out_params: str, map_expr: str, reduce_expr: str, post_map_expr: str,
                     identity, name: str, reduce_type: str | None = None, preamble: str = "") -> str:
    """A full kernel equivalent (single thread) to ``cupy.ReductionKernel(...)`` with these fragments."""
    ph: set = set()
    sig_in, load_in = _bind(in_params, ph, const=True, index="_j")
    sig_out, bind_out = _bind(out_params, ph, const=False, index="0")
    outs = _params(out_params)
    sig = sig_in + sig_out + ["long long _n"]
    rtype = _ctype(reduce_type, ph) if reduce_type else _ctype(outs[0][1], ph)
    init = f"_type_reduce _s = _type_reduce({identity});" if identity is not None else "_type_reduce _s;"
    return (f"{_typedefs(ph)}{preamble}\n"
            f"typedef {rtype} _type_reduce;\n"
            f"#define REDUCE(a, b) ({reduce_expr})\n"
            f"#define POST_MAP(a) ({post_map_expr})\n"
            f'extern "C" __global__ void {name}({", ".join(sig)}) {{\n'
            f"    {init}\n"
            f"    for (long long _j = 0; _j < _n; ++_j) {{\n"
            f"        {' '.join(load_in)}\n"
            f"        _type_reduce _a = static_cast<_type_reduce>({map_expr});\n"
            f"        _s = REDUCE(_s, _a);\n    }}\n"
            f"    {' '.join(bind_out)}\n"
            f"    _type_reduce a = _s;\n    POST_MAP(a);\n}}\n")
