"""The promises a chaos run checks, from the database and the SMTP server's own log."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, OutboundMessage

# A send is claim → SMTP → record, well under a second; a fault this close to the claim may have cut it.
UNKNOWN_FAULT_WINDOW = (1.0, 5.0)  # seconds before / after the claim


@dataclass
class Check:
    name: str
    held: bool
    detail: str


def read_smtp_log(path) -> tuple[list[dict], int]:
    accepted, refused = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if "refused" in entry:
            refused += 1
        else:
            accepted.append(entry)
    return accepted, refused


def check_invariants(run) -> list[Check]:
    settings = run.settings
    tenant_id = run.tenant_id
    accepted, refused = read_smtp_log(run.smtp_log)
    received = Counter(entry["message_id"] for entry in accepted)

    enrollments = db.session.execute(
        sa.select(Enrollment.id, Enrollment.lead_id, Enrollment.status, Enrollment.exit_reason).where(
            Enrollment.tenant_id == tenant_id
        )
    ).all()
    executed = defaultdict(Counter)
    for enrollment_id, data in db.session.execute(
        sa.select(Activity.enrollment_id, Activity.data).where(
            Activity.tenant_id == tenant_id, Activity.type == "nurture_step_executed"
        )
    ):
        executed[enrollment_id][data.get("step")] += 1
    messages = db.session.execute(
        sa.select(
            OutboundMessage.id,
            OutboundMessage.enrollment_id,
            OutboundMessage.lead_id,
            OutboundMessage.message_id,
            OutboundMessage.status,
        ).where(OutboundMessage.tenant_id == tenant_id)
    ).all()
    unknown_since = {
        data.get("message"): datetime.fromisoformat(data["sending_since"]).timestamp()
        for (data,) in db.session.execute(
            sa.select(Activity.data).where(
                Activity.tenant_id == tenant_id, Activity.type == "message_unknown"
            )
        )
        if data.get("sending_since")
    }
    unsubscribed = {
        lead_id
        for (lead_id,) in db.session.execute(
            sa.select(Lead.id).where(Lead.tenant_id == tenant_id, Lead.unsubscribed_at.is_not(None))
        )
    }
    db.session.commit()

    checks = []
    all_steps = set(range(1, settings.steps + 1))

    # 1. Every due step executed exactly once; every enrollment ended the way it should.
    duplicates = sum(n - 1 for steps in executed.values() for n in steps.values() if n > 1)
    lost = []
    for enrollment_id, lead_id, status, exit_reason in enrollments:
        done = set(executed[enrollment_id])
        if status == "completed" and done == all_steps:
            continue
        if (
            status == "exited"
            and exit_reason == "unsubscribed"
            and lead_id in unsubscribed
            and done == set(range(1, len(done) + 1))  # a prefix of the steps, then the exit
        ):
            continue
        lost.append((enrollment_id, status, exit_reason, sorted(done)))
    total_executed = sum(sum(s.values()) for s in executed.values())
    checks.append(
        Check(
            "every due step executed exactly once",
            duplicates == 0 and not lost,
            f"{len(enrollments):,} enrollments, {total_executed:,} steps executed, "
            f"duplicates = {duplicates}, lost = {len(lost)}" + (f" e.g. {lost[:3]}" if lost else ""),
        )
    )

    # 2. No email arrived twice.
    twice = {mid: n for mid, n in received.items() if n > 1}
    checks.append(
        Check(
            "every email received at most once (no duplicate Message-ID in the SMTP log)",
            not twice,
            f"{len(accepted):,} accepted, {refused:,} refused with 451, duplicates = {len(twice)}",
        )
    )

    # 3. Every message the database calls sent was received, exactly once.
    by_message_id = {m.message_id: m for m in messages}
    sent = [m for m in messages if m.status == "sent"]
    missing = [m.message_id for m in sent if received.get(m.message_id) != 1]
    checks.append(
        Check(
            "every sent email received exactly once",
            not missing,
            f"{len(sent):,} sent, not received exactly once = {len(missing)}",
        )
    )

    # 4. Nothing was received that the database does not account for as sent (or unknown).
    phantom = [
        mid
        for mid in received
        if mid not in by_message_id or by_message_id[mid].status not in ("sent", "unknown")
    ]
    checks.append(
        Check(
            "every received email is a message recorded sent or unknown",
            not phantom,
            f"received but recorded otherwise = {len(phantom)}" + (f" e.g. {phantom[:3]}" if phantom else ""),
        )
    )

    # 5. No email to a lead after its unsubscribe, except those already on the wire at that instant.
    after = []
    for unsubscribe in run.unsubscribes:
        for entry in accepted:
            if entry["to"] == unsubscribe.email and entry["message_id"] not in unsubscribe.in_flight:
                after.append((unsubscribe.email, entry["message_id"]))
    in_flight = sum(len(u.in_flight) for u in run.unsubscribes)
    checks.append(
        Check(
            "no email to a lead after its unsubscribe",
            not after,
            f"{len(run.unsubscribes)} leads unsubscribed mid-run ({in_flight} of their emails already "
            f"sending or sent at that instant), emails after = {len(after)}",
        )
    )

    # 6. `unknown` only where a fault cut a send between its claim and its record.
    unknown = [m for m in messages if m.status == "unknown"]
    before, after_window = UNKNOWN_FAULT_WINDOW
    unexplained = []
    for message in unknown:
        since = unknown_since.get(str(message.id))
        if since is None or not any(
            f.start <= since + after_window and f.end >= since - before for f in run.faults
        ):
            unexplained.append(message.message_id)
    delivered = sum(1 for m in unknown if received.get(m.message_id))
    checks.append(
        Check(
            "every `unknown` message was cut mid-send by a fault (cross-checked with the SMTP log)",
            not unexplained,
            f"unknown = {len(unknown)} ({delivered} reached the server, {len(unknown) - delivered} did not), "
            f"without a fault at its send = {len(unexplained)}",
        )
    )

    # 7. Nothing failed (every SMTP refusal was transient) and nothing waits.
    statuses = Counter(m.status for m in messages)
    waiting = sum(statuses[s] for s in ("pending_approval", "approved", "queued", "sending"))
    checks.append(
        Check(
            "no message failed or left waiting",
            statuses["failed"] == 0 and waiting == 0,
            ", ".join(f"{s} {n:,}" for s, n in sorted(statuses.items())),
        )
    )

    # 8. Nothing stuck: all work done within the bound after the last fault.
    settle = run.settled - run.last_fault if run.settled else None
    checks.append(
        Check(
            "nothing stuck: all work done within the bound after the last fault",
            settle is not None and settle <= settings.settle_bound_seconds,
            f"done {settle:.1f} s after the last fault (bound {settings.settle_bound_seconds:.0f} s)"
            if settle is not None
            else f"not done {settings.settle_bound_seconds:.0f} s after the last fault",
        )
    )
    return checks
