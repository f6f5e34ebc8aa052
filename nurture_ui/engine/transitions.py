"""The enrollment's state changes that more than one door needs: advance, exit, resume, unsubscribe.

Functions named ``…_in_session`` run inside the caller's transaction and only add to the session; the others
(``approve_message``, ``reject_message``, ``complete_task``, ``unsubscribe_lead``) are whole units of work
and commit. Every
change writes its ``nurture_*`` activity beside it, so it commits or rolls back with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from nurture_ui import activity, reasons
from nurture_ui.engine.schedule import send_window_for, step_due_after
from nurture_ui.extensions import db, one_of
from nurture_ui.lifecycle import exit_enrollment
from nurture_ui.models import Enrollment, Lead, LeadReply, OutboundMessage, Sequence, Task, Tenant
from nurture_ui.models.task import CALL_OUTCOMES
from nurture_ui.triage import has_pending_reply, hold_if_pending


class TransitionRefused(Exception):
    """The change asked for does not apply to the row as it is now (already handled, wrong state, …)."""


def lock_enrollment(enrollment_id: uuid.UUID) -> tuple[Enrollment, Lead] | None:
    """Load an enrollment and its lead afresh with the enrollment row locked for this transaction.

    PostgreSQL locks the row (``SELECT … FOR UPDATE``). SQLite has no row locks: a no-op UPDATE first takes
    the database's write lock, so the read that follows cannot be overtaken by another writer.
    """
    return lock_enrollments([enrollment_id]).get(uuid.UUID(str(enrollment_id)))


def lock_enrollments(enrollment_ids) -> dict[uuid.UUID, tuple[Enrollment, Lead]]:
    """``lock_enrollment`` for a whole batch in one query: every row locked (in id order, so two lockers of
    overlapping sets wait for each other instead of deadlocking) and read afresh with its lead."""
    session = db.session
    ids = sorted({uuid.UUID(str(i)) for i in enrollment_ids})
    if not ids:
        return {}
    if db.engine.dialect.name == "sqlite":
        table = Enrollment.__table__
        session.execute(sa.update(table).where(table.c.id.in_(ids)).values(lease_until=table.c.lease_until))
    rows = session.execute(
        sa.select(Enrollment, Lead)
        .join(Lead, Lead.id == Enrollment.lead_id)
        .where(one_of(Enrollment.id, ids))
        .order_by(Enrollment.id)
        .with_for_update(of=Enrollment)
        .execution_options(populate_existing=True)
    ).all()
    return {row[0].id: (row[0], row[1]) for row in rows}


def lock_lead(lead_id: uuid.UUID) -> Lead | None:
    """Load a lead afresh with its row locked for this transaction (``FOR UPDATE OF leads``: the owner is
    joined eagerly, and PostgreSQL refuses to lock the nullable side of that outer join)."""
    return db.session.scalar(
        sa.select(Lead)
        .where(Lead.id == lead_id)
        .with_for_update(of=Lead)
        .execution_options(populate_existing=True)
    )


def advance_in_session(
    enrollment: Enrollment,
    steps: Iterable,
    *,
    after_step: int,
    now: datetime,
    lead_timezone: str | None,
    tenant: Tenant,
    actor_id: uuid.UUID | None = None,
    sequence: Sequence | None = None,
) -> str:
    """Point the enrollment at the step after ``after_step``, due after its delay; or complete it.
    The send window is ``sequence``'s (loaded when not given).

    Returns ``"scheduled"`` or ``"completed"``.
    """
    following = sorted((s for s in steps if s.step_order > after_step), key=lambda s: s.step_order)
    enrollment.lease_until = None
    enrollment.pause_reason = None
    if not following:
        enrollment.status = "completed"
        enrollment.ended_on = now
        enrollment.next_step_on = None
        activity.record_for_enrollment(
            "nurture_completed",
            enrollment,
            actor_id=actor_id,
            occurred_at=now,
            data={"step": after_step},
        )
        return "completed"
    step = following[0]
    sequence = sequence or db.session.get(Sequence, enrollment.sequence_id)
    due = step_due_after(now, step, lead_timezone=lead_timezone, schedule=send_window_for(tenant, sequence))
    enrollment.status = "active"
    enrollment.current_step_order = step.step_order
    enrollment.next_step_on = due
    activity.record_for_enrollment(
        "nurture_step_scheduled",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={"step": step.step_order, "channel": step.channel, "due_at": due.isoformat()},
    )
    return "scheduled"


def reschedule_in_session(enrollment: Enrollment, *, due: datetime, now: datetime, reason: str) -> None:
    """Keep the enrollment on its current step, due again at ``due`` (a frequency cap, a closed window)."""
    enrollment.next_step_on = due
    enrollment.lease_until = None
    activity.record_for_enrollment(
        "nurture_step_scheduled",
        enrollment,
        occurred_at=now,
        data={"step": enrollment.current_step_order, "due_at": due.isoformat(), "reason": reason},
    )


def pause_in_session(enrollment: Enrollment, *, reason: str, now: datetime, data: dict | None = None) -> None:
    """Pause the enrollment at its current step until a person acts (approval, task, a broken template)."""
    enrollment.status = "paused"
    enrollment.pause_reason = reason
    enrollment.next_step_on = None
    enrollment.lease_until = None
    activity.record_for_enrollment(
        "nurture_paused",
        enrollment,
        occurred_at=now,
        data={"step": enrollment.current_step_order, "reason": reason, **(data or {})},
    )


def exit_in_session(
    enrollment: Enrollment, *, reason: str, now: datetime, actor_id: uuid.UUID | None = None
) -> bool:
    """End the enrollment as ``exited`` with ``reason`` through ``lifecycle.exit_enrollment``, the one stop
    every door uses (unsent messages cancelled, open tasks closed, ``nurture_exited`` logged)."""
    return exit_enrollment(enrollment, reason, actor_id=actor_id, now=now)


def _stop_reason(enrollment: Enrollment, lead: Lead, now: datetime) -> str | None:
    from nurture_ui.engine.stops import send_refusal

    sequence = db.session.get(Sequence, enrollment.sequence_id)
    replies = db.session.scalars(sa.select(LeadReply).where(LeadReply.lead_id == lead.id)).all()
    return send_refusal(
        lead,
        sequence,
        enrollment_status=enrollment.status,
        enrolled_on=enrollment.enrolled_on,
        replies=replies,
        now=now,
    )


def _resume_in_session(
    enrollment: Enrollment,
    lead: Lead,
    *,
    after_step: int,
    now: datetime,
    actor_id: uuid.UUID | None,
    data: dict,
) -> str:
    """Resume a paused enrollment after a person finished its step; the next step is timed from ``now``.
    When the lead has a reply waiting in the triage queue, the enrollment moves on to that next step but
    waits there, paused for the triage, until the reply is sorted."""
    sequence = db.session.get(Sequence, enrollment.sequence_id)
    tenant = db.session.get(Tenant, enrollment.tenant_id)
    activity.record_for_enrollment(
        "nurture_resumed",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={"step": after_step, **data},
    )
    outcome = advance_in_session(
        enrollment,
        sequence.steps,
        after_step=after_step,
        now=now,
        lead_timezone=lead.timezone,
        tenant=tenant,
        actor_id=actor_id,
        sequence=sequence,
    )
    if outcome == "scheduled" and hold_if_pending(
        enrollment, now=now, actor_id=actor_id, came_from=data.get("reason", "resumed")
    ):
        return "paused_for_triage"
    return outcome


class ReviewRefused(TransitionRefused):
    """A draft that may not be approved or rejected now. ``str()`` is the reason for the reviewer;
    ``code`` says what happened: ``reviewed`` (someone else was first), ``stopped`` (the lead may no longer
    be mailed: the enrollment exited), ``replied`` (the lead replied after the draft: it waits), ``triage``
    (a reply of the lead waits in the triage queue: the draft waits for it), ``invalid``."""

    def __init__(self, reason: str, *, code: str):
        super().__init__(reason)
        self.code = code


@dataclass
class Approval:
    """An approved draft: queued now, or ``held_until`` the frequency cap or the send window lets it go."""

    message: OutboundMessage
    edited: bool = False
    held_until: datetime | None = None
    hold_reason: str | None = None  # "frequency_cap" | "send_window"


@dataclass
class Rejection:
    message: OutboundMessage
    action: str  # "skip" | "exit"
    enrollment_outcome: str  # "scheduled" | "completed" | "exited" | "unchanged" | "paused_for_triage"


REJECT_ACTIONS = ("skip", "exit")


def _lock_draft(message_id: uuid.UUID) -> tuple[OutboundMessage, Enrollment, Lead]:
    """The draft, its enrollment (row locked) and lead, read afresh; refused unless it still waits for review.

    The enrollment lock orders two reviewers of one draft: the second reads the first one's decision.
    """
    message = db.session.get(OutboundMessage, message_id)
    if message is None:
        raise ReviewRefused("This draft no longer exists.", code="gone")
    locked = lock_enrollment(message.enrollment_id)
    db.session.refresh(message)
    if message.status != "pending_approval" or locked is None:
        reason = already_reviewed(message)
        db.session.rollback()
        raise ReviewRefused(reason, code="reviewed")
    return message, *locked


def already_reviewed(message: OutboundMessage) -> str:
    """Who handled a draft that no longer waits for review, and how ("Already approved by Rita at 10:04…")."""
    from nurture_ui.models import User

    reviewer = db.session.get(User, message.reviewer_id) if message.reviewer_id else None
    at = f" at {message.reviewed_at:%H:%M on %b %-d}" if message.reviewed_at else ""
    who = f"{reviewer.name}{at}" if reviewer else f"someone else{at}"
    if message.status == "rejected":
        return f"Already rejected by {who}."
    if message.status == "cancelled":
        return f"This draft was cancelled: {message.error or 'its enrollment ended'}."
    return f"Already approved by {who}."


def _last_outbound_to(lead_id: uuid.UUID, *, other_than: uuid.UUID) -> datetime | None:
    from nurture_ui.engine.executor import CAPPED_MESSAGE_STATUSES

    rows = db.session.execute(
        sa.select(OutboundMessage.sent_at, OutboundMessage.queued_at).where(
            OutboundMessage.lead_id == lead_id,
            OutboundMessage.id != other_than,
            OutboundMessage.status.in_(CAPPED_MESSAGE_STATUSES),
        )
    ).all()
    instants = [r.sent_at or r.queued_at for r in rows if r.sent_at or r.queued_at]
    return max(instants) if instants else None


def _hold(message: OutboundMessage, lead: Lead, tenant: Tenant, now: datetime) -> tuple[datetime, str] | None:
    """When an approved draft may go, if not now: after the lead's frequency cap, in the send window."""
    from nurture_ui.engine.stops import send_hold

    last = _last_outbound_to(lead.id, other_than=message.id)
    sequence = db.session.get(Sequence, message.sequence_id) if message.sequence_id else None
    hold = send_hold(last_sent=last, tenant=tenant, lead_timezone=lead.timezone, now=now, sequence=sequence)
    return (hold.until, hold.reason) if hold is not None else None


def owner_mailbox_id(owner_id: uuid.UUID | None) -> uuid.UUID | None:
    """The enabled mailbox the lead's owner sends from, if they have one (their leads' emails go from it)."""
    from nurture_ui.engine.executor import owner_mailbox_ids

    return owner_mailbox_ids([owner_id]).get(owner_id)


def _reply_since(lead: Lead, since: datetime, now: datetime) -> LeadReply | None:
    return db.session.scalars(
        sa.select(LeadReply)
        .where(
            LeadReply.lead_id == lead.id,
            LeadReply.received_at >= since,
            LeadReply.received_at <= now,
            LeadReply.sentiment != "out_of_office",
        )
        .order_by(LeadReply.received_at.desc())
        .limit(1)
    ).first()


def approve_message(
    message_id: uuid.UUID,
    *,
    reviewer_id: uuid.UUID | None,
    now: datetime,
    enqueue_send: bool = True,
    subject: str | None = None,
    body: str | None = None,
    despite_reply: bool = False,
    hold_for: timedelta = timedelta(0),
) -> Approval:
    """Approve a ``pending_approval`` draft (with the reviewer's edits, if any) and resume its enrollment.
    Commits.

    The lead is checked again first. When it may no longer be mailed (converted, unsubscribed, do not contact,
    a positive reply, …) the enrollment exits, the draft is cancelled and ``ReviewRefused("stopped")`` says
    why. When it replied after the draft was written, the draft keeps waiting (``ReviewRefused("replied")``)
    unless ``despite_reply``. Within the lead's frequency cap, or outside the send window, the draft is
    approved but held: the enrollment waits and the engine sends it when it may go. Every approval leaves an
    activity with the reviewer. A draft someone else already handled raises ``ReviewRefused("reviewed")``
    naming them.

    ``hold_for`` (the reviewer's undo window, ``review_undo``) keeps the email from going before
    ``now + hold_for``: a queued email gets that ``send_after`` and no send job (the outbox sweep hands it
    out when the time comes), a held one is not due before it.
    """
    message, enrollment, lead = _lock_draft(message_id)
    if enrollment.is_live:
        reason = _stop_reason(enrollment, lead, now)
        if reason:
            exit_in_session(enrollment, reason=reason, now=now, actor_id=reviewer_id)
            db.session.commit()
            raise ReviewRefused(
                f"Not sent to {lead.name}: {reasons.exit_reason(reason).lower()}, so the enrollment has ended.",
                code="stopped",
            )
    if has_pending_reply(lead.id):
        # Not even "send anyway": the reply may be an opt-out nobody has read yet.
        db.session.rollback()
        raise ReviewRefused(
            f"Not sent: {lead.name} sent a reply that waits to be sorted (Inbox → Replies to sort). "
            "Sort it first; the draft waits here.",
            code="triage",
        )
    reply = None if despite_reply else _reply_since(lead, message.created_at, now)
    if reply is not None:
        note = f"{lead.name} replied on {reply.received_at:%b %-d} after this draft was written."
        message.review_reason = f"{note} Read the reply before sending."[:255]
        db.session.commit()
        raise ReviewRefused(
            f"Not sent yet: {note} Read the reply, then send anyway or reject.", code="replied"
        )

    edited = False
    if subject is not None or body is not None:
        new_subject = " ".join((subject if subject is not None else message.subject).split())
        new_body = (body if body is not None else message.body).replace("\r\n", "\n")
        if not new_subject or not new_body.strip():
            db.session.rollback()
            raise ReviewRefused("An email needs a subject and a body.", code="invalid")
        if len(new_subject) > 998:
            db.session.rollback()
            raise ReviewRefused("The subject is too long.", code="invalid")
        edited = (new_subject, new_body) != (message.subject, message.body)
        message.subject, message.body = new_subject, new_body

    tenant = db.session.get(Tenant, enrollment.tenant_id)
    hold = _hold(message, lead, tenant, now)
    message.reviewer_id = reviewer_id
    message.reviewed_at = now
    message.review_note = "edited before approval" if edited else None
    message.updated_at = now
    waiting_on_this = (
        enrollment.status == "paused"
        and enrollment.pause_reason == "approval"
        and enrollment.current_step_order == message.step_order
    )
    details = {
        "message": str(message.id),
        **({"edited": True} if edited else {}),
        **({"variant": message.variant} if message.variant else {}),
    }
    if hold is not None:
        held_until, hold_reason = hold
        held_until = max(held_until, now + hold_for)
        message.status = "approved"
        if waiting_on_this:
            activity.record_for_enrollment(
                "nurture_resumed",
                enrollment,
                actor_id=reviewer_id,
                occurred_at=now,
                data={"step": message.step_order, "reason": "approved", **details},
            )
            enrollment.status = "active"
            enrollment.pause_reason = None
            reschedule_in_session(enrollment, due=held_until, now=now, reason=hold_reason)
        else:
            # The enrollment waits on something else (an out-of-office pause, say) and stays as it is; the
            # engine sends the draft when the enrollment is back at this step. The approval is logged alone.
            activity.record_for_enrollment(
                "message_approved",
                enrollment,
                actor_id=reviewer_id,
                occurred_at=now,
                data={
                    "step": message.step_order,
                    "held_until": held_until.isoformat(),
                    "hold_reason": hold_reason,
                    **details,
                },
            )
        db.session.commit()
        return Approval(message, edited=edited, held_until=held_until, hold_reason=hold_reason)

    message.status = "queued"
    message.queued_at = now
    message.mailbox_id = owner_mailbox_id(lead.owner_id)
    send_now = enqueue_send
    if hold_for > timedelta(0):
        message.send_after = now + hold_for
        send_now = False
    activity.record_for_enrollment(
        "nurture_step_executed",
        enrollment,
        actor_id=reviewer_id,
        occurred_at=now,
        data={"step": message.step_order, "channel": "email", "approved": True, **details},
    )
    if waiting_on_this:
        _resume_in_session(
            enrollment,
            lead,
            after_step=message.step_order,
            now=now,
            actor_id=reviewer_id,
            data={"reason": "approved", **details},
        )
    db.session.commit()
    if send_now:
        from nurture_ui.jobs import enqueue_send

        enqueue_send([message.id], tenant_id=message.tenant_id)
    return Approval(message, edited=edited)


def reject_message(
    message_id: uuid.UUID,
    *,
    reviewer_id: uuid.UUID | None,
    now: datetime,
    action: str,
    note: str | None = None,
) -> Rejection:
    """Reject a ``pending_approval`` draft; it is never sent. Commits.

    ``action="skip"``: the enrollment moves on to the next step (timed from now), or completes after the
    last. ``action="exit"``: the enrollment exits through ``lifecycle.exit_enrollment`` (reason
    ``rejected_in_review``). Both are logged with the reviewer. A draft someone else already handled raises
    ``ReviewRefused("reviewed")``.
    """
    if action not in REJECT_ACTIONS:
        raise ReviewRefused("Choose whether to skip this step or exit this lead.", code="invalid")
    message, enrollment, lead = _lock_draft(message_id)
    note = (note or "").strip()[:1000] or None
    message.status = "rejected"
    message.reviewer_id = reviewer_id
    message.reviewed_at = now
    message.review_note = note
    message.updated_at = now
    waiting_on_this = (
        enrollment.status == "paused"
        and enrollment.pause_reason == "approval"
        and enrollment.current_step_order == message.step_order
    )
    details = {"message": str(message.id), "action": action, **({"note": note} if note else {})}
    activity.record_for_enrollment(
        "nurture_step_executed",
        enrollment,
        actor_id=reviewer_id,
        occurred_at=now,
        data={"step": message.step_order, "channel": "email", "outcome": "rejected", **details},
    )
    outcome = "unchanged"
    if action == "exit":
        if exit_in_session(enrollment, reason="rejected_in_review", now=now, actor_id=reviewer_id):
            outcome = "exited"
    elif waiting_on_this:
        outcome = _resume_in_session(
            enrollment,
            lead,
            after_step=message.step_order,
            now=now,
            actor_id=reviewer_id,
            data={"reason": "rejected", **details},
        )
    db.session.commit()
    return Rejection(message, action, outcome)


def complete_task(
    task_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    now: datetime,
    outcome: str | None = None,
    skipped: bool = False,
) -> Task:
    """Close an open task (done with ``outcome``, or skipped) and resume the enrollment that waits on it: its
    next step is timed from ``now``. Commits. A call reminder done needs one of ``CALL_OUTCOMES``; a task
    already closed raises ``TransitionRefused`` naming who closed it."""
    task = db.session.get(Task, task_id)
    if task is None:
        raise TransitionRefused("no such task")
    if task.kind == "call_reminder" and not skipped and outcome not in CALL_OUTCOMES:
        raise TransitionRefused(
            "Choose how the call went: " + ", ".join(CALL_OUTCOMES).replace("_", " ") + "."
        )
    locked = lock_enrollment(task.enrollment_id) if task.enrollment_id else None
    db.session.refresh(task)
    if task.status != "open":
        reason = _already_closed(task)
        db.session.rollback()
        raise TransitionRefused(reason)
    task.status = "skipped" if skipped else "done"
    task.outcome = outcome
    task.completed_at = now
    task.completed_by = user_id
    if locked:
        enrollment, lead = locked
        if (
            enrollment.status == "paused"
            and enrollment.pause_reason == "task"
            and enrollment.current_step_order == task.step_order
        ):
            reason = _stop_reason(enrollment, lead, now)
            if reason:
                exit_in_session(enrollment, reason=reason, now=now, actor_id=user_id)
                db.session.commit()
                return task
            _resume_in_session(
                enrollment,
                lead,
                after_step=task.step_order,
                now=now,
                actor_id=user_id,
                data={
                    "reason": "task_skipped" if skipped else "task_done",
                    "task": str(task.id),
                    **({"outcome": outcome} if outcome else {}),
                },
            )
    db.session.commit()
    return task


def _already_closed(task: Task) -> str:
    from nurture_ui.models import User

    user = db.session.get(User, task.completed_by) if task.completed_by else None
    verb = "skipped" if task.status == "skipped" else "done"
    if task.outcome == "enrollment_exited":
        return "This task was closed: its enrollment ended."
    return f"Already {verb}" + (f" by {user.name}." if user else ".")


def unsubscribe_lead(lead_id: uuid.UUID, *, now: datetime, source: str = "link") -> int:
    """Unsubscribe a lead (``signals.unsubscribe``: every live enrollment exits at once, every unsent message
    is cancelled) as one committed unit. Idempotent. Returns how many enrollments it ended."""
    from nurture_ui import signals

    lead = lock_lead(lead_id)
    if lead is None:
        raise TransitionRefused("no such lead")
    ended = signals.unsubscribe(lead, source=source, now=now)
    db.session.commit()
    return len(ended)
