"""The holiday calendar page: import an .ics file, pick a country, remove one imported date."""

from __future__ import annotations

import io
from datetime import date

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.holiday_calendar import calendar_for
from nurture_ui.models import Activity, Tenant, TenantHoliday

# A small calendar: an all-day event with a non-ASCII summary, a three-day event, and a timed event.
ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Acme//Holidays//EN\r
BEGIN:VEVENT\r
UID:1@acme.test\r
DTSTART;VALUE=DATE:20260316\r
DTEND;VALUE=DATE:20260317\r
SUMMARY:Fête de l’entreprise ☀\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:2@acme.test\r
DTSTART;VALUE=DATE:20260401\r
DTEND;VALUE=DATE:20260404\r
SUMMARY:Spring shutdown\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:3@acme.test\r
DTSTART:20260505T090000Z\r
DTEND:20260505T100000Z\r
SUMMARY:Offsite\r
END:VEVENT\r
END:VCALENDAR\r
""".encode()


def upload(client, data: bytes, name="holidays.ics"):
    return client.post(
        "/settings/holidays/import",
        {"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def imported(tenant) -> dict[date, str]:
    rows = db.session.execute(
        sa.select(TenantHoliday.day, TenantHoliday.name).where(TenantHoliday.tenant_id == tenant.id)
    )
    return dict(rows.all())


def test_importing_an_ics_adds_every_day_of_each_event_with_its_name(clock, tenant, login_as):
    client = login_as("admin")
    response = upload(client, ICS)
    assert response.status_code == 302
    assert imported(tenant) == {
        date(2026, 3, 16): "Fête de l’entreprise ☀",
        date(2026, 4, 1): "Spring shutdown",
        date(2026, 4, 2): "Spring shutdown",
        date(2026, 4, 3): "Spring shutdown",
        date(2026, 5, 5): "Offsite",
    }
    page = client.get("/settings/holidays/").get_data(as_text=True)
    assert "Imported 5 new holiday dates." in page
    assert "Mon 16 Mar 2026" in page and "Fête de l’entreprise ☀" in page
    assert page.count('<span class="holiday-name">Spring shutdown</span>') == 3
    # Importing the same file again adds nothing and keeps the dates.
    upload(client, ICS)
    assert len(imported(tenant)) == 5
    assert "Every date in the file was already a holiday." in client.get("/settings/holidays/").get_data(
        as_text=True
    )


def test_a_file_that_is_not_a_calendar_is_refused_and_nothing_is_lost(clock, tenant, login_as):
    client = login_as("admin")
    upload(client, ICS)
    for bad in (
        b"name,date\nXmas,2026-12-25\n",
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
        b"\xff\xfe\x00",
    ):
        response = upload(client, bad, "calendar.ics")
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert 'role="alert"' in html
        assert "not an iCalendar" in html or "no events" in html
    assert len(imported(tenant)) == 5


def test_removing_one_imported_date_keeps_the_others(clock, tenant, login_as):
    client = login_as("admin")
    upload(client, ICS)
    row = db.session.scalar(sa.select(TenantHoliday).where(TenantHoliday.day == date(2026, 4, 2)))
    response = client.post(f"/settings/holidays/{row.id}/remove")
    assert response.status_code == 302
    assert date(2026, 4, 2) not in imported(tenant) and date(2026, 4, 1) in imported(tenant)
    assert "Removed Thu 2 Apr 2026" in client.get("/settings/holidays/").get_data(as_text=True)
    kinds = db.session.scalars(sa.select(Activity.type).where(Activity.tenant_id == tenant.id)).all()
    assert {"holidays_imported", "holiday_removed"} <= set(kinds)


def test_another_tenants_holiday_cannot_be_removed(clock, tenant, other_tenant, login_as):
    upload(login_as("admin", in_tenant=other_tenant), ICS)
    theirs = db.session.scalar(sa.select(TenantHoliday).where(TenantHoliday.tenant_id == other_tenant.id))
    assert login_as("admin").post(f"/settings/holidays/{theirs.id}/remove").status_code == 404
    assert len(imported(other_tenant)) == 5


def test_choosing_a_country_lists_its_public_holidays(clock, tenant, login_as):
    client = login_as("admin")
    response = client.post("/settings/holidays/country", {"holiday_country": "GB", "holiday_subdivision": ""})
    assert response.status_code == 302
    page = client.get("/settings/holidays/").get_data(as_text=True)
    assert "Good Friday" in page and "Fri 3 Apr 2026" in page
    # A region of that country adds its own holidays: St Patrick's Day in Northern Ireland.
    client.post("/settings/holidays/country", {"holiday_country": "GB", "holiday_subdivision": "NIR"})
    db.session.expire_all()
    calendar = calendar_for(db.session.get(Tenant, tenant.id))
    assert date(2026, 3, 17) in calendar and date(2026, 4, 3) in calendar
    assert "Saint Patrick" in client.get("/settings/holidays/").get_data(as_text=True)


def test_an_unknown_country_or_region_is_a_form_error(clock, tenant, login_as):
    client = login_as("admin")
    response = client.post("/settings/holidays/country", {"holiday_country": "XX", "holiday_subdivision": ""})
    assert response.status_code == 422
    response = client.post(
        "/settings/holidays/country", {"holiday_country": "GB", "holiday_subdivision": "CA"}
    )
    assert response.status_code == 422
    assert "CA is not a region of GB" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).policy_value("holiday_country") == ""


def test_only_admins_open_the_holiday_page(clock, tenant, login_as):
    for role in ("marketer", "rep", "manager"):
        assert login_as(role).get("/settings/holidays/").status_code == 403
