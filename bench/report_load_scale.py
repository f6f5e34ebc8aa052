"""The report's part for pages under load (``bench.bench_load``) and cost as work grows (``bench.bench_scale``):
running them, their rows with targets and verdicts, the SVG plots and the Markdown that explains them.

``bench.report`` calls ``run(...)`` once; everything here is kept apart from the rest of the report so each
part can change on its own. ``load_figures``, ``scale_figures`` and ``plots`` are pure (JSON in, rows or
SVG out) and tested under tests/unit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.stats import growth
from bench.svg_plot import line_chart

TARGET_PAGE_P95_MS = 150
TARGET_GROWTH = 1.5
TARGET_ENROLL_S = 60
TARGET_ENROLL_LEADS = 1_000_000


@dataclass
class LoadScaleSizes:
    load_leads: int
    users: int
    seconds: int
    churn_steps: int
    due_steps: int
    scale_sizes: str
    enroll_at: int
    enroll_leads: int
    scale_steps: int
    # How long the load's users pause between pages (bench_load --think); none in a smoke run, whose few
    # seconds would otherwise leave some pages unvisited.
    think: str = "1-5"


FULL = LoadScaleSizes(load_leads=100_000, users=20, seconds=60, churn_steps=50_000, due_steps=90_000,
                      scale_sizes="100000,1000000,10000000", enroll_at=5_000_000, enroll_leads=1_000_000,
                      scale_steps=20_000)  # fmt: skip
SMOKE = LoadScaleSizes(load_leads=2_000, users=5, seconds=4, churn_steps=200, due_steps=1_000,
                       scale_sizes="1000,10000", enroll_at=5_000, enroll_leads=2_000, scale_steps=200,
                       think="0")  # fmt: skip


def _figure(*args, **kwargs):
    from bench.report import Figure  # the report's row type; imported late, the report imports this module

    return Figure(*args, **kwargs)


def load_figures(result: dict, command: str) -> list:
    """One row per page (p50/p95/p99 and requests/s, target p95 < 150 ms), the failed requests (target 0)
    and the engine's rate meanwhile."""
    data, engine = result["data"], result["engine"]
    think = result.get("think_s") or [0, 0]
    pause = "no pause" if not think[1] else f"pausing {think[0]:g}–{think[1]:g} s between pages"
    about = f"{result['users']} users {pause}, {data['leads']:,} leads"
    rows = [
        _figure(f"Page under load: {page['page']} ({about})",
                f"p50 {page['p50_ms']:,.0f} · p95 {page['p95_ms']:,.0f} · p99 {page['p99_ms']:,.0f} ms · "
                f"{page['requests_per_s']:,.1f} req/s", f"p95 < {TARGET_PAGE_P95_MS} ms",
                page["p95_ms"] < TARGET_PAGE_P95_MS, command)
        for page in result["pages"]
    ]  # fmt: skip
    failures = sum(page["failures"] for page in result["pages"])
    requests = sum(page["requests"] for page in result["pages"])
    rows.append(_figure(f"Failed requests under load ({requests:,} succeeded in {result['seconds']:.0f} s)",
                        f"{failures:,}", "0", failures == 0, command))  # fmt: skip
    rows.append(_figure(
        "Engine during the page load (2 workers)",
        f"{engine['steps_per_s']:,.0f} steps/s ({engine['steps_sent']:,} sent"
        + (", ran out of due steps" if engine["ran_out"] else "") + ")", command=command))  # fmt: skip
    return rows


def scale_figures(result: dict, command: str) -> list:
    """Claim time and engine rate at each size against the smallest (within 1.5×), the pages' p95 at each
    size (< 150 ms), and auto-enrollment (< 60 s for 1,000,000 leads)."""
    runs = sorted(result["runs"], key=lambda r: r["waiting"])
    rows = []
    if not runs:
        return rows
    base = runs[0]
    for run in runs:
        first = run is base
        claim = growth(base["claim_ms"], run["claim_ms"], factor=TARGET_GROWTH)
        rows.append(_figure(
            f"Dispatcher claim of {run['claim_rows']} due rows, {run['waiting']:,} enrollments waiting",
            f"{run['claim_ms']:,.1f} ms" + ("" if first else f" ({claim.ratio:.2f}× the {base['waiting']:,} figure)"),
            "" if first else f"≤ {TARGET_GROWTH}× {base['claim_ms']:,.1f} ms", None if first else claim.passed,
            command))  # fmt: skip
    for run in runs:
        first = run is base
        rate = growth(base["steps_per_s"], run["steps_per_s"], factor=TARGET_GROWTH, higher_is_better=True)
        rows.append(_figure(
            f"Engine, 2 workers, {result['steps']:,} due steps, {run['waiting']:,} enrollments waiting",
            f"{run['steps_per_s']:,.0f} steps/s" + ("" if first else f" (÷{rate.ratio:.2f} of the {base['waiting']:,} figure)"),
            "" if first else f"≥ {base['steps_per_s'] / TARGET_GROWTH:,.0f} steps/s (÷{TARGET_GROWTH})",
            None if first else rate.passed, command))  # fmt: skip
    names = {"lead_timeline": "Lead timeline (100 activities)", "performance_90_days": "Sequence performance, "
             "last 90 days", "performance_all_time": "Sequence performance, all time"}  # fmt: skip
    for key, name in names.items():
        for run in runs:
            page = run["pages"][key]
            rows.append(_figure(f"{name}, {run['activities']:,} activities",
                                f"p50 {page['p50_ms']:,.0f} ms · p95 {page['p95_ms']:,.0f} ms",
                                f"p95 < {TARGET_PAGE_P95_MS} ms", page["p95_ms"] < TARGET_PAGE_P95_MS, command))  # fmt: skip
    enroll = result.get("auto_enroll")
    if enroll:
        judged = enroll["leads"] >= TARGET_ENROLL_LEADS
        rows.append(_figure(
            f"Auto-enroll {enroll['leads']:,} leads, {enroll['existing_enrollments']:,} enrollments existing",
            f"{enroll['seconds']:,.1f} s ({enroll['enrolled']:,} enrolled)", f"< {TARGET_ENROLL_S} s" if judged else "",
            enroll["seconds"] < TARGET_ENROLL_S if judged else None, command))  # fmt: skip
    return rows


def plots(result: dict) -> dict[str, str]:
    """The SVG charts of a scale run, by file name: claim time, engine rate and the pages' p95 against size."""
    runs = sorted(result["runs"], key=lambda r: r["waiting"])
    if not runs:
        return {}
    base = runs[0]
    pages = {"lead timeline": "lead_timeline", "performance, 90 days": "performance_90_days",
             "performance, all time": "performance_all_time"}  # fmt: skip
    return {
        "scale-claim.svg": line_chart(
            "Dispatcher claim time", "enrollments waiting", "ms per claim",
            {f"claim of {base['claim_rows']} due rows": [(r["waiting"], r["claim_ms"]) for r in runs]},
            target=base["claim_ms"] * TARGET_GROWTH, target_label=f"{TARGET_GROWTH}× the smallest size"),
        "scale-engine.svg": line_chart(
            "Engine throughput, 2 workers", "enrollments waiting", "steps/s",
            {"steps/s": [(r["waiting"], r["steps_per_s"]) for r in runs]},
            target=base["steps_per_s"] / TARGET_GROWTH, target_label=f"the smallest size ÷ {TARGET_GROWTH}"),
        "scale-pages.svg": line_chart(
            "Page time (p95) against activities", "activities", "ms",
            {name: [(r["activities"], r["pages"][key]["p95_ms"]) for r in runs] for name, key in pages.items()},
            target=TARGET_PAGE_P95_MS, target_label=f"{TARGET_PAGE_P95_MS} ms"),
    }  # fmt: skip


def markdown(plot_files: list[Path], report_dir: Path, load_result: dict | None = None) -> str:
    """The report's section for these figures: how they are measured, and the plots as images."""
    images = [f"![{p.stem}]({os.path.relpath(p, report_dir)})" for p in plot_files]
    load = ""
    if load_result:
        data = load_result["data"]
        churn = load_result["churn"]
        load = (f"Pages under load: {data['leads']:,} leads, {data['activities']:,} activities, "
                f"{data['enrollments']:,} enrollments; churn: {churn['steps']:,} steps sent and deleted "
                f"({churn.get('seconds', 0)} s), {churn['dead_rows_before_vacuum']:,} dead rows vacuumed in "
                f"{churn['vacuum_seconds']} s; server: `{load_result['server']}`.")  # fmt: skip
    return "\n".join([
        "## Pages under load, and cost as work grows",
        "",
        "- **Page under load** (`bench/bench_load.py`): the page benchmark's data (leads, enrollments, messages, "
        "1,000 drafts, replies, tasks), then churn: the engine sends the due steps of another tenant, which is "
        "deleted, and `VACUUM (ANALYZE)` runs over the database as autovacuum would leave it. The app then runs "
        "under gunicorn (2 workers × 4 threads, gthread, as `make run` starts it) while the engine (2 workers) "
        "sends due steps at full speed; each user signs in through `/login` with its CSRF token and opens the "
        "pages in turn over a keep-alive connection, pausing between two pages as a person reads one: a time "
        "drawn evenly between 1 and 5 s (locust's `between(1, 5)`), so twenty users ask for about six pages a "
        "second (`--think 0` for users who never pause). Times are measured in the client, from "
        "sending the request to reading the whole body, on the same machine.",
        "- **Cost as work grows** (`bench/bench_scale.py`): one tenant's waiting enrollments (due in more than a "
        "day, over 50 sequences), each with its lead and one activity, grown tenfold with `INSERT … SELECT "
        "generate_series` and vacuumed; at each size the claim of one batch of due rows (median of 20), the "
        "engine on its due steps, and the pages in-process (10 requests after 2 warm-ups). Auto-enrollment "
        "runs once, with the given number of enrollments existing. Each figure must stay within 1.5× of the "
        "smallest size's; the pages under 150 ms.",
        "",
        load,
        "",
        *images,
        "",
    ])  # fmt: skip


def write_plots(result: dict, plot_dir: Path) -> list[Path]:
    """``plots(result)`` written under ``plot_dir``; the files."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, svg in plots(result).items():
        (plot_dir / name).write_text(svg)
        written.append(plot_dir / name)
    return written


def drop_database(url: str) -> None:
    """Drop the PostgreSQL database named in ``url`` (nothing for another database)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        name = sql.Identifier(parsed.database)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def run(sizes: LoadScaleSizes, database_url: str, env: dict, out_dir: Path) -> tuple[list, list[str], dict]:
    """Run both benchmarks, each in a database made afresh beside ``database_url`` (the scale one, gigabytes
    at full size, dropped after); returns the rows, the commands and both results (``{"load", "scale"}``,
    for ``write_plots`` and ``markdown``)."""
    from bench.report import fresh_database, run_benchmark

    load_url = fresh_database(database_url, "_load")
    load_args = ["--leads", str(sizes.load_leads), "--users", str(sizes.users), "--seconds", str(sizes.seconds),
                 "--churn-steps", str(sizes.churn_steps), "--due-steps", str(sizes.due_steps), "--think", sizes.think]  # fmt: skip
    load, load_command = run_benchmark(
        "bench.bench_load", load_args, out_dir, {**env, "DATABASE_URL": load_url}
    )
    scale_url = fresh_database(database_url, "_scale")
    scale_args = ["--sizes", sizes.scale_sizes, "--enroll-at", str(sizes.enroll_at), "--enroll-leads",
                  str(sizes.enroll_leads), "--steps", str(sizes.scale_steps)]  # fmt: skip
    try:
        scale, scale_command = run_benchmark(
            "bench.bench_scale", scale_args, out_dir, {**env, "DATABASE_URL": scale_url}
        )
    finally:
        drop_database(scale_url)
    rows = load_figures(load, load_command) + scale_figures(scale, scale_command)
    return rows, [load_command, scale_command], {"load": load, "scale": scale}
