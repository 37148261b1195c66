"""Sweep tasks and specs: deterministic keys, grid expansion, validation before anything runs."""
import subprocess
import sys
import textwrap

import pytest

from solvers.sweep import Task, load_spec, resolve_factory, tasks_from_spec
from solvers.sweep._tasks import as_tasks, canonical

OT = "problems.ot:random_point_clouds"


def test_key_is_a_hash_of_the_description_and_deterministic_across_processes():
    t = Task(OT, {"n": 20, "eps": 0.01}, seed=3, method="sns", options={"tol": 1e-9}, backend="numpy")
    again = Task(OT, {"eps": 0.01, "n": 20}, seed=3, method="sns", options={"tol": 1e-9}, backend="numpy")
    assert t.key == again.key                      # parameter order does not matter
    assert t.key.startswith("t") and len(t.key) == 25 and int(t.key[1:], 16) >= 0
    code = ("from solvers.sweep import Task; print(Task('problems.ot:random_point_clouds', {'n': 20, 'eps': 0.01}, "
            "seed=3, method='sns', options={'tol': 1e-9}, backend='numpy').key)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == t.key             # another interpreter, another hash seed: same key
    import hashlib

    expected = hashlib.sha256(canonical({"factory": OT, "params": {"n": 20, "eps": 0.01}, "seed": 3,
                                         "seed_param": "seed", "method": "sns", "options": {"tol": 1e-9},
                                         "backend": "numpy"}).encode()).hexdigest()[:24]
    assert t.key == "t" + expected


@pytest.mark.parametrize("change", [dict(seed=4), dict(params={"n": 21, "eps": 0.01}), dict(method="sinkhorn"),
                                    dict(options={"tol": 1e-8}), dict(backend="numba"),
                                    dict(factory="problems.ot.generators:random_point_clouds")])
def test_every_field_of_the_description_changes_the_key(change):
    base = dict(factory=OT, params={"n": 20, "eps": 0.01}, seed=3, method="sns", options={"tol": 1e-9},
                backend="numpy")
    assert Task(**{**base, **change}).key != Task(**base).key


def test_name_is_a_label_not_part_of_the_key():
    assert Task(OT, {"n": 5}, seed=1, name="a").key == Task(OT, {"n": 5}, seed=1, name="b").key


def test_spec_expands_to_the_product_of_its_axes():
    spec = {"factory": OT, "method": ["sns", "sinkhorn"], "backend": "numpy", "seeds": [0, 1, 2],
            "params": {"dim": 2}, "grid": {"n": [10, 20], "eps": [1e-2, 1e-3]}, "options": {"maxiter": 500},
            "option_grid": {"tol": [1e-6, 1e-9]}}
    tasks = tasks_from_spec(spec)
    assert len(tasks) == 2 * 3 * 2 * 2 * 2
    assert len({t.key for t in tasks}) == len(tasks)
    combos = {(t.method, t.params["n"], t.params["eps"], t.options["tol"], t.seed) for t in tasks}
    assert len(combos) == len(tasks)
    assert all(t.params["dim"] == 2 and t.options["maxiter"] == 500 and t.backend == "numpy" for t in tasks)
    assert tasks_from_spec(spec) == tasks          # the same spec, the same tasks in the same order


def test_equal_parameters_different_seeds_are_different_tasks():
    a, b = tasks_from_spec({"factory": OT, "method": "sns", "seeds": [7, 8], "grid": {"n": [10]}})
    assert a.params == b.params and a.seed != b.seed and a.key != b.key
    assert a.factory_kwargs() == {"n": 10, "seed": 7}


def test_load_spec_reads_toml(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent("""
        name = "demo"
        factory = "problems.pde:Poisson"
        method = "cg"
        store = "runs/"
        [grid]
        shape = [[8, 8], [16, 16]]
        [option_grid]
        precond = ["mg", "jacobi"]
        [options]
        rtol = 1e-10
    """))
    spec = load_spec(f)
    assert spec["store"] == "runs/"
    spec.pop("store")
    tasks = tasks_from_spec(spec)
    assert [(t.params["shape"], t.options["precond"]) for t in tasks] == [
        ([8, 8], "mg"), ([8, 8], "jacobi"), ([16, 16], "mg"), ([16, 16], "jacobi")]
    assert all(t.seed is None and t.name == "demo" and t.factory_kwargs() == t.params for t in tasks)
    bad = tmp_path / "bad.toml"
    bad.write_text("factory = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_spec(bad)


def test_resolve_factory_dotted_names():
    from problems import pde
    from problems.ot import random_point_clouds

    assert resolve_factory(OT) is random_point_clouds
    assert resolve_factory("problems.ot.random_point_clouds") is random_point_clouds
    assert resolve_factory("problems.pde:Poisson.manufactured") == pde.Poisson.manufactured
    with pytest.raises(AttributeError, match="no attribute"):
        resolve_factory("problems.ot:no_such_thing")
    with pytest.raises(TypeError, match="not a callable"):
        resolve_factory("problems.ot:__name__")


@pytest.mark.parametrize("spec, exc, match", [
    ({"method": "sns"}, ValueError, "needs factory"),
    ({"factory": OT, "grids": {}}, ValueError, "unknown key"),
    ({"factory": "not a path"}, ValueError, "dotted path"),
    ({"factory": 3}, TypeError, "dotted path"),
    ({"factory": "problems.ot:nope"}, ValueError, "cannot be used"),
    ({"factory": "no_such_module_xyz:f"}, ValueError, "cannot be used"),
    ({"factory": OT, "grid": {"n": []}}, ValueError, "non-empty list"),
    ({"factory": OT, "grid": {"n": 5}}, ValueError, "non-empty list"),
    ({"factory": OT, "seeds": []}, ValueError, "empty list"),
    ({"factory": OT, "params": {"n": 5}, "grid": {"n": [5, 6]}}, ValueError, "both"),
    ({"factory": OT, "method": "newtonish"}, ValueError, "not a routine"),
    ({"factory": OT, "method": "sns", "options": {"rtol": 1e-3}}, ValueError, "not taken by method 'sns'"),
    ({"factory": OT, "method": "cg", "options": {"precond": "mg", "bogus": 1}}, ValueError, "bogus"),
    ({"factory": OT, "grid": {"n": [5, 5]}}, ValueError, "same run"),
    ({"factory": OT, "seeds": [1.5]}, TypeError, "seed must be an int"),
    ({"factory": OT, "seeds": [-1]}, ValueError, "seed must be in"),
    ({"factory": OT, "seeds": [1], "params": {"seed": 2}}, ValueError, "seed is given too"),
    ({"factory": OT, "params": 3}, TypeError, "must be a table"),
    ({"factory": OT, "seeds": list(range(1000)), "grid": {"n": list(range(1000)), "eps": [0.1, 0.2]}}, ValueError,
     "2,000,000 tasks"),
])
def test_bad_specs_are_refused_before_anything_runs(spec, exc, match):
    with pytest.raises(exc, match=match):
        tasks_from_spec(spec)


def test_non_plain_parameters_are_refused():
    import numpy as np

    with pytest.raises(TypeError, match="plain data"):
        Task(OT, {"x": np.zeros(3)})
    with pytest.raises(TypeError, match="plain data"):
        Task(OT, options={"callback": print})
    assert Task(OT, {"n": np.int64(5), "eps": np.float32(0.5)}).params == {"n": 5, "eps": 0.5}


def test_as_tasks_accepts_tasks_specs_and_refuses_the_rest(tmp_path):
    t = Task(OT, {"n": 5}, seed=1)
    assert as_tasks(t) == [t] and as_tasks([t]) == [t]
    assert len(as_tasks({"factory": OT, "params": {"n": 5}, "seeds": [1, 2]})) == 2   # (n is required: helper-160)
    with pytest.raises(ValueError, match="same run"):
        as_tasks([t, Task(OT, {"n": 5}, seed=1)])
    with pytest.raises(TypeError, match="Task objects"):
        as_tasks([{"factory": OT}])
    with pytest.raises(TypeError, match="iterable of Task"):
        as_tasks(3)
