from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nurture_ui.extensions import db
from nurture_ui.models.base import IdMixin, JSONType, TimestampMixin

# The SPEC's suggested defaults. A tenant's `policy` holds only what it changed.
DEFAULT_POLICY: dict[str, Any] = {
    "frequency_cap_hours": 48,
    "max_steps": 6,
    "max_span_days": 21,
    "reenrollment_cooldown_days": 30,
    # A lead who left any sequence stays out of every auto-enrollment this long (manual enrollment may override).
    "cross_sequence_cooldown": True,
    "cross_sequence_cooldown_days": 7,
    "reply_window_days": 14,
    "warm_bands": ["warm"],
    "enrollable_statuses": ["new", "contacted", "qualified"],
    "preapproved_skip_review": True,
    # Monday=0 … Sunday=6; hours are local to the lead (else the tenant's time zone), end exclusive.
    "send_window": {"days": [0, 1, 2, 3, 4], "start_hour": 9, "end_hour": 17},
    "timezone": "UTC",
    # Public holidays (no email goes out) of this ISO country, and optionally one subdivision; "" for none.
    "holiday_country": "",
    "holiday_subdivision": "",
    "ooo_default_days": 7,
    # The drafter of steps that need approval: empty means the template; else a writing service's URL.
    "drafter_url": "",
    "drafter_timeout_seconds": 5,
}


class Tenant(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    slug: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    policy: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    # DKIM signing of outgoing mail (off while the selector is empty); the private key is encrypted.
    dkim_domain: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    dkim_selector: Mapped[str] = mapped_column(sa.String(63), nullable=False, default="")
    dkim_private_key: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    def policy_value(self, key: str) -> Any:
        """The tenant's setting for ``key``, falling back to the product default."""
        return (self.policy or {}).get(key, DEFAULT_POLICY[key])

    @property
    def effective_policy(self) -> dict[str, Any]:
        return {**DEFAULT_POLICY, **(self.policy or {})}

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"
