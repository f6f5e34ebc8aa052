"""What waits for a person: the drafts of the approval inbox, the replies to sort (the triage queue) and
the open tasks of the task queue.

A rep sees the drafts of the leads they own and the tasks assigned to them; managers and admins see the whole
tenant's and may narrow it to one rep (and, for drafts, one sequence). Drafts come oldest first; tasks
overdue first (the earliest due first). The counts the sidebar shows use the same filters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from nurture_ui.extensions import db
from nurture_ui.models import Lead, LeadReply, OutboundMessage, Sequence, SequenceStep, Task, User

SEES_EVERYONE = frozenset({"admin", "manager"})


@dataclass(frozen=True)
class QueueFilters:
    """``rep``: a user id, "" for everyone (managers and admins only; a rep always sees their own)."""

    rep: uuid.UUID | None = None
    sequence: uuid.UUID | None = None

    def as_args(self) -> dict[str, str]:
        return {k: str(v) for k, v in (("rep", self.rep), ("sequence", self.sequence)) if v}


def _owner_scope(user: User, filters: QueueFilters) -> uuid.UUID | None:
    """Whose work ``user`` sees: their own unless they see everyone (then the chosen rep, or all)."""
    if user.role not in SEES_EVERYONE:
        return user.id
    return filters.rep


def _draft_filter(stmt: sa.Select, user: User, filters: QueueFilters) -> sa.Select:
    stmt = stmt.where(
        OutboundMessage.tenant_id == user.tenant_id, OutboundMessage.status == "pending_approval"
    )
    owner = _owner_scope(user, filters)
    if owner is not None:  # a draft is the rep's whose lead it is; every draft has its lead (a foreign key)
        stmt = stmt.join(Lead, Lead.id == OutboundMessage.lead_id).where(Lead.owner_id == owner)
    if filters.sequence is not None:
        stmt = stmt.where(OutboundMessage.sequence_id == filters.sequence)
    return stmt


def drafts_query(user: User, filters: QueueFilters = QueueFilters()) -> sa.Select:
    """Pending drafts ``user`` may review, oldest first, with lead (and owner) and sequence loaded."""
    return (
        _draft_filter(sa.select(OutboundMessage), user, filters)
        .options(joinedload(OutboundMessage.lead), joinedload(OutboundMessage.sequence))
        .order_by(OutboundMessage.created_at, OutboundMessage.id)
    )


def draft_count(user: User, filters: QueueFilters = QueueFilters()) -> int:
    return (
        db.session.scalar(
            _draft_filter(sa.select(sa.func.count()).select_from(OutboundMessage), user, filters)
        )
        or 0
    )


def drafts_by_ids(user: User, ids: list[uuid.UUID]) -> list[OutboundMessage]:
    """Those of ``ids`` that are pending drafts ``user`` may review (anything else is left out)."""
    return list(db.session.scalars(drafts_query(user).where(OutboundMessage.id.in_(ids))).unique())


def _reply_filter(stmt: sa.Select, user: User, filters: QueueFilters) -> sa.Select:
    # (tenant_id, triage, received_at) is indexed: the count and the oldest-first page read only that.
    stmt = stmt.where(LeadReply.tenant_id == user.tenant_id, LeadReply.triage == "pending")
    owner = _owner_scope(user, filters)
    if owner is not None:
        stmt = stmt.join(Lead, Lead.id == LeadReply.lead_id).where(Lead.owner_id == owner)
    return stmt


def replies_to_sort_query(user: User, filters: QueueFilters = QueueFilters()) -> sa.Select:
    """Replies waiting for a person to sort them that ``user`` may sort (a rep: their own leads'), oldest
    first, with the lead loaded."""
    return (
        _reply_filter(sa.select(LeadReply), user, filters)
        .options(joinedload(LeadReply.lead))
        .order_by(LeadReply.received_at, LeadReply.id)
    )


def reply_to_sort_count(user: User, filters: QueueFilters = QueueFilters()) -> int:
    return (
        db.session.scalar(_reply_filter(sa.select(sa.func.count()).select_from(LeadReply), user, filters))
        or 0
    )


def step_counts(sequence_ids) -> dict[uuid.UUID, int]:
    """How many steps each sequence has ("step 2 of 5")."""
    if not sequence_ids:
        return {}
    return dict(
        db.session.execute(
            sa.select(SequenceStep.sequence_id, sa.func.count())
            .where(SequenceStep.sequence_id.in_(set(sequence_ids)))
            .group_by(SequenceStep.sequence_id)
        ).all()
    )


def _task_filter(stmt: sa.Select, user: User, filters: QueueFilters) -> sa.Select:
    stmt = stmt.where(Task.tenant_id == user.tenant_id, Task.status == "open")
    owner = _owner_scope(user, filters)
    if owner is not None:
        stmt = stmt.where(Task.assignee_id == owner)
    return stmt


def tasks_query(user: User, filters: QueueFilters = QueueFilters()) -> sa.Select:
    """Open tasks and call reminders ``user`` works on, overdue first (earliest due first)."""
    return (
        _task_filter(sa.select(Task), user, filters)
        .options(joinedload(Task.lead), joinedload(Task.assignee))
        .order_by(Task.due_at, Task.created_at, Task.id)
    )


def task_count(user: User, filters: QueueFilters = QueueFilters()) -> int:
    return db.session.scalar(_task_filter(sa.select(sa.func.count()).select_from(Task), user, filters)) or 0


@dataclass(frozen=True)
class TaskContext:
    """What a rep wants to see beside a task: where the lead is in its sequence and the last email."""

    sequence_name: str | None
    step_order: int | None
    step_total: int | None
    last_email_subject: str | None
    last_email_at: datetime | None


def task_contexts(tasks: list[Task]) -> dict[uuid.UUID, TaskContext]:
    """Context for each task, in three queries whatever the number of tasks."""
    from nurture_ui.models import Enrollment

    enrollment_ids = {t.enrollment_id for t in tasks if t.enrollment_id}
    sequences = (
        dict(
            db.session.execute(
                sa.select(Enrollment.id, Sequence)
                .join(Sequence, Sequence.id == Enrollment.sequence_id)
                .where(Enrollment.id.in_(enrollment_ids))
            ).all()
        )
        if enrollment_ids
        else {}
    )
    totals = step_counts({s.id for s in sequences.values()})
    lead_ids = {t.lead_id for t in tasks}
    last_emails: dict[uuid.UUID, tuple[str, datetime]] = {}
    if lead_ids:
        # Emails that went or are going out; each lead's latest wins.
        for lead_id, subject, sent_at, queued_at in db.session.execute(
            sa.select(
                OutboundMessage.lead_id,
                OutboundMessage.subject,
                OutboundMessage.sent_at,
                OutboundMessage.queued_at,
            ).where(
                OutboundMessage.lead_id.in_(lead_ids),
                OutboundMessage.status.in_(("queued", "sending", "sent", "unknown")),
            )
        ):
            at = sent_at or queued_at
            if at is not None and (lead_id not in last_emails or at > last_emails[lead_id][1]):
                last_emails[lead_id] = (subject, at)
    result = {}
    for task in tasks:
        sequence = sequences.get(task.enrollment_id)
        subject, sent_at = last_emails.get(task.lead_id, (None, None))
        result[task.id] = TaskContext(
            sequence_name=sequence.name if sequence else None,
            step_order=task.step_order,
            step_total=totals.get(sequence.id) if sequence else None,
            last_email_subject=subject,
            last_email_at=sent_at,
        )
    return result


def reps(tenant_id: uuid.UUID) -> list[User]:
    """The people work can be filtered by (everyone who may own leads or hold tasks)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.tenant_id == tenant_id, User.is_active_user.is_(True), User.role != "marketer")
            .order_by(User.name)
        )
    )


@dataclass(frozen=True)
class ReplyContext:
    """What a person needs beside a reply to sort it: the lead's live sequences and why the classifier
    guessed what it did."""

    sequences: list[tuple[str, str]]  # (sequence name, enrollment status) of the lead's live enrollments
    because: str


def reply_contexts(replies: list[LeadReply]) -> dict[uuid.UUID, ReplyContext]:
    """Context for each reply, in two queries whatever the number of replies."""
    from nurture_ui.models import LIVE_STATUSES, Activity, Enrollment

    lead_ids = {r.lead_id for r in replies}
    if not lead_ids:
        return {}
    live: dict[uuid.UUID, list[tuple[str, str]]] = {}
    for lead_id, name, status in db.session.execute(
        sa.select(Enrollment.lead_id, Sequence.name, Enrollment.status)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Enrollment.lead_id.in_(lead_ids), Enrollment.status.in_(LIVE_STATUSES))
        .order_by(Sequence.name)
    ):
        live.setdefault(lead_id, []).append((name, status))
    because: dict[str, str] = {}
    for data in db.session.scalars(
        sa.select(Activity.data).where(Activity.lead_id.in_(lead_ids), Activity.type == "reply_received")
    ):
        if (data or {}).get("reply_id"):
            because[data["reply_id"]] = data.get("because") or ""
    return {
        r.id: ReplyContext(sequences=live.get(r.lead_id, []), because=because.get(str(r.id), ""))
        for r in replies
    }
