"""Cost as work grows: the dispatcher's claim, the engine, auto-enrollment and two pages against the size of
the tables they search, at sizes growing tenfold.

    DATABASE_URL=postgresql://…/nurture_bench_scale REDIS_URL=redis://… .venv/bin/python -m bench.bench_scale \\
        [--sizes 100000,1000000,10000000] [--enroll-at 5000000] [--enroll-leads 1000000] [--steps 20000] \\
        [--json out.json]

Run it on a database of its own: it leaves millions of rows behind (``bench.report`` makes one afresh and
drops it after). At each size, in increasing order, reusing the rows already made:

1. **Grow** a "waiting" tenant to that many leads, each with one active enrollment due in the future (more
   than a day ahead; spread over 50 one-email sequences, enrolled over the past year) and one activity
   (enrolled / step scheduled / step executed / message sent, in turn), written set-based
   (``INSERT … SELECT generate_series``, in chunks of a million, foreign-key triggers off: the rows are
   consistent by construction), then ``VACUUM ANALYZE`` as autovacuum would.
2. **Claim**: ``--steps`` enrollments of another tenant due now; the dispatcher's claim
   (``claim_due``, ``ENGINE_BATCH_SIZE`` rows) timed 20 times; the median.
3. **Engine**: ``bench.bench_engine.run_engine`` with 2 workers on ``--steps`` due steps: steps/s.
4. **Pages** (in-process test client, signed in as a manager, 2 warm-ups then 10 requests): the timeline of
   a lead with 100 activities, and the performance page of one of the 50 sequences, last 90 days and all time.
5. At ``--enroll-at`` waiting enrollments: **auto-enrollment** of a new tenant's ``--enroll-leads`` leads
   (also made set-based) against five active sequences, as ``bench.bench_enroll`` times it. Their first
   step waits a year, so the enrollments made are waiting ones, not due ones the next engine run would take.

The claim and the engine must stay within 1.5× of their figure at the smallest size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.bench_engine import BenchFailed, _ensure_redis, run_engine
from bench.due_steps import drop_tenant, seed_due_steps
from bench.generate import STATUSES, make_sequences, make_tenant_with_team, vacuum_analyze
from bench.stats import percentile
from nurture_ui import create_app
from nurture_ui.engine.dispatcher import claim_due
from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate, Sequence, SequenceStep, User

SEQUENCES = 50
CHUNK = 1_000_000
BUSY_LEAD_ACTIVITIES = 100
CLAIMS = 20
PAGE_REQUESTS = 10
# Ids a SQL expression can compute from a row number: prefix + the number in 12 hex digits.
LEAD_PREFIX, ENROLLMENT_PREFIX, ACTIVITY_PREFIX = "5ca1e000-0000-4000-8000-", "5ca1e001-0000-4000-8000-", "5ca1e002-0000-4000-8000-"  # fmt: skip
ENROLL_LEAD_PREFIX = "5ca1e003-0000-4000-8000-"


def _id(prefix: str, column: str = "i") -> str:
    return f"('{prefix}' || lpad(to_hex({column}), 12, '0'))::uuid"


def make_waiting_tenant() -> dict:
    """The tenant whose enrollments wait: a template and ``SEQUENCES`` active one-email sequences."""
    tenant, users = make_tenant_with_team("scale", reps=2)
    db.session.add(EmailTemplate(tenant_id=tenant.id, key="intro", name="Intro", subject="Hi",
                                 body="Hello {{ lead.first_name }}"))  # fmt: skip
    sequences = []
    for n in range(SEQUENCES):
        sequence = Sequence(
            tenant_id=tenant.id, name=f"Scale {n + 1}", status="active", created_by=users[-1].id
        )
        sequence.steps = [
            SequenceStep(tenant_id=tenant.id, step_order=1, channel="email", template_id="intro")
        ]
        sequences.append(sequence)
    db.session.add_all(sequences)
    manager = User(tenant_id=tenant.id, email=f"manager.{tenant.slug}@bench.test", name="Manager", role="manager",
                   password_hash="x")  # fmt: skip
    db.session.add(manager)
    db.session.commit()
    return {
        "tenant_id": tenant.id,
        "sequence_ids": [s.id for s in sequences],
        "manager_id": manager.id,
        "rows": 0,
    }


def grow(waiting: dict, size: int) -> float:
    """Add leads ``rows + 1 … size`` to the waiting tenant, each with its enrollment and activity (the first
    lead with ``BUSY_LEAD_ACTIVITIES`` more); vacuums; returns the seconds taken."""
    started = time.perf_counter()
    params = {"t": waiting["tenant_id"], "seqs": waiting["sequence_ids"], "n": len(waiting["sequence_ids"])}
    for low in range(waiting["rows"] + 1, size + 1, CHUNK):
        bounds = {**params, "low": low, "high": min(size, low + CHUNK - 1)}
        # The rows are consistent by construction: no foreign-key check per row.
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        db.session.execute(sa.text(f"""
            INSERT INTO leads (id, tenant_id, email, first_name, last_name, company, title, phone, status, score,
                               score_band, segment, do_not_contact, undeliverable, created_at, updated_at)
            SELECT {_id(LEAD_PREFIX)}, :t, 'w' || i || '@scale.test', 'Lead' || (i % 997), 'Scale',
                   'Company ' || (i % 5000), '', '', 'contacted', 50, 'warm', 'SMB', false, false, now(), now()
            FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS i"""), bounds)  # fmt: skip
        db.session.execute(sa.text(f"""
            INSERT INTO lead_nurture_enrollments (id, tenant_id, lead_id, sequence_id, current_step_order, status,
                                                  enrolled_on, next_step_on, created_at, updated_at)
            SELECT {_id(ENROLLMENT_PREFIX)}, :t, {_id(LEAD_PREFIX)}, (CAST(:seqs AS uuid[]))[1 + (i % CAST(:n AS bigint))::int], 1,
                   'active', now() - (i % 365) * interval '1 day', now() + interval '1 day' + i * interval '10 ms',
                   now(), now()
            FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS i"""), bounds)  # fmt: skip
        db.session.execute(sa.text(f"""
            INSERT INTO activities (id, tenant_id, type, lead_id, enrollment_id, sequence_id, occurred_at, data)
            SELECT {_id(ACTIVITY_PREFIX)}, :t,
                   (ARRAY['nurture_enrolled', 'nurture_step_scheduled', 'nurture_step_executed',
                          'message_sent'])[1 + i % 4],
                   {_id(LEAD_PREFIX)}, {_id(ENROLLMENT_PREFIX)}, (CAST(:seqs AS uuid[]))[1 + (i % CAST(:n AS bigint))::int],
                   now() - (i % 365) * interval '1 day' + interval '1 hour', '{{"step": 1}}'
            FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS i"""), bounds)  # fmt: skip
        db.session.commit()
    if waiting["rows"] == 0:
        # The busy lead: the first, with a page of history on its timeline.
        db.session.execute(sa.text(f"""
            INSERT INTO activities (id, tenant_id, type, lead_id, enrollment_id, sequence_id, occurred_at, data)
            SELECT gen_random_uuid(), :t, 'lead_updated', {_id(LEAD_PREFIX, '1')}, NULL, NULL,
                   now() - k * interval '1 day', '{{}}'
            FROM generate_series(1, {BUSY_LEAD_ACTIVITIES}) AS k"""), params)  # fmt: skip
        db.session.commit()
    waiting["rows"] = size
    # The sequences too: with no statistics on their few rows (autovacuum analyzes a table after 50 changes),
    # the planner takes the claim's join the slow way round: 412 ms instead of 16 at 1,000,000 waiting.
    vacuum_analyze("leads", "lead_nurture_enrollments", "activities", "lead_nurture_sequences")
    return round(time.perf_counter() - started, 1)


def time_claims(steps: int, batch: int) -> dict:
    """``steps`` enrollments due now in a new tenant; ``CLAIMS`` claims of ``batch`` rows timed (fewer when
    ``steps`` has not that many batches); the tenant deleted after."""
    due = seed_due_steps(steps, label="claim")
    try:
        times = []
        for _ in range(max(1, min(CLAIMS, steps // batch))):
            now = datetime.now(UTC)
            started = time.perf_counter()
            claimed = claim_due(now, batch, timedelta(minutes=5))
            times.append((time.perf_counter() - started) * 1000)
            if len(claimed) != batch:
                raise BenchFailed(f"a claim took {len(claimed)} rows, not {batch}")
    finally:
        drop_tenant(due.tenant_id)
    return {"claim_ms": round(statistics.median(times), 2), "claim_p95_ms": round(percentile(times, 95), 2),
            "claim_rows": batch}  # fmt: skip


def time_pages(app, waiting: dict) -> dict:
    """p50 / p95 of the busy lead's timeline and one sequence's performance (90 days, all time), in ms."""
    client = app.test_client()
    with app.app_context():
        session_id = db.session.get(User, waiting["manager_id"]).get_id()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    sequence = waiting["sequence_ids"][0]
    pages = {
        "lead_timeline": f"/leads/{LEAD_PREFIX}{1:012x}/timeline",
        "performance_90_days": f"/sequences/{sequence}/performance",
        "performance_all_time": f"/sequences/{sequence}/performance?from=all",
    }
    out = {}
    for name, url in pages.items():
        times = []
        for i in range(PAGE_REQUESTS + 2):
            started = time.perf_counter()
            response = client.get(url)
            if response.status_code != 200:
                raise BenchFailed(f"{url} answered {response.status_code}")
            if i >= 2:
                times.append((time.perf_counter() - started) * 1000)
        out[name] = {"p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1)}
    return out


def time_auto_enroll(leads: int) -> dict:
    """A new tenant with ``leads`` leads (set-based) and five active sequences whose first step waits a year;
    one ``auto_enroll`` timed. The tenant stays (its enrollments wait, like the others)."""
    from nurture_ui.enrollment import auto_enroll

    tenant, users = make_tenant_with_team("scale-enroll", reps=2)
    sequences = make_sequences(tenant, users[-1], 5)
    db.session.execute(
        sa.update(SequenceStep)
        .where(SequenceStep.sequence_id.in_([s.id for s in sequences]), SequenceStep.step_order == 1)
        .values(delay_hours=24 * 365)
    )
    db.session.commit()
    tenant_id = tenant.id
    # The mix of bench.generate (and so of bench_enroll's figure): statuses 35/25/20/10/10 %, 2 % do not contact.
    segments = "(ARRAY['SMB', 'Mid-market', 'Enterprise'])[1 + i % 3]"
    statuses = (
        "(ARRAY["
        + ", ".join(f"'{status}'" for status, share in STATUSES for _ in range(share // 5))
        + "])[1 + i % 20]"
    )
    db.session.execute(sa.text(f"""
        INSERT INTO leads (id, tenant_id, email, first_name, last_name, company, title, phone, status, score,
                           score_band, segment, do_not_contact, undeliverable, created_at, updated_at)
        SELECT {_id(ENROLL_LEAD_PREFIX)}, :t, 'e' || i || '@scale.test', 'Lead' || (i % 997), 'Scale',
               'Company ' || (i % 5000), '', '', {statuses}, 50, 'warm', {segments}, i % 50 = 0, false, now(), now()
        FROM generate_series(1, CAST(:n AS bigint)) AS i"""), {"t": tenant_id, "n": leads})  # fmt: skip
    db.session.commit()
    vacuum_analyze("leads", "lead_nurture_sequences")
    existing = db.session.scalar(sa.text("SELECT count(*) FROM lead_nurture_enrollments"))
    started = time.perf_counter()
    counts = auto_enroll(tenant_id=tenant_id)
    seconds = time.perf_counter() - started
    return {"leads": leads, "existing_enrollments": existing, "enrolled": sum(counts.values()),
            "seconds": round(seconds, 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="100000,1000000,10000000", help="waiting enrollments, comma-separated"
    )
    parser.add_argument(
        "--enroll-at", type=int, default=5_000_000, help="waiting enrollments when auto-enrolling"
    )
    parser.add_argument("--enroll-leads", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=20_000, help="due steps for the claim and the engine")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    measured = sorted({int(s) for s in args.sizes.split(",")})
    # Never grown beyond the largest size for the enrollment alone: at most the largest size.
    enroll_at = min(args.enroll_at, measured[-1]) if args.enroll_at else 0
    sizes = sorted(set(measured) | ({enroll_at} if enroll_at else set()))

    _ensure_redis()
    app = create_app()
    log_dir = Path(tempfile.mkdtemp(prefix="nurture-scale-"))
    runs, enroll = [], None
    with app.app_context():
        from nurture_ui.cli import upgrade_database

        upgrade_database()
        if db.engine.dialect.name != "postgresql":
            print("bench_scale writes its rows with PostgreSQL's generate_series: set DATABASE_URL. Skipped.")
            return {}
        batch = int(app.config.get("ENGINE_BATCH_SIZE", 200))
        waiting = make_waiting_tenant()
    for size in sizes:
        with app.app_context():
            seconds = grow(waiting, size)
            activities = db.session.scalar(sa.text("SELECT count(*) FROM activities"))
            print(f"grown to {size:,} waiting ({activities:,} activities) in {seconds} s", flush=True)
            if size == enroll_at:
                enroll = time_auto_enroll(args.enroll_leads)
                print(f"auto-enroll: {enroll}", flush=True)
            if size not in measured:
                continue
            run = {
                "waiting": size,
                "grow_seconds": seconds,
                "activities": activities,
                **time_claims(args.steps, batch),
            }
        engine = run_engine(app, args.steps, 2, fork=False, batch=batch, tick=1.0, log_dir=log_dir)
        run["steps_per_s"] = engine["steps_per_s"]
        run["pages"] = time_pages(app, waiting)
        runs.append(run)
        print(json.dumps(run), flush=True)
    result = {"steps": args.steps, "sequences": SEQUENCES, "runs": runs, "auto_enroll": enroll}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    try:
        main()
    except BenchFailed as error:
        raise SystemExit(f"bench_scale: {error}") from None
