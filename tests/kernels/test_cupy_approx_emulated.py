"""The CuPy ``approx`` kernels run on the CPU against a NumPy stand-in for ``cupy``.

As in ``test_cupy_kernels_emulated.py``: ``cupy`` is replaced by a fake module whose
``RawModule`` checks every launch against the ``extern "C"`` signature parsed from the real
CUDA source (argument count, pointer dtypes, C-contiguity, ``int`` as ``np.int32``, grid x
block covering every point) and then runs a line-by-line Python transcription of the kernel,
one "thread" per point, on flat buffers. This checks the glue (packing, argument order,
dtypes) and the index arithmetic (odometer, strides) against the NumPy reference set and an
exact function; that the CUDA C compiles is checked by ``test_cuda_compile.py``.
"""
from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest

from solvers._kernels.cupy import _build as _cupy_build
from solvers._kernels.cupy import approx as ca
from solvers.approx import chebtucker

_CTYPES = {"const double*": "f8*", "double*": "f8*", "const long long*": "i8*", "int": "i4", "double": "f8"}


def _signatures(code):
    sigs = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\((.*?)\)\s*\{', code, flags=re.S):
        sigs[name] = [_CTYPES[" ".join(p.split()).rsplit(" ", 1)[0].replace(" *", "*")] for p in params.split(",")]
    return sigs


def _check_args(name, kinds, args):
    assert len(args) == len(kinds), f"{name}: {len(args)} arguments for {len(kinds)} parameters"
    for i, (kind, a) in enumerate(zip(kinds, args)):
        if kind.endswith("*"):
            assert isinstance(a, np.ndarray) and a.dtype == np.dtype(kind[:-1]), f"{name} arg {i}"
            assert a.flags.c_contiguous, f"{name} arg {i}: non-contiguous array passed as a raw pointer"
        elif kind == "i4":
            assert isinstance(a, np.int32), f"{name} arg {i}: int parameter needs np.int32, got {type(a).__name__}"


# --- transcriptions of the CUDA kernels (MAXR-strided per-thread arrays, as in the source) ---
MAXR = 64


def _row(F, off, mi, ri, rmax, x, ur, uoff):
    for j in range(ri):
        ur[uoff + j] = 0.0
    tkm1, tk = 1.0, x
    for k in range(mi):
        if k == 0:
            tc = 1.0
        elif k == 1:
            tc = x
        else:
            tc = 2.0 * x * tk - tkm1
            tkm1, tk = tk, tc
        for j in range(ri):
            ur[uoff + j] += tc * F[off + k * rmax + j]


def _next(idx, r, d):
    for i in range(d - 2, -1, -1):
        idx[i] += 1
        if idx[i] < r[i]:
            return True
        idx[i] = 0
    return False


def _ct_eval(T, core, F, m, r, t, out, n, d, mmax, rmax):
    assert T >= n, "grid x block does not cover every point"
    for p in range(T):
        if p >= n:
            continue
        u, idx = np.zeros(6 * MAXR), [0] * 6
        for i in range(d):
            _row(F, i * mmax * rmax, int(m[i]), int(r[i]), rmax, t[p * d + i], u, i * MAXR)
        rl, f, q = int(r[d - 1]), 0.0, 0
        while True:
            s = sum(core[q * rl + c] * u[(d - 1) * MAXR + c] for c in range(rl))
            w = 1.0
            for j in range(d - 1):
                w *= u[j * MAXR + idx[j]]
            f += w * s
            q += 1
            if not _next(idx, r, d):
                break
        out[p] = f


def _ct_grad(T, core, F, dF, m, r, t, val, grad, n, d, mmax, rmax):
    assert T >= n, "grid x block does not cover every point"
    for p in range(min(T, n)):
        u, du, g, idx = np.zeros(6 * MAXR), np.zeros(6 * MAXR), [0.0] * 6, [0] * 6
        for i in range(d):
            _row(F, i * mmax * rmax, int(m[i]), int(r[i]), rmax, t[p * d + i], u, i * MAXR)
            _row(dF, i * mmax * rmax, int(m[i]), int(r[i]), rmax, t[p * d + i], du, i * MAXR)
        rl, f, q = int(r[d - 1]), 0.0, 0
        while True:
            s = sum(core[q * rl + c] * u[(d - 1) * MAXR + c] for c in range(rl))
            ds = sum(core[q * rl + c] * du[(d - 1) * MAXR + c] for c in range(rl))
            w = 1.0
            for j in range(d - 1):
                w *= u[j * MAXR + idx[j]]
            f += w * s
            g[d - 1] += w * ds
            for i in range(d - 1):
                wi = du[i * MAXR + idx[i]]
                for j in range(d - 1):
                    if j != i:
                        wi *= u[j * MAXR + idx[j]]
                g[i] += wi * s
            q += 1
            if not _next(idx, r, d):
                break
        val[p] = f
        for i in range(d):
            grad[p * d + i] = g[i]


def _trow(Ti, toff, G, p, inv_den, ri, x, ur, uoff):
    half, L = p // 2, G + p + 1
    s = np.arccos(x) * (G / 3.141592653589793)
    k = min(int(s), G - 1)
    j0 = k - half + 1
    sig = s - j0
    w, pre = [0.0] * p, 1.0
    for l in range(p):
        w[l] = pre
        pre *= sig - l
    suf = 1.0
    for l in range(p - 1, -1, -1):
        w[l] *= suf * inv_den[l]
        suf *= sig - l
    for j in range(ri):
        base = toff + j * L + (j0 + half)
        ur[uoff + j] = sum(w[l] * Ti[base + l] for l in range(p))


def _sweep(core, u, r, d):
    rl, f, q, idx = int(r[d - 1]), 0.0, 0, [0] * 6
    while True:
        s = sum(core[q * rl + c] * u[(d - 1) * MAXR + c] for c in range(rl))
        w = 1.0
        for j in range(d - 1):
            w *= u[j * MAXR + idx[j]]
        f += w * s
        q += 1
        if not _next(idx, r, d):
            return f


def _ct_eval_table(T, core, tT, t_off, tG, inv_den, r, t, out, n, d, tp):
    assert T >= n, "grid x block does not cover every point"
    for p in range(min(T, n)):
        u = np.zeros(6 * MAXR)
        for i in range(d):
            _trow(tT, int(t_off[i]), int(tG[i]), tp, inv_den, int(r[i]), t[p * d + i], u, i * MAXR)
        out[p] = _sweep(core, u, r, d)


def _ct_table_rows(T, Ti, G, tp, inv_den, ri, x, out, n):
    assert T >= n, "grid x block does not cover every point"
    for p in range(min(T, n)):
        _trow(Ti, 0, int(G), int(tp), inv_den, int(ri), x[p], out, p * int(ri))


def _ct_grad_table(T, core, tT, t_off, tG, dtT, dt_off, dtG, inv_den, r, t, val, grad, n, d, tp):
    """The table rows as _trow, then the same gradient sweep as _ct_grad (transcribed there)."""
    assert T >= n, "grid x block does not cover every point"
    for p in range(min(T, n)):
        u, du = np.zeros(6 * MAXR), np.zeros(6 * MAXR)
        for i in range(d):
            _trow(tT, int(t_off[i]), int(tG[i]), tp, inv_den, int(r[i]), t[p * d + i], u, i * MAXR)
            _trow(dtT, int(dt_off[i]), int(dtG[i]), tp, inv_den, int(r[i]), t[p * d + i], du, i * MAXR)
        g, idx, f, q, rl = [0.0] * 6, [0] * 6, 0.0, 0, int(r[d - 1])
        while True:
            s = sum(core[q * rl + c] * u[(d - 1) * MAXR + c] for c in range(rl))
            ds = sum(core[q * rl + c] * du[(d - 1) * MAXR + c] for c in range(rl))
            w = 1.0
            for j in range(d - 1):
                w *= u[j * MAXR + idx[j]]
            f += w * s
            g[d - 1] += w * ds
            for i in range(d - 1):
                wi = du[i * MAXR + idx[i]]
                for j in range(d - 1):
                    if j != i:
                        wi *= u[j * MAXR + idx[j]]
                g[i] += wi * s
            q += 1
            if not _next(idx, r, d):
                break
        val[p] = f
        for i in range(d):
            grad[p * d + i] = g[i]


_IMPL = {"nk_ct_eval": _ct_eval, "nk_ct_grad": _ct_grad, "nk_ct_eval_table": _ct_eval_table,
         "nk_ct_table_rows": _ct_table_rows, "nk_ct_grad_table": _ct_grad_table}


class _RawModule:
    def __init__(self, code):
        assert f"#define CT_MAXR {MAXR}" in code and f"#define CT_MAXD {ca.MAX_D}" in code
        assert f"#define CT_MAXP {ca.MAX_P}" in code
        self.sigs = _signatures(code)

    def get_function(self, name):
        kinds, impl = self.sigs[name], _IMPL[name]

        def launch(grid, block, args):
            _check_args(name, kinds, args)
            impl(int(grid[0]) * int(block[0]), *[a.reshape(-1) if isinstance(a, np.ndarray) else a for a in args])

        return launch


@pytest.fixture
def fake_cupy(monkeypatch):
    mod = types.ModuleType("cupy")
    mod.__getattr__ = lambda name: getattr(np, name)
    mod.RawModule = lambda code, options=(): _RawModule(code)
    mod.asnumpy = np.asarray
    monkeypatch.setitem(sys.modules, "cupy", mod)
    monkeypatch.setattr(_cupy_build, "_BUILT", {})   # kernels built by the fake never leak out
    return mod


@pytest.mark.parametrize("d", [2, 3, 4])
def test_approx_kernels_match_numpy_reference(fake_cupy, rng, d):
    dom = [(-1.0, 0.5 + i) for i in range(d)]
    f = lambda x: np.exp(0.3 * x.sum(axis=1)) + x[:, 0] * x[:, -1]  # noqa: E731
    ct = chebtucker(f, dom, degree=(9, 7, 6, 5)[:d], tol=1e-10, backend="numpy")
    ref = ct._pack()[1]
    from solvers._kernels.numpy import approx as npk
    from solvers.approx import _cheb

    packed = ca.pack(ct.core, ct.factors, [_cheb.derivative(A) for A in ct.factors])
    t = rng.uniform(-1, 1, (37, d))
    out, val, grad = np.empty(37), np.empty(37), np.empty((37, d))
    ca.evaluate(packed, t, out)
    ca.gradient(packed, t, val, grad)
    r_out, r_val, r_grad = np.empty(37), np.empty(37), np.empty((37, d))
    npk.evaluate(ref, t, r_out)
    npk.gradient(ref, t, r_val, r_grad)
    np.testing.assert_allclose(out, r_out, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(val, r_out, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad, r_grad, rtol=1e-11, atol=1e-12)
    x = (0.5 * (np.array(dom)[:, 0] + np.array(dom)[:, 1]) + 0.5 * (np.array(dom)[:, 1] - np.array(dom)[:, 0]) * t)
    np.testing.assert_allclose(out, f(x), atol=1e-4 * np.abs(f(x)).max())   # and f itself (degrees 5-9: ~1e-5)


def test_pack_refuses_what_the_per_thread_arrays_cannot_hold(fake_cupy):
    with pytest.raises(ValueError, match="ranks <= 64"):
        ca.pack(np.zeros((65, 1)), [np.eye(70, 65), np.eye(3, 1)], [np.eye(70, 65), np.eye(3, 1)])
    with pytest.raises(ValueError, match="d <= 6"):
        ca.pack(np.zeros((1,) * 7), [np.eye(3, 1)] * 7, [np.eye(3, 1)] * 7)


def test_fake_launch_checks_catch_glue_errors(fake_cupy):
    mod = _RawModule(ca._SRC)
    fn = mod.get_function("nk_ct_eval")
    core, F, m, r = np.ones(4), np.ones((2, 3, 2)), np.array([3, 3]), np.array([2, 2])
    t, out = np.zeros((5, 2)), np.empty(5)
    with pytest.raises(AssertionError, match="int parameter"):
        fn((1,), (128,), (core, F, m, r, t, out, 5, np.int32(2), np.int32(3), np.int32(2)))
    with pytest.raises(AssertionError, match="arg 2"):
        fn((1,), (128,), (core, F, m.astype(np.int32), r, t, out, np.int32(5), np.int32(2), np.int32(3), np.int32(2)))
    with pytest.raises(AssertionError, match="cover"):
        fn((1,), (4,), (core, F, m, r, t, out, np.int32(5), np.int32(2), np.int32(3), np.int32(2)))


@pytest.mark.parametrize("d", [2, 3])
def test_table_kernels_match_numpy_reference_and_the_function(fake_cupy, rng, d):
    """The CuPy table route (tables built and checked by _table.build through the CuPy
    table_rows kernel) against the NumPy reference table kernels on the same tables and
    against f itself; points at the box corners included."""
    from solvers._kernels.numpy import approx as npk
    from solvers.approx import _cheb, _table

    dom = [(-1.0, 0.5 + i) for i in range(d)]
    f = lambda x: np.exp(0.3 * x.sum(axis=1)) + x[:, 0] * x[:, -1]  # noqa: E731
    ct = chebtucker(f, dom, degree=(30, 24, 20)[:d], tol=1e-9, backend="numpy")
    dfac = [_cheb.derivative(A) for A in ct.factors]
    v = _table.build(ct.factors, 1e-11, ca)
    dv = _table.build(dfac, 1e-11, ca, order=v["p"])
    assert v["p"] <= ca.MAX_P and max(v["error"]) <= 1e-11
    tables = {"p": v["p"], "grid": v["grid"], "table": v["table"], "dgrid": dv["grid"], "dtable": dv["table"]}
    packed = ca.pack(ct.core, ct.factors, dfac, tables=tables)
    ref = npk.pack(ct.core, ct.factors, dfac, tables=tables)
    t = rng.uniform(-1, 1, (21, d))
    t[0], t[1] = 1.0, -1.0
    out, val, grad = np.empty(21), np.empty(21), np.empty((21, d))
    ca.evaluate_table(packed, t, out)
    ca.gradient_table(packed, t, val, grad)
    r_out, r_val, r_grad = np.empty(21), np.empty(21), np.empty((21, d))
    npk.evaluate_table(ref, t, r_out)
    npk.gradient_table(ref, t, r_val, r_grad)
    np.testing.assert_allclose(out, r_out, rtol=0, atol=1e-12 * np.abs(r_out).max())
    np.testing.assert_allclose(val, r_out, rtol=0, atol=1e-12 * np.abs(r_out).max())
    np.testing.assert_allclose(grad, r_grad, rtol=0, atol=1e-10 * np.abs(r_grad).max())
    lo, hi = np.array(dom)[:, 0], np.array(dom)[:, 1]
    x = 0.5 * (lo + hi) + 0.5 * (hi - lo) * t
    np.testing.assert_allclose(out, f(x), rtol=0, atol=1e-8 * np.abs(f(x)).max())


def test_pack_refuses_a_table_order_beyond_max_p(fake_cupy):
    with pytest.raises(ValueError, match="order <= 16"):
        ca.pack(np.ones(1), [np.ones((3, 1))], [np.ones((3, 1))], tables={"p": 24})
    assert "table" in ca.ROUTES and ca.TABLE_AUTO is False      # explicit only until timed on a GPU
