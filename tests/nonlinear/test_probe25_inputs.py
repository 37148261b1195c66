"""Probe 25 (unusual but legitimate inputs): the seed of sketched_newton.

A Generator (as SciPy accepts) or a string seed is a wrong *type*: a TypeError naming seed, as every
other option of sketched_newton and as ``solvers.operators.sketch`` (it was a ValueError)."""
import numpy as np
import pytest

import solvers
from problems import nlp


@pytest.mark.parametrize("seed", [np.random.default_rng(0), "3", 1.0, True, np.bool_(True)])
def test_sketched_newton_seed_of_wrong_type_is_type_error(seed):
    with pytest.raises(TypeError, match="seed"):
        solvers.sketched_newton(nlp.hs("HS28"), seed=seed)


def test_sketched_newton_negative_seed_is_value_error():
    with pytest.raises(ValueError, match="seed"):
        solvers.sketched_newton(nlp.hs("HS28"), seed=-1)


@pytest.mark.parametrize("seed", [np.int64(3), np.uint8(3), 2**40])
def test_sketched_newton_integer_seeds_accepted(seed):
    res = solvers.sketched_newton(nlp.hs("HS28"), seed=seed, backend="numpy")
    assert res.converged
