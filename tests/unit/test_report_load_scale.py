"""The report's rows for pages under load and cost as work grows: targets and verdicts from the figures."""

import xml.etree.ElementTree as ET

from bench.report_load_scale import load_figures, plots, scale_figures


def page_figures(p95):
    return {"p50_ms": 20.0, "p95_ms": p95}


def scale_run(waiting, claim_ms, steps_per_s, timeline_p95=30.0):
    return {"waiting": waiting, "activities": waiting + 100, "claim_ms": claim_ms, "claim_rows": 200,
            "steps_per_s": steps_per_s,
            "pages": {"lead_timeline": page_figures(timeline_p95), "performance_90_days": page_figures(80.0),
                      "performance_all_time": page_figures(120.0)}}  # fmt: skip


SCALE = {
    "steps": 20_000,
    "runs": [scale_run(1_000_000, 5.0, 1200), scale_run(100_000, 4.0, 1500),
             scale_run(10_000_000, 6.2, 900, timeline_p95=180.0)],
    "auto_enroll": {"leads": 1_000_000, "existing_enrollments": 5_000_100, "enrolled": 1_000_000, "seconds": 42.0},
}  # fmt: skip


def row(rows, starts):
    [found] = [r for r in rows if r.name.startswith(starts)]
    return found


def test_the_smallest_size_is_the_base_and_is_not_judged():
    rows = scale_figures(SCALE, "cmd")
    assert row(rows, "Dispatcher claim of 200 due rows, 100,000").passed is None
    assert row(rows, "Engine, 2 workers, 20,000 due steps, 100,000").passed is None


def test_a_claim_within_one_and_a_half_times_the_base_passes_and_beyond_it_fails():
    rows = scale_figures(SCALE, "cmd")
    assert row(rows, "Dispatcher claim of 200 due rows, 1,000,000").passed is True  # 1.25×
    ten_million = row(rows, "Dispatcher claim of 200 due rows, 10,000,000")
    assert ten_million.passed is False  # 1.55×
    assert ten_million.target == "≤ 1.5× 4.0 ms"


def test_an_engine_that_fell_below_the_base_over_one_and_a_half_fails():
    rows = scale_figures(SCALE, "cmd")
    assert row(rows, "Engine, 2 workers, 20,000 due steps, 1,000,000").passed is True  # 1500 / 1200 = 1.25
    ten_million = row(rows, "Engine, 2 workers, 20,000 due steps, 10,000,000")
    assert ten_million.passed is False  # 1500 / 900 = 1.67
    assert ten_million.target == "≥ 1,000 steps/s (÷1.5)"


def test_each_page_at_each_size_is_held_to_150_ms():
    rows = scale_figures(SCALE, "cmd")
    assert row(rows, "Lead timeline (100 activities), 100,100").passed is True
    assert row(rows, "Lead timeline (100 activities), 10,000,100").passed is False


def test_auto_enrolling_a_million_leads_is_held_to_a_minute():
    assert row(scale_figures(SCALE, "cmd"), "Auto-enroll 1,000,000 leads").passed is True
    small = {**SCALE, "auto_enroll": {**SCALE["auto_enroll"], "leads": 2_000}}
    assert row(scale_figures(small, "cmd"), "Auto-enroll 2,000 leads").passed is None


def test_pages_under_load_pass_under_150_ms_and_any_failed_request_fails():
    result = {
        "users": 20, "server": "gunicorn --workers 2 --threads 4", "seconds": 60.0,
        "data": {"leads": 100_000, "activities": 1_000_000},
        "engine": {"steps_sent": 30_000, "steps_per_s": 500.0, "ran_out": False},
        "pages": [{"page": "inbox", "p50_ms": 40, "p95_ms": 120, "p99_ms": 200, "requests_per_s": 9.5,
                   "requests": 570, "failures": 0},
                  {"page": "tasks", "p50_ms": 90, "p95_ms": 150, "p99_ms": 260, "requests_per_s": 8.0,
                   "requests": 480, "failures": 2}],
    }  # fmt: skip
    rows = load_figures(result, "cmd")
    assert row(rows, "Page under load: inbox").passed is True
    assert row(rows, "Page under load: tasks").passed is False  # 150 is not under 150
    failed = row(rows, "Failed requests under load")
    assert (failed.value, failed.passed) == ("2", False)
    assert row(rows, "Engine during the page load").passed is None


def test_the_plots_are_three_svgs_with_a_point_per_size():
    charts = plots(SCALE)
    assert set(charts) == {"scale-claim.svg", "scale-engine.svg", "scale-pages.svg"}
    circles = ET.fromstring(charts["scale-pages.svg"]).iter("{http://www.w3.org/2000/svg}circle")
    assert len(list(circles)) == 3 * 3  # three pages at three sizes
