"""The enrollment's state changes that more than one door needs: advance, exit, resume, unsubscribe.

Functions named ``…_in_session`` run inside the caller's transaction and only add to the session; the others
(``approve_message``, ``complete_task``, ``unsubscribe_lead``) are whole units of work and commit. Every
change writes its ``nurture_*`` activity beside it, so it commits or rolls back with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from nurture_ui import activity
from nurture_ui.engine.schedule import step_due_at
from nurture_ui.extensions import db
from nurture_ui.lifecycle import exit_enrollment
from nurture_ui.models import Enrollment, Lead, LeadReply, OutboundMessage, Sequence, Task, Tenant


class TransitionRefused(Exception):
    """The change asked for does not apply to the row as it is now (already handled, wrong state, …)."""


def lock_enrollment(enrollment_id: uuid.UUID) -> tuple[Enrollment, Lead] | None:
    """Load an enrollment and its lead afresh with the enrollment row locked for this transaction.

    PostgreSQL locks the row (``SELECT … FOR UPDATE``). SQLite has no row locks: a no-op UPDATE first takes
    the database's write lock, so the read that follows cannot be overtaken by another writer.
    """
    session = db.session
    if db.engine.dialect.name == "sqlite":
        table = Enrollment.__table__
        session.execute(
            sa.update(table).where(table.c.id == enrollment_id).values(lease_until=table.c.lease_until)
        )
    row = session.execute(
        sa.select(Enrollment, Lead)
        .join(Lead, Lead.id == Enrollment.lead_id)
        .where(Enrollment.id == enrollment_id)
        .with_for_update(of=Enrollment)
        .execution_options(populate_existing=True)
    ).first()
    return (row[0], row[1]) if row else None


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
) -> str:
    """Point the enrollment at the step after ``after_step``, due after its delay; or complete it.

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
    due = step_due_at(
        now + timedelta(hours=step.delay_hours), step.channel, lead_timezone=lead_timezone, tenant=tenant
    )
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
) -> None:
    """End the enrollment as ``exited`` with ``reason`` through ``lifecycle.exit_enrollment``, the one stop
    every door uses (unsent messages cancelled, open tasks closed, ``nurture_exited`` logged)."""
    exit_enrollment(enrollment, reason, actor_id=actor_id, now=now)


def _stop_reason(enrollment: Enrollment, lead: Lead, now: datetime) -> str | None:
    from nurture_ui.engine.stops import exit_reason

    sequence = db.session.get(Sequence, enrollment.sequence_id)
    replies = db.session.scalars(sa.select(LeadReply).where(LeadReply.lead_id == lead.id)).all()
    return exit_reason(lead, sequence, enrolled_on=enrollment.enrolled_on, replies=replies, now=now)


def _resume_in_session(
    enrollment: Enrollment,
    lead: Lead,
    *,
    after_step: int,
    now: datetime,
    actor_id: uuid.UUID | None,
    data: dict,
) -> str:
    """Resume a paused enrollment after a person finished its step; the next step is timed from ``now``."""
    sequence = db.session.get(Sequence, enrollment.sequence_id)
    tenant = db.session.get(Tenant, enrollment.tenant_id)
    activity.record_for_enrollment(
        "nurture_resumed",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={"step": after_step, **data},
    )
    return advance_in_session(
        enrollment,
        sequence.steps,
        after_step=after_step,
        now=now,
        lead_timezone=lead.timezone,
        tenant=tenant,
        actor_id=actor_id,
    )


def approve_message(
    message_id: uuid.UUID, *, reviewer_id: uuid.UUID | None, now: datetime, enqueue_send: bool = True
) -> OutboundMessage:
    """Approve a ``pending_approval`` draft: it is queued for sending and its enrollment resumes. Commits.

    The lead is checked again first: when it must no longer be mailed, the enrollment exits and the draft is
    cancelled instead. Raises ``TransitionRefused`` for a draft that is not pending approval.
    """
    message = db.session.get(OutboundMessage, message_id)
    if message is None:
        raise TransitionRefused("no such message")
    locked = lock_enrollment(message.enrollment_id)
    db.session.refresh(message)
    if message.status != "pending_approval" or locked is None:
        db.session.rollback()
        raise TransitionRefused(f"the message is {message.status}, not waiting for approval")
    enrollment, lead = locked
    if enrollment.is_live:
        reason = _stop_reason(enrollment, lead, now)
        if reason:
            # The lead may no longer be mailed: the draft is cancelled with the enrollment's exit.
            exit_in_session(enrollment, reason=reason, now=now, actor_id=reviewer_id)
            db.session.commit()
            db.session.refresh(message)
            return message
    message.reviewer_id = reviewer_id
    message.reviewed_at = now
    message.status = "queued"
    message.queued_at = now
    activity.record_for_enrollment(
        "nurture_step_executed",
        enrollment,
        actor_id=reviewer_id,
        occurred_at=now,
        data={"step": message.step_order, "channel": "email", "message": str(message.id), "approved": True},
    )
    if (
        enrollment.status == "paused"
        and enrollment.pause_reason == "approval"
        and enrollment.current_step_order == message.step_order
    ):
        _resume_in_session(
            enrollment,
            lead,
            after_step=message.step_order,
            now=now,
            actor_id=reviewer_id,
            data={"reason": "approved", "message": str(message.id)},
        )
    db.session.commit()
    if enqueue_send:
        from nurture_ui.jobs import enqueue_send

        enqueue_send([message.id])
    return message


def complete_task(
    task_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    now: datetime,
    outcome: str | None = None,
    skipped: bool = False,
) -> Task:
    """Close an open task (done, or skipped) and resume the enrollment that waits on it. Commits."""
    task = db.session.get(Task, task_id)
    if task is None:
        raise TransitionRefused("no such task")
    locked = lock_enrollment(task.enrollment_id) if task.enrollment_id else None
    db.session.refresh(task)
    if task.status != "open":
        db.session.rollback()
        raise TransitionRefused(f"the task is {task.status} already")
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
                data={"reason": "task_skipped" if skipped else "task_done", "task": str(task.id)},
            )
    db.session.commit()
    return task


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
