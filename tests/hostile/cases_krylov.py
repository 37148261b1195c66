"""Hostile inputs for the Krylov solvers (cg, minres, gmres, cdm), their preconditioners and operators.

Issue 7 classes: 1 memory safety (operator outputs of the wrong shape / dtype reaching a
kernel), 2 false convergence (true residual, scale invariance over the double range),
3 GMRES (near-singular least squares, breakdown, ``maxiter=0``), 5/6 option validation and
messages that name the argument.

``CASES = [(name, callable)]``; each callable returns ``"clear_error"`` (a ValueError /
TypeError whose message names the argument), ``"verified"`` (an answer whose claimed
accuracy was checked here against an independent dense reference) or ``("wrong", why)``.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

import solvers
from solvers.linear import chebyshev, jacobi, lanczos_bounds
from solvers.linear.precond import JacobiPreconditioner
from solvers.operators import FunctionOperator, SparseOperator

CASES = []


def case(fn):
    CASES.append((fn.__name__, fn))
    return fn


# ------------------------------------------------------------------ helpers
def _nrm(v) -> float:
    """Overflow/underflow-safe 2-norm (scaled by the largest entry)."""
    v = np.asarray(v, dtype=np.float64)
    m = float(np.max(np.abs(v))) if v.size else 0.0
    if m == 0.0 or not math.isfinite(m):
        return m
    return m * float(np.linalg.norm(v / m))


def _lap(m=8):
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    return (sp.kronsum(T, T)).tocsr()


def _spd(n=30, cond=1e3, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.logspace(0, -math.log10(cond), n)) @ Q.T


def _err(fn, *words):
    """Run ``fn``: a ValueError/TypeError naming all ``words`` is a clear error; anything else is wrong."""
    try:
        res = fn()
    except (ValueError, TypeError) as e:
        msg = str(e)
        missing = [w for w in words if w not in msg]
        if missing:
            return "wrong", f"error does not name {missing}: {type(e).__name__}: {msg}"
        return "clear_error"
    return "wrong", f"no error; returned {getattr(res, 'status', res)!r}"


def _verify(res, A, b, rtol=1e-8, atol=0.0, x_ref=None, ref_rtol=1e-5):
    """Check a result's claim on its own x: converged -> true residual within the tolerance (and x near the
    dense reference); not converged -> the reported last residual is the true one and x is finite."""
    Ad = A.toarray() if sp.issparse(A) else np.asarray(A)
    x = np.asarray(res.x)
    if not np.all(np.isfinite(x)):
        return "wrong", f"non-finite x with status {res.status}"
    # residual in a scale-safe way: scale b and x by the same power of two
    e = math.frexp(max(float(np.max(np.abs(b))), 1e-300))[1]
    r = np.ldexp(b, -e) - Ad @ np.ldexp(x, -e)
    true = math.ldexp(_nrm(r), e)
    tol = max(rtol * _nrm(b), atol)
    h = res.history["residual"]
    if len(h) != res.nit + 1:
        return "wrong", f"history has {len(h)} entries for nit={res.nit}"
    if res.converged:
        if not true <= tol * (1 + 1e-6) + 1e-300:
            return "wrong", f"claimed convergence but ||b - A x|| = {true:.3e} > tol {tol:.3e}"
        if x_ref is not None:
            err = _nrm(x - x_ref) / max(_nrm(x_ref), 1e-300)
            if not err <= ref_rtol:
                return "wrong", f"x differs from the dense reference by {err:.3e}"
        return "verified"
    if res.status in ("maxiter", "stagnated") and not (abs(h[-1] - true) <= 1e-6 * true + 1e-300 * 0 + 1e-12 * _nrm(b)):
        return "wrong", f"reported final residual {h[-1]:.3e} is not the true one {true:.3e}"
    if res.status in ("stagnated",) and "attainable" not in res.message and "best iterate" not in res.message:
        return "wrong", f"stagnated without saying what accuracy is attainable: {res.message}"
    return "verified"


def _scaled_solve(solver, s, **kw):
    A = _lap(8).astype(float)
    b0 = np.random.default_rng(1).standard_normal(A.shape[0])
    x_ref = np.linalg.solve(A.toarray(), b0)
    b = b0 * s
    res = solver(A, b, rtol=1e-10, **kw)
    if not res.converged:
        return "wrong", f"scale {s:g}: {res.status}: {res.message}"
    if res.nit == 0:
        return "wrong", f"scale {s:g}: converged in 0 iterations"
    # x must scale with b: x / s matches the unscaled reference (when x / s is representable)
    return _verify(res, A, b, rtol=1e-10, x_ref=x_ref * s if math.isfinite(s * 1.0) else None, ref_rtol=1e-6)


# ================================================================== class 1: memory safety
@case
def cg_function_operator_short_output_huge_n_numba():
    n = 2_000_000
    A = FunctionOperator((n, n), lambda x: np.ones(1))
    return _err(lambda: solvers.cg(A, np.ones(n), backend="numba"), "A", "FunctionOperator", "(1,)", f"({n},)")


@case
def cg_function_operator_half_output_numba():
    A = FunctionOperator((12, 12), lambda x: np.ones(6))
    return _err(lambda: solvers.cg(A, np.ones(12), backend="numba"), "A", "(6,)", "(12,)")


@case
def cg_function_operator_half_output_numpy():
    A = FunctionOperator((12, 12), lambda x: x[:6] * 2.0)
    return _err(lambda: solvers.cg(A, np.ones(12), backend="numpy"), "A", "(6,)", "(12,)")


@case
def cg_function_operator_long_output_numba():
    A = FunctionOperator((12, 12), lambda x: np.concatenate([x, x]))
    return _err(lambda: solvers.cg(A, np.ones(12), backend="numba"), "A", "(24,)")


@case
def cg_function_operator_2d_output_numba():
    A = FunctionOperator((12, 12), lambda x: np.stack([x, x], axis=1))
    return _err(lambda: solvers.cg(A, np.ones(12), backend="numba"), "A", "(12, 2)")


@case
def minres_short_output_numba():
    A = FunctionOperator((50, 50), lambda x: x[:49].copy())
    return _err(lambda: solvers.minres(A, np.ones(50), backend="numba"), "A", "(49,)")


@case
def gmres_short_output_numba():
    A = FunctionOperator((50, 50), lambda x: x[:3].copy())
    return _err(lambda: solvers.gmres(A, np.ones(50), backend="numba"), "A", "(3,)")


@case
def cdm_short_output_numba():
    A = FunctionOperator((50, 50), lambda x: np.zeros(7))
    return _err(lambda: solvers.cdm(A, np.ones(50), backend="numba"), "A", "(7,)")


@case
def cg_duck_typed_operator_short_output_numba():
    class Duck:
        shape = (40, 40)
        dtype = np.float64

        def matvec(self, x):
            return np.ones(3)

    return _err(lambda: solvers.cg(Duck(), np.ones(40), backend="numba"), "A", "Duck", "(3,)")


@case
def cg_subclass_operator_short_output_numba():
    from solvers.operators import LinearOperator

    class Bad(LinearOperator):
        def _matvec(self, x):
            return x[::2].copy()

    return _err(lambda: solvers.cg(Bad((40, 40)), np.ones(40), backend="numba"), "A", "Bad", "(20,)")


@case
def cg_complex_output():
    A = FunctionOperator((10, 10), lambda x: x * (1 + 1j))
    return _err(lambda: solvers.cg(A, np.ones(10), backend="numba"), "A", "complex")


@case
def cg_integer_output():
    A = FunctionOperator((10, 10), lambda x: np.ones(10, dtype=np.int64))
    return _err(lambda: solvers.cg(A, np.ones(10), backend="numba"), "A", "int64")


@case
def cg_object_output():
    A = FunctionOperator((10, 10), lambda x: np.array(list(x), dtype=object))
    return _err(lambda: solvers.cg(A, np.ones(10), backend="numba"), "A", "object")


@case
def cg_list_output():
    A = FunctionOperator((10, 10), lambda x: list(2.0 * x))
    return _err(lambda: solvers.cg(A, np.ones(10), backend="numba"), "A", "list")


@case
def cg_none_output():
    A = FunctionOperator((10, 10), lambda x: None)
    return _err(lambda: solvers.cg(A, np.ones(10), backend="numba"), "A", "NoneType")


@case
def cg_float32_output_is_cast():
    A = _lap(6)
    F = FunctionOperator(A.shape, lambda x: (A @ x).astype(np.float32))
    b = np.random.default_rng(2).standard_normal(A.shape[0])
    res = solvers.cg(F, b, rtol=1e-5, backend="numba")
    return _verify(res, A, b, rtol=1e-5)


@case
def cg_strided_output_numba():
    A = _lap(6)
    n = A.shape[0]

    def mv(x):
        out = np.empty(2 * n)
        out[::2] = A @ x
        return out[::2]             # a non-contiguous view

    b = np.random.default_rng(3).standard_normal(n)
    res = solvers.cg(FunctionOperator(A.shape, mv), b, rtol=1e-10, backend="numba")
    return _verify(res, A, b, rtol=1e-10, x_ref=np.linalg.solve(A.toarray(), b))


@case
def minres_operator_returning_its_input():
    n = 20
    b = np.random.default_rng(4).standard_normal(n)
    res = solvers.minres(FunctionOperator((n, n), lambda x: x), b, rtol=1e-12, backend="numba")
    return _verify(res, np.eye(n), b, rtol=1e-12, x_ref=b)


@case
def minres_operator_returning_read_only_array():
    A = _lap(5).toarray()

    def mv(x):
        y = A @ x
        y.flags.writeable = False
        return y

    b = np.random.default_rng(5).standard_normal(25)
    res = solvers.minres(FunctionOperator(A.shape, mv), b, rtol=1e-10, backend="numpy")
    return _verify(res, A, b, rtol=1e-10, x_ref=np.linalg.solve(A, b))


@case
def cg_preconditioner_short_output_numba():
    A = _lap(6)
    M = FunctionOperator(A.shape, lambda r: r[:5].copy())
    return _err(lambda: solvers.cg(A, np.ones(A.shape[0]), M=M, backend="numba"), "M", "(5,)")


@case
def cg_preconditioner_inv_diagonal_wrong_length_numba():
    from solvers.operators import LinearOperator

    A = _lap(6)
    n = A.shape[0]

    class MyJacobi(LinearOperator):        # declares a diagonal (fused into CG's update) of the wrong length
        inv_diagonal = np.ones(3)

        def _matvec(self, r):
            return r.copy()

    return _err(lambda: solvers.cg(A, np.ones(n), M=MyJacobi((n, n)), backend="numba"), "M", "(3,)")


@case
def minres_preconditioner_short_output():
    A = _lap(6)
    M = FunctionOperator(A.shape, lambda r: r[:-1].copy())
    return _err(lambda: solvers.minres(A, np.ones(A.shape[0]), M=M, backend="numba"), "M", "(35,)")


@case
def gmres_preconditioner_short_output():
    A = _lap(6)
    M = FunctionOperator(A.shape, lambda r: np.ones(2))
    return _err(lambda: solvers.gmres(A, np.ones(A.shape[0]), M=M, backend="numba"), "M", "(2,)")


@case
def chebyshev_of_operator_with_short_output():
    n = 30
    F = FunctionOperator((n, n), lambda x: x[:10].copy())
    return _err(lambda: solvers.cg(_lap(6)[:n, :n] if False else np.eye(n), np.ones(n),
                                   M=chebyshev(F, bounds=(0.5, 2.0), degree=4), backend="numba"), "A", "(10,)")


@case
def jacobi_of_operator_with_wrong_diagonal():
    n = 30
    F = FunctionOperator((n, n), lambda x: 2.0 * x, diagonal=np.ones(3))
    return _err(lambda: jacobi(F), "diagonal", "(3,)", "(30,)")


@case
def sparse_matrix_with_out_of_range_indices():
    A = sp.csr_matrix((np.ones(3), np.array([0, 1, 10 ** 6]), np.array([0, 1, 2, 3])), shape=(3, 3))
    return _err(lambda: solvers.cg(A, np.ones(3), backend="numba"), "A", "sparse")


@case
def sparse_operator_matvec_into_short_x():
    op = SparseOperator(_lap(6), backend="numba")
    return _err(lambda: op.matvec_into(np.ones(3), np.empty(36)), "x", "(36,)")


@case
def jacobi_matvec_into_broadcast_x():
    J = JacobiPreconditioner(np.ones(10), "numpy")
    return _err(lambda: J.matvec_into(np.ones(1), np.empty(10)), "x", "(10,)")


@case
def cdm_callable_M_complex_output():
    A = _lap(5)
    return _err(lambda: solvers.cdm(A, np.ones(25), M=lambda r: r + 0j, backend="numba"), "M", "complex")


# ================================================================== class 2: false convergence
@case
def cg_rtol_atol_zero_never_claims():
    A = _spd(40, 1e6, seed=6)
    b = np.random.default_rng(6).standard_normal(40)
    res = solvers.cg(A, b, rtol=0.0, atol=0.0, backend="numba")
    true = _nrm(b - A @ res.x)
    if res.converged and true != 0.0:
        return "wrong", f"claimed convergence with rtol=atol=0 and true residual {true:.3e}"
    return _verify(res, A, b, rtol=0.0)


@case
def cg_tight_rtol_ill_conditioned():
    A = _spd(80, 1e10, seed=7)
    b = np.random.default_rng(7).standard_normal(80)
    res = solvers.cg(A, b, rtol=1e-14, maxiter=4000, backend="numba")
    return _verify(res, A, b, rtol=1e-14)


@case
def cg_tight_rtol_laplacian():
    A = _lap(30)
    b = np.random.default_rng(8).standard_normal(A.shape[0])
    res = solvers.cg(A, b, rtol=1e-13, backend="numpy")
    return _verify(res, A, b, rtol=1e-13)


@case
def cg_jacobi_tight_rtol():
    A = _lap(20) @ sp.diags(np.logspace(0, 3, 400)) @ _lap(20) + sp.eye(400)
    A = sp.csr_matrix(0.5 * (A + A.T))
    b = np.random.default_rng(9).standard_normal(400)
    res = solvers.cg(A, b, rtol=1e-13, M=jacobi(A), backend="numba")
    return _verify(res, A, b, rtol=1e-13)


def _scale_case(solver, s, **kw):
    def run():
        return _scaled_solve(solver, s, **kw)

    run.__name__ = f"{solver.__name__}_scale_{s:g}"
    return case(run)


for _s in (1e-300, 1e-170, 1e-40, 1e40, 1e200, 1e300):
    _scale_case(solvers.cg, _s, backend="numba")
for _s in (1e-250, 1e250):
    _scale_case(solvers.minres, _s, backend="numpy")
    _scale_case(solvers.gmres, _s, backend="numpy")
    _scale_case(solvers.cdm, _s, backend="numba")


@case
def cg_scale_1e300_with_x0():
    A = _lap(8)
    b0 = np.random.default_rng(10).standard_normal(64)
    x_ref = np.linalg.solve(A.toarray(), b0)
    res = solvers.cg(A, 1e300 * b0, x0=0.5e300 * x_ref, rtol=1e-10, backend="numba")
    return _verify(res, A, 1e300 * b0, rtol=1e-10, x_ref=1e300 * x_ref, ref_rtol=1e-6)


@case
def cg_subnormal_rhs():
    A = _lap(6)
    b = np.full(36, 5e-324)
    b[::2] = 1e-320
    res = solvers.cg(A, b, rtol=1e-6, backend="numba")
    if res.nit == 0 and not np.any(res.x):
        return "wrong", "returned x = 0 for a subnormal right-hand side"
    return _verify(res, A, b, rtol=1e-6)


@case
def cg_mixed_scale_rhs():
    A = _lap(6)
    b = np.ones(36)
    b[0], b[1] = 1e300, 1e-300
    res = solvers.cg(A, b, rtol=1e-10, backend="numba")
    return _verify(res, A, b, rtol=1e-10)


@case
def cdm_rtol_zero_nonlinear_M():
    A = _lap(6)
    b = np.random.default_rng(11).standard_normal(36)
    res = solvers.cdm(A, b, rtol=0.0, M=lambda r: np.sign(r) * np.sqrt(np.abs(r)), maxiter=400, backend="numba")
    if res.converged and _nrm(b - A @ res.x) != 0.0:
        return "wrong", "cdm claimed convergence at rtol=0"
    return _verify(res, A, b, rtol=0.0)


@case
def minres_tight_rtol_indefinite():
    rng = np.random.default_rng(12)
    Q, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    A = (Q * np.concatenate([-np.logspace(0, 6, 30), np.logspace(0, 6, 30)])) @ Q.T
    A = 0.5 * (A + A.T)
    b = rng.standard_normal(60)
    res = solvers.minres(A, b, rtol=1e-13, backend="numba")
    return _verify(res, A, b, rtol=1e-13)


# ================================================================== class 3: GMRES
@case
def gmres_near_singular_never_worse_than_x0():
    rng = np.random.default_rng(13)
    for _ in range(20):
        n = int(rng.integers(5, 30))
        U, _ = np.linalg.qr(rng.standard_normal((n, n)))
        W, _ = np.linalg.qr(rng.standard_normal((n, n)))
        A = (U * np.logspace(0, -rng.uniform(14, 20), n)) @ W.T
        b = rng.standard_normal(n)
        res = solvers.gmres(A, b, rtol=1e-12, restart=10, maxiter=50, backend="numpy")
        if _nrm(b - A @ res.x) > _nrm(b) * (1 + 1e-12):
            return "wrong", f"gmres returned an iterate worse than x0 ({res.status})"
        out = _verify(res, A, b, rtol=1e-12)
        if out != "verified":
            return out
    return "verified"


@case
def gmres_singular_inconsistent():
    A = np.diag([1.0, 2.0, 3.0, 0.0]) + np.diag([1.0, 1.0, 0.0], 1)
    b = np.ones(4)
    res = solvers.gmres(A, b, rtol=1e-12, backend="numba")
    if res.converged:
        return "wrong", "claimed convergence on an inconsistent singular system"
    if _nrm(b - A @ res.x) > _nrm(b):
        return "wrong", "worse than x0"
    return _verify(res, A, b, rtol=1e-12)


@case
def gmres_zero_operator_breakdown():
    res = solvers.gmres(np.zeros((5, 5)), np.ones(5), backend="numpy")
    if res.converged or res.status != "breakdown" or np.any(res.x != 0):
        return "wrong", f"{res.status}: {res.message}"
    return "verified"


@case
def gmres_maxiter_zero_does_nothing():
    A = _lap(5)
    x0 = np.random.default_rng(14).standard_normal(25)
    res = solvers.gmres(A, np.ones(25), x0=x0, maxiter=0, backend="numba")
    if res.nit != 0 or not np.array_equal(res.x, x0) or res.converged or len(res.history["residual"]) != 1:
        return "wrong", f"maxiter=0: nit={res.nit}, status={res.status}"
    return "verified"


@case
def gmres_restart_one_nonsymmetric():
    rng = np.random.default_rng(15)
    A = np.eye(30) * 4 + rng.standard_normal((30, 30)) * 0.3
    b = rng.standard_normal(30)
    res = solvers.gmres(A, b, restart=1, rtol=1e-10, backend="numpy")
    return _verify(res, A, b, rtol=1e-10, x_ref=np.linalg.solve(A, b))


@case
def gmres_scaled_matrix_tiny():
    rng = np.random.default_rng(16)
    A = (np.eye(20) * 3 + rng.standard_normal((20, 20)) * 0.2) * 1e-250
    b = rng.standard_normal(20)
    res = solvers.gmres(A, b, rtol=1e-10, backend="numpy")
    return _verify(res, A, b, rtol=1e-10, x_ref=np.linalg.solve(A, b))


# ================================================================== classes 5/6: options and messages
_A = _lap(4)
_b = np.ones(16)


def _opt(solver, **kw):
    return lambda: solver(_A, _b, **kw)


for _nm, _fn, _words in [
    ("cg_rtol_negative", _opt(solvers.cg, rtol=-1.0), ("rtol",)),
    ("cg_rtol_nan", _opt(solvers.cg, rtol=float("nan")), ("rtol",)),
    ("cg_rtol_string", _opt(solvers.cg, rtol="1e-8"), ("rtol",)),
    ("cg_rtol_bool", _opt(solvers.cg, rtol=True), ("rtol",)),
    ("minres_atol_inf", _opt(solvers.minres, atol=float("inf")), ("atol",)),
    ("cg_maxiter_negative", _opt(solvers.cg, maxiter=-1), ("maxiter",)),
    ("cg_maxiter_float", _opt(solvers.cg, maxiter=2.5), ("maxiter",)),
    ("gmres_maxiter_bool", _opt(solvers.gmres, maxiter=True), ("maxiter",)),
    ("gmres_restart_zero", _opt(solvers.gmres, restart=0), ("restart",)),
    ("gmres_restart_float", _opt(solvers.gmres, restart=1.5), ("restart",)),
    ("cdm_k_negative", _opt(solvers.cdm, k=-1), ("k",)),
    ("cdm_k_string", _opt(solvers.cdm, k="2"), ("k",)),
    ("cg_negative_curvature_unknown", _opt(solvers.cg, negative_curvature="foo"), ("negative_curvature",)),
    ("cg_negative_curvature_list", _opt(solvers.cg, negative_curvature=["return"]), ("negative_curvature",)),
    ("cg_callback_not_callable", _opt(solvers.cg, callback=5), ("callback",)),
    ("cg_M_wrong_shape", _opt(solvers.cg, M=np.eye(17)), ("M", "(17, 17)")),
    ("cg_M_1d", _opt(solvers.cg, M=np.ones(16)), ("M", "1-D")),
    ("cg_x0_wrong_shape", _opt(solvers.cg, x0=np.ones(15)), ("x0", "(15,)")),
    ("cg_A_1d", lambda: solvers.cg(np.ones(16), _b), ("A", "2-D", "1-D", "(16,)")),
    ("cg_A_3d", lambda: solvers.cg(np.ones((2, 4, 2)), _b), ("A", "2-D", "3-D")),
    ("cg_A_object", lambda: solvers.cg(np.array([[1, "a"], [2, 3]], dtype=object), np.ones(2)), ("A", "object")),
    ("cg_A_complex", lambda: solvers.cg(np.eye(3) * 1j, np.ones(3)), ("A", "complex")),
    ("cg_A_not_square", lambda: solvers.cg(np.ones((3, 4)), np.ones(3)), ("A", "square")),
    ("cg_A_plain_callable", lambda: solvers.cg(lambda x: x, np.ones(3)), ("A", "FunctionOperator")),
    ("cg_b_wrong_length", lambda: solvers.cg(_A, np.ones(5)), ("b", "(5,)")),
    ("cg_b_nan", lambda: solvers.cg(_A, np.full(16, np.nan)), ("b", "NaN")),
    ("cg_b_complex", lambda: solvers.cg(_A, np.ones(16) * 1j), ("b", "complex")),
    ("chebyshev_degree_zero", lambda: chebyshev(_A, degree=0), ("degree",)),
    ("chebyshev_degree_huge", lambda: chebyshev(_A, degree=10 ** 9), ("degree",)),
    ("chebyshev_degree_string", lambda: chebyshev(_A, degree="8"), ("degree",)),
    ("chebyshev_bounds_reversed", lambda: chebyshev(_A, bounds=(2.0, 1.0)), ("lmin", "lmax")),
    ("chebyshev_safety_nan", lambda: chebyshev(_A, safety=float("nan")), ("safety",)),
    ("chebyshev_lanczos_steps_huge", lambda: chebyshev(_A, lanczos_steps=10 ** 9), ("lanczos_steps",)),
    ("jacobi_require_positive_string", lambda: jacobi(_A, require_positive="yes"), ("require_positive",)),
    ("lanczos_bounds_zero_v0", lambda: lanczos_bounds(_A, v0=np.zeros(16)), ("v0",)),
    ("lanczos_bounds_v0_wrong_length", lambda: lanczos_bounds(_A, v0=np.ones(3)), ("v0", "(3,)")),
]:
    def _mk(fn=_fn, words=_words):
        return lambda: _err(fn, *words)

    CASES.append((_nm, _mk()))


@case
def cdm_huge_k_does_not_allocate_k_vectors():
    A = _lap(5)
    b = np.ones(25)
    res = solvers.cdm(A, b, k=10 ** 12, rtol=1e-10, backend="numba")
    return _verify(res, A, b, rtol=1e-10, x_ref=np.linalg.solve(A.toarray(), b))


@case
def cg_huge_maxiter_small_problem():
    A = _lap(5)
    b = np.ones(25)
    res = solvers.cg(A, b, maxiter=10 ** 15, rtol=1e-10, backend="numba")
    return _verify(res, A, b, rtol=1e-10, x_ref=np.linalg.solve(A.toarray(), b))
