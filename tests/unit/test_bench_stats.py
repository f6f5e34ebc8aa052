"""The arithmetic of the load and growth benchmarks: percentiles, a page's summary and the 1.5× rule."""

import math

import pytest

from bench.stats import growth, latency_summary, percentile


def test_the_median_of_an_odd_count_is_the_middle_value():
    assert percentile([30, 10, 20], 50) == 20


def test_a_percentile_between_two_ranks_is_interpolated():
    # ranks 0..3; the 50th percentile falls half-way between 20 and 30
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)


def test_the_extremes_are_the_smallest_and_the_largest():
    values = [5.0, 1.0, 9.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 9.0


def test_p99_of_a_hundred_samples_sits_at_the_slow_end():
    samples = list(range(1, 101))  # 1 … 100 ms
    assert percentile(samples, 99) == pytest.approx(99.01)


def test_no_values_or_a_percentile_outside_0_100_is_refused():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_a_pages_summary_counts_its_requests_per_second():
    summary = latency_summary([10.0] * 90 + [200.0] * 10, seconds=50)
    assert summary["requests"] == 100
    assert summary["requests_per_s"] == 2.0
    assert summary["p50_ms"] == 10.0
    assert summary["p99_ms"] == 200.0
    assert summary["max_ms"] == 200.0


def test_a_time_within_one_and_a_half_times_the_base_passes():
    assert growth(4.0, 6.0).passed  # exactly 1.5×
    assert growth(4.0, 3.0).passed  # faster than the base


def test_a_time_more_than_one_and_a_half_times_the_base_fails():
    result = growth(4.0, 6.2)
    assert result.ratio == pytest.approx(1.55)
    assert not result.passed


def test_a_rate_is_judged_by_how_far_it_fell():
    assert growth(1500, 1000, higher_is_better=True).passed  # fell to 1/1.5
    fell = growth(1500, 900, higher_is_better=True)
    assert fell.ratio == pytest.approx(1.667, abs=0.001)
    assert not fell.passed


def test_a_rate_of_nothing_is_infinitely_worse():
    result = growth(1500, 0, higher_is_better=True)
    assert math.isinf(result.ratio)
    assert not result.passed
