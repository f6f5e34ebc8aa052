"""The Jinja side of local times: every page formats a time through these, never with its own strftime.

- ``dt|local_time`` — "Mon Dec 7, 09:00" in the signed-in person's zone.
- ``dt|local_time_title`` — "2026-12-07 09:00 JST (Asia/Tokyo)" for a tooltip.
- ``dt|lead_time(lead)`` — "09:00 Tokyo": the lead's wall clock at that instant ("" when it matches the
  reader's).
- ``viewer_zone()`` — the reader's ``ZoneInfo`` (for "today" and day grouping); ``now()`` — the core clock.

The ``when(dt, lead=None)`` macro in ``_macros/ui.html`` puts these together in a ``<time>`` element.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, g
from flask_login import current_user

from nurture_ui import clock, local_times


def reader_zone() -> ZoneInfo:
    """The zone of the person this request is for, looked up once per request."""
    if "reader_zone" not in g:
        user = current_user if current_user and current_user.is_authenticated else None
        g.reader_zone = local_times.viewer_zone(user)
    return g.reader_zone


def local_time(instant: datetime | None) -> str:
    return local_times.moment(instant, reader_zone()) if instant else ""


def local_time_title(instant: datetime | None) -> str:
    return local_times.moment_in_full(instant, reader_zone()) if instant else ""


def lead_time(instant: datetime | None, lead) -> str:
    if instant is None or lead is None:
        return ""
    tenant = current_user.tenant if current_user and current_user.is_authenticated else None
    return local_times.lead_clock(instant, local_times.lead_zone(lead, tenant), reader_zone())


def register(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(local_time_title, "local_time_title")
    app.add_template_filter(lead_time, "lead_time")
    app.add_template_global(reader_zone, "viewer_zone")
    app.add_template_global(clock.now, "now")
