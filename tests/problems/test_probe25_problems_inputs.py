"""Probe 25 (unusual but legitimate inputs): a column vector of weights is refused with a message that
reads once ("a must be a 1-D weight vector", not "a 1-D 1-D weight vector")."""
import numpy as np
import pytest

from problems import ot


def test_column_weights_message_names_the_shape_once():
    C = np.ones((4, 3))
    with pytest.raises(ValueError) as info:
        ot.EntropicOT(C, np.full((4, 1), 0.25), None, eps=0.1)
    msg = str(info.value)
    assert "a must be a 1-D weight vector" in msg and "(4, 1)" in msg
    assert "1-D 1-D" not in msg
