"""When a step may run: send windows in the lead's time zone, and the first step of a new enrollment.

A tenant's send window is a set of weekdays and an hour range, read in the lead's own time zone (else the
tenant's). A step that falls due outside it moves to the next opening. All arithmetic happens on local
wall-clock dates and is converted back to UTC through ``zoneinfo``, so a window that opens at 09:00 opens at
09:00 local time on both sides of a daylight-saving change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nurture_ui import activity
from nurture_ui.extensions import db
from nurture_ui.models import DEFAULT_POLICY, Enrollment, Lead, Sequence, Tenant
from nurture_ui.time_zones import first_zone


@dataclass(frozen=True)
class SendWindow:
    """Weekdays (Monday=0) and local hours [start_hour, end_hour) when email may go out."""

    days: frozenset[int]
    start_hour: int
    end_hour: int

    @classmethod
    def from_policy(cls, value: dict | None) -> SendWindow:
        value = value or DEFAULT_POLICY["send_window"]
        days = frozenset(int(d) for d in value.get("days", range(7)))
        start, end = int(value.get("start_hour", 0)), int(value.get("end_hour", 24))
        if not days or not 0 <= start < end <= 24:
            # A window that never opens would hold every email forever; treat it as always open.
            return cls(frozenset(range(7)), 0, 24)
        return cls(days, start, end)


def zone_for(lead_timezone: str | None, tenant_timezone: str | None) -> ZoneInfo:
    """The lead's zone when it names a real one, else the tenant's, else UTC."""
    return first_zone(lead_timezone, tenant_timezone)


def _local(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """``hour`` o'clock on ``day`` in ``zone`` as UTC. An hour skipped by a DST jump resolves forward."""
    if hour >= 24:
        return _local(day + timedelta(days=1), 0, zone)
    wall = datetime.combine(day, time(hour), tzinfo=zone)
    # zoneinfo accepts non-existent wall times; a round trip through UTC moves them past the gap.
    return wall.astimezone(UTC)


def is_within_window(instant: datetime, window: SendWindow, zone: ZoneInfo) -> bool:
    local = instant.astimezone(zone)
    return local.weekday() in window.days and window.start_hour <= local.hour < window.end_hour


def next_send_opening(instant: datetime, window: SendWindow, zone: ZoneInfo) -> datetime:
    """``instant`` itself when it is inside the window, else the next moment the window opens (UTC)."""
    if is_within_window(instant, window, zone):
        return instant
    local_day = instant.astimezone(zone).date()
    for offset in range(8):
        day = local_day + timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        opening = _local(day, window.start_hour, zone)
        if opening > instant:
            return opening
    raise AssertionError("a window with at least one day opens within a week")


def step_due_at(earliest: datetime, channel: str, *, lead_timezone: str | None, tenant: Tenant) -> datetime:
    """When a step that may run from ``earliest`` is due: emails move into the send window, other steps don't."""
    if channel != "email":
        return earliest
    window = SendWindow.from_policy(tenant.policy_value("send_window"))
    zone = zone_for(lead_timezone, tenant.policy_value("timezone"))
    return next_send_opening(earliest, window, zone)


def schedule_first_step(
    lead: Lead, sequence: Sequence, *, now: datetime, actor_id: uuid.UUID | None = None
) -> Enrollment:
    """Enroll ``lead`` at step 1 of ``sequence``, due after step 1's delay (moved into the send window).

    Runs inside the caller's transaction: adds the enrollment and its ``nurture_enrolled`` and
    ``nurture_step_scheduled`` activities to the session without committing. It checks no eligibility:
    who may enroll is the enrollment module's business; this is the engine's half of enrolling.
    """
    steps = sorted(sequence.steps, key=lambda s: s.step_order)
    if not steps:
        raise ValueError("a sequence without steps cannot be enrolled in")
    tenant = db.session.get(Tenant, sequence.tenant_id)
    first = steps[0]
    due = step_due_at(
        now + timedelta(hours=first.delay_hours), first.channel, lead_timezone=lead.timezone, tenant=tenant
    )
    enrollment = Enrollment(
        id=uuid.uuid4(),
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        sequence_id=sequence.id,
        current_step_order=first.step_order,
        status="active",
        enrolled_on=now,
        next_step_on=due,
        enrolled_by=actor_id,
    )
    db.session.add(enrollment)
    # Activities reference the enrollment by key only (no relationship orders the inserts): write it first.
    db.session.flush()
    ids = dict(
        tenant_id=lead.tenant_id, lead_id=lead.id, enrollment_id=enrollment.id, sequence_id=sequence.id
    )
    activity.record(
        "nurture_enrolled", **ids, actor_id=actor_id, occurred_at=now, data={"sequence": sequence.name}
    )
    activity.record(
        "nurture_step_scheduled",
        **ids,
        actor_id=actor_id,
        occurred_at=now,
        data={"step": first.step_order, "channel": first.channel, "due_at": due.isoformat()},
    )
    return enrollment
