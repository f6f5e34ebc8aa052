"""The rows the throughput benchmarks work on: a fresh tenant whose N leads each have one due email step.

``seed_due_steps`` makes the tenant, a one-email-step sequence, N leads and N active enrollments due now
(COPY on PostgreSQL, bulk inserts elsewhere), then vacuums the tables the engine writes. ``drop_tenant`` removes a benchmark tenant and everything
under it, table by table, so a later benchmark's dispatcher never finds another run's due rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate, Sequence, SequenceStep, Tenant

LEAD_COLUMNS = ("id", "tenant_id", "email", "first_name", "last_name", "company", "title", "phone", "status",
                "score", "score_band", "segment", "do_not_contact", "undeliverable", "created_at", "updated_at")  # fmt: skip
ENROLLMENT_COLUMNS = ("id", "tenant_id", "lead_id", "sequence_id", "current_step_order", "status",
                      "enrolled_on", "next_step_on", "created_at", "updated_at")  # fmt: skip


@dataclass
class DueSteps:
    tenant_id: uuid.UUID
    sequence_id: uuid.UUID
    count: int


def numbered_uuid(prefix: str, n: int) -> uuid.UUID:
    """``prefix`` (20 hex digits) followed by ``n`` in 12: ids a pgbench script can compute from a number."""
    return uuid.UUID(f"{prefix}{n:012x}")


def seed_due_steps(count: int, *, id_prefix: str | None = None, label: str = "engine") -> DueSteps:
    """A new tenant with ``count`` leads, each in a one-email-step sequence with the step due now. Commits.

    With ``id_prefix`` the i-th lead and enrollment (1-based) get ``numbered_uuid`` ids, leads under
    ``id_prefix`` and enrollments under the same prefix with its last digit flipped.
    """
    at = datetime.now(UTC)
    tenant = Tenant(
        name=f"Bench {label}",
        slug=f"bench-{label}-{uuid.uuid4().hex[:8]}",
        # Any hour, any day: the benchmark measures sending, not waiting for a window.
        policy={"send_window": {"days": list(range(7)), "start_hour": 0, "end_hour": 24}},
    )
    db.session.add(tenant)
    db.session.flush()
    db.session.add(
        EmailTemplate(
            tenant_id=tenant.id,
            key="intro",
            name="Intro",
            subject="Hi {{ lead.first_name }}",
            body="Hello {{ lead.first_name }} at {{ lead.company }},\n\nA short note about what we do.\n",
        )
    )
    sequence = Sequence(tenant_id=tenant.id, name=f"Bench {label}", status="active")
    sequence.steps = [SequenceStep(tenant_id=tenant.id, step_order=1, channel="email", template_id="intro")]
    db.session.add(sequence)
    db.session.commit()
    tenant_id, sequence_id = tenant.id, sequence.id
    slug = tenant.slug
    lead_prefix = id_prefix
    enrollment_prefix = id_prefix[:-1] + ("0" if id_prefix[-1] != "0" else "1") if id_prefix else None

    def lead_id(i):
        return numbered_uuid(lead_prefix, i) if lead_prefix else uuid.uuid4()

    def enrollment_id(i):
        return numbered_uuid(enrollment_prefix, i) if enrollment_prefix else uuid.uuid4()

    leads = [
        (lead_id(i), tenant_id, f"lead{i}@{slug}.test", f"Lead{i % 997}", "Bench", f"Company {i % 5000}",
         "", "", "new", 50, "warm", "SMB", False, False, at, at)
        for i in range(1, count + 1)
    ]  # fmt: skip
    enrollments = [
        (enrollment_id(i), tenant_id, leads[i - 1][0], sequence_id, 1, "active", at, at, at, at)
        for i in range(1, count + 1)
    ]
    _load("leads", LEAD_COLUMNS, leads)
    del leads
    _load("lead_nurture_enrollments", ENROLLMENT_COLUMNS, enrollments)
    db.session.commit()
    # Fresh statistics, and the dead rows an earlier run left behind cleared, so each run starts alike.
    from bench.generate import vacuum_analyze

    vacuum_analyze("leads", "lead_nurture_enrollments", "outbound_messages", "activities")
    return DueSteps(tenant_id, sequence_id, count)


def _load(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if db.engine.dialect.name == "postgresql":
        from bench.generate import _copy

        _copy(table, columns, rows)
        return
    target = db.metadata.tables[table]
    for start in range(0, len(rows), 5000):
        db.session.execute(
            sa.insert(target), [dict(zip(columns, r, strict=True)) for r in rows[start : start + 5000]]
        )


def drop_tenant(tenant_id: uuid.UUID) -> None:
    """Delete a benchmark tenant and all its rows in one transaction. Commits."""
    db.session.rollback()
    # Children first (the reverse of the foreign keys' order), so no cascade walks millions of rows.
    for table in reversed(db.metadata.sorted_tables):
        if "tenant_id" in table.c:
            db.session.execute(sa.delete(table).where(table.c.tenant_id == tenant_id))
    db.session.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))
    db.session.commit()


def foreign_due_enrollments(tenant_id: uuid.UUID | None = None) -> int:
    """Active enrollments due by now outside ``tenant_id``: another run's leftovers a dispatcher would take."""
    query = sa.text(
        "SELECT count(*) FROM lead_nurture_enrollments WHERE status = 'active' AND next_step_on <= now()"
        + (" AND tenant_id <> :t" if tenant_id else "")
    )
    return db.session.scalar(query, {"t": tenant_id} if tenant_id else {})
