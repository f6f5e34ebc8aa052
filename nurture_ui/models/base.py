"""Column types and mixins shared by every model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nurture_ui import clock

# JSON everywhere, JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite and PostgreSQL alike.

    SQLite hands back naive datetimes; this type stores UTC and re-attaches the zone on the way out,
    and refuses naive values on the way in so no comparison ever mixes the two.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use timezone-aware UTC")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def aware_utc(value):
    """A timestamp read through raw SQL (an aggregate, a subquery) as aware UTC: SQLite hands those back as text
    or naive datetimes, without the column type's conversion. None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def enum(*values: str, name: str) -> sa.Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint on both engines."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=clock.now, onupdate=clock.now
    )


def tenant_column(*, index: bool = True):
    """The ``tenant_id`` column; ``index=False`` where an index leading with ``tenant_id`` serves instead
    (every index is written on every insert, and the engine inserts a lot)."""
    return mapped_column(
        sa.Uuid, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=index
    )


class TenantMixin:
    tenant_id: Mapped[uuid.UUID] = tenant_column()
