"""A marketer imports leads from a CSV; a rep logs a lead's reply by hand and watches the sequence stop."""

from __future__ import annotations

from rq import SimpleWorker

from nurture_ui.extensions import get_queue, get_redis
from tests import factories

CSV = (
    "Email,First name,Last name,Company,Score,Status\n"
    "ada@example.com,Ada,Lovelace,Engines Ltd,80,qualified\n"
    "grace@example,Grace,Hopper,Navy,60,new\n"
    "alan@example.com,Alan,Turing,Bletchley,150,new\n"
    "linus@example.com,Linus,Torvalds,Kernel,40,sleeping\n"
    "margaret@example.com,Margaret,Hamilton,Apollo,90,contacted\n"
)


def test_import_a_csv_with_bad_rows_and_read_the_error_report(page, sign_in, tenant, screenshot):
    marketer = factories.make_user(tenant, "marketer", name="Mia Marketer")
    sign_in(marketer)
    page.goto("/leads/")
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "conference-leads.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    screenshot(page, "import-upload")
    page.get_by_role("button", name="Upload and map columns").click()

    page.wait_for_url("**/mapping")
    assert page.get_by_label("Email (required)").input_value() == "Email"  # guessed from the header
    assert page.get_by_label("Last name").input_value() == "Last name"
    screenshot(page, "import-mapping")
    page.get_by_role("button", name="Import 5 rows").click()

    page.wait_for_selector("#import-progress progress")
    assert "Waiting for a worker" in page.locator("#import-progress").inner_text()
    screenshot(page, "import-queued")

    SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)

    # The page polls with htmx and shows the report when the job is done, without a reload.
    page.wait_for_selector("text=Rows not imported")
    report = page.locator("table.error-report")
    rows = report.locator("tbody tr")
    assert rows.count() == 3
    text = report.inner_text()
    assert "grace@example" in text and "150" in text and "sleeping" in text
    assert page.locator("[data-count=created]").inner_text() == "2"
    assert page.locator("[data-count=errors]").inner_text().startswith("3")
    screenshot(page, "import-report")
    assert page.js_errors == []


def test_log_a_positive_reply_by_hand_and_see_the_enrollment_exit(page, sign_in, tenant, screenshot):
    rep = factories.make_user(tenant, "rep", name="Rob Rep")
    lead = factories.make_lead(
        tenant, first_name="Grace", last_name="Hopper", company="Navy Labs", owner_id=rep.id
    )
    sequence = factories.make_sequence(
        tenant, name="Warm follow-up", status="active", steps=[{"channel": "email", "delay_hours": 48}] * 3
    )
    enrollment = factories.make_enrollment(lead, sequence)
    sign_in(rep)
    page.goto(f"/leads/{lead.id}")
    assert "active" in page.locator(".card", has_text="Sequences").first.inner_text().lower()
    screenshot(page, "lead-before-reply")

    page.get_by_label("Log a reply").fill(
        "Hi Rob, thanks for following up - this is timely. Can we set up a call on Thursday?"
    )
    page.get_by_role("button", name="Log reply").click()

    page.wait_for_selector(".flash.success")
    assert "classified as positive" in page.locator(".flash.success").inner_text()
    sequences = page.locator(".card", has_text="Sequences").first.inner_text().lower()
    assert "exited" in sequences and "positive reply" in sequences
    timeline = page.locator(".timeline").inner_text()
    assert "Nurture exited" in timeline and "Reply received" in timeline
    assert "positive" in page.locator("#signals .reply").first.inner_text().lower()
    screenshot(page, "lead-after-positive-reply")

    # The enrollment's own timeline tells the same story, with the reason it ended.
    page.locator("#lead-sequences").get_by_role("link", name="Warm follow-up").click()
    page.wait_for_url(f"**/enrollments/{enrollment.id}")
    timeline = page.locator("#enrollment-timeline")
    assert timeline.get_attribute("data-status") == "exited"
    past = page.locator('[data-kind="past"]')
    assert "The lead replied (positive)" in past.nth(past.count() - 2).inner_text()
    exited = past.last.inner_text()
    assert "Left the sequence" in exited and "The lead replied positively" in exited and "Rob Rep" in exited
    assert page.locator('[data-kind="planned"]').count() == 0
    assert "nothing more is planned" in timeline.inner_text()
    screenshot(page, "enrollment-after-positive-reply")
    assert page.js_errors == []
