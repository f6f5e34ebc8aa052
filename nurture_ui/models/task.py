from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, TenantMixin, TimestampMixin, UTCDateTime, enum

TASK_KINDS = ("task", "call_reminder")
TASK_STATUSES = ("open", "done", "skipped")
CALL_OUTCOMES = ("connected", "voicemail", "no_answer", "wrong_number")


class Task(IdMixin, TenantMixin, TimestampMixin, db.Model):
    """A human task or call reminder, usually made by a sequence step for the lead's owner."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.UniqueConstraint("enrollment_id", "step_order", name="uq_tasks_enrollment_step"),
        sa.Index("ix_tasks_assignee_status_due", "assignee_id", "status", "due_at"),
        sa.Index("ix_tasks_tenant_status_due", "tenant_id", "status", "due_at"),
        # A lead's tasks (its timeline), and the lookup behind deleting a lead.
        sa.Index("ix_tasks_lead_id", "lead_id"),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    enrollment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_enrollments.id", ondelete="CASCADE")
    )
    step_order: Mapped[int | None] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(enum(*TASK_KINDS, name="task_kind"), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    notes: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(
        enum(*TASK_STATUSES, name="task_status"), nullable=False, default="open"
    )
    outcome: Mapped[str | None] = mapped_column(sa.String(64))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    lead = relationship("Lead")
    assignee = relationship("User", foreign_keys=[assignee_id])
