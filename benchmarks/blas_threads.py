"""Solves with the BLAS library's default thread count against ``OPENBLAS_NUM_THREADS=1``.

OpenBLAS's worker threads spin for about 0.1 s after a threaded call, on the cores the Numba kernels
then run on. Every other benchmark pins ``OPENBLAS_NUM_THREADS=1``; a user who does not gets this
configuration. Each case runs in child processes, alternately with the variable unset (the default:
OpenBLAS uses every core) and set to 1, ``NEWTONKIT_NUM_THREADS`` pinned in both; each child warms the
case up (JIT) and reports the median of ``--repeat`` solves. The JSON records the medians over the
children and the ratio default / pinned (1.0: the default costs nothing).

    python benchmarks/blas_threads.py                  # benchmarks/results/blas_threads.json
    python benchmarks/blas_threads.py --cases minres gmres --out /tmp/x.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _cases():
    import numpy as np

    import solvers
    from problems import pde
    from solvers.linear.multigrid import multigrid

    def poisson(shape, **kw):
        p = pde.Poisson(shape, **kw)
        return p.operator("numba"), p.rhs("numba")

    def ot(n):
        rng = np.random.default_rng(0)
        x, y = rng.random((n, 2)), rng.random((n, 2))
        C = ((x[:, None] - y[None]) ** 2).sum(-1)
        C /= C.max()
        return C, np.full(n, 1.0 / n)

    def jump(x, y, z):
        return np.where((x > 0.3) & (x < 0.7) & (y > 0.3) & (y < 0.7), 1e4, 1.0)

    def make(name):
        if name == "minres 256^2":
            A, b = poisson((256, 256))
            return lambda: solvers.minres(A, b, rtol=1e-8, backend="numba")
        if name == "gmres 256^2 (240 it)":
            A, b = poisson((256, 256))
            return lambda: solvers.gmres(A, b, rtol=1e-12, maxiter=8, restart=30, backend="numba")
        if name == "cdm 256^2":
            A, b = poisson((256, 256))
            return lambda: solvers.cdm(A, b, rtol=1e-6, backend="numba")
        if name == "cg 256^2":
            A, b = poisson((256, 256))
            return lambda: solvers.cg(A, b, rtol=1e-8, backend="numba")
        if name.startswith("mg-cg geometric"):
            A, b = poisson(tuple(int(s) for s in name.split()[-1].split("x")))
            return lambda: solvers.cg(A, b, M=multigrid(A), rtol=1e-8)
        if name == "mg-cg galerkin 48^3 jump 1e4":
            A, b = poisson((48, 48, 48), k=jump)
            return lambda: solvers.cg(A, b, M=multigrid(A), rtol=1e-8)
        if name == "mg stationary 96^3":
            A, b = poisson((96, 96, 96))
            return lambda: multigrid(A).solve(b, rtol=1e-8)
        if name == "sinkhorn n=3000 eps=1e-2":
            C, a = ot(3000)
            return lambda: solvers.sinkhorn(C, a, a, eps=1e-2, tol=1e-8, backend="numba")
        if name == "chebtucker build m=65 + eval 2e5 points":
            x0 = np.array([1.2, 0.3, -0.2])
            f = lambda X: 1.0 / np.sqrt(((X - x0) ** 2).sum(1))  # noqa: E731
            P = np.random.default_rng(1).uniform(-1, 1, (200_000, 3))

            def run():
                ct = solvers.chebtucker(f, [(-1, 1)] * 3, degree=64, tol=1e-7)
                ct(P)
                return _Done(ct)
            return run
        if name.startswith("sketched_newton control"):
            from problems.pde import PoissonControl
            n, semi = int(name.split()[2]), name.endswith("semilinear")
            return lambda: solvers.sketched_newton(PoissonControl(n, alpha=1e-4, semilinear=semi), sketch=None,
                                                   tol=1e-8, backend="numba")
        if name.startswith("sns"):
            n = int(name.split()[1].split("=")[1])
            C, a = ot(n)
            return lambda: solvers.sns(C, a, a, eps=1e-3, tol=1e-8, backend="numba")
        raise KeyError(name)

    return make


class _Done:
    """The iteration-free routines' stand-in for a result (``nit``, ``converged``)."""

    def __init__(self, obj):
        self.nit, self.converged = 0, True


CASES = ("cg 256^2", "minres 256^2", "gmres 256^2 (240 it)", "cdm 256^2", "mg-cg geometric 128x128x128",
         "mg-cg geometric 1024x1024", "mg-cg geometric 64x64x64", "mg-cg galerkin 48^3 jump 1e4",
         "mg stationary 96^3", "sns n=3000 eps=1e-3", "sns n=12000 eps=1e-3", "sinkhorn n=3000 eps=1e-2",
         "chebtucker build m=65 + eval 2e5 points", "sketched_newton control 128",
         "sketched_newton control 128 semilinear")


def child(name, repeat):
    fn = _cases()(name)
    res = fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        ts.append(time.perf_counter() - t)
    print(json.dumps({"median_s": statistics.median(ts), "times_s": ts, "nit": int(res.nit),
                      "converged": bool(res.converged)}))


def run_child(name, repeat, pinned):
    env = dict(os.environ)
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    env.setdefault("NEWTONKIT_NUM_THREADS", "2")
    if pinned:
        env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, __file__, "--child", name, "--repeat", str(repeat)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--repeat", type=int, default=3, help="solves per child (median)")
    ap.add_argument("--children", type=int, default=2, help="child processes per setting, alternating")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "blas_threads.json"))
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.repeat)
    sys.path.insert(0, HERE)
    from _machine import machine_info

    os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")
    result = {"benchmark": "blas_threads", "machine": machine_info(), "repeat": args.repeat,
              "children": args.children, "cases": {}}
    for name in args.cases:
        runs = {"default": [], "pinned": []}
        for _ in range(args.children):
            for key in ("default", "pinned"):
                runs[key].append(run_child(name, args.repeat, key == "pinned"))
        med = {k: statistics.median(r["median_s"] for r in v) for k, v in runs.items()}
        entry = {"default_s": med["default"], "pinned_s": med["pinned"],
                 "ratio_default_over_pinned": med["default"] / med["pinned"],
                 "nit": runs["pinned"][0]["nit"], "converged": all(r["converged"] for v in runs.values() for r in v),
                 "children": runs, "loadavg": list(os.getloadavg())}
        result["cases"][name] = entry
        print(f"{name:32s} default {med['default'] * 1e3:9.1f} ms  OPENBLAS_NUM_THREADS=1 "
              f"{med['pinned'] * 1e3:9.1f} ms  ratio {entry['ratio_default_over_pinned']:.2f}  "
              f"({entry['nit']} it, load {entry['loadavg'][0]:.2f})", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
