from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, JSONType, TenantMixin, TimestampMixin, UTCDateTime, enum

SEQUENCE_STATUSES = ("draft", "active", "paused", "archived")
STEP_CHANNELS = ("email", "task", "call_reminder")
# A step's delay counts wall-clock hours, or business days (open weekdays of the send window, not holidays).
DELAY_UNITS = ("hours", "business_days")

# Exit rules a new sequence starts with: the SPEC's stops, positive reply always on by default.
DEFAULT_EXIT_RULES = {
    "conversion": True,
    "disqualification": True,
    "unsubscribe": True,
    "positive_reply": True,
    # "Not interested": a refusal that is not an opt-out still ends the sequence unless turned off.
    "negative_reply": True,
    "any_reply": False,
    "inactivity_days": None,
}


class Sequence(IdMixin, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "lead_nurture_sequences"
    __table_args__ = (sa.Index("ix_sequences_tenant_status", "tenant_id", "status"),)

    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(
        enum(*SEQUENCE_STATUSES, name="sequence_status"), nullable=False, default="draft"
    )
    entry_rules: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    exit_rules: Mapped[dict] = mapped_column(
        JSONType, nullable=False, default=lambda: dict(DEFAULT_EXIT_RULES)
    )
    # Lower number wins when a lead matches several sequences.
    priority: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=100)
    daily_enrollment_cap: Mapped[int | None] = mapped_column(sa.Integer)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    # The sequence's own send window, {"days", "start_hour", "end_hour", "zone": "lead"|"tenant"}; None
    # means the tenant's (``engine.schedule.send_window_for`` is the one reader).
    send_window: Mapped[dict | None] = mapped_column(JSONType)

    steps = relationship(
        "SequenceStep",
        back_populates="sequence",
        order_by="SequenceStep.step_order",
        cascade="all, delete-orphan",
    )
    creator = relationship("User")

    def __repr__(self) -> str:
        return f"<Sequence {self.name!r} {self.status}>"


class SequenceStep(IdMixin, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "lead_nurture_sequence_steps"
    # Reordering keeps this unique constraint by moving rows through a temporary negative range.
    __table_args__ = (sa.UniqueConstraint("sequence_id", "step_order", name="uq_steps_sequence_order"),)

    sequence_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_sequences.id", ondelete="CASCADE"), nullable=False
    )
    step_order: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    channel: Mapped[str] = mapped_column(enum(*STEP_CHANNELS, name="step_channel"), nullable=False)
    delay_hours: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # With "business_days" the delay is ``delay_business_days`` business days and ``delay_hours`` is 0.
    delay_unit: Mapped[str] = mapped_column(
        enum(*DELAY_UNITS, name="step_delay_unit"), nullable=False, default="hours", server_default="hours"
    )
    delay_business_days: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default="0"
    )
    template_id: Mapped[str | None] = mapped_column(sa.String(255))
    requires_human_approval: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    conditions: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    # What a task or call reminder asks the owner to do.
    instructions: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    # An email that replies in the thread of the enrollment's earlier email (nurture_ui.engine.follow_ups).
    same_thread: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    # Activity conditions beside the rule over the lead's fields: the step runs only if the previous email
    # got no reply, only if the lead has no open task (nurture_ui.engine.follow_ups).
    only_if_not_replied: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    only_if_no_open_task: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    # A/B test of an email step (nurture_ui.variants): 2-4 of {"template_id", "subject", "weight"}, variant A
    # first (its template is also ``template_id``); empty for a step without variants.
    variants: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    # Auto-winner: once a variant beats the others at 95% after this many sends each, only it is sent.
    auto_winner_min_sends: Mapped[int | None] = mapped_column(sa.Integer)
    winner_variant: Mapped[str | None] = mapped_column(sa.String(1))
    winner_declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The figures the winner was declared on: rates, sends, p-value (shown on the performance page).
    winner_evidence: Mapped[dict | None] = mapped_column(JSONType)
    # The last auto-winner check: at most one a minute per step.
    winner_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sequence = relationship("Sequence", back_populates="steps")

    def __repr__(self) -> str:
        return f"<Step {self.step_order} {self.channel}>"
