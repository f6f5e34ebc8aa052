"""Emails a person must settle: ``unknown`` (a crash hid whether it went) and ``failed`` (the server refused).

The engine never resends these by itself. A manager or an admin looks at each and decides: an ``unknown``
email is marked as delivered or sent again (knowing it may arrive twice); a ``failed`` one is retried; either
is dismissed. Each action is one conditional UPDATE on the state the person saw (two people acting on one
email: the second is refused), logged with the person as actor, and committed here; a re-queued email is
then handed to a send job, after the commit so the job finds it ``queued``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from nurture_ui import activity, clock, reasons
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, LeadReply, OutboundMessage, Sequence
from nurture_ui.models.base import aware_utc

PROBLEM_STATUSES = ("unknown", "failed")
PAGE_SIZE = 200


class OutboxActionRefused(ValueError):
    """A readable reason why this action cannot be taken on this email now."""


@dataclass(frozen=True)
class Problem:
    """One email to settle, with what a person needs to decide: its enrollment's state and, for an
    ``unknown`` one, when its send began."""

    message: OutboundMessage
    enrollment_status: str
    sending_since: datetime | None


def problems(tenant_id: uuid.UUID, status: str | None = None, limit: int = PAGE_SIZE) -> list[Problem]:
    """The tenant's ``unknown`` and ``failed`` emails (or those of one ``status``), latest first."""
    statuses = (status,) if status in PROBLEM_STATUSES else PROBLEM_STATUSES
    messages = list(
        db.session.scalars(
            sa.select(OutboundMessage)
            .where(OutboundMessage.tenant_id == tenant_id, OutboundMessage.status.in_(statuses))
            .options(joinedload(OutboundMessage.lead), joinedload(OutboundMessage.sequence))
            .order_by(OutboundMessage.updated_at.desc(), OutboundMessage.id)
            .limit(limit)
        ).unique()
    )
    enrollment_ids = {m.enrollment_id for m in messages}
    states = (
        dict(
            db.session.execute(
                sa.select(Enrollment.id, Enrollment.status).where(Enrollment.id.in_(enrollment_ids))
            ).all()
        )
        if enrollment_ids
        else {}
    )
    since = _sending_since([m for m in messages if m.status == "unknown"])
    return [Problem(m, states.get(m.enrollment_id, ""), since.get(m.id)) for m in messages]


def _sending_since(messages: list[OutboundMessage]) -> dict[uuid.UUID, datetime]:
    """When each ``unknown`` email's send began: kept by the sweep that marked it (``message_unknown``)."""
    if not messages:
        return {}
    wanted = {str(m.id): m.id for m in messages}
    found: dict[uuid.UUID, datetime] = {}
    for data in db.session.scalars(
        sa.select(Activity.data).where(
            Activity.lead_id.in_({m.lead_id for m in messages}), Activity.type == "message_unknown"
        )
    ):
        message_id = wanted.get((data or {}).get("message"))
        if message_id and data.get("sending_since"):
            found[message_id] = aware_utc(datetime.fromisoformat(data["sending_since"]))
    return found


def refusal_to_send(message: OutboundMessage) -> str | None:
    """Why this email may not go out again, or None: the one stop decision (``stops.send_refusal``) in words —
    the lead said stop or replied, its address does not take mail, or its enrollment was stopped (an exit
    cancels what has not gone; a person must not undo that)."""
    from nurture_ui.engine.stops import send_refusal

    lead = db.session.get(Lead, message.lead_id)
    enrollment = db.session.get(Enrollment, message.enrollment_id)
    sequence = db.session.get(Sequence, message.sequence_id)
    replies = db.session.scalars(sa.select(LeadReply).where(LeadReply.lead_id == lead.id)).all()
    now = clock.now()
    reason = send_refusal(
        lead,
        sequence,
        enrollment_status=enrollment.status if enrollment is not None else "exited",
        enrolled_on=enrollment.enrolled_on if enrollment is not None else now,
        replies=replies,
        now=now,
    )
    if reason is None:
        return None
    words = {
        "do_not_contact": f"{lead.name} is marked do-not-contact.",
        "unsubscribed": f"{lead.name} has unsubscribed.",
        "undeliverable": f"{lead.name}'s address cannot receive mail (it bounced or was refused).",
        "enrollment_exited": f"{lead.name} has left the sequence, so its emails are no longer sent.",
    }
    return words.get(reason) or f"Not sent to {lead.name}: {reasons.stop_reason(reason).lower()}."


def mark_delivered(message: OutboundMessage, *, actor_id: uuid.UUID, now: datetime) -> None:
    """A person checked that an ``unknown`` email arrived: it becomes ``sent``, sent when its send began.
    Commits."""
    _expect(message, "unknown")
    sent_at = _sending_since([message]).get(message.id) or message.updated_at
    _move(
        message,
        "unknown",
        "sent",
        actor_id=actor_id,
        now=now,
        activity_type="message_marked_sent",
        values={"sent_at": sent_at, "error": None},
        data={"sent_at": sent_at.isoformat()},
    )
    db.session.commit()


def send_again(message: OutboundMessage, *, actor_id: uuid.UUID, now: datetime, confirmed: bool) -> None:
    """Queue an ``unknown`` email for a new send, once the person confirmed it may arrive twice. Refused
    when the lead may no longer be emailed (``refusal_to_send``). Commits, then enqueues the send job."""
    _expect(message, "unknown")
    if not confirmed:
        raise OutboxActionRefused(
            "Confirm that the email may arrive twice: it may have reached the lead before the interruption."
        )
    _requeue(message, "unknown", reason="send_again", actor_id=actor_id, now=now, attempts=None)


def retry(message: OutboundMessage, *, actor_id: uuid.UUID, now: datetime) -> None:
    """Queue a ``failed`` email for another send with its attempts counted from zero. Refused when the lead
    may no longer be emailed (``refusal_to_send``). Commits, then enqueues the send job."""
    _expect(message, "failed")
    _requeue(message, "failed", reason="retry", actor_id=actor_id, now=now, attempts=0)


def dismiss(message: OutboundMessage, *, actor_id: uuid.UUID, now: datetime) -> None:
    """Give up on an ``unknown`` or ``failed`` email: it becomes ``cancelled`` and leaves the list. Commits."""
    _expect(message, *PROBLEM_STATUSES)
    _move(
        message,
        message.status,
        "cancelled",
        actor_id=actor_id,
        now=now,
        activity_type="message_dismissed",
        values={},
        data={"was": message.status},
    )
    db.session.commit()


def _expect(message: OutboundMessage, *statuses: str) -> None:
    if message.status not in statuses:
        words = {"sent": "has been sent", "queued": "is already queued to send", "cancelled": "was dismissed"}
        state = words.get(message.status, f"is {message.status.replace('_', ' ')}")
        raise OutboxActionRefused(f"This email {state}: there is nothing to do here any more.")


def _requeue(message, expected: str, *, reason: str, actor_id, now, attempts: int | None) -> None:
    refusal = refusal_to_send(message)
    if refusal:
        raise OutboxActionRefused(refusal)
    values = {"sent_at": None, "error": None, **({"attempts": attempts} if attempts is not None else {})}
    _move(
        message,
        expected,
        "queued",
        actor_id=actor_id,
        now=now,
        activity_type="message_requeued",
        values=values,
        data={"reason": reason},
    )
    db.session.commit()
    from nurture_ui.jobs import enqueue_send

    enqueue_send([message.id], tenant_id=message.tenant_id)


def _move(message, expected, status, *, actor_id, now, activity_type, values, data) -> None:
    table = OutboundMessage.__table__
    changed = db.session.execute(
        sa.update(table)
        .where(table.c.id == message.id, table.c.status == expected)
        .values(status=status, updated_at=now, **values)
    ).rowcount
    if not changed:
        db.session.rollback()
        raise OutboxActionRefused("Someone else acted on this email meanwhile: reload to see what happened.")
    activity.record(
        activity_type,
        tenant_id=message.tenant_id,
        lead_id=message.lead_id,
        enrollment_id=message.enrollment_id,
        sequence_id=message.sequence_id,
        actor_id=actor_id,
        occurred_at=now,
        data={"step": message.step_order, "message": str(message.id), **data},
    )
    db.session.expire(message)
