"""Outbox problems: a manager settles each email in doubt (``unknown``) or refused (``failed``) by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.extensions import db, get_queue
from nurture_ui.mailer import mark_stuck_sending_unknown, new_message_id
from nurture_ui.models import Activity, OutboundMessage
from nurture_ui.timeline import enrollment_timeline
from tests import factories


@pytest.fixture(autouse=True)
def empty_queue():
    get_queue().empty()
    yield
    get_queue().empty()


def problem(tenant, status, clock, *, enrollment_status="active", error=None, attempts=1, **lead_fields):
    """An email of step 1 that ended ``unknown`` (through the engine's stuck-sending sweep) or ``failed``."""
    lead = factories.make_lead(tenant, first_name="Nora", last_name="Nguyen", **lead_fields)
    sequence = factories.make_sequence(tenant, name="Warm", status="active", steps=[{"channel": "email"}])
    enrollment = factories.make_enrollment(lead, sequence, status=enrollment_status)
    claimed_at = clock.now()
    message = OutboundMessage(
        tenant_id=tenant.id,
        enrollment_id=enrollment.id,
        step_order=1,
        lead_id=lead.id,
        sequence_id=sequence.id,
        to_email=lead.email,
        subject="Quick idea for Example Co",
        body="Hi",
        status="sending" if status == "unknown" else status,
        message_id=new_message_id(),
        queued_at=claimed_at,
        updated_at=claimed_at,
        attempts=attempts,
        error=error,
    )
    db.session.add(message)
    db.session.commit()
    if status == "unknown":
        clock.advance(hours=1)
        assert mark_stuck_sending_unknown(clock.now()) == 1
    clock.advance(minutes=5)
    db.session.refresh(message)
    return message


def queued_ids() -> list[str]:
    return [i for job in get_queue().jobs for i in job.args[0]]


def state(message):
    db.session.expire_all()
    return db.session.get(OutboundMessage, message.id)


def acted(message, type_):
    return db.session.scalars(
        sa.select(Activity).where(Activity.enrollment_id == message.enrollment_id, Activity.type == type_)
    ).all()


def test_the_page_lists_each_email_in_doubt_or_failed_with_what_a_person_needs(login_as, tenant, clock):
    unknown = problem(tenant, "unknown", clock)
    failed = problem(tenant, "failed", clock, error="550 5.1.1 user unknown", attempts=3)
    client = login_as("manager")
    html = client.get("/outbox/problems").get_data(as_text=True)
    assert f'id="problem-{unknown.id}"' in html and f'id="problem-{failed.id}"' in html
    assert "Nora Nguyen" in html and "Warm" in html and "Step 1" in html
    assert "Quick idea for Example Co" in html
    assert "550 5.1.1 user unknown" in html and "interrupted while sending" in html
    assert "sending began" in html and "Mon Mar 2, 10:00" in html  # the claim, not the sweep (reader: UTC)
    assert "<div>3 attempts</div>" in html
    assert "Mark as delivered" in html and "Send again" in html and "It may arrive twice" in html
    assert "Retry" in html and html.count("Dismiss") == 2
    only_failed = client.get("/outbox/problems?status=failed").get_data(as_text=True)
    assert f"problem-{failed.id}" in only_failed and f"problem-{unknown.id}" not in only_failed


def test_the_overview_links_its_engine_health_figures_to_the_page(login_as, tenant, clock):
    problem(tenant, "unknown", clock)
    problem(tenant, "failed", clock, error="550")
    html = login_as("manager").get("/overview/").get_data(as_text=True)
    assert '/outbox/problems?status=unknown">1</a>' in html
    assert '/outbox/problems?status=failed">1</a>' in html
    assert 'href="/outbox/problems"' in html


@pytest.mark.parametrize("role", ["rep", "marketer"])
def test_only_managers_and_admins_settle_emails(login_as, tenant, clock, role):
    message = problem(tenant, "failed", clock)
    client = login_as(role)
    assert client.get("/outbox/problems").status_code == 403
    assert client.post(f"/outbox/{message.id}/retry").status_code == 403
    assert state(message).status == "failed"


def test_mark_as_delivered_makes_it_sent_at_its_claim_time(login_as, tenant, clock):
    message = problem(tenant, "unknown", clock)
    claimed_at = clock.now() - timedelta(hours=1, minutes=5)
    client = login_as("manager")
    response = client.post(f"/outbox/{message.id}/mark-delivered")
    assert response.status_code == 302
    after = state(message)
    assert (after.status, after.sent_at, after.error) == ("sent", claimed_at, None)
    (marked,) = acted(message, "message_marked_sent")
    assert marked.actor_id == client.user.id and marked.data["message"] == str(message.id)
    assert queued_ids() == []
    entry = enrollment_timeline(after.enrollment, clock.now()).past[-1]
    assert (entry.title, entry.actor) == ("Email marked as delivered — Step 1 · Email", client.user.name)
    assert "Marked as delivered" in client.get("/outbox/problems").get_data(as_text=True)  # the flash


def test_send_again_needs_the_confirmation_that_it_may_arrive_twice(login_as, tenant, clock):
    message = problem(tenant, "unknown", clock)
    client = login_as("manager")
    client.post(f"/outbox/{message.id}/send-again")
    assert state(message).status == "unknown" and queued_ids() == []
    assert "may arrive twice" in client.get("/outbox/problems").get_data(as_text=True)

    client.post(f"/outbox/{message.id}/send-again", {"confirm": "yes"})
    after = state(message)
    assert (after.status, after.error, after.sent_at) == ("queued", None, None)
    assert queued_ids() == [str(message.id)]
    (requeued,) = acted(message, "message_requeued")
    assert requeued.actor_id == client.user.id and requeued.data["reason"] == "send_again"
    titles = [e.title for e in enrollment_timeline(after.enrollment, clock.now()).past]
    assert "Email sent again (it may arrive twice) — Step 1 · Email" in titles


@pytest.mark.parametrize(
    ("lead_fields", "enrollment_status", "why"),
    [
        ({"do_not_contact": True}, "active", "is marked do-not-contact"),
        ({"unsubscribed_at": "now"}, "active", "has unsubscribed"),
        ({}, "exited", "has left the sequence"),
    ],
)
def test_send_again_is_refused_when_the_lead_may_no_longer_be_emailed(
    login_as, tenant, clock, lead_fields, enrollment_status, why
):
    fields = {k: (clock.now() if v == "now" else v) for k, v in lead_fields.items()}
    message = problem(tenant, "unknown", clock, enrollment_status=enrollment_status, **fields)
    client = login_as("admin")
    response = client.post(
        f"/outbox/{message.id}/send-again", {"confirm": "yes"}, headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Not done:" in html and why in html
    assert state(message).status == "unknown" and queued_ids() == []
    assert acted(message, "message_requeued") == []
    # The page does not offer it in the first place, and says why.
    assert f"Cannot send again: Nora Nguyen {why}" in client.get("/outbox/problems").get_data(as_text=True)


def test_retry_queues_a_failed_email_with_its_attempts_reset(login_as, tenant, clock):
    message = problem(tenant, "failed", clock, error="gave up after 5 attempts: 421", attempts=5)
    client = login_as("manager")
    response = client.post(f"/outbox/{message.id}/retry", headers={"HX-Request": "true"})
    assert "Retrying: “Quick idea for Example Co” to Nora Nguyen is queued." in response.get_data(
        as_text=True
    )
    after = state(message)
    assert (after.status, after.attempts, after.error) == ("queued", 0, None)
    assert queued_ids() == [str(message.id)]
    (requeued,) = acted(message, "message_requeued")
    assert requeued.actor_id == client.user.id and requeued.data["reason"] == "retry"
    titles = [e.title for e in enrollment_timeline(after.enrollment, clock.now()).past]
    assert "Failed email queued to try again — Step 1 · Email" in titles


@pytest.mark.parametrize(
    ("lead_fields", "why"),
    [
        ({"undeliverable": True}, "address cannot receive mail"),
        ({"do_not_contact": True}, "is marked do-not-contact"),
        ({"unsubscribed_at": "now"}, "has unsubscribed"),
    ],
)
def test_retry_is_refused_for_bad_addresses_and_leads_who_said_stop(
    login_as, tenant, clock, lead_fields, why
):
    fields = {k: (clock.now() if v == "now" else v) for k, v in lead_fields.items()}
    message = problem(tenant, "failed", clock, error="550 5.1.1 user unknown", **fields)
    client = login_as("manager")
    client.post(f"/outbox/{message.id}/retry")
    assert state(message).status == "failed" and queued_ids() == []
    assert why in client.get("/outbox/problems").get_data(as_text=True)


@pytest.mark.parametrize("status", ["unknown", "failed"])
def test_dismiss_cancels_the_email_and_it_leaves_the_list(login_as, tenant, clock, status):
    message = problem(tenant, status, clock, error="550" if status == "failed" else None)
    client = login_as("manager")
    client.post(f"/outbox/{message.id}/dismiss")
    assert state(message).status == "cancelled" and queued_ids() == []
    (dismissed,) = acted(message, "message_dismissed")
    assert dismissed.actor_id == client.user.id and dismissed.data["was"] == status
    assert f"problem-{message.id}" not in client.get("/outbox/problems").get_data(as_text=True)
    titles = [e.title for e in enrollment_timeline(state(message).enrollment, clock.now()).past]
    assert "Email dismissed: it will not be sent — Step 1 · Email" in titles


def test_an_email_already_settled_is_not_acted_on_twice(login_as, tenant, clock):
    message = problem(tenant, "unknown", clock)
    first, second = login_as("manager"), login_as("admin")
    first.post(f"/outbox/{message.id}/mark-delivered")
    response = second.post(
        f"/outbox/{message.id}/send-again", {"confirm": "yes"}, headers={"HX-Request": "true"}
    )
    assert "This email has been sent" in response.get_data(as_text=True)
    assert state(message).status == "sent" and queued_ids() == []
    assert second.post(f"/outbox/{message.id}/retry").status_code == 302
    assert state(message).status == "sent"


def test_actions_on_other_statuses_are_refused(login_as, tenant, clock):
    failed = problem(tenant, "failed", clock)
    unknown = problem(tenant, "unknown", clock)
    client = login_as("manager")
    client.post(f"/outbox/{failed.id}/mark-delivered")
    client.post(f"/outbox/{failed.id}/send-again", {"confirm": "yes"})
    client.post(f"/outbox/{unknown.id}/retry")
    assert (state(failed).status, state(unknown).status) == ("failed", "unknown")
    assert queued_ids() == []
