"""Find due enrollments and hand them out in batches, each row to exactly one claimant.

A claim is a lease: ``lease_until`` in the future keeps other ticks off the row. A worker that dies
mid-batch never releases its rows; its lease simply expires and a later tick claims them again, and the
executor's re-check under the row lock makes the second attempt finish, not repeat, the work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nurture_ui import clock
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, Sequence

# Enrollments of these sequences are worked on; archived ones only to exit them.
_RUNNING_SEQUENCE_STATUSES = ("active", "archived")

_CLAIM_SQL_POSTGRESQL = sa.text(
    """
    WITH due AS (
        SELECT e.id
        FROM lead_nurture_enrollments AS e
        JOIN lead_nurture_sequences AS s ON s.id = e.sequence_id
        WHERE e.status = 'active'
          AND e.next_step_on <= :now
          AND (e.lease_until IS NULL OR e.lease_until < :now)
          AND s.status IN ('active', 'archived')
        ORDER BY e.next_step_on
        LIMIT :limit
        FOR UPDATE OF e SKIP LOCKED
    )
    UPDATE lead_nurture_enrollments AS e
    SET lease_until = :lease_until
    FROM due
    WHERE e.id = due.id
    RETURNING e.id, e.tenant_id
    """
)


def claim_due_enrollments(now: datetime, limit: int, lease: timedelta) -> list[uuid.UUID]:
    """Lease up to ``limit`` due active enrollments until ``now + lease`` and return their ids. Commits.

    Two claimants running at once never get the same row: PostgreSQL skips rows another transaction has
    locked; SQLite runs the single conditional UPDATE under its one-writer lock.
    """
    return [claimed.id for claimed in claim_due(now, limit, lease)]


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    tenant_id: uuid.UUID


def claim_due(now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """``claim_due_enrollments``, with each claimed row's tenant (the dispatcher groups batches by it)."""
    until = now + lease
    if db.engine.dialect.name == "postgresql":
        rows = db.session.execute(
            _CLAIM_SQL_POSTGRESQL, {"now": now, "limit": limit, "lease_until": until}
        ).all()
    else:
        rows = _claim_portably(now, limit, until)
    db.session.commit()
    return [Claimed(uuid.UUID(str(i)), uuid.UUID(str(t))) for i, t in rows]


def _claim_portably(now: datetime, limit: int, until: datetime) -> list:
    """One conditional UPDATE over the due ids; its RETURNING says which rows this claim actually took."""
    table = Enrollment.__table__
    due = (
        sa.select(table.c.id)
        .join(Sequence.__table__, Sequence.__table__.c.id == table.c.sequence_id)
        .where(
            table.c.status == "active",
            table.c.next_step_on <= now,
            sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now),
            Sequence.__table__.c.status.in_(_RUNNING_SEQUENCE_STATUSES),
        )
        .order_by(table.c.next_step_on)
        .limit(limit)
    )
    claim = (
        sa.update(table)
        .where(
            table.c.id.in_(due.scalar_subquery()),
            # Repeated so the UPDATE itself is the check, whatever happened since the SELECT was planned.
            table.c.status == "active",
            sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        .values(lease_until=until)
        .returning(table.c.id, table.c.tenant_id)
    )
    return db.session.execute(claim).all()


@dataclass
class DispatchReport:
    batches: list[list[uuid.UUID]] = field(default_factory=list)
    requeued_messages: int = 0
    unknown_messages: int = 0

    @property
    def claimed(self) -> int:
        return sum(len(b) for b in self.batches)


def dispatch_due(now: datetime | None = None, *, enqueue: bool = True) -> DispatchReport:
    """One scheduler tick: claim due enrollments and enqueue one executor job per batch of one tenant.

    A tick tops the queue up to ``ENGINE_MAX_BATCHES_PER_TICK`` jobs rather than adding that many: when
    the workers fall behind (a million steps due at once), rows are claimed shortly before a worker takes
    them, so leases do not run out in the queue and each claim skips few leased rows.

    Each executor job holds one tenant's enrollments, so each job is attributable to one tenant (its
    engine figures and its retry button see only its own jobs: nurture_ui.job_tenancy). Claims still take
    the due rows of all tenants in due order, ``ENGINE_BATCH_SIZE`` at a time; the claimed rows are sorted
    into one pending batch per tenant, and a tenant's batch is enqueued the moment it is full. What is
    left when the tick ends (at most one partial batch per tenant) is enqueued then. So one tenant's
    20,000 due rows still make full batches, and a mix of tenants costs at most one extra, smaller job
    per tenant per tick.

    Also sweeps the outbox: messages left ``queued`` without a live send job are handed to a new one, and
    messages stuck in ``sending`` by a crash become ``unknown`` (never resent automatically).
    """
    from nurture_ui import mailer

    explicit_now = now
    now = now or clock.now()
    config = current_app.config
    batch_size = int(config.get("ENGINE_BATCH_SIZE", 200))
    max_batches = int(config.get("ENGINE_MAX_BATCHES_PER_TICK", 50))
    lease = timedelta(seconds=int(config.get("ENGINE_LEASE_SECONDS", 300)))
    report = DispatchReport()
    if enqueue:
        from nurture_ui.extensions import get_queue

        max_batches -= get_queue().count

    def hand_out(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
        report.batches.append(ids)
        if enqueue:
            from nurture_ui.jobs import enqueue_execute

            enqueue_execute(ids, tenant_id, explicit_now)

    pending: dict[uuid.UUID, list[uuid.UUID]] = {}
    for _ in range(max_batches):
        claimed = claim_due(now, batch_size, lease)
        for row in claimed:
            batch = pending.setdefault(row.tenant_id, [])
            batch.append(row.id)
            if len(batch) == batch_size:
                hand_out(row.tenant_id, pending.pop(row.tenant_id))
        if len(claimed) < batch_size:
            break
    for tenant_id, ids in pending.items():
        hand_out(tenant_id, ids)
    report.unknown_messages = mailer.mark_stuck_sending_unknown(now)
    if enqueue:
        report.requeued_messages = mailer.requeue_stale_queued(now, explicit_now=explicit_now)
    return report
