"""Run every benchmark and write BENCHMARKS.md: the machine, the date, each figure's command, its target.

    .venv/bin/python -m bench.report                       the full run (make bench), writes BENCHMARKS.md
    .venv/bin/python -m bench.report --smoke               tiny sizes, to a temp file (make bench-smoke)
    .venv/bin/python -m bench.report --memory-steps 1000000   also the worker's memory at 1,000,000 due steps

Uses DATABASE_URL when set, else the database ``nurture_bench`` on postgresql://postgres@127.0.0.1:5432
(created when missing), and for the pages under load and the cost as work grows two databases beside it,
named with ``_load`` and ``_scale``, dropped and made afresh each run (``_scale`` dropped after it too);
REDIS_URL when set, else redis://127.0.0.1:6379/14. Each benchmark runs as its own process
(``bench.bench_engine``, ``bench.bench_enroll``, ``bench.bench_load``, ``bench.bench_scale``,
``bench.bench_classifier``: the reply classifier on the two held-out sets under tests/data/, no database)
and hands its figures back as JSON; a benchmark that fails fails the report. A full run exits with 1 when a
figure misses its target (each one printed); a smoke run exits with 0 unless something failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import ROOT

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/nurture_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"

TARGET_STEPS_PER_S = 1000
TARGET_OVER_NAIVE = 10
TARGET_ENROLL_1M_S = 60
TARGET_WORKER_MIB = 300
TARGET_SHARE_OF_MTA = 0.8
# Two held-out sets, each written apart from the rules (and from each other); the second was written after
# the first had been scored, to check that what the first one taught generalises.
CLASSIFIER_HELD_OUT = (
    ROOT / "tests" / "data" / "replies_heldout.jsonl",
    ROOT / "tests" / "data" / "replies_heldout2.jsonl",
)
CLASSIFIER_DEV = ROOT / "tests" / "data" / "replies_dev.jsonl"


@dataclass
class Sizes:
    steps: int
    naive_steps: int
    workers: str
    enroll_leads: list[int]
    page_leads: int
    page_requests: int
    memory_steps: int


FULL = Sizes(steps=10_000, naive_steps=10_000, workers="1,2,4", enroll_leads=[100_000, 1_000_000],
             page_leads=100_000, page_requests=20, memory_steps=0)  # fmt: skip
SMOKE = Sizes(steps=200, naive_steps=20, workers="1,2,4", enroll_leads=[2_000], page_leads=2_000,
              page_requests=3, memory_steps=0)  # fmt: skip


@dataclass
class Figure:
    """One row of the table: what was measured, its value, the target and whether it was met."""

    name: str
    value: str
    target: str = ""
    passed: bool | None = None
    command: str = ""

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: "—"}[self.passed]


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` when it does not exist yet."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(parsed.database)))


def fresh_database(url: str, suffix: str) -> str:
    """A new, empty PostgreSQL database beside ``url``'s, named with ``suffix`` (dropped first when it exists),
    and its URL. The page benchmark runs there: page times depend on the tables' size on disk, and the
    throughput benchmarks leave gigabytes of deleted rows behind in their database (on 2026-11-29 the same
    code measured the performance page at p95 204 ms there and 67 ms in a fresh database)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return url
    fresh = parsed.set(database=f"{parsed.database}{suffix}")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        name = sql.Identifier(fresh.database)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return fresh.render_as_string(hide_password=False)


def machine(database_url: str) -> dict[str, str]:
    """CPU model, cores, memory, PostgreSQL and Python versions of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    postgres = "not PostgreSQL"
    if database_url.startswith("postgresql"):
        import psycopg
        from sqlalchemy.engine import make_url

        plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain) as connection:
            postgres = connection.execute("SHOW server_version").fetchone()[0]
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": memory,
        "PostgreSQL": postgres,
        "Python": platform.python_version(),
        "OS": platform.platform(),
    }


def run_benchmark(
    module: str, arguments: list[str], out_dir: Path, env: dict[str, str]
) -> tuple[object, str]:
    """Run ``python -m module arguments --json FILE``; returns its figures and the command (without --json)."""
    result = out_dir / f"{module.rsplit('.', 1)[-1]}.json"
    command = [sys.executable, "-m", module, *arguments]
    shown = shlex.join([".venv/bin/python", "-m", module, *arguments])
    print(f"== {shown}", flush=True)
    subprocess.run([*command, "--json", str(result)], cwd=ROOT, env=env, check=True)
    return json.loads(result.read_text()), shown


def figures(engine: dict, engine_command: str, enroll: list, enroll_command: str) -> list[Figure]:
    """Every figure with its target and verdict, in the order of the table."""
    rows: list[Figure] = []
    for run in engine["engine"]:
        two = run["workers"] == 2
        rows.append(Figure(
            f"Engine, {run['workers']} worker{'s' if run['workers'] > 1 else ''} ({run['steps']:,} due email steps, "
            f"{run['worker_mode']})", f"{run['steps_per_s']:,.0f} steps/s",
            f"≥ {TARGET_STEPS_PER_S:,} steps/s" if two else "",
            run["steps_per_s"] >= TARGET_STEPS_PER_S if two else None, engine_command))  # fmt: skip
    for run in engine["engine"]:
        rows.append(worker_memory_figure(run, engine_command))
    rows += engine_comparison_figures(engine, engine_command)
    if engine.get("memory"):
        rows.append(worker_memory_figure(engine["memory"], engine_command))
    for run in enroll:
        million = run["leads"] >= 1_000_000
        rows.append(Figure(
            f"Auto-enroll {run['leads']:,} leads against {run['sequences']} sequences",
            f"{run['seconds']:,.1f} s ({run['enrolled']:,} enrolled)",
            f"< {TARGET_ENROLL_1M_S} s" if million else "",
            run["seconds"] < TARGET_ENROLL_1M_S if million else None, enroll_command))  # fmt: skip
    return rows


def engine_comparison_figures(engine: dict, command: str) -> list[Figure]:
    """The engine beside the naive design (both worker models), its two ceilings, the MTA, and what bounds it."""
    rows: list[Figure] = []
    two = next((r for r in engine["engine"] if r["workers"] == 2), None)
    naive = {run["worker_model"]: run for run in engine.get("naive", [])}
    for model, run in naive.items():
        kind = "forking Worker, a work horse per job" if model == "fork" else "SimpleWorker, no fork"
        rows.append(Figure(f"Naive design, 2 workers, {kind} ({run['steps']:,} enqueue_at jobs)",
                           f"{run['steps_per_s']:,.1f} steps/s", command=command))  # fmt: skip
    if engine.get("engine_over_naive") is not None:
        ratio = engine["engine_over_naive"]
        rows.append(Figure("Engine (2 workers) ÷ the best naive variant", f"{ratio:,.1f}×", f"≥ {TARGET_OVER_NAIVE}×",
                           ratio >= TARGET_OVER_NAIVE, command))  # fmt: skip
    if "fork" in naive and "simple" in naive:
        model = naive["simple"]["steps_per_s"] / naive["fork"]["steps_per_s"]
        rows.append(Figure("What the worker model buys: naive SimpleWorker ÷ naive forking", f"{model:,.1f}×",
                           command=command))  # fmt: skip
        if two:
            batching = two["steps_per_s"] / naive["simple"]["steps_per_s"]
            rows.append(Figure("What batching buys: engine ÷ naive SimpleWorker (both without a fork per job)",
                               f"{batching:,.1f}×", command=command))  # fmt: skip
    captured = engine.get("captured")
    if captured:
        kinds = " · ".join(f"{k} {v}" for k, v in sorted(captured["statements"].items()))
        rows.append(Figure(f"Captured engine batch: statements per batch of {captured['batch']} steps", kinds,
                           command=command))  # fmt: skip
    for run in engine.get("replay", []):
        rows.append(Figure(f"Ceiling 1: the engine's statements replayed by pgbench, {run['clients']} client"
                           f"{'s' if run['clients'] > 1 else ''} ({run['steps']:,} steps in batches of {run['batch']})",
                           f"{run['steps_per_s']:,.0f} steps/s", command=run["command"]))  # fmt: skip
    if engine.get("engine_share_of_replay") is not None:
        rows.append(Figure("Engine (2 workers) ÷ ceiling 1 at 2 clients", f"{engine['engine_share_of_replay']:.0%}",
                           command=command))  # fmt: skip
    for run in engine.get("commit_rate", []):
        rows.append(Figure(f"Ceiling 2: the storage's commit rate, pgbench {run['what']}, {run['clients']} client"
                           f"{'s' if run['clients'] > 1 else ''}", f"{run['commits_per_s']:,.0f} commits/s",
                           command=run["command"]))  # fmt: skip
    if engine.get("engine_commits_per_s") is not None and engine.get("commit_rate"):
        best = max(r["commits_per_s"] for r in engine["commit_rate"])
        rows.append(Figure("Engine (2 workers) commits/s ÷ ceiling 2 (best)",
                           f"{engine['engine_commits_per_s']:,.0f} commits/s = {engine['engine_commits_per_s'] / best:.0%}",
                           command=command))  # fmt: skip
    if two and two.get("cpu_seconds"):
        busy = " · ".join(
            f"{role} {seconds / two['seconds']:.2f}" for role, seconds in sorted(two["cpu_seconds"].items())
        )
        wal = two.get("wal") or {}
        steps = two["steps"]
        if two.get("machine_cores_busy") is not None:
            busy += f" · the whole machine {two['machine_cores_busy']:.2f} of {os.cpu_count()}"
        rows.append(Figure("Engine (2 workers): cores busy by role during the run", busy, command=command))
        if wal:
            rows.append(Figure("Engine (2 workers): WAL per step (pg_stat_wal, whole cluster)",
                               f"{wal['wal_records'] / steps:,.1f} records · {wal['wal_bytes'] / steps / 1024:,.1f} KiB · "
                               f"{wal['wal_sync'] / steps:,.3f} syncs · {wal['wal_write'] / steps:,.3f} writes",
                               command=command))  # fmt: skip
    if engine.get("bound_by"):
        rows.append(Figure("What bounds the engine (2 workers)", engine["bound_by"], command=command))
    mta = engine.get("mta")
    if mta:
        for run in mta.get("runs", [mta["engine"]]):
            lanes = run.get("smtp_connections", 1)
            share = f" = {run['share_of_mta']:.0%} of exim's own rate at {run['mta_connections']} connections" \
                if run.get("share_of_mta") is not None else ""  # fmt: skip
            rows.append(Figure(f"Engine, 2 workers, through exim spooling to disk, {lanes} SMTP connection"
                               f"{'s' if lanes > 1 else ''} a send job ({run['steps']:,} steps, "
                               f"{run['message_bytes'] or 0:,} bytes a message)",
                               f"{run['steps_per_s']:,.0f} steps/s{share}", command=command))  # fmt: skip
        for own in mta["own"]:
            rows.append(Figure(f"exim's own accept rate, smtplib load generator, {own['connections']} connection"
                               f"{'s' if own['connections'] > 1 else ''} ({own['messages']:,} messages of {own['size']:,} bytes)",
                               f"{own['messages_per_s']:,.0f} messages/s", command=command))  # fmt: skip
        share = engine.get("engine_share_of_mta")
        if share is not None:
            rows.append(Figure("Engine (2 workers, its better run) through exim ÷ exim's own rate at as many "
                               "connections (2 workers × the run's connections)", f"{share:.0%}",
                               f"≥ {TARGET_SHARE_OF_MTA:.0%}", share >= TARGET_SHARE_OF_MTA, command))  # fmt: skip
        best = engine.get("engine_share_of_best_mta")
        if best is not None:
            rows.append(Figure("Engine (2 workers, its faster run) through exim ÷ exim's best own rate at any "
                               "number of connections", f"{best:.0%}", command=command))  # fmt: skip
    return rows


def missed_targets(rows: list[Figure]) -> list[Figure]:
    """The figures whose target was missed."""
    return [row for row in rows if row.passed is False]


def exit_code(rows: list[Figure], *, smoke: bool) -> int:
    """1 when a target was missed in a full run; a smoke run (tiny sizes) fails only on errors, so 0."""
    return 1 if missed_targets(rows) and not smoke else 0


def classifier_figures(result: dict, command: str) -> list[Figure]:
    """The reply classifier's rows: the two targets (no opt-out missed, auto positives precise) and the rest."""
    from bench.bench_classifier import TARGET_OPT_OUT_STOPPED_RECALL, TARGET_POSITIVE_PRECISION

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    data = f"{result['replies']} replies of {Path(result['data']).name}"
    stopped, positive = result["opt_out_stopped_recall"], result["positive_precision_auto"]
    per_class = " · ".join(
        f"{s} P {pct(result['precision'][s])} R {pct(result['recall'][s])}" for s in result["precision"]
    )
    return [
        Figure(f"Classifier: opt-out stopped recall, unsubscribe or sent to a person ({data})", pct(stopped),
               f"= {TARGET_OPT_OUT_STOPPED_RECALL:.0%}", stopped is not None and stopped >= TARGET_OPT_OUT_STOPPED_RECALL,
               command),
        Figure(f"Classifier: positive precision, auto-classified ({result['auto_positives']} of {data})", pct(positive),
               f"≥ {TARGET_POSITIVE_PRECISION:.0%}", positive is not None and positive >= TARGET_POSITIVE_PRECISION,
               command),
        Figure(f"Classifier: strict opt-out recall, classified unsubscribe ({data})",
               pct(result["opt_out_strict_recall"]), command=command),
        Figure(f"Classifier: replies sent to a person ({data})", f"{result['to_person']:,}", command=command),
        Figure(f"Classifier: per-class precision and recall ({data})", per_class, command=command),
    ]  # fmt: skip


def worker_memory_figure(run: dict, command: str) -> Figure:
    peak = max(run["peak_rss_mib"])
    return Figure(
        f"Worker peak memory, {run['workers']} worker{'s' if run['workers'] > 1 else ''}, {run['steps']:,} due steps "
        "(the sum of the RSS of a worker and its job process, the highest sum sampled)", f"{peak:,.0f} MiB",
        f"< {TARGET_WORKER_MIB} MiB", peak < TARGET_WORKER_MIB, command)  # fmt: skip


def command_list(rows: list[Figure], extra: list[str] = ()) -> list[str]:
    """Every command behind the figures, each once, in the order of the table (then ``extra``)."""
    return list(dict.fromkeys([*(r.command for r in rows if r.command), *extra]))


def table(rows: list[Figure], commands: list[str] | None = None) -> str:
    """A Markdown table of the figures (pipes in a cell escaped); with ``commands``, a column naming each
    figure's command by its number in that list."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    if commands is None:
        lines = ["| figure | value | target | result |", "|---|---|---|---|"]
        lines += [f"| {cell(r.name)} | {cell(r.value)} | {cell(r.target)} | {r.verdict} |" for r in rows]
        return "\n".join(lines)
    number = {c: i for i, c in enumerate(commands, 1)}
    lines = ["| figure | value | target | result | command |", "|---|---|---|---|---|"]
    lines += [f"| {cell(r.name)} | {cell(r.value)} | {cell(r.target)} | {r.verdict} | "
              f"{f'[{number[r.command]}]' if r.command in number else ''} |" for r in rows]  # fmt: skip
    return "\n".join(lines)


def render(
    rows: list[Figure], about: dict[str, str], when: datetime, commands: list[str], smoke: bool
) -> str:
    """The whole BENCHMARKS.md."""
    passed = sum(r.passed is True for r in rows)
    judged = sum(r.passed is not None for r in rows)
    parts = [
        "# Benchmarks",
        "",
        ("**Smoke run at tiny sizes: these figures say only that the benchmarks work.**\n" if smoke else "")
        + f"Run on {when:%Y-%m-%d %H:%M} UTC with `make bench`; {passed} of {judged} targets met.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in about.items()],
        "",
        "## Figures",
        "",
        table(rows, commands),
        "",
        "## Commands",
        "",
        "Each figure above comes from the command its last column names (run from the repository root, with "
        "`DATABASE_URL` and `REDIS_URL` as in the machine section; pgbench's `<…>` values are made by the run):",
        "",
        *[f"{i}. `{c}`" for i, c in enumerate(commands, 1)],
        "",
        "## How each figure is measured",
        "",
        "- **Engine**: N leads enrolled in a one-email-step sequence, all due; `worker.py` processes on a private "
        "queue and a local SMTP server (`bench/smtp_sink.py`). Timed from the first dispatcher tick until the SMTP "
        "server has accepted N messages and all N are `sent` in the database.",
        "- **Worker peak memory**: every 50 ms the RSS of each worker's process tree (the worker and the long-lived "
        "job process it forks and replaces every `WORKER_MAX_JOBS` jobs; with `--fork`, RQ's work horses) is summed "
        "from `/proc`; the figure is the highest sum (pages shared after the fork count twice: an upper bound).",
        "- **Naive design**: one `Queue.enqueue_at` job per enrollment-step run by 2 RQ workers with the RQ "
        "scheduler; each job loads the rows through the ORM, renders, writes the message and activities, sends "
        "over a new SMTP connection and commits (`bench/naive.py`). Run twice: with RQ's forking `Worker` (a work "
        "horse per job) and with `SimpleWorker` (jobs in the worker's process, as the engine runs them), so "
        "naive SimpleWorker ÷ naive forking is what the worker model buys and engine ÷ naive SimpleWorker is "
        "what batching buys.",
        "- **Ceiling 1**: one batch of the engine's own statements, captured from a run of the claim, the executor "
        "job and the send job with SQLAlchemy's statement events (`bench/statement_capture.py`), replayed by "
        "`pgbench` with the same statements and commits per batch, each batch on rows of its own (ids computed "
        "from the batch number; the executor's COPY of new rows becomes one multi-row INSERT, as pgbench cannot "
        "send COPY data; simple protocol). The engine cannot beat it on the same database.",
        "- **Ceiling 2**: `pgbench` committing a one-row insert per transaction (an empty `BEGIN; COMMIT;` writes "
        "no WAL and waits for no flush): the storage's commit rate, compared with the engine's commits/s "
        "(commits per captured batch × batches/s).",
        "- **What bounds the engine**: CPU seconds from `/proc/<pid>/stat` of the workers, their job processes, "
        "the database's backends and the SMTP server during the 2-worker run, divided by its wall time (cores "
        "busy), and the whole machine's from `/proc/stat`; `pg_stat_wal` before and after. The machine's CPU when "
        "≥ 85% of its cores are busy (shared, when other programs took most of it), a worker's "
        "CPU when each worker's processes use ≥ 90% of a core, WAL flushes when the engine commits at ≥ 80% of "
        "ceiling 2 (`bench/resources.py`).",
        "- **MTA**: Debian's exim4 on localhost with `queue_only` (each message written to its spool, synced, "
        "and kept; nothing delivered onward, `bench/mta.py`). The 2-worker engine sends through it with one SMTP "
        "connection a send job and with four (then 80 emails claimed per commit, 20 a connection); then a plain "
        "`smtplib` load generator, one process a connection, sends messages of the engine's mean size over 1, "
        "2, 4 and 8 parallel connections. The target compares each run with exim's rate at the connections "
        "that run had open (2 workers × its connections): the MTA's own rate at the concurrency it was given; "
        "the share of exim's best rate at any concurrency is shown beside it.",
        "- **Auto-enroll**: one `auto_enroll` run over a tenant's leads and five active sequences.",
        "- **Classifier**: `classify()` on every labelled reply of the held-out set (written apart from the rules). "
        "An opt-out counts as stopped when classified `unsubscribe` or sent to a person (`needs_person`: the "
        "lead's sequences wait for the decision); positive precision counts only positives classified without a "
        "person; per-class figures count the best-guess sentiment of every reply.",
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes; writes to a temp file unless --output"
    )
    parser.add_argument("--output", type=Path, help="where to write the report (default BENCHMARKS.md)")
    parser.add_argument("--steps", type=int, help="due steps per engine run")
    parser.add_argument("--naive-steps", type=int, help="steps for the naive baseline (default: --steps)")
    parser.add_argument("--enroll-leads", help="comma-separated sizes for auto-enrollment")
    parser.add_argument("--page-leads", type=int, help="leads for the page benchmark under load")
    parser.add_argument(
        "--memory-steps", type=int, help="also run the 2-worker engine at this many due steps"
    )
    parser.add_argument("--fork", action="store_true", help="engine workers fork a work horse per job")
    parser.add_argument("--scale-sizes", help="waiting enrollments for bench_scale, comma-separated")
    parser.add_argument("--load-seconds", type=int, help="seconds of the page load (default 60)")
    args = parser.parse_args(argv)

    sizes = SMOKE if args.smoke else FULL
    steps = args.steps or sizes.steps
    naive_steps = args.naive_steps or (sizes.naive_steps if args.steps is None else steps)
    enroll_leads = [int(n) for n in args.enroll_leads.split(",")] if args.enroll_leads else sizes.enroll_leads
    page_leads = args.page_leads or sizes.page_leads
    memory_steps = sizes.memory_steps if args.memory_steps is None else args.memory_steps
    output = args.output or (Path(tempfile.mkdtemp(prefix="nurture-bench-")) / "BENCHMARKS.md" if args.smoke
                             else ROOT / "BENCHMARKS.md")  # fmt: skip

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    ensure_database(database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    out_dir = Path(tempfile.mkdtemp(prefix="nurture-bench-json-"))
    when = datetime.now(UTC)

    # The classifier first: cheap, no database. Scored on the held-out replies; the development set stands in
    # only where the held-out file is missing (the figure names the file).
    labelled = [path for path in CLASSIFIER_HELD_OUT if path.exists()] or [CLASSIFIER_DEV]
    classifier_runs = [
        run_benchmark("bench.bench_classifier", ["--data", str(path.relative_to(ROOT))], out_dir, env)
        for path in labelled
    ]

    engine_args = ["--steps", str(steps), "--naive-steps", str(naive_steps), "--workers", sizes.workers]
    engine_args += ["--memory-steps", str(memory_steps)] if memory_steps else []
    engine_args += ["--fork"] if args.fork else []
    engine_args += ["--commit-transactions", "100"] if args.smoke else []
    engine, engine_command = run_benchmark("bench.bench_engine", engine_args, out_dir, env)
    enroll_args = [a for n in enroll_leads for a in ("--leads", str(n))]
    enroll, enroll_command = run_benchmark("bench.bench_enroll", enroll_args, out_dir, env)
    # Pages under load and cost as work grows, in place of bench_pages' one-request-at-a-time page times:
    # bench/report_load_scale.py runs bench_load and bench_scale and makes their rows and plots.
    from bench import report_load_scale

    load_scale_sizes = report_load_scale.SMOKE if args.smoke else report_load_scale.FULL
    if args.page_leads:
        load_scale_sizes = replace(load_scale_sizes, load_leads=page_leads)
    if args.scale_sizes:
        load_scale_sizes = replace(load_scale_sizes, scale_sizes=args.scale_sizes)
    if args.load_seconds:
        load_scale_sizes = replace(load_scale_sizes, seconds=args.load_seconds)
    load_scale_rows, load_scale_commands, load_scale = report_load_scale.run(
        load_scale_sizes, database_url, env, out_dir
    )

    rows = figures(engine, engine_command, enroll, enroll_command)
    rows += load_scale_rows
    for classifier, classifier_command in classifier_runs:
        rows += classifier_figures(classifier, classifier_command)
    about = {**machine(database_url), "database": _without_password(database_url),
             "databases of the load and scale benchmarks (made afresh)": "the same name + _load, _scale",
             "Redis": redis_url}  # fmt: skip
    plot_files = report_load_scale.write_plots(
        load_scale["scale"], output.parent / "plots" if args.smoke else ROOT / "bench" / "plots"
    )
    output.write_text(
        render(
            rows,
            about,
            when,
            command_list(
                rows, [engine_command, enroll_command, *load_scale_commands, *(c for _, c in classifier_runs)]
            ),
            args.smoke,
        )
        + report_load_scale.markdown(plot_files, output.parent, load_scale["load"])
    )
    print(table(rows))
    print(f"\nWrote {output}")
    for row in missed_targets(rows):
        print(f"MISSED: {row.name}: {row.value} (target {row.target})", file=sys.stderr)
    return exit_code(rows, smoke=args.smoke)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
