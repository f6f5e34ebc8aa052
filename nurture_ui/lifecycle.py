"""Ending enrollments: the one place that takes a lead out of a sequence.

Used by every door that can stop a lead — the engine's re-check before a step, manual unenrollment,
inbound signals (replies, conversions, unsubscribes, bounces), archiving a sequence, do-not-contact.
Functions here run inside the caller's transaction: they add rows and change state but never commit,
so the change and its activity land together.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from nurture_ui import activity, clock
from nurture_ui.extensions import db
from nurture_ui.models import LIVE_STATUSES, Enrollment, OutboundMessage, Task

# Messages that have not left yet and can still be stopped. `sending` is in flight: its outcome is
# settled by the sender, never by a stop.
CANCELLABLE_MESSAGE_STATUSES = ("pending_approval", "approved", "queued")


def exit_enrollment(
    enrollment: Enrollment,
    reason: str,
    *,
    actor_id: uuid.UUID | None = None,
    now: datetime | None = None,
    data: dict | None = None,
) -> bool:
    """Exit a live enrollment with ``reason``: unsent messages cancelled, open tasks closed, logged.

    Returns False (and changes nothing) when the enrollment had already ended.
    """
    if enrollment.status not in LIVE_STATUSES:
        return False
    now = now or clock.now()
    enrollment.status = "exited"
    enrollment.exit_reason = reason
    enrollment.ended_on = now
    enrollment.next_step_on = None
    enrollment.lease_until = None
    enrollment.resume_on = None
    enrollment.pause_reason = None
    db.session.execute(
        sa.update(OutboundMessage)
        .where(
            OutboundMessage.enrollment_id == enrollment.id,
            OutboundMessage.status.in_(CANCELLABLE_MESSAGE_STATUSES),
        )
        .values(status="cancelled", error=f"Enrollment exited: {reason}", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(Task)
        .where(Task.enrollment_id == enrollment.id, Task.status == "open")
        .values(status="skipped", outcome="enrollment_exited", completed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    activity.record_for_enrollment(
        "nurture_exited",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={"reason": reason, "step": enrollment.current_step_order, **(data or {})},
    )
    return True


def live_enrollments(lead_id: uuid.UUID, *, lock: bool = False) -> list[Enrollment]:
    stmt = sa.select(Enrollment).where(Enrollment.lead_id == lead_id, Enrollment.status.in_(LIVE_STATUSES))
    if lock:
        stmt = stmt.with_for_update()
    return list(db.session.scalars(stmt))


def exit_live_enrollments(
    lead_id: uuid.UUID,
    reason: str,
    *,
    actor_id: uuid.UUID | None = None,
    now: datetime | None = None,
    data: dict | None = None,
) -> list[Enrollment]:
    """Exit every live enrollment of the lead (rows locked where the database can). Returns them."""
    exited = []
    for enrollment in live_enrollments(lead_id, lock=True):
        if exit_enrollment(enrollment, reason, actor_id=actor_id, now=now, data=data):
            exited.append(enrollment)
    return exited


# Pauses a person may lift by hand. The engine's own pauses (a draft awaiting approval, an open task)
# lift when that work is done, never by a resume button, so a step cannot run twice.
MANUAL_PAUSE = "manual"
RESUMABLE_BY_HAND = frozenset({MANUAL_PAUSE, "out_of_office"})


class TransitionRefused(ValueError):
    """A readable reason why a pause or resume cannot happen now."""


def pause_enrollment(
    enrollment: Enrollment,
    *,
    actor_id: uuid.UUID | None,
    reason: str = MANUAL_PAUSE,
    resume_on: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """Pause an active enrollment (it keeps its pointer and due time) and log ``nurture_paused``."""
    if enrollment.status != "active":
        raise TransitionRefused(f"Only an active enrollment can be paused; this one is {enrollment.status}.")
    now = now or clock.now()
    enrollment.status = "paused"
    enrollment.pause_reason = reason
    enrollment.resume_on = resume_on
    enrollment.lease_until = None
    activity.record_for_enrollment(
        "nurture_paused",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={
            "reason": reason,
            "step": enrollment.current_step_order,
            **({"resume_on": resume_on.isoformat()} if resume_on else {}),
        },
    )


def resume_enrollment(
    enrollment: Enrollment, *, actor_id: uuid.UUID | None, now: datetime | None = None
) -> None:
    """Resume a paused enrollment: its current step falls due again, at once if it is overdue."""
    if enrollment.status != "paused":
        raise TransitionRefused(f"Only a paused enrollment can be resumed; this one is {enrollment.status}.")
    from nurture_ui.triage import TRIAGE_PAUSE, has_pending_reply  # triage builds on this module

    if enrollment.pause_reason == TRIAGE_PAUSE or has_pending_reply(enrollment.lead_id):
        raise TransitionRefused(
            "This lead sent a reply that waits to be sorted (Inbox → Replies to sort); "
            "the enrollment resumes when someone sorts it."
        )
    if enrollment.pause_reason not in RESUMABLE_BY_HAND:
        raise TransitionRefused(
            "This enrollment is waiting for a person to finish its step "
            f"({(enrollment.pause_reason or 'unknown').replace('_', ' ')}); it resumes when that is done."
        )
    now = now or clock.now()
    previous = enrollment.pause_reason
    enrollment.status = "active"
    enrollment.pause_reason = None
    enrollment.resume_on = None
    enrollment.next_step_on = max(enrollment.next_step_on or now, now)
    activity.record_for_enrollment(
        "nurture_resumed",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={
            "reason": previous,
            "step": enrollment.current_step_order,
            "due": enrollment.next_step_on.isoformat(),
        },
    )
