"""Holidays and business days in the send window: local dates, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from nurture_ui import clock
from nurture_ui.engine.schedule import (
    SendSchedule,
    SendWindow,
    add_business_days,
    delay_ends_at,
    next_send_opening,
    sequence_window_problems,
    step_due_after,
)
from nurture_ui.holiday_calendar import HolidayCalendar

WEEKDAYS_9_TO_17 = SendWindow(frozenset(range(5)), 9, 17)
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_email_due_on_a_holiday_monday_after_spring_forward_lands_tuesday_nine_local():
    # US clocks go forward on Sunday 2026-03-08; make Monday 03-09 a holiday. Friday 18:00 EST (23:00 UTC)
    # is after hours: the window next opens Tuesday 09:00 EDT = 13:00 UTC (not 14:00 as in winter).
    holidays = {date(2026, 3, 9)}
    friday_evening = utc(2026, 3, 6, 23)
    assert next_send_opening(friday_evening, WEEKDAYS_9_TO_17, NEW_YORK, holidays) == utc(2026, 3, 10, 13)
    # The same instant without the holiday opens on Monday.
    assert next_send_opening(friday_evening, WEEKDAYS_9_TO_17, NEW_YORK) == utc(2026, 3, 9, 13)


def test_london_holiday_monday_across_spring_forward():
    # UK clocks go forward on Sunday 2026-03-29. Friday 09:00 GMT is 09:00 UTC; Tuesday 09:00 BST is 08:00 UTC.
    holidays = {date(2026, 3, 30)}
    friday_after_hours = utc(2026, 3, 27, 17, 30)
    assert next_send_opening(friday_after_hours, WEEKDAYS_9_TO_17, LONDON, holidays) == utc(2026, 3, 31, 8)


def test_holiday_is_a_local_date_not_a_utc_one():
    # Tuesday 2026-03-10 is the holiday. Monday 16:00 EDT is 20:00 UTC and still open; at 17:00 EDT
    # (21:00 UTC) the window shuts, and it stays shut all of the local Tuesday (which begins at 04:00 UTC),
    # so it opens Wednesday 09:00 EDT.
    holidays = {date(2026, 3, 10)}
    assert next_send_opening(utc(2026, 3, 9, 20), WEEKDAYS_9_TO_17, NEW_YORK, holidays) == utc(2026, 3, 9, 20)
    assert next_send_opening(utc(2026, 3, 9, 21), WEEKDAYS_9_TO_17, NEW_YORK, holidays) == utc(
        2026, 3, 11, 13
    )


def test_an_instant_inside_the_hours_of_a_holiday_is_held():
    holidays = {date(2026, 3, 2)}
    monday_10 = utc(2026, 3, 2, 10)
    assert next_send_opening(monday_10, WEEKDAYS_9_TO_17, ZoneInfo("UTC"), holidays) == utc(2026, 3, 3, 9)


def test_two_business_days_over_a_weekend_and_a_holiday():
    # Thursday 2026-03-05 10:30 New York; Friday is business day 1, the weekend and holiday Monday 03-09 are
    # skipped, Tuesday 03-10 is business day 2: 10:30 EDT = 14:30 UTC (it was 15:30 UTC on Thursday, EST).
    holidays = {date(2026, 3, 9)}
    thursday = utc(2026, 3, 5, 15, 30)
    assert add_business_days(thursday, 2, WEEKDAYS_9_TO_17, NEW_YORK, holidays) == utc(2026, 3, 10, 14, 30)


def test_zero_business_days_is_no_wait():
    instant = utc(2026, 3, 7, 12)
    assert add_business_days(instant, 0, WEEKDAYS_9_TO_17, NEW_YORK, set()) == instant


def test_business_days_follow_the_windows_open_weekdays():
    tuesday_to_thursday = SendWindow(frozenset({1, 2, 3}), 9, 17)
    # From Thursday 2026-03-05 10:00 UTC, 1 business day is next Tuesday.
    assert add_business_days(utc(2026, 3, 5, 10), 1, tuesday_to_thursday, ZoneInfo("UTC"), set()) == utc(
        2026, 3, 10, 10
    )


def _step(channel="email", *, hours=0, business_days=0):
    unit = "business_days" if business_days else "hours"
    return SimpleNamespace(
        channel=channel, delay_hours=hours, delay_unit=unit, delay_business_days=business_days
    )


def test_business_day_step_after_hours_is_moved_into_the_window():
    schedule = SendSchedule(WEEKDAYS_9_TO_17, "lead", "UTC", {date(2026, 3, 9)})
    with clock.frozen_at(utc(2026, 3, 5, 20)):  # Thursday 15:00 EST, after a step that ran then
        start = clock.now()
        # 1 business day: Friday 15:00 EST; 2: Tuesday (Monday is a holiday) 15:00 EDT = 19:00 UTC.
        assert delay_ends_at(start, _step(business_days=2), schedule, "America/New_York") == utc(
            2026, 3, 10, 19
        )
        # 18:00 local Thursday + 1 business day = Friday 18:00, after hours: Tuesday 09:00 EDT.
        late = utc(2026, 3, 5, 23)
        due = step_due_after(
            late, _step(business_days=1), lead_timezone="America/New_York", schedule=schedule
        )
        assert due == utc(2026, 3, 10, 13)


def test_a_task_waits_business_days_but_not_for_the_window():
    schedule = SendSchedule(WEEKDAYS_9_TO_17, "lead", "UTC")
    friday_evening = utc(2026, 3, 6, 22)
    due = step_due_after(
        friday_evening, _step("task", business_days=1), lead_timezone=None, schedule=schedule
    )
    assert due == utc(2026, 3, 9, 22)


def test_tenant_zone_rule_ignores_the_leads_zone():
    schedule = SendSchedule(WEEKDAYS_9_TO_17, "tenant", "Europe/London")
    assert schedule.zone("America/New_York") == LONDON
    assert SendSchedule(WEEKDAYS_9_TO_17, "lead", "Europe/London").zone("America/New_York") == NEW_YORK


def test_calendar_combines_imported_dates_and_country_holidays():
    calendar = HolidayCalendar(imported={date(2026, 7, 1): "Company day"}, country="GB", subdivision="ENG")
    assert date(2026, 7, 1) in calendar
    assert date(2026, 12, 25) in calendar  # Christmas Day
    assert date(2026, 8, 31) in calendar  # Summer bank holiday in England
    assert date(2026, 8, 3) not in calendar  # Summer bank holiday is Scotland's on the first Monday
    assert calendar.name_of(date(2026, 7, 1)) == "Company day"
    coming = calendar.coming(date(2026, 6, 1), days=100)
    assert [(d, source) for d, _, source in coming] == [
        (date(2026, 7, 1), "imported"),
        (date(2026, 8, 31), "country"),
    ]


def test_sequence_window_problems_name_the_field():
    assert sequence_window_problems(None) == {}
    assert sequence_window_problems({"days": [0], "start_hour": 8, "end_hour": 11, "zone": "lead"}) == {}
    problems = sequence_window_problems({"days": [], "start_hour": 12, "end_hour": 9, "zone": "mars"})
    assert set(problems) == {"send_days", "send_end_hour", "send_zone"}
