"""A tenant's holiday calendar: dates imported from an .ics file plus a country's public holidays.

A holiday is a local date: the send window stays shut all of that day in whichever zone the email is timed
in (``engine.schedule``). Imported dates live in ``tenant_holidays``; the country (and subdivision) is a
policy setting and its holidays come from the ``holidays`` package, year by year as they are asked about.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

import holidays as public_holidays
import sqlalchemy as sa
import sqlalchemy.event
from holidays import registry
from icalendar import Calendar
from sqlalchemy.orm import Session

from nurture_ui import activity, clock
from nurture_ui.extensions import db
from nurture_ui.models import TenantHoliday

# An .ics file larger than this is not a holiday calendar; a single event longer than this is not a holiday.
MAX_ICS_BYTES = 1_000_000
MAX_EVENT_DAYS = 31


@cache
def country_calendar(country: str, subdivision: str) -> public_holidays.HolidayBase:
    """The public holidays of ``country`` (ISO code) and ``subdivision`` ("" for the whole country).
    Raises ``NotImplementedError`` for a code the package does not know. Years fill in as they are read."""
    return public_holidays.country_holidays(country, subdiv=subdivision or None)


def countries() -> dict[str, list[str]]:
    """Every supported ISO country code with its subdivision codes."""
    return {code: list(subs) for code, subs in sorted(public_holidays.list_supported_countries().items())}


@cache
def _country_names() -> dict[str, str]:
    # The package's registry: module → (class name, ISO code, …); "UnitedKingdom" reads "United Kingdom".
    return {entry[1]: re.sub(r"(?<=[a-z])(?=[A-Z])", " ", entry[0]) for entry in registry.COUNTRIES.values()}


def country_name(country: str) -> str:
    """A country's name as the package spells it ("United Kingdom"), else its code."""
    return _country_names().get(country, country)


def region_names(country: str) -> dict[str, str]:
    """A country's subdivision codes with their names where the package has one ({"ENG": "England"})."""
    try:
        aliases = getattr(public_holidays.country_holidays(country), "subdivisions_aliases", {}) or {}
    except NotImplementedError:
        return {}
    names = {code: code for code in countries().get(country, [])}
    for name, code in aliases.items():
        if names.get(code) == code:
            names[code] = name
    return names


@dataclass(frozen=True)
class HolidayCalendar:
    """The dates no email goes out on: ``day in calendar`` answers for any local date."""

    imported: dict[date, str] = field(default_factory=dict)
    country: str = ""
    subdivision: str = ""

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self.imported or (bool(self.country) and day in self._public())

    def __bool__(self) -> bool:
        return bool(self.imported or self.country)

    def _public(self) -> public_holidays.HolidayBase | dict:
        try:
            return country_calendar(self.country, self.subdivision)
        except NotImplementedError:
            return {}

    def name_of(self, day: date) -> str:
        if day in self.imported:
            return self.imported[day] or "Holiday"
        return str(self._public().get(day) or "") if self.country else ""

    def coming(self, start: date, days: int = 365) -> list[tuple[date, str, str]]:
        """The holidays from ``start`` for ``days`` days: (date, name, "imported" | "country"), by date."""
        end = start + timedelta(days=days)
        found: dict[date, tuple[date, str, str]] = {}
        if self.country:
            public = self._public()
            for year in range(start.year, end.year + 1):
                public.get(date(year, 1, 1))  # fills the year in
            for day, name in public.items():
                if start <= day < end:
                    found[day] = (day, str(name), "country")
        for day, name in self.imported.items():
            if start <= day < end:
                found[day] = (day, name or "Holiday", "imported")
        return [found[day] for day in sorted(found)]


# The imported dates a transaction has read, per tenant: the executor times many emails of one tenant in one
# batch. Forgotten when the transaction ends, so a worker sees an import from its next transaction on.
_READ_IN_TRANSACTION = "holiday_dates_by_tenant"


@sqlalchemy.event.listens_for(Session, "after_commit")
@sqlalchemy.event.listens_for(Session, "after_rollback")
def _forget_read_dates(session) -> None:
    session.info.pop(_READ_IN_TRANSACTION, None)


def calendar_for(tenant) -> HolidayCalendar:
    """``tenant``'s calendar (anything with ``id`` and ``policy_value``): one query for the imported dates,
    at most once per transaction."""
    read = db.session.info.setdefault(_READ_IN_TRANSACTION, {})
    imported = read.get(tenant.id)
    if imported is None:
        rows = db.session.execute(
            sa.select(TenantHoliday.day, TenantHoliday.name).where(TenantHoliday.tenant_id == tenant.id)
        ).all()
        imported = read[tenant.id] = {row.day: row.name for row in rows}
    return HolidayCalendar(
        imported=imported,
        country=tenant.policy_value("holiday_country") or "",
        subdivision=tenant.policy_value("holiday_subdivision") or "",
    )


class CalendarRefused(ValueError):
    """The file is not a calendar this page can read; the message says why in words a person can act on."""


def holiday_dates_in_ics(data: bytes) -> dict[date, str]:
    """Every date an .ics file's events cover, with the event's summary. An all-day event covers its day;
    a multi-day event every day from DTSTART up to (not including) DTEND; a timed event its start date.
    Raises ``CalendarRefused`` for a file that is not an iCalendar, has no events, or is too big."""
    if len(data) > MAX_ICS_BYTES:
        raise CalendarRefused("The file is over 1 MB: that is not a holiday calendar.")
    try:
        calendar = Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as error:
        raise CalendarRefused(f"This is not an iCalendar (.ics) file: {str(error)[:120]}") from None
    found: dict[date, str] = {}
    for event in calendar.walk("VEVENT"):
        try:
            start = event.decoded("DTSTART")
        except (KeyError, ValueError):
            continue
        try:
            end = event.decoded("DTEND")
        except (KeyError, ValueError):
            end = None
        first = start.date() if isinstance(start, datetime) else start
        if isinstance(end, date) and not isinstance(end, datetime) and end > first:
            last = end - timedelta(days=1)  # an all-day DTEND is exclusive
        elif isinstance(end, datetime) and end.date() > first:
            last = (
                end.date() if (end.hour, end.minute, end.second) != (0, 0, 0) else end.date() - timedelta(1)
            )
        else:
            last = first
        if (last - first).days >= MAX_EVENT_DAYS:
            raise CalendarRefused(
                f"An event from {first.isoformat()} to {last.isoformat()} is longer than {MAX_EVENT_DAYS} days:"
                " that is not a holiday."
            )
        name = str(event.get("SUMMARY", "") or "")[:255]
        day = first
        while day <= last:
            found.setdefault(day, name)
            day += timedelta(days=1)
    if not found:
        raise CalendarRefused("The file has no events with dates: nothing to import.")
    return found


def import_holidays(tenant, data: bytes, *, actor_id: uuid.UUID | None) -> int:
    """Add the dates of the .ics ``data`` to ``tenant``'s calendar (dates already there keep their name).
    Returns how many were new. Commits once, with a ``holidays_imported`` activity. Raises
    ``CalendarRefused`` before changing anything when the file cannot be read."""
    dates = holiday_dates_in_ics(data)
    have = set(
        db.session.scalars(sa.select(TenantHoliday.day).where(TenantHoliday.tenant_id == tenant.id)).all()
    )
    new = {day: name for day, name in dates.items() if day not in have}
    for day, name in sorted(new.items()):
        db.session.add(TenantHoliday(tenant_id=tenant.id, day=day, name=name))
    activity.record(
        "holidays_imported",
        tenant_id=tenant.id,
        actor_id=actor_id,
        occurred_at=clock.now(),
        data={"dates": len(dates), "new": len(new)},
    )
    db.session.commit()
    return len(new)


def remove_holiday(tenant, holiday_id: uuid.UUID, *, actor_id: uuid.UUID | None) -> TenantHoliday | None:
    """Remove one imported date of ``tenant`` (None when it has no such date). Commits, with an activity."""
    row = db.session.scalar(
        sa.select(TenantHoliday).where(TenantHoliday.id == holiday_id, TenantHoliday.tenant_id == tenant.id)
    )
    if row is None:
        return None
    db.session.delete(row)
    activity.record(
        "holiday_removed",
        tenant_id=tenant.id,
        actor_id=actor_id,
        occurred_at=clock.now(),
        data={"day": row.day.isoformat(), "name": row.name},
    )
    db.session.commit()
    return row
