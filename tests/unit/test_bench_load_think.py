"""The load benchmark's ``--think``: how long its users pause between two pages."""

from __future__ import annotations

import argparse

import pytest

from bench.bench_load import think_range


def test_a_range_a_single_time_and_no_pause():
    assert think_range("1-5") == (1.0, 5.0)
    assert think_range("2.5") == (2.5, 2.5)
    assert think_range("0") == (0.0, 0.0)


@pytest.mark.parametrize("text", ["", "fast", "5-1", "-1", "1-x"])
def test_bad_values_are_refused_with_the_reason(text):
    with pytest.raises(argparse.ArgumentTypeError, match="MIN"):
        think_range(text)
