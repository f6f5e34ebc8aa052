from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, TenantMixin, TimestampMixin, UTCDateTime, enum

ROLES = ("admin", "marketer", "rep", "manager")


class User(IdMixin, TenantMixin, TimestampMixin, UserMixin, db.Model):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(sa.String(255), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    role: Mapped[str] = mapped_column(enum(*ROLES, name="user_role"), nullable=False)
    is_active_user: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The zone this person reads times in; None follows the tenant's (policy "timezone").
    timezone: Mapped[str | None] = mapped_column(sa.String(64))

    tenant = relationship("Tenant", lazy="joined")

    def set_password(self, password: str) -> None:
        # werkzeug's default is scrypt: memory-hard and salted.
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def session_fingerprint(self) -> str:
        """A short digest of the password hash: a new password changes it, which ends the old sessions."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def get_id(self) -> str:
        # What Flask-Login keeps in the session and the remember cookie: read back by the app's user_loader,
        # which refuses a fingerprint that no longer matches (the password was reset).
        return f"{self.id}.{self.session_fingerprint}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_active_user

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"
