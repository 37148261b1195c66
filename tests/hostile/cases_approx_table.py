"""Hostile inputs for the table evaluation route of the Chebyshev-Tucker format:
``solvers.chebtucker(..., eval_method="table" | "auto" | "chebyshev")``, ``ChebTucker.eval_route``,
``ChebTucker.table_info`` and the ``"table"`` entry of ``error_estimate``.

``CASES = [(name, callable)]``; each callable returns

* ``"clear_error"``: a ValueError/TypeError naming the argument at fault;
* ``"verified"``: values or gradients checked against the function itself (analytic), with the
  accuracy the object claims (``error_estimate()["total"]``) or a stated tolerance;
* ``"wrong"``: anything else (an error estimate far below the measured error without a
  warning, a "bound" below the measured error, a MemoryError, an unclear error).
"""
from __future__ import annotations

import math
import pickle
import warnings

import numpy as np

from solvers.approx.chebtucker import ChebTucker, chebtucker

ROUTES = ("table", "auto", "chebyshev")


def _named(exc, *needles):
    msg = str(exc).lower()
    return "clear_error" if all(n.lower() in msg for n in needles) else ("wrong", f"unclear: {exc}")


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


# ------------------------------------------------------------------ functions (module level: picklable)
def f_exp2(p):
    return np.exp(p[:, 0] + 0.5 * p[:, 1])


def g_exp2(p):
    e = np.exp(p[:, 0] + 0.5 * p[:, 1])
    return np.stack([e, 0.5 * e], axis=1)


def f_sep3(p):
    return np.sin(3 * p[:, 0]) * np.cos(2 * p[:, 1]) * (1.0 + p[:, 2] ** 2)


def g_sep3(p):
    s, c = np.sin(3 * p[:, 0]), np.cos(2 * p[:, 1])
    w = 1.0 + p[:, 2] ** 2
    return np.stack([3 * np.cos(3 * p[:, 0]) * c * w, -2 * s * np.sin(2 * p[:, 1]) * w, s * c * 2 * p[:, 2]], axis=1)


def f_runge(p):
    return 1.0 / (1.0 + 25.0 * p[:, 0] ** 2) + 0.0 * p[:, 1]


def f_poly1(p):
    return 2.0 * p[:, 0] - 3.0 * p[:, 1] + 0.5


def f_poly2(p):
    return p[:, 0] ** 2 - p[:, 0] * p[:, 1] + 3.0


def f_poly3(p):
    return p[:, 0] ** 3 - 2.0 * p[:, 1] ** 3 + p[:, 0] * p[:, 1] ** 2


def f_sign(p):
    return np.sign(p[:, 0] - 0.3) + 0.1 * p[:, 1]


def f_kink(p):
    return np.abs(p[:, 0] - 0.3) * np.exp(p[:, 1])


def f_step_small(p):                       # a jump of 1e-3 on a smooth background
    return np.exp(p[:, 0]) + 1e-3 * (p[:, 1] > 0.1)


def f_nan(p):
    out = np.exp(p[:, 0])
    out[len(out) // 3] = np.nan
    return out


def f_zero(p):
    return np.zeros(p.shape[0])


def f_const(p):
    return np.full(p.shape[0], -4.25)


def f_1d(p):
    return np.sin(5 * p[:, 0]) + p[:, 0]


def g_1d(p):
    return (5 * np.cos(5 * p[:, 0]) + 1.0)[:, None]


def f_fast1d(p):
    return np.sin(50 * p[:, 0])


class Scaled:
    def __init__(self, s):
        self.s = s

    def __call__(self, p):
        return self.s * np.exp(p[:, 0] - p[:, 1])

    def grad(self, p):
        e = self.s * np.exp(p[:, 0] - p[:, 1])
        return np.stack([e, -e], axis=1)


class CP:
    """``sum_r w_r prod_i exp(-a_r (x_i - c_ri)^2)`` with ``cp_factors`` (no grid sampling)."""

    def __init__(self, R=3, d=3, seed=0):
        rng = np.random.default_rng(seed)
        self.w, self.a, self.c, self.d = rng.standard_normal(R), rng.uniform(0.5, 2.0, R), rng.uniform(-1, 1, (d, R)), d

    def cp_factors(self, nodes):
        return self.w, [np.exp(-self.a[None, :] * (x[:, None] - self.c[i][None, :]) ** 2) for i, x in enumerate(nodes)]

    def __call__(self, p):
        t = np.ones((p.shape[0], 1)) * self.w[None, :]
        for i in range(self.d):
            t = t * np.exp(-self.a[None, :] * (p[:, i:i + 1] - self.c[i][None, :]) ** 2)
        return t.sum(axis=1)


D2 = [(0.0, 1.0), (-1.0, 1.0)]
D3 = [(-1.0, 1.0), (0.0, 2.0), (-0.5, 0.5)]


def _box(dom, n, seed=1, corners=True):
    rng = np.random.default_rng(seed)
    dom = np.asarray(dom, float)
    pts = dom[:, 0] + (dom[:, 1] - dom[:, 0]) * rng.random((n, dom.shape[0]))
    if corners:
        d = dom.shape[0]
        c = np.array(np.meshgrid(*[[0, 1]] * d, indexing="ij")).reshape(d, -1).T
        pts[:c.shape[0]] = dom[np.arange(d), c]
    return pts


def _build(f, dom, em, **kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ct = chebtucker(f, dom, eval_method=em, **kw)
    return ct, [str(x.message) for x in w]


def _claims(ct, f, dom, n=4000, slack=10.0, floor=1e-14, warned=()):
    """True max error at random points and the box corners against ``slack x error_estimate()['total']``
    (plus a rounding floor relative to the function's scale)."""
    X = _box(dom, n)
    ref = f(X)
    scale = max(float(np.max(np.abs(ref))), 1e-300)
    err = float(np.max(np.abs(np.asarray(ct(X)) - ref)))
    est = ct.error_estimate()
    if not all(math.isfinite(v) and v >= 0 for v in est.values()):
        return "wrong", f"error_estimate not finite/non-negative: {est}"
    lim = slack * est["total"] + floor * scale
    if err <= lim:
        return "verified", f"route {ct.eval_route}: true {err:.3g} <= {slack:g} x est {est['total']:.3g}"
    if warned:
        return "verified", f"true {err:.3g} > est {est['total']:.3g}, but a warning was given: {warned[0][:100]}"
    return "wrong", (f"route {ct.eval_route}: true max error {err:.3g} vs error_estimate total {est['total']:.3g} "
                     f"({err / max(est['total'], 1e-300):.3g}x) with no warning; est = {est}")


def _route_case(f, dom, em, **kw):
    def case():
        ct, w = _build(f, dom, em, **kw)
        if em in ("table", "chebyshev") and ct.eval_route != em and not w:
            return "wrong", f"eval_method={em!r} but eval_route {ct.eval_route!r} with no warning"
        info = ct.table_info()
        if (info is None) != (ct.eval_route == "chebyshev"):
            return "wrong", f"table_info {info} inconsistent with eval_route {ct.eval_route}"
        if info is not None:
            if not info["f_bound"] >= info["f_error"]:
                return "wrong", f"table_info f_bound {info['f_bound']!r} below the measured f_error {info['f_error']!r}"
            if abs(ct.error_estimate()["table"] - info["f_error"]) > 0:
                return "wrong", "error_estimate()['table'] != table_info()['f_error']"
        return _claims(ct, f, dom, warned=w)
    return case


def _exact_poly(f, deg, em):
    """A polynomial of degree <= deg is reproduced to rounding by every route."""
    def case():
        ct, _ = _build(f, D2, em, degree=deg, tol=1e-14)
        X = _box(D2, 500)
        err = float(np.max(np.abs(np.asarray(ct(X)) - f(X))))
        return "verified" if err < 1e-12 else ("wrong", f"degree-{deg} polynomial off by {err:.3g} ({ct.eval_route})")
    return case


# ------------------------------------------------------------------ points
_CT = {}


def _ct(em="table"):
    if em not in _CT:
        _CT[em] = chebtucker(f_exp2, D2, degree=40, tol=1e-10, eval_method=em)
    return _CT[em]


def _pts_ok(pts_fn, rtol=1e-10, grad=False, shape=None):
    def case():
        ct = _ct()
        if ct.eval_route != "table":
            return "wrong", f"set-up: route {ct.eval_route}"
        pts = pts_fn()
        try:
            got = np.asarray(ct.gradient(pts) if grad else ct(pts))
        except (ValueError, TypeError) as exc:
            return "wrong", f"valid points refused: {exc}"
        P = np.atleast_2d(np.asarray(pts, dtype=np.float64))
        ref = (g_exp2 if grad else f_exp2)(P)
        if shape is not None and got.shape != shape:
            return "wrong", f"shape {got.shape}, expected {shape}"
        if ref.size == 0:
            return "verified" if got.size == 0 else ("wrong", f"empty input gave {got.shape}")
        err = float(np.max(np.abs(got - ref))) / float(np.max(np.abs(ref)))
        return "verified" if err <= rtol else ("wrong", f"relative error {err:.3g} > {rtol}")
    return case


def _pts_bad(pts_fn, *needles, grad=False):
    return _expect_error(lambda: (_ct().gradient if grad else _ct())(pts_fn()), *needles)


def _near_ends():
    """Points within 1e-16..1e-6 of the box faces (arccos is ill-conditioned at t = +-1)."""
    off = np.array([0.0, 1e-16, 1e-15, 1e-13, 1e-10, 1e-8, 1e-6])
    x = np.concatenate([off, 1.0 - off])
    y = np.concatenate([-1.0 + off, 1.0 - off])
    return np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2)


def _slack_outside():
    """Within the documented 1e-12 relative slack outside the box: accepted, extrapolated by a hair."""
    e = 0.5e-12
    return np.array([[1.0 + e, 1.0 + 2 * e], [-e, -1.0 - 2 * e], [1.0 + e, 0.0]])


def _huge_n():
    ct = _ct()
    X = _box(D2, 400_000, seed=5)
    v = np.asarray(ct(X))
    idx = np.random.default_rng(0).choice(X.shape[0], 5000, replace=False)
    err = float(np.max(np.abs(v[idx] - f_exp2(X[idx])))) / math.exp(1.5)
    return "verified" if v.shape == (400_000,) and err < 1e-10 else ("wrong", f"err {err:.3g}, shape {v.shape}")


# ------------------------------------------------------------------ gradients
def _grad_case(f, g, dom, em, **kw):
    def case():
        ct, w = _build(f, dom, em, **kw)
        X = _box(dom, 3000, seed=7)
        G = np.asarray(ct.gradient(X))
        ref = g(X)
        err = float(np.max(np.abs(G - ref))) / float(np.max(np.abs(ref)))
        est = ct.error_estimate()["total"] / float(np.max(np.abs(f(X))))
        # derivative error of a degree-m interpolant: up to ~m^2 x the value error; allow 1e4 x est + 1e-11
        lim = max(1e4 * est, 1e-11)
        return "verified" if err <= lim else ("wrong", f"gradient ({ct.eval_route}) rel error {err:.3g} > {lim:.3g}")
    return case


# ------------------------------------------------------------------ scale
def _scaled(s, em="table"):
    def case():
        fn = Scaled(s)
        dom = [(0.0, 1.0), (0.0, 1.0)]
        try:
            ct, w = _build(fn, dom, em, degree=20, tol=1e-10)
        except (ValueError, TypeError) as exc:
            return _named(exc, "scale") if "scale" in str(exc).lower() else _named(exc, "f")
        X = _box(dom, 500)
        ref = fn(X)
        err = float(np.max(np.abs(np.asarray(ct(X)) - ref) / np.abs(ref)))
        if not err < 1e-9:
            return "wrong", f"scale {s:g} ({ct.eval_route}): relative error {err:.3g}"
        G = np.asarray(ct.gradient(X))
        gerr = float(np.max(np.abs(G - fn.grad(X)) / np.abs(fn.grad(X))))
        if not gerr < 1e-7:
            return "wrong", f"scale {s:g} ({ct.eval_route}): gradient relative error {gerr:.3g}"
        info = ct.table_info()
        if info is not None:
            if not (info["f_bound"] >= info["f_error"]):
                return "wrong", (f"scale {s:g}: table_info f_bound = {info['f_bound']!r} < measured f_error = "
                                 f"{info['f_error']!r} (a bound below the measured error)")
            if not math.isfinite(info["f_bound"]):
                return "wrong", f"scale {s:g}: table_info f_bound = {info['f_bound']!r} (overflow in the bound)"
        est = ct.error_estimate()
        if not all(math.isfinite(v) for v in est.values()):
            return "wrong", f"scale {s:g}: error_estimate not finite: {est}"
        if est["total"] > 1e-6 * abs(s):
            return "wrong", f"scale {s:g}: error_estimate total {est['total']:.3g} vs scale (claims less than it has?)"
        return "verified"
    return case


# ------------------------------------------------------------------ persistence and algebra
def _pickle_case():
    ct = chebtucker(f_sep3, D3, degree=24, tol=1e-10, eval_method="table")
    X = _box(D3, 800)
    v = np.asarray(ct(X))
    again = pickle.loads(pickle.dumps(ct))
    if again.eval_route != ct.eval_route:
        return "wrong", f"route {ct.eval_route} -> {again.eval_route} after pickling"
    v2 = np.asarray(again(X))
    err = float(np.max(np.abs(v2 - f_sep3(X))))
    if err > 10 * again.error_estimate()["total"] + 1e-13:
        return "wrong", f"after pickling: error {err:.3g}"
    g2 = np.asarray(again.gradient(X))
    gerr = float(np.max(np.abs(g2 - g_sep3(X)))) / float(np.max(np.abs(g_sep3(X))))
    return "verified" if gerr < 1e-8 else ("wrong", f"gradient after pickling: {gerr:.3g}")


def _runstore_case():
    import tempfile
    from pathlib import Path

    from solvers.runs import RunStore

    ct = chebtucker(f_exp2, D2, degree=40, tol=1e-10, eval_method="table")
    X = _box(D2, 500)
    with tempfile.TemporaryDirectory() as tmp:
        with RunStore(Path(tmp) / "runs.h5") as store:
            stored = store.load(store.save(ct.to_result()))
        back = ChebTucker.from_result(stored)
    if back.eval_method != "table" or back.eval_route != "table":
        return "wrong", f"RunStore round trip: eval_method {back.eval_method}, route {back.eval_route}"
    err = float(np.max(np.abs(np.asarray(back(X)) - f_exp2(X)))) / math.exp(1.5)
    gerr = float(np.max(np.abs(np.asarray(back.gradient(X)) - g_exp2(X)))) / math.exp(1.5)
    return "verified" if err < 1e-10 and gerr < 1e-8 else ("wrong", f"after RunStore: {err:.3g}, grad {gerr:.3g}")


def _result_other_backend():
    ct = chebtucker(f_exp2, D2, degree=40, tol=1e-10, eval_method="table")
    back = ChebTucker.from_result(pickle.loads(pickle.dumps(ct.to_result())), backend="numpy")
    X = _box(D2, 300)
    err = float(np.max(np.abs(np.asarray(back(X)) - f_exp2(X)))) / math.exp(1.5)
    return "verified" if err < 1e-10 else ("wrong", f"numpy backend after from_result: {err:.3g} ({back.eval_route})")


def _algebra():
    a = chebtucker(f_exp2, D2, degree=40, tol=1e-10, eval_method="table")
    b = chebtucker(f_poly2, D2, degree=4, tol=1e-12, eval_method="chebyshev")
    X = _box(D2, 600)
    checks = {"a+b": (a + b, f_exp2(X) + f_poly2(X)), "b+a": (b + a, f_exp2(X) + f_poly2(X)),
              "2.5*a": (a * 2.5, 2.5 * f_exp2(X)), "-a": (-a, -f_exp2(X)), "a-1": (a - 1.0, f_exp2(X) - 1.0),
              "trunc": (a.truncate(1e-6), f_exp2(X))}
    for name, (c, ref) in checks.items():
        err = float(np.max(np.abs(np.asarray(c(X)) - ref))) / float(np.max(np.abs(ref)))
        lim = 1e-5 if name == "trunc" else 1e-9
        if err > lim:
            return "wrong", f"{name} ({c.eval_route}): rel error {err:.3g}"
        if c.eval_route == "table":
            info = c.table_info()
            if not info["f_bound"] >= info["f_error"]:
                return "wrong", f"{name}: f_bound < f_error"
    return "verified"


def _from_values_table():
    m = 33
    nodes = ChebTucker.nodes(D2, m - 1)
    V = f_exp2(np.stack(np.meshgrid(*nodes, indexing="ij"), axis=-1).reshape(-1, 2)).reshape(m, m)
    ct = ChebTucker.from_values(V, D2, tol=1e-12, eval_method="table")
    X = _box(D2, 400)
    err = float(np.max(np.abs(np.asarray(ct(X)) - f_exp2(X)))) / math.exp(1.5)
    return "verified" if err < 1e-10 else ("wrong", f"from_values table: {err:.3g} ({ct.eval_route})")


def _from_cp_table():
    f = CP(R=4, d=3, seed=2)
    dom = [(-1.0, 1.0)] * 3
    ct = ChebTucker.from_cp(f, dom, degree=30, tol=1e-10, eval_method="table")
    return _claims(ct, f, dom, n=1500)


def _no_table_reaches():
    """1-D degree 40000: the grid would exceed MAX_GRID; documented: a RuntimeWarning and the
    Chebyshev sums, values still right."""
    try:
        ct, w = _build(f_fast1d, [(-1.0, 1.0)], "table", degree=40000, tol=1e-12)
    except (ValueError, TypeError) as exc:
        return _named(exc, "degree")
    X = _box([(-1.0, 1.0)], 2000)
    err = float(np.max(np.abs(np.asarray(ct(X)) - f_fast1d(X))))
    if err > 1e-10:
        return "wrong", f"error {err:.3g} ({ct.eval_route})"
    if ct.eval_route == "table":
        return _claims(ct, f_fast1d, [(-1.0, 1.0)])
    return "verified" if w else ("wrong", "eval_method='table' silently fell back to the Chebyshev route")


# ------------------------------------------------------------------ cases
CASES = []
for _em in ROUTES:
    CASES += [
        (f"{_em}: exp2 deg 40 tol 1e-10", _route_case(f_exp2, D2, _em, degree=40, tol=1e-10)),
        (f"{_em}: sep3 deg 24", _route_case(f_sep3, D3, _em, degree=24, tol=1e-10)),
        (f"{_em}: sep3 auto degree", _route_case(f_sep3, D3, _em, tol=1e-9)),
        (f"{_em}: runge deg 120", _route_case(f_runge, [(-1.0, 1.0), (0.0, 1.0)], _em, degree=(120, 2), tol=1e-9)),
        (f"{_em}: 1-D sin deg 64", _route_case(f_1d, [(-2.0, 3.0)], _em, degree=64, tol=1e-11)),
        (f"{_em}: degree 1 linear", _exact_poly(f_poly1, 1, _em)),
        (f"{_em}: degree 2 quadratic", _exact_poly(f_poly2, 2, _em)),
        (f"{_em}: degree 3 cubic", _exact_poly(f_poly3, 3, _em)),
        (f"{_em}: degree 1 on exp (under-resolved)", _route_case(f_exp2, D2, _em, degree=1, tol=1e-10)),
        (f"{_em}: degree 2 on sep3 (under-resolved)", _route_case(f_sep3, D3, _em, degree=2, tol=1e-10)),
        (f"{_em}: tol 1e-16", _route_case(f_exp2, D2, _em, degree=30, tol=1e-16)),
        (f"{_em}: tol 0.5", _route_case(f_exp2, D2, _em, degree=30, tol=0.5)),
        (f"{_em}: tol 0.5 sep3", _route_case(f_sep3, D3, _em, degree=24, tol=0.5)),
        (f"{_em}: zero function", _route_case(f_zero, D2, _em, degree=8)),
        (f"{_em}: constant function", _route_case(f_const, D2, _em, degree=8)),
        (f"{_em}: jump sign, deg 30", _route_case(f_sign, D2, _em, degree=30, tol=1e-8)),
        (f"{_em}: jump sign, deg 3", _route_case(f_sign, D2, _em, degree=3, tol=1e-8)),
        (f"{_em}: jump sign, auto degree", _route_case(f_sign, D2, _em, tol=1e-8)),
        (f"{_em}: small jump 1e-3, deg 40", _route_case(f_step_small, D2, _em, degree=40, tol=1e-10)),
        (f"{_em}: kink |x|, deg 80", _route_case(f_kink, D2, _em, degree=80, tol=1e-8)),
        (f"{_em}: grad exp2", _grad_case(f_exp2, g_exp2, D2, _em, degree=40, tol=1e-10)),
        (f"{_em}: grad sep3", _grad_case(f_sep3, g_sep3, D3, _em, degree=30, tol=1e-11)),
        (f"{_em}: grad 1-D", _grad_case(f_1d, g_1d, [(-2.0, 3.0)], _em, degree=64, tol=1e-11)),
        (f"{_em}: NaN function", _expect_error(lambda em=_em: chebtucker(f_nan, D2, degree=10, eval_method=em), "nan")),
    ]
    for _s in (1e300, 1e200, 1e-300, 1e-200):
        CASES.append((f"{_em}: function scale {_s:g}", _scaled(_s, _em)))

for _bad in ("Table", "TABLE", "fast", "", None, 1, b"table", ["table"], True):
    CASES.append((f"eval_method={_bad!r}", _expect_error(lambda b=_bad: chebtucker(f_exp2, D2, degree=8, eval_method=b),
                                                         "eval_method")))
CASES += [
    ("from_values eval_method='tabel'",
     _expect_error(lambda: ChebTucker.from_values(np.ones((3, 3)), D2, eval_method="tabel"), "eval_method")),
    ("from_cp eval_method=0", _expect_error(lambda: ChebTucker.from_cp(CP(), [(-1, 1)] * 3, degree=4, eval_method=0),
                                            "eval_method")),
    # points on the table route
    ("points: box corners", _pts_ok(lambda: np.array([[0.0, -1.0], [0.0, 1.0], [1.0, -1.0], [1.0, 1.0]]))),
    ("points: within 1e-16..1e-6 of the faces", _pts_ok(_near_ends)),
    ("gradient: within 1e-16..1e-6 of the faces", _pts_ok(_near_ends, rtol=1e-8, grad=True)),
    ("points: inside the 1e-12 slack outside", _pts_ok(_slack_outside)),
    ("gradient: inside the 1e-12 slack outside", _pts_ok(_slack_outside, rtol=1e-8, grad=True)),
    ("points: 1e-9 outside", _pts_bad(lambda: np.array([[1.0 + 1e-9, 0.0]]), "outside")),
    ("gradient: 1e-9 outside", _pts_bad(lambda: np.array([[0.5, -1.0 - 1e-9]]), "outside", grad=True)),
    ("points: far outside", _pts_bad(lambda: np.array([[0.5, 0.5], [5.0, 0.0]]), "outside")),
    ("points: NaN", _pts_bad(lambda: np.array([[0.5, np.nan]]), "nan")),
    ("gradient: NaN", _pts_bad(lambda: np.array([[np.nan, 0.0]]), "nan", grad=True)),
    ("points: inf", _pts_bad(lambda: np.array([[0.5, np.inf]]), "inf")),
    ("points: complex", _pts_bad(lambda: np.array([[0.5, 0.1j]]), "points")),
    ("points: strings", _pts_bad(lambda: np.array([["0.5", "0.1"]]), "points")),
    ("points: 3-D", _pts_bad(lambda: np.zeros((2, 2, 2)), "points")),
    ("points: wrong d", _pts_bad(lambda: np.zeros((4, 3)), "points")),
    ("points: (d+1,) vector", _pts_bad(lambda: np.zeros(3), "points")),
    ("points: float32", _pts_ok(lambda: _box(D2, 300).astype(np.float32), rtol=1e-10)),
    ("gradient: float32", _pts_ok(lambda: _box(D2, 300).astype(np.float32), rtol=1e-8, grad=True)),
    ("points: int", _pts_ok(lambda: np.array([[0, 0], [1, 1], [1, -1]]))),
    ("points: empty (0, 2)", _pts_ok(lambda: np.zeros((0, 2)), shape=(0,))),
    ("gradient: empty (0, 2)", _pts_ok(lambda: np.zeros((0, 2)), grad=True, shape=(0, 2))),
    ("points: one point (2,)", _pts_ok(lambda: np.array([0.25, -0.75]), shape=(1,))),
    ("gradient: one point (2,)", _pts_ok(lambda: np.array([0.25, -0.75]), rtol=1e-8, grad=True, shape=(1, 2))),
    ("points: one point (1, 2)", _pts_ok(lambda: np.array([[1.0, 1.0]]), shape=(1,))),
    ("points: Fortran order", _pts_ok(lambda: np.asfortranarray(_box(D2, 300)))),
    ("points: strided view", _pts_ok(lambda: _box(D2, 600)[::3])),
    ("points: column-reversed view", _pts_ok(lambda: np.ascontiguousarray(_box(D2, 300))[:, ::-1][:, ::-1])),
    ("points: list of lists", _pts_ok(lambda: [[0.1, 0.2], [0.9, -0.9]])),
    ("points: read-only array", _pts_ok(lambda: (lambda a: (a.setflags(write=False), a)[1])(_box(D2, 50)))),
    ("points: 400k", _huge_n),
    # persistence, algebra, other constructors
    ("pickle table object", _pickle_case),
    ("RunStore round trip table object", _runstore_case),
    ("from_result on the numpy backend", _result_other_backend),
    ("algebra of table objects", _algebra),
    ("from_values eval_method=table", _from_values_table),
    ("from_cp eval_method=table", _from_cp_table),
    ("numpy backend table route", _route_case(f_sep3, D3, "table", degree=24, tol=1e-10, backend="numpy")),
    ("no table reaches the target (1-D degree 40000)", _no_table_reaches),
]


# ------------------------------------------------------------------ the public constructor, against a NumPy reference
def _direct_ref(core, factors, dom, X):
    """sum G_{i..} prod_k u_k(x_k) with u_k = chebvander(t_k) @ A_k (numpy.polynomial, independent)."""
    from numpy.polynomial import chebyshev as npc

    dom = np.asarray(dom, float)
    T = (2.0 * X - (dom[:, 0] + dom[:, 1])) / (dom[:, 1] - dom[:, 0])
    rows = [npc.chebvander(T[:, k], A.shape[0] - 1) @ np.asarray(A, float) for k, A in enumerate(factors)]
    # contract mode by mode
    res = np.empty(X.shape[0])
    G = np.asarray(core, float)
    for i in range(X.shape[0]):
        v = G
        for R in rows:
            v = np.tensordot(R[i], v, axes=(0, 0))
        res[i] = v
    return res


def _ctor_case(core_fn, facs_fn, em="table", rtol=1e-11):
    def case():
        rng = np.random.default_rng(0)
        core, facs = core_fn(rng), facs_fn(rng)
        dom = [(0.0, 1.0), (-2.0, 3.0)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ct = ChebTucker(core, facs, dom, eval_method=em)
                X = _box(dom, 300)
                got = np.asarray(ct(X))
        except (ValueError, TypeError) as exc:
            return _named(exc, "rank") if min(np.shape(core)) == 0 else ("wrong", f"refused: {exc}")
        except SystemError as exc:
            return "wrong", f"SystemError (Numba kernel raised inside): {exc}"[:300]
        ref = _direct_ref(core, facs, dom, X)
        scale = max(float(np.max(np.abs(ref))), 1e-300) if ref.size else 1.0
        err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        if not err <= rtol * scale:
            return "wrong", (f"route {ct.eval_route}: values off the NumPy reference by {err:.3g} (scale {scale:.3g}); "
                             f"first values {got[:3]}, reference {ref[:3]}")
        return "verified"
    return case


def _orth(m, r):
    return lambda rng: np.linalg.qr(rng.standard_normal((m, max(r, 1))))[0][:, :r]


for _em in ROUTES:
    CASES += [
        (f"ChebTucker({_em}): random core 3x4, degrees 12/9", _ctor_case(lambda r: r.standard_normal((3, 4)),
                                                                        lambda r: [_orth(13, 3)(r), _orth(10, 4)(r)],
                                                                        _em)),
        (f"ChebTucker({_em}): degree 0 factor (m = 1)", _ctor_case(lambda r: r.standard_normal((1, 3)),
                                                                  lambda r: [np.ones((1, 1)), _orth(7, 3)(r)], _em)),
        (f"ChebTucker({_em}): rank 0 core", _ctor_case(lambda r: np.zeros((0, 3)),
                                                       lambda r: [np.zeros((9, 0)), _orth(7, 3)(r)], _em)),
        (f"ChebTucker({_em}): factors scaled 1e300", _ctor_case(lambda r: r.standard_normal((2, 3)),
                                                               lambda r: [1e300 * _orth(9, 2)(r), _orth(7, 3)(r)],
                                                               _em)),
        (f"ChebTucker({_em}): float32 core/factors", _ctor_case(lambda r: r.standard_normal((2, 3)).astype(np.float32),
                                                               lambda r: [_orth(9, 2)(r).astype(np.float32),
                                                                          _orth(7, 3)(r)], _em)),
        (f"ChebTucker({_em}): non-orthonormal factors", _ctor_case(lambda r: r.standard_normal((2, 2)),
                                                                   lambda r: [r.standard_normal((30, 2)) * 5,
                                                                              r.standard_normal((20, 2))], _em)),
    ]


# ------------------------------------------------------------------ high degree: where "auto" takes the table
def f_osc(p):
    return np.exp(np.sin(20 * p[:, 0])) * np.cos(15 * p[:, 1])


def g_osc(p):
    e = np.exp(np.sin(20 * p[:, 0]))
    return np.stack([20 * np.cos(20 * p[:, 0]) * e * np.cos(15 * p[:, 1]), -15 * e * np.sin(15 * p[:, 1])], axis=1)


def f_osc3(p):
    return np.sin(30 * p[:, 0] + 10 * p[:, 1] ** 2) * np.exp(-p[:, 2])


def g_osc3(p):
    c = np.cos(30 * p[:, 0] + 10 * p[:, 1] ** 2) * np.exp(-p[:, 2])
    return np.stack([30 * c, 20 * p[:, 1] * c, -np.sin(30 * p[:, 0] + 10 * p[:, 1] ** 2) * np.exp(-p[:, 2])], axis=1)


for _em in ("auto", "table"):
    for _tol in (1e-12, 1e-6):
        CASES += [
            (f"{_em}: oscillatory 2-D degree 200 tol {_tol:g}",
             _route_case(f_osc, [(-1.0, 1.0), (-1.0, 1.0)], _em, degree=200, tol=_tol)),
            (f"{_em}: oscillatory 2-D degree 200 tol {_tol:g} gradient",
             _grad_case(f_osc, g_osc, [(-1.0, 1.0), (-1.0, 1.0)], _em, degree=200, tol=_tol)),
        ]
    CASES += [
        (f"{_em}: oscillatory 3-D degree (160, 64, 16)",
         _route_case(f_osc3, [(-1.0, 1.0), (-1.0, 1.0), (0.0, 1.0)], _em, degree=(160, 64, 16), tol=1e-10)),
        (f"{_em}: oscillatory 3-D gradient",
         _grad_case(f_osc3, g_osc3, [(-1.0, 1.0), (-1.0, 1.0), (0.0, 1.0)], _em, degree=(160, 64, 16), tol=1e-10)),
        (f"{_em}: oscillatory 2-D degree 1000 (1-D-like), tol 1e-13",
         _route_case(f_osc, [(-1.0, 1.0), (-1.0, 1.0)], _em, degree=(1000, 60), tol=1e-13)),
    ]


# ------------------------------------------------------------------ the measured table error in high d
def _table_error_high_d(d, deg):
    """error_estimate()['table'] is documented as the measured largest difference of the table and the
    Chebyshev routes; the Chebyshev route (exact sums) is the reference for the error the table adds.
    In high d the measurement is capped; it must still not be far below the difference at random points."""
    def case():
        f = CP(R=2, d=d, seed=1)
        dom = [(-1.0, 1.0)] * d
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ct = ChebTucker.from_cp(f, dom, degree=deg, tol=1e-6, eval_method="table")
        if ct.eval_route != "table":
            return "wrong", f"eval_method='table' took {ct.eval_route}"
        ref = ChebTucker.from_result(ct.to_result())
        ref.eval_method = "chebyshev"
        X = np.random.default_rng(3).uniform(-1.0, 1.0, (150, d))
        diff = float(np.max(np.abs(np.asarray(ct(X)) - np.asarray(ref(X)))))
        claim = ct.error_estimate()["table"]
        if diff > 10 * claim + 1e-15:
            return "wrong", (f"d = {d}: error_estimate()['table'] = {claim:.3g} but the table and Chebyshev routes "
                             f"differ by {diff:.3g} at 150 random points ({diff / max(claim, 1e-300):.3g}x)")
        return "verified", f"claim {claim:.3g}, measured {diff:.3g}"
    return case


CASES += [(f"table error claim in d = {_d}", _table_error_high_d(_d, _deg)) for _d, _deg in ((4, 40), (10, 12),
                                                                                               (14, 10), (18, 12))]
