"""BENCHMARKS.md: every figure in one table with its target and verdict, the ratios, and the commands."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.bench_engine import ratios
from bench.ceiling import parse_tps
from bench.report import Figure, command_list, figures, render, table

FOUR_CONNECTIONS = {
    "workers": 2,
    "steps": 200,
    "steps_per_s": 450.0,
    "message_bytes": 1400,
    "smtp_connections": 4,
    "mta_connections": 8,
    "share_of_mta": 0.9,
}
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
    "naive": [
        {
            "workers": 2,
            "worker_model": "fork",
            "steps": 200,
            "steps_per_s": 10.0,
            "peak_rss_mib": [80.0, 80.0],
        },
        {
            "workers": 2,
            "worker_model": "simple",
            "steps": 200,
            "steps_per_s": 100.0,
            "peak_rss_mib": [80.0, 80.0],
        },
    ],
    "replay": [
        {"clients": 2, "batch": 200, "steps": 400, "steps_per_s": 2400.0, "command": "pgbench --file x.sql"}
    ],
    "commit_rate": [
        {
            "clients": 2,
            "transactions": 200,
            "commits_per_s": 3000.0,
            "what": "one-row insert",
            "command": "pgbench --file c.sql",
        }
    ],  # fmt: skip
    "mta": {
        "runs": [
            {
                "workers": 2,
                "steps": 200,
                "steps_per_s": 180.0,
                "message_bytes": 1400,
                "smtp_connections": 1,
                "mta_connections": 2,
                "share_of_mta": 0.6,
            },
            FOUR_CONNECTIONS,
        ],
        "engine": FOUR_CONNECTIONS,  # the better of the two runs, as bench_engine.mta_runs hands it back
        "own": [
            {"connections": 2, "messages": 200, "size": 1400, "messages_per_s": 300.0},
            {"connections": 8, "messages": 200, "size": 1400, "messages_per_s": 500.0},
            {"connections": 4, "messages": 200, "size": 1400, "messages_per_s": 600.0},
        ],
    },  # fmt: skip
}
ENROLL = [{"leads": 1_000_000, "sequences": 5, "enrolled": 700_000, "seconds": 42.0}]


def test_ratios_come_from_the_two_worker_run_and_the_best_naive_variant():
    found = ratios(ENGINE)
    assert found["engine_over_naive"] == 12.0  # over SimpleWorker's 100 steps/s, the better naive variant
    assert found["engine_share_of_replay"] == 0.5
    assert found["engine_share_of_mta"] == 0.9  # the better run's share of exim at its own 8 connections
    assert (
        found["engine_share_of_best_mta"] == 0.75
    )  # the faster run (450) / exim's best rate (600, 4 connections)
    assert ratios({"engine": ENGINE["engine"][:1]})["engine_over_naive"] is None


def test_every_figure_has_its_target_and_verdict():
    rows = figures({**ENGINE, **ratios(ENGINE)}, "engine-cmd", ENROLL, "enroll-cmd")
    by_name = {r.name.split(" (")[0]: r for r in rows}

    def named(start: str) -> Figure:
        return next(r for r in rows if r.name.startswith(start))

    assert by_name["Engine, 2 workers"].passed is True
    assert by_name["Engine, 1 worker"].passed is None  # no target for one worker
    over = named("Engine (2 workers) ÷ the best naive variant")
    assert over.value == "12.0×" and over.passed is True
    assert named("What the worker model buys: naive SimpleWorker ÷ naive forking").value == "10.0×"
    assert named("What batching buys: engine ÷ naive SimpleWorker").value == "12.0×"
    assert named("Engine (2 workers) ÷ ceiling 1 at 2 clients").value == "50%"
    mta = named("Engine (2 workers, its better run) through exim ÷ exim's own rate at as many connections")
    assert mta.value == "90%" and mta.target == "≥ 80%" and mta.passed is True
    assert named("Engine (2 workers, its faster run) through exim ÷ exim's best").value == "75%"
    assert named("Engine, 2 workers, through exim spooling to disk, 1 SMTP connection").value == (
        "180 steps/s = 60% of exim's own rate at 2 connections"
    )
    # The worst worker counts: 350.5 MiB fails the 300 MiB target.
    assert [r.passed for r in rows if r.name.startswith("Worker peak memory")] == [True, False]
    assert by_name["Auto-enroll 1,000,000 leads against 5 sequences"].passed is True
    assert (
        named("Ceiling 1: the engine's statements replayed by pgbench, 2 clients").command
        == "pgbench --file x.sql"
    )
    assert (
        named("Ceiling 2: the storage's commit rate, pgbench one-row insert, 2 clients").value
        == "3,000 commits/s"
    )


def test_the_table_escapes_pipes_and_marks_failures():
    text = table([Figure("a | b", "1", "≥ 2", False), Figure("c", "3")])
    assert text.splitlines() == [
        "| figure | value | target | result |",
        "|---|---|---|---|",
        "| a \\| b | 1 | ≥ 2 | FAIL |",
        "| c | 3 |  | — |",
    ]


def test_the_report_names_the_machine_date_commands_and_smoke_runs():
    engine = "python -m bench.bench_engine --steps 20000"
    rows = [
        Figure("Engine, 2 workers", "1,200 steps/s", "≥ 1,000 steps/s", True, engine),
        Figure("Ceiling 2", "4,000 commits/s", command="pgbench --file commit.sql"),
    ]
    text = render(rows, {"CPU": "Test CPU", "cores": "2"}, datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
                  command_list(rows, [engine, "python -m bench.bench_pages"]), smoke=True)  # fmt: skip
    assert "- CPU: Test CPU" in text and "2025-01-02 03:04 UTC" in text and "1 of 1 targets met" in text
    # Each figure names its command by number; each command is listed once.
    assert "| Engine, 2 workers | 1,200 steps/s | ≥ 1,000 steps/s | pass | [1] |" in text
    assert "| Ceiling 2 | 4,000 commits/s |  | — | [2] |" in text
    assert "1. `python -m bench.bench_engine --steps 20000`" in text
    assert "2. `pgbench --file commit.sql`" in text and "3. `python -m bench.bench_pages`" in text
    assert "Smoke run at tiny sizes" in text


def test_pgbench_tps_is_read_without_connection_time():
    output = "latency average = 1.7 ms\ninitial connection time = 17.8 ms\ntps = 1174.858038 (without initial connection time)\n"
    assert parse_tps(output) == 1174.858038
