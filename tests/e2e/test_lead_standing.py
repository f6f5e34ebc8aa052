"""A rep converts a lead from its edit form while its email waits in the outbox: the email never reaches the
SMTP server (issue 16)."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.extensions import db
from nurture_ui.mailer import send_messages
from nurture_ui.models import OutboundMessage
from tests import factories
from tests.engine.conftest import enroll, smtp_server  # noqa: F401 (the fixture, imported)


def test_converting_a_lead_from_its_form_cancels_its_queued_email(page, sign_in, tenant, clock, smtp_server):  # noqa: F811 (the fixture)
    factories.make_template(tenant, "intro", subject="Hello {{ lead.first_name }}", body="Body")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}] * 2)
    lead = factories.make_lead(tenant, first_name="Ada", last_name="Lovelace", email="ada@example.com")
    enroll(lead, sequence, clock.now())
    run_due(clock.now(), send=False)
    message = db.session.scalars(sa.select(OutboundMessage)).one()
    assert message.status == "queued"

    sign_in(factories.make_user(tenant, "rep"))
    page.goto(f"/leads/{lead.id}")
    page.get_by_label("Status").select_option(label="Converted")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_selector(".flash.success")
    assert "converted" in page.locator("#lead-sequences tbody tr").inner_text()

    send_messages([message.id])  # the send job's attempt

    assert smtp_server.messages == []
    db.session.expire_all()
    assert db.session.get(OutboundMessage, message.id).status == "cancelled"
    assert page.js_errors == []
