"""Issue 7 regressions for the Krylov solvers: memory safety of operator outputs, convergence claimed
only on the true residual of the returned iterate, scale invariance over the double range, GMRES on
near-singular least-squares problems, and option validation with messages that name the argument.

Every numeric claim is checked against an independent reference (dense ``numpy.linalg.solve`` /
SciPy), never against the solver's own bookkeeping."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import solvers
from solvers.linear import chebyshev, jacobi
from solvers.operators import FunctionOperator, LinearOperator

SOLVERS = {"cg": solvers.cg, "minres": solvers.minres, "gmres": solvers.gmres, "cdm": solvers.cdm}


def lap2d(m):
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    return sp.kronsum(T, T).tocsr()


def spd(n, cond, seed):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.logspace(0, -math.log10(cond), n)) @ Q.T


def nrm(v):
    """Overflow-safe 2-norm."""
    m = float(np.max(np.abs(v)))
    return 0.0 if m == 0 else m * float(np.linalg.norm(v / m))


def true_residual(A, b, x):
    e = math.frexp(float(np.max(np.abs(b))))[1]
    return math.ldexp(nrm(np.ldexp(b, -e) - A @ np.ldexp(x, -e)), e)


# ------------------------------------------------------------------ class 1: memory safety
BAD_OUTPUTS = {
    "short": (lambda x: x[: x.shape[0] // 2].copy(), ValueError, r"shape \(18,\), expected \(36,\)"),
    "one": (lambda x: np.ones(1), ValueError, r"shape \(1,\), expected \(36,\)"),
    "long": (lambda x: np.concatenate([x, x]), ValueError, r"shape \(72,\)"),
    "matrix": (lambda x: np.stack([x, x], 1), ValueError, r"shape \(36, 2\)"),
    "complex": (lambda x: x * (1 + 1j), TypeError, "complex"),
    "int": (lambda x: np.ones(x.shape[0], dtype=np.int32), TypeError, "int32"),
    "list": (lambda x: list(x), TypeError, "list"),
}


@pytest.mark.parametrize("method", sorted(SOLVERS))
@pytest.mark.parametrize("bad", sorted(BAD_OUTPUTS))
def test_operator_output_is_validated_before_any_kernel(cpu_backend, method, bad):
    fn, exc, pattern = BAD_OUTPUTS[bad]
    A = FunctionOperator((36, 36), fn)
    with pytest.raises(exc, match=pattern) as info:
        SOLVERS[method](A, np.ones(36), backend=cpu_backend)
    assert str(info.value).startswith("A") and "FunctionOperator" in str(info.value)


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_preconditioner_output_is_validated(cpu_backend, method):
    A = lap2d(6)
    M = FunctionOperator(A.shape, lambda r: r[:5].copy())
    with pytest.raises(ValueError, match=r"^M.*\(5,\).*\(36,\)"):
        SOLVERS[method](A, np.ones(36), M=M, backend=cpu_backend)


def test_issue_example_huge_n_raises_instead_of_crashing():
    n = 2_000_000      # the issue's 2e7 needs 1 GB of vectors; the check is O(1), independent of n
    A = FunctionOperator((n, n), lambda x: np.ones(1))
    with pytest.raises(ValueError, match=rf"A \(a FunctionOperator of shape \({n}, {n}\)\).*\(1,\).*\({n},\)"):
        solvers.cg(A, np.ones(n), backend="numba")
    with pytest.raises(ValueError, match=r"\(6,\).*\(12,\)"):
        solvers.cg(FunctionOperator((12, 12), lambda x: np.ones(6)), np.ones(12), backend="numba")


def test_duck_typed_and_subclassed_operators_are_checked():
    class Duck:
        shape, dtype = (20, 20), np.float64

        def matvec(self, x):
            return np.ones(3)

    class Sub(LinearOperator):
        def _matvec(self, x):
            return x[::2].copy()

    with pytest.raises(ValueError, match=r"A.*Duck.*\(3,\)"):
        solvers.cg(Duck(), np.ones(20), backend="numba")
    with pytest.raises(ValueError, match=r"A.*\(10,\).*Sub"):
        solvers.minres(Sub((20, 20)), np.ones(20), backend="numba")


def test_fused_diagonal_of_wrong_length_is_refused():
    class MyJacobi(LinearOperator):
        inv_diagonal = np.ones(3)

        def _matvec(self, r):
            return r.copy()

    with pytest.raises(ValueError, match=r"M.diagonal.*\(3,\)"):
        solvers.cg(lap2d(6), np.ones(36), M=MyJacobi((36, 36)), backend="numba")


def test_preconditioners_check_their_operator_and_arguments():
    bad = FunctionOperator((30, 30), lambda x: x[:10].copy(), diagonal=np.ones(3))
    with pytest.raises(ValueError, match=r"A \(of the Chebyshev preconditioner\).*\(10,\)"):
        solvers.cg(np.eye(30), np.ones(30), M=chebyshev(bad, bounds=(0.5, 2.0), degree=3), backend="numba")
    with pytest.raises(ValueError, match=r"diagonal\(\) returned an array of shape \(3,\), expected \(30,\)"):
        jacobi(bad)
    J = jacobi(lap2d(4))
    with pytest.raises(ValueError, match="matvec_into"):
        J.matvec_into(np.ones(1), np.empty(16))       # NumPy would broadcast silently
    C = chebyshev(lap2d(4), degree=3)
    with pytest.raises(ValueError, match="matvec_into"):
        C.matvec_into(np.ones(3), np.empty(16))


def test_sparse_structure_and_fast_methods_are_checked():
    bad = sp.csr_matrix((np.ones(3), np.array([0, 1, 10 ** 6]), np.array([0, 1, 2, 3])), shape=(3, 3))
    with pytest.raises(ValueError, match="A is not a valid sparse matrix"):
        solvers.cg(bad, np.ones(3), backend="numba")
    op = solvers.aslinearoperator(lap2d(4), backend="numba")
    with pytest.raises(ValueError, match=r"\(16,\)"):
        op.matvec_into(np.ones(3), np.empty(16))
    with pytest.raises(ValueError, match=r"\(16,\)"):
        op.matvec_dot(np.ones(16), np.empty(4))


def test_numba_kernels_refuse_mismatched_lengths():
    from solvers._kernels.numba import krylov as K

    for ks in (K.select(10), K.select(10 ** 6)):
        with pytest.raises(ValueError, match="different lengths"):
            ks.cg_update_xr(np.zeros(10), np.zeros(10), np.zeros(10), np.zeros(3), 1.0)
        with pytest.raises(ValueError, match="different lengths"):
            ks.dot(np.zeros(10), np.zeros(2))


def test_float32_and_strided_outputs_are_accepted(cpu_backend):
    A = lap2d(6)
    b = np.random.default_rng(0).standard_normal(36)
    x_ref = np.linalg.solve(A.toarray(), b)

    def strided(x):
        out = np.empty(72)
        out[::2] = A @ x
        return out[::2]

    res = solvers.cg(FunctionOperator(A.shape, strided), b, rtol=1e-10, backend=cpu_backend)
    assert res.converged and np.allclose(res.x, x_ref, rtol=1e-8)
    res = solvers.cg(FunctionOperator(A.shape, lambda x: (A @ x).astype(np.float32)), b, rtol=1e-5,
                     backend=cpu_backend)
    assert res.converged and true_residual(A, b, res.x) <= 1e-5 * nrm(b)


def test_minres_with_an_operator_that_returns_its_input(cpu_backend):
    b = np.random.default_rng(1).standard_normal(20)
    res = solvers.minres(FunctionOperator((20, 20), lambda x: x), b, rtol=1e-12, backend=cpu_backend)
    assert res.converged and np.allclose(res.x, b, rtol=1e-12)


# ------------------------------------------------------------------ class 2: convergence on the true residual
@pytest.mark.parametrize("rtol", [1e-12, 1e-13, 1e-14, 1e-15])
@pytest.mark.parametrize("case", ["spd1e8", "spd1e10", "jacobi"])
def test_cg_claims_only_what_the_true_residual_confirms(cpu_backend, rtol, case):
    rng = np.random.default_rng(7)
    if case == "jacobi":
        A = lap2d(20) @ sp.diags(np.logspace(0, 3, 400)) @ lap2d(20) + sp.eye(400)
        A = sp.csr_matrix(0.5 * (A + A.T))
        M = jacobi(A)
    else:
        A, M = spd(80, float(case[3:]), 3), None
    b = rng.standard_normal(A.shape[0])
    res = solvers.cg(A, b, rtol=rtol, M=M, maxiter=5000, backend=cpu_backend)
    true = true_residual(A, b, res.x)
    h = res.history["residual"]
    assert len(h) == res.nit + 1
    if res.converged:
        assert true <= rtol * nrm(b) * (1 + 1e-9)
    else:
        assert res.status in ("stagnated", "maxiter")
        if res.status == "stagnated":
            assert "attainable accuracy" in res.message
    if res.status in ("converged", "stagnated", "maxiter"):
        # the reported final residual is the true one of the returned x
        assert h[-1] == pytest.approx(true, rel=1e-6, abs=1e-14 * nrm(b))


@pytest.mark.parametrize("method", ["cg", "cdm"])
def test_rtol_atol_zero_never_claims_convergence(cpu_backend, method):
    A = spd(40, 1e6, 6)
    b = np.random.default_rng(6).standard_normal(40)
    res = SOLVERS[method](A, b, rtol=0.0, atol=0.0, maxiter=2000, backend=cpu_backend)
    assert not res.converged or true_residual(A, b, res.x) == 0.0
    assert res.status in ("stagnated", "maxiter")
    assert res.history["residual"][-1] == pytest.approx(true_residual(A, b, res.x), rel=1e-6)


def test_cg_residual_replacement_recovers_a_false_claim():
    """A recursive residual that drifted below the tolerance: CG restarts from the true residual."""
    A = spd(80, 1e10, 3)
    b = np.random.default_rng(7).standard_normal(80)
    res = solvers.cg(A, b, rtol=1e-12, maxiter=5000, backend="numpy")
    if res.converged:
        assert true_residual(A, b, res.x) <= 1e-12 * nrm(b)
    assert res.stats["matvecs"] >= res.nit + 1     # the confirming matvec(s)


def test_cg_and_cdm_exact_zero_residual_is_convergence(cpu_backend):
    res = solvers.cg(np.eye(5), np.ones(5), rtol=0.0, atol=0.0, backend=cpu_backend)
    assert res.converged and np.array_equal(res.x, np.ones(5))


# ------------------------------------------------------------------ scale invariance
SCALES = [1e-300, 1e-250, 1e-170, 1e-100, 1e-40, 1.0, 1e40, 1e100, 1e200, 1e250, 1e300]


@pytest.mark.parametrize("method", sorted(SOLVERS))
@pytest.mark.parametrize("s", SCALES)
def test_solution_scales_with_the_right_hand_side(method, s):
    A = lap2d(7)
    b0 = np.random.default_rng(2).standard_normal(49)
    x_ref = spla.spsolve(A.tocsc(), b0)                          # SciPy reference, unscaled
    res = SOLVERS[method](A, s * b0, rtol=1e-10, backend="numba" if method in ("cg", "cdm") else "numpy")
    assert res.converged and res.nit > 0, res.message
    assert nrm(res.x / s - x_ref) <= 1e-7 * nrm(x_ref)
    assert true_residual(A, s * b0, res.x) <= 1e-10 * nrm(s * b0) * (1 + 1e-9)
    h = res.history["residual"]
    assert h[0] == pytest.approx(nrm(s * b0), rel=1e-12) and len(h) == res.nit + 1


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_power_of_two_scaling_is_exact(method):
    """b and 2^k b give the same iterations and x scaled by exactly 2^k (the scaling is exact)."""
    A = lap2d(6)
    b = np.random.default_rng(3).standard_normal(36)
    base = SOLVERS[method](A, b, rtol=1e-9, backend="numpy")
    for k in (-1000, -600, -350, 350, 700, 1000):
        res = SOLVERS[method](A, np.ldexp(b, k), rtol=1e-9, backend="numpy")
        assert res.nit == base.nit and res.status == base.status
        np.testing.assert_array_equal(res.x, np.ldexp(base.x, k))
        np.testing.assert_array_equal(res.history["residual"], np.ldexp(base.history["residual"], k))


def test_scaled_solve_with_x0_and_callback_sees_user_units():
    A = lap2d(6)
    b0 = np.random.default_rng(4).standard_normal(36)
    x_ref = np.linalg.solve(A.toarray(), b0)
    seen = []
    res = solvers.cg(A, 1e300 * b0, x0=0.5e300 * x_ref, rtol=1e-10, backend="numba",
                     callback=lambda intermediate_result: seen.append(
                         (nrm(intermediate_result.x), intermediate_result.residual)))
    assert res.converged and nrm(res.x / 1e300 - x_ref) <= 1e-7 * nrm(x_ref)
    assert seen and all(1e299 < xn < 1e302 for xn, _ in seen)        # the callback's x is in user units
    assert seen[-1][1] == pytest.approx(res.history["residual"][-2] if len(seen) > res.nit else seen[-1][1])


def test_nonfinite_message_does_not_blame_x0_when_none_was_given():
    A = FunctionOperator((4, 4), lambda x: x * np.inf)
    res = solvers.cg(A, np.ones(4), backend="numpy")
    assert res.status == "nonfinite" and "x0" not in res.message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(-1000, 1000), n=st.integers(2, 30), seed=st.integers(0, 2 ** 31 - 1),
       method=st.sampled_from(sorted(SOLVERS)))
def test_property_scale_invariance(k, n, seed, method):
    """Random SPD systems scaled by 2^k (the whole double range): clear error or a verified answer."""
    A = spd(n, 1e3, seed)
    b0 = np.random.default_rng(seed).standard_normal(n)
    b = np.ldexp(b0, k)
    res = SOLVERS[method](A, b, rtol=1e-9, backend="numpy")
    x_ref = np.linalg.solve(A, b0)
    if res.converged:
        assert true_residual(A, b, res.x) <= 1e-9 * nrm(b) * (1 + 1e-9)
        assert nrm(np.ldexp(res.x, -k) - x_ref) <= 1e-5 * nrm(x_ref)
    else:
        assert res.status in ("maxiter", "stagnated")


# ------------------------------------------------------------------ class 3: GMRES
def test_gmres_never_returns_worse_than_the_best_iterate():
    rng = np.random.default_rng(13)
    for _ in range(60):
        n = int(rng.integers(5, 40))
        U, _ = np.linalg.qr(rng.standard_normal((n, n)))
        W, _ = np.linalg.qr(rng.standard_normal((n, n)))
        A = (U * np.logspace(0, -rng.uniform(14, 20), n)) @ W.T
        b = rng.standard_normal(n)
        best = []
        res = solvers.gmres(A, b, rtol=1e-12, restart=int(rng.integers(2, 12)), maxiter=40, backend="numpy",
                            callback=lambda xk: best.append(nrm(b - A @ xk)))
        true = true_residual(A, b, res.x)
        assert true <= nrm(b) * (1 + 1e-12)            # never worse than x0 = 0
        assert res.history["residual"][-1] == pytest.approx(true, rel=1e-6)
        if res.converged:
            assert true <= 1e-12 * nrm(b)


def test_gmres_breakdown_is_relative_to_the_scale():
    # A M r = 0: breakdown at the first step, x unchanged
    res = solvers.gmres(np.zeros((5, 5)), np.ones(5), backend="numpy")
    assert res.status == "breakdown" and not np.any(res.x) and res.nit == 0
    # a uniformly tiny operator is not singular: the scale of A M sets the breakdown threshold
    b = np.random.default_rng(0).standard_normal(5)
    A = 1e-300 * (np.eye(5) + np.diag(np.ones(4), 1))
    res = solvers.gmres(A, b, rtol=1e-10, backend="numpy")
    assert res.converged and true_residual(A, b, res.x) <= 1e-10 * nrm(b)
    # singular relative to its scale (condition 1e300): honest breakdown / stagnation, never worse than x0
    A = np.diag([1.0, 1e-300, 1e-300, 1e-300, 1e-300])
    b = np.ones(5)
    res = solvers.gmres(A, b, rtol=1e-10, backend="numpy")
    assert res.status in ("breakdown", "stagnated") and not res.converged
    assert true_residual(A, b, res.x) <= nrm(b)
    assert res.history["residual"][-1] == pytest.approx(true_residual(A, b, res.x), rel=1e-9)


def test_gmres_singular_inconsistent_is_not_worse_than_x0(cpu_backend):
    A = np.diag([1.0, 2.0, 3.0, 0.0]) + np.diag([1.0, 1.0, 0.0], 1)
    b = np.ones(4)
    res = solvers.gmres(A, b, rtol=1e-12, backend=cpu_backend)
    assert not res.converged
    assert true_residual(A, b, res.x) <= nrm(b)
    # the least-squares optimum over any x has residual 1 (the last row is 0 = 1)
    assert true_residual(A, b, res.x) == pytest.approx(1.0, rel=1e-6)


def test_gmres_maxiter_zero_performs_no_iteration(cpu_backend):
    A = lap2d(5)
    x0 = np.random.default_rng(14).standard_normal(25)
    res = solvers.gmres(A, np.ones(25), x0=x0, maxiter=0, backend=cpu_backend)
    assert res.nit == 0 and res.stats["matvecs"] == 1 and np.array_equal(res.x, x0)   # the one r0 = b - A x0
    res = solvers.gmres(A, np.ones(25), maxiter=0, backend=cpu_backend)
    assert res.nit == 0 and res.stats["matvecs"] == 0 and not np.any(res.x)


# ------------------------------------------------------------------ options and messages
OPTION_CASES = [
    ("cg", {"rtol": -1.0}, ValueError, "rtol"), ("cg", {"rtol": float("nan")}, ValueError, "rtol"),
    ("cg", {"rtol": "1e-8"}, TypeError, "rtol"), ("cg", {"rtol": True}, TypeError, "rtol"),
    ("minres", {"atol": float("inf")}, ValueError, "atol"), ("gmres", {"atol": -1e-3}, ValueError, "atol"),
    ("cg", {"maxiter": -1}, ValueError, "maxiter"), ("cdm", {"maxiter": 2.5}, TypeError, "maxiter"),
    ("gmres", {"maxiter": True}, TypeError, "maxiter"), ("gmres", {"restart": 0}, ValueError, "restart"),
    ("gmres", {"restart": 1.5}, TypeError, "restart"), ("cdm", {"k": -1}, ValueError, "k"),
    ("cdm", {"k": "2"}, TypeError, "k"), ("cg", {"negative_curvature": "foo"}, ValueError, "negative_curvature"),
    ("cg", {"negative_curvature": ["return"]}, ValueError, "negative_curvature"),
    ("cg", {"callback": 5}, TypeError, "callback"), ("minres", {"M": np.eye(17)}, ValueError, "M"),
    ("gmres", {"M": np.ones(16)}, ValueError, "M must be a 2-D array or operator, got a 1-D array"),
    ("cdm", {"x0": np.ones(15)}, ValueError, "x0"), ("cg", {"M": "jacobi"}, TypeError, "M"),
]


@pytest.mark.parametrize("method,kw,exc,words", OPTION_CASES)
def test_options_are_validated_with_a_message_naming_them(method, kw, exc, words):
    with pytest.raises(exc, match=words):
        SOLVERS[method](lap2d(4), np.ones(16), **kw)


@pytest.mark.parametrize("A,pattern", [
    (np.ones(7), r"A must be a 2-D array or operator, got a 1-D array of shape \(7,\)"),
    (np.ones((2, 2, 2)), r"A must be a 2-D array or operator, got a 3-D array"),
    (np.array([[1, "a"], [2, 3]], dtype=object), r"A must hold numbers, got dtype object"),
    ([[1.0, 2.0], [3.0]], "A is a ragged nested list"),
])
def test_bad_A_is_named(A, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        solvers.cg(A, np.ones(7))


def test_cdm_huge_k_does_not_allocate_k_directions():
    A = lap2d(5)
    res = solvers.cdm(A, np.ones(25), k=10 ** 12, rtol=1e-10, backend="numba")
    assert res.converged and res.options["k"] == 10 ** 12
    assert true_residual(A, np.ones(25), res.x) <= 1e-10 * 5


@pytest.mark.parametrize("kw,words", [
    ({"degree": 0}, "degree"), ({"degree": 10 ** 9}, "degree"), ({"degree": "8"}, "degree"),
    ({"bounds": (2.0, 1.0)}, "lmin"), ({"bounds": (1.0,)}, "bounds"), ({"safety": float("nan")}, "safety"),
    ({"lower_ratio": 0.5}, "lower_ratio"), ({"lanczos_steps": 10 ** 9}, "lanczos_steps"),
])
def test_chebyshev_options(kw, words):
    with pytest.raises((ValueError, TypeError), match=words):
        chebyshev(lap2d(4), **kw)


def test_jacobi_and_lanczos_options():
    from solvers.linear import lanczos_bounds

    with pytest.raises(TypeError, match="require_positive"):
        jacobi(lap2d(4), require_positive="yes")
    with pytest.raises(ValueError, match="v0"):
        lanczos_bounds(lap2d(4), v0=np.zeros(16))
    with pytest.raises(ValueError, match=r"v0 has shape \(3,\)"):
        lanczos_bounds(lap2d(4), v0=np.ones(3))
    with pytest.raises(ValueError, match="k"):
        lanczos_bounds(lap2d(4), k=0)


@pytest.mark.parametrize("method", sorted(SOLVERS))
@pytest.mark.parametrize("sa", [1e-300, 1e-200, 1e200, 1e300])
def test_operator_scale_does_not_break_the_norms(method, sa):
    """A scaled by 1e+-300: norms and Lanczos/Arnoldi coefficients stay finite; x scales by 1/sa."""
    A = lap2d(6)
    b = np.random.default_rng(5).standard_normal(36)
    x_ref = np.linalg.solve(A.toarray(), b)
    base = SOLVERS[method](A, b, rtol=1e-10, backend="numpy")
    res = SOLVERS[method](A * sa, b, rtol=1e-10, backend="numpy")
    assert res.converged, res.message
    assert abs(res.nit - base.nit) <= 2
    assert nrm(res.x * sa - x_ref) <= 1e-7 * nrm(x_ref)
