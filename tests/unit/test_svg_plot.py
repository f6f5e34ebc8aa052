"""The SVG line chart of the growth figures: a valid SVG document with every point, a log-scale size axis,
labelled axes and the target line."""

import xml.etree.ElementTree as ET

import pytest

from bench.svg_plot import line_chart

SVG = "{http://www.w3.org/2000/svg}"


def chart(**kwargs):
    series = {"claim": [(100_000, 4.0), (1_000_000, 4.4), (10_000_000, 5.1)]}
    return ET.fromstring(line_chart("Claim time", "enrollments waiting", "ms", series, **kwargs))


def test_the_chart_is_an_svg_document_with_one_circle_per_point():
    root = chart()
    assert root.tag == f"{SVG}svg"
    titles = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]
    assert titles == ["claim: 4 at 100k", "claim: 4.4 at 1M", "claim: 5.1 at 10M"]


def test_sizes_ten_times_apart_are_equally_far_apart():
    xs = [float(c.get("cx")) for c in chart().iter(f"{SVG}circle")]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])


def test_larger_values_are_drawn_higher():
    ys = [float(c.get("cy")) for c in chart().iter(f"{SVG}circle")]
    assert ys[0] > ys[1] > ys[2]  # SVG's y grows downwards


def test_the_axes_are_labelled_and_ticked_at_powers_of_ten():
    texts = [t.text for t in chart().iter(f"{SVG}text")]
    assert "Claim time" in texts
    assert "enrollments waiting (log scale)" in texts
    assert "ms" in texts
    assert {"100k", "1M", "10M"} <= set(texts)


def test_the_target_is_a_dashed_line_at_its_value_with_its_label():
    root = chart(target=6.0, target_label="1.5× the smallest size")
    targets = [line for line in root.iter(f"{SVG}line") if line.get("class") == "target"]
    assert len(targets) == 1
    assert "1.5× the smallest size" in [t.text for t in root.iter(f"{SVG}text")]
    circles = {c.find(f"{SVG}title").text: float(c.get("cy")) for c in root.iter(f"{SVG}circle")}
    assert float(targets[0].get("y1")) < circles["claim: 5.1 at 10M"]  # 6 ms is above the highest point


def test_several_series_each_get_their_line():
    series = {"timeline": [(1e5, 20), (1e6, 25)], "performance": [(1e5, 60), (1e6, 90)]}
    root = ET.fromstring(line_chart("Pages", "activities", "ms", series))
    assert len(list(root.iter(f"{SVG}polyline"))) == 2


def test_names_are_escaped():
    root = ET.fromstring(line_chart("A < B & C", "x", "y", {"<s>": [(10, 1)]}))
    assert "A < B & C" in [t.text for t in root.iter(f"{SVG}text")]


def test_nothing_to_plot_or_a_size_of_zero_is_refused():
    with pytest.raises(ValueError):
        line_chart("t", "x", "y", {})
    with pytest.raises(ValueError):
        line_chart("t", "x", "y", {"s": [(0, 1)]})


def test_a_size_just_over_a_power_of_ten_ends_the_axis_there():
    root = ET.fromstring(line_chart("Pages", "activities", "ms", {"p95": [(100_100, 40), (1_000_100, 60)]}))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "1M" in texts
    assert "10M" not in texts
