"""Property-based tests (hypothesis) over the public entry points.

The invariant everywhere: **a clear error, or an answer whose claimed accuracy holds when
checked independently**. A clear error is a ValueError/TypeError (or a MemoryError for
absurd sizes) whose message is a sentence, not a bare NumPy/Numba traceback. A claimed
answer (``converged=True``) is re-checked here with NumPy/SciPy from the returned iterate,
in a way that does not under/overflow at extreme scales.
"""
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

import solvers

SETTINGS = dict(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])
BACKENDS = st.sampled_from(["numpy", "numba"])
SCALES = st.sampled_from([1e-300, 1e-170, 1e-30, 1e-8, 1.0, 1e8, 1e30, 1e170, 1e300])
CLEAR = (ValueError, TypeError)


def _clear(exc) -> None:
    msg = str(exc)
    assert len(msg) >= 20 and " " in msg, f"unclear error: {type(exc).__name__}: {msg!r}"
    assert "numba" not in msg.lower() or "backend" in msg.lower(), msg


def _scaled_residual(A, x, b) -> tuple[float, float]:
    """(||b - A x||, ||b||) computed in scaled arithmetic (no under/overflow)."""
    s = max(float(np.max(np.abs(b))), float(np.max(np.abs(x))) if x.size else 0.0, 1e-300)
    r = b / s - A @ (x / s)
    return float(np.linalg.norm(r)) * s, float(np.linalg.norm(b / s)) * s


@st.composite
def spd_system(draw):
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["tridiag", "dense", "diag"]))
    if kind == "tridiag":
        A = sp.diags([-1.0, 2.0 + draw(st.floats(1e-3, 2.0)), -1.0], [-1, 0, 1], shape=(n, n), format="csr")
        Ad = A.toarray()
    elif kind == "dense":
        Q = rng.standard_normal((n, n))
        Ad = Q @ Q.T + n * np.eye(n)
        A = Ad
    else:
        d = rng.uniform(0.1, 10.0, n)
        Ad = np.diag(d)
        A = sp.diags(d, format="csr")
    b = rng.standard_normal(n) * draw(SCALES)
    return A, Ad, b


@settings(**SETTINGS)
@given(sys_=spd_system(), method=st.sampled_from(["cg", "minres", "gmres"]), backend=BACKENDS,
       rtol=st.sampled_from([0.0, 1e-14, 1e-10, 1e-6, 1e-2]), atol=st.sampled_from([0.0, 1e-300, 1e-10]),
       layout=st.sampled_from(["C", "F", "strided", "float32", "int", "column"]))
def test_krylov_clear_error_or_verified(sys_, method, backend, rtol, atol, layout):
    A, Ad, b = sys_
    if layout == "F" and isinstance(A, np.ndarray):
        A = np.asfortranarray(A)
    bb = b
    if layout == "strided":
        bb = np.repeat(b, 2)[::2]
    elif layout == "float32":
        assume(np.all(np.abs(b) < 1e38) and np.all((b == 0) | (np.abs(b) > 1e-37)))
        bb = b.astype(np.float32)
    elif layout == "int":
        bb = np.round(b).astype(np.int64)
    elif layout == "column":
        bb = b[:, None]
    try:
        res = getattr(solvers, method)(A, bb, rtol=rtol, atol=atol, maxiter=2000, backend=backend)
    except CLEAR as exc:
        _clear(exc)
        return
    bref = np.asarray(bb, dtype=np.float64).reshape(-1)
    x = np.asarray(res.x)
    assert x.shape == bref.shape
    if res.converged:
        rn, bn = _scaled_residual(Ad, x, bref)
        tol = max(rtol * bn, atol)
        # the claim is checked on the returned x; slack = rounding of this check itself
        slack = 8 * np.finfo(float).eps * (np.linalg.norm(Ad, 2) * np.linalg.norm(x) + bn)
        assert rn <= tol * (1 + 1e-6) + slack, (method, rn, tol, res.message)
    else:
        assert res.status in solvers.Status.ALL and len(res.message) > 20


@settings(**SETTINGS)
@given(n=st.integers(1, 12), m=st.integers(1, 12), seed=st.integers(0, 2**31 - 1),
       eps=st.sampled_from([1e-300, 1e-12, 1e-4, 1e-2, 1.0, 1e3]),
       cscale=st.sampled_from([1e-300, 1e-8, 1.0, 1e8, 1e300]),
       offset=st.sampled_from([0.0, 1e8, 1e16]), method=st.sampled_from(["sinkhorn", "sns"]),
       backend=BACKENDS, zero_weight=st.booleans())
def test_ot_clear_error_or_verified(n, m, seed, eps, cscale, offset, method, backend, zero_weight):
    rng = np.random.default_rng(seed)
    C = rng.random((n, m)) * cscale
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    if zero_weight and n > 1:
        a[0] = 0.0
    a /= a.sum()
    b /= b.sum()
    from problems import ot

    try:
        prob = ot.EntropicOT(C, a, b, eps=eps)
        kw = {"maxiter": 3000} if method == "sinkhorn" else {"maxiter": 300}
        f0 = np.full(n, offset) if offset else None
        res = getattr(solvers, method)(prob, tol=1e-8, f0=f0, backend=backend, **kw)
    except CLEAR as exc:
        _clear(exc)
        return
    if not res.converged:
        assert len(res.message) > 20
        return
    f, g = np.asarray(res.f), np.asarray(res.g)
    ia, ib = a > 0, b > 0
    # marginals of the returned potentials, shift-stabilised in log space
    logP = (f[ia][:, None] + g[ib][None, :] - C[np.ix_(ia, ib)]) / eps
    row = np.exp(logsumexp(logP, axis=1))
    col = np.exp(logsumexp(logP, axis=0))
    err = np.abs(row - a[ia]).sum() + np.abs(col - b[ib]).sum()
    assert err <= 1e-8 * (1 + 1e-6) + 1e-13, (method, err, res.message)


@settings(**SETTINGS)
@given(shape=st.lists(st.integers(-2, 12), min_size=1, max_size=4), f=st.sampled_from([1.0, 0.0, -3.0, np.nan,
                                                                                       1e300, 1e-300]),
       k=st.sampled_from([1.0, 1e-6, 1e6, 0.0, -1.0, np.inf]), backend=BACKENDS)
def test_poisson_clear_error_or_verified(shape, f, k, backend):
    from problems import pde

    try:
        p = pde.Poisson(shape=tuple(shape), f=f, k=k)
        res = solvers.solve(p, method="cg", precond="mg", rtol=1e-10, backend=backend)
    except CLEAR as exc:
        _clear(exc)
        return
    if res.converged:
        A = p.operator("numpy").to_csr()
        bvec = np.asarray(p.rhs("numpy")).reshape(-1)
        rn, bn = _scaled_residual(A, np.asarray(res.x).reshape(-1), bvec)
        assert rn <= 1e-10 * bn * (1 + 1e-6) or bn == 0


@settings(**SETTINGS)
@given(key=st.one_of(st.text(max_size=8), st.integers(-3, 3)),
       value=st.one_of(st.text(max_size=8), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                       st.booleans()))
def test_runstore_tags_round_trip_or_refused(tmp_path_factory, key, value):
    path = tmp_path_factory.mktemp("tags") / "r.h5"
    res = solvers.SolveResult(np.zeros(2), True, "converged", "ok", 0, backend="numpy")
    with solvers.RunStore(path) as store:
        try:
            rid = store.save(res, tags={key: value})
        except CLEAR as exc:
            _clear(exc)
            return
        back = store.load(rid).tags
    assert list(back) == [key]
    v = back[key]
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(v)
    else:
        assert v == value and type(v) is type(value)


@settings(**SETTINGS)
@given(s=st.integers(-2, 30), m=st.integers(-2, 40), seed=st.one_of(st.none(), st.integers(0, 2**32)),
       kind=st.sampled_from(["gaussian_sketch", "count_sketch", "row_sampling"]))
def test_sketches_dot_test_or_clear_error(s, m, seed, kind):
    from solvers import operators

    try:
        S = getattr(operators, kind)(s, m, seed=seed)
    except CLEAR as exc:
        _clear(exc)
        return
    assert S.shape == (s, m)
    if s and m:
        solvers.dot_test(S, rtol=1e-12)
