from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, JSONType, TenantMixin, UTCDateTime, tenant_column

# The SPEC's traceability set; other types (message_sent, reply_received, lead_updated, …) sit beside them.
NURTURE_ACTIVITY_TYPES = (
    "nurture_enrolled",
    "nurture_step_scheduled",
    "nurture_step_executed",
    "nurture_paused",
    "nurture_resumed",
    "nurture_exited",
)


_STEP_RUN = sa.text("type = 'nurture_step_executed'")


class Activity(IdMixin, TenantMixin, db.Model):
    """One line of the trace. Written in the same transaction as the change it records; never updated."""

    __tablename__ = "activities"
    # ``seq`` is filled by the database and read back only when used: no RETURNING, so a flush of many
    # activities is one pipelined executemany instead of one enormous multi-row INSERT.
    __mapper_args__ = {"eager_defaults": False}
    __table_args__ = (
        sa.Index("ix_activities_enrollment_time", "enrollment_id", "occurred_at"),
        sa.Index("ix_activities_lead_time", "lead_id", "occurred_at"),
        sa.Index("ix_activities_sequence_type_time", "sequence_id", "type", "occurred_at"),
        sa.Index("ix_activities_tenant_time", "tenant_id", "occurred_at"),
        # The steps that ran, per sequence (performance figures): on PostgreSQL an index-only scan.
        sa.Index(
            "ix_activities_step_runs",
            "sequence_id",
            "occurred_at",
            postgresql_include=["enrollment_id", "data"],
            postgresql_where=_STEP_RUN,
            sqlite_where=_STEP_RUN,
        ),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=False)  # ix_activities_tenant_time leads with it
    type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("leads.id", ondelete="CASCADE"))
    enrollment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_enrollments.id", ondelete="CASCADE")
    )
    sequence_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_sequences.id", ondelete="CASCADE")
    )
    # None means the system (the engine, a scheduled job, an API event).
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Insertion order, filled by the database (a sequence on PostgreSQL, the rowid on SQLite; migration
    # 0004): activities of one transaction share ``occurred_at``, and this keeps them in the order written.
    seq: Mapped[int | None] = mapped_column(sa.BigInteger, server_default=sa.FetchedValue())
    data: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)

    actor = relationship("User")


# The order a timeline reads activities in: time, then the order they were written.
TIMELINE_ORDER = (Activity.occurred_at, Activity.seq)
