"""An admin fills the holiday calendar (an .ics file, a country) and a marketer gives a sequence its own window."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Acme//Holidays//EN\r
BEGIN:VEVENT\r
UID:1@acme.test\r
DTSTART;VALUE=DATE:20260316\r
DTEND;VALUE=DATE:20260317\r
SUMMARY:Fête de l’entreprise\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:2@acme.test\r
DTSTART;VALUE=DATE:20260401\r
DTEND;VALUE=DATE:20260403\r
SUMMARY:Spring shutdown\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_an_admin_imports_a_calendar_picks_a_country_and_removes_a_date(
    page, sign_in, tenant, clock, screenshot
):
    sign_in(factories.make_user(tenant, "admin"))
    page.goto("/settings/")
    page.get_by_role("link", name="Holidays").click()
    expect(page.get_by_role("heading", name="Import a calendar")).to_be_visible()

    page.get_by_label("Calendar file (.ics)").set_input_files(
        files=[{"name": "company.ics", "mimeType": "text/calendar", "buffer": ICS.encode()}]
    )
    page.get_by_role("button", name="Import dates").click()
    expect(page.get_by_text("Imported 3 new holiday dates.")).to_be_visible()
    expect(page.locator(".holidays li")).to_have_count(3)
    expect(page.locator(".holidays")).to_contain_text("Fête de l’entreprise")

    # A file that is not a calendar: a clear error under the field, the dates stay.
    page.get_by_label("Calendar file (.ics)").set_input_files(
        files=[{"name": "notes.ics", "mimeType": "text/calendar", "buffer": b"just some notes"}]
    )
    page.get_by_role("button", name="Import dates").click()
    expect(page.get_by_role("alert")).to_contain_text("not an iCalendar")
    expect(page.locator(".holidays li")).to_have_count(3)

    page.get_by_label("Country").select_option("GB")
    page.get_by_role("button", name="Save country").click()
    expect(page.get_by_text("Saved the holiday country.")).to_be_visible()
    expect(page.locator(".holidays")).to_contain_text("Good Friday")
    page.get_by_label("Region").select_option("ENG")
    page.get_by_role("button", name="Save country").click()
    expect(page.locator(".holiday-list .card-head")).to_contain_text("United Kingdom (ENG)")

    page.get_by_role("button", name="Remove Spring shutdown on 2 Apr 2026").click()
    expect(page.get_by_text("Removed Thu 2 Apr 2026")).to_be_visible()
    expect(page.get_by_role("button", name="Remove Spring shutdown on 1 Apr 2026")).to_be_visible()
    expect(page.get_by_role("button", name="Remove Spring shutdown on 2 Apr 2026")).to_have_count(0)

    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"holidays-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    # The refused file answered 422 (the page with its error): that is not a script error.
    assert [e for e in page.js_errors if "status of 422" not in e] == []


def test_a_marketer_gives_a_sequence_its_own_window_and_the_schedule_line_follows(
    page, sign_in, tenant, clock, screenshot
):
    tenant.policy = {"holiday_country": "GB", "timezone": "Europe/London"}
    factories.make_template(tenant, "intro", name="Intro")
    sequence = factories.make_sequence(
        tenant,
        name="Mornings",
        steps=[{"template_id": "intro"}, {"template_id": "intro", "delay_hours": 48}],
    )
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto(f"/sequences/{sequence.id}")
    line = page.locator("[data-send-window]")
    expect(line).to_contain_text("Emails go out Mon–Fri 09:00–17:00 in each lead's time zone")
    expect(line).to_contain_text("skipping United Kingdom public holidays")

    card = page.locator("#send-window")
    card.get_by_text("When emails go out").click()
    card.get_by_label("This sequence's own window").check()
    card.get_by_label("From", exact=True).select_option("8")
    card.get_by_label("Until", exact=True).select_option("11")
    card.get_by_role("button", name="Save send window").click()
    expect(line).to_contain_text("Emails go out Mon–Fri 08:00–11:00 in each lead's time zone")
    expect(line).to_contain_text("This sequence's own window.")

    # A step that waits business days says so on its card.
    page.get_by_role("button", name="Edit step 2").click()
    form = page.locator(".step-form")
    form.locator("[name=delay_value]").fill("2")
    form.get_by_label("Unit").select_option("business_days")
    form.get_by_role("button", name="Save step").click()
    expect(page.locator(".step-card").nth(1)).to_contain_text("2 business days after the previous step")

    page.goto(f"/sequences/{sequence.id}#send-window")
    page.locator("#send-window").evaluate("el => el.open = true")
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"sequence-window-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.js_errors == []
