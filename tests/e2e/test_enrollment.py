"""A person enrolls leads: one by hand from its page, a refusal explained, and many at once."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import Enrollment
from tests import factories


def _sequence(tenant, name="Warm nurture"):
    return factories.make_sequence(
        tenant,
        name=name,
        status="active",
        steps=[{"channel": "email", "template_id": "intro", "delay_hours": 2}],
    )


def test_enroll_a_lead_by_hand_from_its_page(page, sign_in, tenant, screenshot):
    rep = factories.make_user(tenant, "rep")
    sequence = _sequence(tenant)
    lead = factories.make_lead(tenant, first_name="Ada", last_name="Lovelace")
    sign_in(rep)
    page.goto(f"/leads/{lead.id}")
    page.get_by_label("Enroll in a sequence").select_option(label="Warm nurture")
    page.wait_for_selector(".checks li")
    assert page.locator(".checks li.fail").count() == 0
    screenshot(page, "lead-enroll-verdict")
    page.get_by_role("button", name="Enroll in Warm nurture").click()
    done = page.locator("#verdict .verdict-line.done")
    done.wait_for()
    assert "Ada Lovelace is enrolled in “Warm nurture”." in done.inner_text()
    row = page.locator("#lead-sequences tbody tr")
    assert "Warm nurture" in row.inner_text() and "Active" in row.inner_text()
    assert (
        db.session.scalar(sa.select(Enrollment.sequence_id).where(Enrollment.lead_id == lead.id))
        == sequence.id
    )
    assert page.js_errors == []


def test_a_do_not_contact_lead_shows_why_it_cannot_join(page, sign_in, tenant, screenshot):
    rep = factories.make_user(tenant, "rep")
    _sequence(tenant)
    lead = factories.make_lead(
        tenant, first_name="Dee", last_name="Encee", do_not_contact=True, score_band="cold"
    )
    sign_in(rep)
    page.goto(f"/leads/{lead.id}")
    page.get_by_label("Enroll in a sequence").select_option(label="Warm nurture")
    refusal = page.get_by_role("alert")
    refusal.wait_for()
    assert "cannot be enrolled: The lead is marked do-not-contact." in refusal.inner_text()
    failed = page.locator(".checks li.fail").all_inner_texts()
    assert any("do-not-contact" in text for text in failed)
    assert any("Score band is warm" in text for text in failed)
    assert page.get_by_role("button", name="Enroll anyway").count() == 0
    screenshot(page, "lead-enroll-refused")


def test_bulk_enroll_a_filtered_set_and_watch_the_progress_bar_finish(
    page, sign_in, tenant, worker_process, screenshot
):
    marketer = factories.make_user(tenant, "marketer")
    _sequence(tenant)
    for i in range(12):
        factories.make_lead(tenant, first_name=f"Bulk{i}", segment="Enterprise", do_not_contact=(i == 0))
    for i in range(5):
        factories.make_lead(tenant, first_name=f"Other{i}", segment="SMB")
    sign_in(marketer)
    page.goto("/leads/?segment=Enterprise")
    assert "of 12 leads" in page.locator(".pager").inner_text()
    page.get_by_label("Which leads").select_option("matching")
    page.get_by_label("Sequence").select_option(label="Warm nurture")
    page.locator("#bulk-form").get_by_role("button", name="Enroll").click()
    page.wait_for_url("**/leads/bulk-enroll/**")
    page.get_by_role("heading", name="Done: 11 enrolled").wait_for(timeout=30_000)
    assert page.locator("progress.bar").get_attribute("value") == "100"
    assert "1 · marked do-not-contact" in page.locator(".summary").inner_text()
    screenshot(page, "bulk-enroll-done")
    assert db.session.scalar(sa.select(sa.func.count(Enrollment.id))) == 11


def test_select_rows_and_enroll_only_those(page, sign_in, tenant, worker_process):
    marketer = factories.make_user(tenant, "marketer")
    _sequence(tenant)
    leads = [factories.make_lead(tenant, first_name=f"Pick{i}") for i in range(4)]
    sign_in(marketer)
    page.goto("/leads/")
    page.get_by_label(f"Select {leads[0].name}").check()
    page.get_by_label(f"Select {leads[2].name}").check()
    page.locator("#bulk-form").get_by_role("button", name="Enroll").click()
    page.get_by_role("heading", name="Done: 2 enrolled").wait_for(timeout=30_000)
    enrolled = set(db.session.scalars(sa.select(Enrollment.lead_id)))
    assert enrolled == {leads[0].id, leads[2].id}


def test_enroll_anyway_updates_the_page_in_place(page, sign_in, tenant, screenshot):
    rep = factories.make_user(tenant, "rep")
    _sequence(tenant)
    lead = factories.make_lead(tenant, first_name="Quinn", last_name="Cold", score_band="cold")
    sign_in(rep)
    page.goto(f"/leads/{lead.id}")
    assert "Not in any sequence yet" in page.locator("#lead-sequences").inner_text()
    page.get_by_label("Enroll in a sequence").select_option(label="Warm nurture")
    page.get_by_label("I know, enroll anyway").check()
    page.get_by_role("button", name="Enroll anyway").click()
    done = page.locator("#verdict .verdict-line.done")
    done.wait_for()
    assert "Quinn Cold is enrolled in “Warm nurture”." in done.inner_text()
    assert page.locator("aside.sidebar").count() == 1  # no page inside the page
    assert "Not in any sequence yet" not in page.locator("#lead-sequences").inner_text()
    assert "Warm nurture" in page.locator("#lead-sequences tbody tr").inner_text()
    screenshot(page, "lead-enroll-anyway-in-place")
    assert page.js_errors == []
