"""Leads coming in from outside (the CRM through the API, a CSV import): checked field by field and
upserted by email, so sending the same lead twice updates it instead of making a second one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from nurture_ui import activity, clock
from nurture_ui.addresses import normalize_email
from nurture_ui.extensions import db
from nurture_ui.models import LEAD_STATUSES, SCORE_BANDS, Lead, Tenant, User
from nurture_ui.standing import STANDING_FIELDS, change_standing
from nurture_ui.time_zones import UnknownZone, parse_zone

# The lead fields an outside source may set, in the order forms and reports show them.
LEAD_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "status",
    "score",
    "score_band",
    "segment",
    "timezone",
    "owner_email",
    "do_not_contact",
)
_TEXT_LIMITS = {
    "first_name": 120,
    "last_name": 120,
    "company": 255,
    "title": 255,
    "phone": 64,
    "segment": 120,
}
_TRUE = {"1", "true", "yes", "y", "on", "x"}
_FALSE = {"0", "false", "no", "n", "off", ""}


@dataclass
class LeadFieldErrors(Exception):
    """Field-named reasons why lead data was refused: ``{"email": "…", "score": "…"}``."""

    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors.items())


def clean_lead_fields(raw: dict[str, Any], tenant: Tenant, owners: dict[str, uuid.UUID]) -> dict[str, Any]:
    """Check and convert outside lead data; returns the clean values of the fields given.

    ``owners`` maps lower-cased user emails of the tenant to ids (see ``owner_directory``).
    Raises LeadFieldErrors naming every bad field. Blank optional values are kept as "" (clearing).
    """
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in LEAD_FIELDS:
            continue
        text = "" if value is None else str(value).strip()
        try:
            clean[name] = _clean_one(name, value, text, tenant, owners)
        except ValueError as error:
            errors[name] = str(error)
    if "email" not in raw and "email" not in errors:
        errors["email"] = "An email address is required."
    if errors:
        raise LeadFieldErrors(errors)
    return clean


def _clean_one(name: str, value: Any, text: str, tenant: Tenant, owners: dict[str, uuid.UUID]) -> Any:
    if name == "email":
        if not text:
            raise ValueError("An email address is required.")
        return normalize_email(text)
    if name == "status":
        status = text.lower()
        if status not in LEAD_STATUSES:
            raise ValueError(f"{text!r} is not a lead status: use one of {', '.join(LEAD_STATUSES)}.")
        return status
    if name == "score":
        try:
            score = int(value) if isinstance(value, int) and not isinstance(value, bool) else int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number from 0 to 100.") from None
        if not 0 <= score <= 100:
            raise ValueError(f"{score} is outside 0 to 100.")
        return score
    if name == "score_band":
        bands = set(SCORE_BANDS) | set(tenant.policy_value("warm_bands"))
        band = text.lower()
        if band not in bands:
            raise ValueError(f"{text!r} is not a score band: use one of {', '.join(sorted(bands))}.")
        return band
    if name == "timezone":
        if not text:
            return None
        try:
            parse_zone(text)
        except UnknownZone:
            raise ValueError(f"{text[:64]!r} is not a time zone (e.g. Europe/Berlin).") from None
        return text
    if name == "owner_email":
        if not text:
            return None
        owner = owners.get(text.lower())
        if owner is None:
            raise ValueError(f"No user {text!r} in this workspace.")
        return owner
    if name == "do_not_contact":
        if isinstance(value, bool):
            return value
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not yes or no.")
    limit = _TEXT_LIMITS[name]
    if len(text) > limit:
        raise ValueError(f"Longer than {limit} characters.")
    return text


def owner_directory(tenant_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = db.session.execute(sa.select(User.email, User.id).where(User.tenant_id == tenant_id))
    return {email.lower(): user_id for email, user_id in rows}


def find_lead_by_email(tenant_id: uuid.UUID, email: str) -> Lead | None:
    return db.session.scalar(
        sa.select(Lead).where(Lead.tenant_id == tenant_id, sa.func.lower(Lead.email) == email.lower())
    )


def upsert_lead(
    tenant: Tenant,
    clean: dict[str, Any],
    *,
    existing: Lead | None = None,
    actor_id: uuid.UUID | None = None,
    source: str = "api",
) -> tuple[Lead, str, dict[str, tuple[Any, Any]]]:
    """Create the lead with this email or update the one there is, inside the caller's transaction.

    ``clean`` comes from ``clean_lead_fields``. Returns (lead, "created" | "updated" | "unchanged", diff).
    Status and do-not-contact of a lead that exists change through ``standing.change_standing``, as the
    matching signal would: converted or disqualified exits the sequences whose rule says so, do-not-contact
    exits every one, with their unsent emails and open tasks.
    """
    values = {("owner_id" if k == "owner_email" else k): v for k, v in clean.items()}
    lead = existing or find_lead_by_email(tenant.id, values["email"])
    now = clock.now()
    if lead is None:
        lead = Lead(tenant_id=tenant.id, **values)
        db.session.add(lead)
        db.session.flush()
        activity.record(
            "lead_created", tenant_id=tenant.id, lead_id=lead.id, actor_id=actor_id, data={"source": source}
        )
        diff = {name: (None, value) for name, value in values.items()}
        outcome = "created"
    else:
        values.pop("email")
        diff = {}
        for name, value in values.items():
            if getattr(lead, name) != value:
                diff[name] = (getattr(lead, name), value)
                if name not in STANDING_FIELDS:  # set below, with their effects
                    setattr(lead, name, value)
        if not diff:
            return lead, "unchanged", diff
        activity.record(
            "lead_updated",
            tenant_id=tenant.id,
            lead_id=lead.id,
            actor_id=actor_id,
            data={
                ("owner" if k == "owner_id" else k): [_readable(old), _readable(new)]
                for k, (old, new) in diff.items()
            },
        )
        outcome = "updated"
        change_standing(
            lead,
            status=values.get("status"),
            do_not_contact=values.get("do_not_contact"),
            actor_id=actor_id,
            source=source,
            now=now,
        )
    return lead, outcome, diff


def _readable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        user = db.session.get(User, value)
        return user.name if user else str(value)
    return value
