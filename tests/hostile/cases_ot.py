"""Hostile inputs for the entropic OT solvers (``solvers.sinkhorn``, ``solvers.sns``) and the OT
kernel sets.

Each case returns ``"clear_error"`` (a ValueError/TypeError whose message names the argument),
``"verified"`` (an answer whose claim was checked here: a converged result has the marginal
error it claims, recomputed independently with SciPy's ``logsumexp`` from ``res.f``/``res.g``;
a result that does not claim convergence reports the error of the potentials it returns), or
``"wrong"`` with a detail. Problems are small: every case runs well under 2 s.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from scipy.special import logsumexp

import solvers


def _data(n=6, m=5, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.random((n, m)) * scale, np.full(n, 1.0 / n), np.full(m, 1.0 / m)


def true_error(C, a, b, f, g, eps) -> float:
    """|P 1 - a|_1 + |P^T 1 - b|_1 of P = exp((f + g - C) / eps), independently (SciPy LSE)."""
    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)
    ia, ib = a > 0, b > 0
    if not (np.isfinite(f[ia]).all() and np.isfinite(g[ib]).all()):
        return math.nan
    with np.errstate(all="ignore"):
        Z = (f[ia][:, None] + g[ib][None, :] - C[np.ix_(ia, ib)]) / eps
        row, col = np.exp(logsumexp(Z, axis=1)), np.exp(logsumexp(Z, axis=0))
        return float(np.abs(row - a[ia]).sum() + np.abs(col - b[ib]).sum())


def judge(res, C, a, b, eps, tol):
    """verified / wrong for a returned result (see the module notes)."""
    err = true_error(C, a, b, res.f, res.g, eps)
    if len(res.message) < 20:
        return "wrong", f"message too short: {res.message!r}"
    if res.converged:
        if err <= tol * (1 + 1e-6) + 1e-13:
            return "verified", f"converged, true error {err:.2e}"
        return "wrong", f"claims converged; true error {err:.3e} > tol {tol:.1e}: {res.message}"
    rep = res.extras.get("marginal_error", math.nan)
    if not math.isfinite(err) and not math.isfinite(rep):
        return "verified", f"{res.status}: non-finite plan reported as such"
    if math.isfinite(err) and math.isfinite(rep) and abs(rep - err) <= 1e-6 * max(err, rep) + 1e-12:
        if err <= tol:
            return "wrong", f"not converged but the true error {err:.2e} <= tol"
        return "verified", f"{res.status}: reports {rep:.3e} = true {err:.3e}"
    return "wrong", f"{res.status}: reports {rep!r}, true error of the returned potentials {err!r}: {res.message}"


def expect_error(fn, *names):
    """clear_error when ``fn`` raises ValueError/TypeError naming one of ``names``."""
    try:
        out = fn()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if any(nm in msg for nm in names) and len(msg) > 20:
            return "clear_error", msg[:200]
        return "wrong", f"error does not name {names}: {type(exc).__name__}: {msg[:200]}"
    return "wrong", f"accepted: {out!r:.200}"


def solve_or_error(method, C, a, b, eps, *, problem=None, tol=1e-8, names=(), **kw):
    """An answer (judged) or a clear error naming one of ``names``: ``method(problem)`` when a
    problem is given, else ``method(C, a, b, eps=eps)``; ``C, a, b, eps`` are the reference."""
    fn = getattr(solvers, method)
    try:
        res = fn(problem, tol=tol, **kw) if problem is not None else fn(C, a, b, eps=eps, tol=tol, **kw)
    except (ValueError, TypeError) as exc:
        if names and any(nm in str(exc) for nm in names):
            return "clear_error", str(exc)[:200]
        return "wrong", f"unexpected {type(exc).__name__}: {exc}"
    return judge(res, C, a, b, eps, tol)


def duck(C, a, b, eps):
    return SimpleNamespace(C=C, a=a, b=b, eps=eps)


def clusters(k=5, per=40, sigma=1e-3, seed=3, weighted=True):
    """k Gaussian clusters of ``per`` points on each side (independent centres), squared distance:
    clusters larger than SNS's default per-row cap ``max(16, n // 10)``."""
    rng = np.random.default_rng(seed)
    cx, cy = rng.random((k, 2)), rng.random((k, 2))
    x = np.concatenate([c + sigma * rng.standard_normal((per, 2)) for c in cx])
    y = np.concatenate([c + sigma * rng.standard_normal((per, 2)) for c in cy])
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    n = k * per
    a = rng.random(n) + 0.5 if weighted else np.ones(n)
    return C, a / a.sum(), np.full(n, 1.0 / n)


CASES = []


C0, A0, B0 = _data()

# ---------------------------------------------------------------- class 1: shapes/dtypes never reach a kernel
for _method in ("sinkhorn", "sns"):
    CASES += [
        (f"{_method}: duck problem, a one short",
         lambda m=_method: expect_error(lambda: getattr(solvers, m)(duck(C0, A0[:-1], B0, 1e-2), backend="numba"),
                                        "problem.a")),
        (f"{_method}: duck problem, b one long",
         lambda m=_method: expect_error(lambda: getattr(solvers, m)(duck(C0, A0, np.full(6, 1 / 6), 1e-2),
                                                                    backend="numba"), "problem.b")),
        (f"{_method}: duck problem, 1-D C",
         lambda m=_method: expect_error(lambda: getattr(solvers, m)(duck(C0.ravel(), A0, B0, 1e-2), backend="numba"),
                                        "problem.C")),
        (f"{_method}: duck problem, NaN in C",
         lambda m=_method: expect_error(lambda: getattr(solvers, m)(duck(np.where(C0 > 0.5, np.nan, C0), A0, B0, 1e-2),
                                                                    backend="numba"), "problem.C")),
        (f"{_method}: f0 of the wrong length",
         lambda m=_method: expect_error(lambda: getattr(solvers, m)(C0, A0, B0, eps=1e-2, f0=np.zeros(2),
                                                                    backend="numba"), "f0")),
    ]
CASES += [
    ("duck problem, 3-D C", lambda: expect_error(lambda: solvers.sinkhorn(duck(C0[None], A0, B0, 1e-2)), "problem.C")),
    ("duck problem, complex C",
     lambda: expect_error(lambda: solvers.sinkhorn(duck(C0 + 1j, A0, B0, 1e-2)), "problem.C")),
    ("duck problem, string C",
     lambda: expect_error(lambda: solvers.sns(duck(np.full((6, 5), "x"), A0, B0, 1e-2)), "problem.C")),
    ("duck problem, scipy.sparse C",
     lambda: expect_error(lambda: solvers.sinkhorn(duck(__import__("scipy.sparse").sparse.csr_matrix(C0), A0, B0,
                                                        1e-2)), "problem.C")),
    ("duck problem, a is None", lambda: expect_error(lambda: solvers.sinkhorn(duck(C0, None, B0, 1e-2)), "problem.a")),
    ("duck problem, 2-D a", lambda: expect_error(lambda: solvers.sns(duck(C0, A0[:, None], B0, 1e-2)), "problem.a")),
    ("f0 complex", lambda: expect_error(lambda: solvers.sinkhorn(C0, A0, B0, eps=1e-2, f0=np.ones(6) * 1j), "f0")),
    ("g0 strings", lambda: expect_error(lambda: solvers.sns(C0, A0, B0, eps=1e-2, g0=["x"] * 5), "g0")),
    ("ragged C list", lambda: expect_error(lambda: solvers.sinkhorn([[1.0, 2.0], [1.0]], eps=1e-2), "C")),
    ("duck problem, Fortran float32 int-valued C is fine",
     lambda: solve_or_error("sinkhorn", C0.astype(np.float32).astype(float), A0, B0, 0.05,
                            problem=duck(np.asfortranarray(C0.astype(np.float32)), A0, B0, 0.05), backend="numba")),
    ("numba kernel f_update: g one short",
     lambda: expect_error(lambda: _numba_ot().f_update(_numba_ot().prepare_cost(C0), np.zeros(4), np.log(A0), 0.1,
                                                       np.empty(6)), "g")),
    ("numba kernel col_lse: float32 f",
     lambda: expect_error(lambda: _numba_ot().col_lse(_numba_ot().prepare_cost(C0), np.zeros(6, np.float32), 0.1),
                          "f")),
    ("numba kernel plan_dense: f of length 1 for 6 rows",
     lambda: expect_error(lambda: _numba_ot().plan_dense(_numba_ot().prepare_cost(C0), np.zeros(1), np.zeros(5), 0.1),
                          "f")),
    ("numba kernel schur_matvec: x one short",
     lambda: expect_error(lambda: _schur_bad_x(), "x")),
]


def _numba_ot():
    from solvers._kernels.numba import ot
    return ot


def _schur_bad_x():
    K = _numba_ot()
    csr = K.sparse_plan(K.prepare_cost(C0), np.zeros(6), np.zeros(5), 0.1, 1e-3, 5)
    sch = K.schur_prepare(csr, (6, 5))
    return K.schur_matvec(sch, np.ones(5), np.ones(6), np.ones(4), np.empty(5))


# ---------------------------------------------------------------- class 2: claims measured on the returned plan
def _offset(method, offset, eps=1e-2, backend="numba"):
    C, a, b = _data(8, 7, seed=1)
    f0 = np.full(8, offset)
    return solve_or_error(method, C, a, b, eps, f0=f0, backend=backend, maxiter=500)


for _method in ("sinkhorn", "sns"):
    for _off in (1e8, 1e12, 1e16):
        CASES.append((f"{_method}: f0 with offset {_off:g}", lambda m=_method, o=_off: _offset(m, o)))


def _tiny_eps(method, cscale, eps, offset=0.0, n=3, m=4, backend="numpy", maxiter=300):
    C, a, b = _data(n, m, seed=2, scale=cscale)
    kw = {"f0": np.full(n, offset)} if offset else {}
    return solve_or_error(method, C, a, b, eps, backend=backend, maxiter=maxiter, names=("eps",), **kw)


C_BIG = 1e8 + _data(5, 5, 3)[0]     # C = 1e8 + U(0, 1)
C_PM = np.where(C0 > 0.5, 1e308, -1e308) * C0   # costs spanning +-1e308

CASES += [
    ("sinkhorn: eps=1e-300, C~1e-300, f0 offset 1e8 (1x1)",
     lambda: solve_or_error("sinkhorn", np.full((1, 1), 0.6e-300), np.ones(1), np.ones(1), 1e-300,
                            f0=np.full(1, 1e8))),
    ("sinkhorn: eps=1e-300, C~1e-300", lambda: _tiny_eps("sinkhorn", 1e-300, 1e-300)),
    ("sns: eps=1e-300, C~1e-300", lambda: _tiny_eps("sns", 1e-300, 1e-300)),
    ("sinkhorn: eps=1e-300, C~1", lambda: _tiny_eps("sinkhorn", 1.0, 1e-300)),
    ("sns: eps=1e-300, C~1, f0 offset 1e16", lambda: _tiny_eps("sns", 1.0, 1e-300, offset=1e16)),
    ("sinkhorn: costs near 1e308, eps=1", lambda: _tiny_eps("sinkhorn", 1e308, 1.0, backend="numba")),
    ("sns: costs near 1e308, eps=1", lambda: _tiny_eps("sns", 1e308, 1.0, backend="numba")),
    ("sinkhorn: costs 1e300, eps 1e298 (relative eps 1e-2)", lambda: _tiny_eps("sinkhorn", 1e300, 1e298)),
    ("sns: costs 1e-300, eps 1e-302", lambda: _tiny_eps("sns", 1e-300, 1e-302, backend="numba")),
    ("sinkhorn: C = 1e8 + U(0,1), eps=1e-4",
     lambda: solve_or_error("sinkhorn", C_BIG, np.full(5, .2), np.full(5, .2), 1e-4, maxiter=2000)),
    ("sns: C = 1e8 + U(0,1), eps=1e-3",
     lambda: solve_or_error("sns", C_BIG, np.full(5, .2), np.full(5, .2), 1e-3, backend="numba")),
    ("sinkhorn: eps=1e-320 (1/eps overflows)", lambda: _tiny_eps("sinkhorn", 1.0, 1e-320)),
    ("sns: maxiter=3 reports the returned iterate's error",
     lambda: (lambda C, a, b: solve_or_error("sns", C, a, b, 1e-4, maxiter=3, backend="numba"))(
         *clusters(per=20))),
    ("sinkhorn: tiny weights (1e-200) on the support",
     lambda: (lambda a: solve_or_error("sinkhorn", C0, a / a.sum(), B0, 0.05, backend="numba"))(
         np.array([1.0, 1e-200, 1.0, 1.0, 1e-200, 1.0]))),
]

# ---------------------------------------------------------------- class 3: clustered clouds
for _seed, _weighted in ((3, True), (0, True), (0, False), (1, False)):
    CASES.append((f"sns: 5 clusters x 40 points, sigma 1e-3, eps 1e-3 (seed {_seed}, weighted={_weighted})",
                  lambda s=_seed, w=_weighted: (lambda C, a, b: solve_or_error(
                      "sns", C, a, b, 1e-3, backend="numba"))(*clusters(seed=s, weighted=w))))

# ---------------------------------------------------------------- class 5: options at the boundary
_S = ("sinkhorn", "sns")
_OPTS = [
    ("sns", {"n_sinkhorn": 0}, "n_sinkhorn"), ("sns", {"kmax": 0}, "kmax"), ("sns", {"kmax": 2.5}, "kmax"),
    ("sinkhorn", {"eps_scaling": 1 - 1e-9}, "eps_scaling"),
    ("sns", {"eps_scaling": 1 - 1e-9, "eps": 1e-6}, "eps_scaling"),
    ("sinkhorn", {"tol": -1.0}, "tol"), ("sns", {"tol": float("nan")}, "tol"), ("sinkhorn", {"tol": "1e-8"}, "tol"),
    ("sinkhorn", {"maxiter": -5}, "maxiter"), ("sns", {"maxiter": 1.5}, "maxiter"),
    ("sns", {"rho": 0.0}, "rho"), ("sns", {"rho": 1.5}, "rho"), ("sns", {"mu0": -1.0}, "mu0"),
    ("sinkhorn", {"eps_scaling": "fast"}, "eps_scaling"), ("sinkhorn", {"check_every": 0}, "check_every"),
    ("sns", {"polish": "yes"}, "polish"), ("sns", {"cg_maxiter": 0}, "cg_maxiter"),
    ("sns", {"n_fallback": True}, "n_fallback"), ("sinkhorn", {"callback": 5}, "callback"),
    ("sns", {"backend": "tpu"}, "backend"), ("sns", {"switch_tol": float("inf")}, "switch_tol"),
    ("sns", {"max_sinkhorn": -1}, "max_sinkhorn"), ("sns", {"polish_above": -1.0}, "polish_above"),
]
for _m, _kw, _name in _OPTS:
    CASES.append((f"{_m}({', '.join(f'{k}={v!r}' for k, v in _kw.items())})",
                  lambda m=_m, kw=_kw, nm=_name: expect_error(
                      lambda: getattr(solvers, m)(C0, A0, B0, **{"eps": 1e-2, **kw}), nm)))
for _m in _S:
    for _eps in (0.0, -1.0, float("nan"), "0.1", None):
        CASES.append((f"{_m}: duck problem with eps={_eps!r}",
                      lambda m=_m, e=_eps: expect_error(lambda: getattr(solvers, m)(duck(C0, A0, B0, e)), "eps")))
CASES += [
    ("sinkhorn(maxiter=10**12): no up-front allocation",
     lambda: solve_or_error("sinkhorn", C0, A0, B0, 0.1, maxiter=10**12, backend="numba")),
    ("sns(max_sinkhorn=10**12, n_fallback=10**12): no up-front allocation",
     lambda: solve_or_error("sns", C0, A0, B0, 0.1, max_sinkhorn=10**12, n_fallback=10**12)),
    ("sns(eps_start=1e300): automatic schedule clipped",
     lambda: solve_or_error("sns", C0, A0, B0, 1e-3, eps_start=1e300, names=("eps_start",))),
    ("sinkhorn(eps_scaling=0.5) on costs spanning +-1e308",
     lambda: solve_or_error("sinkhorn", C_PM, A0, B0, 1.0, eps_scaling=0.5, names=("eps_scaling",))),
    ("sns(maxiter=0)", lambda: solve_or_error("sns", C0, A0, B0, 0.05, maxiter=0)),
    ("sinkhorn(maxiter=0)", lambda: solve_or_error("sinkhorn", C0, A0, B0, 0.05, maxiter=0)),
]

# ---------------------------------------------------------------- class 6: method="auto" across its Sinkhorn -> SNS switch
# eps / (C.max() - C.min()) = SW (3.2e-3, above the 3e-3 threshold at this size): auto starts with Sinkhorn (~500
# iterations needed) and hands over to SNS at one of its first checks (iteration 20, 40 or 60); every case is judged
# on the returned potentials (true error, honest status)
SW = 3.2e-3


def _switch_data(n=90, m=80, seed=7, scale=1.0, weights=False):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    C = C / C.max() * scale
    a = rng.random(n) + 0.1 if weights else np.ones(n)
    b = rng.random(m) + 0.1 if weights else np.ones(m)
    return C, a / a.sum(), b / b.sum()


def _auto(C, a, b, eps, tol=1e-8, want_switch=None, **kw):
    from solvers.ot import auto

    try:
        res = auto(C, a, b, eps=eps, tol=tol, **kw)
    except (ValueError, TypeError) as exc:
        return "wrong", f"unexpected {type(exc).__name__}: {exc}"
    out, detail = judge(res, C, a, b, eps, tol)
    if out != "verified":
        return out, detail
    switched = "switched to sns" in res.stats.get("auto_reason", "")
    if want_switch is not None and switched != want_switch:
        return "wrong", f"switch expected {want_switch}, got {switched}: {res.stats.get('auto_reason')}"
    rows = {k: len(v) for k, v in res.history.items()}
    if set(rows.values()) != {res.nit + 1}:
        return "wrong", f"history rows {rows} for nit={res.nit}"
    return out, f"{detail}; switched={switched}, nit={res.nit}"


def _stop_at(k):
    def cb(intermediate_result):
        if intermediate_result.nit >= k:
            raise StopIteration
    return cb


CS, AS, BS = _switch_data()
_C1, _A1, _B1 = _switch_data(seed=8, weights=True)
_A0 = _A1.copy()
_A0[[0, 5, 6]] = 0.0
_A0 /= _A0.sum()
CASES += [
    ("auto: switch region, plain", lambda: _auto(CS, AS, BS, SW, want_switch=True)),
    ("auto: switch region, random weights", lambda: _auto(_C1, _A1, _B1, SW, want_switch=True)),
    ("auto: switch region, three zero weights", lambda: _auto(_C1, _A0, _B1, SW, want_switch=True)),
    ("auto: switch region, tol 1e-300 (out of reach)", lambda: _auto(CS, AS, BS, SW, tol=1e-300)),
    ("auto: switch region, maxiter=3 (no check)", lambda: _auto(CS, AS, BS, SW, maxiter=3, want_switch=False)),
    ("auto: switch region, maxiter=25", lambda: _auto(CS, AS, BS, SW, maxiter=25)),
    ("auto: switch region, callback stops in the Sinkhorn part", lambda: _auto(CS, AS, BS, SW, callback=_stop_at(10),
                                                                               want_switch=False)),
    ("auto: switch region, callback stops in the SNS part", lambda: _auto(CS, AS, BS, SW, callback=_stop_at(45),
                                                                           want_switch=True)),
    ("auto: switch region, f0 offset by 1e16", lambda: _auto(CS, AS, BS, SW, f0=np.full(90, 1e16))),
    ("auto: switch region, g0 only", lambda: _auto(CS, AS, BS, SW, g0=np.linspace(-1, 1, 80))),
    ("auto: switch region, costs and eps x 1e300", lambda: _auto(CS * 1e300, AS, BS, SW * 1e300)),
    ("auto: switch region, costs and eps x 1e-300", lambda: _auto(CS * 1e-300, AS, BS, SW * 1e-300)),
    ("auto: switch region, float32 C", lambda: _auto(CS.astype(np.float32), AS, BS, SW)),
    ("auto: switch region, numpy backend", lambda: _auto(CS, AS, BS, SW, backend="numpy", want_switch=True)),
    ("auto: switch region, domain='log'", lambda: _auto(CS, AS, BS, SW, domain="log", want_switch=True)),
    ("auto: switch region, domain='kernel'", lambda: _auto(CS, AS, BS, SW, domain="kernel", want_switch=True)),
    ("auto: switch region, a bogus option", lambda: expect_error(
        lambda: __import__("solvers.ot", fromlist=["auto"]).auto(CS, AS, BS, eps=SW, n_sinkhron=5), "n_sinkhron")),
]
