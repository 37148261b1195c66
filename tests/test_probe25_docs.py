"""Probe 25 (docs vs behaviour): statements of README.md checked against the code."""
import pytest

from solvers import _workspace as W


@pytest.mark.parametrize("raw", ["0", "256", str(2 ** 43)])
def test_workspace_limit_accepts_the_documented_range(monkeypatch, raw):
    """README: ``NEWTONKIT_WORKSPACE_MB`` takes 0 to 2^43 (and the error message says so); 2^43 itself
    was refused ('must be a number of MiB from 0 (the pool off) to 2^43, got 8796093022208')."""
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", raw)
    assert W._limit() == int(float(raw)) * 2 ** 20


@pytest.mark.parametrize("raw", [str(2 ** 43 + 1), "1e14"])
def test_workspace_limit_above_the_documented_range_is_refused(monkeypatch, raw):
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", raw)
    with pytest.raises(ValueError, match="NEWTONKIT_WORKSPACE_MB"):
        W._limit()
