"""Independent dense references for the OT tests (plain NumPy / SciPy)."""
import numpy as np
from scipy.optimize import minimize


def scaling_sinkhorn(C, a, b, eps, iters=20000):
    """Classical (non-log) Sinkhorn on K = exp(-C/eps); fine for moderate eps."""
    K = np.exp(-C / eps)
    v = np.ones_like(b)
    for _ in range(iters):
        u = a / (K @ v)
        v = b / (K.T @ u)
    return u[:, None] * K * v[None, :]


def dual_lbfgs(C, a, b, eps):
    """Maximise the dual <a,f> + <b,g> - eps sum exp((f+g-C)/eps) with L-BFGS (gauge g[0] = 0)."""
    n, m = C.shape

    def fun(z):
        f, g = z[:n], np.concatenate([[0.0], z[n:]])
        P = np.exp((f[:, None] + g[None, :] - C) / eps)
        val = a @ f + b @ g - eps * P.sum()
        gf, gg = a - P.sum(1), b - P.sum(0)
        return -val, -np.concatenate([gf, gg[1:]])

    z0 = np.zeros(n + m - 1)
    res = minimize(fun, z0, jac=True, method="L-BFGS-B", options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-13})
    f, g = res.x[:n], np.concatenate([[0.0], res.x[n:]])
    return f, g, np.exp((f[:, None] + g[None, :] - C) / eps)


def gauge(f, g):
    """Fix the (t, -t) invariance: shift so that f[0] = 0."""
    return f - f[0], g + f[0]


def random_problem(rng, n, m, eps, weights=False):
    """Random points in the unit square, cost scaled to max 1; random (normalised) weights if ``weights``."""
    from problems import ot

    x, y = rng.random((n, 2)), rng.random((m, 2))
    a = rng.random(n) + 0.1 if weights else None
    b = rng.random(m) + 0.1 if weights else None
    return ot.EntropicOT.from_points(x, y, a, b, eps=eps, scale="max", normalize=weights)


def l1_marginal_error(P, p):
    """L1 error of the dense plan ``P``'s marginals against the problem's weights."""
    return np.abs(P.sum(1) - p.a).sum() + np.abs(P.sum(0) - p.b).sum()


def dual_newton(C, a, b, eps):
    """:func:`dual_lbfgs` polished by SciPy's ``trust-exact`` (Newton with the dual's exact Hessian
    ``[[diag r, P], [P^T, diag c]] / eps``, gauge ``g[0] = 0``): marginal errors of 1e-11 .. 1e-13 at
    eps = 5e-4 on a unit cost (n = 50), where L-BFGS alone stops near 1e-6. Returns ``(f, g, P)``."""
    n, m = C.shape
    f, g, _ = dual_lbfgs(C, a, b, eps)
    keep = np.r_[0:n, n + 1:n + m]

    def split(z):
        return z[:n], np.concatenate([[0.0], z[n:]])

    def fun(z):
        f, g = split(z)
        P = np.exp((f[:, None] + g[None, :] - C) / eps)
        return -(a @ f + b @ g - eps * P.sum()), -np.concatenate([a - P.sum(1), (b - P.sum(0))[1:]])

    def hess(z):
        f, g = split(z)
        P = np.exp((f[:, None] + g[None, :] - C) / eps)
        H = np.zeros((n + m, n + m))
        H[:n, :n], H[n:, n:] = np.diag(P.sum(1)), np.diag(P.sum(0))
        H[:n, n:], H[n:, :n] = P, P.T
        return H[keep][:, keep] / eps

    res = minimize(fun, np.concatenate([f, g[1:]]), jac=True, hess=hess, method="trust-exact",
                   options={"gtol": 1e-15, "maxiter": 200})
    f, g = split(res.x)
    return f, g, np.exp((f[:, None] + g[None, :] - C) / eps)
