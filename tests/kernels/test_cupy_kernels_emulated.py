"""The CuPy kernel modules run on the CPU against a NumPy stand-in for ``cupy``.

No GPU is needed: ``cupy`` is replaced by a small fake module whose
``ElementwiseKernel`` / ``ReductionKernel`` evaluate the kernel expressions with
NumPy, and whose ``RawModule`` checks every launch against the ``extern "C"``
signature parsed from the real CUDA source (argument count, pointer dtypes,
C-contiguity -- a raw pointer ignores strides --, ``int`` as ``np.int32``,
``double`` as a float, grid x block covering every point) and then runs a
line-by-line NumPy transcription of that kernel on flat buffers. What this
checks: the Python glue (argument order, 2-D -> 3-D padding, tables, dtypes)
and the index arithmetic, against the NumPy reference backend. What it cannot
check: that the CUDA C compiles (the ``@pytest.mark.gpu`` tests do that).
"""
from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest

from solvers._kernels.cupy import krylov as ck
from solvers._kernels.cupy import multigrid as cm
from solvers._kernels.cupy import _build as _cupy_build
from solvers._kernels.cupy import ot as cot
from solvers._kernels.cupy import stencil as cs


# ----------------------------------------------------------------------------- fake cupy
def _names(params):
    return [p.split()[-1] for p in params.split(",") if p.strip()]


class _Elementwise:
    def __init__(self, in_params, out_params, operation, name, preamble="", options=()):
        self.ins, self.outs, self.op = _names(in_params), _names(out_params), operation
        assert all(p.split()[0] == "float64" for p in (in_params + "," + out_params).split(",") if p.strip())

    def __call__(self, *args):
        assert len(args) == len(self.ins) + len(self.outs), "wrong number of kernel arguments"
        ns = {"__builtins__": {}}
        for nm, v in zip(self.ins, args):
            assert isinstance(v, (float, np.floating)) or (isinstance(v, np.ndarray) and v.dtype == np.float64), nm
            ns[nm] = v
        outs = args[len(self.ins):]
        for nm, v in zip(self.outs, outs):
            assert isinstance(v, np.ndarray) and v.dtype == np.float64, nm
            ns[nm] = v
        for stmt in filter(None, (s.strip() for s in self.op.split(";"))):
            exec(stmt, ns)
        for nm, v in zip(self.outs, outs):
            if ns[nm] is not v:
                v[...] = ns[nm]


class _Reduction:
    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name,
                 reduce_type=None, preamble="", options=()):
        self.ins = _names(in_params)
        self.map, self.red, self.post, self.identity = map_expr, reduce_expr, post_map_expr, float(identity)
        assert post_map_expr.replace(" ", "") == "y=a"

    def __call__(self, *args, axis=None):
        arrs = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args])
        ns = {"__builtins__": {}, "exp": np.exp, "max": np.maximum, **dict(zip(self.ins, arrs))}
        mapped = eval(self.map, ns)
        if self.red.replace(" ", "") == "max(a,b)":
            return np.max(mapped, axis=axis, initial=self.identity)
        assert self.red.replace(" ", "") == "a+b"
        return np.sum(mapped, axis=axis, initial=self.identity)


_CTYPES = {"const double*": "f8*", "double*": "f8*", "const long long*": "i8*", "int": "i4", "double": "f8"}


def _signatures(code):
    sigs = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\((.*?)\)\s*\{', code, flags=re.S):
        kinds = []
        for p in params.split(","):
            p = " ".join(p.split())
            ctype = p.rsplit(" ", 1)[0].replace(" *", "*")
            kinds.append(_CTYPES[ctype])
        sigs[name] = kinds
    return sigs


def _check_args(name, kinds, args):
    assert len(args) == len(kinds), f"{name}: {len(args)} arguments for {len(kinds)} parameters"
    for i, (kind, a) in enumerate(zip(kinds, args)):
        if kind.endswith("*"):
            assert isinstance(a, np.ndarray), f"{name} arg {i}: pointer parameter got {type(a).__name__}"
            assert a.dtype == np.dtype(kind[:-1]), f"{name} arg {i}: {a.dtype} for a {kind} parameter"
            assert a.flags.c_contiguous, f"{name} arg {i}: non-contiguous array passed as a raw pointer"
        elif kind == "i4":
            assert isinstance(a, np.int32), f"{name} arg {i}: int parameter needs np.int32, got {type(a).__name__}"
        else:
            assert isinstance(a, (float, np.float64)), f"{name} arg {i}: double parameter got {type(a).__name__}"


class _RawModule:
    def __init__(self, code):
        self.sigs = _signatures(code)

    def get_function(self, name):
        kinds = self.sigs[name]
        impl = _IMPL[name]

        def launch(grid, block, args):
            _check_args(name, kinds, args)
            flat = [a.reshape(-1) if isinstance(a, np.ndarray) else a for a in args]
            impl(int(grid[0]) * int(block[0]), *flat)

        return launch


# --- NumPy transcriptions of the CUDA kernels (one "thread" per entry of p) ---------------
def _idx(i, j, k, n1, n2):
    return (i * n1 + j) * n2 + k


def _nb_const(u, i, j, k, n0, n1, n2, w0, w1, w2):
    s = np.zeros(i.shape)
    for m, w, nb in ((i > 0, w0, (i - 1, j, k)), (i < n0 - 1, w0, (i + 1, j, k)),
                     (j > 0, w1, (i, j - 1, k)), (j < n1 - 1, w1, (i, j + 1, k)),
                     (k > 0, w2, (i, j, k - 1)), (k < n2 - 1, w2, (i, j, k + 1))):
        s[m] += w * u[_idx(*(c[m] for c in nb), n1, n2)]
    return s


def _nb_var(u, i, j, k, n0, n1, n2, f0, f1, f2):
    s = np.zeros(i.shape)
    b1 = (i * (n1 + 1) + j) * n2 + k
    b2 = (i * n1 + j) * (n2 + 1) + k
    terms = ((i > 0, f0, _idx(i, j, k, n1, n2), (i - 1, j, k)),
             (i < n0 - 1, f0, _idx(i + 1, j, k, n1, n2), (i + 1, j, k)),
             (j > 0, f1, b1, (i, j - 1, k)), (j < n1 - 1, f1, b1 + n2, (i, j + 1, k)),
             (k > 0, f2, b2, (i, j, k - 1)), (k < n2 - 1, f2, b2 + 1, (i, j, k + 1)))
    for m, fa, fidx, nb in terms:
        s[m] += fa[fidx[m]] * u[_idx(*(c[m] for c in nb), n1, n2)]
    return s


def _threads(nthreads, N):
    assert nthreads >= N, "grid x block does not cover every point"
    p = np.arange(N, dtype=np.int64)
    return p


def _ijk(p, n1, n2):
    return p // (n1 * n2), (p // n2) % n1, p % n2


def _apply_c(T, u, f, out, n0, n1, n2, w0, w1, w2, d, mode):
    p = _threads(T, int(n0) * n1 * n2)
    i, j, k = _ijk(p, n1, n2)
    v = d * u[p] - _nb_const(u, i, j, k, n0, n1, n2, w0, w1, w2)
    out[p] = f[p] - v if mode else v


def _apply_v(T, u, f, out, n0, n1, n2, f0, f1, f2, dg, mode):
    p = _threads(T, int(n0) * n1 * n2)
    i, j, k = _ijk(p, n1, n2)
    v = dg[p] * u[p] - _nb_var(u, i, j, k, n0, n1, n2, f0, f1, f2)
    out[p] = f[p] - v if mode else v


def _rbgs_c(T, u, f, n0, n1, n2, w0, w1, w2, d, color):
    p = _threads(T, int(n0) * n1 * n2)
    i, j, k = _ijk(p, n1, n2)
    m = ((i + j + k) & 1) == color          # these points read only the other colour
    new = (f[p] + _nb_const(u, i, j, k, n0, n1, n2, w0, w1, w2)) / d
    u[p[m]] = new[m]


def _rbgs_v(T, u, f, n0, n1, n2, f0, f1, f2, dg, color):
    p = _threads(T, int(n0) * n1 * n2)
    i, j, k = _ijk(p, n1, n2)
    m = ((i + j + k) & 1) == color
    new = (f[p] + _nb_var(u, i, j, k, n0, n1, n2, f0, f1, f2)) / dg[p]
    u[p[m]] = new[m]


def _restrict3(T, r, out, n1, n2, c0, c1, c2, ri0, rw0, m0, ri1, rw1, m1, ri2, rw2, m2):
    p = _threads(T, int(c0) * c1 * c2)
    K, J, I = p % c2, (p // c2) % c1, p // (int(c1) * c2)
    s = np.zeros(p.shape)
    for a in range(m0):
        wa = rw0[I * m0 + a]
        ia = ri0[I * m0 + a]
        for b in range(m1):
            wab = wa * rw1[J * m1 + b]
            base = (ia * n1 + ri1[J * m1 + b]) * n2
            t = np.zeros(p.shape)
            for c in range(m2):
                t += rw2[K * m2 + c] * r[base + ri2[K * m2 + c]]
            s += wab * t
    out[p] = s


def _prolong_add3(T, e, u, n0, n1, n2, c1, c2, pi0, pw0, pi1, pw1, pi2, pw2):
    p = _threads(T, int(n0) * n1 * n2)
    i, j, k = _ijk(p, n1, n2)
    s = np.zeros(p.shape)
    for a in range(2):
        wa = pw0[2 * i + a]
        for b in range(2):
            wab = wa * pw1[2 * j + b]
            base = (pi0[2 * i + a] * c1 + pi1[2 * j + b]) * c2
            s += wab * (pw2[2 * k] * e[base + pi2[2 * k]] + pw2[2 * k + 1] * e[base + pi2[2 * k + 1]])
    u[p] += s


_IMPL = {"apply_c": _apply_c, "apply_v": _apply_v, "rbgs_c": _rbgs_c, "rbgs_v": _rbgs_v,
         "restrict3": _restrict3, "prolong_add3": _prolong_add3}


@pytest.fixture
def fake_cupy(monkeypatch):
    mod = types.ModuleType("cupy")
    mod.__getattr__ = lambda name: getattr(np, name)
    mod.ElementwiseKernel = _Elementwise
    mod.ReductionKernel = _Reduction
    mod.RawModule = lambda code, options=(): _RawModule(code)
    monkeypatch.setitem(sys.modules, "cupy", mod)
    monkeypatch.setattr(_cupy_build, "_BUILT", {})   # kernels built by the fake never leak out
    for kmod, attr in ((cs, "_CACHE"), (cm, "_CACHE")):
        monkeypatch.setattr(kmod, attr, {})        # kernels built by the fake never leak out
    return mod


# ----------------------------------------------------------------------------- tests
def _stencil(shape, variable, rng, shift=None):
    from solvers.operators.stencil import StencilOperator

    h = tuple(1.0 / (n + 1) for n in shape)
    k = 1.0
    if variable:
        k = [rng.uniform(0.5, 2.0, tuple(n + 1 if b == a else n for b, n in enumerate(shape)))
             for a in range(len(shape))]
    return StencilOperator(shape, h, k=k, shift=shift, backend="numpy")


CASES = [((7, 5), False, None), ((6, 9), True, None), ((4, 5, 6), False, 3.0), ((5, 3, 4), True, None),
         ((1, 6), True, None), ((5, 4, 1), False, None)]


@pytest.mark.parametrize("shape, variable, shift", CASES)
def test_stencil_kernels_match_reference(fake_cupy, rng, shape, variable, shift):
    op = _stencil(shape, variable, rng, shift)
    u = rng.standard_normal(shape)
    f = rng.standard_normal(shape)
    out = np.empty(shape)
    cs.apply(op, u, out)
    np.testing.assert_allclose(out, op._apply_reference(u), rtol=1e-13, atol=1e-12)
    r = np.empty(shape)
    cs.residual(op, u, f, r)
    np.testing.assert_allclose(r, f - op._apply_reference(u), rtol=1e-13, atol=1e-12)
    for color in (0, 1):
        ug, ur = u.copy(), u.copy()
        cs.rbgs(op, ug, f, color)
        op.smooth_rb(ur, f, color)          # numpy reference half sweep
        np.testing.assert_allclose(ug, ur, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("shape, variable", [((15, 9), False), ((12, 13), True), ((9, 7, 11), False),
                                             ((7, 2, 9), True)])
def test_multigrid_transfer_kernels_match_reference(fake_cupy, rng, shape, variable):
    from solvers.linear.multigrid import MultigridPreconditioner

    mg = MultigridPreconditioner(_stencil(shape, variable, rng), max_coarse=1)
    assert len(mg.levels) >= 2
    for lev, nxt in zip(mg.levels[:-1], mg.levels[1:]):
        r = rng.standard_normal(lev.shape)
        got, ref = np.empty(nxt.shape), np.empty(nxt.shape)
        cm.restrict(r, got, lev.R)
        mg.backend.kernels("multigrid").restrict(r, ref, lev.R)                    # numpy backend: the reference
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13)
        e = rng.standard_normal(nxt.shape)
        u0 = rng.standard_normal(lev.shape)
        got, ref = u0.copy(), u0.copy()
        cm.prolong_add(e, got, lev.P)
        mg.backend.kernels("multigrid").prolong_add(e, ref, lev.P, lev.pbuf)
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape, variable, shift", CASES[:4])
def test_stencil_and_multigrid_steps_match_numpy_reference(fake_cupy, rng, shape, variable, shift):
    """The shared kernel-set steps (apply_dot, residual, rb_first, sweep_pair, residual_restrict)."""
    from solvers._kernels.numpy import multigrid as rm
    from solvers._kernels.numpy import stencil as rs
    from solvers.linear.multigrid import MultigridPreconditioner

    op = _stencil(shape, variable, rng, shift)
    u, f = rng.standard_normal(shape), rng.standard_normal(shape)
    o1, o2 = np.empty(shape), np.empty(shape)
    assert cs.apply_dot(op, u, o1) == pytest.approx(rs.apply_dot(op, u, o2), rel=1e-12)
    np.testing.assert_allclose(o1, o2, rtol=1e-13, atol=1e-12)
    assert cs.residual(op, u, f, o1) == pytest.approx(rs.residual(op, u, f, o2), rel=1e-12)
    assert cs.residual_sq(op, u, f, o1) == pytest.approx(rs.residual(op, u, f, o2), rel=1e-12)
    for first in (0, 1):
        for zero in (False, True):
            u1, u2 = u.copy(), u.copy()
            cs.sweep_pair(op, u1, f, first, zero)
            rs.sweep_pair(op, u2, f, first, zero)
            np.testing.assert_allclose(u1, u2, rtol=1e-13, atol=1e-12)
    mg = MultigridPreconditioner(op, max_coarse=1)
    if len(mg.levels) >= 2:
        lev, nxt = mg.levels[0], mg.levels[1]
        got, ref = np.empty(nxt.shape), np.empty(nxt.shape)
        cm.residual_restrict(op, u, f, got, lev.R, np.empty(shape))
        rm.residual_restrict(op, u, f, ref, lev.R, np.empty(shape))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_krylov_kernels_match_numpy_reference(fake_cupy, rng):
    from solvers._kernels.numpy import krylov as R

    assert ck.dot(np.ones(3), np.arange(3.0)) == 3.0
    assert ck.absmax(np.array([1.0, -4.0, 2.0])) == 4.0 and ck.absmax(np.array([])) == 0.0
    assert np.isnan(ck.absmax(np.array([1.0, np.nan, -np.inf])))
    n = 17
    vec = lambda: rng.standard_normal(n)  # noqa: E731
    p, q, dinv, z0 = vec(), vec(), rng.uniform(0.5, 2, n), vec()
    x1, r1 = vec(), vec()
    x2, r2 = x1.copy(), r1.copy()
    assert ck.cg_update_xr(x1, r1, p, q, 0.3) == pytest.approx(R.cg_update_xr(x2, r2, p, q, 0.3), rel=1e-14)
    np.testing.assert_allclose(x1, x2, rtol=1e-15)
    np.testing.assert_allclose(r1, r2, rtol=1e-15)
    z1, z2 = z0.copy(), z0.copy()
    got = ck.cg_update_xrz(x1, r1, z1, p, q, dinv, -0.7)
    ref = R.cg_update_xrz(x2, r2, z2, p, q, dinv, -0.7)
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    for a, b in ((x1, x2), (r1, r2), (z1, z2)):
        np.testing.assert_allclose(a, b, rtol=1e-15)
    p1, p2 = p.copy(), p.copy()
    ck.xpby(z1, 0.9, p1)
    R.xpby(z2, 0.9, p2)
    np.testing.assert_allclose(p1, p2, rtol=1e-15)
    assert ck.cg_update_r(r1, q, 0.4) == pytest.approx(R.cg_update_r(r2, q, 0.4), rel=1e-14)
    np.testing.assert_allclose(r1, r2, rtol=1e-15)
    ck.cg_update_xp(x1, p1, z1, -0.3, 0.6)
    R.cg_update_xp(x2, p2, z2, -0.3, 0.6)
    for a, b in ((x1, x2), (p1, p2)):
        np.testing.assert_allclose(a, b, rtol=1e-15)
    r1[...] = np.nan
    assert ck.cg_first_r(q, p, 0.4, r1) == pytest.approx(R.cg_first_r(q, p, 0.4, r2), rel=1e-14)
    np.testing.assert_allclose(r1, r2, rtol=1e-15)
    x1[...] = np.nan
    ck.cg_first_xp(x1, p1, z1, -0.3, 0.6)
    R.cg_first_xp(x2, p2, z2, -0.3, 0.6)
    for a, b in ((x1, x2), (p1, p2)):
        np.testing.assert_allclose(a, b, rtol=1e-15)
    ck.axpy(1.5, p1, x1)
    R.axpy(1.5, p2, x2)
    np.testing.assert_allclose(x1, x2, rtol=1e-15)
    assert ck.diag_apply(dinv, r1, z1) == pytest.approx(R.diag_apply(dinv, r2, z2), rel=1e-14)
    assert ck.residual(p, q, r1) == pytest.approx(R.residual(p, q, r2), rel=1e-14)
    d1, res1, ad = vec(), vec(), vec()
    d2, res2 = d1.copy(), res1.copy()
    ck.cheb_step(z1, res1, d1, ad, 0.4, 1.3)
    R.cheb_step(z2, res2, d2, ad, 0.4, 1.3)
    for a, b in ((z1, z2), (res1, res2), (d1, d2)):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    vv, wa, wb = vec(), vec(), vec()
    wa2, xa = wa.copy(), vec()
    xa2 = xa.copy()
    ck.minres_update(vv, wa, wb, xa, 0.3, -1.7, 0.4, 0.9)
    R.minres_update(vv, wa2, wb, xa2, 0.3, -1.7, 0.4, 0.9)
    for a, b in ((wa, wa2), (xa, xa2)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    V, w, h1, h2 = rng.standard_normal((5, n)), vec(), np.zeros(5), np.zeros(5)
    ck.rows_dot(V, 3, w, h1)
    R.rows_dot(V, 3, w, h2)
    np.testing.assert_allclose(h1[:3], h2[:3], rtol=1e-14)
    w1, w2 = w.copy(), w.copy()
    ck.rows_sub(V, 3, h1, w1)
    R.rows_sub(V, 3, h2, w2)
    np.testing.assert_allclose(w1, w2, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("eps", [1.0, 1e-2])
def test_ot_kernels_match_numpy_reference(fake_cupy_backend, rng, eps):
    """Every function of the CuPy OT kernel set against the NumPy reference set (same signatures)."""
    from solvers._kernels.numpy import ot as ref

    n, m = 9, 13
    C = rng.random((n, m))
    f, g = rng.standard_normal(n) * 0.1, rng.standard_normal(m) * 0.1
    la, lb = np.log(rng.uniform(0.5, 1.5, n)), np.log(rng.uniform(0.5, 1.5, m))
    gc, rc = cot.prepare_cost(C), ref.prepare_cost(C)
    assert cot.CHECK_EVERY == 10
    np.testing.assert_allclose(cot.row_lse(gc, g, eps), ref.row_lse(rc, g, eps), rtol=1e-13)
    np.testing.assert_allclose(cot.col_lse(gc, f, eps), ref.col_lse(rc, f, eps), rtol=1e-13)
    np.testing.assert_allclose(cot.f_update(gc, g, la, eps, np.empty(n)), ref.f_update(rc, g, la, eps, np.empty(n)),
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cot.g_update(gc, f, lb, eps, np.empty(m)), ref.g_update(rc, f, lb, eps, np.empty(m)),
                               rtol=1e-13, atol=1e-15)
    w, f1 = np.exp(la), f + 0.01 * rng.standard_normal(n)
    assert float(cot.row_gap(w, f, f1, eps)) == pytest.approx(ref.row_gap(w, f, f1, eps), rel=1e-13)
    # subnormal weights whose row sums are near 1 (exp(x) alone overflows), zero weights: the same finite gap
    ws = np.array([5e-324, 1e-320, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0])
    fo = np.zeros(n)
    fn = fo + eps * np.log(np.where((ws > 0) & (ws < 1e-300), ws, 1.0))    # x = -log w: row sums of 1
    gap = ref.row_gap(ws, fo, fn, eps)
    assert np.isfinite(gap) and float(cot.row_gap(ws, fo, fn, eps)) == pytest.approx(gap, rel=1e-13)
    assert cot.plan_cost(gc, f, g, eps) == pytest.approx(ref.plan_cost(rc, f, g, eps), rel=1e-13)
    np.testing.assert_allclose(cot.plan_dense(gc, f, g, eps), ref.plan_dense(rc, f, g, eps), rtol=1e-14)
    for lc, lr in zip(cot.log_marginals(gc, f, g, eps), ref.log_marginals(rc, f, g, eps)):
        np.testing.assert_allclose(lc, lr, rtol=1e-13)
    np.testing.assert_array_equal(cot.col_min(gc, f), ref.col_min(rc, f))
    got, want = cot.plan_summary(gc, f, g, eps), ref.plan_summary(rc, f, g, eps)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)
    assert float(got[2]) == pytest.approx(want[2], rel=1e-13)
    K = rng.uniform(0.1, 1.0, (n, m))
    u, v, a, b = rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, m), np.full(n, 1 / n), np.full(m, 1 / m)
    for lo, hi in ((1e-9, 1e9), (1.0, 1e9)):           # in range; u_new below the window (code 1)
        outs = [[np.empty(n), np.empty(m), np.empty(n), np.empty(m)] for _ in range(2)]
        e1, c1 = cot.scaling_step(K, u, v, a, b, *outs[0], lo, hi)
        e2, c2 = ref.scaling_step(K, u, v, a, b, *outs[1], lo, hi)
        assert c1 == c2 and float(e1) == pytest.approx(e2, rel=1e-13)
        if c1 == 0:
            for x1, x2 in zip(outs[0], outs[1]):
                np.testing.assert_allclose(x1, x2, rtol=1e-13)
    for rho, kmax, share in ((1e-3, m, 0.0), (1e-8, 4, 0.0), (0.5, 2, 0.0), (1e-8, 3, 0.9), (1e-8, 2, 1 - 1e-9)):
        ip, ix, dv = cot.sparse_plan(gc, f, g, eps, rho, kmax, share)
        rp, rx, rv = ref.sparse_plan(rc, f, g, eps, rho, kmax, share)
        assert ip.dtype == np.int32 and ix.dtype == np.int32      # what cupyx.scipy.sparse wants
        np.testing.assert_array_equal(ip, rp)                      # continuous data: no ties at the cut
        np.testing.assert_array_equal(ix, rx)
        np.testing.assert_allclose(dv, rv, rtol=1e-14)
        lse, (jp, jx, jv) = cot.row_lse_sparse(gc, g, f, eps, rho, kmax, share)
        np.testing.assert_allclose(lse, ref.row_lse(rc, g, eps), rtol=1e-13)
        np.testing.assert_array_equal(jx, rx)
        # the Schur complement S = diag(dcol) - P^T diag(inv_drow) P of the Newton stage
        dcol, inv_drow, x = rng.uniform(1, 2, m), rng.uniform(1, 2, n), rng.standard_normal(m)
        sc, sr = cot.schur_prepare((ip, ix, dv), (n, m)), ref.schur_prepare((rp, rx, rv), (n, m))
        np.testing.assert_allclose(cot.schur_diagonal(sc, dcol, inv_drow), ref.schur_diagonal(sr, dcol, inv_drow),
                                   rtol=1e-14)
        np.testing.assert_allclose(cot.schur_matvec(sc, dcol, inv_drow, x, np.empty(m)),
                                   ref.schur_matvec(sr, dcol, inv_drow, x, np.empty(m)), rtol=1e-13)
        np.testing.assert_allclose(cot.plan_matvec(sc, x), ref.plan_matvec(sr, x), rtol=1e-13)
        np.testing.assert_allclose(cot.plan_rmatvec(sc, f), ref.plan_rmatvec(sr, f), rtol=1e-13)
        P = cot.csr_scatter(cot.csr_matrix((ip, ix, dv), (n, m)), np.arange(n) + 1, np.arange(m) * 2, (n + 1, 2 * m))
        np.testing.assert_allclose(P.toarray()[1:, ::2], ref.csr_matrix((rp, rx, rv), (n, m)).toarray(), rtol=1e-14)


def test_fake_launch_checks_catch_glue_errors(fake_cupy, rng):
    """The signature check is not vacuous: a wrong int type or a strided array is refused."""
    mod = _RawModule(cs._SRC)
    launch = mod.get_function("apply_c")
    u = np.zeros((1, 3, 4))
    good = (u, u, u, np.int32(1), np.int32(3), np.int32(4), 1.0, 1.0, 1.0, 4.0, np.int32(0))
    launch((1,), (256,), good)
    with pytest.raises(AssertionError, match="np.int32"):
        launch((1,), (256,), good[:3] + (3,) + good[4:])
    with pytest.raises(AssertionError, match="non-contiguous"):
        launch((1,), (256,), (np.zeros((1, 3, 8))[..., ::2],) + good[1:])
    with pytest.raises(AssertionError, match="cover"):
        launch((0,), (256,), good)


# ----------------------------------------------------------------------------- whole solvers on the fake
@pytest.fixture
def fake_cupy_backend(fake_cupy, monkeypatch):
    """A ``Backend("cupy", fake)``: every ``be.name == "cupy"`` branch runs, with SciPy standing in for cupyx."""
    import scipy.sparse

    from solvers.backends import Backend

    class _Stream:
        def synchronize(self):
            pass

    fake_cupy.cuda = types.SimpleNamespace(
        get_current_stream=lambda: _Stream(), Device=lambda: types.SimpleNamespace(id=0),
        runtime=types.SimpleNamespace(getDeviceProperties=lambda i: {"name": b"emulated"}))
    cx, cxs = types.ModuleType("cupyx"), types.ModuleType("cupyx.scipy")
    cx.scipy, cxs.sparse = cxs, scipy.sparse
    for name, mod in (("cupyx", cx), ("cupyx.scipy", cxs), ("cupyx.scipy.sparse", scipy.sparse)):
        monkeypatch.setitem(sys.modules, name, mod)
    return Backend("cupy", fake_cupy)


@pytest.mark.parametrize("shape, k", [((31, 17), None), ((9, 10, 11), lambda x, y, z: 1 + x * y)])
def test_poisson_krylov_on_emulated_cupy_backend(fake_cupy_backend, shape, k):
    import solvers
    from problems import pde

    p = pde.Poisson(shape=shape, f=1.0, k=k)
    for method, prec in (("cg", "mg"), ("cg", "jacobi"), ("cg", "chebyshev"), ("cg", None), ("minres", "mg"),
                         ("gmres", "mg")):
        r = solvers.solve(p, method=method, precond=prec, rtol=1e-10, backend=fake_cupy_backend)
        ref = solvers.solve(p, method=method, precond=prec, rtol=1e-10, backend="numpy")
        assert r.backend == "cupy" and r.converged, (method, prec, r.message)
        assert r.nit == ref.nit
        np.testing.assert_allclose(r.x, ref.x, rtol=0, atol=1e-12 * np.abs(ref.x).max())


def test_ot_on_emulated_cupy_backend(fake_cupy_backend, rng):
    import solvers
    from problems import ot

    x, y = rng.random((30, 2)), rng.random((25, 2))
    a = np.r_[0.0, np.full(29, 1 / 29)]                      # a zero weight: support handling
    for prob in (ot.EntropicOT.from_points(x, y, eps=1e-2), ot.EntropicOT.from_points(x, y, a=a, eps=1e-2)):
        for method in (solvers.sinkhorn, solvers.sns):
            r = method(prob, tol=1e-9, backend=fake_cupy_backend)
            ref = method(prob, tol=1e-9, backend="numpy")
            assert r.backend == "cupy" and r.converged, r.message
            assert r.cost == pytest.approx(ref.cost, rel=1e-8)
            P = r.plan(dense=True)
            np.testing.assert_allclose(r.plan(dense=False).toarray(), P, atol=1e-12 * P.max())
            assert np.abs(P.sum(1) - prob.a).sum() + np.abs(P.sum(0) - prob.b).sum() <= 1.01e-9


@pytest.mark.parametrize("variable", [False, True])
def test_stencil_strided_vectors_on_emulated_cupy_backend(fake_cupy_backend, rng, variable):
    """A raw-pointer kernel must never see a strided view (e.g. the columns that ``matmat`` passes)."""
    from solvers.operators.stencil import StencilOperator

    shape = (6, 5, 4)
    k = 1.0
    if variable:
        k = [rng.uniform(0.5, 2.0, tuple(n + 1 if b == a else n for b, n in enumerate(shape))) for a in range(3)]
    ref = StencilOperator(shape, 0.1, k=k, backend="numpy")
    op = StencilOperator(shape, 0.1, k=k, backend=fake_cupy_backend)
    X = rng.standard_normal((op.shape[0], 3))
    np.testing.assert_allclose(op.matmat(X), np.stack([ref.matvec(X[:, j]) for j in range(3)], axis=1),
                               rtol=1e-13, atol=1e-12)
    out = np.zeros((op.shape[0], 2))
    op.matvec_into(X[:, 1], out[:, 0])               # strided output too
    np.testing.assert_allclose(out[:, 0], ref.matvec(X[:, 1]), rtol=1e-13, atol=1e-12)
    U, F = rng.standard_normal(shape + (2,)), rng.standard_normal(shape + (2,))
    u, f = U[..., 0], F[..., 1]                      # strided grids
    assert not (u.flags.c_contiguous or f.flags.c_contiguous)
    R = np.zeros(shape + (2,))
    assert op.residual_into(u, f, R[..., 0]) == pytest.approx(np.sum((f - ref._apply_reference(u)) ** 2), rel=1e-13)
    np.testing.assert_allclose(R[..., 0], f - ref._apply_reference(u), rtol=1e-13, atol=1e-12)
    ur = u.copy()
    op.smooth_rb(u, f, 1)                            # in place on a strided grid
    ref.smooth_rb(ur, f, 1)
    np.testing.assert_allclose(u, ur, rtol=1e-13, atol=1e-12)


def test_multigrid_strided_vectors_on_emulated_cupy_backend(fake_cupy_backend, rng):
    from solvers.linear.multigrid import MultigridPreconditioner
    from solvers.operators.stencil import StencilOperator

    shape = (13, 11)
    ref = MultigridPreconditioner(StencilOperator(shape, 0.1, backend="numpy"), max_coarse=4)
    mg = MultigridPreconditioner(StencilOperator(shape, 0.1, backend=fake_cupy_backend), max_coarse=4)
    X = rng.standard_normal((mg.shape[0], 3))
    np.testing.assert_allclose(mg.matmat(X), np.stack([ref.matvec(X[:, j]) for j in range(3)], axis=1),
                               rtol=1e-12, atol=1e-13)
    lev, nxt = mg.levels[0], mg.levels[1]
    R = rng.standard_normal(lev.shape + (2,))
    out, want = np.zeros(nxt.shape + (2,)), np.empty(nxt.shape)
    cm.restrict(R[..., 1], out[..., 0], lev.R)
    ref.backend.kernels("multigrid").restrict(R[..., 1], want, ref.levels[0].R)
    np.testing.assert_allclose(out[..., 0], want, rtol=1e-13, atol=1e-13)
    E, U = rng.standard_normal(nxt.shape + (2,)), rng.standard_normal(lev.shape + (2,))
    want = U[..., 0].copy()
    cm.prolong_add(E[..., 1], U[..., 0], lev.P)
    ref.backend.kernels("multigrid").prolong_add(E[..., 1], want, ref.levels[0].P, ref.levels[0].pbuf)
    np.testing.assert_allclose(U[..., 0], want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape, h", [((21, 16), (0.05, 0.05)), ((9, 8, 12), (0.1, 0.1, 0.01))])
def test_galerkin_multigrid_on_emulated_cupy_backend(fake_cupy_backend, rng, shape, h):
    """The black-box (Galerkin, CSR levels, multicolour Gauss-Seidel) V-cycle equals the NumPy one."""
    from solvers.linear.multigrid import multigrid
    from solvers.operators.stencil import StencilOperator

    k = [np.where(rng.random(tuple(n + 1 if b == a else n for b, n in enumerate(shape))) < 0.4, 1e4, 1.0)
         for a in range(len(shape))]
    ref = multigrid(StencilOperator(shape, h, k=k, backend="numpy"), max_coarse=4)
    mg = multigrid(StencilOperator(shape, h, k=k, backend=fake_cupy_backend), max_coarse=4)
    assert mg.kind == ref.kind == "galerkin" and len(mg.levels) == len(ref.levels) >= 3
    X = rng.standard_normal((mg.shape[0], 2))
    np.testing.assert_allclose(mg.matmat(X), np.stack([ref.matvec(X[:, j]) for j in range(2)], axis=1),
                               rtol=1e-10, atol=1e-12 * np.abs(ref.matvec(X[:, 0])).max())
    lev = mg.levels[1]
    u, f = rng.standard_normal(lev.shape), rng.standard_normal(lev.shape)
    r1, r2 = np.empty(lev.shape), np.empty(lev.shape)
    assert cm.csr_residual(lev.A.mg_csr, u, f, r1) == pytest.approx(
        ref.levels[1].A.backend.kernels("multigrid").csr_residual(ref.levels[1].A.mg_csr, u, f, r2), rel=1e-12)
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-12 * np.abs(r2).max())


def test_sparse_and_krylov_on_emulated_cupy_backend(fake_cupy_backend, rng):
    """The cupy ``sparse`` kernel set (cupyx stands in as SciPy) under every Krylov solver and conversion."""
    import scipy.sparse as sp

    import solvers
    from solvers.operators import SparseOperator, aslinearoperator

    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(12, 12))
    A = (sp.kron(T, sp.identity(12)) + sp.kron(sp.identity(12), T)).tocsr()
    b = rng.standard_normal(A.shape[0])
    op = SparseOperator(A, backend=fake_cupy_backend)
    ref = SparseOperator(A, backend="numpy")
    assert aslinearoperator(ref, backend=fake_cupy_backend).backend is fake_cupy_backend
    out = np.empty(A.shape[0])
    assert op.matvec_dot(b, out) == pytest.approx(b @ (A @ b), rel=1e-13)
    for solve in (solvers.cg, solvers.minres, solvers.gmres, solvers.cdm):
        r, q = solve(op, b, rtol=1e-10), solve(ref, b, rtol=1e-10)
        assert r.backend == "cupy" and r.converged and r.nit == q.nit
        np.testing.assert_allclose(r.x, q.x, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape, cshape", [((15, 9), (7, 4)), ((9, 7, 11), (4, 3, 5)), ((6, 5, 7), (6, 2, 3))])
def test_fmg_interpolate_matches_a_dense_kronecker_product(fake_cupy, rng, shape, cshape):
    # the 6-point FMG tables (one row per fine point) through the CuPy set's tensor-table kernel
    from solvers.linear.multigrid_iterate import FMG_ORDER, _lagrange_1d

    T, K = [], None
    for n, nc in zip(shape, cshape):
        pi, pw = _lagrange_1d(n, nc, FMG_ORDER)
        T += [pi, pw]
        D = np.zeros((n, nc))
        np.add.at(D, (np.repeat(np.arange(n), pi.shape[1]), pi.ravel()), pw.ravel())
        K = D if K is None else np.kron(K, D)
    e = rng.standard_normal(cshape)
    got = np.full(shape, np.nan)
    cm.interpolate(e, got, tuple(T), cm.prolong_work(shape, cshape))
    np.testing.assert_allclose(got.ravel(), K @ e.ravel(), rtol=1e-13, atol=1e-13)
