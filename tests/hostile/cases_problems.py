"""Hostile inputs for the problem constructors (problems.ot, problems.pde) and exact OT.

``CASES = [(name, callable)]``; each callable runs one hostile input and returns

* ``"clear_error"``: it raised ValueError/TypeError whose message names the argument
  (a ProblemTooLargeError is both a MemoryError and a ValueError);
* ``"verified"``: an answer came back and was checked independently here;
* ``"wrong"``: an error naming the wrong thing (or nothing), no error where one was due,
  or an answer that failed its check.

``BAD_ARGS`` is the table behind the clear-error cases: ``(case id, thunk, argument name)``.
The argument name must appear in the message (single letters ``a``/``b``/``C``/``x``/``y``/``f``/``g``/``k``
must start it or appear as ``'<name> '`` after a space, so the article "a" does not count), and
``forbid`` names that must not appear at the start (e.g. ``C`` for bad points).
"""
from __future__ import annotations

import importlib
import math
import os
import re
import sys

import numpy as np

from problems import ot, pde
from problems.ot import exact_ot

_R = np.random.default_rng(0)
_C = _R.random((4, 3))
_A, _B = np.full(4, 0.25), np.full(3, 1 / 3)
_X, _Y = _R.random((5, 2)), _R.random((6, 2))
_D = _R.random((4, 5)) + 0.1


def _nan_at(arr, idx=0):
    arr = np.array(arr, dtype=float)
    arr.flat[idx] = np.nan
    return arr


def _inf_at(arr, idx=0):
    arr = np.array(arr, dtype=float)
    arr.flat[idx] = np.inf
    return arr


def _neg_at(arr, idx=0):
    arr = np.array(arr, dtype=float)
    arr.flat[idx] = -0.5
    return arr


def _mentions(msg: str, name: str) -> bool:
    if len(name) <= 1:
        return msg.startswith(name + " ") or msg.startswith(name + "[") or f" {name} " in msg \
            or f"{name}(" in msg or msg.startswith(name + ":")
    return re.search(r"(?<!\w)" + re.escape(name) + r"(?![\w])", msg) is not None


# ------------------------------------------------------------------------------ the table
BAD_ARGS: list = []


def _bad(case_id, thunk, name, forbid=()):
    BAD_ARGS.append((case_id, thunk, name, tuple(forbid)))


_GENERIC_SCALARS = [("nan", np.nan), ("inf", np.inf), ("neg", -1.0), ("zero", 0.0), ("str", "0.1"),
                    ("none", None), ("bool", True), ("complex", 1e-2 + 1j), ("list", [0.1])]

# EntropicOT(C, a, b, eps, normalize)
for tag, C in [("none", None), ("str", "cost"), ("complex", _C * (1 + 1j)), ("1d", np.ones(4)),
               ("3d", np.ones((2, 2, 2))), ("empty", np.ones((0, 3))), ("nan", _nan_at(_C)), ("inf", _inf_at(_C)),
               ("ragged", [[1.0, 2.0], [1.0]]), ("object", np.array([[1, "a"]], dtype=object))]:
    _bad(f"EntropicOT-C-{tag}", lambda C=C: ot.EntropicOT(C, None, None, eps=0.1), "C")
for wname in ("a", "b"):
    good = _A if wname == "a" else _B
    for tag, w in [("str", "weights"), ("complex", good * (1 + 1j)), ("2d", good[:, None]), ("len", good[:-1]),
                   ("nan", _nan_at(good)), ("inf", _inf_at(good)), ("neg", _neg_at(good)), ("zeros", 0 * good),
                   ("ragged", [[0.5], [0.5, 0.1]]), ("overflow", np.full(good.size, 1e308))]:
        kw = {"a": _A, "b": _B, wname: w}
        _bad(f"EntropicOT-{wname}-{tag}", lambda kw=kw: ot.EntropicOT(_C, kw["a"], kw["b"], eps=0.1), wname)
_bad("EntropicOT-a-b-mass", lambda: ot.EntropicOT(_C, _A, 2 * _B, eps=0.1), "normalize")
for tag, e in _GENERIC_SCALARS:
    _bad(f"EntropicOT-eps-{tag}", lambda e=e: ot.EntropicOT(_C, _A, _B, eps=e), "eps")
for tag, v in [("str", "yes"), ("int", 1), ("none", None)]:
    _bad(f"EntropicOT-normalize-{tag}", lambda v=v: ot.EntropicOT(_C, _A, _B, eps=0.1, normalize=v), "normalize")

# EntropicOT.from_points(x, y, a, b, cost, eps, scale)
for pname in ("x", "y"):
    good = _X if pname == "x" else _Y
    for tag, v in [("nan", _nan_at(good)), ("inf", _inf_at(good, 3)), ("none", None), ("str", "points"),
                   ("complex", good * (1 + 1j)), ("3d", good[:, :, None]), ("empty", np.ones((0, 2))),
                   ("ragged", [[0.1, 0.2], [0.3]])]:
        kw = {"x": _X, "y": _Y, pname: v}
        _bad(f"from_points-{pname}-{tag}", lambda kw=kw: ot.EntropicOT.from_points(kw["x"], kw["y"], eps=0.1),
             pname, forbid=("C",))
_bad("from_points-x-y-dims", lambda: ot.EntropicOT.from_points(_X, _R.random((6, 3)), eps=0.1), "x")
_bad("from_points-x-overflow", lambda: ot.EntropicOT.from_points(1e200 * _X, _Y, eps=0.1), "x", forbid=("C",))
_bad("from_points-a-len", lambda: ot.EntropicOT.from_points(_X, _Y, a=np.ones(4) / 4, eps=0.1), "a")
_bad("from_points-b-len", lambda: ot.EntropicOT.from_points(_X, _Y, b=np.ones(5) / 5, eps=0.1), "b")
_bad("from_points-a-neg", lambda: ot.EntropicOT.from_points(_X, _Y, a=_neg_at(np.ones(5) / 5), eps=0.1), "a")
_bad("from_points-b-nan", lambda: ot.EntropicOT.from_points(_X, _Y, b=_nan_at(np.ones(6) / 6), eps=0.1), "b")
for tag, cost in [("name", "manhattan"), ("int", 3), ("none", None),
                  ("shape", lambda x, y: np.ones((2, 2))), ("nan", lambda x, y: np.full((5, 6), np.nan)),
                  ("complex", lambda x, y: np.ones((5, 6)) * 1j), ("raises", lambda x, y: 1 / 0)]:
    _bad(f"from_points-cost-{tag}", lambda cost=cost: ot.EntropicOT.from_points(_X, _Y, cost=cost, eps=0.1),
         "cost")
for tag, e in _GENERIC_SCALARS:
    _bad(f"from_points-eps-{tag}", lambda e=e: ot.EntropicOT.from_points(_X, _Y, eps=e), "eps")
for tag, sc in [("str", "min"), ("zero", 0.0), ("neg", -2.0), ("nan", np.nan), ("complex", 1j)]:
    _bad(f"from_points-scale-{tag}", lambda sc=sc: ot.EntropicOT.from_points(_X, _Y, eps=0.1, scale=sc), "scale")

# EntropicOT.from_grids(density_a, density_b, p, eps, extent, normalize)
for dname in ("density_a", "density_b"):
    for tag, v in [("neg", _neg_at(_D)), ("nan", _nan_at(_D)), ("inf", _inf_at(_D)), ("zeros", 0 * _D),
                   ("complex", _D * (1 + 1j)), ("4d", np.ones((2, 2, 2, 2))), ("none", None), ("str", "image"),
                   ("empty", np.ones((0, 3)))]:
        kw = {"density_a": _D, "density_b": _D, dname: v}
        _bad(f"from_grids-{dname}-{tag}", lambda kw=kw: ot.EntropicOT.from_grids(kw["density_a"], kw["density_b"]),
             dname, forbid=("a ", "b "))
_bad("from_grids-shape-mismatch", lambda: ot.EntropicOT.from_grids(_D, _D.T), "density_a")
for tag, p in [("3", 3), ("0", 0), ("bool", True), ("str", "2"), ("half", 1.5), ("none", None)]:
    _bad(f"from_grids-p-{tag}", lambda p=p: ot.EntropicOT.from_grids(_D, _D, p=p), "p")
for tag, e in _GENERIC_SCALARS:
    _bad(f"from_grids-eps-{tag}", lambda e=e: ot.EntropicOT.from_grids(_D, _D, eps=e), "eps")
for tag, ext in [("len", [1.0]), ("zero", [0.0, 1.0]), ("neg", [-1.0, 1.0]), ("nan", [np.nan, 1.0]),
                 ("str", "ab"), ("scalar", 5.0), ("complex", [1j, 1.0])]:
    _bad(f"from_grids-extent-{tag}", lambda ext=ext: ot.EntropicOT.from_grids(_D, _D, extent=ext), "extent")
_bad("from_grids-normalize-mass", lambda: ot.EntropicOT.from_grids(_D, 2 * _D, normalize=False), "density_a")
_bad("from_grids-normalize-str", lambda: ot.EntropicOT.from_grids(_D, _D, normalize="no"), "normalize")
_bad("from_grids-300x300-memory", lambda: ot.EntropicOT.from_grids(np.ones((300, 300)), np.ones((300, 300))),
     "from_grids")

# random_point_clouds(n, eps, seed, m, dim, return_points)
for tag, kw in [("n-0", dict(n=0)), ("n-neg", dict(n=-3)), ("n-float", dict(n=2.5)), ("n-str", dict(n="5")),
                ("n-none", dict(n=None)), ("n-bool", dict(n=True)), ("m-0", dict(n=5, m=0)),
                ("m-float", dict(n=5, m=1.5)), ("dim-0", dict(n=5, dim=0)), ("dim-float", dict(n=5, dim=2.0)),
                ("eps-0", dict(n=5, eps=0.0)), ("eps-nan", dict(n=5, eps=np.nan)), ("eps-str", dict(n=5, eps="x")),
                ("eps-complex", dict(n=5, eps=1j)), ("seed-neg", dict(n=5, seed=-1)),
                ("seed-str", dict(n=5, seed="a")), ("seed-float", dict(n=5, seed=1.5)),
                ("return_points-str", dict(n=5, return_points="yes")), ("n-memory", dict(n=10 ** 7))]:
    name = "random_point_clouds" if tag == "n-memory" else tag.split("-")[0]
    _bad(f"random_point_clouds-{tag}", lambda kw=kw: ot.random_point_clouds(**kw), name)


# Poisson(shape, f, g, k, domain)
def _grid_1d(x, y):
    return np.ones(x.shape[0])           # a 1-D profile on a square grid: must not be broadcast


for tag, shape in [("int", 5), ("zero", (0, 4)), ("1d", (4,)), ("4d", (4, 4, 4, 4)), ("float", (4.5, 4)),
                   ("str", "ab"), ("none", None), ("absurd", (100000, 100000, 100000))]:
    _bad(f"Poisson-shape-{tag}", lambda shape=shape: pde.Poisson(shape), "shape" if tag != "absurd" else "Poisson")
for fname in ("f", "g", "k"):
    for tag, v in [("str", "one"), ("complex", 1 + 1j), ("nan", np.nan), ("inf", np.inf), ("array", np.ones(4)),
                   ("list", [1.0]), ("bool", True),
                   ("callable-1d", _grid_1d), ("callable-complex", lambda x, y: x * (1 + 1j)),
                   ("callable-nan", lambda x, y: x * np.nan), ("callable-str", lambda x, y: "f"),
                   ("callable-arity", lambda x: x), ("callable-shape", lambda x, y: np.ones((3, 3)))]:
        _bad(f"Poisson-{fname}-{tag}", lambda fname=fname, v=v: pde.Poisson((6, 6), **{fname: v}), fname)
for tag, k in [("zero", 0.0), ("neg", -1.0), ("callable-neg", lambda x, y: x - 0.5)]:
    _bad(f"Poisson-k-{tag}", lambda k=k: pde.Poisson((6, 6), k=k), "k")
for tag, dom in [("count", [(0, 1)]), ("reversed", [(1, 0), (0, 1)]), ("nan", [(0, np.nan), (0, 1)]),
                 ("inf", [(0, np.inf), (0, 1)]), ("str", "ab"), ("int", 5), ("triple", [(0, 1, 2), (0, 1)]),
                 ("complex", [(0, 1j), (0, 1)]), ("none-entry", [(None, 1), (0, 1)])]:
    _bad(f"Poisson-domain-{tag}", lambda dom=dom: pde.Poisson((6, 6), domain=dom), "domain")
    _bad(f"Bratu-domain-{tag}", lambda dom=dom: pde.Bratu((6, 6), domain=dom), "domain")
    _bad(f"manufactured-domain-{tag}", lambda dom=dom: pde.Poisson.manufactured((6, 6), domain=dom), "domain")
for tag, lam in [("neg", -1.0), ("nan", np.nan), ("inf", np.inf), ("complex", 1j), ("str", "1"), ("bool", True),
                 ("none", None)]:
    _bad(f"Bratu-lam-{tag}", lambda lam=lam: pde.Bratu((6, 6), lam=lam), "lam")
for tag, shape in [("int", 5), ("zero", (0, 4)), ("1d", (4,)), ("absurd", (100000, 100000, 100000))]:
    _bad(f"Bratu-shape-{tag}", lambda shape=shape: pde.Bratu(shape), "shape" if tag != "absurd" else "Bratu")
for tag, kind in [("unknown", "cos"), ("list", ["sin"]), ("none", None), ("int", 3)]:
    _bad(f"manufactured-kind-{tag}", lambda kind=kind: pde.Poisson.manufactured((6, 6), kind=kind), "kind")
for tag, shape in [("int", 5), ("zero", (0, 4)), ("1d", (4,)), ("absurd", (10 ** 6,) * 3)]:
    _bad(f"manufactured-shape-{tag}", lambda shape=shape: pde.Poisson.manufactured(shape),
         "shape" if tag != "absurd" else "Poisson")
_bad("Poisson-error-u-shape", lambda: pde.Poisson.manufactured((6, 6)).error(np.ones(7)), "u")
_bad("Poisson-error-u-complex", lambda: pde.Poisson.manufactured((6, 6)).error(np.ones(36) * 1j), "u")
_bad("Poisson-error-norm", lambda: pde.Poisson.manufactured((6, 6)).error(np.ones(36), norm="l3"), "norm")
_bad("Bratu-residual-u-shape", lambda: pde.Bratu((6, 6)).residual(np.ones(7)), "u")
_bad("Bratu-residual-u-complex", lambda: pde.Bratu((6, 6)).residual(np.ones(36) * 1j), "u")

for tag, dom in [("tiny", [(0.0, 1e-300), (0.0, 1.0)]), ("huge", [(0.0, 1e300), (0.0, 1.0)])]:
    _bad(f"Poisson-domain-{tag}", lambda dom=dom: pde.Poisson((6, 6), domain=dom), "domain")
    _bad(f"Bratu-domain-{tag}", lambda dom=dom: pde.Bratu((6, 6), domain=dom), "domain")
_bad("Poisson-f-none", lambda: pde.Poisson((6, 6), f=None), "f")
_bad("Poisson-3d-domain-2-pairs", lambda: pde.Poisson((4, 4, 4), domain=[(0, 1), (0, 1)]), "domain")
_bad("EntropicOT-dual-f-shape", lambda: ot.EntropicOT(_C, eps=0.1).dual(np.zeros(3), np.zeros(3)), "f")
_bad("EntropicOT-dual-g-complex", lambda: ot.EntropicOT(_C, eps=0.1).dual(np.zeros(4), np.zeros(3) * 1j), "g")
_bad("pairwise_cost-x-str", lambda: ot.pairwise_cost("ab", _Y), "x")
_bad("pairwise_cost-y-dims", lambda: ot.pairwise_cost(_X, np.ones((3, 4))), "y")
_bad("pairwise_cost-kind", lambda: ot.pairwise_cost(_X, _Y, "cityblock"), "kind")


def _solve(*args, **kw):
    import solvers

    return solvers.solve(*args, **kw)


_bad("solve-problem-none", lambda: _solve(None), "problem")
_bad("solve-method-int", lambda: _solve(pde.Poisson((6, 6)), method=3), "method")
_bad("solve-method-unknown", lambda: _solve(pde.Poisson((6, 6)), method="lu"), "method")
_bad("solve-precond-unknown", lambda: _solve(pde.Poisson((6, 6)), precond="ilu", backend="numpy"), "precond")
_bad("solve-precond-object", lambda: _solve(pde.Poisson((6, 6)), precond=object(), backend="numpy"), "precond")
_bad("solve-precond-ot", lambda: _solve(ot.EntropicOT(_C, eps=0.1), method="sns", precond="mg"), "precond")
_bad("solve-option-unknown", lambda: _solve(pde.Poisson((6, 6)), method="cg", tolerance=1e-3), "tolerance")
_bad("Poisson-preconditioner-name", lambda: pde.Poisson((6, 6)).preconditioner("ilu"), "preconditioner")

from problems.pde import manufactured as _mf  # noqa: E402

_bad("manufactured-SinSolution-1-coord", lambda: _mf.SinSolution()(np.ones(3)), "SinSolution")
_bad("manufactured-Bubble-4-coords", lambda: _mf.BubbleSolution()(*[np.ones(3)] * 4), "BubbleSolution")
_bad("manufactured-Source-solution-none", lambda: _mf.Source(None), "solution")
_bad("manufactured-Source-k-plain", lambda: _mf.Source(_mf.SinSolution(), k=2.0), "k")
_bad("Poisson-f-callable-raises", lambda: pde.Poisson((6, 6), f=lambda x, y: x[100, 100]), "f")
_bad("Poisson-k-callable-zero-division", lambda: pde.Poisson((6, 6), k=lambda x, y: 1 // 0), "k")
_bad("Poisson-operator-backend", lambda: pde.Poisson((6, 6)).operator("bogus"), "backend")
_bad("Poisson-rhs-backend-int", lambda: pde.Poisson((6, 6)).rhs(3), "backend")

_bad("Poisson-error-norm-array", lambda: pde.Poisson.manufactured((6, 6)).error(np.ones(36), norm=np.ones(3)), "norm")
_bad("Poisson-preconditioner-none", lambda: pde.Poisson((6, 6)).preconditioner(None), "name")
_bad("Bratu-residual-u-str", lambda: pde.Bratu((6, 6)).residual("abc"), "u")
_bad("Bratu-residual-u-complex-scalar", lambda: pde.Bratu((6, 6)).residual(1j), "u")
_bad("Bratu-jacobian-u-nan", lambda: pde.Bratu((6, 6)).jacobian(np.full(36, np.nan)), "u")
_bad("Bratu-objective-u-object", lambda: pde.Bratu((6, 6)).objective(np.array([object()] * 36)), "u")

# values at the edge of the double range
_bad("EntropicOT-eps-bigint", lambda: ot.EntropicOT(_C, eps=10 ** 400), "eps")
_bad("random_point_clouds-n-bigint", lambda: ot.random_point_clouds(10 ** 400), "n")
_bad("random_point_clouds-dim-bigint", lambda: ot.random_point_clouds(5, dim=10 ** 30), "dim")
_bad("from_points-scale-tiny", lambda: ot.EntropicOT.from_points(1e150 * _X, _Y, eps=0.1, scale=1e-300), "scale")
_bad("Poisson-f-bigint", lambda: pde.Poisson((6, 6), f=10 ** 400), "f")
_bad("Bratu-lam-bigint", lambda: pde.Bratu((6, 6), lam=10 ** 400), "lam")
_bad("Poisson-shape-bytes", lambda: pde.Poisson(b"ab"), "shape")
_bad("Bratu-shape-str", lambda: pde.Bratu("ab"), "shape")
_bad("Poisson-k-huge", lambda: pde.Poisson((6, 6), k=1e308), "k")
_bad("Poisson-k-callable-huge", lambda: pde.Poisson((6, 6), k=lambda x, y: 1e308 + 0 * x), "k")
_bad("Poisson-g-huge", lambda: pde.Poisson((6, 6), g=1e308), "g")

# exact_ot(C, a, b)
_bad("exact_ot-mass", lambda: exact_ot(_C, _A, 2 * _B), "a")
_bad("exact_ot-a-neg", lambda: exact_ot(_C, _neg_at(_A), _B), "a")
_bad("exact_ot-b-nan", lambda: exact_ot(_C, _A, _nan_at(_B)), "b")
_bad("exact_ot-C-inf", lambda: exact_ot(_inf_at(_C), _A, _B), "C")
_bad("exact_ot-b-len", lambda: exact_ot(_C, _A, _A), "b")
_bad("exact_ot-max_size", lambda: exact_ot(_C, _A, _B, max_size=5), "max_size")


def clear_error(thunk, name, forbid=()):
    """Run ``thunk``: "clear_error" when it raises ValueError/TypeError naming ``name`` (and not starting
    with a ``forbid`` name), else "wrong"."""
    try:
        thunk()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if not _mentions(msg, name):
            return "wrong"
        if any(msg.startswith(f) for f in forbid):
            return "wrong"
        return "clear_error"
    return "wrong"


# ------------------------------------------------------------------------------ verified answers
def _import_pot():
    """POT's ``ot`` (None when missing); a test package named ``ot`` on sys.path is hidden meanwhile."""
    mod = sys.modules.get("ot")
    if mod is not None and hasattr(mod, "emd2"):
        return mod
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "ot" or k.startswith("ot.")}
    path = sys.path[:]
    sys.path[:] = [p for p in path if not os.path.exists(os.path.join(p or ".", "ot", "_refs.py"))]
    try:
        pot = importlib.import_module("ot")
        pot = pot if hasattr(pot, "emd2") else None
    except ImportError:
        pot = None
    finally:
        for k in [k for k in sys.modules if k == "ot" or k.startswith("ot.")]:
            sys.modules.pop(k)
        sys.modules.update(saved)
        sys.path[:] = path
    return pot


def _w1_closed_form(a, b, dx):
    return math.fsum(np.abs(np.cumsum(a) - np.cumsum(b))[:-1].tolist()) * dx


def _exact_case(C, a, b, ref=None):
    def run():
        cost, P = exact_ot(C, a, b, return_plan=True)
        mass = a.sum()
        if P.min() < 0 or np.abs(P.sum(1) - a).max() > 1e-12 * mass or np.abs(P.sum(0) - b).max() > 1e-12 * mass:
            return "wrong"
        r = ref() if ref is not None else None
        if r is None:
            pot = _import_pot()
            if pot is None:
                return "verified" if abs(cost - math.fsum((P * C).ravel().tolist())) <= 1e-12 * abs(cost) else "wrong"
            s = np.abs(C).max()
            r = s * pot.emd2(a, b, C / s, numItermax=10 ** 7)
        return "verified" if abs(cost - r) <= 1e-9 * abs(r) + 1e-14 * np.abs(C).max() * mass else "wrong"
    return run


def _verified_cases():
    out = []
    rng = np.random.default_rng(11)
    x = np.linspace(-5, 5, 60)
    for mu, var in ((1.0, 0.05), (2.0, 0.02), (0.3, 0.01)):
        a = np.exp(-x ** 2 / (2 * var))
        b = np.exp(-(x - mu) ** 2 / (2 * var))
        a, b = a / a.sum(), b / b.sum()
        out.append((f"exact_ot-gauss-tails-mu{mu}", _exact_case((x[:, None] - x[None]) ** 2, a, b)))
        out.append((f"exact_ot-gauss-tails-W1-mu{mu}",
                    _exact_case(np.abs(x[:, None] - x[None]), a, b,
                                lambda a=a, b=b: _w1_closed_form(a, b, x[1] - x[0]))))
    for tiny in (1e-7, 1e-20, 1e-200, 0.0):
        a = np.ones(20)
        a[7] = tiny
        a /= a.sum()
        X, Y = rng.random((20, 2)), rng.random((20, 2))
        out.append((f"exact_ot-tiny-weight-{tiny:g}",
                    _exact_case(((X[:, None] - Y[None]) ** 2).sum(-1), a, np.full(20, 0.05))))
    for k, power in enumerate((6, 8, 12)):    # weights spread over many orders of magnitude (HiGHS: "infeasible")
        w, v = rng.random(40) ** power, rng.random(35) ** power
        out.append((f"exact_ot-spread-weights-{k}", _exact_case(rng.random((40, 35)), w / w.sum(), v / v.sum())))
    out.append(("exact_ot-cost-1e100", _exact_case(1e100 * rng.random((9, 7)), np.full(9, 1 / 9), np.full(7, 1 / 7))))
    out.append(("exact_ot-assignment", _exact_case(rng.random((30, 30)), np.full(30, 1 / 30), np.full(30, 1 / 30))))
    out.append(("exact_ot-cost-1e-150", _exact_case(1e-150 * rng.random((9, 7)), np.full(9, 1 / 9), np.full(7, 1 / 7))))

    def poisson_manufactured():
        import solvers

        p = pde.Poisson.manufactured((15, 15), kind="sin")
        res = solvers.solve(p, method="cg", rtol=1e-10, backend="numpy")
        # second-order discretisation: error ~ C h^2 with h = 1/16
        return "verified" if res.converged and p.error(res.x) < 2e-2 else "wrong"

    def poisson_scalar_callable():
        p = pde.Poisson((5, 4), f=lambda x, y: 2.0)       # a scalar is one value for every point
        return "verified" if np.array_equal(p.rhs("numpy"), np.full(20, 2.0)) else "wrong"

    def from_grids_1d_w1():
        rng2 = np.random.default_rng(5)
        da, db = rng2.random(30), rng2.random(30)
        prob = ot.EntropicOT.from_grids(da, db, p=1, eps=1e-2)
        w1 = _w1_closed_form(prob.a, prob.b, 1 / 30)
        return "verified" if abs(exact_ot(prob.C, prob.a, prob.b) - w1) <= 1e-9 * w1 else "wrong"

    out += [("Poisson-manufactured-solve", poisson_manufactured), ("Poisson-scalar-callable", poisson_scalar_callable),
            ("from_grids-1d-W1", from_grids_1d_w1)]
    return out


CASES = [(cid, (lambda t=thunk, n=name, f=forbid: clear_error(t, n, f))) for cid, thunk, name, forbid in BAD_ARGS]
CASES += _verified_cases()

__all__ = ["CASES", "BAD_ARGS", "clear_error"]
