"""Class 6 of issue 7: every bad constructor argument of the problems raises ValueError/TypeError naming it.

The table lives in tests/hostile/cases_problems.py (BAD_ARGS, shared with the hostile-input runner);
here every row is a test, and the verified cases of that module must verify.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from problems import ot, pde
from problems._checks import ProblemTooLargeError

_spec = importlib.util.spec_from_file_location(
    "hostile_cases_problems", Path(__file__).resolve().parents[1] / "hostile" / "cases_problems.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


@pytest.mark.parametrize("case_id,thunk,name,forbid", cases.BAD_ARGS, ids=[c[0] for c in cases.BAD_ARGS])
def test_bad_argument_is_named(case_id, thunk, name, forbid):
    with pytest.raises((ValueError, TypeError)) as info:
        thunk()
    msg = str(info.value)
    assert cases._mentions(msg, name), msg
    assert not any(msg.startswith(f) for f in forbid), msg


def test_table_is_large():
    assert len(cases.BAD_ARGS) >= 200
    assert len(cases.CASES) >= 40


@pytest.mark.parametrize("case_id,run", [c for c in cases.CASES if not c[0] in {b[0] for b in cases.BAD_ARGS}],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_verified_cases(case_id, run):
    assert run() == "verified"


def test_nan_points_do_not_blame_C():
    x = np.random.default_rng(0).random((5, 2))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"^x contains NaN"):
        ot.EntropicOT.from_points(x, np.ones((3, 2)), eps=0.1)


def test_negative_density_names_density():
    d = np.ones((4, 4))
    d[1, 1] = -1.0
    with pytest.raises(ValueError, match=r"^density_b has negative entries"):
        ot.EntropicOT.from_grids(np.ones((4, 4)), d)


def test_1d_profile_on_square_grid_is_not_broadcast():
    # on a 6x6 grid a length-6 array would broadcast along the last axis: another problem, silently
    with pytest.raises(ValueError, match=r"^f returned an array of shape \(6,\)"):
        pde.Poisson((6, 6), f=lambda x, y: np.sin(x[:, 0]))
    with pytest.raises(ValueError, match=r"^k returned an array of shape \(7,\)"):
        pde.Poisson((6, 6), k=lambda x, y: 1.0 + x[:, 0])


@pytest.mark.parametrize("field", ["f", "g", "k"])
def test_complex_data_refused(field):
    with pytest.raises(TypeError, match=rf"^{field} returned complex values"):
        pde.Poisson((5, 5), **{field: lambda x, y: 1.0 + 0.5j * x})
    with pytest.raises(TypeError, match=rf"^{field} must be a real number"):
        pde.Poisson((5, 5), **{field: 1.0 + 1j})


def test_memory_refused_without_allocating(monkeypatch):
    with pytest.raises(ProblemTooLargeError, match=r"64\.8 GB"):
        ot.EntropicOT.from_grids(np.ones((300, 300)), np.ones((300, 300)))
    with pytest.raises(MemoryError, match=r"1e\+15 unknowns"):
        pde.Poisson((100000, 100000, 100000))
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", "1e6")        # 1 MB: a 20x20 grid OT cost (1.3 MB) is refused
    with pytest.raises(ValueError, match=r"from_grids.*20 x 20|400 x 400"):
        ot.EntropicOT.from_grids(np.ones((20, 20)), np.ones((20, 20)))
    with pytest.raises(ValueError, match=r"random_point_clouds"):
        ot.random_point_clouds(300)
    assert ot.random_point_clouds(50).shape == (50, 50)
