"""BENCHMARKS.md: every figure in one table with its target and verdict, the ratios, and the commands."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.bench_engine import ratios
from bench.ceiling import parse_tps
from bench.report import Figure, figures, render, table

ENGINE = {
    "engine": [
        {"workers": 1, "steps": 200, "worker_mode": "fork", "steps_per_s": 600.0, "peak_rss_mib": [90.0]},
        {
            "workers": 2,
            "steps": 200,
            "worker_mode": "fork",
            "steps_per_s": 1200.0,
            "peak_rss_mib": [91.0, 350.5],
        },
    ],
    "naive": {"workers": 2, "steps": 40, "steps_per_s": 100.0, "peak_rss_mib": [80.0, 80.0]},
    "ceiling": {"clients": 2, "transactions": 200, "tps": 2400.0, "command": "pgbench --file x.sql"},
}
ENROLL = [{"leads": 1_000_000, "sequences": 5, "enrolled": 700_000, "seconds": 42.0}]
PAGES = {
    "data": {"leads": 100_000, "activities": 1_000_000},
    "pages": [{"page": "inbox (1,000 pending drafts)", "p50_ms": 40.0, "p95_ms": 160.0}],
}


def test_ratios_come_from_the_two_worker_run():
    assert ratios(ENGINE) == {"engine_over_naive": 12.0, "engine_share_of_ceiling": 0.5}
    assert ratios({"engine": ENGINE["engine"][:1]}) == {
        "engine_over_naive": None,
        "engine_share_of_ceiling": None,
    }


def test_every_figure_has_its_target_and_verdict():
    rows = figures({**ENGINE, **ratios(ENGINE)}, "engine-cmd", ENROLL, "enroll-cmd", PAGES, "pages-cmd")
    by_name = {r.name.split(" (")[0]: r for r in rows}
    assert by_name["Engine, 2 workers"].passed is True
    assert by_name["Engine, 1 worker"].passed is None  # no target for one worker
    assert by_name["Engine ÷ naive"].value == "12.0×" and by_name["Engine ÷ naive"].passed is True
    assert next(r for r in rows if r.name.endswith("pgbench ceiling")).value == "50%"
    # The worst worker process counts: 350.5 MiB fails the 300 MB target.
    assert [r.passed for r in rows if r.name.startswith("Worker peak RSS")] == [True, False]
    assert by_name["Auto-enroll 1,000,000 leads against 5 sequences"].passed is True
    page = next(r for r in rows if r.name.startswith("Page: inbox"))
    assert page.passed is False and page.command == "pages-cmd"
    assert by_name["Ceiling: pgbench, 2 clients"].command == "pgbench --file x.sql"


def test_the_table_escapes_pipes_and_marks_failures():
    text = table([Figure("a | b", "1", "≥ 2", False), Figure("c", "3")])
    assert text.splitlines() == [
        "| figure | value | target | result |",
        "|---|---|---|---|",
        "| a \\| b | 1 | ≥ 2 | FAIL |",
        "| c | 3 |  | — |",
    ]


def test_the_report_names_the_machine_date_commands_and_smoke_runs():
    rows = [Figure("Engine, 2 workers", "1,200 steps/s", "≥ 1,000 steps/s", True)]
    text = render(rows, {"CPU": "Test CPU", "cores": "2"}, datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
                  ["python -m bench.bench_engine --steps 20000"], smoke=True)  # fmt: skip
    assert "- CPU: Test CPU" in text and "2025-01-02 03:04 UTC" in text and "1 of 1 targets met" in text
    assert "- `python -m bench.bench_engine --steps 20000`" in text
    assert "Smoke run at tiny sizes" in text


def test_pgbench_tps_is_read_without_connection_time():
    output = "latency average = 1.7 ms\ninitial connection time = 17.8 ms\ntps = 1174.858038 (without initial connection time)\n"
    assert parse_tps(output) == 1174.858038
