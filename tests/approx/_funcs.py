"""Test functions with exact references (picklable, module level)."""
import numpy as np


class GaussianSum:
    """``f(x) = sum_r w_r exp(-a_r |x - c_r|^2)``: a canonical function (``cp_factors``) with
    the exact value by direct summation (``__call__``)."""

    def __init__(self, w, a, c):
        self.w, self.a, self.c = np.asarray(w, float), np.asarray(a, float), np.asarray(c, float)

    def cp_factors(self, nodes):
        U = [np.exp(-self.a[None, :] * (x[:, None] - self.c[None, :, i]) ** 2) for i, x in enumerate(nodes)]
        return self.w.copy(), U

    def __call__(self, x):
        d2 = ((x[:, None, :] - self.c[None, :, :]) ** 2).sum(axis=2)
        return (self.w[None, :] * np.exp(-self.a[None, :] * d2)).sum(axis=1)


def gaussians(rng, R, d, lo=-1.0, hi=1.0):
    return GaussianSum(rng.uniform(-1.0, 2.0, R), rng.uniform(0.5, 3.0, R), rng.uniform(lo, hi, (R, d)))


def box_points(rng, dom, n):
    dom = np.asarray(dom, float)
    return rng.uniform(dom[:, 0], dom[:, 1], size=(n, dom.shape[0]))
