"""Send windows: the tenant's days and hours, in the lead's zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from nurture_ui.engine.schedule import SendWindow, is_within_window, next_send_opening, zone_for

WEEKDAYS_9_TO_17 = SendWindow(frozenset(range(5)), 9, 17)
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_instant_inside_the_window_stays():
    monday_10 = utc(2026, 3, 2, 10)
    assert next_send_opening(monday_10, WEEKDAYS_9_TO_17, ZoneInfo("UTC")) == monday_10


def test_after_hours_moves_to_next_morning():
    assert next_send_opening(utc(2026, 3, 2, 17, 0), WEEKDAYS_9_TO_17, ZoneInfo("UTC")) == utc(2026, 3, 3, 9)


def test_before_hours_moves_to_the_same_morning():
    assert next_send_opening(utc(2026, 3, 3, 6, 30), WEEKDAYS_9_TO_17, ZoneInfo("UTC")) == utc(2026, 3, 3, 9)


def test_weekend_moves_to_monday():
    friday_evening = utc(2026, 3, 6, 18)
    assert next_send_opening(friday_evening, WEEKDAYS_9_TO_17, ZoneInfo("UTC")) == utc(2026, 3, 9, 9)


def test_window_is_read_in_the_leads_zone():
    # 14:30 UTC on a Monday is 09:30 in New York (EST, UTC-5): open there, although 14:30 > 9 in UTC anyway;
    # 13:30 UTC is 08:30 in New York: closed, opens at 14:00 UTC.
    assert is_within_window(utc(2026, 3, 2, 14, 30), WEEKDAYS_9_TO_17, NEW_YORK)
    assert next_send_opening(utc(2026, 3, 2, 13, 30), WEEKDAYS_9_TO_17, NEW_YORK) == utc(2026, 3, 2, 14)


def test_spring_forward_opens_at_nine_local_in_daylight_time():
    # US clocks go forward on Sunday 2026-03-08. Friday 9:00 EST is 14:00 UTC; Monday 9:00 EDT is 13:00 UTC.
    friday_after_hours = utc(2026, 3, 6, 23)
    assert next_send_opening(friday_after_hours, WEEKDAYS_9_TO_17, NEW_YORK) == utc(2026, 3, 9, 13)


def test_fall_back_opens_at_nine_local_in_standard_time():
    # Europe goes back on Sunday 2026-10-25: Friday 9:00 CEST is 07:00 UTC, Monday 9:00 CET is 08:00 UTC.
    friday_after_hours = utc(2026, 10, 23, 16)
    assert next_send_opening(friday_after_hours, WEEKDAYS_9_TO_17, BERLIN) == utc(2026, 10, 26, 8)


def test_window_opening_inside_the_skipped_hour_moves_past_the_gap():
    night_window = SendWindow(frozenset(range(7)), 2, 4)
    # 02:00 does not exist in New York on 2026-03-08; the window opens at 03:00 EDT (07:00 UTC).
    saturday_late = utc(2026, 3, 7, 12)
    opening = next_send_opening(saturday_late, night_window, NEW_YORK)
    assert opening == utc(2026, 3, 8, 7)
    assert opening.astimezone(NEW_YORK).hour == 3


def test_zone_falls_back_to_the_tenants_then_utc():
    assert zone_for("Europe/Berlin", "America/New_York") == BERLIN
    assert zone_for(None, "America/New_York") == NEW_YORK
    assert zone_for("Not/AZone", None) == ZoneInfo("UTC")


def test_a_window_that_never_opens_is_treated_as_always_open():
    window = SendWindow.from_policy({"days": [], "start_hour": 9, "end_hour": 17})
    assert window == SendWindow(frozenset(range(7)), 0, 24)


def test_a_broken_stored_zone_falls_back_instead_of_raising():
    # Each of these made zoneinfo raise an OSError, which zone_for did not catch.
    assert zone_for("x" * 300, "America/New_York") == NEW_YORK
    assert zone_for("America", "Europe/Berlin") == BERLIN
    assert zone_for("America", "y" * 300) == ZoneInfo("UTC")
