from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, TenantMixin, TimestampMixin, UTCDateTime, enum, tenant_column

ENROLLMENT_STATUSES = ("active", "paused", "completed", "exited")
LIVE_STATUSES = ("active", "paused")

_live = sa.text("status IN ('active', 'paused')")


class Enrollment(IdMixin, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "lead_nurture_enrollments"
    __table_args__ = (
        # The dispatcher's scan: due active rows in time order.
        sa.Index("ix_enrollments_status_next_step_on", "status", "next_step_on"),
        # At most one live enrollment per lead, whatever races: the database refuses a second.
        sa.Index(
            "uq_enrollments_one_live_per_lead",
            "lead_id",
            unique=True,
            postgresql_where=_live,
            sqlite_where=_live,
        ),
        sa.Index("ix_enrollments_sequence_status", "sequence_id", "status"),
        # Who left a sequence lately (the cooldowns of eligibility): a range of the index, not every row
        # of the table, for the builder's count and auto-enrollment (migration 0013).
        sa.Index(
            "ix_enrollments_status_ended_on",
            "status",
            "ended_on",
            postgresql_include=["lead_id", "sequence_id"],
        ),
        sa.Index("ix_enrollments_lead_sequence", "lead_id", "sequence_id"),
        # A sequence's cohort for its performance figures: enrollments started in a date range, with every
        # column the figures read, so PostgreSQL answers them from the index alone.
        sa.Index(
            "ix_enrollments_sequence_enrolled_on",
            "sequence_id",
            "enrolled_on",
            postgresql_include=["id", "tenant_id", "status", "lead_id", "ended_on", "exit_reason"],
        ),
        # The cohorts of all the tenant's sequences at once (the manager overview), likewise.
        sa.Index(
            "ix_enrollments_tenant_enrolled_on",
            "tenant_id",
            "enrolled_on",
            postgresql_include=["sequence_id", "status", "lead_id", "ended_on"],
        ),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(
        index=False
    )  # ix_enrollments_tenant_enrolled_on leads with it
    lead_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_sequences.id", ondelete="CASCADE"), nullable=False
    )
    current_step_order: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(
        enum(*ENROLLMENT_STATUSES, name="enrollment_status"), nullable=False, default="active"
    )
    enrolled_on: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    next_step_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(sa.String(255))
    pause_reason: Mapped[str | None] = mapped_column(sa.String(255))
    # A paused enrollment with this set resumes by itself then (an out-of-office reply).
    resume_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The dispatcher's claim: while in the future, no other tick may take this row.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolled_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    lead = relationship("Lead")
    sequence = relationship("Sequence")

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def __repr__(self) -> str:
        return f"<Enrollment {self.id} {self.status} step={self.current_step_order}>"
