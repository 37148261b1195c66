"""The issue-9 target measured, not extrapolated: the 24x24x4 lattice's long-range potential at 10^6 random points,
Chebyshev-Tucker evaluation vs the direct Numba summation of the same long-range kernel (both on 2 threads)."""
import json, os, time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
import solvers
from problems import potentials
from solvers.approx import ChebTucker
from solvers.cli.approx import run_case
system = potentials.cubic_lattice((24, 24, 4), spacing=1.0)
r = run_case(system, tol=1e-7, degree=128, cutoff=3.0, samples=2000, backend="numba")
ct, V = r["ct"], r["potential"]
box = np.asarray(V.box)
pts = np.random.default_rng(7).uniform(box[:, 0], box[:, 1], (10 ** 6, 3))
ct(pts[:10]); V.direct(pts[:10])
t0 = time.perf_counter(); a = ct(pts); t_ct = time.perf_counter() - t0
t0 = time.perf_counter(); d = V.direct(pts); t_d = time.perf_counter() - t0
err = float(np.abs(np.asarray(a) - d).max()) / float(np.abs(d).max())
routes = {}  # the same function by each evaluation route (ct took ct.eval_route, eval_method="auto")
for em in ("chebyshev", "table"):
    o = ChebTucker(ct.core, ct.factors, ct.domain, tol=ct.tol, eval_method=em); o(pts[:10])
    t0 = time.perf_counter(); b = o(pts); t_em = time.perf_counter() - t0
    routes[em] = {"chebtucker_s": t_em, "speedup": t_d / t_em,
                  "max_rel_error_vs_direct": float(np.abs(np.asarray(b) - d).max()) / float(np.abs(d).max())}
out = {"points": 10 ** 6, "ranks": list(ct.ranks), "eval_route": ct.eval_route, "chebtucker_s": t_ct,
       "direct_numba_s": t_d, "speedup": t_d / t_ct, "max_rel_error_vs_direct": err, "routes": routes,
       "threads": solvers.get_num_threads(), "loadavg": os.getloadavg()}
print(out)
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "chebtucker_lattice_1e6.json"), "w"), indent=1)
