"""When a step may run: send windows in the lead's time zone, and the first step of a new enrollment.

A tenant's send window is a set of weekdays and an hour range, read in the lead's own time zone (else the
tenant's); a sequence may have its own (days, hours, and whether the lead's zone or the tenant's counts).
``send_window_for(tenant, sequence)`` is the one place that decides which applies. The window stays shut on
the tenant's holidays, which are local dates. A step that falls due outside it moves to the next opening.
All arithmetic happens on local wall-clock dates and is converted back to UTC through ``zoneinfo``, so a
window that opens at 09:00 opens at 09:00 local time on both sides of a daylight-saving change.

A step's delay is hours, or business days: "2 business days" after an instant is the same local wall-clock
time on the 2nd following day that is an open weekday of the window and not a holiday (then moved into the
window, as any due time is).
"""

from __future__ import annotations

import uuid
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nurture_ui import activity
from nurture_ui.extensions import db
from nurture_ui.holiday_calendar import HolidayCalendar, calendar_for
from nurture_ui.models import DEFAULT_POLICY, Enrollment, Lead, Sequence, SequenceStep, Tenant
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


NO_HOLIDAYS: frozenset[date] = frozenset()
# A calendar that shuts every day for longer than this is treated as having no holidays (never hold forever).
MAX_CLOSED_DAYS = 400


def is_open_day(day: date, window: SendWindow, holidays: Container[date] = NO_HOLIDAYS) -> bool:
    """Whether the window opens at all on the local date ``day``: an open weekday that is not a holiday."""
    return day.weekday() in window.days and day not in holidays


def is_within_window(
    instant: datetime, window: SendWindow, zone: ZoneInfo, holidays: Container[date] = NO_HOLIDAYS
) -> bool:
    local = instant.astimezone(zone)
    return is_open_day(local.date(), window, holidays) and window.start_hour <= local.hour < window.end_hour


def next_send_opening(
    instant: datetime, window: SendWindow, zone: ZoneInfo, holidays: Container[date] = NO_HOLIDAYS
) -> datetime:
    """``instant`` itself when it is inside the window, else the next moment the window opens (UTC).
    Holidays (local dates) keep the window shut all day."""
    if is_within_window(instant, window, zone, holidays):
        return instant
    local_day = instant.astimezone(zone).date()
    for offset in range(MAX_CLOSED_DAYS):
        day = local_day + timedelta(days=offset)
        if not is_open_day(day, window, holidays):
            continue
        opening = _local(day, window.start_hour, zone)
        if opening > instant:
            return opening
    return next_send_opening(instant, window, zone)


def add_business_days(
    instant: datetime, count: int, window: SendWindow, zone: ZoneInfo, holidays
) -> datetime:
    """The same local wall-clock time as ``instant`` on the ``count``-th following open day of ``window``
    (an open weekday that is not a holiday), as UTC. ``count`` 0 is ``instant``. A wall time that a DST jump
    skips on that day resolves forward."""
    if count <= 0:
        return instant
    local = instant.astimezone(zone)
    day, found = local.date(), 0
    for _ in range(count * 7 + MAX_CLOSED_DAYS):
        day += timedelta(days=1)
        if is_open_day(day, window, holidays):
            found += 1
            if found == count:
                wall = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=zone)
                return wall.astimezone(UTC)
    return add_business_days(instant, count, window, zone, NO_HOLIDAYS)


ZONE_RULES = ("lead", "tenant")


@dataclass(frozen=True)
class SendSchedule:
    """Everything that times an email of one sequence: its window, whose zone it is read in, the holidays.

    ``zone_rule`` "lead": the lead's own zone, else the tenant's; "tenant": always the tenant's. ``own`` says
    the window is the sequence's rather than the tenant's."""

    window: SendWindow
    zone_rule: str
    tenant_zone: str | None
    holidays: Container[date] = NO_HOLIDAYS
    own: bool = False

    def zone(self, lead_timezone: str | None) -> ZoneInfo:
        return zone_for(lead_timezone if self.zone_rule == "lead" else None, self.tenant_zone)

    def opening(self, instant: datetime, lead_timezone: str | None) -> datetime:
        """``next_send_opening`` for a lead in ``lead_timezone``."""
        return next_send_opening(instant, self.window, self.zone(lead_timezone), self.holidays)

    def is_open(self, instant: datetime, lead_timezone: str | None) -> bool:
        return is_within_window(instant, self.window, self.zone(lead_timezone), self.holidays)


def sequence_window_problems(value: dict | None) -> dict[str, str]:
    """What is wrong with a sequence's own window (``{field: message}``); None (the tenant's) is fine."""
    if value is None:
        return {}
    errors: dict[str, str] = {}
    days = value.get("days") or []
    if not days or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
        errors["send_days"] = "Choose at least one day to send on."
    start, end = value.get("start_hour"), value.get("end_hour")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= 24):
        errors["send_end_hour"] = "The window must end after it starts."
    if value.get("zone", "lead") not in ZONE_RULES:
        errors["send_zone"] = "Choose the lead's time zone or the company's."
    return errors


def send_window_for(tenant, sequence=None, *, holidays: HolidayCalendar | None = None) -> SendSchedule:
    """The send schedule of ``sequence`` (its own window when it has one, else the tenant's) with the
    tenant's holidays. The one function every place that times an email calls. ``tenant`` is anything with
    ``id`` and ``policy_value``; ``sequence`` anything with ``send_window`` (or None). ``holidays`` spares
    the query when the caller already loaded the tenant's calendar."""
    own = getattr(sequence, "send_window", None) if sequence is not None else None
    if own and sequence_window_problems(own):
        own = None  # a bad stored value falls back to the tenant's window rather than stopping the engine
    calendar = holidays if holidays is not None else calendar_for(tenant)
    return SendSchedule(
        window=SendWindow.from_policy(own or tenant.policy_value("send_window")),
        zone_rule=(own or {}).get("zone", "lead"),
        tenant_zone=tenant.policy_value("timezone"),
        holidays=calendar,
        own=bool(own),
    )


def delay_ends_at(start: datetime, step: SequenceStep, schedule: SendSchedule, lead_timezone: str | None):
    """When ``step``'s delay, counted from ``start``, is over (before the window moves it)."""
    if step.delay_unit == "business_days":
        return add_business_days(
            start, step.delay_business_days, schedule.window, schedule.zone(lead_timezone), schedule.holidays
        )
    return start + timedelta(hours=step.delay_hours)


def step_due_at(
    earliest: datetime, channel: str, *, lead_timezone: str | None, schedule: SendSchedule
) -> datetime:
    """When a step that may run from ``earliest`` is due: emails move into the send window, other steps don't."""
    if channel != "email":
        return earliest
    return schedule.opening(earliest, lead_timezone)


def step_due_after(
    start: datetime, step: SequenceStep, *, lead_timezone: str | None, schedule: SendSchedule
) -> datetime:
    """When ``step`` is due if its delay starts at ``start``: the delay (hours or business days), then, for
    an email, the send window."""
    earliest = delay_ends_at(start, step, schedule, lead_timezone)
    return step_due_at(earliest, step.channel, lead_timezone=lead_timezone, schedule=schedule)


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
    due = step_due_after(now, first, lead_timezone=lead.timezone, schedule=send_window_for(tenant, sequence))
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
