"""The chaos run: many due email steps, real workers, and everything that can break, breaking.

    .venv/bin/python bench/chaos.py [--enrollments 10000] [--spread 180] [--seed N] [--database-url URL]

``make chaos`` runs it with 10,000 enrollments. It starts a throwaway PostgreSQL cluster (or, with
``--database-url``, uses that database and simulates the restart by cutting every session), a redis-server
of its own, a logging SMTP server (``bench/chaos_smtp.py``), three ``worker.py`` processes and one
``worker.py cron``. The enrollments (two email steps each) fall due spread over ``--spread`` seconds, and
while they do:

- a random worker and its work horse are SIGKILLed every few seconds and started again;
- Redis is killed and started empty once, PostgreSQL is stopped and started once;
- the SMTP server refuses every message (451) for a while;
- some leads unsubscribe.

Then it waits for the work to finish and checks, from the database and the SMTP server's own log, the
promises listed in ``bench/chaos_checks.py``. It prints the faults and the invariants as tables and exits
non-zero when an invariant broke. The test suite runs a small version (tests/engine/test_chaos.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.chaos_services import (  # noqa: E402
    ChaosSmtp,
    OwnPostgres,
    OwnRedis,
    SharedDatabase,
    Supervisor,
)
from nurture_ui.extensions import db  # noqa: E402
from nurture_ui.models import (  # noqa: E402
    EmailTemplate,
    Enrollment,
    Lead,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Tenant,
)

log = logging.getLogger("chaos")

ALWAYS_OPEN = {"days": [0, 1, 2, 3, 4, 5, 6], "start_hour": 0, "end_hour": 24}


@dataclass
class ChaosSettings:
    enrollments: int = 10_000
    steps: int = 2
    spread_seconds: float = 180.0  # due times spread over this long; the faults happen meanwhile
    warmup_seconds: float = 4.0  # the workers start before the first step falls due
    workers: int = 3
    kill_every: tuple[float, float] = (3.0, 6.0)
    unsubscribe_fraction: float = 0.02
    smtp_refuse_seconds: float = 8.0
    outage_seconds: float = 2.0  # how long Redis and PostgreSQL stay down
    settle_bound_seconds: float = 120.0  # all work done within this long after the last fault
    seed: int | None = None
    engine: dict = field(
        default_factory=lambda: {
            "ENGINE_TICK_SECONDS": 1,
            "ENGINE_BATCH_SIZE": 100,
            "ENGINE_LEASE_SECONDS": 10,
            "ENGINE_TICK_LOCK_SECONDS": 5,  # a worker killed mid-tick stalls ticks no longer
            "AUTO_ENROLL_SECONDS": 3600,
            "MAIL_REQUEUE_AFTER_SECONDS": 5,
            "MAIL_RETRY_BASE_SECONDS": 2,
            "MAIL_MAX_ATTEMPTS": 12,
            "MAIL_SENDING_STUCK_SECONDS": 15,
        }
    )


@dataclass
class Fault:
    kind: str
    start: float
    end: float
    detail: str = ""


@dataclass
class Unsubscribe:
    lead_id: uuid.UUID
    email: str
    at: float
    # Message-IDs past the point of no return when the unsubscribe committed (already sending or sent).
    in_flight: set[str]


@dataclass
class ChaosRun:
    settings: ChaosSettings
    faults: list[Fault] = field(default_factory=list)
    unsubscribes: list[Unsubscribe] = field(default_factory=list)
    self_exits: list[tuple[str, int]] = field(default_factory=list)
    tenant_id: uuid.UUID | None = None
    started: float = 0.0
    last_fault: float = 0.0
    settled: float | None = None
    finished: float = 0.0
    smtp_log: Path | None = None
    directory: Path | None = None


# --- seeding ------------------------------------------------------------------------------------------


def seed(settings: ChaosSettings, first_due: datetime) -> uuid.UUID:
    """A tenant whose ``enrollments`` leads are each enrolled in a sequence of ``steps`` emails (no delays,
    no frequency cap, always in the send window), step 1 due spread over ``spread_seconds`` from ``first_due``."""
    now = datetime.now(UTC)
    tenant = Tenant(
        name="Chaos",
        slug=f"chaos-{uuid.uuid4().hex[:8]}",
        policy={"send_window": ALWAYS_OPEN, "frequency_cap_hours": 0},
    )
    db.session.add(tenant)
    db.session.flush()
    db.session.add(
        EmailTemplate(
            tenant_id=tenant.id,
            key="chaos",
            name="Chaos",
            subject="Step for {{ lead.first_name }}",
            body="Hello {{ lead.first_name }}.",
        )
    )
    sequence = Sequence(tenant_id=tenant.id, name="Chaos", status="active")
    sequence.steps = [
        SequenceStep(tenant_id=tenant.id, step_order=i, channel="email", template_id="chaos", delay_hours=0)
        for i in range(1, settings.steps + 1)
    ]
    db.session.add(sequence)
    db.session.flush()
    count = settings.enrollments
    step = timedelta(seconds=settings.spread_seconds / max(count, 1))
    for start in range(0, count, 5000):
        chunk = range(start, min(start + 5000, count))
        leads = [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant.id,
                "email": f"c{i}@{tenant.slug}.test",
                "first_name": f"C{i}",
                "last_name": "",
                "company": "",
                "title": "",
                "phone": "",
                "status": "new",
                "score": 0,
                "score_band": "warm",
                "segment": "",
                "do_not_contact": False,
                "undeliverable": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in chunk
        ]
        db.session.execute(sa.insert(Lead), leads)
        db.session.execute(
            sa.insert(Enrollment),
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant.id,
                    "lead_id": lead["id"],
                    "sequence_id": sequence.id,
                    "current_step_order": 1,
                    "status": "active",
                    "enrolled_on": now,
                    "next_step_on": first_due + step * i,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, lead in zip(chunk, leads, strict=True)
            ],
        )
    db.session.commit()
    return tenant.id


# --- faults -------------------------------------------------------------------------------------------


def unsubscribe_now(lead_id: uuid.UUID) -> Unsubscribe:
    """Unsubscribe through the core (what the link and the events API call) and, in the same transaction,
    note the messages already past the point of no return: only those may still reach the lead."""
    from nurture_ui import signals
    from nurture_ui.engine.transitions import lock_lead

    lead = lock_lead(lead_id)
    signals.unsubscribe(lead, source="chaos")
    table = OutboundMessage.__table__
    in_flight = set(
        db.session.scalars(
            sa.select(table.c.message_id).where(
                table.c.lead_id == lead_id, table.c.status.in_(("sending", "sent", "unknown"))
            )
        )
    )
    email = lead.email
    db.session.commit()
    return Unsubscribe(lead_id=lead_id, email=email, at=time.time(), in_flight=in_flight)


def plan_faults(settings: ChaosSettings, rng: random.Random, t0: float) -> list[tuple[float, str]]:
    """(instant, action) pairs over the spread window, in time order."""
    spread = settings.spread_seconds
    plan = [
        (t0 + 0.15 * spread, "smtp_refuse"),
        (t0 + 0.15 * spread + settings.smtp_refuse_seconds, "smtp_accept"),
        (t0 + 0.40 * spread, "restart_redis"),
        (t0 + 0.65 * spread, "restart_postgres"),
    ]
    at = t0 + rng.uniform(*settings.kill_every) / 2
    while at < t0 + spread:
        plan.append((at, "kill_worker"))
        at += rng.uniform(*settings.kill_every)
    # Unsubscribes in small groups, from before the first step to the end of the window.
    at = t0
    while at < t0 + spread:
        plan.append((at, "unsubscribe"))
        at += max(spread / 20, 0.5)
    return sorted(plan)


# --- the run ------------------------------------------------------------------------------------------


def run_chaos(settings: ChaosSettings, *, database_url: str | None = None, directory: Path | None = None):
    """Run the chaos scenario and return ``(run, checks)``; services are always stopped at the end."""
    from bench.chaos_checks import check_invariants

    rng = random.Random(settings.seed)
    directory = directory or Path(tempfile.mkdtemp(prefix="nurture-chaos-"))
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # PostgreSQL's own user must reach its data directory inside
    run = ChaosRun(settings=settings, directory=directory)
    postgres = SharedDatabase(database_url) if database_url else OwnPostgres(directory / "postgres")
    redis = OwnRedis(directory / "redis")
    smtp = ChaosSmtp(directory)
    supervisor = None
    app = None
    try:
        postgres.start()
        redis.start()
        smtp.start()
        run.smtp_log = smtp.log_path
        app = _chaos_app(postgres.url, redis.url, smtp.port, directory, settings)
        with app.app_context():
            if not database_url:
                from nurture_ui.cli import upgrade_database

                upgrade_database()
                logging.getLogger("alembic").setLevel(logging.WARNING)
            t0 = time.time() + settings.warmup_seconds
            run.tenant_id = seed(settings, datetime.fromtimestamp(t0, UTC))
            candidates = list(db.session.scalars(sa.select(Lead.id).where(Lead.tenant_id == run.tenant_id)))
            db.session.commit()
            to_unsubscribe = rng.sample(candidates, int(len(candidates) * settings.unsubscribe_fraction))
            env = _worker_env(app, settings, postgres.url, redis.url, smtp.port, directory)
            supervisor = Supervisor(env, directory, settings.workers)
            supervisor.start_all()
            run.started = time.time()
            _inject_faults(run, rng, t0, supervisor, postgres, redis, smtp, to_unsubscribe)
            run.last_fault = max(f.end for f in run.faults)
            run.settled = _wait_until_settled(run, supervisor, settings)
            run.finished = time.time()
            supervisor.stop_all()
            run.self_exits = list(supervisor.self_exits)
            smtp.stop()
            checks = check_invariants(run)
            return run, checks
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        smtp.stop()
        redis.stop()
        if app is not None and database_url:
            with app.app_context():
                db.engine.dispose()
        if not database_url:
            if app is not None:
                with app.app_context():
                    db.engine.dispose()
            postgres.stop()


def _chaos_app(database_url, redis_url, smtp_port, directory, settings):
    from nurture_ui import create_app
    from nurture_ui.config import load_config

    config = load_config(directory)
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": config["SQLALCHEMY_ENGINE_OPTIONS"]
            if url.startswith("sqlite")
            else {"pool_pre_ping": True},
            "REDIS_URL": redis_url,
            "RQ_QUEUE": f"chaos-{uuid.uuid4().hex[:8]}",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp_port,
            **settings.engine,
        }
    )


def _worker_env(app, settings, database_url, redis_url, smtp_port, directory) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RQ_QUEUE": app.config["RQ_QUEUE"],
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "NURTURE_INSTANCE_PATH": str(directory),
        **{k: str(v) for k, v in settings.engine.items()},
    }


def _inject_faults(run, rng, t0, supervisor, postgres, redis, smtp, to_unsubscribe) -> None:
    settings = run.settings
    plan = [
        (at, action)
        for at, action in plan_faults(settings, rng, t0)
        if postgres.can_restart or action != "restart_postgres"
    ]
    groups = sum(1 for _, action in plan if action == "unsubscribe")
    per_group = max(1, -(-len(to_unsubscribe) // max(groups, 1)))
    refusing_since = None
    for at, action in plan:
        while time.time() < at:
            supervisor.tend()
            time.sleep(min(0.1, max(0.0, at - time.time())))
        now = time.time()
        if action == "kill_worker":
            slot = rng.choice(supervisor.worker_slots())
            pid = supervisor.kill(slot)
            run.faults.append(Fault("SIGKILL worker + work horse", now, now, f"{slot} (pid {pid})"))
        elif action == "restart_redis":
            detail = redis.restart(settings.outage_seconds)
            run.faults.append(Fault("restart Redis", now, time.time(), detail))
        elif action == "restart_postgres":
            detail = postgres.restart(settings.outage_seconds)
            run.faults.append(Fault("restart PostgreSQL", now, time.time(), detail))
        elif action == "smtp_refuse":
            smtp.refuse()
            refusing_since = now
        elif action == "smtp_accept":
            smtp.accept()
            run.faults.append(
                Fault(
                    "SMTP refuses (451)", refusing_since, now, f"{now - refusing_since:.0f} s of 451 replies"
                )
            )
        elif action == "unsubscribe":
            for _ in range(per_group):
                if not to_unsubscribe:
                    break
                lead_id = to_unsubscribe.pop()
                try:
                    run.unsubscribes.append(unsubscribe_now(lead_id))
                except sa.exc.OperationalError:
                    db.session.rollback()  # the database is down: try this lead again later
                    to_unsubscribe.insert(0, lead_id)
    # Whatever could not be unsubscribed during an outage is done now, still before the work has settled.
    while to_unsubscribe:
        lead_id = to_unsubscribe.pop()
        try:
            run.unsubscribes.append(unsubscribe_now(lead_id))
        except sa.exc.OperationalError:
            db.session.rollback()
            to_unsubscribe.append(lead_id)
            time.sleep(0.5)


def _wait_until_settled(run, supervisor, settings) -> float | None:
    """Wait until every enrollment ended and no message waits to be sent; the instant, or None on timeout.

    Waits up to three times the bound, so a run that misses it still says by how much."""
    open_enrollments = sa.select(sa.func.count()).where(
        Enrollment.tenant_id == run.tenant_id, Enrollment.status.in_(("active", "paused"))
    )
    open_messages = sa.select(sa.func.count()).where(
        OutboundMessage.tenant_id == run.tenant_id,
        OutboundMessage.status.in_(("pending_approval", "approved", "queued", "sending")),
    )
    deadline = run.last_fault + 3 * settings.settle_bound_seconds
    while time.time() < deadline:
        supervisor.tend()
        try:
            remaining = db.session.scalar(open_enrollments) + db.session.scalar(open_messages)
            db.session.commit()
        except sa.exc.OperationalError:
            db.session.rollback()
            remaining = None
        if remaining == 0:
            return time.time()
        time.sleep(0.25)
    return None


# --- the report ---------------------------------------------------------------------------------------


def format_report(run: ChaosRun, checks) -> str:
    settings = run.settings
    lines = [
        f"Chaos run: {settings.enrollments:,} enrollments × {settings.steps} email steps, "
        f"{settings.workers} workers + cron, due over {settings.spread_seconds:.0f} s",
        "",
        "Faults injected",
        "| fault | count | detail |",
        "|---|---|---|",
    ]
    by_kind: dict[str, list[Fault]] = {}
    for fault in run.faults:
        by_kind.setdefault(fault.kind, []).append(fault)
    for kind, faults in by_kind.items():
        if len(faults) == 1:
            detail = f"at +{faults[0].start - run.started:.0f} s: {faults[0].detail}"
        else:
            detail = f"from +{faults[0].start - run.started:.0f} s to +{faults[-1].start - run.started:.0f} s"
        lines.append(f"| {kind} | {len(faults)} | {detail} |")
    lines.append(f"| leads unsubscribed mid-run | {len(run.unsubscribes)} | through signals.unsubscribe |")
    exits = ", ".join(f"{slot} ({code})" for slot, code in run.self_exits) or "none"
    lines.append(f"| processes that exited by themselves (restarted) | {len(run.self_exits)} | {exits} |")
    lines += ["", "Invariants", "| invariant | held | figures |", "|---|---|---|"]
    for check in checks:
        lines.append(f"| {check.name} | {'yes' if check.held else 'NO'} | {check.detail} |")
    settle = f"{run.settled - run.last_fault:.1f} s" if run.settled else "not"
    lines += [
        "",
        f"Work settled {settle} after the last fault (bound {settings.settle_bound_seconds:.0f} s); "
        f"whole run {run.finished - run.started:.0f} s. Logs: {run.directory}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--enrollments", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=180.0, help="seconds over which steps fall due")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="use this database (restart is simulated)")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    seed_value = args.seed if args.seed is not None else random.randrange(1_000_000)
    settings = ChaosSettings(enrollments=args.enrollments, spread_seconds=args.spread, seed=seed_value)
    print(f"chaos: seed {seed_value}; starting PostgreSQL, Redis, SMTP and the workers…", flush=True)
    run, checks = run_chaos(settings, database_url=args.database_url)
    print(format_report(run, checks))
    summary = {c.name: c.held for c in checks}
    (run.directory / "report.json").write_text(json.dumps(summary, indent=2))
    return 0 if all(c.held for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
