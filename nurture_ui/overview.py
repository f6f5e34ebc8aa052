"""The manager's overview: what is waiting on people, and whether the engine is well.

Every figure is one aggregate query over an index (drafts by tenant and status, tasks by tenant, status and
due date, messages by tenant and status); the oldest item per rep comes from a window function, not from
loading the rows. The engine's health reads the tenant's own jobs of the RQ queue (nurture_ui.job_tenancy)
and the dispatcher's heartbeat from Redis.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from redis.exceptions import RedisError

from nurture_ui.engine.heartbeat import Heartbeat, last_dispatch
from nurture_ui.extensions import db, get_queue
from nurture_ui.models import Lead, OutboundMessage, Sequence, Task, User
from nurture_ui.models.base import aware_utc
from nurture_ui.reports import DateRange, Headline, headlines

PROBLEM_STATUSES = ("unknown", "failed")
PROBLEMS_SHOWN = 10


@dataclass
class Backlog:
    """Work waiting on one rep (``user`` None: leads nobody owns), and its oldest item."""

    user: User | None
    count: int
    oldest_at: datetime
    oldest_id: uuid.UUID
    oldest_enrollment_id: uuid.UUID | None
    oldest_lead_id: uuid.UUID


@dataclass
class EngineHealth:
    reachable: bool
    queued_jobs: int = 0
    running_jobs: int = 0
    failed_jobs: int = 0
    workers: int = 0
    last_dispatch: Heartbeat | None = None


def _users(ids) -> dict[uuid.UUID, User]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


def _oldest_per_person(person, when, stmt_from, where) -> list[tuple]:
    """(person, count, oldest time, oldest row's columns…) per person, oldest backlog first."""
    ranked = (
        sa.select(
            person.label("person"),
            when.label("at"),
            *stmt_from,
            sa.func.row_number().over(partition_by=person, order_by=(when, stmt_from[0])).label("rn"),
            sa.func.count().over(partition_by=person).label("n"),
        )
        .where(*where)
        .subquery()
    )
    return db.session.execute(sa.select(ranked).where(ranked.c.rn == 1).order_by(ranked.c.at)).all()


def approval_backlog(tenant_id: uuid.UUID) -> list[Backlog]:
    """Drafts waiting for approval per rep (the owner of the lead), with the oldest draft of each."""
    m = OutboundMessage
    # The owner looked up draft by draft (a primary-key probe each): a join would have the planner hash
    # every lead of the table to find the owners of a thousand drafts.
    owner = sa.select(Lead.owner_id).where(Lead.id == m.lead_id).scalar_subquery()
    rows = _oldest_per_person(
        owner,
        m.created_at,
        [m.id.label("item_id"), m.enrollment_id.label("enrollment_id"), m.lead_id.label("lead_id")],
        [m.tenant_id == tenant_id, m.status == "pending_approval"],
    )
    users = _users(r.person for r in rows)
    return [Backlog(users.get(r.person), int(r.n), r.at, r.item_id, r.enrollment_id, r.lead_id) for r in rows]


def overdue_tasks(tenant_id: uuid.UUID, now: datetime) -> list[Backlog]:
    """Open tasks past their due time per assignee, with the most overdue task of each."""
    rows = _oldest_per_person(
        Task.assignee_id,
        Task.due_at,
        [Task.id.label("item_id"), Task.enrollment_id.label("enrollment_id"), Task.lead_id.label("lead_id")],
        [Task.tenant_id == tenant_id, Task.status == "open", Task.due_at < now],
    )
    users = _users(r.person for r in rows)
    return [
        Backlog(users.get(r.person), int(r.n), aware_utc(r.at), r.item_id, r.enrollment_id, r.lead_id)
        for r in rows
    ]


def message_problems(tenant_id: uuid.UUID) -> tuple[dict[str, int], list[OutboundMessage]]:
    """How many messages are ``unknown`` or ``failed``, and the latest of them to look at."""
    m = OutboundMessage
    counts = dict.fromkeys(PROBLEM_STATUSES, 0)
    for status, count in db.session.execute(
        sa.select(m.status, sa.func.count())
        .where(m.tenant_id == tenant_id, m.status.in_(PROBLEM_STATUSES))
        .group_by(m.status)
    ).all():
        counts[status] = int(count)
    latest = list(
        db.session.scalars(
            sa.select(m)
            .where(m.tenant_id == tenant_id, m.status.in_(PROBLEM_STATUSES))
            .order_by(m.updated_at.desc())
            .limit(PROBLEMS_SHOWN)
        )
    )
    if latest:  # the names shown beside them, in one query
        lead_ids = {x.lead_id for x in latest}
        list(db.session.scalars(sa.select(Lead).where(Lead.id.in_(lead_ids))))
    return counts, latest


def engine_health(tenant_id: uuid.UUID) -> EngineHealth:
    """``tenant_id``'s jobs waiting, running and failed (nurture_ui.job_tenancy: other tenants' jobs and
    the scheduler's own are not counted), with the engine-wide signs of life every tenant depends on: the
    workers listening and the dispatcher's last tick (neither says anything about another tenant)."""
    from nurture_ui.job_tenancy import tenant_queue_figures

    try:
        figures = tenant_queue_figures(tenant_id)
        return health_from_counts(figures.queued, figures.running, figures.failed)
    except (RedisError, OSError):
        return EngineHealth(reachable=False)


def health_from_counts(queued: int, running: int, failed: int) -> EngineHealth:
    """Given job figures, with the workers listening and the dispatcher's last tick read from Redis."""
    from rq import Worker

    queue = get_queue()
    return EngineHealth(
        reachable=True,
        queued_jobs=queued,
        running_jobs=running,
        failed_jobs=failed,
        workers=Worker.count(connection=queue.connection, queue=queue),
        last_dispatch=last_dispatch(),
    )


def retry_failed_jobs(tenant_id: uuid.UUID) -> int:
    """Put ``tenant_id``'s failed jobs back on the queue, and no other tenant's (jobs take ids and re-check
    the rows, so a retry is safe)."""
    from nurture_ui.job_tenancy import retry_tenant_failed_jobs

    return retry_tenant_failed_jobs(tenant_id)


@dataclass
class SequenceRow:
    sequence: Sequence
    headline: Headline


def sequence_rows(tenant_id: uuid.UUID, span: DateRange, now: datetime) -> list[SequenceRow]:
    """Every sequence of the tenant (archived last) with its cohort's headline figures."""
    sequences = db.session.scalars(
        sa.select(Sequence)
        .where(Sequence.tenant_id == tenant_id)
        .order_by(sa.case((Sequence.status == "archived", 1), else_=0), Sequence.name)
    ).all()
    figures = headlines(tenant_id, span, now)
    return [SequenceRow(s, figures.get(s.id, Headline())) for s in sequences]
