"""Outside tests (session 7) of the Krylov solvers, the stencil operator and multigrid.

Every claim is checked against an independent reference: ``scipy.sparse.linalg.spsolve`` /
``numpy.linalg.solve`` on the assembled matrix (``StencilOperator.to_csr`` is checked against a Kronecker-sum
Laplacian built here), the analytic eigenvalues of the Dirichlet Laplacian, and the true residual
``||b - A x|| / ||b||`` recomputed here on the returned iterate (in units scaled by a power of ten, so that the
check itself neither under- nor overflows). Cases ported in spirit from SciPy's iterative-solver tests
(``scipy/sparse/linalg/_isolve/tests/test_iterative.py``: Poisson 1-D/2-D, a non-symmetric tridiagonal, a
symmetric indefinite diagonal for MINRES, a singular consistent system), written anew.

Defects these tests caught (fixed in the same commits):

* ``StencilOperator.residual_into`` / ``smooth_rb`` / ``smooth_rb_first`` / ``smooth_rb_pair`` passed grids of
  any shape to the compiled kernels, which index by ``u.shape``: a smaller ``f`` or ``r`` was read / written
  out of bounds (``residual_into(u, f_2x2, r)`` returned garbage, ``smooth_rb(u_12x12, f_12x12)`` on a 10x10
  operator overran the face arrays); colours other than 0/1 were accepted.
* ``StencilOperator.matvec`` of a complex / object vector raised a Numba ``TypingError``; ``matvec_into``
  into an integer / float32 ``out`` silently rounded the product, into a read-only ``out`` raised a
  ``TypingError``.
* ``StencilOperator(k=complex faces)`` / ``shift=complex array`` silently dropped the imaginary part;
  ``k=np.array(2.0)`` raised ``TypeError: len() of unsized object``.
* ``MultigridPreconditioner(A, ...)`` (exported) skipped every argument check of ``multigrid()``:
  ``max_coarse=0``, ``nu=0``, ``coarsening="x"``, ``cycle="x"`` built a hierarchy (``"x-cycle"``), a dense
  ``A`` raised ``AttributeError``.
* ``MultigridPreconditioner.solve`` (the stationary iteration) with ``max|b|`` near 1e-200 / 1e200 returned
  ``x = 0`` (or ``x0``) as ``"converged"`` at relative residual 1: the squared residual under/overflowed.
"""
import itertools
import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import solvers
from solvers.linear import cdm, cg, gmres, minres
from solvers.linear.multigrid import MultigridPreconditioner, multigrid
from solvers.operators import StencilOperator


# ---------------------------------------------------------------------------------------------- references
def _lap1(n, h=1.0):
    return (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) / (h * h)).tocsr()


def _lap_kron(shape, h):
    """The Dirichlet 5-/7-point Laplacian as a Kronecker sum (independent of ``StencilOperator.to_csr``)."""
    d = len(shape)
    A = None
    for a in range(d):
        term = None
        for b in range(d):
            f = _lap1(shape[b], h[b]) if a == b else sp.identity(shape[b])
            term = f if term is None else sp.kron(term, f)
        A = term if A is None else A + term
    return A.tocsr()


def _rel_true(A, b, x, s=1.0):
    """``||b - A x|| / ||b||`` measured in units divided by ``s`` (no under- or overflow in the check)."""
    bs, xs = np.asarray(b, float) / s, np.asarray(x, float).ravel() / s
    return float(np.linalg.norm(bs - A @ xs) / np.linalg.norm(bs))


def _op(shape=(10, 10), h=1.0, **kw):
    return StencilOperator(shape, h, backend="numba", **kw)


# ---------------------------------------------------------------------------------------------- stencil
def test_stencil_to_csr_matches_kronecker_sum_and_analytic_eigenvalues():
    shape, h = (7, 5, 4), (0.3, 0.2, 0.1)
    A = _op(shape, h)
    K = _lap_kron(shape, h)
    assert abs(A.to_csr() - K).max() < 1e-9
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    np.testing.assert_allclose(A.matvec(x), K @ x, rtol=1e-13, atol=1e-10)
    ev = np.linalg.eigvalsh(K.toarray())
    lam = sorted(sum(4 / ha ** 2 * np.sin(np.pi * j / (2 * (n + 1))) ** 2 for j, n, ha in zip(js, shape, h))
                 for js in itertools.product(*(range(1, n + 1) for n in shape)))
    np.testing.assert_allclose(ev, lam, rtol=1e-12)


@pytest.mark.parametrize("method", ["residual_into", "smooth_rb", "smooth_rb_first", "smooth_rb_pair"])
@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("bad", ["small_f", "big_u", "flat", "float32_f", "int_u"])
def test_stencil_grid_methods_refuse_wrong_grids(method, variable, bad):
    shape = (10, 10)
    k = (np.ones((11, 10)), 2.0 * np.ones((10, 11))) if variable else 1.0
    A = _op(shape, k=k)
    u, f, r = np.ones(shape), np.ones(shape), np.empty(shape)
    if bad == "small_f":
        f = np.ones((2, 2))
    elif bad == "big_u":
        u = np.ones((40, 40))
    elif bad == "flat":
        u = u.ravel()
    elif bad == "float32_f":
        f = f.astype(np.float32)
    else:
        u = u.astype(np.int64)
    call = {"residual_into": lambda: A.residual_into(u, f, r), "smooth_rb": lambda: A.smooth_rb(u, f, 0),
            "smooth_rb_first": lambda: A.smooth_rb_first(u, f, 1), "smooth_rb_pair": lambda: A.smooth_rb_pair(u, f, 0)}
    err = TypeError if bad in ("float32_f", "int_u") else ValueError
    with pytest.raises(err, match=f"StencilOperator.{method}: [uf] has"):
        call[method]()


def test_stencil_grid_methods_refuse_bad_colour_and_read_only_output():
    A = _op()
    u, f = np.zeros((10, 10)), np.ones((10, 10))
    for c in (2, -1, True, 0.0):
        with pytest.raises(ValueError, match="color must be 0 or 1"):
            A.smooth_rb(u, f, c)
    ro = np.zeros((10, 10))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="u is read-only"):
        A.smooth_rb(ro, f, 0)
    with pytest.raises(ValueError, match="r is read-only"):
        A.residual_into(u, f, ro)


def test_stencil_grid_methods_still_right_on_good_grids():
    """The checks change nothing on valid input: residual and one red half sweep against the assembled matrix."""
    shape, h = (9, 6), (0.1, 0.2)
    A = _op(shape, h)
    C = _lap_kron(shape, h)
    rng = np.random.default_rng(1)
    u, f, r = rng.standard_normal(shape), rng.standard_normal(shape), np.empty(shape)
    rr = A.residual_into(u, f, r)
    ref = f.ravel() - C @ u.ravel()
    np.testing.assert_allclose(r.ravel(), ref, rtol=1e-12, atol=1e-9)
    assert rr == pytest.approx(ref @ ref, rel=1e-12)
    v = u.copy()
    A.smooth_rb(v, f, 0)
    red = (np.indices(shape).sum(0) % 2 == 0).ravel()
    D = C.diagonal()
    exp = u.ravel().copy()
    off = C - sp.diags(D)
    exp[red] = (f.ravel() - off @ u.ravel())[red] / D[red]      # red points see only black neighbours
    np.testing.assert_allclose(v.ravel(), exp, rtol=1e-12, atol=1e-12)


def test_stencil_matvec_dtypes():
    A = _op((6, 7), 0.5)
    C = _lap_kron((6, 7), (0.5, 0.5))
    x = np.arange(42)
    np.testing.assert_allclose(A.matvec(x), C @ x, rtol=1e-14)                    # int: exact product
    np.testing.assert_allclose(A.matvec(x % 2 == 0), C @ (x % 2 == 0), rtol=1e-14)
    for bad in (x * 1j, x.astype(object)):
        with pytest.raises(TypeError, match="x has dtype"):
            A.matvec(bad)
    for dt in (np.int64, np.float32):
        with pytest.raises(TypeError, match="out has dtype"):
            A.matvec_into(x.astype(float), np.empty(42, dtype=dt))
    ro = np.empty(42)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        A.matvec_into(x.astype(float), ro)
    with pytest.raises(ValueError, match=r"x has shape \(41,\)"):
        A.matvec_into(np.ones(41), np.empty(42))
    out = np.zeros((42, 2))
    A.matvec_into(x.astype(float), out[:, 1])                                    # strided output still fine
    np.testing.assert_allclose(out[:, 1], C @ x, rtol=1e-14)


def test_stencil_constructor_rejects_complex_and_reads_0d_arrays():
    shape = (4, 5)
    faces = [np.ones((5, 5)), np.ones((4, 6))]
    with pytest.raises(TypeError, match=r"k\[0\] must be a real array"):
        StencilOperator(shape, 0.1, k=[faces[0] + 1j, faces[1]])
    with pytest.raises(TypeError, match="shift must be a real array"):
        StencilOperator(shape, 0.1, shift=np.ones(shape) * 1j)
    with pytest.raises(TypeError, match="shift must be a real number"):
        StencilOperator(shape, 0.1, shift=1j)
    with pytest.raises(TypeError, match="k must be a positive number"):
        StencilOperator(shape, 0.1, k=True)
    with pytest.raises(ValueError, match="sequence of 2 face arrays"):
        StencilOperator(shape, 0.1, k="ab")
    A0 = StencilOperator(shape, 0.1, k=np.array(2.0), shift=np.array(3.0))
    A1 = StencilOperator(shape, 0.1, k=2.0, shift=3.0)
    assert abs(A0.to_csr() - A1.to_csr()).max() == 0.0
    ref = 2.0 * _lap_kron(shape, (0.1, 0.1)) + 3.0 * sp.identity(20)
    assert abs(A0.to_csr() - ref).max() < 1e-9


# ---------------------------------------------------------------------------------------------- multigrid
@pytest.mark.parametrize("kw, name", [(dict(max_coarse=0), "max_coarse"), (dict(nu=0), "nu"),
                                      (dict(nu=()), "nu"), (dict(max_levels=0), "max_levels"),
                                      (dict(coarsening="x"), "coarsening"), (dict(cycle="x"), "cycle")])
def test_multigrid_class_checks_its_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        MultigridPreconditioner(_op(), **kw)


def test_multigrid_class_refuses_non_stencil_and_bad_fmg_flag():
    with pytest.raises(TypeError, match="StencilOperator"):
        MultigridPreconditioner(np.eye(4))
    with pytest.raises(TypeError, match="fmg_start"):
        MultigridPreconditioner(_op(), fmg_start=1)
    M = MultigridPreconditioner(_op(), nu=2, max_coarse=4)       # valid arguments still build the same cycle
    R = multigrid(_op(), nu=2, max_coarse=4)
    b = np.random.default_rng(0).standard_normal(100)
    np.testing.assert_array_equal(M.matvec(b), R.matvec(b))


@pytest.mark.parametrize("s", [1e-300, 1e-200, 1e-60, 1.0, 1e60, 1e200, 1e300])
@pytest.mark.parametrize("with_x0", [False, True])
def test_multigrid_stationary_solve_any_scale(s, with_x0):
    shape = (15, 12)
    A = _op(shape, (1 / 16, 1 / 13))
    C = _lap_kron(shape, A.h)
    b0 = np.random.default_rng(2).standard_normal(A.shape[0])
    x_ref = spla.spsolve(C.tocsc(), b0)
    x0 = s * np.ones(A.shape[0]) if with_x0 else None
    res = multigrid(A).solve(s * b0, x0=x0, rtol=1e-9, maxiter=60)
    assert res.converged and res.nit > 0
    assert _rel_true(C, s * b0, res.x, s) <= 1e-9
    assert np.abs(res.x / s - x_ref).max() <= 1e-6 * np.abs(x_ref).max()
    assert res.history["residual"][-1] / s == pytest.approx(np.linalg.norm(b0 - C @ (res.x / s)), rel=1e-6)


def test_multigrid_stationary_zero_rhs_and_rtol_zero():
    A = _op((9, 9), 0.1)
    C = _lap_kron((9, 9), A.h)
    res = multigrid(A).solve(np.zeros(81))
    assert res.converged and res.nit == 0 and not np.any(res.x)
    res = multigrid(A).solve(np.ones(81), rtol=0.0, maxiter=40)      # never claims unless b - A x == 0
    assert res.converged == (not np.any(np.ones(81) - C @ res.x))
    assert _rel_true(C, np.ones(81), res.x) < 1e-13


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 2), (3, 3), (2, 3, 5), (5, 7), (1, 200), (1, 1, 1),
                                   (33, 2), (17, 18, 3)])
def test_mg_cg_tiny_and_odd_grids_against_spsolve(shape):
    h = tuple(1.0 / (n + 1) for n in shape)
    A = _op(shape, h)
    C = _lap_kron(shape, h)
    b = np.random.default_rng(3).standard_normal(A.shape[0])
    for mc in (1, 100):
        res = cg(A, b, M=multigrid(A, max_coarse=mc), rtol=1e-10)
        assert res.converged
        assert _rel_true(C, b, res.x) <= 1e-10
        x_ref = spla.spsolve(C.tocsc(), b) if C.shape[0] > 1 else b / C.toarray()[0, 0]
        assert np.abs(res.x - x_ref).max() <= 1e-7 * np.abs(x_ref).max()


def _dense_cycle(M, N):
    return np.column_stack([M.matvec(e) for e in np.eye(N)])


def test_geometric_w_cycle_on_jumping_k_is_refused_and_the_alternatives_are_spd():
    """coarsening='geometric', cycle='W' on k with jumps 1e8 gave a cycle with eigenvalues down to -1 x its
    largest (declared SPD; CG broke down). It is refused now; the Galerkin W-cycle and the geometric V-cycle on
    the same k are SPD (smallest eigenvalue of the assembled cycle > 0) and MG-CG matches spsolve."""
    rng = np.random.default_rng(18)
    shape = (21, 15)
    k = [np.where(rng.random((22, 15)) < 0.3, 1e8, 1.0), np.where(rng.random((21, 16)) < 0.3, 1e8, 1.0)]
    A = _op(shape, 1 / 22, k=k)
    with pytest.raises(ValueError, match="cycle='W' with coarsening='geometric'"):
        multigrid(A, coarsening="geometric", cycle="W")
    C = A.to_csr()
    b = rng.standard_normal(A.shape[0])
    x_ref = spla.spsolve(C.tocsc(), b)
    for kw in (dict(coarsening="galerkin", cycle="W"), dict(coarsening="geometric", cycle="V"), dict()):
        M = multigrid(A, max_coarse=1, **kw)
        D = _dense_cycle(M, A.shape[0])
        assert np.abs(D - D.T).max() <= 1e-8 * np.abs(D).max()
        assert np.linalg.eigvalsh((D + D.T) / 2)[0] > 0
        res = cg(A, b, M=M, rtol=1e-10, maxiter=500)
        assert res.status != "breakdown"
        if M.kind == "galerkin":             # the geometric V-cycle is SPD here but slow on jumps (not the point)
            assert res.status in ("converged", "stagnated")      # random 1e8 faces: near the attainable accuracy
            assert _rel_true(C, b, res.x) <= 1e-6
            assert np.abs(res.x - x_ref).max() <= 1e-4 * np.abs(x_ref).max()
    # constant k (and k within the contrast factor) keeps the geometric W-cycle, which is SPD there
    for kk in (1.0, [1 + 0.5 * rng.random((22, 15)), 1 + 0.5 * rng.random((21, 16))]):
        B = _op(shape, 1 / 22, k=kk)
        M = multigrid(B, coarsening="geometric", cycle="W", max_coarse=1)
        assert M.cycle_kind == "W"
        D = _dense_cycle(M, B.shape[0])
        assert np.linalg.eigvalsh((D + D.T) / 2)[0] > 0


# ---------------------------------------------------------------------------------------------- operators
def test_operator_times_array_is_a_clear_error_not_an_object_array():
    H = np.diag([2.0, 3.0, 4.0])
    Ho = solvers.aslinearoperator(H)
    with pytest.raises(TypeError, match="multiplied by a scalar only"):
        np.ones(3) * Ho                      # was an object array of three ScaledOperators
    with pytest.raises(TypeError, match="multiplied by a scalar only"):
        Ho * np.ones(3)
    np.testing.assert_allclose(H @ Ho, H @ H)    # the array H Ho, as Ho @ H is (was a TypeError; a gufunc error before)
    x = np.array([1.0, -2.0, 0.5])
    for alpha in (np.float64(2.5), np.array(2.5), 2.5, np.int64(2)):
        for op in (alpha * Ho, Ho * alpha):
            np.testing.assert_allclose(op.matvec(x), float(alpha) * (H @ x), rtol=1e-15)
    np.testing.assert_allclose(Ho @ x, H @ x)
    np.testing.assert_allclose((Ho @ H), H @ H)


def test_fmg_initial_guess_checks_its_arguments():
    """``MultigridPreconditioner.initial_guess`` (public) handed any b / out to the kernels: complex b raised a
    Numba TypingError, an int64 out silently received truncated zeros, a short out a reshape error."""
    A = _op((31, 33), 1 / 32)
    M = multigrid(A, fmg_start=True)
    b = np.random.default_rng(4).standard_normal(A.shape[0])
    with pytest.raises(TypeError, match="b has dtype complex128"):
        M.initial_guess(b * 1j, np.empty_like(b))
    with pytest.raises(TypeError, match="out has dtype int64"):
        M.initial_guess(b, np.empty(b.shape, dtype=np.int64))
    with pytest.raises(ValueError, match="b and out must have shape"):
        M.initial_guess(b, np.empty(5))
    ro = np.empty_like(b)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        M.initial_guess(b, ro)
    g1, g2 = M.initial_guess(b, np.empty_like(b)), M.initial_guess(b.reshape(31, 33), np.empty_like(b))
    np.testing.assert_array_equal(g1, g2)
    # the FMG start is a good approximation: error below that of x = 0 by a wide margin (spsolve reference)
    x_ref = spla.spsolve(A.to_csr().tocsc(), b)
    assert np.linalg.norm(g1 - x_ref) < 0.5 * np.linalg.norm(x_ref)
    res = cg(A, b, M=M, rtol=1e-10)
    assert res.converged and _rel_true(A.to_csr(), b, res.x) <= 1e-10


# ---------------------------------------------------------------------------------------------- Krylov
def _scipy_cases():
    """Systems in the spirit of SciPy's ``_isolve/tests/test_iterative.py`` (written anew here)."""
    n = 40
    rng = np.random.default_rng(11)
    P1 = _lap1(n)
    P2 = _lap_kron((7, 6), (1.0, 1.0))
    nonsym = (P1 + sp.diags([0.3], [1], shape=(n, n))).tocsr()
    indef = (sp.diags(np.linspace(-3, 5, n) + 0.01) + 0.1 * P1).tocsr()
    sing = sp.diags(np.r_[0.0, np.arange(1.0, n)]).tocsr()
    b_sing = np.r_[0.0, rng.standard_normal(n - 1)]
    return {"poisson1d": (P1, rng.standard_normal(n), ("cg", "minres", "gmres", "cdm")),
            "poisson2d": (P2, rng.standard_normal(42), ("cg", "minres", "gmres", "cdm")),
            "nonsymmetric": (nonsym, rng.standard_normal(n), ("gmres",)),
            "indefinite": (indef, rng.standard_normal(n), ("minres", "gmres")),
            "singular_consistent": (sing, b_sing, ("cg", "minres", "gmres", "cdm"))}


_SOLVERS = {"cg": cg, "minres": minres, "gmres": gmres, "cdm": cdm}


@pytest.mark.parametrize("case", list(_scipy_cases()))
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_scipy_style_cases_against_direct_solves(case, backend):
    A, b, names = _scipy_cases()[case]
    for name in names:
        res = _SOLVERS[name](A, b, rtol=1e-10, maxiter=4000, backend=backend)
        assert res.converged, (name, res.message)
        assert _rel_true(A, b, res.x) <= 1e-10 * (1 + 1e-6)
        if case == "singular_consistent":       # the Krylov iterate from x0 = 0 stays in range(A): x[0] = 0
            x_ref = np.r_[0.0, b[1:] / np.arange(1.0, A.shape[0])]
        else:
            x_ref = spla.spsolve(A.tocsc(), b)
        assert np.abs(res.x - x_ref).max() <= 1e-6 * np.abs(x_ref).max(), name


@pytest.mark.parametrize("case", ["nonsymmetric", "indefinite"])
def test_spd_solvers_never_claim_on_non_spd(case):
    A, b, _ = _scipy_cases()[case]
    for name in ("cg", "cdm"):
        res = _SOLVERS[name](A, b, rtol=1e-10, maxiter=400)
        assert not res.converged or _rel_true(A, b, res.x) <= 1e-10 * (1 + 1e-6)
        if not res.converged:
            assert res.status in ("breakdown", "maxiter", "stagnated")


def test_cg_breakdown_on_indefinite_preconditioner_reports_it():
    A = _lap1(30)
    b = np.ones(30)
    M = sp.diags(np.where(np.arange(30) % 2, 1.0, -1.0)).tocsr()
    res = cg(A, b, M=M)
    assert res.status == "breakdown" and not res.converged and "preconditioner M is not symmetric positive" in res.message


def _claim_holds(A, b, res, rtol):
    """A convergence claim holds when the true residual, in extended precision, is below ``rtol ||b||`` up to the
    rounding of one residual evaluation in double (``2 n eps || |A| |x| + |b| ||``)."""
    if not res.converged:
        return True
    s = float(np.abs(b).max()) or 1.0
    x, bb = res.x / s, b / s
    r = bb.astype(np.longdouble) - A.astype(np.longdouble) @ x.astype(np.longdouble)
    nb = np.linalg.norm(bb)
    if nb == 0:
        return not np.any(x)
    unc = 2 * len(b) * 2.3e-16 * np.linalg.norm(np.abs(A) @ np.abs(x) + np.abs(bb))
    return float(np.sqrt(np.sum(r * r))) <= rtol * nb * (1 + 1e-6) + unc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 20), kind=st.sampled_from(["spd", "indefinite", "nonsymmetric", "singular"]),
       logcond=st.floats(0, 14), logscale=st.floats(-300, 300), logrtol=st.floats(-15, -2),
       maxiter=st.integers(0, 120), seed=st.integers(0, 2 ** 31), use_x0=st.booleans())
def test_property_no_solver_claims_a_residual_it_did_not_reach(n, kind, logcond, logscale, logrtol, maxiter, seed,
                                                                use_x0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.logspace(0, logcond, n)
    if kind == "indefinite":
        ev *= rng.choice([-1.0, 1.0], n)
    A = Q @ np.diag(ev) @ Q.T
    A = (A + A.T) / 2
    if kind == "nonsymmetric":
        A = A + 1e-3 * ev.max() * rng.standard_normal((n, n))
    s = 10.0 ** logscale
    b = s * rng.standard_normal(n)
    if kind == "singular":
        A[0, :] = A[:, 0] = 0.0
        b[0] = 0.0
    x0 = s * rng.standard_normal(n) if use_x0 else None
    rtol = 10.0 ** logrtol
    for name, solve in _SOLVERS.items():
        res = solve(A, b, x0=x0, rtol=rtol, maxiter=maxiter)
        assert _claim_holds(A, b, res, rtol), (name, res.status, res.nit)
        assert np.all(np.isfinite(res.x))


def test_threads_one_and_two_give_the_same_mg_cg_answer(tmp_path):
    """MG-CG and MINRES+MG on a variable-coefficient 2-D/3-D problem: NEWTONKIT_NUM_THREADS=1 and 2 agree to
    1e-12 (the converged iterates; separate processes, since the thread count is read at start-up)."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from solvers.linear import cg, minres\n"
        "from solvers.linear.multigrid import multigrid\n"
        "from solvers.operators import StencilOperator\n"
        "rng = np.random.default_rng(0); out = []\n"
        "for shp in [(130, 127), (24, 23, 25)]:\n"
        "    k = tuple(np.exp(rng.uniform(-3, 3, tuple(n + 1 if b == a else n for b, n in enumerate(shp))))"
        " for a in range(len(shp)))\n"
        "    A = StencilOperator(shp, 1.0 / (shp[0] + 1), k=k); b = rng.standard_normal(A.shape[0])\n"
        "    M = multigrid(A)\n"
        "    out += [cg(A, b, M=M, rtol=1e-11).x, minres(A, b, M=M, rtol=1e-11).x]\n"
        "np.save(sys.argv[1], np.concatenate(out))\n")
    res = {}
    for t in (1, 2):
        env = dict(os.environ, NEWTONKIT_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS="1")
        f = tmp_path / f"x{t}.npy"
        subprocess.run([sys.executable, "-c", code, str(f)], env=env, check=True, timeout=300)
        res[t] = np.load(f)
    assert np.abs(res[1] - res[2]).max() <= 1e-12 * np.abs(res[1]).max()


def test_results_pickle_and_keep_their_claims():
    A, b, _ = _scipy_cases()["poisson2d"]
    op = _op((7, 6), 1.0)
    M = multigrid(op)
    for res in (cg(A, b), minres(A, b), gmres(A, b), cdm(A, b), cg(op, b, M=M), M.solve(b)):
        r2 = pickle.loads(pickle.dumps(res))
        assert r2.converged == res.converged and r2.status == res.status
        np.testing.assert_array_equal(r2.x, res.x)
        assert _rel_true(A, b, r2.x) <= 1e-8 * (1 + 1e-6)
    M2 = pickle.loads(pickle.dumps(M))
    np.testing.assert_array_equal(M2.matvec(b), M.matvec(b))


def test_multigrid_refuses_a_smoothing_count_that_hangs():
    """nu = 1e5 on a 64^2 grid took minutes per cycle (a hang inside CG); nu is capped at NU_MAX."""
    from solvers.linear.multigrid import NU_MAX

    A = _op((64, 64), 1 / 65)
    for nu in (NU_MAX + 1, 10 ** 5, (1, 2, 10 ** 6)):
        with pytest.raises(ValueError, match=f"nu must be <= {NU_MAX}"):
            multigrid(A, nu=nu)
    M = multigrid(A, nu=NU_MAX // 10)
    b = np.random.default_rng(5).standard_normal(A.shape[0])
    res = cg(A, b, M=M, rtol=1e-10)
    assert res.converged and _rel_true(_lap_kron((64, 64), A.h), b, res.x) <= 1e-10


def test_stationary_multigrid_on_indefinite_a_stops_as_diverged_with_its_best_iterate():
    """shift = -200 (A indefinite): the stationary cycle diverges. It ran all maxiter cycles and returned an
    iterate with relative residual 4e12 (status maxiter); now it stops as "diverged" and returns the iterate with
    the smallest residual, whose true residual is the one reported. CG/MINRES report the indefinite cycle as a
    breakdown; GMRES with the same cycle converges (checked against spsolve)."""
    A = _op((31, 31), 1 / 32, shift=-200.0)
    C = A.to_csr()
    b = np.ones(A.shape[0])
    M = multigrid(A)
    res = M.solve(b, maxiter=500)
    assert res.status == "diverged" and not res.converged and res.nit < 100
    true = np.linalg.norm(b - C @ res.x)
    assert true == pytest.approx(res.history["residual"][-1], rel=1e-8)
    assert true <= np.linalg.norm(b)                         # never worse than x = 0
    for solve in (cg, minres):
        assert solve(A, b, M=M).status == "breakdown"
    g = gmres(A, b, M=M, rtol=1e-10)
    assert g.converged and np.abs(g.x - spla.spsolve(C.tocsc(), b)).max() <= 1e-7 * np.abs(g.x).max()
    ok = multigrid(_op((31, 31), 1 / 32, shift=-30.0)).solve(b)          # still a convergent iteration there
    assert ok.converged and _rel_true(_op((31, 31), 1 / 32, shift=-30.0).to_csr(), b, ok.x) <= 1e-8


# ---------------------------------------------------------------------------------------------- PDE problems
@pytest.mark.parametrize("kind", ["sin", "variable_k", "bubble"])
@pytest.mark.parametrize("domain", [None, [(-1.0, 2.0), (0.5, 0.75)]])
def test_poisson_manufactured_second_order_convergence(kind, domain):
    """The analytic solutions of Poisson.manufactured: the max error of MG-CG solutions falls by ~4 per halving
    of h (second order) on the unit square and on an anisotropic shifted box (aspect ratio 12:1)."""
    from problems.pde import Poisson

    errs = []
    for n in (15, 31, 63):
        p = Poisson.manufactured((n, n), kind=kind, domain=domain)
        res = solvers.solve(p, method="cg", precond="mg", rtol=1e-13)
        C, b = p.csr(), p.rhs("numpy")
        assert _rel_true(C, b, res.x) <= 1e-12
        errs.append(p.error(res.x))
    ratios = [errs[i] / errs[i + 1] for i in range(2)]
    assert all(3.6 <= q <= 4.4 for q in ratios), (errs, ratios)


def test_poisson_jump_1e12_and_1e_minus_12_against_spsolve():
    from problems.pde import Poisson

    for J in (1e12, 1e-12):
        p = Poisson((47, 47), f=1.0, k=lambda x, y, J=J: np.where(x < 1 / 3, 1.0, J))
        res = solvers.solve(p, method="cg", precond="mg", rtol=1e-10)
        C, b = p.csr(), p.rhs("numpy")
        x_ref = spla.spsolve(C.tocsc(), b)
        assert res.converged and _rel_true(C, b, res.x) <= 1e-10
        assert np.abs(np.ravel(res.x) - x_ref).max() <= 1e-8 * np.abs(x_ref).max()


def test_multigrid_nu_as_numpy_array():
    """nu = np.array([1, 2]) was refused ("nu must be an integer >= 1 ...") although it is a sequence of counts."""
    A = _op((20, 20), 1 / 21)
    b = np.random.default_rng(6).standard_normal(400)
    np.testing.assert_array_equal(multigrid(A, nu=np.array([1, 2])).matvec(b), multigrid(A, nu=(1, 2)).matvec(b))
    np.testing.assert_array_equal(multigrid(A, nu=np.array(2)).matvec(b), multigrid(A, nu=2).matvec(b))
    for bad in (np.array([1.5]), np.array([]), np.array([[1]]), np.array([0, 1])):
        with pytest.raises(ValueError, match="nu must be"):
            multigrid(A, nu=bad)


def _neumann_laplacian(n=30):
    D = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tolil()
    D[0, 0] = D[-1, -1] = 1.0
    D = D.tocsr()
    return (sp.kron(D, sp.identity(n)) + sp.kron(sp.identity(n), D)).tocsr()


@pytest.mark.parametrize("maxiter", [200, 500, 3000])
def test_minres_singular_inconsistent_returns_the_least_squares_iterate(maxiter):
    """Pure-Neumann Laplacian (null space: constants) with b not orthogonal to it. MINRES's recurrence kept
    shrinking phibar (1.5e-6 ||b|| reported in the history) while x blew up to 3e15: the returned iterate had
    a true relative residual 2e14 under status "maxiter". Now the iterate near the least-squares point is kept
    (true residual checked) and returned; the reported residual is the true one and equals the least-squares
    optimum ||b - A A^+ b|| (numpy.linalg.pinv)."""
    A = _neumann_laplacian()
    rng = np.random.default_rng(0)
    b = rng.standard_normal(A.shape[0])
    b -= b.mean()
    b += 0.1
    res = minres(A, b, rtol=1e-10, maxiter=maxiter)
    assert not res.converged
    true = np.linalg.norm(b - A @ res.x)
    assert true == pytest.approx(res.history["residual"][-1], rel=1e-10)
    lsq = np.linalg.norm(b - A @ (np.linalg.pinv(A.toarray()) @ b))
    assert true <= lsq * (1 + 1e-6)
    # the consistent system (b orthogonal to the constants) is unchanged: converged, minimum-norm solution
    b0 = b - b.mean()
    r0 = minres(A, b0, rtol=1e-10)
    assert r0.converged and r0.stats["matvecs"] == r0.nit + 1
    x_mn = np.linalg.pinv(A.toarray()) @ b0
    assert np.abs(r0.x - x_mn).max() <= 1e-8 * np.abs(x_mn).max()


def test_minres_maxiter_reports_the_true_residual():
    A, b, _ = _scipy_cases()["indefinite"]
    res = minres(A, b, rtol=1e-14, maxiter=7)
    assert res.status == "maxiter"
    assert res.history["residual"][-1] == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-12)


@pytest.mark.parametrize("kind, contrast", [("smooth", 20.0), ("inclusion", 100.0), ("random", 50.0)])
def test_explicit_geometric_w_cycle_is_kept_up_to_its_measured_contrast(kind, contrast):
    """helper-43: the refusal above (7d33cae) first fired from a 10x contrast, refusing W-cycles that worked (CG
    to 1e-10 at 20x smooth, 100x inclusion, random 50x); it now fires above GEOMETRIC_W_CONTRAST = 100x. Checked
    against spsolve, and the assembled cycle on a small grid is SPD."""
    from solvers.linear.multigrid import GEOMETRIC_W_CONTRAST

    rng = np.random.default_rng(7)
    n = 63
    X, Y = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(0, 1, n), indexing="ij")
    if kind == "smooth":
        k0 = 1 + (contrast - 1) * X * Y
        k1 = 1 + (contrast - 1) * Y.T * X.T
    elif kind == "inclusion":
        k0 = np.where((abs(X - 0.4) < 0.2) & (abs(Y - 0.55) < 0.2), contrast, 1.0)
        k1 = k0.T.copy()
    else:
        k0 = np.exp(np.log(contrast) * rng.random((n + 1, n)))
        k1 = np.exp(np.log(contrast) * rng.random((n, n + 1)))
    A = _op((n, n), 1 / (n + 1), k=[k0, k1])
    M = multigrid(A, coarsening="geometric", cycle="W")
    assert M.cycle_kind == "W" and contrast <= GEOMETRIC_W_CONTRAST
    b = rng.standard_normal(A.shape[0])
    res = cg(A, b, M=M, rtol=1e-10, maxiter=400)
    C = A.to_csr()
    x_ref = spla.spsolve(C.tocsc(), b)
    assert res.converged and _rel_true(C, b, res.x) <= 1e-9
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-7 * np.abs(x_ref).max())
    over = _op((n, n), 1 / (n + 1), k=[k0 * (1 + 3 * GEOMETRIC_W_CONTRAST * (k0 > k0.min())), k1])
    with pytest.raises(ValueError, match="cycle='W' with coarsening='geometric'"):
        multigrid(over, coarsening="geometric", cycle="W")
