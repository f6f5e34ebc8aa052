"""A sequence's own send window: changing it, and the sentence that says when its emails go out.

The window itself is read in one place only, ``engine.schedule.send_window_for``; this module stores the
override (or clears it back to the tenant's) and describes the result for people.
"""

from __future__ import annotations

from nurture_ui import activity, clock
from nurture_ui.engine.schedule import SendSchedule, send_window_for, sequence_window_problems
from nurture_ui.extensions import db
from nurture_ui.holiday_calendar import HolidayCalendar, country_name
from nurture_ui.models import Sequence, User
from nurture_ui.sequences import SequenceRefused, lock_sequence

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_days(days) -> str:
    """ "every day", "Mon–Fri", "Mon, Wed, Fri", "Mon–Wed, Sat"."""
    ordered = sorted(set(days))
    if len(ordered) == 7:
        return "every day"
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}–{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[d] for d in run)
    return ", ".join(parts)


def _holidays_phrase(calendar) -> str:
    if not isinstance(calendar, HolidayCalendar) or not calendar:
        return ""
    names = []
    if calendar.country:
        place = country_name(calendar.country)
        names.append(f"{place}{f' ({calendar.subdivision})' if calendar.subdivision else ''} public holidays")
    if calendar.imported:
        names.append("your imported holidays")
    return ", skipping " + " and ".join(names)


def describe_send_schedule(schedule: SendSchedule) -> str:
    """ "Emails go out Mon–Fri 08:00–11:00 in each lead's time zone, skipping United Kingdom public
    holidays" — the days, hours, whose zone, and the holidays of ``schedule``."""
    window = schedule.window
    hours = (
        "at any hour"
        if (window.start_hour, window.end_hour) == (0, 24)
        else f"{window.start_hour:02d}:00–{window.end_hour:02d}:00"
    )
    fallback = schedule.zone(None).key
    zone = (
        f"in each lead's time zone ({fallback} when unknown)"
        if schedule.zone_rule == "lead"
        else f"in {fallback} time"
    )
    return f"Emails go out {describe_days(window.days)} {hours} {zone}{_holidays_phrase(schedule.holidays)}."


def send_window_line(tenant, sequence: Sequence) -> str:
    """The builder's sentence for ``sequence``, saying whether the window is its own or the tenant's."""
    schedule = send_window_for(tenant, sequence)
    whose = "This sequence's own window." if schedule.own else "The window from Settings."
    return f"{describe_send_schedule(schedule)} {whose}"


def update_send_window(sequence: Sequence, value: dict | None, *, actor: User) -> bool:
    """Give ``sequence`` its own window (``{"days", "start_hour", "end_hour", "zone"}``) or, with None, the
    tenant's again. Commits with a ``sequence_window_changed`` activity; returns whether anything changed.
    Raises ``SequenceRefused`` naming each problem when the window is not valid or the sequence is archived."""
    problems = sequence_window_problems(value)
    if problems:
        raise SequenceRefused(list(problems.values()))
    lock_sequence(sequence)
    db.session.refresh(sequence, attribute_names=["send_window"])
    if sequence.status == "archived":
        raise SequenceRefused("This sequence is archived and can no longer be edited.")
    if value is not None:
        value = {
            "days": sorted(set(value["days"])),
            "start_hour": value["start_hour"],
            "end_hour": value["end_hour"],
            "zone": value.get("zone", "lead"),
        }
    if value == sequence.send_window:
        db.session.rollback()
        return False
    before = sequence.send_window
    sequence.send_window = value
    activity.record(
        "sequence_window_changed",
        tenant_id=sequence.tenant_id,
        sequence_id=sequence.id,
        actor_id=actor.id,
        occurred_at=clock.now(),
        data={"from": before, "to": value},
    )
    db.session.commit()
    return True
