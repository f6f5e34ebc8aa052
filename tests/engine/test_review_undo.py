"""Undo in the inbox: a review can be taken back for a few seconds, and the approved email waits that long.

Through the web door (as a rep's phone does it) with the movable clock, the outbox sweep and a real SMTP
server: within the window the draft is back waiting and nothing is sent; after it Undo is refused and the
email goes — never before the window ends.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db, get_queue
from nurture_ui.mailer import requeue_stale_queued, send_messages
from nurture_ui.models import Activity, Enrollment, OutboundMessage
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _empty_queue(app):
    get_queue().empty()
    yield
    get_queue().empty()


@pytest.fixture
def sequence(tenant):
    factories.make_template(tenant, "intro", subject="Hello {{ lead.first_name }}")
    factories.make_template(tenant, "next", subject="Next")
    return factories.make_sequence(
        tenant,
        name="Warm leads",
        status="active",
        steps=[
            {"template_id": "intro", "requires_human_approval": True},
            {"template_id": "next", "delay_hours": 48},
        ],
    )


def drafted(tenant, sequence, clock, owner) -> OutboundMessage:
    lead = factories.make_lead(tenant, first_name="Ada", owner_id=owner.id)
    schedule_first_step(lead, sequence, now=clock.now())
    db.session.commit()
    run_due(clock.now(), send=False)
    return db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)).one()


def fresh(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


def enrollment_of(draft) -> Enrollment:
    db.session.expire_all()
    return db.session.get(Enrollment, draft.enrollment_id)


def test_undo_within_the_window_puts_the_draft_back_and_nothing_is_sent(
    clock, tenant, sequence, login_as, smtp_server
):
    client = login_as("rep")
    draft = drafted(tenant, sequence, clock, client.user)
    approved = client.post(f"/inbox/{draft.id}/approve", headers=HTMX).get_data(as_text=True)
    assert "Undo" in approved
    assert enrollment_of(draft).current_step_order == 2  # the approval moved the sequence on

    clock.advance(seconds=5)
    undone = client.post(f"/inbox/{draft.id}/undo", headers=HTMX).get_data(as_text=True)
    assert "Undone: your approval is taken back; the draft waits for approval again." in undone
    assert f'id="draft-{draft.id}" class="draft card mode-view' in undone  # the card, to review again
    message = fresh(draft)
    assert (message.status, message.reviewer_id, message.send_after) == ("pending_approval", None, None)
    enrollment = enrollment_of(draft)
    assert (enrollment.status, enrollment.pause_reason, enrollment.current_step_order) == (
        "paused",
        "approval",
        1,
    )
    assert enrollment.next_step_on is None
    logged = db.session.scalars(sa.select(Activity).where(Activity.type == "message_review_undone")).one()
    assert (logged.actor_id, logged.data["undid"]) == (client.user.id, "approved")

    clock.advance(minutes=10)
    assert requeue_stale_queued(clock.now()) == 0
    run_due(clock.now())
    assert smtp_server.messages == []
    assert 'data-count="1"' in client.get("/inbox/count").get_data(as_text=True)  # waiting in the inbox again


def test_undo_after_the_window_is_refused_and_the_email_goes(clock, tenant, sequence, login_as, smtp_server):
    client = login_as("rep")
    draft = drafted(tenant, sequence, clock, client.user)
    client.post(f"/inbox/{draft.id}/approve", headers=HTMX)
    clock.advance(seconds=8)
    refused = client.post(f"/inbox/{draft.id}/undo", headers=HTMX).get_data(as_text=True)
    assert "Too late to undo: the 8-second undo window closed at 10:00:08 UTC." in refused
    assert fresh(draft).status == "queued"
    assert requeue_stale_queued(clock.now()) == 1
    assert send_messages([draft.id]).sent == [draft.id]
    assert [m["Subject"] for m in smtp_server.messages] == ["Hello Ada"]
    late = client.post(f"/inbox/{draft.id}/undo", headers=HTMX).get_data(as_text=True)
    assert "Too late to undo" in late and fresh(draft).status == "sent"


def test_an_approved_email_never_goes_before_the_undo_window_ends(
    clock, tenant, sequence, login_as, smtp_server
):
    client = login_as("rep")
    draft = drafted(tenant, sequence, clock, client.user)
    approved_at = clock.now()
    client.post(f"/inbox/{draft.id}/approve", headers=HTMX)
    assert fresh(draft).send_after == approved_at + timedelta(seconds=8)
    assert get_queue().count == 0  # no send job while it may be taken back

    clock.advance(seconds=3)
    assert requeue_stale_queued(clock.now()) == 0  # the sweep does not hand it out early
    report = send_messages([draft.id])  # and a send job that reaches it early leaves it held
    assert (report.sent, report.held) == ([], [draft.id])
    assert fresh(draft).status == "queued" and smtp_server.messages == []

    clock.advance(seconds=5)
    assert requeue_stale_queued(clock.now()) == 1
    assert send_messages([draft.id]).sent == [draft.id]
    assert len(smtp_server.messages) == 1


def test_undoing_a_skip_puts_the_lead_back_at_the_step_to_approve_again(clock, tenant, sequence, login_as):
    client = login_as("rep")
    draft = drafted(tenant, sequence, clock, client.user)
    client.post(f"/inbox/{draft.id}/reject", {"action": "skip", "note": "off tone"}, headers=HTMX)
    assert enrollment_of(draft).current_step_order == 2
    clock.advance(seconds=2)
    undone = client.post(f"/inbox/{draft.id}/undo", headers=HTMX).get_data(as_text=True)
    assert "your rejection is taken back" in undone
    message = fresh(draft)
    assert (message.status, message.review_note) == ("pending_approval", None)
    enrollment = enrollment_of(draft)
    assert (enrollment.status, enrollment.pause_reason, enrollment.current_step_order) == (
        "paused",
        "approval",
        1,
    )
    assert "goes to" in client.post(f"/inbox/{draft.id}/approve", headers=HTMX).get_data(as_text=True)
    assert fresh(draft).status == "queued"


def test_undoing_an_exit_puts_the_lead_back_in_the_sequence(clock, tenant, sequence, login_as):
    client = login_as("manager")
    draft = drafted(tenant, sequence, clock, factories.make_user(tenant, "rep"))
    client.post(f"/inbox/{draft.id}/reject", {"action": "exit"}, headers=HTMX)
    assert enrollment_of(draft).status == "exited"
    client.post(f"/inbox/{draft.id}/undo", headers=HTMX)
    enrollment = enrollment_of(draft)
    assert (enrollment.status, enrollment.exit_reason, enrollment.ended_on) == ("paused", None, None)
    assert fresh(draft).status == "pending_approval"


def test_undo_is_refused_once_the_sequence_has_moved_on(clock, tenant, login_as):
    factories.make_template(tenant, "intro")
    factories.make_template(tenant, "now")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"template_id": "intro", "requires_human_approval": True},
            {"template_id": "now", "delay_hours": 0},
        ],
    )
    client = login_as("rep")
    draft = drafted(tenant, sequence, clock, client.user)
    client.post(f"/inbox/{draft.id}/reject", {"action": "skip"}, headers=HTMX)
    clock.advance(seconds=1)
    run_due(clock.now(), send=False)  # the engine runs the next step inside the window
    refused = client.post(f"/inbox/{draft.id}/undo", headers=HTMX).get_data(as_text=True)
    assert "Too late to undo: Ada" in refused and "sequence has moved on since" in refused
    assert fresh(draft).status == "rejected"
