"""Hostile inputs for the kernel-space paths of the entropic OT solvers: ``solvers.ot.sns`` /
``solvers.ot.auto`` / ``solvers.ot.sinkhorn`` with ``domain="kernel" | "auto" | "log"`` (the
Newton stage of SNS in kernel space, :mod:`solvers.ot._sns_kernel`), and the generators
``problems.ot.pairwise_cost`` / ``EntropicOT.from_points`` at odd shapes and dtypes.

Each case returns ``"clear_error"`` (ValueError/TypeError naming the argument), ``"verified"``
or ``"wrong"``. A result is verified when

* it claims convergence and the L1 marginal error of ``P = exp((f + g - C) / eps)``, recomputed
  here from ``C`` (float64) and the returned potentials with SciPy's ``logsumexp``, is within
  ``tol``; zero-weight rows/columns carry no mass; the reported ``cost`` equals ``<P, C>``
  recomputed here; and, where POT converges (moderate eps), the plan matches
  ``ot.sinkhorn_log`` to 1e-6 in L1, and always ``ot.emd2 - slack <= <P, C> <= ot.emd2 +
  eps (log n + log m) + slack``;
* it does not claim convergence, says so in a message, and reports the true error of the
  potentials it returns.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import logsumexp

from solvers import ot as sot

DOMAINS = ("kernel", "auto", "log")


def _named(exc, *needles):
    msg = str(exc).lower()
    return "clear_error" if all(n.lower() in msg for n in needles) else ("wrong", f"unclear: {type(exc).__name__}: {exc}")


def _expect_error(fn, *needles):
    def case():
        try:
            out = fn()
        except (ValueError, TypeError) as exc:
            return _named(exc, *needles)
        except MemoryError as exc:
            return "wrong", f"MemoryError: {exc}"[:300]
        return "wrong", f"accepted: {str(out)[:200]}"
    return case


def _plan_logs(C, f, g, eps):
    """log P on the supported block (float64, from C), rows/cols of positive weight."""
    with np.errstate(all="ignore"):
        return (f[:, None] + g[None, :] - C) / eps


def _pot_plan(C, a, b, eps):
    import ot

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P, log = ot.bregman.sinkhorn_log(a, b, C, eps, numItermax=20000, stopThr=1e-13, log=True)
    err = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()
    return P if err < 1e-10 else None


def _emd2(C, a, b):
    import ot

    s = float(C.min())         # POT's emd2 reports 0 for negative costs: shift (the OT cost is shift-equivariant)
    return (float(ot.emd2(a / a.sum(), b / b.sum(), C - s, numItermax=1_000_000)) + s) * a.sum()


def judge(res, C, a, b, eps, tol, pot=True):
    C = np.asarray(C, dtype=np.float64)
    a, b = np.asarray(a, float), np.asarray(b, float)
    f, g = np.asarray(res.f, float), np.asarray(res.g, float)
    if len(res.message) < 20:
        return "wrong", f"message too short: {res.message!r}"
    if any(len(v) != res.nit + 1 for v in res.history.values()):
        return "wrong", f"history lengths differ from nit + 1 = {res.nit + 1}"
    ia, ib = a > 0, b > 0
    if f.shape != a.shape or g.shape != b.shape:
        return "wrong", f"potentials of shapes {f.shape}, {g.shape} for weights {a.shape}, {b.shape}"
    if not (np.isfinite(f[ia]).all() and np.isfinite(g[ib]).all()):
        err = math.nan
    else:
        Z = _plan_logs(C[np.ix_(ia, ib)], f[ia], g[ib], eps)
        row, col = np.exp(logsumexp(Z, axis=1)), np.exp(logsumexp(Z, axis=0))
        err = float(np.abs(row - a[ia]).sum() + np.abs(col - b[ib]).sum())
    rep = res.extras.get("marginal_error", math.nan)
    if not res.converged:
        if not math.isfinite(err) and not math.isfinite(rep):
            return "verified", f"{res.status}: non-finite, reported as such"
        if math.isfinite(err) and math.isfinite(rep) and abs(rep - err) <= 1e-6 * max(err, rep) + 1e-12:
            return "verified", f"honest {res.status}: reports {rep:.3e} = true {err:.3e}: {res.message[:100]}"
        return "wrong", f"{res.status}: reports {rep!r}, true error {err!r}: {res.message[:200]}"
    if not err <= tol * (1 + 1e-6) + 1e-13:
        return "wrong", f"claims converged; true marginal error {err:.3e} > tol {tol:.1e} ({res.message[:150]})"
    # zero-weight rows/columns: no mass
    with np.errstate(all="ignore"):
        if (~ia).any() and np.any(np.exp(f[~ia]) > 0):
            return "wrong", f"zero-weight rows have potentials {f[~ia]} (mass on them)"
        if (~ib).any() and np.any(np.exp(g[~ib]) > 0):
            return "wrong", f"zero-weight columns have potentials {g[~ib]} (mass on them)"
    P = np.exp(Z)
    Cs = C[np.ix_(ia, ib)]
    if C.size <= 40000 and callable(getattr(res, "plan", None)):
        try:
            PL = np.asarray(res.plan(dense=True), dtype=float)
        except (ValueError, TypeError) as exc:
            return "wrong", f"res.plan(dense=True) raised {type(exc).__name__}: {exc}"
        if PL.shape != C.shape:
            return "wrong", f"res.plan() has shape {PL.shape}, C {C.shape}"
        full = np.zeros(C.shape)
        full[np.ix_(ia, ib)] = P
        dP = float(np.abs(PL - full).sum())
        if not dP <= 1e-9 * max(float(a.sum()), 1e-300):
            return "wrong", f"res.plan() differs from exp((f + g - C) / eps) by {dP:.3g} in L1"
        try:
            SP = res.plan(dense=False, threshold=1e-6)
            SP = np.asarray(SP.toarray(), dtype=float)
        except (ValueError, TypeError) as exc:
            return "wrong", f"res.plan(dense=False) raised {type(exc).__name__}: {exc}"
        if SP.shape != C.shape:
            return "wrong", f"sparse plan shape {SP.shape}, C {C.shape}"
        kept = SP != 0
        rowmax = full.max(axis=1, keepdims=True)
        # entries computed in another order differ by the rounding of (f + g - C) / eps, relative ~ ulp(|f|+|g|+|C|) / eps
        rel = 1e-12 + 8e-16 * (np.abs(f[ia]).max() + np.abs(g[ib]).max() + np.abs(Cs).max()) / eps
        bad = np.abs(SP[kept] - full[kept]) > rel * full[kept]
        if np.any(bad):
            return "wrong", (f"sparse plan entries differ from the dense plan by up to "
                             f"{float(np.max(np.abs(SP[kept] - full[kept]) / full[kept])):.3g} relative (allowed {rel:.3g})")
        dropped = ~kept & (full > 0)
        if np.any(full[dropped] >= 1e-6 * np.broadcast_to(rowmax, full.shape)[dropped] * (1 + 1e-9)):
            return "wrong", "sparse plan dropped entries >= threshold x row maximum"
    cost = float((P * Cs).sum())
    scale = float(np.abs(Cs).max()) if Cs.size else 1.0
    rc = getattr(res, "cost", None) if hasattr(res, "cost") else res.extras.get("cost")
    rc = res.extras.get("cost", rc)
    if rc is not None and not abs(float(rc) - cost) <= 1e-8 * max(abs(cost), 1e-300) + 1e-12 * scale * a.sum():
        return "wrong", f"reported cost {float(rc)!r} != <P, C> recomputed {cost!r}"
    if Cs.size and a[ia].sum() > 0 and Cs.size <= 4000 and scale < 1e200:
        lo = _emd2(Cs, a[ia], b[ib])
        n, m = Cs.shape
        slack = tol * scale + 1e-9 * max(abs(lo), scale)
        hi = lo + eps * a.sum() * (math.log(n) + math.log(m)) + slack
        if not (lo - slack <= cost <= hi):
            return "wrong", f"<P, C> = {cost!r} outside [emd2 - slack, emd2 + eps log(nm) + slack] = [{lo - slack!r}, {hi!r}]"
        if pot and 5e-3 <= eps / max(scale, 1e-300) and a.sum() > 0 and abs(a.sum() - 1) < 1e-12 and Cs.size <= 400:
            Pp = _pot_plan(Cs, a[ia], b[ib], eps)
            if Pp is not None:
                d = float(np.abs(Pp - P).sum())
                if d > 1e-6 + 10 * tol:
                    return "wrong", f"plan differs from POT sinkhorn_log by {d:.3g} in L1"
    return "verified", f"converged, true error {err:.2e}"


def _names(kw, extra):  # kw plus extra names (names= beside a **kw holding names: TypeError at the call)
    return {**kw, "names": tuple(kw.get("names", ())) + tuple(extra)}


def solve(method, C, a, b, eps, *, tol=1e-8, names=(), pot=True, ref_C=None, **kw):
    fn = getattr(sot, method)
    try:
        res = fn(C, a, b, eps=eps, tol=tol, **kw)
    except (ValueError, TypeError) as exc:
        if names and any(nm.lower() in str(exc).lower() for nm in names):
            return "clear_error", str(exc)[:200]
        return "wrong", f"unexpected {type(exc).__name__}: {exc}"
    return judge(res, C if ref_C is None else ref_C, a, b, eps, tol, pot=pot)


def _data(n=6, m=5, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.random((n, m)) * scale, np.full(n, 1.0 / n), np.full(m, 1.0 / m)


def _pts(n, m, d=2, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    return offset + rng.random((n, d)), offset + rng.random((m, d))


def _direct_sq(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


# ------------------------------------------------------------------ generators
def _pairwise_ok(x, y, kind="sqeuclidean", rtol=1e-12, atol_rel=1e-12):
    def case():
        from problems.ot import pairwise_cost

        try:
            C = pairwise_cost(x, y, kind)
        except (ValueError, TypeError) as exc:
            return "wrong", f"valid points refused: {exc}"
        X = np.atleast_2d(np.asarray(x, float))
        Y = np.atleast_2d(np.asarray(y, float))
        ref = _direct_sq(X, Y)
        if kind == "euclidean":
            ref = np.sqrt(ref)
        if C.shape != ref.shape:
            return "wrong", f"shape {C.shape}, expected {ref.shape}"
        err = float(np.max(np.abs(C - ref))) if ref.size else 0.0
        lim = atol_rel * max(float(np.max(ref)) if ref.size else 0.0, 1e-300) + rtol * 0
        if err <= max(lim, 1e-300):
            return "verified"
        return "wrong", (f"pairwise_cost({kind}) off the direct sum((x - y)**2) by {err:.3g} (max cost "
                         f"{float(np.max(ref)):.3g}, relative {err / max(float(np.max(ref)), 1e-300):.3g})")
    return case


def _pairwise_bad(x, y, *needles, kind="sqeuclidean"):
    def fn():
        from problems.ot import pairwise_cost
        return pairwise_cost(x, y, kind)
    return _expect_error(fn, *needles)


def _from_points(x, y, method="sns", domain="kernel", eps=1e-2, tol=1e-8, **kw):
    def case():
        from problems.ot import EntropicOT

        try:
            prob = EntropicOT.from_points(x, y, eps=eps, **kw)
        except (ValueError, TypeError) as exc:
            return "wrong", f"refused: {exc}"
        X = np.asarray(x, float)
        Y = np.asarray(y, float)
        X = X[:, None] if X.ndim == 1 else X
        Y = Y[:, None] if Y.ndim == 1 else Y
        Cref = _direct_sq(X, Y)
        if kw.get("scale") == "max":
            Cref = Cref / Cref.max()
        if not np.allclose(np.asarray(prob.C, float), Cref, rtol=1e-10, atol=1e-12 * max(Cref.max(), 1e-300)):
            return "wrong", f"from_points C off the direct squared distances by {np.abs(prob.C - Cref).max():.3g}"
        res = getattr(sot, method)(prob, tol=tol, **({"domain": domain} if domain else {}))
        return judge(res, Cref, np.asarray(prob.a), np.asarray(prob.b), prob.eps, tol)
    return case


# ------------------------------------------------------------------ cases
CASES = []
C0, A0, B0 = _data()
for _d in DOMAINS:
    for _meth in ("sns", "auto"):
        kw = {"domain": _d, "names": ("domain",) if (_meth, _d) == ("auto", "kernel") else ()}
        CASES += [
            (f"{_meth}[{_d}]: 7x3", lambda m=_meth, k=kw: solve(m, *_data(7, 3, 1), 0.02, **k)),
            (f"{_meth}[{_d}]: 3x7", lambda m=_meth, k=kw: solve(m, *_data(3, 7, 2), 0.02, **k)),
            (f"{_meth}[{_d}]: 1x1", lambda m=_meth, k=kw: solve(m, np.array([[0.7]]), np.ones(1), np.ones(1), 0.01, **k)),
            (f"{_meth}[{_d}]: 1x5", lambda m=_meth, k=kw: solve(m, *_data(1, 5, 3), 0.01, **k)),
            (f"{_meth}[{_d}]: 5x1", lambda m=_meth, k=kw: solve(m, *_data(5, 1, 4), 0.01, **k)),
            (f"{_meth}[{_d}]: 1x1 eps 1e-8",
             lambda m=_meth, k=kw: solve(m, np.array([[3.0]]), np.ones(1), np.ones(1), 1e-8, **k)),
            (f"{_meth}[{_d}]: 40x30 eps 1e-8", lambda m=_meth, k=kw: solve(m, *_data(40, 30, 5), 1e-8, **k)),
            (f"{_meth}[{_d}]: 40x30 eps 1e-4", lambda m=_meth, k=kw: solve(m, *_data(40, 30, 5), 1e-4, **k)),
            (f"{_meth}[{_d}]: 40x30 eps 1e8", lambda m=_meth, k=kw: solve(m, *_data(40, 30, 5), 1e8, **k)),
            (f"{_meth}[{_d}]: 20x20 eps 3e-2", lambda m=_meth, k=kw: solve(m, *_data(20, 20, 6), 3e-2, **k)),
            (f"{_meth}[{_d}]: float32 C 20x15",
             lambda m=_meth, k=kw: (lambda C, a, b: solve(m, C.astype(np.float32), a, b, 0.01,
                                                          ref_C=C.astype(np.float32).astype(float), **k))(
                 *_data(20, 15, 7))),
            (f"{_meth}[{_d}]: Fortran C",
             lambda m=_meth, k=kw: (lambda C, a, b: solve(m, np.asfortranarray(C), a, b, 0.01, ref_C=C, **k))(
                 *_data(12, 9, 8))),
            (f"{_meth}[{_d}]: transposed view C",
             lambda m=_meth, k=kw: (lambda C, a, b: solve(m, C.T, b, a, 0.01, ref_C=np.ascontiguousarray(C.T), **k))(
                 *_data(12, 9, 9))),
            (f"{_meth}[{_d}]: strided view C",
             lambda m=_meth, k=kw: (lambda C: solve(m, C[::2, ::3], np.full(10, .1), np.full(7, 1 / 7), 0.01,
                                                    ref_C=np.ascontiguousarray(C[::2, ::3]), **k))(
                 np.random.default_rng(3).random((20, 21)))),
            (f"{_meth}[{_d}]: integer C",
             lambda m=_meth, k=kw: (lambda C: solve(m, C, np.full(8, 1 / 8), np.full(6, 1 / 6), 0.5,
                                                    ref_C=C.astype(float), **k))(
                 np.random.default_rng(4).integers(0, 20, (8, 6)))),
            (f"{_meth}[{_d}]: uint8 C",
             lambda m=_meth, k=kw: (lambda C: solve(m, C, np.full(8, 1 / 8), np.full(6, 1 / 6), 2.0,
                                                    ref_C=C.astype(float), **k))(
                 np.random.default_rng(4).integers(0, 255, (8, 6)).astype(np.uint8))),
            (f"{_meth}[{_d}]: bool C", lambda m=_meth, k=kw: solve(m, C0 > 0.5, A0, B0, 0.1,
                                                                   ref_C=(C0 > 0.5).astype(float),
                                                                   **_names(k, ("C",)))),
            (f"{_meth}[{_d}]: zero weights",
             lambda m=_meth, k=kw: solve(m, C0, np.array([0.3, 0, 0.3, 0, 0.4, 0]), np.array([0, .25, .25, .25, .25]),
                                         0.01, **k)),
            (f"{_meth}[{_d}]: weights 1e-300",
             lambda m=_meth, k=kw: (lambda a: solve(m, C0, a / a.sum(), B0, 0.01, **k))(
                 np.array([1.0, 1e-300, 1.0, 1.0, 1e-300, 1.0]))),
            (f"{_meth}[{_d}]: weights 1e-300 both sides, eps 1e-3",
             lambda m=_meth, k=kw: (lambda a, b: solve(m, C0, a / a.sum(), b / b.sum(), 1e-3, **k))(
                 np.array([1.0, 1e-300, 1.0, 1.0, 1e-300, 1.0]), np.array([1e-300, 1.0, 1.0, 1e-300, 1.0]))),
            (f"{_meth}[{_d}]: weights spanning 1e-30..1",
             lambda m=_meth, k=kw: (lambda a: solve(m, *_data(30, 30, 11)[:1], a / a.sum(), np.full(30, 1 / 30), 1e-3,
                                                    **k))(10.0 ** -np.random.default_rng(2).uniform(0, 30, 30))),
            (f"{_meth}[{_d}]: weights summing to 3",
             lambda m=_meth, k=kw: solve(m, C0, 3 * A0, 3 * B0, 0.01, **k)),
            (f"{_meth}[{_d}]: weights summing to 1e-200",
             lambda m=_meth, k=kw: solve(m, C0, 1e-200 * A0, 1e-200 * B0, 0.01, tol=1e-210, **_names(k, ("tol", "a")))),
            (f"{_meth}[{_d}]: unequal sums", lambda m=_meth, k=kw: solve(m, C0, A0, 2 * B0, 0.01, **_names(k, ("mass",)))),
            (f"{_meth}[{_d}]: C spanning 1e-300..1e300",
             lambda m=_meth, k=kw: solve(m, 10.0 ** np.random.default_rng(5).uniform(-300, 300, (6, 5)), A0, B0, 1.0,
                                         **k)),
            (f"{_meth}[{_d}]: C = 1e6 + U(0,1) eps 1e-3",
             lambda m=_meth, k=kw: solve(m, 1e6 + _data(10, 10, 12)[0], np.full(10, .1), np.full(10, .1), 1e-3, **k)),
            (f"{_meth}[{_d}]: C huge row (1e200)",
             lambda m=_meth, k=kw: solve(m, np.vstack([C0[:-1], 1e200 + C0[-1:]]), A0, B0, 0.01, **k)),
            (f"{_meth}[{_d}]: negative C", lambda m=_meth, k=kw: solve(m, C0 - 5.0, A0, B0, 0.01, **k)),
            (f"{_meth}[{_d}]: C with NaN",
             lambda m=_meth, k=kw: solve(m, np.where(C0 > 0.8, np.nan, C0), A0, B0, 0.01, **_names(k, ("C",)))),
            (f"{_meth}[{_d}]: C with +inf",
             lambda m=_meth, k=kw: solve(m, np.where(C0 > 0.8, np.inf, C0), A0, B0, 0.01, **_names(k, ("C",)))),
            (f"{_meth}[{_d}]: C with -inf",
             lambda m=_meth, k=kw: solve(m, np.where(C0 > 0.8, -np.inf, C0), A0, B0, 0.01, **_names(k, ("C",)))),
            (f"{_meth}[{_d}]: warm start f0 offset 1e6",
             lambda m=_meth, k=kw: solve(m, *_data(15, 12, 13), 1e-3, f0=np.full(15, 1e6), **k)),
            (f"{_meth}[{_d}]: maxiter=2 honest",
             lambda m=_meth, k=kw: solve(m, *_data(40, 40, 14), 1e-4, maxiter=2, **k)),
        ]

# clustered clouds with tiny eps (kernel rows underflow in float32, scalings leave the window)
def _clusters(k=4, per=15, sigma=1e-3, seed=3):
    rng = np.random.default_rng(seed)
    cx, cy = rng.random((k, 2)), rng.random((k, 2))
    x = np.concatenate([c + sigma * rng.standard_normal((per, 2)) for c in cx])
    y = np.concatenate([c + sigma * rng.standard_normal((per, 2)) for c in cy])
    C = _direct_sq(x, y)
    a = rng.random(k * per) + 0.5
    return C, a / a.sum(), np.full(k * per, 1.0 / (k * per))


def _stop(r):
    raise StopIteration


for _d in DOMAINS:
    for _eps in (1e-3, 1e-5):
        CASES.append((f"sns[{_d}]: clusters eps {_eps:g}",
                      lambda d=_d, e=_eps: solve("sns", *_clusters(), e, domain=d, pot=False)))
    CASES.append((f"sns[{_d}]: eps_scaling=None eps 1e-4",
                  lambda d=_d: solve("sns", *_data(30, 25, 15), 1e-4, domain=d, eps_scaling=None)))
    CASES.append((f"sns[{_d}]: numpy backend 20x15",
                  lambda d=_d: solve("sns", *_data(20, 15, 16), 1e-3, domain=d, backend="numpy")))
    CASES.append((f"sns[{_d}]: callback StopIteration",
                  lambda d=_d: solve("sns", *_data(20, 15, 16), 1e-3, domain=d,
                                     callback=_stop)))

def _auto_kernel_sinkhorn():
    """domain='kernel' is documented for sns; auto forwards it to the routine it picks. When it
    picks sinkhorn (which has no kernel option) the refusal must say that auto chose sinkhorn."""
    try:
        res = sot.auto(C0, A0, B0, eps=10.0, domain="kernel", tol=1e-8)
    except (ValueError, TypeError) as exc:
        return _named(exc, "domain", "sinkhorn")
    return judge(res, C0, A0, B0, 10.0, 1e-8)


# domain option validation
for _bad in ("Kernel", "KERNEL", "exp", "", None, 1, True, ["kernel"]):
    CASES.append((f"sns(domain={_bad!r})", _expect_error(lambda b=_bad: sot.sns(C0, A0, B0, eps=0.01, domain=b),
                                                         "domain")))
CASES += [
    ("sinkhorn(domain='kernel') (only auto/log documented)",
     lambda: solve("sinkhorn", C0, A0, B0, 0.01, domain="kernel", names=("domain",))),
    ("sinkhorn(domain='Log')", _expect_error(lambda: sot.sinkhorn(C0, A0, B0, eps=0.01, domain="Log"), "domain")),
    ("auto(domain='kernel') choosing sinkhorn (large eps): the error says why", _auto_kernel_sinkhorn),
    ("auto(domain='kernel') choosing sns (small eps)", lambda: solve("auto", *_data(20, 20, 17), 1e-5, domain="kernel")),
    ("auto(domain='bogus')", _expect_error(lambda: sot.auto(C0, A0, B0, eps=1e-5, domain="bogus"), "domain")),
    ("sinkhorn[log]: 1x1 eps 1e-8", lambda: solve("sinkhorn", np.array([[2.0]]), np.ones(1), np.ones(1), 1e-8,
                                                 domain="log")),
    ("sinkhorn[auto]: 1x5 float32", lambda: (lambda C, a, b: solve("sinkhorn", C.astype(np.float32), a, b, 0.05,
                                                                   ref_C=C.astype(np.float32).astype(float)))(
        *_data(1, 5, 18))),
    ("sinkhorn[auto]: zero weights", lambda: solve("sinkhorn", C0, np.array([0.5, 0, 0, 0, 0.5, 0]), B0, 0.05)),
    ("sinkhorn[auto]: eps 1e8", lambda: solve("sinkhorn", C0, A0, B0, 1e8)),
    ("sns: float32 C with 2**20 entries, domain kernel",
     lambda: (lambda C: solve("sns", C, np.full(1024, 1 / 1024), np.full(1024, 1 / 1024), 1e-2, domain="kernel",
                              ref_C=C.astype(float), pot=False))(
         np.random.default_rng(19).random((1024, 1024)).astype(np.float32))),
    # generators
    ("pairwise_cost 1x1", _pairwise_ok(np.array([[0.3, 0.1]]), np.array([[0.9, -0.4]]))),
    ("pairwise_cost 1xn", _pairwise_ok(np.array([[0.3]]), np.linspace(0, 1, 7)[:, None])),
    ("pairwise_cost nx1 euclidean", _pairwise_ok(np.linspace(0, 1, 7)[:, None], np.array([[0.3]]), "euclidean")),
    ("pairwise_cost float32", _pairwise_ok(*[p.astype(np.float32) for p in _pts(5, 4)], atol_rel=1e-12)),
    ("pairwise_cost int", _pairwise_ok(np.array([[0, 1], [2, 3]]), np.array([[1, 1], [5, -2], [0, 0]]))),
    ("pairwise_cost Fortran", _pairwise_ok(np.asfortranarray(_pts(6, 5, 3)[0]), _pts(6, 5, 3)[1])),
    ("pairwise_cost offset 1e4 (cancellation)", _pairwise_ok(*_pts(6, 5, offset=1e4), atol_rel=1e-6)),
    ("pairwise_cost offset 1e8 (cancellation)", _pairwise_ok(*_pts(6, 5, offset=1e8), atol_rel=1e-6)),
    ("pairwise_cost offset 1e8, euclidean", _pairwise_ok(*_pts(6, 5, offset=1e8), "euclidean", atol_rel=1e-6)),
    ("pairwise_cost offset 1e8 in one coordinate only",
     _pairwise_ok(*(lambda x, y: (x + [1e8, 0.0], y + [1e8, 0.0]))(*_pts(6, 5, seed=3)), atol_rel=1e-6)),
    ("pairwise_cost clouds 1e8 apart", _pairwise_ok(_pts(6, 5)[0], _pts(6, 5)[1] + 1e8, atol_rel=1e-12)),
    ("pairwise_cost offset 1e150 (squares near overflow)", _pairwise_ok(*_pts(4, 3, offset=1e150), atol_rel=1e-6)),
    ("pairwise_cost float32 offset 1e4", _pairwise_ok(*[p.astype(np.float32) for p in _pts(6, 5, offset=1e4)],
                                                      atol_rel=1e-6)),
    ("pairwise_cost 1x1 offset 1e12", _pairwise_ok(np.array([[1e12 + 0.5]]), np.array([[1e12 + 0.25]]),
                                                  atol_rel=1e-3)),
    ("pairwise_cost identical points euclidean", _pairwise_ok(np.full((3, 2), 0.1), np.full((2, 2), 0.1),
                                                              "euclidean")),
    ("pairwise_cost NaN", _pairwise_bad(np.array([[np.nan, 0.0]]), np.zeros((2, 2)), "x")),
    ("pairwise_cost d mismatch", _pairwise_bad(np.zeros((2, 2)), np.zeros((2, 3)), "d")),
    ("pairwise_cost empty x", _pairwise_ok(np.zeros((0, 2)), np.zeros((2, 2)))),
    ("pairwise_cost 1-D x", _pairwise_bad(np.zeros(3), np.zeros((2, 3)), "x")),
    ("pairwise_cost kind", _pairwise_bad(np.zeros((2, 2)), np.zeros((2, 2)), "kind", kind="cosine")),
    ("from_points 1x1", _from_points(np.array([[0.2, 0.3]]), np.array([[0.4, 0.1]]))),
    ("from_points 1-D clouds 1x6", _from_points(np.array([0.5]), np.linspace(0, 1, 6))),
    ("from_points 9x4 log", _from_points(*_pts(9, 4, seed=2), domain="log")),
    ("from_points 9x4 auto method", _from_points(*_pts(9, 4, seed=2), method="auto", domain=None, eps=1e-4)),
    ("from_points float32", _from_points(*[p.astype(np.float32) for p in _pts(8, 6, seed=4)], domain="kernel")),
    ("from_points scale=max", _from_points(*_pts(8, 6, seed=5), scale="max", eps=1e-3)),
    ("from_points offset 1e8 (cancellation)", _from_points(*_pts(8, 6, seed=6, offset=1e8), eps=1e-2)),
    ("from_points weights zeros", _from_points(*_pts(5, 4, seed=7), a=np.array([0.5, 0, 0.5, 0, 0]),
                                               b=np.array([0.25] * 4))),
]

# ------------------------------------------------------------------ the kernel Newton stage at its thresholds
# tol around the float32 switch (FLOAT32_UNTIL = 1e-5): a claim made while still in float32 must hold in float64
_CL = None


def _cl():
    global _CL
    if _CL is None:
        _CL = _clusters(k=5, per=20, sigma=1e-2, seed=8)
    return _CL


def _kernel_stats(res_fn, C, a, b, eps, tol):
    def case():
        try:
            res = res_fn()
        except (ValueError, TypeError) as exc:
            return "wrong", f"{type(exc).__name__}: {exc}"
        out = judge(res, C, a, b, eps, tol, pot=False)
        if out[0] == "verified" and res.stats.get("newton_kernel_iterations", 0) == 0 and res.stats.get(
                "newton_steps", 0) > 0:
            return "verified", out[1] + " (note: no kernel-space Newton iteration ran)"
        return out
    return case


for _tol in (1e-4, 5e-5, 1.1e-5, 1e-5, 9.9e-6, 1e-7, 1e-12, 1e-14):
    CASES.append((f"sns[kernel]: clusters 100x100 eps 1e-3 tol {_tol:g}",
                  lambda t=_tol: _kernel_stats(lambda: sot.sns(*_cl(), eps=1e-3, tol=t, domain="kernel"),
                                               *_cl(), 1e-3, t)()))
_KOPTS = [{"kmax": 1}, {"rho": 0.999}, {"rho": 1e-300}, {"polish": False}, {"cg_maxiter": 1}, {"mu0": 1e12},
          {"cg_rtol": 1e-14}, {"n_fallback": 1}, {"switch_tol": 1e-12}, {"max_sinkhorn": 1, "n_sinkhorn": 1},
          {"eps_scaling": 0.9}, {"eps_start": 1e-12}]
for _kw in _KOPTS:
    CASES.append((f"sns[kernel]: clusters eps 1e-4 {_kw}",
                  lambda kw=_kw: _kernel_stats(lambda: sot.sns(*_cl(), eps=1e-4, tol=1e-8, domain="kernel", **kw),
                                               *_cl(), 1e-4, 1e-8)()))
CASES += [
    ("sns[kernel]: weights spanning 1e-6..1 (scalings at the window edge)",
     lambda: (lambda a: _kernel_stats(lambda: sot.sns(_cl()[0], a, _cl()[2], eps=1e-3, tol=1e-8, domain="kernel"),
                                      _cl()[0], a, _cl()[2], 1e-3, 1e-8)())(
         (lambda w: w / w.sum())(10.0 ** -np.random.default_rng(4).uniform(0, 6, 100)))),
    ("sns[kernel]: weights spanning 1e-12..1",
     lambda: (lambda a: _kernel_stats(lambda: sot.sns(_cl()[0], a, _cl()[2], eps=1e-3, tol=1e-8, domain="kernel"),
                                      _cl()[0], a, _cl()[2], 1e-3, 1e-8)())(
         (lambda w: w / w.sum())(10.0 ** -np.random.default_rng(5).uniform(0, 12, 100)))),
    ("sns[kernel]: C scaled 1e-200, eps 1e-203",
     lambda: _kernel_stats(lambda: sot.sns(_cl()[0] * 1e-200, _cl()[1], _cl()[2], eps=1e-203, tol=1e-8,
                                           domain="kernel"), _cl()[0] * 1e-200, _cl()[1], _cl()[2], 1e-203, 1e-8)()),
    ("sns[kernel]: C scaled 1e200, eps 1e197",
     lambda: _kernel_stats(lambda: sot.sns(_cl()[0] * 1e200, _cl()[1], _cl()[2], eps=1e197, tol=1e-8,
                                           domain="kernel"), _cl()[0] * 1e200, _cl()[1], _cl()[2], 1e197, 1e-8)()),
    ("sns[kernel]: float32 C of clusters",
     lambda: _kernel_stats(lambda: sot.sns(_cl()[0].astype(np.float32), _cl()[1], _cl()[2], eps=1e-3, tol=1e-8,
                                           domain="kernel"), _cl()[0].astype(np.float32).astype(float), _cl()[1],
                           _cl()[2], 1e-3, 1e-8)()),
    ("sns[kernel]: warm start g0 at the solution of another eps",
     lambda: (lambda r: _kernel_stats(lambda: sot.sns(*_cl(), eps=1e-4, tol=1e-9, g0=r.g, domain="kernel"),
                                      *_cl(), 1e-4, 1e-9)())(sot.sns(*_cl(), eps=1e-2, tol=1e-9))),
    ("sns[kernel]: row of C constant", lambda: (lambda C: _kernel_stats(
        lambda: sot.sns(C, _cl()[1], _cl()[2], eps=1e-3, tol=1e-8, domain="kernel"), C, _cl()[1], _cl()[2], 1e-3,
        1e-8)())(np.vstack([_cl()[0][:-1], np.full((1, 100), 0.5)]))),
]


# ------------------------------------------------------------------ float32 C of 2**20 entries (no float64 copy) with odd weights
def _big32(seed=19, n=1024, m=1024):
    rng = np.random.default_rng(seed)
    return rng.random((n, m)).astype(np.float32)


def _w(n, seed, zeros=0, tiny=0):
    rng = np.random.default_rng(seed)
    w = rng.random(n) + 0.1
    w[rng.choice(n, zeros + tiny, replace=False)[:zeros]] = 0.0
    if tiny:
        w[np.nonzero(w)[0][:tiny]] = 1e-300
    return w / w.sum()


CASES += [
    (f"{_m}[{_d}]: float32 C 1024x1024, zero and 1e-300 weights",
     lambda m=_m, d=_d: (lambda C, a, b: solve(m, C, a, b, 5e-3, domain=d, ref_C=C.astype(float), pot=False))(
         _big32(), _w(1024, 1, zeros=30, tiny=5), _w(1024, 2, zeros=7)))
    for _m, _d in (("sinkhorn", "auto"), ("sns", "kernel"), ("auto", "auto"))
]


# ------------------------------------------------------------------ the Schur product's kernel set, called directly (helper-122)
def _schur_csr():
    import scipy.sparse as sps
    r = np.random.default_rng(29)
    P = (r.random((300, 250)) < 0.4) * r.random((300, 250))
    Pc = sps.csr_matrix(P)
    return P, (Pc.indptr.astype(np.int64), Pc.indices.astype(np.int32), Pc.data.copy())


def _schur_into_x(parallel, scatter):
    """``out`` is ``x`` itself: the product must still be ``dcol x - P^T (inv_drow (P x))`` (dense reference)."""
    from solvers._kernels.numba import ot as K

    P, csr = _schur_csr()
    saved = K.SCHUR_PARALLEL_NNZ, K.SCHUR_SCATTER_NNZ, K.SCHUR_MIN_CHUNKS
    K.SCHUR_PARALLEL_NNZ = 0 if parallel else 10 ** 9
    K.SCHUR_SCATTER_NNZ, K.SCHUR_MIN_CHUNKS = (0, 1) if scatter else (10 ** 9, 4)
    try:
        r = np.random.default_rng(30)
        dcol, inv_drow, x = r.uniform(1, 2, 250), r.uniform(1, 2, 300), r.standard_normal(250)
        want = dcol * x - P.T @ (inv_drow * (P @ x))
        got = K.schur_matvec(K.schur_prepare(csr, P.shape), dcol, inv_drow, x, x)
    finally:
        K.SCHUR_PARALLEL_NNZ, K.SCHUR_SCATTER_NNZ, K.SCHUR_MIN_CHUNKS = saved
    err = float(np.abs(got - want).max() / np.abs(want).max())
    return "verified" if err < 1e-13 else ("wrong", f"out is x: relative error {err:.1e}")


def _schur_bad(fix):
    from solvers._kernels.numba import ot as K

    P, (indptr, indices, data) = _schur_csr()
    return lambda: K.schur_prepare(fix(indptr.copy(), indices.copy(), data.copy()), P.shape)


def _swap_rows(p, i, d):
    p[5], p[6] = p[6], p[5]                 # a decreasing indptr
    return p, i, d


CASES += [(f"schur_matvec out is x ({'parallel' if _p else 'serial'}, {'scatter' if _s else 'gather'})",
           lambda p=_p, s=_s: _schur_into_x(p, s)) for _p, _s in ((False, False), (True, False), (True, True))]
CASES += [
    ("schur_prepare: decreasing indptr", _expect_error(_schur_bad(_swap_rows), "indptr")),
    ("schur_prepare: indptr not from 0", _expect_error(_schur_bad(lambda p, i, d: (p + 1, i, d)), "indptr")),
    ("schur_prepare: float column indices", _expect_error(_schur_bad(lambda p, i, d: (p, i + 0.5, d)), "indices")),
    ("schur_prepare: complex plan values", _expect_error(_schur_bad(lambda p, i, d: (p, i, d + 0j)), "data")),
    ("schur_prepare: column index = m", _expect_error(_schur_bad(lambda p, i, d: (p, np.where(i == i.max(), 250, i)
                                                                                 .astype(np.int32), d)), "column")),
]
