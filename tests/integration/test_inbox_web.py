"""The approval inbox through the web: who sees which drafts, and approve / edit / reject / bulk inline."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db, get_queue
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
    factories.make_template(tenant, "next")
    return factories.make_sequence(
        tenant,
        name="Warm leads",
        status="active",
        steps=[
            {"template_id": "intro", "requires_human_approval": True},
            {"template_id": "next", "delay_hours": 48},
        ],
    )


def make_drafts(tenant, sequence, clock, owner, names):
    """One pending draft per name, for leads owned by ``owner``, drafted a minute apart (oldest first)."""
    drafts = []
    for name in names:
        lead = factories.make_lead(tenant, first_name=name, company=f"{name} Ltd", owner_id=owner.id)
        schedule_first_step(lead, sequence, now=clock.now())
        db.session.commit()
        run_due(clock.now(), send=False)
        drafts.append(
            db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)).one()
        )
        clock.advance(minutes=1)
    return drafts


def card_ids(html: str) -> list[str]:
    """The drafts shown as cards (a review's result, in the place its card was, is not one)."""
    return re.findall(r'id="draft-([0-9a-f-]+)" class="draft card mode-', html)


def status_of(message) -> str:
    db.session.expire_all()
    return db.session.get(OutboundMessage, message.id).status


def test_a_rep_sees_only_drafts_for_their_own_leads_oldest_first(clock, tenant, sequence, login_as):
    client = login_as("rep")
    other = factories.make_user(tenant, "rep")
    mine = make_drafts(tenant, sequence, clock, client.user, ["Ada", "Bea"])
    make_drafts(tenant, sequence, clock, other, ["Cy"])
    html = client.get("/inbox/").get_data(as_text=True)
    assert card_ids(html) == [str(d.id) for d in mine]
    assert "Hello Ada" in html and "Ada Ltd" in html and "Warm leads" in html and "Step 1 of 2" in html
    assert "Needs approval: the step asks for review" in html  # why it needs review
    assert 'id="nav-count-inbox"' in html and 'data-count="2"' in html


def test_managers_see_every_draft_and_filter_by_rep_and_sequence(clock, tenant, sequence, login_as):
    manager = login_as("manager")
    rita = factories.make_user(tenant, "rep", name="Rita Rep")
    sam = factories.make_user(tenant, "rep", name="Sam Rep")
    ritas = make_drafts(tenant, sequence, clock, rita, ["Ada"])
    sams = make_drafts(tenant, sequence, clock, sam, ["Bea"])
    assert card_ids(manager.get("/inbox/").get_data(as_text=True)) == [str(ritas[0].id), str(sams[0].id)]
    filtered = manager.get(f"/inbox/?rep={sam.id}", headers={**HTMX, "HX-Target": "inbox-list"})
    assert card_ids(filtered.get_data(as_text=True)) == [str(sams[0].id)]
    other = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}])
    none = manager.get(f"/inbox/?sequence={other.id}").get_data(as_text=True)
    assert card_ids(none) == [] and "No drafts match these filters" in none


def test_approving_inline_leaves_the_result_with_undo_in_place_of_the_card_and_refreshes_the_counts(
    clock, tenant, sequence, login_as
):
    client = login_as("rep")
    draft, second = make_drafts(tenant, sequence, clock, client.user, ["Ada", "Bea"])
    response = client.post(f"/inbox/{draft.id}/approve", headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "inbox-changed"
    html = response.get_data(as_text=True)
    assert card_ids(html) == []
    assert f'id="draft-{draft.id}"' in html and "data-done" in html  # the result, where the card was
    assert f"goes to {draft.lead.name} in 8 seconds" in html and f"/inbox/{draft.id}/undo" in html
    assert 'id="inbox-total"' in html and ">1</span>" in html
    assert (
        'id="inbox-status"' in html and "goes to" not in html.split('id="inbox-status"')[1].split("</div>")[0]
    )
    assert status_of(draft) == "queued"
    assert get_queue().count == 0  # no send job yet: the outbox sweep hands it out when the window ends
    assert 'data-count="1"' in client.get("/inbox/count").get_data(as_text=True)


def test_edit_then_approve_sends_the_edit_and_an_empty_subject_is_refused(clock, tenant, sequence, login_as):
    client = login_as("rep")
    [draft] = make_drafts(tenant, sequence, clock, client.user, ["Ada"])
    form = client.get(f"/inbox/{draft.id}/edit", headers=HTMX).get_data(as_text=True)
    assert 'name="subject"' in form and "Save and approve" in form
    refused = client.post(f"/inbox/{draft.id}/approve", {"subject": " ", "body": "Hi"}, headers=HTMX)
    assert "An email needs a subject and a body." in refused.get_data(as_text=True)
    assert status_of(draft) == "pending_approval"
    client.post(
        f"/inbox/{draft.id}/approve", {"subject": "Better subject", "body": "Edited body"}, headers=HTMX
    )
    db.session.expire_all()
    message = db.session.get(OutboundMessage, draft.id)
    assert (message.status, message.subject, message.body) == ("queued", "Better subject", "Edited body")
    assert message.review_note == "edited before approval"


def test_approving_a_draft_of_a_lead_that_converted_is_refused_with_the_reason(
    clock, tenant, sequence, login_as
):
    client = login_as("rep")
    [draft] = make_drafts(tenant, sequence, clock, client.user, ["Ada"])
    draft.lead.status = "converted"
    db.session.commit()
    html = client.post(f"/inbox/{draft.id}/approve", headers=HTMX).get_data(as_text=True)
    assert "the lead converted, so the enrollment has ended" in html
    assert "is-done" in html  # the card stays as a notice
    assert status_of(draft) == "cancelled"
    enrollment = db.session.get(Enrollment, draft.enrollment_id)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "converted")


def test_a_draft_whose_lead_replied_since_is_refused_with_the_reason_until_sent_anyway(
    clock, tenant, sequence, login_as
):
    client = login_as("rep")
    [draft] = make_drafts(tenant, sequence, clock, client.user, ["Ada"])
    clock.advance(hours=2)
    factories.make_reply(draft.lead, "neutral")

    refused = client.post(f"/inbox/{draft.id}/approve", headers=HTMX)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and refused.headers["HX-Trigger"] == "inbox-changed"
    assert "replied on Mar 2 after this draft was written" in html
    assert "Read the reply, then send anyway or reject." in html
    assert card_ids(html) == [str(draft.id)]  # the card stays, now offering to send anyway
    assert 'name="despite_reply" value="1"' in html and "Send anyway" in html
    assert status_of(draft) == "pending_approval" and get_queue().count == 0
    enrollment = db.session.get(Enrollment, draft.enrollment_id)
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "approval")

    sent = client.post(f"/inbox/{draft.id}/approve", {"despite_reply": "1"}, headers=HTMX)
    assert "goes to" in sent.get_data(as_text=True)
    assert status_of(draft) == "queued"
    approved = db.session.scalars(
        sa.select(Activity).where(
            Activity.type == "nurture_step_executed", Activity.actor_id == client.user.id
        )
    ).one()
    assert approved.data["message"] == str(draft.id)


def test_without_javascript_a_refusal_for_a_reply_offers_send_anyway_on_the_drafts_page(
    clock, tenant, sequence, login_as
):
    client = login_as("rep")
    [draft] = make_drafts(tenant, sequence, clock, client.user, ["Ada"])
    clock.advance(hours=2)
    factories.make_reply(draft.lead, "neutral")
    refused = client.post(f"/inbox/{draft.id}/approve")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Read the reply, then send anyway or reject." in html
    assert 'name="despite_reply" value="1"' in html and "Send anyway" in html
    assert status_of(draft) == "pending_approval"
    sent = client.post(f"/inbox/{draft.id}/approve", {"despite_reply": "1"})
    assert sent.status_code == 302
    assert status_of(draft) == "queued"


def test_the_second_approver_is_told_who_approved_first(clock, tenant, sequence, login_as):
    rita = login_as("rep")
    rita.user.name = "Rita Rep"
    db.session.commit()
    manager = login_as("manager")
    [draft] = make_drafts(tenant, sequence, clock, rita.user, ["Ada"])
    rita.post(f"/inbox/{draft.id}/approve", headers=HTMX)
    html = manager.post(f"/inbox/{draft.id}/approve", headers=HTMX).get_data(as_text=True)
    assert "Already approved by Rita Rep" in html


def test_rejecting_skip_or_exit_through_the_inbox(clock, tenant, sequence, login_as):
    client = login_as("rep")
    skip, leave = make_drafts(tenant, sequence, clock, client.user, ["Ada", "Bea"])
    form = client.get(f"/inbox/{skip.id}/reject", headers=HTMX).get_data(as_text=True)
    assert "Skip this step" in form and "Exit this lead" in form
    html = client.post(f"/inbox/{skip.id}/reject", {"action": "skip", "note": "off tone"}, headers=HTMX)
    assert "moves on to the next step" in html.get_data(as_text=True)
    html = client.post(f"/inbox/{leave.id}/reject", {"action": "exit"}, headers=HTMX).get_data(as_text=True)
    assert "leaves the sequence" in html
    assert [status_of(skip), status_of(leave)] == ["rejected", "rejected"]
    statuses = {
        e.lead_id: (e.status, e.current_step_order) for e in db.session.scalars(sa.select(Enrollment)).all()
    }
    assert statuses[skip.lead_id] == ("active", 2)
    assert statuses[leave.lead_id] == ("exited", 1)
    logged = db.session.scalars(
        sa.select(Activity).where(
            Activity.type == "nurture_step_executed", Activity.actor_id == client.user.id
        )
    ).all()
    assert sorted(a.data["action"] for a in logged) == ["exit", "skip"]


def test_bulk_approve_approves_the_selected_drafts_only(clock, tenant, sequence, login_as):
    client = login_as("rep")
    drafts = make_drafts(tenant, sequence, clock, client.user, ["Ada", "Bea", "Cy", "Di"])
    response = client.post("/inbox/approve", {"message_ids": [str(d.id) for d in drafts[:3]]}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert "Approved 3 drafts." in html
    assert card_ids(html) == [str(drafts[3].id)]  # the list, re-rendered
    assert [status_of(d) for d in drafts] == ["queued", "queued", "queued", "pending_approval"]


def test_a_rep_cannot_review_another_reps_draft_and_marketers_have_no_inbox(
    clock, tenant, sequence, login_as
):
    client = login_as("rep")
    other = factories.make_user(tenant, "rep")
    [draft] = make_drafts(tenant, sequence, clock, other, ["Ada"])
    assert client.post(f"/inbox/{draft.id}/approve", headers=HTMX).status_code == 404
    assert status_of(draft) == "pending_approval"
    assert login_as("marketer").get("/inbox/").status_code == 403


def test_without_javascript_actions_flash_and_come_back_to_the_inbox(clock, tenant, sequence, login_as):
    client = login_as("rep")
    [draft] = make_drafts(tenant, sequence, clock, client.user, ["Ada"])
    response = client.post(f"/inbox/{draft.id}/approve")
    assert response.status_code == 302 and response.headers["Location"].startswith("/inbox/")
    assert f"goes to {draft.lead.name} in 8 seconds" in client.get("/inbox/").get_data(as_text=True)
