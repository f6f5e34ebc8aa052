"""Mailboxes a tenant or a rep connected, and the mail read from them (or pushed to the inbound listener)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, JSONType, TenantMixin, TimestampMixin, UTCDateTime, enum

MAILBOX_SECURITIES = ("ssl", "starttls", "none")
INBOUND_KINDS = ("reply", "bounce", "auto_reply", "unmatched", "ignored")
INBOUND_SOURCES = ("imap", "smtp", "lmtp")


class Mailbox(IdMixin, TenantMixin, TimestampMixin, db.Model):
    """A real mailbox: replies are read from it over IMAP, and (when it belongs to a person) the emails of
    that person's leads go out From it, within its daily limit and spacing.

    Secrets are stored encrypted (``nurture_ui.secret_box``) and never shown again. The read position
    (``uidvalidity``, ``last_uid``) advances in the transaction that records what was read, so a crash
    re-reads rather than skips.
    """

    __tablename__ = "mailboxes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "address", name="uq_mailboxes_tenant_address"),)

    # The person whose leads' emails go out from this mailbox; None: the team's shared reply mailbox.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    address: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    display_name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)

    imap_host: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    imap_port: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=993)
    imap_security: Mapped[str] = mapped_column(
        enum(*MAILBOX_SECURITIES, name="mailbox_imap_security"), nullable=False, default="ssl"
    )
    imap_username: Mapped[str] = mapped_column(sa.String(320), nullable=False, default="")
    imap_secret: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    imap_folder: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="INBOX")

    # Empty host: the app's SMTP settings carry this mailbox's mail.
    smtp_host: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    smtp_port: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=587)
    smtp_security: Mapped[str] = mapped_column(
        enum(*MAILBOX_SECURITIES, name="mailbox_smtp_security"), nullable=False, default="starttls"
    )
    smtp_username: Mapped[str] = mapped_column(sa.String(320), nullable=False, default="")
    smtp_secret: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    daily_send_limit: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=200)
    min_spacing_seconds: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=60)

    uidvalidity: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_uid: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    user = relationship("User")

    def __repr__(self) -> str:
        return f"<Mailbox {self.address}>"


class InboundMail(IdMixin, TenantMixin, db.Model):
    """One message that reached us (a reply, a bounce, an auto-reply, or mail we could not match), kept
    once per Message-ID: reading the same message again records nothing new."""

    __tablename__ = "inbound_mails"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "message_id", name="uq_inbound_mails_tenant_message_id"),
        sa.Index("ix_inbound_mails_tenant_received", "tenant_id", "received_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("mailboxes.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(enum(*INBOUND_SOURCES, name="inbound_source"), nullable=False)
    # The RFC 5322 Message-ID (or, for a message without one, a digest of its bytes).
    message_id: Mapped[str] = mapped_column(sa.String(998), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    from_address: Mapped[str] = mapped_column(sa.String(320), nullable=False, default="")
    subject: Mapped[str] = mapped_column(sa.String(998), nullable=False, default="")
    kind: Mapped[str] = mapped_column(enum(*INBOUND_KINDS, name="inbound_kind"), nullable=False)
    # How the message was tied to its lead: in_reply_to | references | reply_token | sender | None.
    matched_by: Mapped[str | None] = mapped_column(sa.String(32))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    outbound_message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("outbound_messages.id", ondelete="SET NULL")
    )
    reply_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("lead_replies.id", ondelete="SET NULL")
    )
    # What was read: bounce status and diagnostic, auto-reply return date, why unmatched, …
    detail: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    lead = relationship("Lead")
    mailbox = relationship("Mailbox")


__all__ = ["INBOUND_KINDS", "INBOUND_SOURCES", "MAILBOX_SECURITIES", "InboundMail", "Mailbox"]
