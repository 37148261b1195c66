"""The symmetry checks of an operator KKT system ``K = [[H, J^T], [J, 0]]`` (:class:`._kkt.NewtonSystem`): its
Hessian block must be symmetric and its Jacobian's ``rmatvec`` the transpose of its ``matvec``, as the dense
``hess_lagrangian`` is checked (:meth:`._nlp.NLPEvaluator.hess`). A ``ValueError`` names the callable at fault."""
from __future__ import annotations

import math

import numpy as np

#: relative size of an asymmetry (of its block's scale) that is refused; rounding stays far below
RTOL = 1e-6


def _hashed(xp, n: int, salt: float):
    """A fixed pseudo-random vector in [-0.5, 0.5) made where the arrays live (``fract(sin(k) 43758.5453)``, the
    shader hash): nothing drawn from the solve's generator, and nothing uploaded to a device."""
    t = xp.arange(n, dtype=xp.float64)
    return (xp.sin(t * 12.9898 + salt) * 43758.5453) % 1.0 - 0.5


def check_assembled(Ka, n: int, m: int) -> None:
    """An assembled ``K`` (``(n + m)^2``, from ``n + m`` products). Each block is measured against its own scale:
    against ``max |K|``, a Jacobian 1e7 times larger than H hid a non-symmetric H (helper-156)."""
    hH = float(np.abs(Ka[:n, :n]).max())
    hJ = max(float(np.abs(Ka[n:, :n]).max()), float(np.abs(Ka[:n, n:]).max())) if m else 0.0
    aH = float(np.abs(Ka[:n, :n] - Ka[:n, :n].T).max())
    aJ = float(np.abs(Ka[n:, :n] - Ka[:n, n:].T).max()) if m else 0.0
    _refuse(aH > RTOL * hH, aJ > RTOL * hJ, f"max |H - H^T| = {aH:.2e} against max |H| = {hH:.2e}",
            f"max |J - (J^T)^T| = {aJ:.2e} against max |J| = {hJ:.2e}", f"the {n + m} products assembling K")


def dot_test(H, J, be) -> None:
    """A system too large to assemble, by dot tests with fixed pseudo-random vectors (four products): ``u . H v = v . H u`` and
    ``w . J v = v . J^T w`` to :data:`RTOL` of their scales. Without it a non-symmetric H operator was refused only
    by the second-order check after the solve (201 <= n + m <= 2000 under MINRES), or never (helper-156).
    ``H``, ``J``: operators on ``be`` (``J`` None when there are no constraints). Non-finite products pass: the
    solve reports them where they arise."""
    xp, n = be.xp, H.shape[0]
    u, v = _hashed(xp, n, 1.0), _hashed(xp, n, 2.0)
    Hu, Hv = (xp.asarray(H.matvec(z), dtype=xp.float64) for z in (u, v))
    a, b = float(u @ Hv), float(v @ Hu)
    tH = RTOL * (float(xp.linalg.norm(u) * xp.linalg.norm(Hv)) + float(xp.linalg.norm(v) * xp.linalg.norm(Hu)))
    badJ, dJ = False, ""
    if J is not None:
        w = _hashed(xp, J.shape[0], 3.0)
        Jv, JTw = xp.asarray(J.matvec(v), dtype=xp.float64), xp.asarray(J.rmatvec(w), dtype=xp.float64)
        c, d = float(w @ Jv), float(v @ JTw)
        tJ = RTOL * (float(xp.linalg.norm(w) * xp.linalg.norm(Jv)) + float(xp.linalg.norm(v) * xp.linalg.norm(JTw)))
        badJ, dJ = math.isfinite(c - d) and abs(c - d) > tJ, f"w . J v = {c:.6e} against v . J^T w = {d:.6e}"
    badH = math.isfinite(a - b) and abs(a - b) > tH
    _refuse(badH, badJ, f"u . H v = {a:.6e} against v . H u = {b:.6e}", dJ, "a dot test with pseudo-random vectors u, v, w")


def _refuse(badH: bool, badJ: bool, dH: str, dJ: str, how: str) -> None:
    if badH or badJ:
        who = (f"problem.hess_lagrangian's products are not those of a symmetric matrix ({dH}" if badH else
               f"problem.jac's rmatvec is not the transpose of its matvec ({dJ}")
        raise ValueError(f"{who}, from {how}); return the whole symmetric Hessian of the Lagrangian and a "
                         "consistent Jacobian operator")
