from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, TimestampMixin, tenant_column


class TenantHoliday(IdMixin, TimestampMixin, db.Model):
    """One imported holiday date of a tenant's calendar (a local date: no email goes out on it).

    Public holidays of the tenant's chosen country are not stored: they come from the ``holidays`` package
    (policy ``holiday_country`` / ``holiday_subdivision``)."""

    __tablename__ = "tenant_holidays"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "day", name="uq_tenant_holidays_day"),)

    # The unique constraint's index leads with tenant_id and serves every lookup.
    tenant_id = tenant_column(index=False)
    day: Mapped[date] = mapped_column(sa.Date, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")

    def __repr__(self) -> str:
        return f"<TenantHoliday {self.day} {self.name!r}>"
