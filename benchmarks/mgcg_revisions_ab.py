"""MG-CG solve time (set-up included, rtol 1e-8) of this tree against an earlier git revision, in alternating
fresh processes on the same machine.

The earlier revision is checked out into a temporary git worktree and imported from there (``PYTHONPATH``);
each round runs one process per side and grid, old side first, each process timing ``--repeat`` solves after
a warm-up one (median and minimum) and the hot stencil matvec before and after every solve (the yardstick of
``benchmarks/krylov_poisson.py``: solve time / the minimum matvec = matvec-equivalents). A process measures a
whole solve as a user runs it -- including the memory it allocates -- so this A/B covers what the in-process
phase profiles do not (page faults of fresh work arrays, ``solvers/_workspace.py``).

    python benchmarks/mgcg_revisions_ab.py --rev 93d6abd              # 128^3 and 1024^2, 3 rounds
    python benchmarks/mgcg_revisions_ab.py --rev 93d6abd --quick      # 64^3 and 256^2, 2 rounds

Writes ``benchmarks/results/mgcg_revisions_ab.json`` (``..._quick.json`` with ``--quick``; ``--tag T`` appends
``_T`` to the name).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

from _machine import machine_info, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
import numpy as np
import solvers
from problems import pde
from solvers.linear.multigrid import multigrid
shape, repeat = tuple(json.loads(sys.argv[1])), int(sys.argv[2])
p = pde.Poisson(shape); A = p.operator("numba"); b = p.rhs("numba")
res = solvers.cg(A, b, M=multigrid(A), rtol=1e-8)            # JIT warm-up
x, y = np.asarray(b).copy(), np.empty_like(np.asarray(b))
def matvec():
    ts = []
    for _ in range(10):
        t = time.perf_counter(); A.matvec_dot(x, y); ts.append(time.perf_counter() - t)
    return min(ts)
ts, mvs = [], []
for _ in range(repeat):
    mvs.append(matvec())
    t = time.perf_counter(); res = solvers.cg(A, b, M=multigrid(A), rtol=1e-8); ts.append(time.perf_counter() - t)
    mvs.append(matvec())
print(json.dumps({"times_s": ts, "matvec_s": min(mvs), "nit": res.nit, "converged": bool(res.converged),
                  "module": solvers.__file__}))
"""


def run_side(src, shape, repeat):
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(list(shape)), str(repeat)], cwd=src, env=env,
                         capture_output=True, text=True, check=True, timeout=1800)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    if not os.path.realpath(d["module"]).startswith(os.path.realpath(src)):
        raise RuntimeError(f"the child imported {d['module']}, not the tree at {src}")
    med = statistics.median(d["times_s"])
    d.update(time_s=med, matvec_equivalents=med / d["matvec_s"], matvec_equivalents_min=min(d["times_s"]) / d["matvec_s"])
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", required=True, help="the earlier git revision")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--shapes", default=None, help="grids to run, e.g. '1024x1024,128x128x128' (default: 128^3 and "
                    "1024^2; --quick: 64^3 and 256^2)")
    ap.add_argument("--tag", default="", help="appended to the output file's name (mgcg_revisions_ab_TAG.json)")
    args = ap.parse_args()
    shapes = [(64, 64, 64), (256, 256)] if args.quick else [(128, 128, 128), (1024, 1024)]
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    rounds = args.rounds or (2 if args.quick else 3)
    rev = subprocess.run(["git", "rev-parse", args.rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    result = {"machine": machine_info(), "rev_before": rev, "rtol": 1e-8, "repeat": args.repeat, "rounds": rounds,
              "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        wt = os.path.join(tmp, "before")
        subprocess.run(["git", "worktree", "add", "--detach", wt, rev], cwd=ROOT, check=True, capture_output=True)
        try:
            for shape in shapes:
                case = {"shape": list(shape), "before": [], "after": []}
                for _ in range(rounds):
                    for side, src in (("before", wt), ("after", ROOT)):
                        d = run_side(src, shape, args.repeat)
                        case[side].append(d)
                        print(f"{shape} {side:6s} nit {d['nit']} median {d['time_s'] * 1e3:7.1f} ms = "
                              f"{d['matvec_equivalents']:6.1f} matvec-equivalents (min {d['matvec_equivalents_min']:.1f}; "
                              f"matvec {d['matvec_s'] * 1e3:.3f} ms)", flush=True)
                for side in ("before", "after"):
                    case[f"{side}_median_s"] = statistics.median(d["time_s"] for d in case[side])
                    case[f"{side}_median_matvec_equivalents"] = statistics.median(
                        d["matvec_equivalents"] for d in case[side])
                case["after_over_before"] = case["after_median_s"] / case["before_median_s"]
                print(f"{shape}: after / before = {case['after_over_before']:.3f}")
                result["cases"].append(case)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", wt], cwd=ROOT, capture_output=True)
    name = "mgcg_revisions_ab" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "") + ".json"
    write_json(os.path.join(ROOT, "benchmarks", "results", name), result)


if __name__ == "__main__":
    main()
