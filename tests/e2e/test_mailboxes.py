"""Browser: an admin connects the team's mailbox in Settings against a real dovecot, a lead in a sequence
replies through a real exim, "Poll now" reads it, and the reply is on the lead's timeline with the
enrollment exited."""

from __future__ import annotations

from email.message import EmailMessage

from playwright.sync_api import expect

from nurture_ui import clock
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment
from tests import factories
from tests.integration.mailbox_helpers import send_through_exim, unique_address, wait_for_messages
from tests.mail_servers import PASSWORD


def test_connect_a_mailbox_in_settings_and_see_a_reply_arrive_on_the_timeline(
    app, page, sign_in, screenshot, tenant, mail_servers, monkeypatch
):
    monkeypatch.setitem(app.config, "MAIL_CA_FILE", str(mail_servers.ca_file))
    tenant.policy = {**(tenant.policy or {}), "timezone": "America/New_York"}
    db.session.commit()
    admin = factories.make_user(tenant, "admin", name="Ana Admin")
    address = mail_servers.add_user(unique_address("team"))
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(
        tenant, name="Spring pilot", status="active", steps=[{"template_id": "intro", "delay_hours": 48}] * 2
    )
    lead = factories.make_lead(tenant, email=unique_address("lead"), first_name="Ada", last_name="Lovelace")
    enrollment = factories.make_enrollment(lead, sequence, next_step_on=clock.now())

    sign_in(admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="connected mailboxes").click()
    expect(page.get_by_text("No mailbox connected yet")).to_be_visible()
    page.get_by_role("link", name="Connect a mailbox").click()
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Display name").fill("Acme replies")
    page.get_by_label("IMAP server").fill(mail_servers.host)
    page.get_by_label("IMAP port").fill(str(mail_servers.imaps_port))
    page.get_by_label("IMAP security").select_option("ssl")
    page.get_by_label("IMAP password").fill("a wrong password")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("authentication failed")
    page.get_by_label("IMAP password").fill(PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-result")).to_contain_text("IMAP OK: signed in")
    page.get_by_role("button", name="Save mailbox").click()
    expect(page.get_by_text(f"Saved the mailbox {address}.")).to_be_visible()
    row = page.locator(f'tr[data-mailbox="{address}"]')
    expect(row).to_contain_text("The team")
    expect(row).to_contain_text("Never")

    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = lead.email, address, "Re: Quick question"
    reply.set_content("Yes, interested! Could we talk on Thursday?")
    send_through_exim(mail_servers, reply, lead.email, [address])
    wait_for_messages(mail_servers, address, 1)

    row.get_by_role("button", name="Poll now").click()
    expect(page.get_by_text(f"Read {address}: 1 new message.")).to_be_visible()
    expect(row).to_contain_text("last UID 1")
    expect(row).to_contain_text("ago")
    inbound = page.locator(".inbound-table tbody tr").first
    expect(inbound).to_contain_text("Re: Quick question")
    expect(inbound).to_contain_text("sender")

    for width, name in ((1440, "mailboxes-1440"), (390, "mailboxes-390")):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, name)
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .filter(e => !e.closest('.table-wrap'))
                .map(e => e.tagName + '.' + e.className).slice(0, 5)"""
        )
        assert wide == [], f"sticks out of a {width} px screen: {wide}"
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"the page scrolls sideways at {width} px ({scroll} px wide)"
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(page.url.split("/settings")[0] + "/settings/mailboxes/new")
    page.set_viewport_size({"width": 390, "height": 900})
    screenshot(page, "mailbox-form-390")
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "mailbox-form-1440")
    page.go_back()

    page.locator(".inbound-table").get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_text("Replied (positive)")).to_be_visible()
    expect(page.get_by_text("Yes, interested! Could we talk on Thursday?")).to_be_visible()
    db.session.expire_all()
    exited = db.session.get(Enrollment, enrollment.id)
    assert (exited.status, exited.exit_reason) == ("exited", "positive_reply")
    assert page.js_errors == []
