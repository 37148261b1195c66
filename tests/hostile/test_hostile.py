"""Every hostile input of tests/hostile/cases_*.py ends in a clear error or a verified answer:
no wrong answer, no crash, no hang (the runner isolates each case in a worker process)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: case modules run at a time: the run is most of this suite's time (134 s of 536 with a warm cache, one worker)
JOBS = max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))


def test_hostile_inputs(tmp_path):
    if not list((ROOT / "tests" / "hostile").glob("cases_*.py")):
        pytest.skip("no hostile case modules")
    out = tmp_path / "hostile.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "hostile.py"), "--timeout", "60",
                           "--jobs", str(JOBS), "--out", str(out)], capture_output=True, text=True, timeout=1500)
    report = json.loads(out.read_text())
    bad = "\n".join(f"{r['outcome']}: {r['module']}:{r['name']}: {r.get('detail', '')[:300]}" for r in report["bad"])
    assert report["total"] > 0
    assert not report["bad"], f"{report['counts']}\n{bad}\n{proc.stdout[-2000:]}"
    assert proc.returncode == 0, proc.stderr[-2000:]
