"""Browser: a manager sees emails in doubt and failed on the overview, opens the outbox problems and settles
them: one sent again (confirming it may arrive twice), one retried, one marked as delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nurture_ui.engine.heartbeat import record_dispatch
from nurture_ui.extensions import db, get_queue
from nurture_ui.mailer import mark_stuck_sending_unknown, new_message_id
from nurture_ui.models import OutboundMessage
from tests import factories

PEOPLE = [
    ("Nora", "Nguyen", "Northwind Labs", "unknown", None),
    ("Omar", "Okafor", "Orbit Freight", "unknown", None),
    ("Priya", "Patel", "Pinecone Health", "failed", "gave up after 5 attempts: 421 4.7.0 Try again later"),
    ("Quinn", "Quade", "Quarry Works", "failed", "550 5.1.1 <quinn@quarry.example>: user unknown"),
]


@pytest.fixture
def troubled_outbox(tenant, clock):
    """Two emails a crash left in doubt and two the mail server refused (one for an address that bounced)."""
    factories.make_template(tenant, "intro", name="Welcome")
    sequence = factories.make_sequence(
        tenant, name="Warm leads, spring", status="active", steps=[{"template_id": "intro"}] * 2
    )
    messages = {}
    for first, last, company, status, error in PEOPLE:
        lead = factories.make_lead(
            tenant,
            first_name=first,
            last_name=last,
            company=company,
            email=f"{first.lower()}@{company.split()[0].lower()}.example",
            undeliverable=error is not None and error.startswith("550"),
        )
        enrollment = factories.make_enrollment(lead, sequence)
        message = OutboundMessage(
            tenant_id=tenant.id,
            enrollment_id=enrollment.id,
            step_order=1,
            lead_id=lead.id,
            sequence_id=sequence.id,
            to_email=lead.email,
            subject=f"A quick idea for {company}",
            body="Hi",
            status="sending" if status == "unknown" else "failed",
            message_id=new_message_id(),
            queued_at=clock.now(),
            updated_at=clock.now(),
            attempts=5 if status == "failed" and error.startswith("gave up") else 1,
            error=error,
        )
        db.session.add(message)
        messages[first] = message
    db.session.commit()
    clock.advance(minutes=20)
    assert mark_stuck_sending_unknown(clock.now()) == 2
    clock.advance(minutes=15)
    record_dispatch(3, at=clock.now() - timedelta(seconds=5))
    get_queue().empty()
    yield messages
    get_queue().empty()


def status_of(message) -> str:
    db.session.expire_all()
    return db.session.get(OutboundMessage, message.id).status


def test_a_manager_opens_the_outbox_problems_from_the_overview_and_settles_them(
    page, sign_in, screenshot, tenant, troubled_outbox
):
    sign_in(factories.make_user(tenant, "manager", name="Mona Manager"))
    page.locator('[data-nav="overview.index"]').click()
    page.wait_for_url("**/overview/")
    assert page.locator('[data-figure="troubled"]').inner_text() == "4"
    page.locator('[data-figure="unknown"]').get_by_role("link", name="2").click()
    page.wait_for_url("**/outbox/problems?status=unknown")
    assert page.locator("#outbox-problems tbody tr").count() == 2
    page.get_by_role("link", name="All").click()
    page.wait_for_url("**/outbox/problems")
    rows = page.locator("#outbox-problems tbody tr")
    assert rows.count() == 4
    quinn = page.locator("tr", has_text="Quinn Quade")
    assert "Cannot retry: Quinn Quade's address cannot receive mail" in quinn.inner_text()
    assert quinn.get_by_role("button", name="Retry").count() == 0
    screenshot(page, "outbox-problems")

    # Send again: refused by the browser until the risk is acknowledged, then queued.
    nora = page.locator("tr", has_text="Nora Nguyen")
    nora.get_by_role("button", name="Send again").click()
    assert status_of(troubled_outbox["Nora"]) == "unknown"
    nora.get_by_label("It may arrive twice").check()
    nora.get_by_role("button", name="Send again").click()
    settled = page.locator(f"#problem-{troubled_outbox['Nora'].id}[data-settled]")
    settled.wait_for()
    assert (
        "Sending again: “A quick idea for Northwind Labs” to Nora Nguyen is queued." in settled.inner_text()
    )
    assert status_of(troubled_outbox["Nora"]) == "queued"

    page.locator("tr", has_text="Priya Patel").get_by_role("button", name="Retry").click()
    page.locator(f"#problem-{troubled_outbox['Priya'].id}[data-settled]").wait_for()
    page.locator("tr", has_text="Omar Okafor").get_by_role("button", name="Mark as delivered").click()
    page.locator(f"#problem-{troubled_outbox['Omar'].id}[data-settled]").wait_for()
    assert [status_of(troubled_outbox[n]) for n in ("Priya", "Omar", "Quinn")] == ["queued", "sent", "failed"]
    assert sorted(i for job in get_queue().jobs for i in job.args[0]) == sorted(
        str(troubled_outbox[n].id) for n in ("Nora", "Priya")
    )
    screenshot(page, "outbox-problems-settled")

    # The enrollment's timeline says who did what.
    page.locator(f"#problem-{troubled_outbox['Nora'].id}").get_by_role(
        "link", name="See the enrollment"
    ).click()
    page.wait_for_url("**/enrollments/**")
    last = page.locator('[data-kind="past"]').last.inner_text()
    assert "Email sent again (it may arrive twice)" in last and "Mona Manager" in last
    assert page.js_errors == []
