"""A marketer sees who would join before activating, and the numbers are what auto-enrollment then does."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from nurture_ui import enrollment as enrolling
from nurture_ui.extensions import db
from tests import factories

SMB = {"all": [{"field": "segment", "op": "eq", "value": "SMB"}]}


def _count(locator) -> int:
    return int(re.sub(r"[^\d]", "", locator.inner_text()))


def test_the_breakdown_and_the_activation_preview_match_what_auto_enroll_does(
    page, sign_in, tenant, screenshot
):
    marketer = factories.make_user(tenant, "marketer")
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(
        tenant,
        name="Spring webinar",
        status="draft",
        entry_rules=SMB,
        steps=[{"channel": "email", "template_id": "intro", "delay_hours": 0}],
    )
    elsewhere = factories.make_sequence(tenant, name="Welcome", status="paused", steps=[{"channel": "email"}])
    factories.make_lead(
        tenant, segment="SMB", first_name="Ana", last_name="Alvarez", timezone="Europe/Berlin"
    )
    factories.make_lead(tenant, segment="SMB", first_name="Bo", last_name="Berg", timezone="America/Chicago")
    factories.make_lead(tenant, segment="SMB", first_name="Cy", last_name="Cold", score_band="cold")
    busy = factories.make_lead(tenant, segment="SMB", first_name="Di", last_name="Busy")
    factories.make_enrollment(busy, elsewhere)
    factories.make_lead(tenant, segment="Enterprise")

    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        sign_in(marketer) if width == 1440 else None
        page.goto(f"/sequences/{sequence.id}")
        breakdown = page.locator("#entry-count")
        expect(breakdown).to_contain_text("match the entry rule")
        assert _count(breakdown.locator("[data-matching]")) == 4
        assert _count(breakdown.locator("[data-can-join]")) == 2
        expect(breakdown.locator('[data-reason="in_sequence"]')).to_contain_text("1 already in a sequence")
        expect(breakdown.locator('[data-reason="score_band"]')).to_contain_text("1 score band not warm")
        page.locator("#entry-card").scroll_into_view_if_needed()
        screenshot(page, f"builder-breakdown-{width}")

        page.get_by_role("link", name="Activate…").click()
        expect(page.locator("h1")).to_contain_text("Activate “Spring webinar”?")
        assert _count(page.locator("[data-join-now]")) == 2
        expect(page.locator("[data-sample] tbody tr")).to_have_count(2)
        expect(page.locator("[data-sample]")).to_contain_text(
            " Berlin"
        )  # the lead's own clock, e.g. "09:00 Berlin"
        expect(page.locator("[data-sample]")).to_contain_text(" Chicago")
        screenshot(page, f"activation-preview-{width}")
        if width == 1440:
            page.get_by_role("link", name="Cancel").click()
            expect(page.locator("h1")).to_have_text(re.compile(r"Spring webinar\s+draft"))

    # The leads behind a number: the one already in a sequence.
    page.goto(f"/sequences/{sequence.id}")
    page.locator('#entry-count [data-reason="in_sequence"] a').click()
    expect(page.locator("#lead-results tbody tr")).to_have_count(1)
    expect(page.locator("#lead-results")).to_contain_text("Di Busy")

    page.goto(f"/sequences/{sequence.id}/activate")
    page.get_by_role("button", name="Activate: 2 join now").click()
    expect(page.locator(".flash.success")).to_contain_text("Sequence activated")
    db.session.expire_all()
    assert enrolling.auto_enroll(tenant_id=tenant.id)[sequence.id] == 2
    assert page.js_errors == []


def test_simulate_shows_emails_per_day(page, sign_in, tenant, screenshot):
    marketer = factories.make_user(tenant, "marketer")
    sequence = factories.make_sequence(
        tenant,
        name="Two touches",
        status="draft",
        steps=[{"channel": "email", "delay_hours": 0}, {"channel": "email", "delay_hours": 72}],
    )
    for _ in range(3):
        factories.make_lead(tenant)
    sign_in(marketer)
    page.goto(f"/sequences/{sequence.id}")
    page.get_by_role("link", name="Simulate", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Dry run")
    expect(page.locator("[data-total-emails]")).to_have_text("6 in all")
    expect(page.locator("svg.chart.columns")).to_be_visible()
    screenshot(page, "simulate-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "simulate-390")
    assert page.js_errors == []
