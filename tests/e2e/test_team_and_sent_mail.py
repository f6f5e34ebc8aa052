"""Browser: an admin manages the team (role, reset password, deactivate, reassign) and the deactivated rep is
refused at sign-in; anyone reads the sent mail, searches it, pages it and opens an email as the lead saw it.
Screenshots at 1440 and 390 px."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from nurture_ui import clock
from nurture_ui.extensions import db
from nurture_ui.models import Lead
from nurture_ui.sent_mail import PAGE_SIZE
from tests import factories


def _body_fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_an_admin_manages_the_team_and_a_deactivated_rep_cannot_sign_in(page, sign_in, screenshot, tenant):
    admin = factories.make_user(tenant, "admin", name="Ana Admin")
    rita = factories.make_user(tenant, "rep", name="Rita Rep")
    sam = factories.make_user(tenant, "rep", name="Sam Seller")
    for n in range(3):
        factories.make_lead(tenant, owner_id=rita.id, first_name=f"Lead{n}")
    factories.make_draft(tenant, lead=factories.make_lead(tenant, owner_id=rita.id, first_name="Drafty"))

    sign_in(admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    expect(page.get_by_label("Role", exact=True)).to_have_value(
        "rep"
    )  # "Add a person" starts least-privileged

    rita_row = page.locator("tr", has_text="Rita Rep")
    rita_row.get_by_label("Role of Rita Rep").select_option("manager")
    rita_row.get_by_role("button", name="Change").click()
    expect(page.get_by_role("status").first).to_contain_text("Rita Rep is now manager")

    page.locator("tr", has_text="Rita Rep").get_by_role("button", name="Reset password").click()
    new_password = page.locator("[data-new-password]").inner_text()
    assert re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}", new_password)

    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "team-reset-password-1440")

    page.locator("tr", has_text="Rita Rep").get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status").first).to_contain_text("Rita Rep is deactivated")
    row = page.locator("tr", has_text="Rita Rep")
    expect(row).to_contain_text("deactivated")
    row.get_by_label("Give Rita Rep's leads and tasks to").select_option(label="Sam Seller (rep)")
    row.get_by_role("button", name="Reassign").click()
    expect(page.get_by_role("status").first).to_contain_text("Sam Seller now has Rita Rep's 4 leads")
    db.session.expire_all()
    assert {lead.owner_id for lead in db.session.query(Lead).filter(Lead.tenant_id == tenant.id)} == {sam.id}
    screenshot(page, "team-after-reassign-1440")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "team-390")
    assert _body_fits(page)

    page.get_by_role("button", name="Menu").click()  # at 390 px the sidebar folds behind the menu button
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(rita.email)
    page.get_by_label("Password").fill(new_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("This account is deactivated")).to_be_visible()


def test_sent_mail_is_searched_paged_and_each_email_read_as_the_lead_saw_it(
    page, sign_in, screenshot, tenant
):
    manager = factories.make_user(tenant, "manager", name="Max Manager")
    ada = factories.make_lead(tenant, first_name="Ada", last_name="Lovelace", email="ada@engine.test")
    now = clock.now()
    for n in range(PAGE_SIZE + 3):
        lead = ada if n == 0 else factories.make_lead(tenant, first_name=f"Person{n:02}")
        message = factories.make_draft(
            tenant,
            lead=lead,
            status="sent",
            subject=f"Quick question {n:02}" if n else "A note for Ada",
            body=f"Hi {lead.first_name},\n\nA longer body that wraps on a phone screen, line {n}.\n\nBest,\nThe team",
            created_at=now - timedelta(minutes=n),
            sent_at=now - timedelta(minutes=n),
            review_reason=None,
        )
        message.enrollment.status, message.enrollment.pause_reason = "completed", None
    db.session.commit()

    sign_in(manager)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sent mail").click()
    expect(page.get_by_role("heading", name="Sent mail")).to_be_visible()
    expect(page.locator("#sent-results tbody tr")).to_have_count(PAGE_SIZE)
    screenshot(page, "sent-mail-1440")
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("#sent-results tbody tr")).to_have_count(3)
    page.get_by_role("link", name="← Newest").click()

    page.get_by_label("Lead").fill("lovelace")
    expect(page.locator("#sent-results tbody tr")).to_have_count(1)
    page.get_by_role("link", name="A note for Ada").click()
    expect(page.get_by_role("heading", name="A note for Ada")).to_be_visible()
    headers = page.locator(".email-headers")
    expect(headers).to_contain_text("Ada Lovelace")
    expect(headers).to_contain_text("ada@engine.test")
    expect(page.locator(".email-body")).to_contain_text("To stop receiving these emails, unsubscribe:")
    screenshot(page, "sent-mail-message-1440")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert _body_fits(page)
    screenshot(page, "sent-mail-message-390")
    page.get_by_role("link", name="← Sent mail").click()
    expect(page.get_by_label("Lead")).to_have_value("lovelace")  # back to the list as it was
    page.get_by_label("Lead").fill("")
    expect(page.locator("#sent-results tbody tr")).to_have_count(PAGE_SIZE)
    assert _body_fits(page)
    screenshot(page, "sent-mail-390")
    assert page.js_errors == []
