"""The inbound events door: API credentials, the signatures already seen, and the events applied."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, JSONType, TenantMixin, TimestampMixin, UTCDateTime


class ApiCredential(IdMixin, TenantMixin, TimestampMixin, db.Model):
    """A tenant's API key. The secret is never stored: it is derived from the app's SECRET_KEY and
    ``salt``, so a copy of the database alone cannot sign requests (see ``nurture_ui.api.credentials``)."""

    __tablename__ = "api_credentials"

    key_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    salt: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    label: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiNonce(db.Model):
    """A request signature already accepted: the same signed request sent again is a replay.

    Kept a little longer than the timestamp tolerance; older rows are pruned as new ones arrive.
    """

    __tablename__ = "api_nonces"
    __table_args__ = (sa.Index("ix_api_nonces_seen_at", "seen_at"),)

    signature: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    credential_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("api_credentials.id", ondelete="CASCADE"), nullable=False
    )
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class InboundEvent(IdMixin, TenantMixin, db.Model):
    """An event applied through the API, with the response it got: the same event id acts once."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_inbound_events_tenant_event"),
        # The lookup behind deleting a lead (its events keep their record, without the lead).
        sa.Index("ix_inbound_events_lead_id", "lead_id"),
    )

    event_id: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("leads.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status_code: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    result: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
