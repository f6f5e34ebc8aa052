"""Server time of the pages people wait on, at scale (p50 / p95 over N requests).

    DATABASE_URL=postgresql://… .venv/bin/python -m bench.bench_pages --leads 100000 [--requests 20] [--json out.json]

The pages: the sequences list, the builder, the inbox with its 1,000 pending drafts, an enrollment timeline
(live, its htmx poll, completed), a lead's timeline, the lead list with filters (and its htmx results),
a sequence's performance and its CSV, and the manager overview.

Makes the data first: ``bench.generate`` for the leads and their lead-level activities, then enrollments
across five four-step sequences with their step activities, messages (1,000 drafts waiting for approval),
replies and tasks — about 1,000,000 activities in all at 100,000 leads — all loaded with COPY on
PostgreSQL. Each page is then requested through the Flask test client, signed in as a manager, after two
warm-up requests; the time measured is the whole request in the server (queries and rendering).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import generate
from bench.due_steps import drop_tenant
from nurture_ui import create_app
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, Sequence, SequenceStep, User

ENROLLED_SHARE = 0.6
PENDING_DRAFTS = 1000
OUTCOMES = (("running", 30), ("completed", 30), ("positive_reply", 12), ("replied", 8), ("converted", 10),
            ("unsubscribed", 6), ("disqualified", 4))  # fmt: skip


def _four_steps(sequences: list[Sequence]) -> None:
    """generate.py's sequences have two emails; make them approval email, email, call, email."""
    for s in sequences:
        first = db.session.scalar(
            sa.select(SequenceStep).where(SequenceStep.sequence_id == s.id, SequenceStep.step_order == 1)
        )
        first.requires_human_approval = True
        db.session.add_all(
            [
                SequenceStep(tenant_id=s.tenant_id, sequence_id=s.id, step_order=3, channel="call_reminder",
                             delay_hours=48, instructions="Call to book a demo"),
                SequenceStep(tenant_id=s.tenant_id, sequence_id=s.id, step_order=4, channel="email",
                             delay_hours=96, template_id="intro"),
            ]
        )  # fmt: skip
    db.session.commit()


def load_enrollments(tenant_id, sequence_ids, owners, now, seed=11) -> dict:
    """Enrollments for 60% of the tenant's leads with their whole trace, COPYed table by table."""
    rng = random.Random(seed)
    leads = db.session.execute(
        sa.text("SELECT id, owner_id, email FROM leads WHERE tenant_id = :t ORDER BY id"), {"t": tenant_id}
    ).all()
    chosen = rng.sample(leads, int(len(leads) * ENROLLED_SHARE))
    enrollments, activities, messages, replies, tasks = [], [], [], [], []
    drafts_left = PENDING_DRAFTS
    for lead_id, owner_id, email in chosen:
        sequence_id = rng.choice(sequence_ids)
        eid = uuid.uuid4()
        start = now - timedelta(days=rng.uniform(0, 180))
        outcome = rng.choices([o for o, _ in OUTCOMES], weights=[w for _, w in OUTCOMES])[0]
        reached = 4 if outcome == "completed" else rng.choice([0, 1, 1, 2, 2, 3])
        status = {"running": "active", "completed": "completed"}.get(outcome, "exited")
        pause = None
        if status == "active" and reached == 0 and drafts_left > 0:
            status, pause = "paused", "approval"
        at = start
        ids = (tenant_id, lead_id, eid, sequence_id)

        def act(kind, when, data, ids=ids):
            activities.append(
                (uuid.uuid4(), ids[0], kind, ids[1], ids[2], ids[3], None, when, json.dumps(data))
            )

        act("nurture_enrolled", at, {"source": "auto"})
        act("nurture_step_scheduled", at, {"step": 1, "channel": "email", "due_at": at.isoformat()})
        for step in range(1, reached + 1):
            at = at + timedelta(hours=rng.uniform(1, 72))
            if at > now:
                at = now
            channel = "call_reminder" if step == 3 else "email"
            act("nurture_step_executed", at, {"step": step, "channel": channel})
            if channel == "email":
                created = at - timedelta(hours=rng.uniform(0.2, 20)) if step == 1 else at
                messages.append((uuid.uuid4(), tenant_id, eid, step, lead_id, sequence_id, email, f"Step {step}",
                                 "…", "sent", "template", "the step requires human approval" if step == 1 else None,
                                 at if step == 1 else None, created, at, at, at, f"<{uuid.uuid4()}@bench>", 1))  # fmt: skip
                act("message_sent", at, {"step": step})
            else:
                tasks.append((uuid.uuid4(), tenant_id, lead_id, eid, step, "call_reminder", "Call", "", owner_id,
                              at, "done", at, at))  # fmt: skip
            if step < 4:
                act("nurture_step_scheduled", at, {"step": step + 1, "due_at": at.isoformat()})
        if pause == "approval":
            drafts_left -= 1
            messages.append((uuid.uuid4(), tenant_id, eid, 1, lead_id, sequence_id, email, "Draft", "…",
                             "pending_approval", "template", "the step requires human approval", None,
                             now - timedelta(hours=rng.uniform(1, 96)), now, None, None, f"<{uuid.uuid4()}@bench>", 0))  # fmt: skip
            act("nurture_paused", now, {"step": 1, "reason": "approval"})
        ended = None
        if outcome in ("positive_reply", "replied"):
            reply_at = min(now, at + timedelta(hours=rng.uniform(1, 48)))
            replies.append((uuid.uuid4(), tenant_id, lead_id, reply_at, "positive" if outcome == "positive_reply" else "neutral",
                            True, "Re", "Sounds good", "auto", reply_at, reply_at))  # fmt: skip
            activities.append(
                (uuid.uuid4(), tenant_id, "reply_received", lead_id, None, None, None, reply_at, "{}")
            )
            ended = reply_at
        if status in ("completed", "exited"):
            ended = ended or min(now, at + timedelta(hours=1))
            act(
                "nurture_completed" if status == "completed" else "nurture_exited", ended, {"reason": outcome}
            )
        if status == "active" and reached == 2 and rng.random() < 0.3:
            tasks.append((uuid.uuid4(), tenant_id, lead_id, eid, 3, "call_reminder", "Call", "", owner_id,
                          now - timedelta(hours=rng.uniform(-24, 96)), "open", now, now))  # fmt: skip
        enrollments.append((eid, tenant_id, lead_id, sequence_id, max(1, min(reached + 1, 4)), status, start,
                            now + timedelta(hours=rng.uniform(0, 72)) if status == "active" else None,
                            outcome if status == "exited" else None, pause, ended, start, start))  # fmt: skip
    generate._copy("lead_nurture_enrollments", ("id", "tenant_id", "lead_id", "sequence_id", "current_step_order", "status",
                   "enrolled_on", "next_step_on", "exit_reason", "pause_reason", "ended_on", "created_at", "updated_at"), enrollments)  # fmt: skip
    generate._copy("outbound_messages", ("id", "tenant_id", "enrollment_id", "step_order", "lead_id", "sequence_id", "to_email",
                   "subject", "body", "status", "drafter", "review_reason", "reviewed_at", "created_at", "updated_at",
                   "queued_at", "sent_at", "message_id", "attempts"), messages)  # fmt: skip
    generate._copy("lead_replies", ("id", "tenant_id", "lead_id", "received_at", "sentiment", "thread_open", "subject",
                   "body_excerpt", "classified_by", "created_at", "updated_at"), replies)  # fmt: skip
    generate._copy("tasks", ("id", "tenant_id", "lead_id", "enrollment_id", "step_order", "kind", "title", "notes",
                   "assignee_id", "due_at", "status", "created_at", "updated_at"), tasks)  # fmt: skip
    generate._copy("activities", generate.ACTIVITY_COLUMNS, activities)
    db.session.commit()
    generate.vacuum_analyze(
        "leads", "lead_nurture_enrollments", "outbound_messages", "lead_replies", "tasks", "activities"
    )
    return {"enrollments": len(enrollments), "enrollment_activities": len(activities), "messages": len(messages),
            "replies": len(replies), "tasks": len(tasks)}  # fmt: skip


def _existing(tenant_id) -> dict:
    """What a kept tenant holds, for the figures' heading."""
    count = "SELECT count(*) FROM {} WHERE tenant_id = :t"
    return {
        what: db.session.scalar(sa.text(count.format(table)), {"t": tenant_id})
        for what, table in (
            ("leads", "leads"),
            ("activities", "activities"),
            ("enrollments", "lead_nurture_enrollments"),
        )
    }


def make_manager(tenant_id) -> User:
    manager = User(tenant_id=tenant_id, email=f"manager.{uuid.uuid4().hex[:8]}@bench.test", name="Bench Manager",
                   role="manager", password_hash="x")  # fmt: skip
    db.session.add(manager)
    db.session.commit()
    return manager


def time_pages(app, tenant_id, manager_id, requests: int) -> list[dict]:
    with app.app_context():
        live = db.session.scalar(
            sa.select(Enrollment.id)
            .where(Enrollment.tenant_id == tenant_id, Enrollment.status == "active")
            .limit(1)
        )
        ended = db.session.execute(
            sa.select(Enrollment.id, Enrollment.lead_id, Enrollment.sequence_id)
            .where(Enrollment.tenant_id == tenant_id, Enrollment.status == "completed")
            .limit(1)
        ).first()
        owner = db.session.scalar(sa.select(User.id).where(User.tenant_id == tenant_id, User.role == "rep"))
    filtered = f"status=new&score_band=warm&segment=SMB&owner={owner}"
    pages = [
        ("sequences list", "/sequences/", {}),
        ("sequence builder", f"/sequences/{ended.sequence_id}", {}),
        ("inbox", "/inbox/", {}),
        ("lead list with filters", f"/leads/?{filtered}", {}),
        ("lead list with filters (htmx results)", f"/leads/?{filtered}", {"HX-Request": "true", "HX-Target": "lead-results"}),
        ("enrollment timeline (live)", f"/enrollments/{live}", {}),
        ("enrollment timeline poll (htmx partial)", f"/enrollments/{live}", {"HX-Request": "true"}),
        ("enrollment timeline (completed)", f"/enrollments/{ended.id}", {}),
        ("lead timeline", f"/leads/{ended.lead_id}/timeline", {}),
        ("sequence performance, last 90 days", f"/sequences/{ended.sequence_id}/performance", {}),
        ("sequence performance, all time", f"/sequences/{ended.sequence_id}/performance?from=all", {}),
        ("performance CSV (steps, all time)", f"/sequences/{ended.sequence_id}/performance.csv?chart=steps&from=all", {}),
        ("manager overview", "/overview/", {}),
    ]  # fmt: skip
    client = app.test_client()
    with app.app_context():
        session_id = db.session.get(User, manager_id).get_id()
    with client.session_transaction() as session:
        session["_user_id"] = session_id  # the id with its session fingerprint, as signing in keeps it
        session["_fresh"] = True
    results = []
    for name, url, headers in pages:
        timings = []
        for i in range(requests + 2):
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            if i == 0 and url == "/inbox/":
                shown = re.search(rb'id="inbox-total" class="heading-count">(\d+)<', response.data)
                if not shown or not int(shown.group(1)):
                    raise SystemExit("the inbox shows no pending drafts")
                name = f"inbox ({int(shown.group(1)):,} pending drafts)"
            if i >= 2:  # two warm-ups
                timings.append(elapsed)
        q = statistics.quantiles(timings, n=20)
        results.append(
            {
                "page": name,
                "url": url.split("?")[0],
                "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(q[18], 1),
                "requests": requests,
            }  # fmt: skip
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--lead-activities", type=int, default=5, help="lead-level activities per lead")
    parser.add_argument("--keep", action="store_true", help="keep the tenant (default: delete it after)")
    parser.add_argument(
        "--reuse",
        type=uuid.UUID,
        metavar="TENANT_ID",
        help="time the pages of a tenant an earlier --keep run left, instead of loading a new one (kept after)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        from nurture_ui.cli import upgrade_database

        upgrade_database()
        if db.engine.dialect.name != "postgresql":
            print("bench_pages loads its data with COPY: set DATABASE_URL to a PostgreSQL database. Skipped.")
            return
        if args.reuse:
            tenant_id, made_info = args.reuse, _existing(args.reuse)
            manager_id = (
                db.session.scalar(
                    sa.select(User.id).where(User.tenant_id == tenant_id, User.role == "manager")
                )
                or make_manager(tenant_id).id
            )
        else:
            started = time.perf_counter()
            made = generate.load(args.leads, args.lead_activities, 5)
            tenant_id = made["tenant_id"]
            sequences = list(
                db.session.scalars(sa.select(Sequence).where(Sequence.id.in_(made["sequence_ids"])))
            )
            _four_steps(sequences)
            owners = list(
                db.session.scalars(sa.select(User.id).where(User.tenant_id == tenant_id, User.role == "rep"))
            )
            extra = load_enrollments(tenant_id, made["sequence_ids"], owners, datetime.now(UTC))
            activities = db.session.scalar(
                sa.text("SELECT count(*) FROM activities WHERE tenant_id = :t"), {"t": tenant_id}
            )
            manager_id = make_manager(tenant_id).id
            print(json.dumps({"leads": args.leads, "activities": activities, **extra,
                              "load_seconds": round(time.perf_counter() - started, 1)}))  # fmt: skip
            made_info = {"leads": args.leads, "activities": activities, **extra}
    try:
        rows = time_pages(app, tenant_id, manager_id, args.requests)
    finally:
        if not (args.keep or args.reuse):
            with app.app_context():
                drop_tenant(tenant_id)
    for row in rows:
        print(f"{row['page']:<42} p50 {row['p50_ms']:>7.1f} ms   p95 {row['p95_ms']:>7.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({"data": made_info, "pages": rows}, indent=2))


if __name__ == "__main__":
    main()
