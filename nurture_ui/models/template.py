from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, TenantMixin, TimestampMixin


class EmailTemplate(IdMixin, TenantMixin, TimestampMixin, db.Model):
    """A reusable email: subject and body in sandboxed Jinja. Steps name it by ``key``."""

    __tablename__ = "email_templates"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key", name="uq_email_templates_tenant_key"),)

    key: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    pre_approved: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    def __repr__(self) -> str:
        return f"<EmailTemplate {self.key}>"
