"""Hostile inputs for the Chebyshev-Tucker format (``solvers.chebtucker``, ``ChebTucker``) and the
multi-particle potentials of ``problems.potentials``.

``CASES = [(name, callable)]``; each callable returns

* ``"clear_error"``: a ValueError/TypeError (or the library's TooLargeError) naming the argument;
* ``"verified"``: values checked against the function itself (analytic), analytic integrals, or
  direct summation of the potential;
* ``"wrong"``: anything else. A ``MemoryError`` counts as wrong: sizes must be estimated and
  refused before anything is allocated.
"""
from __future__ import annotations

import math
import pickle

import numpy as np

from problems import potentials
from solvers.approx import _tucker
from solvers.approx.chebtucker import ChebTucker, chebtucker

_RNG = np.random.default_rng(0)


def _named(exc, *needles):
    msg = str(exc).lower()
    return "clear_error" if all(n.lower() in msg for n in needles) else ("wrong", f"unclear: {exc}")


def _expect_error(fn, *needles):
    def case():
        try:
            out = fn()
        except (ValueError, TypeError) as exc:        # the TooLargeError of the size estimates is a ValueError
            return _named(exc, *needles)
        except MemoryError as exc:
            return "wrong", f"MemoryError (not estimated before allocating): {exc}"[:300]
        return "wrong", f"accepted: {str(out)[:200]}"
    return case


# ------------------------------------------------------------------ functions (module level: picklable)
def f_exp2(p):
    return np.exp(p[:, 0] + 0.5 * p[:, 1])


def f_sep3(p):
    return np.sin(p[:, 0]) * np.cos(p[:, 1]) * (1.0 + p[:, 2])


def f_linear(p):
    return 3.0 * p[:, 0] - 2.0 * p[:, 1] + 1.0


def f_const(p):
    return np.full(p.shape[0], 7.0)


def f_zero(p):
    return np.zeros(p.shape[0])


def f_sum(p):
    return np.exp(p.sum(axis=1) / p.shape[1])


def f_nan(p):
    out = np.exp(p[:, 0])
    out[len(out) // 2] = np.nan
    return out


def f_inf(p):
    return 1.0 / (p[:, 0] - p[0, 0])     # inf at the first node


def f_2d_out(p):
    return np.exp(p[:, :1])               # shape (N, 1)


def f_scalar(p):
    return 1.0


def f_short(p):
    return np.exp(p[:-1, 0])


def f_complex(p):
    return np.exp(p[:, 0]) * (1.0 + 0.5j)


def f_strings(p):
    return np.exp(p[:, 0]).astype(str)


def f_none(p):
    return None


def f_object(p):
    return np.array([object()] * p.shape[0])


def f_raises(p):
    raise ZeroDivisionError("user function failed")


def f_sqrt_abs(p):                        # non-smooth: degree='auto' cannot resolve it
    return np.sqrt(np.abs(p[:, 0]))


class Huge:
    def __init__(self, s):
        self.s = s

    def __call__(self, p):
        return self.s * np.exp(p[:, 0] - p[:, 1])


# ------------------------------------------------------------------ checks
def _check_values(ct, f, dom, npts=200, rtol=1e-9, seed=1):
    rng = np.random.default_rng(seed)
    dom = np.asarray(dom, float)
    pts = dom[:, 0] + (dom[:, 1] - dom[:, 0]) * rng.random((npts, dom.shape[0]))
    pts[0], pts[1] = dom[:, 0], dom[:, 1]          # corners exactly
    got = np.asarray(ct(pts))
    ref = f(pts)
    err = np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300)
    if not err <= rtol:
        return "wrong", f"max relative error {err:.3g} > {rtol}"
    return "verified"


def _approx_ok(f, dom, rtol=1e-9, **kw):
    def case():
        try:
            ct = chebtucker(f, dom, **kw)
        except MemoryError as exc:
            return "wrong", f"MemoryError: {exc}"[:300]
        return _check_values(ct, f, dom, rtol=rtol)
    return case


def _ct2():
    return chebtucker(f_exp2, [(0, 1), (-1, 1)], degree=16, tol=1e-13)


def _eval_error(points, *needles):
    return _expect_error(lambda: _ct2()(points), *needles)


def _eval_zero_points():
    ct = _ct2()
    try:
        out = np.asarray(ct(np.zeros((0, 2))))
    except (ValueError, TypeError) as exc:
        return _named(exc, "points")
    return "verified" if out.shape == (0,) else ("wrong", f"0 points gave shape {out.shape}")


def _eval_single_point():
    ct = _ct2()
    out = np.asarray(ct(np.array([0.3, -0.2])))
    ref = math.exp(0.3 - 0.1)
    return "verified" if out.shape == (1,) and abs(out[0] - ref) < 1e-12 * ref else ("wrong", f"{out}")


def _integral():
    ct = _ct2()
    ref = (math.e - 1.0) * 2.0 * (math.exp(0.5) - math.exp(-0.5))   # int_0^1 e^x dx * int_-1^1 e^{y/2} dy
    got = ct.integral()
    return "verified" if abs(got - ref) < 1e-12 * ref else ("wrong", f"integral {got} vs {ref}")


def _gradient():
    ct = _ct2()
    pts = np.array([[0.1, 0.2], [0.9, -0.7], [0.0, 1.0]])
    g = np.asarray(ct.gradient(pts))
    e = np.exp(pts[:, 0] + 0.5 * pts[:, 1])
    ref = np.stack([e, 0.5 * e], axis=1)
    err = np.max(np.abs(g - ref)) / np.max(np.abs(ref))
    return "verified" if err < 1e-9 else ("wrong", f"gradient error {err:.3g}")


def _on_grid_verified():
    ct = _ct2()
    xs, ys = np.linspace(0, 1, 5), np.array([-1.0, 0.0, 1.0])
    G = ct.on_grid([xs, ys])
    ref = np.exp(xs[:, None] + 0.5 * ys[None, :])
    err = np.max(np.abs(G - ref)) / ref.max()
    return "verified" if err < 1e-12 else ("wrong", f"on_grid error {err:.3g}")


def _on_grid_huge():
    ct = _ct2()
    try:
        G = ct.on_grid(1 << 24)
    except (ValueError, TypeError) as exc:
        return _named(exc, "grid")
    except MemoryError as exc:
        return "wrong", f"MemoryError (not estimated before allocating): {exc}"[:300]
    return "wrong", f"a 2^48-point grid was built: {np.shape(G)}"


def _ranks_above_degree():
    ct = chebtucker(f_exp2, [(0, 1), (-1, 1)], degree=5, ranks=50, tol=1e-12)
    if any(r > 6 for r in ct.ranks):
        return "wrong", f"ranks {ct.ranks} exceed degree + 1"
    return _check_values(ct, f_exp2, [(0, 1), (-1, 1)], rtol=1e-3)


def _ranks_one_separable():
    # exp(x + y/2) = exp(x) exp(y/2) is rank 1 exactly
    ct = chebtucker(f_exp2, [(0, 1), (-1, 1)], degree=20, ranks=1)
    return _check_values(ct, f_exp2, [(0, 1), (-1, 1)], rtol=1e-12)


def _zero_function():
    ct = chebtucker(f_zero, [(0, 1), (0, 1)], degree=4)
    v = np.asarray(ct(np.array([[0.5, 0.5], [0.0, 1.0]])))
    return "verified" if np.all(v == 0) and ct.integral() == 0 else ("wrong", f"{v}, {ct.integral()}")


def _scaled_values(s):
    def case():
        dom = [(0, 1), (0, 1)]
        return _check_values(chebtucker(Huge(s), dom, degree=20, tol=1e-13), Huge(s), dom, rtol=1e-11)
    return case


def _scaled_domain(lo, hi):
    """f(x) = exp((x - lo) / (hi - lo)): the same function on any box; accuracy must not depend on scale."""
    def case():
        dom = [(lo, hi)]
        fn = _Affine(lo, hi)
        try:
            ct = chebtucker(fn, dom, degree=20, tol=1e-13)
        except (ValueError, TypeError) as exc:
            return _named(exc, "domain")
        return _check_values(ct, fn, dom, rtol=1e-11)
    return case


class _Affine:
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def __call__(self, p):
        return np.exp((p[:, 0] - self.lo) / (self.hi - self.lo))


def _auto_nonsmooth():
    import warnings

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ct = chebtucker(f_sqrt_abs, [(-1, 1)], tol=1e-10)
    if ct.stats.get("resolved"):
        return "wrong", "sqrt|x| claimed resolved at tol 1e-10"
    if not any(issubclass(x.category, RuntimeWarning) for x in w):
        return "wrong", "no RuntimeWarning for an unresolved degree='auto'"
    return _check_values(ct, f_sqrt_abs, [(-1, 1)], rtol=0.1)


def _user_index_error():
    # a 3-variable function on a 2-variable box: the user's own IndexError must come through unchanged
    try:
        chebtucker(f_sep3, [(0, 1)] * 2, degree=4)
    except IndexError as exc:
        return "clear_error" if "index 2" in str(exc) else ("wrong", str(exc))
    except (ValueError, TypeError) as exc:
        return _named(exc, "f")
    return "wrong", "accepted"


def _user_exception_propagates():
    try:
        chebtucker(f_raises, [(0, 1)], degree=4)
    except ZeroDivisionError as exc:
        return "clear_error" if "user function failed" in str(exc) else ("wrong", str(exc))
    return "wrong", "the user's exception vanished"


# ------------------------------------------------------------------ canonical inputs
class CP:
    """``sum_r w_r prod_i exp(-a_r (x_i - c_ri)^2)``: a canonical function with direct evaluation."""

    def __init__(self, R, d=3, seed=0, wscale=1.0):
        rng = np.random.default_rng(seed)
        self.w = rng.standard_normal(R) * wscale
        self.a = rng.uniform(0.5, 2.0, R)
        self.c = rng.uniform(-1, 1, (d, R))
        self.d = d

    def cp_factors(self, nodes):
        return self.w, [np.exp(-self.a[None, :] * (x[:, None] - self.c[i][None, :]) ** 2) for i, x in enumerate(nodes)]

    def __call__(self, p):
        out = np.zeros(p.shape[0])
        for k in range(0, self.w.size, 4096):
            sl = slice(k, k + 4096)
            t = self.w[sl][None, :] * np.ones((p.shape[0], 1))
            for i in range(self.d):
                t = t * np.exp(-self.a[sl][None, :] * (p[:, i:i + 1] - self.c[i][sl][None, :]) ** 2)
            out += t.sum(axis=1)
        return out


def _cp_big_rank(R):
    def case():
        f = CP(R, d=3, seed=R)
        dom = [(-1, 1)] * 3
        try:
            ct = chebtucker(f, dom, degree=24, tol=1e-10)
        except MemoryError as exc:
            return "wrong", f"MemoryError: {exc}"[:300]
        except (ValueError, TypeError) as exc:
            return _named(exc, "term")
        return _check_values(ct, f, dom, npts=30, rtol=1e-6)
    return case


def _rhosvd_direct(R, m):
    """``_tucker.rhosvd`` on R terms (a segfault at R = 41 472 was reported: R x R Gram matrices):
    a memory refusal before allocating, or a result within its bound of the full tensor."""
    def case():
        rng = np.random.default_rng(1)
        w = rng.standard_normal(R)
        U = [rng.standard_normal((m, R)) for _ in range(3)]
        try:
            G, Z, bound, scale = _tucker.rhosvd(w, U, 1e-8)
        except (ValueError, TypeError) as exc:
            return _named(exc, "memory")
        except MemoryError as exc:
            return "wrong", f"MemoryError: {exc}"[:300]
        T = np.einsum("r,ir,jr,kr->ijk", w, *U, optimize=True)     # m^3 entries: the independent reference
        err = np.linalg.norm(T - scale * _tucker.reconstruct(G, Z))
        lim = scale * bound + 1e-10 * np.linalg.norm(T)
        return "verified" if err <= lim else ("wrong", f"error {err:.3g} above the bound {lim:.3g}")
    return case


def _with_memory_limit(limit, fn, *needles):
    def case():
        import os

        old = os.environ.get("NEWTONKIT_MEMORY_LIMIT")
        os.environ["NEWTONKIT_MEMORY_LIMIT"] = str(int(limit))
        try:
            return _expect_error(fn, *needles)()
        finally:
            if old is None:
                del os.environ["NEWTONKIT_MEMORY_LIMIT"]
            else:
                os.environ["NEWTONKIT_MEMORY_LIMIT"] = old
    return case


def _rhosvd_memory_limit():
    """With NEWTONKIT_MEMORY_LIMIT = 1 MB the 41 472-term reduced HOSVD is refused before allocating."""
    import os

    old = os.environ.get("NEWTONKIT_MEMORY_LIMIT")
    os.environ["NEWTONKIT_MEMORY_LIMIT"] = "1000000"
    try:
        return _expect_error(lambda: chebtucker(CP(41472, d=3, seed=2), [(-1, 1)] * 3, degree=24), "memory")()
    finally:
        if old is None:
            del os.environ["NEWTONKIT_MEMORY_LIMIT"]
        else:
            os.environ["NEWTONKIT_MEMORY_LIMIT"] = old


def _rhosvd_vs_full():
    rng = np.random.default_rng(3)
    R, m = 3000, 7
    w = rng.standard_normal(R)
    U = [rng.standard_normal((m, R)) for _ in range(3)]
    G, Z, bound, scale = _tucker.rhosvd(w, U, 1e-12)
    T = np.einsum("r,ir,jr,kr->ijk", w, *U)
    That = scale * _tucker.reconstruct(G, Z)
    err = np.linalg.norm(T - That)
    return "verified" if err <= max(2 * scale * bound, 1e-10 * np.linalg.norm(T)) + 1e-12 * np.linalg.norm(T) \
        else ("wrong", f"error {err:.3g} above the bound {scale * bound:.3g}")


class CPBad:
    def __init__(self, kind):
        self.kind = kind

    def cp_factors(self, nodes):
        m = [x.size for x in nodes]
        w, U = np.ones(3), [np.ones((k, 3)) for k in m]
        if self.kind == "not_tuple":
            return [w, U]
        if self.kind == "nan_weight":
            w[1] = np.nan
        if self.kind == "empty":
            return np.zeros(0), [np.zeros((k, 0)) for k in m]
        if self.kind == "wrong_rows":
            U[0] = np.ones((m[0] + 1, 3))
        if self.kind == "too_few":
            U = U[:-1]
        if self.kind == "inf_factor":
            U[1][0, 0] = np.inf
        if self.kind == "complex":
            w = w + 1j
        if self.kind == "weights_2d":
            w = np.ones((3, 1))
        return w, U


# ------------------------------------------------------------------ potentials
def _kernel_verified(name, fn, exact):
    def case():
        k = fn
        r = np.geomspace(1e-3, 1.0, 400)
        got = k.radial(r)
        err = np.max(np.abs(got - exact(r)) / np.abs(exact(r)))
        return "verified" if err < 1e-6 else ("wrong", f"{name}: relative error {err:.3g} on [1e-3, 1]")
    return case


def _coulomb(points, positions, charges):
    """Direct Coulomb sum by hand (NumPy), the independent reference."""
    d = np.linalg.norm(points[:, None, :] - positions[None, :, :], axis=2)
    return (charges[None, :] / d).sum(axis=1)


def _potential_direct_vs_coulomb(positions, charges, box, rtol=1e-6):
    """The Gaussian-sum potential by direct summation equals the Coulomb sum where the kernel
    is accurate (every distance in [r_min, r_max])."""
    def case():
        positions_, charges_ = np.asarray(positions, float), np.asarray(charges, float)
        k = potentials.newton_kernel(1e-8, 1e-2, 20.0)
        P = potentials.ParticlePotential(k, positions_, charges_, box=box)
        rng = np.random.default_rng(0)
        dom = np.asarray(P.domain)
        pts = dom[:, 0] + (dom[:, 1] - dom[:, 0]) * rng.random((60, 3))
        dmin = np.min(np.linalg.norm(pts[:, None, :] - positions_[None, :, :], axis=2), axis=1)
        pts = pts[dmin > 0.05]
        ref = _coulomb(pts, positions_, charges_)
        got = np.asarray(P.direct(pts, backend="numpy"))
        err = np.max(np.abs(got - ref) / np.abs(charges_).sum() * np.min(dmin[dmin > 0.05]))
        return "verified" if err < rtol else ("wrong", f"direct sum off Coulomb by {err:.3g}")
    return case


def _long_range_ct_vs_direct(positions, charges, box):
    """The long-range part (smooth) through chebtucker vs its direct summation at random points."""
    def case():
        positions_, charges_ = np.asarray(positions, float), np.asarray(charges, float)
        V = potentials.long_range_potential(positions_, charges_, box=box, cutoff=1.0)
        ct = chebtucker(V, V.domain, tol=1e-9)
        rng = np.random.default_rng(0)
        dom = np.asarray(V.domain)
        pts = dom[:, 0] + (dom[:, 1] - dom[:, 0]) * rng.random((50, 3))
        ref = np.asarray(V.direct(pts, backend="numpy"))
        got = np.asarray(ct(pts))
        scale = np.abs(ref).max()
        err = np.max(np.abs(got - ref)) / scale if scale > 0 else np.max(np.abs(got))
        return "verified" if err < 1e-6 else ("wrong", f"long-range potential off its direct sum by {err:.3g}")
    return case


def _zero_charges():
    k = potentials.newton_kernel(1e-7, 1e-2, 10.0)
    P = potentials.ParticlePotential(k, np.array([[0.0, 0, 0], [1.0, 0, 0]]), np.zeros(2), box=[(-2, 2)] * 3)
    try:
        ct = chebtucker(P, P.domain, degree=8)
    except (ValueError, TypeError) as exc:
        return _named(exc, "charge")
    v = np.asarray(ct(np.array([[0.5, 0.5, 0.5]])))
    d = np.asarray(P.direct(np.array([[0.5, 0.5, 0.5]]), backend="numpy"))
    return "verified" if np.all(v == 0) and np.all(d == 0) else ("wrong", f"{v}, {d}")


_OVERLAP = (np.array([[0.0, 0, 0], [0.0, 0, 0], [1.0, 1, 1]]), np.array([1.0, 1.0, -1.0]), [(-3, 3)] * 3)
_TWO = (np.array([[0.5, 0, 0], [-0.5, 0.2, 0]]), np.array([1.0, -1.0]), [(-3, 3)] * 3)


def _random_cloud_impossible():
    # 2000 atoms, min separation 1.4, in a box of side 6 (room for about 80): refuse or stop, not loop forever
    try:
        c = potentials.random_cloud(2000, seed=0, box=[(-3, 3)] * 3, min_separation=1.4, padding=0.0)
    except (ValueError, RuntimeError) as exc:
        return _named(exc, "")
    pos = c.positions
    dmin = min(np.min(np.linalg.norm(pos[i] - np.delete(pos, i, 0), axis=1)) for i in range(min(len(pos), 50)))
    return ("verified" if len(pos) == 2000 and dmin >= 1.4 - 1e-9 else
            ("wrong", f"{len(pos)} atoms, min separation {dmin:.3g} < 1.4"))


def _lattice_potential(spacing):
    lat = potentials.cubic_lattice((2, 2, 2), spacing=spacing)
    return potentials.long_range_potential(lat.positions, lat.charges, box=lat.box, cutoff=spacing)


def _scaling_law(spacing):
    """V_s(s x) = V_1(x) / s: the Chebyshev-Tucker long-range potential of a lattice of spacing s against
    the hand Coulomb sum of the unit lattice, at points beyond the cutoff from every particle."""
    def case():
        lat1 = potentials.cubic_lattice((2, 2, 2), spacing=1.0)
        V = _lattice_potential(spacing)
        ct = chebtucker(V, V.domain, tol=1e-9)
        pts = np.array([[1.5, 1.5, 1.5], [1.5, 0.0, 1.5], [-1.5, 1.5, 0.0], [0.0, 0.0, 1.5]])   # box [-1.5, 1.5]^3
        d = np.linalg.norm(pts[:, None, :] - lat1.positions[None, :, :], axis=2)
        if d.min() < 1.0:
            return "wrong", "case error: a point lies within the cutoff"
        ref = (lat1.charges[None, :] / d).sum(axis=1)
        got = np.asarray(ct(pts * spacing)) * spacing
        err = np.max(np.abs(got - ref)) / np.abs(lat1.charges).sum()
        return "verified" if err < 1e-5 else ("wrong", f"scaled lattice off the Coulomb sum by {err:.3g}")
    return case


def _coulomb_sum_verified():
    pos = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    z = np.array([1.0, -2.0])
    pts = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    got = np.asarray(potentials.coulomb_sum(pts, pos, z, backend="numpy"))
    ref = np.array([1.0 - 2.0 / math.sqrt(2.0), 0.5 - 2.0])
    return "verified" if np.allclose(got, ref, rtol=1e-14) else ("wrong", f"{got} vs {ref}")


def _coulomb_at_particle():
    try:
        v = np.asarray(potentials.coulomb_sum(np.zeros((1, 3)), np.zeros((1, 3)), np.ones(1), backend="numpy"))
    except (ValueError, ZeroDivisionError, FloatingPointError) as exc:
        return _named(exc, "")
    return "verified" if np.isinf(v[0]) or np.isnan(v[0]) else ("wrong", f"finite value {v} at a particle")


def _pickle_roundtrip():
    ct = _ct2()
    ct2 = pickle.loads(pickle.dumps(ct))
    p = np.array([[0.2, 0.3]])
    return "verified" if np.array_equal(np.asarray(ct(p)), np.asarray(ct2(p))) else ("wrong", "pickle changed values")


def _result_roundtrip():
    ct = _ct2()
    back = ChebTucker.from_result(ct.to_result())
    return _check_values(back, f_exp2, [(0, 1), (-1, 1)], rtol=1e-12)


def _arith_verified():
    a = _ct2()
    b = chebtucker(f_linear, [(0, 1), (-1, 1)], degree=3)
    s = 2.0 * a - b + 1.0

    def ref(p):
        return 2.0 * f_exp2(p) - f_linear(p) + 1.0
    return _check_values(s, ref, [(0, 1), (-1, 1)], rtol=1e-10)


def _other_result():
    import solvers

    return solvers.SolveResult(np.ones(3), True, "converged", "ok", 0, method="cg", backend="numpy")


def _from_values_verified():
    dom = [(0, 1), (-1, 1)]
    nodes = ChebTucker.nodes(dom, (10, 12))
    X, Y = np.meshgrid(*nodes, indexing="ij")
    V = np.exp(X + 0.5 * Y)
    ct = ChebTucker.from_values(V, dom, tol=1e-13)
    return _check_values(ct, f_exp2, dom, rtol=1e-7)


CASES = [
    # ---- domain
    ("domain_lo_eq_hi", _expect_error(lambda: chebtucker(f_exp2, [(0, 0), (0, 1)], degree=4), "domain")),
    ("domain_lo_gt_hi", _expect_error(lambda: chebtucker(f_exp2, [(1, 0), (0, 1)], degree=4), "domain")),
    ("domain_inf", _expect_error(lambda: chebtucker(f_exp2, [(0, np.inf), (0, 1)], degree=4), "domain")),
    ("domain_nan", _expect_error(lambda: chebtucker(f_exp2, [(np.nan, 1), (0, 1)], degree=4), "domain")),
    ("domain_flat", _expect_error(lambda: chebtucker(f_exp2, [0, 1], degree=4), "domain")),
    ("domain_triples", _expect_error(lambda: chebtucker(f_exp2, [(0, 1, 2)], degree=4), "domain")),
    ("domain_empty", _expect_error(lambda: chebtucker(f_exp2, [], degree=4), "domain")),
    ("domain_strings", _expect_error(lambda: chebtucker(f_exp2, [("a", "b")], degree=4), "domain")),
    ("domain_complex", _expect_error(lambda: chebtucker(f_exp2, [(0j, 1 + 1j)], degree=4), "domain")),
    ("domain_none", _expect_error(lambda: chebtucker(f_exp2, None, degree=4), "domain")),
    ("domain_tiny_relative", _expect_error(lambda: chebtucker(f_exp2, [(1e6, 1e6 + 1e-9), (0, 1)], degree=4),
                                           "domain")),
    ("domain_span_1e-200", _scaled_domain(0.0, 1e-200)),
    ("domain_span_1e299", _scaled_domain(-1e299, 1e299)),
    ("domain_span_over_1e300", _expect_error(lambda: chebtucker(f_exp2, [(-1e300, 1e300)] * 2, degree=4),
                                             "domain")),
    ("domain_wrong_dim_for_f", _user_index_error),
    # ---- degree / ranks / tol / method
    ("degree_zero", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=0), "degree")),
    ("degree_negative", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=-3), "degree")),
    ("degree_float", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4.0), "degree")),
    ("degree_bool", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=True), "degree")),
    ("degree_string", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree="eight"), "degree")),
    ("degree_wrong_count", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=[4, 4, 4]), "degree")),
    ("degree_huge", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=10 ** 9), "degree")),
    ("degree_grid_too_big", _expect_error(lambda: chebtucker(f_sep3, [(0, 1)] * 3, degree=4096), "degree")),
    ("degree_huge_cp", _expect_error(lambda: chebtucker(CP(10), [(-1, 1)] * 3, degree=10 ** 7), "degree")),
    ("auto_degree_8_variables", _expect_error(lambda: chebtucker(f_sum, [(0, 1)] * 8), "degree")),
    ("auto_degree_40_variables", _expect_error(lambda: chebtucker(f_sum, [(0, 1)] * 40), "degree")),
    ("degree_grid_over_memory_limit", _with_memory_limit(1e6, lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=300),
                                                         "memory")),
    ("degree_one_linear_exact", _approx_ok(f_linear, [(0, 1), (-1, 1)], rtol=1e-13, degree=1)),
    ("degree_mixed", _approx_ok(f_exp2, [(0, 1), (-1, 1)], rtol=1e-12, degree=[20, 18])),
    ("ranks_zero", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, ranks=0), "ranks")),
    ("ranks_negative", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, ranks=-1), "ranks")),
    ("ranks_float", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, ranks=2.5), "ranks")),
    ("ranks_wrong_count", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, ranks=[1, 2, 3]),
                                        "ranks")),
    ("ranks_above_degree", _ranks_above_degree),
    ("ranks_huge", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, ranks=10 ** 12), "ranks")),
    ("ranks_one_separable", _ranks_one_separable),
    ("tol_zero", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, tol=0.0), "tol")),
    ("tol_nan", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, tol=float("nan")), "tol")),
    ("tol_one", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, tol=1.0), "tol")),
    ("tol_string", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, tol="1e-8"), "tol")),
    ("method_unknown", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, method="svd"), "method")),
    ("method_list", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, method=["hosvd"]), "method")),
    ("hooi_sweeps_zero", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, method="hooi",
                                                          hooi_sweeps=0), "hooi_sweeps")),
    ("hooi_verified", _approx_ok(f_sep3, [(0, 1), (0, 2), (-1, 1)], rtol=1e-9, degree=16, method="hooi",
                                 ranks=[3, 3, 2])),
    ("sthosvd_verified", _approx_ok(f_sep3, [(0, 1), (0, 2), (-1, 1)], rtol=1e-10, degree=16, method="sthosvd")),
    ("backend_unknown", _expect_error(lambda: chebtucker(f_exp2, [(0, 1)] * 2, degree=4, backend="fortran"),
                                      "backend")),
    # ---- the function
    ("f_not_callable", _expect_error(lambda: chebtucker(3.0, [(0, 1)], degree=4), "f")),
    ("f_returns_nan", _expect_error(lambda: chebtucker(f_nan, [(0, 1)], degree=4), "non-finite")),
    ("f_returns_inf", _expect_error(lambda: chebtucker(f_inf, [(0, 1)], degree=4), "non-finite")),
    ("f_returns_2d", _expect_error(lambda: chebtucker(f_2d_out, [(0, 1)], degree=4), "shape")),
    ("f_returns_scalar", _expect_error(lambda: chebtucker(f_scalar, [(0, 1)], degree=4), "shape")),
    ("f_returns_short", _expect_error(lambda: chebtucker(f_short, [(0, 1)], degree=4), "shape")),
    ("f_returns_complex", _expect_error(lambda: chebtucker(f_complex, [(0, 1)], degree=4), "f")),
    ("f_returns_strings", _expect_error(lambda: chebtucker(f_strings, [(0, 1)], degree=4), "f")),
    ("f_returns_none", _expect_error(lambda: chebtucker(f_none, [(0, 1)], degree=4), "f")),
    ("f_returns_objects", _expect_error(lambda: chebtucker(f_object, [(0, 1)], degree=4), "f")),
    ("f_raises_propagates", _user_exception_propagates),
    ("f_zero_function", _zero_function),
    ("f_constant_auto", _approx_ok(f_const, [(0, 1), (5, 6)], rtol=1e-14)),
    ("f_values_1e300", _scaled_values(1e300)),
    ("f_values_1e-300", _scaled_values(1e-300)),
    ("f_values_subnormal", _expect_error(lambda: chebtucker(Huge(1e-310), [(0, 1)] * 2, degree=4), "subnormal")),
    ("f_nonsmooth_auto_warns", _auto_nonsmooth),
    ("f_exp2_auto", _approx_ok(f_exp2, [(0, 1), (-1, 1)], rtol=1e-10, tol=1e-12)),
    ("f_sep3_auto", _approx_ok(f_sep3, [(0, 1), (0, 2), (-1, 1)], rtol=1e-9, tol=1e-11)),
    # ---- evaluation
    ("eval_zero_points", _eval_zero_points),
    ("eval_single_point", _eval_single_point),
    ("eval_outside_box", _eval_error(np.array([[1.5, 0.0]]), "outside")),
    ("eval_nan_point", _eval_error(np.array([[np.nan, 0.0]]), "nan")),
    ("eval_wrong_d", _eval_error(np.zeros((4, 3)), "points")),
    ("eval_3d_array", _eval_error(np.zeros((2, 2, 2)), "points")),
    ("eval_complex_points", _eval_error(np.zeros((2, 2)) + 0.5j, "points")),
    ("eval_string_points", _eval_error(np.array([["0.1", "0.2"]]), "points")),
    ("eval_none", _eval_error(None, "points")),
    ("gradient_verified", _gradient),
    ("gradient_outside", _expect_error(lambda: _ct2().gradient(np.array([[2.0, 0.0]])), "outside")),
    ("integral_verified", _integral),
    ("on_grid_verified", _on_grid_verified),
    ("on_grid_huge", _on_grid_huge),
    ("on_grid_zero", _expect_error(lambda: _ct2().on_grid(0), "grid")),
    ("on_grid_outside", _expect_error(lambda: _ct2().on_grid([np.array([0.0, 2.0]), np.array([0.0])]), "grid")),
    ("on_grid_empty_axis", _expect_error(lambda: _ct2().on_grid([np.array([]), np.array([0.0])]), "grid")),
    # ---- algebra, containers
    ("arith_verified", _arith_verified),
    ("add_other_domain", _expect_error(lambda: _ct2() + chebtucker(f_exp2, [(0, 2), (-1, 1)], degree=4), "domain")),
    ("mul_nan", _expect_error(lambda: _ct2() * float("nan"), "")),
    ("mul_string", _expect_error(lambda: _ct2() * "2", "")),
    ("truncate_tol_zero", _expect_error(lambda: _ct2().truncate(tol=0.0), "tol")),
    ("truncate_ranks_zero", _expect_error(lambda: _ct2().truncate(ranks=0), "ranks")),
    ("pickle_roundtrip", _pickle_roundtrip),
    ("result_roundtrip", _result_roundtrip),
    ("from_values_verified", _from_values_verified),
    ("from_result_other_result", _expect_error(lambda: ChebTucker.from_result(_other_result()), "chebyshev")),
    ("from_result_garbage", _expect_error(lambda: ChebTucker.from_result(object()), "chebyshev")),
    ("from_values_nan", _expect_error(lambda: ChebTucker.from_values(np.full((4, 4), np.nan), [(0, 1)] * 2),
                                      "nan")),
    ("from_values_one_point", _expect_error(lambda: ChebTucker.from_values(np.ones((1, 4)), [(0, 1)] * 2),
                                            "values")),
    ("from_values_wrong_ndim", _expect_error(lambda: ChebTucker.from_values(np.ones((4, 4, 4)), [(0, 1)] * 2),
                                             "values")),
    ("from_values_complex", _expect_error(lambda: ChebTucker.from_values(np.ones((4, 4)) + 1j, [(0, 1)] * 2),
                                          "values")),
    ("from_values_strings", _expect_error(lambda: ChebTucker.from_values(np.ones((4, 4)).astype(str), [(0, 1)] * 2),
                                          "values")),
    ("constructor_nan_core", _expect_error(lambda: ChebTucker(np.full((2, 2), np.nan), [np.ones((3, 2))] * 2,
                                                              [(0, 1)] * 2), "finite")),
    ("constructor_complex_factor", _expect_error(lambda: ChebTucker(np.ones((2, 2)), [np.ones((3, 2)) + 1j] * 2,
                                                                    [(0, 1)] * 2), "factors")),
    ("constructor_mismatch", _expect_error(lambda: ChebTucker(np.ones((2, 2)), [np.ones((3, 2)), np.ones((3, 3))],
                                                              [(0, 1)] * 2), "core")),
    ("constructor_tol_nan", _expect_error(lambda: ChebTucker(np.ones((2, 2)), [np.ones((3, 2))] * 2, [(0, 1)] * 2,
                                                             tol=float("nan"), eval_method="table"), "tol")),
    ("constructor_tol_5", _expect_error(lambda: ChebTucker(np.ones((2, 2)), [np.ones((3, 2))] * 2, [(0, 1)] * 2,
                                                           tol=5.0, eval_method="table"), "tol")),
    ("constructor_bound_negative", _expect_error(lambda: ChebTucker(np.ones((2, 2)), [np.ones((3, 2))] * 2,
                                                                    [(0, 1)] * 2, truncation_bound=-1.0),
                                                 "truncation_bound")),
    # ---- canonical input
    ("cp_not_tuple", _expect_error(lambda: chebtucker(CPBad("not_tuple"), [(0, 1)] * 2, degree=4), "cp_factors")),
    ("cp_nan_weight", _expect_error(lambda: chebtucker(CPBad("nan_weight"), [(0, 1)] * 2, degree=4), "non-finite")),
    ("cp_inf_factor", _expect_error(lambda: chebtucker(CPBad("inf_factor"), [(0, 1)] * 2, degree=4), "non-finite")),
    ("cp_wrong_rows", _expect_error(lambda: chebtucker(CPBad("wrong_rows"), [(0, 1)] * 2, degree=4), "factor")),
    ("cp_too_few", _expect_error(lambda: chebtucker(CPBad("too_few"), [(0, 1)] * 2, degree=4), "factor")),
    ("cp_empty", _expect_error(lambda: chebtucker(CPBad("empty"), [(0, 1)] * 2, degree=4), "weights")),
    ("cp_complex", _expect_error(lambda: chebtucker(CPBad("complex"), [(0, 1)] * 2, degree=4), "cp_factors")),
    ("cp_weights_2d", _expect_error(lambda: chebtucker(CPBad("weights_2d"), [(0, 1)] * 2, degree=4), "weights")),
    ("cp_rank_50_vs_direct", _cp_big_rank(50)),
    ("cp_rank_3000_vs_direct", _cp_big_rank(3000)),
    ("cp_rank_41472_no_segfault", _cp_big_rank(41472)),
    ("rhosvd_41472_terms", _rhosvd_direct(41472, 9)),
    ("rhosvd_vs_full_tensor", _rhosvd_vs_full),
    ("rhosvd_41472_memory_limit_refused", _rhosvd_memory_limit),
    ("cp_weights_1e300", lambda: _check_values(chebtucker(CP(40, wscale=1e300), [(-1, 1)] * 3, degree=24),
                                               CP(40, wscale=1e300), [(-1, 1)] * 3, npts=30, rtol=1e-8)),
    # ---- potentials
    ("newton_kernel_vs_1_over_r", _kernel_verified("newton", potentials.newton_kernel(1e-8, 1e-3, 1.0),
                                                   lambda r: 1.0 / r)),
    ("yukawa_kernel_vs_exact", _kernel_verified("yukawa", potentials.yukawa_kernel(2.0, 1e-8, 1e-3, 1.0),
                                                lambda r: np.exp(-2.0 * r) / r)),
    ("newton_kernel_tol_zero", _expect_error(lambda: potentials.newton_kernel(0.0), "tol")),
    ("newton_kernel_rmin_zero", _expect_error(lambda: potentials.newton_kernel(1e-7, 0.0, 1.0), "r_min")),
    ("newton_kernel_rmin_ge_rmax", _expect_error(lambda: potentials.newton_kernel(1e-7, 2.0, 1.0), "r_min")),
    ("newton_kernel_rmax_inf", _expect_error(lambda: potentials.newton_kernel(1e-7, 1e-3, np.inf), "r_max")),
    ("slater_alpha_negative", _expect_error(lambda: potentials.slater_kernel(-1.0), "alpha")),
    ("yukawa_kappa_nan", _expect_error(lambda: potentials.yukawa_kernel(float("nan")), "kappa")),
    ("gaussian_sum_mismatch", _expect_error(lambda: potentials.GaussianSum(np.ones(3), np.ones(2)), "")),
    ("gaussian_sum_negative_t", _expect_error(lambda: potentials.GaussianSum(np.ones(2), -np.ones(2)), "t")),
    ("particles_empty", _expect_error(lambda: potentials.ParticlePotential(potentials.newton_kernel(),
                                                                           np.zeros((0, 3)), np.zeros(0),
                                                                           box=[(-1, 1)] * 3), "positions")),
    ("particles_2d_positions", _expect_error(lambda: potentials.ParticlePotential(potentials.newton_kernel(),
                                                                                  np.zeros((2, 2)), np.ones(2)),
                                             "positions")),
    ("particles_nan", _expect_error(lambda: potentials.ParticlePotential(potentials.newton_kernel(),
                                                                         np.full((2, 3), np.nan), np.ones(2)),
                                    "positions")),
    ("particles_charge_count", _expect_error(lambda: potentials.ParticlePotential(potentials.newton_kernel(),
                                                                                  np.zeros((2, 3)), np.ones(3)),
                                             "charges")),
    ("particles_complex_charges", _expect_error(lambda: potentials.ParticlePotential(
        potentials.newton_kernel(), np.zeros((2, 3)), np.ones(2) + 1j), "charges")),
    ("particles_outside_box", _expect_error(lambda: potentials.ParticlePotential(
        potentials.newton_kernel(), np.array([[5.0, 0, 0]]), np.ones(1), box=[(-1, 1)] * 3), "box")),
    ("particles_kernel_not_gaussian_sum", _expect_error(lambda: potentials.ParticlePotential(
        lambda r: 1 / r, np.zeros((1, 3)), np.ones(1)), "kernel")),
    ("particles_zero_charges", _zero_charges),
    ("particles_overlapping_direct_vs_coulomb", _potential_direct_vs_coulomb(*_OVERLAP)),
    ("particles_two_direct_vs_coulomb", _potential_direct_vs_coulomb(*_TWO)),
    ("long_range_overlapping_ct_vs_direct", _long_range_ct_vs_direct(*_OVERLAP)),
    ("long_range_two_ct_vs_direct", _long_range_ct_vs_direct(*_TWO)),
    ("coulomb_sum_vs_hand", _coulomb_sum_verified),
    ("coulomb_sum_at_particle", _coulomb_at_particle),
    ("coulomb_sum_bad_points", _expect_error(lambda: potentials.coulomb_sum(np.zeros((2, 2)), np.zeros((1, 3)),
                                                                            np.ones(1)), "points")),
    ("lattice_size_zero", _expect_error(lambda: potentials.cubic_lattice((0, 2, 2)), "size")),
    ("lattice_spacing_zero", _expect_error(lambda: potentials.cubic_lattice((2, 2, 2), spacing=0.0), "spacing")),
    ("lattice_charges_unknown", _expect_error(lambda: potentials.cubic_lattice((2, 2, 2), charges="neutral"),
                                              "charges")),
    ("lattice_huge", _expect_error(lambda: potentials.cubic_lattice((10 ** 5, 10 ** 5, 10 ** 5)), "size")),
    ("cloud_N_zero", _expect_error(lambda: potentials.random_cloud(0), "N")),
    ("cloud_N_huge", _expect_error(lambda: potentials.random_cloud(10 ** 9), "N")),
    ("cloud_seed_string", _expect_error(lambda: potentials.random_cloud(10, seed="x"), "seed")),
    ("cloud_separation_above_bond", _expect_error(lambda: potentials.random_cloud(
        20, seed=0, min_separation=5.0), "min_separation")),
    ("cloud_impossible_packing", _random_cloud_impossible),
    ("long_range_spacing_1e200", _expect_error(lambda: _lattice_potential(1e200), "rescale")),
    ("long_range_spacing_1e-200", _expect_error(lambda: _lattice_potential(1e-200), "rescale")),
    ("long_range_spacing_1e120_scaling_law", _scaling_law(1e120)),
    ("long_range_spacing_1e-120_scaling_law", _scaling_law(1e-120)),
    ("kernel_cutoff_below_r_min", _expect_error(lambda: potentials.newton_kernel(1e-7, 1e-3, 10.0).long_range(
        cutoff=1e-300), "cutoff")),
    ("kernel_cutoff_1e300", _expect_error(lambda: potentials.newton_kernel(1e-7, 1e-3, 10.0).long_range(
        cutoff=1e300), "cutoff")),
    ("long_range_cutoff_negative", _expect_error(lambda: potentials.long_range_potential(
        np.zeros((1, 3)), np.ones(1), cutoff=-1.0), "cutoff")),
]
