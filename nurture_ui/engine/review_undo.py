"""Taking back an approve or a reject for a few seconds after it (the inbox's Undo).

The web door approves with ``hold_for=undo_window()``: the approved email gets ``send_after`` at the end of
the window, and the sender never sends an email before its ``send_after``. Within the window ``undo_review``
puts the draft back to ``pending_approval`` and its enrollment back to its approval pause, as if nobody had
reviewed it, and logs that. After the window, or once the sequence has moved on (the engine ran a later
step, the email was claimed by a sender), it is refused with the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nurture_ui import activity
from nurture_ui.engine.transitions import TransitionRefused, lock_enrollment
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, OutboundMessage, Task

# What a review leaves the draft in, and so what may be undone: the email queued (held by its window) or
# approved and held by the cap or the send window, or rejected.
UNDOABLE_STATUSES = ("queued", "approved", "rejected")


def undo_window() -> timedelta:
    """The configured undo window (``REVIEW_UNDO_SECONDS``; 0 turns Undo off and approved email goes at once)."""
    return timedelta(seconds=max(0, int(current_app.config.get("REVIEW_UNDO_SECONDS", 8))))


class UndoRefused(TransitionRefused):
    """The review can no longer be undone; ``str()`` says why, for the reviewer."""


@dataclass
class Undone:
    message: OutboundMessage
    undid: str  # "approved" | "rejected"


def undo_review(
    message_id: uuid.UUID, *, actor_id: uuid.UUID | None, now: datetime, window: timedelta
) -> Undone:
    """Undo the approve or reject of a draft reviewed less than ``window`` ago. Commits.

    The draft goes back to ``pending_approval`` (its reviewer, queueing and hold cleared; an edit made while
    approving stays) and, when the review had moved its enrollment on (to the next step, completed, out of
    the sequence), the enrollment goes back to its approval pause at the draft's step. Logged as
    ``message_review_undone`` (and ``nurture_paused`` when the enrollment is put back). Raises
    ``UndoRefused`` after the window, when the email is already on its way, when the engine has since done
    anything to the enrollment, or when taking the lead out also cancelled other emails or tasks.
    """
    message = db.session.get(OutboundMessage, message_id)
    if message is None:
        raise UndoRefused("This draft no longer exists.")
    locked = lock_enrollment(message.enrollment_id)
    db.session.refresh(message)
    try:
        enrollment, lead = _check_undoable(message, locked, now, window)
    except UndoRefused:
        db.session.rollback()
        raise
    reviewed_at = message.reviewed_at
    undid = "rejected" if message.status == "rejected" else "approved"
    # The review resumed (or ended) the enrollment only when it waited on this draft; else it left it alone.
    moved_enrollment = any(
        a.type in ("nurture_resumed", "nurture_exited") for a in _review_activities(enrollment, reviewed_at)
    )

    message.status = "pending_approval"
    message.reviewer_id = None
    message.reviewed_at = None
    message.review_note = None
    message.queued_at = None
    message.send_after = None
    message.mailbox_id = None
    message.updated_at = now
    activity.record_for_enrollment(
        "message_review_undone",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={"step": message.step_order, "message": str(message.id), "undid": undid},
    )
    if moved_enrollment:
        enrollment.status = "paused"
        enrollment.pause_reason = "approval"
        enrollment.current_step_order = message.step_order
        enrollment.next_step_on = None
        enrollment.ended_on = None
        enrollment.exit_reason = None
        enrollment.lease_until = None
        activity.record_for_enrollment(
            "nurture_paused",
            enrollment,
            actor_id=actor_id,
            occurred_at=now,
            data={"step": message.step_order, "reason": "approval", "undo": True, "message": str(message.id)},
        )
    db.session.commit()
    return Undone(message, undid)


def _check_undoable(
    message: OutboundMessage, locked: tuple[Enrollment, Lead] | None, now: datetime, window: timedelta
) -> tuple[Enrollment, Lead]:
    if message.status == "pending_approval" or message.reviewed_at is None:
        raise UndoRefused("Nothing to undo: this draft is waiting for review.")
    deadline = message.reviewed_at + window
    if now >= deadline:
        raise UndoRefused(
            f"Too late to undo: the {int(window.total_seconds())}-second undo window closed at "
            f"{deadline:%H:%M:%S} UTC."
        )
    if message.status not in UNDOABLE_STATUSES or (message.status == "queued" and message.send_after is None):
        raise UndoRefused("Too late to undo: the email is already on its way.")
    if locked is None:
        raise UndoRefused("Too late to undo: the enrollment no longer exists.")
    enrollment, lead = locked
    if enrollment.lease_until is not None and enrollment.lease_until > now:
        raise UndoRefused(
            f"Too late to undo: {lead.name}'s sequence is moving on to its next step right now."
        )
    later = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Activity)
        .where(Activity.enrollment_id == enrollment.id, Activity.occurred_at > message.reviewed_at)
    )
    if later:
        raise UndoRefused(f"Too late to undo: {lead.name}'s sequence has moved on since.")
    if enrollment.status == "exited" and _exit_stopped_more(enrollment, message):
        raise UndoRefused(
            f"Cannot undo: taking {lead.name} out also cancelled other emails or tasks. Enroll them again instead."
        )
    return enrollment, lead


def _review_activities(enrollment: Enrollment, reviewed_at: datetime) -> list[Activity]:
    """What the review wrote on the enrollment (in its own transaction, all at the review's instant)."""
    return list(
        db.session.scalars(
            sa.select(Activity).where(
                Activity.enrollment_id == enrollment.id, Activity.occurred_at == reviewed_at
            )
        )
    )


def _exit_stopped_more(enrollment: Enrollment, message: OutboundMessage) -> bool:
    """Whether the reject's exit cancelled another email or closed a task (those cannot be put back as they
    were)."""
    at = message.reviewed_at
    other_mail = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboundMessage)
        .where(
            OutboundMessage.enrollment_id == enrollment.id,
            OutboundMessage.id != message.id,
            OutboundMessage.status == "cancelled",
            OutboundMessage.updated_at == at,
        )
    )
    tasks = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Task)
        .where(
            Task.enrollment_id == enrollment.id, Task.outcome == "enrollment_exited", Task.completed_at == at
        )
    )
    return bool(other_mail or tasks)
