"""Times in the reader's time zone, and a lead's own wall clock beside them.

Instants are stored as UTC. A person reads them in their own zone (``users.timezone``, else the tenant's
policy "timezone", else UTC); anything about a lead also says what the clock showed where the lead is
("09:00 Tokyo"), because that is what decides whether an email lands at breakfast or at 3 a.m. The web
layer's Jinja filters (``nurture_ui.web.local_time``) are the only callers that format times for pages.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from nurture_ui import clock
from nurture_ui.time_zones import first_zone


def viewer_zone(user) -> ZoneInfo:
    """The zone ``user`` reads times in: their own choice, else their tenant's, else UTC."""
    tenant_zone = user.tenant.policy_value("timezone") if user is not None and user.tenant else None
    return first_zone(getattr(user, "timezone", None), tenant_zone)


def lead_zone(lead, tenant) -> ZoneInfo:
    """The zone a lead lives in: the lead's own when known, else the tenant's (the engine's send-window rule)."""
    return first_zone(lead.timezone, tenant.policy_value("timezone") if tenant is not None else None)


def place_name(zone: ZoneInfo) -> str:
    """A zone as a place a person recognises: "Asia/Tokyo" → "Tokyo", "America/Argentina/Buenos_Aires" →
    "Buenos Aires", "Etc/GMT+5" → "GMT+5", "UTC" → "UTC"."""
    return str(zone.key).rsplit("/", 1)[-1].replace("_", " ")


def moment(instant: datetime, zone: ZoneInfo) -> str:
    """``instant`` as a wall-clock time in ``zone``: "Mon Dec 7, 09:00" this year, "Dec 7, 2025 09:00"
    for another year (by the core clock, in the same zone)."""
    local = instant.astimezone(zone)
    if local.year == clock.now().astimezone(zone).year:
        return f"{local:%a %b %-d, %H:%M}"
    return f"{local:%b %-d, %Y %H:%M}"


def moment_in_full(instant: datetime, zone: ZoneInfo) -> str:
    """The unambiguous form for a tooltip: "2026-12-07 09:00 JST (Asia/Tokyo)"."""
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M %Z} ({zone.key})"


def lead_clock(instant: datetime, lead_zone: ZoneInfo, reader_zone: ZoneInfo) -> str:
    """What the lead's clock showed at ``instant``: "09:00 Tokyo", with the weekday when the lead's date is
    not the reader's ("Tue 09:00 Tokyo"). Empty when the two clocks agree (same offset at that instant):
    the reader's own time already says it."""
    theirs = instant.astimezone(lead_zone)
    ours = instant.astimezone(reader_zone)
    if theirs.utcoffset() == ours.utcoffset():
        return ""
    day = f"{theirs:%a} " if theirs.date() != ours.date() else ""
    return f"{day}{theirs:%H:%M} {place_name(lead_zone)}"
