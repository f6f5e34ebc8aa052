from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, JSONType, TenantMixin, TimestampMixin, UTCDateTime, enum

IMPORT_STATUSES = ("mapping", "queued", "running", "done", "failed")


class LeadImport(IdMixin, TenantMixin, TimestampMixin, db.Model):
    """A CSV of leads on its way in: the file, how its columns map to lead fields, and the outcome.

    The background job reads everything it needs from this row and writes its progress back to it.
    """

    __tablename__ = "lead_imports"

    filename: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    csv_text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    headers: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    # {lead field: CSV column header}
    mapping: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(
        enum(*IMPORT_STATUSES, name="lead_import_status"), nullable=False, default="mapping"
    )
    total_rows: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    processed_rows: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    updated_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    unchanged_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # [{"row": 3, "column": "email", "message": "..."}], row numbers as a spreadsheet shows them.
    errors: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    error_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    failure: Mapped[str | None] = mapped_column(sa.Text)
    job_id: Mapped[str | None] = mapped_column(sa.String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    creator = relationship("User")

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.finished else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))
