"""A tenant's policy: the limits and defaults every sequence runs under, checked and changed in one place.

``check_policy`` names what is wrong with proposed values, field by field; ``update_policy`` stores the
values that differ and writes one ``tenant_policy_changed`` activity with the person and every change
(from → to), in the same commit.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from nurture_ui import activity, clock
from nurture_ui.extensions import db
from nurture_ui.holiday_calendar import countries
from nurture_ui.models import DEFAULT_POLICY, Tenant
from nurture_ui.time_zones import UnknownZone, parse_zone

# (minimum, maximum) of each whole-number setting.
LIMITS: dict[str, tuple[int, int]] = {
    "frequency_cap_hours": (1, 720),
    "max_steps": (1, 20),
    "max_span_days": (1, 365),
    "reenrollment_cooldown_days": (0, 365),
    "cross_sequence_cooldown_days": (1, 365),
    "reply_window_days": (0, 365),
    "ooo_default_days": (1, 60),
}
TIMEOUT_LIMITS = (0.5, 30.0)
# Statuses that may be enrolled: never a converted or disqualified lead.
ENROLLABLE = ("new", "contacted", "qualified")
BAND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def check_policy(values: dict[str, Any]) -> dict[str, str]:
    """What is wrong with each proposed value (``{field: message}``); empty when all may be saved."""
    errors: dict[str, str] = {}
    for key, (low, high) in LIMITS.items():
        value = values.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[key] = f"Enter a whole number from {low} to {high}."
    bands = values.get("warm_bands") or []
    if not bands:
        errors["warm_bands"] = "Name at least one score band, e.g. warm."
    elif bad := [b for b in bands if not BAND_PATTERN.match(b)]:
        errors["warm_bands"] = (
            f"“{bad[0]}” is not a band name: use lowercase letters, digits, dashes (up to 32)."
        )
    statuses = values.get("enrollable_statuses") or []
    if not statuses:
        errors["enrollable_statuses"] = "Choose at least one status."
    elif set(statuses) - set(ENROLLABLE):
        errors["enrollable_statuses"] = "Only new, contacted and qualified leads may be enrolled."
    window = values.get("send_window") or {}
    days = window.get("days") or []
    if not days or not set(days) <= set(range(7)):
        errors["send_days"] = "Choose at least one day to send on."
    start, end = window.get("start_hour"), window.get("end_hour")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= 24):
        errors["send_end_hour"] = "The window must end after it starts."
    errors.update(holiday_country_problems(values.get("holiday_country"), values.get("holiday_subdivision")))
    try:
        parse_zone(values.get("timezone"))
    except UnknownZone:
        errors["timezone"] = "Choose a time zone from the list."
    url = (values.get("drafter_url") or "").strip()
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors["drafter_url"] = "Enter a full http:// or https:// address, or leave it empty."
    timeout = values.get("drafter_timeout_seconds")
    low, high = TIMEOUT_LIMITS
    if not isinstance(timeout, int | float) or not low <= timeout <= high:
        errors["drafter_timeout_seconds"] = f"Enter a number of seconds from {low:g} to {high:g}."
    return errors


def holiday_country_problems(country: object, subdivision: object) -> dict[str, str]:
    """What is wrong with a holiday country (ISO code, "" for none) and subdivision ("" for all of it)."""
    country, subdivision = country or "", subdivision or ""
    if not country:
        return {"holiday_subdivision": "Choose a country first."} if subdivision else {}
    supported = countries()
    if country not in supported:
        return {"holiday_country": "Choose a country from the list."}
    if subdivision and subdivision not in supported[country]:
        return {
            "holiday_subdivision": f"{subdivision} is not a region of {country}: choose one from the list."
        }
    return {}


class PolicyRefused(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def update_policy(
    tenant: Tenant, values: dict[str, Any], *, actor_id: uuid.UUID | None, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Check and store ``values`` (keys of ``DEFAULT_POLICY``) for ``tenant``; log what changed. Commits.

    Returns the changes as ``{key: {"from": old, "to": new}}`` (empty when nothing changed: nothing is
    logged then). Raises ``PolicyRefused`` with every field's problem when a value may not be saved.
    """
    unknown = set(values) - set(DEFAULT_POLICY)
    if unknown:
        raise ValueError(f"unknown policy keys {sorted(unknown)}")
    errors = check_policy({**tenant.effective_policy, **values})
    if errors:
        raise PolicyRefused(errors)
    current = tenant.effective_policy
    changes = {
        key: {"from": current.get(key), "to": value}
        for key, value in values.items()
        if current.get(key) != value
    }
    if not changes:
        return {}
    # A new dict, so the JSON column sees the change.
    tenant.policy = {**(tenant.policy or {}), **{key: change["to"] for key, change in changes.items()}}
    activity.record(
        "tenant_policy_changed",
        tenant_id=tenant.id,
        actor_id=actor_id,
        occurred_at=now or clock.now(),
        data={"changes": changes},
    )
    db.session.commit()
    return changes
