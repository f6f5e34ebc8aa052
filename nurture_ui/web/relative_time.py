"""Durations in the words a busy person scans: "3 h", "2 days", "overdue by 40 min"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from nurture_ui import clock


def duration(seconds: float) -> str:
    """A rough, readable length of time: minutes under an hour, hours under two days, then days."""
    seconds = abs(seconds)
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def since(instant: datetime | None) -> str:
    """How long ago ``instant`` was, by the core clock."""
    if instant is None:
        return ""
    return duration((clock.now() - instant).total_seconds())


def due_group(instant: datetime, zone: ZoneInfo) -> str:
    """ "overdue" (due on an earlier day), "today" or "upcoming", by calendar days in ``zone``."""
    due_day = instant.astimezone(zone).date()
    today = clock.now().astimezone(zone).date()
    if due_day < today:
        return "overdue"
    return "today" if due_day == today else "upcoming"


def due_words(instant: datetime, zone: ZoneInfo) -> str:
    """ "3 days overdue", "due today 10:00", "due Thu Mar 5, 09:00"."""
    group = due_group(instant, zone)
    local = instant.astimezone(zone)
    if group == "overdue":
        days = (clock.now().astimezone(zone).date() - local.date()).days
        return "1 day overdue" if days == 1 else f"{days} days overdue"
    if group == "today":
        return f"due today {local:%H:%M}"
    return f"due {local:%a %b %-d, %H:%M}"
