from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, TenantMixin, TimestampMixin, UTCDateTime, enum, tenant_column

MESSAGE_STATUSES = (
    "pending_approval",
    "approved",
    "rejected",
    "queued",
    "sending",
    "sent",
    "failed",
    "unknown",
    "cancelled",
)


# Emails in flight that are not held back (``send_after``): the lost-job and stuck-sending sweeps read these.
_IN_FLIGHT_NOT_HELD = sa.text("status IN ('queued', 'sending') AND send_after IS NULL")
# Emails the sender held back until ``send_after`` (a frequency cap, a mailbox's spacing or daily limit).
_HELD = sa.text("status = 'queued' AND send_after IS NOT NULL")


class OutboundMessage(IdMixin, TenantMixin, TimestampMixin, db.Model):
    """The outbox. One message per step per enrollment, ever: the unique key makes a second impossible."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        sa.UniqueConstraint("enrollment_id", "step_order", name="uq_messages_enrollment_step"),
        # The frequency cap: the last message to a lead, across all sequences.
        sa.Index("ix_messages_lead_sent_at", "lead_id", "sent_at"),
        # By status within a tenant, then in the inbox's order (oldest first): its first page is read in order.
        sa.Index("ix_messages_tenant_status", "tenant_id", "status", "created_at", "id"),
        # The dispatcher's outbox sweeps: queued messages whose job was lost, messages stuck in sending.
        # Only those two states: a message leaves the index once it is sent (or anything else), and while
        # it is held back (``send_after``).
        sa.Index(
            "ix_messages_status_updated_at",
            "status",
            "updated_at",
            postgresql_where=_IN_FLIGHT_NOT_HELD,
            sqlite_where=_IN_FLIGHT_NOT_HELD,
        ),
        # Held emails: by the time they may go (the sweep), and by mailbox (a new email is spaced after
        # the sends its mailbox already reserved).
        sa.Index("ix_messages_held_send_after", "send_after", postgresql_where=_HELD, sqlite_where=_HELD),
        sa.Index(
            "ix_messages_mailbox_held", "mailbox_id", "send_after", postgresql_where=_HELD, sqlite_where=_HELD
        ),
        # A mailbox's daily limit and spacing: its latest sends.
        sa.Index("ix_messages_mailbox_sent_at", "mailbox_id", "sent_at"),
        # Per-step figures of a sequence's performance, read from the index alone on PostgreSQL.
        sa.Index(
            "ix_messages_sequence_step",
            "sequence_id",
            "step_order",
            postgresql_include=["enrollment_id", "status", "created_at", "reviewed_at"],
        ),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=False)  # ix_messages_tenant_status leads with it
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_enrollments.id", ondelete="CASCADE"), nullable=False
    )
    step_order: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    step_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_sequence_steps.id", ondelete="SET NULL")
    )
    lead_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_nurture_sequences.id", ondelete="CASCADE"), nullable=False
    )
    to_email: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(998), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(enum(*MESSAGE_STATUSES, name="message_status"), nullable=False)
    # Which drafter wrote it ("template", "http:<endpoint>") and why a person must review it.
    drafter: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="template")
    review_reason: Mapped[str | None] = mapped_column(sa.String(255))
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The RFC 5322 Message-ID, fixed when the message is created so a retry carries the same one.
    message_id: Mapped[str] = mapped_column(sa.String(255), nullable=False, unique=True)
    # The threading headers of a follow-up in the same thread (None: the email starts its own thread):
    # In-Reply-To is the earlier email's Message-ID, References that email's References plus its Message-ID.
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(255))
    thread_references: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # Not to be sent before this instant: the sender held it (frequency cap, mailbox spacing or daily
    # limit). Cleared when a send job claims it.
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The mailbox it goes out from (its owner's), None for the app's own sender.
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("mailboxes.id", ondelete="SET NULL")
    )
    # The A/B variant ("A"-"D") this message was drawn for, None when its step has no variants.
    variant: Mapped[str | None] = mapped_column(sa.String(1))

    lead = relationship("Lead")
    enrollment = relationship("Enrollment")
    sequence = relationship("Sequence")
    reviewer = relationship("User")
