"""Hostile inputs for the multigrid preconditioner (issue 7, class 9: robustness; plus its argument checks).

Each case returns ``"clear_error"`` (a ValueError/TypeError naming the argument), ``"verified"`` (MG-CG
claimed convergence and the answer was checked independently: the true residual against the tolerance
and the solution against SciPy's sparse direct solve, in the energy norm) or ``"wrong"``.
"""
import numpy as np


def _faces(shape, fun):
    out = []
    for a in range(len(shape)):
        fs = tuple(n + 1 if b == a else n for b, n in enumerate(shape))
        g = np.meshgrid(*[(np.arange(m) + (0.5 if b == a else 1.0)) / (shape[b] + 1) for b, m in enumerate(fs)],
                        indexing="ij")
        out.append(np.asarray(np.broadcast_to(fun(*g), fs), dtype=float))
    return tuple(out)


def _solve_and_verify(shape, h, k=1.0, backend="numba", max_its=None, shift=None):
    import scipy.sparse.linalg as spla

    import solvers
    from solvers.linear.multigrid import multigrid
    from solvers.operators import StencilOperator

    kk = _faces(shape, k) if callable(k) else k
    A = StencilOperator(shape, h, k=kk, shift=shift, backend=backend)
    b = np.random.default_rng(7).standard_normal(A.shape[0])
    res = solvers.cg(A, b, M=multigrid(A), rtol=1e-8, maxiter=500, backend=backend)
    if not res.converged:
        return "wrong"                                  # every case here is solvable: failing to is wrong
    C = A.to_csr()
    if not np.linalg.norm(b - C @ res.x) <= 1.5e-8 * np.linalg.norm(b):
        return "wrong"
    x = spla.spsolve(C.tocsc(), b)
    e = res.x - x
    if not np.sqrt(abs(e @ (C @ e))) <= 1e-6 * np.sqrt(x @ (C @ x)):
        return "wrong"
    if max_its is not None and res.nit > max_its:
        return "wrong"
    return "verified"


def _expect_error(fn, *names):
    try:
        fn()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        return "clear_error" if all(nm in msg for nm in names) else "wrong"
    return "wrong"


def _jump(J, p, axis=0):
    return lambda *x: np.where(x[axis] < p, 1.0, J)


def _mg(*args, **kw):
    from solvers.linear.multigrid import multigrid

    return multigrid(*args, **kw)


def _stencil(shape, h, **kw):
    from solvers.operators import StencilOperator

    return StencilOperator(shape, h, **kw)


def _op(shape=(8, 8), **kw):
    return _stencil(shape, 0.1, **kw)


CASES = [
    # coefficient jumps on planes that are not node planes of the coarse grids (target: <= 12 iterations)
    ("mg jump 1e6 at x=1/3, 64^2", lambda: _solve_and_verify((64, 64), 1 / 65, _jump(1e6, 1 / 3), max_its=12)),
    ("mg jump 1e4 at y=0.37, 63^2", lambda: _solve_and_verify((63, 63), 1 / 64, _jump(1e4, 0.37, 1), max_its=12)),
    ("mg jump 1e-6 at x=0.5, 64^2", lambda: _solve_and_verify((64, 64), 1 / 65, _jump(1e-6, 0.5), max_its=12)),
    ("mg jump 1e6 at z=0.37, 20^3", lambda: _solve_and_verify((20, 20, 20), 1 / 21, _jump(1e6, 0.37, 2),
                                                              max_its=12)),
    ("mg two jumps 1e6/1e2, 63^2", lambda: _solve_and_verify(
        (63, 63), 1 / 64, lambda x, y: np.where(x < 0.21, 1.0, np.where(x < 0.63, 1e6, 1e2)), max_its=12)),
    ("mg diagonal interface 1e6, 48^2", lambda: _solve_and_verify(
        (48, 48), 1 / 49, lambda x, y: np.where(x + y < 0.77, 1.0, 1e6), max_its=12)),
    ("mg inclusion 1e6, 17^3", lambda: _solve_and_verify(
        (17, 17, 17), 1 / 18, lambda *x: np.where(np.all([(c > .3) & (c < .7) for c in x], axis=0), 1e6, 1.),
        max_its=12)),
    ("mg checkerboard 1e6, 40^2", lambda: _solve_and_verify(
        (40, 40), 1 / 41, lambda x, y: np.where((np.floor(4 * x) + np.floor(4 * y)) % 2, 1e6, 1.0), max_its=20)),
    ("mg random cells 1..1e6, 16^3", lambda: _solve_and_verify(
        (16, 16, 16), 1 / 17, lambda *x: 1e6 ** np.random.default_rng(3).random((5, 5, 5))[
            tuple(np.minimum((c * 5).astype(int), 4) for c in x)], max_its=25)),
    # anisotropic spacing (target: <= 12 iterations for ratios up to 100:1)
    ("mg thin box 1:100, 64^2", lambda: _solve_and_verify((64, 64), (1 / 65, 0.01 / 65), max_its=12)),
    ("mg thin box 1:10 on axis 0, 19^3", lambda: _solve_and_verify((19, 19, 19), (0.1 / 20, 1 / 20, 1 / 20),
                                                                   max_its=12)),
    ("mg spacings 1:10:100, 20^3", lambda: _solve_and_verify((20, 20, 20), (1 / 21, 0.1 / 21, 0.01 / 21),
                                                             max_its=12)),
    ("mg 3-point axis beside 300 points", lambda: _solve_and_verify((300, 3), (1 / 301, 100 / 301), max_its=12)),
    ("mg 3x3 cross-section, 120 long", lambda: _solve_and_verify((3, 120, 3), (50 / 121, 1 / 121, 50 / 121),
                                                                 max_its=12)),
    ("mg spacing 1e4:1", lambda: _solve_and_verify((40, 40), (1.0, 1e-4), max_its=12)),
    ("mg thin box 1:100 with jump 1e6", lambda: _solve_and_verify((48, 48), (1 / 49, 0.01 / 49), _jump(1e6, 1 / 3),
                                                                  max_its=12)),
    # degenerate grids
    ("mg 1-point axes", lambda: _solve_and_verify((40, 1, 1), 0.1, _jump(1e3, 0.5))),
    ("mg 2x2x2 grid", lambda: _solve_and_verify((2, 2, 2), 0.3, _jump(1e6, 0.5))),
    ("mg 2 x 700, variable k", lambda: _solve_and_verify((2, 700), (1.0, 1e-3), _jump(1e2, 0.5, 1), max_its=12)),
    ("mg tiny k 1e-300", lambda: _solve_and_verify((30, 30), 0.1, 1e-300, max_its=12)),
    ("mg huge faces 1e294..1e300", lambda: _solve_and_verify((30, 30), 0.1, lambda *x: np.where(
        x[0] < .37, 1e294, 1e300), max_its=12)),
    ("mg numpy backend jump 1e6", lambda: _solve_and_verify((24, 25), 1 / 26, _jump(1e6, 1 / 3), "numpy",
                                                            max_its=12)),
    ("mg variable shift, jump", lambda: _solve_and_verify((30, 31), 1 / 32, _jump(1e4, 0.4),
                                                          shift=np.linspace(0, 50, 930).reshape(30, 31))),
    # arguments
    ("mg coarsening unknown", lambda: _expect_error(lambda: _mg(_op(), coarsening="amg"), "coarsening")),
    ("mg coarsening None", lambda: _expect_error(lambda: _mg(_op(), coarsening=None), "coarsening")),
    ("mg nu 0", lambda: _expect_error(lambda: _mg(_op(), nu=0), "nu")),
    ("mg nu float", lambda: _expect_error(lambda: _mg(_op(), nu=1.5), "nu")),
    ("mg nu empty", lambda: _expect_error(lambda: _mg(_op(), nu=()), "nu")),
    ("mg max_coarse 0", lambda: _expect_error(lambda: _mg(_op(), max_coarse=0), "max_coarse")),
    ("mg max_levels bool", lambda: _expect_error(lambda: _mg(_op(), max_levels=True), "max_levels")),
    ("mg max_levels=1 on 200^2 (dense coarsest)", lambda: _expect_error(
        lambda: _mg(_stencil((200, 200), 0.01), max_levels=1), "max_levels")),
    ("mg max_coarse 1e6 on 120^2", lambda: _expect_error(
        lambda: _mg(_stencil((120, 120), 0.01), max_coarse=10 ** 6), "max_coarse")),
    ("mg A dense", lambda: _expect_error(lambda: _mg(np.eye(4)), "A", "StencilOperator")),
    ("stencil k/h^2 overflows", lambda: _expect_error(lambda: _stencil((4, 4), 1e-5, k=1e300), "k / h^2")),
    ("stencil h^2 underflows", lambda: _expect_error(lambda: _stencil((4, 4), 1e-160), "k / h^2")),
    ("stencil faces underflow", lambda: _expect_error(
        lambda: _stencil((4, 4), 1e10, k=(np.full((5, 4), 1e-300), np.ones((4, 5)))), "k / h^2")),
]
