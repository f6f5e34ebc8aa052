from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, TenantMixin, TimestampMixin, UTCDateTime, enum

LEAD_STATUSES = ("new", "contacted", "qualified", "converted", "disqualified")
SCORE_BANDS = ("cold", "warm", "hot")
REPLY_SENTIMENTS = ("positive", "neutral", "negative", "out_of_office", "unsubscribe")


class Lead(IdMixin, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "email", name="uq_leads_tenant_email"),
        # With ``id``, PostgreSQL finds the tenant's converted leads (the reports' semi-join) in the index alone.
        sa.Index(
            "ix_leads_tenant_status_band", "tenant_id", "status", "score_band", postgresql_include=["id"]
        ),
        # With ``created_at``: one person's leads newest first (the lead list filtered by owner), 0013.
        sa.Index("ix_leads_tenant_owner", "tenant_id", "owner_id", "created_at"),
        sa.Index("ix_leads_tenant_segment", "tenant_id", "segment"),
        # Newest first, as the lead list and the builder's sample lead read them (migration 0013).
        sa.Index("ix_leads_tenant_newest", "tenant_id", "created_at", "id"),
    )

    email: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    first_name: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    last_name: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    company: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    phone: Mapped[str] = mapped_column(sa.String(64), nullable=False, default="")
    status: Mapped[str] = mapped_column(
        enum(*LEAD_STATUSES, name="lead_status"), nullable=False, default="new"
    )
    score: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    score_band: Mapped[str] = mapped_column(sa.String(32), nullable=False, default="cold")
    segment: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    do_not_contact: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A hard bounce: the address can no longer receive mail.
    undeliverable: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # Last time the lead engaged (a reply); the inactivity exit rule measures from here.
    last_engaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner = relationship("User", lazy="joined")

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def __repr__(self) -> str:
        return f"<Lead {self.email}>"


class LeadReply(IdMixin, TenantMixin, TimestampMixin, db.Model):
    """An inbound reply from a lead, classified by sentiment."""

    __tablename__ = "lead_replies"
    __table_args__ = (
        sa.Index("ix_lead_replies_lead_received", "lead_id", "received_at"),
        # The triage queue: a tenant's replies waiting for a person, oldest first.
        sa.Index("ix_lead_replies_tenant_triage", "tenant_id", "triage", "received_at"),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sentiment: Mapped[str] = mapped_column(enum(*REPLY_SENTIMENTS, name="reply_sentiment"), nullable=False)
    thread_open: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    body_excerpt: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    # "auto" when the classifier decided, "user" when a person set or corrected it.
    classified_by: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="auto")
    # None: the classifier was sure. "pending": it was not, a person must decide (the lead's enrollments
    # are paused meanwhile); "decided": a person did.
    triage: Mapped[str | None] = mapped_column(sa.String(16))
    # The email of ours this reply answers, when the mail's headers or reply token said so.
    outbound_message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("outbound_messages.id", ondelete="SET NULL")
    )

    lead = relationship("Lead")


__all__ = ["LEAD_STATUSES", "REPLY_SENTIMENTS", "SCORE_BANDS", "Lead", "LeadReply"]
