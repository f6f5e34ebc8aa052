"""The triage queue: a reply the classifier is not sure about waits for a person, and so does the lead."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nurture_ui import lifecycle, signals, triage
from nurture_ui.classifier import Classification
from nurture_ui.engine.replay import run_due
from nurture_ui.engine.transitions import ReviewRefused, approve_message, complete_task
from nurture_ui.extensions import db, get_queue
from nurture_ui.models import Activity, Enrollment, LeadReply, OutboundMessage
from tests import factories

HTMX = {"HX-Request": "true"}
STEP_DUE = datetime(2026, 3, 4, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _empty_queue(app):
    get_queue().empty()
    yield
    get_queue().empty()


@pytest.fixture
def unsure(monkeypatch):
    """``unsure(lead, text, guess)``: the reply comes in and the classifier is not sure (guessing ``guess``)."""

    def record(lead, text="Hmm. Maybe later? Who else is on this?", guess="neutral"):
        monkeypatch.setattr(
            signals,
            "classify",
            lambda _text, _received_on: Classification(guess, "the word maybe", needs_person=True),
        )
        outcome = signals.record_reply(lead, text, subject="Re: Hello")
        db.session.commit()
        return outcome.reply

    return record


def _live(tenant, lead=None, **sequence_fields):
    lead = lead or factories.make_lead(tenant)
    factories.make_template(tenant, f"t-{lead.id}")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[{"template_id": f"t-{lead.id}", "delay_hours": 48}] * 3,
        **sequence_fields,
    )
    return lead, factories.make_enrollment(lead, sequence, next_step_on=STEP_DUE)


def _activities(lead, kind):
    return list(
        db.session.scalars(
            sa.select(Activity)
            .where(Activity.lead_id == lead.id, Activity.type == kind)
            .order_by(Activity.occurred_at)
        )
    )


@pytest.mark.parametrize("guess", ["positive", "unsubscribe", "out_of_office", "neutral"])
def test_an_unsure_reply_pauses_the_sequence_and_acts_on_nothing_else(tenant, clock, unsure, guess):
    lead, enrollment = _live(tenant)
    reply = unsure(lead, guess=guess)
    db.session.expire_all()
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (reply.triage, reply.sentiment, reply.classified_by) == ("pending", guess, "auto")
    assert (enrollment.status, enrollment.pause_reason, enrollment.resume_on) == (
        "paused",
        "reply_triage",
        None,
    )
    assert enrollment.next_step_on == STEP_DUE  # kept: the step is due when it was once the pause lifts
    assert enrollment.lead.unsubscribed_at is None
    [paused] = _activities(lead, "nurture_paused")
    assert paused.data["reason"] == "reply_triage" and paused.data["reply_id"] == str(reply.id)
    assert not _activities(lead, "nurture_exited") and not _activities(lead, "lead_unsubscribed")
    assert _activities(lead, "reply_received")[0].data["triage"] == "pending"


def test_an_unsure_not_interested_reply_ends_the_sequence_at_once_and_still_waits_for_a_person(
    tenant, clock, unsure
):
    # Stopping is the safe side of a guess; whether the lead opted out for good is a person's call.
    lead, enrollment = _live(tenant)
    reply = unsure(lead, guess="negative")
    db.session.expire_all()
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (reply.triage, reply.sentiment) == ("pending", "negative")
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "negative_reply")
    assert enrollment.lead.unsubscribed_at is None
    [exited] = _activities(lead, "nurture_exited")
    assert exited.data["reply_id"] == str(reply.id)


def test_a_reply_a_person_classified_does_not_wait(tenant, clock, monkeypatch):
    lead, enrollment = _live(tenant)
    monkeypatch.setattr(signals, "classify", lambda *_: Classification("neutral", needs_person=True))
    reply = signals.record_reply(lead, "Maybe", sentiment="positive").reply
    db.session.commit()
    assert reply.triage is None
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "positive_reply")


@pytest.mark.parametrize(
    ("decision", "status", "reason"),
    [
        ("positive", "exited", "positive_reply"),
        ("negative", "exited", "negative_reply"),
        ("unsubscribe", "exited", "unsubscribed"),
        ("out_of_office", "paused", "out_of_office"),
        ("neutral", "active", None),
    ],
)
def test_each_decision_acts_as_if_the_reply_had_come_in_with_it(
    tenant, clock, unsure, decision, status, reason
):
    rep = factories.make_user(tenant, "rep", name="Rita Rep")
    lead, enrollment = _live(tenant, factories.make_lead(tenant, owner_id=rep.id))
    reply = unsure(lead, "I am travelling, back on Monday 9 March. Maybe then?")
    outcome = triage.decide_triage(reply, decision, actor_id=rep.id)
    db.session.commit()
    db.session.expire_all()
    reply, enrollment = db.session.get(LeadReply, reply.id), db.session.get(Enrollment, enrollment.id)
    assert (reply.sentiment, reply.classified_by, reply.triage) == (decision, "user", "decided")
    assert enrollment.status == status
    assert (enrollment.exit_reason or enrollment.pause_reason) == reason
    [sorted_] = _activities(lead, "reply_triaged")
    assert sorted_.actor_id == rep.id
    assert sorted_.data == {"reply_id": str(reply.id), "decision": decision, "guess": "neutral"}
    if decision == "unsubscribe":
        assert enrollment.lead.unsubscribed_at is not None
    if decision == "out_of_office":
        assert enrollment.resume_on.date().isoformat() == "2026-03-09"
        assert outcome.paused == [enrollment]
    if decision == "neutral":
        # The step is due when it was: the pause only held it.
        assert enrollment.next_step_on == STEP_DUE
        assert _activities(lead, "nurture_resumed")[0].data["reason"] == "reply_triaged"


def test_deciding_twice_is_refused_and_names_who_sorted_it(tenant, clock, unsure):
    rita = factories.make_user(tenant, "rep", name="Rita Rep")
    lead, enrollment = _live(tenant)
    reply = unsure(lead)
    triage.decide_triage(reply, "neutral", actor_id=rita.id)
    db.session.commit()
    with pytest.raises(triage.TriageRefused, match=r"Already sorted by Rita Rep at 10:00 on Mar 2: other\."):
        triage.decide_triage(reply, "unsubscribe", actor_id=None)
    db.session.rollback()
    assert db.session.get(Enrollment, enrollment.id).status == "active"
    assert db.session.get(LeadReply, reply.id).sentiment == "neutral"


def test_an_unknown_decision_is_refused_with_the_choices(tenant, clock, unsure):
    lead, _ = _live(tenant)
    reply = unsure(lead)
    with pytest.raises(triage.TriageRefused, match="Choose one of: Positive, Not interested, Opt-out"):
        triage.decide_triage(reply, "maybe", actor_id=None)


def test_the_pause_lifts_only_when_the_last_pending_reply_of_the_lead_is_sorted(tenant, clock, unsure):
    lead, enrollment = _live(tenant)
    first = unsure(lead, "Maybe?")
    second = unsure(lead, "Also, hmm?")
    triage.decide_triage(first, "neutral", actor_id=None)
    db.session.commit()
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "reply_triage")
    triage.decide_triage(second, "neutral", actor_id=None)
    db.session.commit()
    assert enrollment.status == "active"


def test_correcting_a_pending_reply_on_the_lead_page_sorts_it(tenant, clock, unsure):
    lead, enrollment = _live(tenant)
    reply = unsure(lead, guess="positive")
    signals.correct_reply(reply, "neutral", actor_id=None)
    db.session.commit()
    assert (reply.triage, reply.sentiment, enrollment.status) == ("decided", "neutral", "active")


# --- Not interested --------------------------------------------------------------------------------


def test_a_not_interested_reply_exits_by_default(tenant, clock):
    lead, enrollment = _live(tenant)
    signals.record_reply(lead, "We are not interested.", sentiment="negative")
    db.session.commit()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "negative_reply")


def test_a_not_interested_reply_does_not_exit_when_the_rule_is_off(tenant, clock):
    lead, enrollment = _live(tenant, exit_rules={"negative_reply": False})
    signals.record_reply(lead, "We are not interested.", sentiment="negative")
    db.session.commit()
    assert enrollment.status == "active"


def test_the_engine_exits_on_a_not_interested_reply_before_the_next_step(tenant, clock):
    lead, enrollment = _live(tenant)
    factories.make_reply(lead, "negative")  # stored without the signal: the engine's re-check catches it
    run_due(STEP_DUE)
    db.session.expire_all()
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "negative_reply")
    assert not db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)).all()


def test_the_engine_keeps_going_after_a_not_interested_reply_when_the_rule_is_off(tenant, clock):
    lead, enrollment = _live(tenant, exit_rules={"negative_reply": False})
    factories.make_reply(lead, "negative")
    run_due(STEP_DUE, send=False)
    db.session.expire_all()
    assert db.session.get(Enrollment, enrollment.id).current_step_order == 2


# --- Nothing else lifts the pause ------------------------------------------------------------------


def test_the_engine_does_not_run_a_step_while_a_reply_waits(tenant, clock, unsure):
    lead, enrollment = _live(tenant)
    unsure(lead, guess="positive")
    report = run_due(STEP_DUE + timedelta(days=3))
    db.session.expire_all()
    assert report.outcomes == {}  # not even claimed
    assert db.session.get(Enrollment, enrollment.id).current_step_order == 1
    assert not db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)).all()


def test_an_enrollment_started_while_a_reply_waits_pauses_before_its_first_step(tenant, clock, unsure):
    lead = factories.make_lead(tenant)
    unsure(lead)  # no sequence yet
    _, enrollment = _live(tenant, lead)  # enrolled afterwards, active
    report = run_due(STEP_DUE)
    db.session.expire_all()
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert report.outcomes == {"paused_for_triage": 1}
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "reply_triage")
    assert not db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)).all()


def test_the_out_of_office_job_does_not_resume_a_lead_whose_reply_waits(tenant, clock, unsure):
    lead, enrollment = _live(tenant)
    signals.record_reply(lead, "Out of office until Thursday 5 March.")
    db.session.commit()
    assert enrollment.pause_reason == "out_of_office"
    unsure(lead)
    assert enrollment.pause_reason == "out_of_office"  # kept, until it would lift
    signals.resume_due_pauses(datetime(2026, 3, 6, tzinfo=UTC))
    db.session.expire_all()
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (enrollment.status, enrollment.pause_reason, enrollment.resume_on) == (
        "paused",
        "reply_triage",
        None,
    )


def test_a_draft_of_a_lead_whose_reply_waits_cannot_be_approved_even_anyway(tenant, clock, unsure):
    draft = factories.make_draft(tenant)
    unsure(draft.lead)
    with pytest.raises(ReviewRefused, match="waits to be sorted") as refused:
        approve_message(draft.id, reviewer_id=None, now=clock.now(), despite_reply=True)
    assert refused.value.code == "triage"
    db.session.expire_all()
    assert db.session.get(OutboundMessage, draft.id).status == "pending_approval"


def test_a_finished_task_moves_on_but_waits_for_the_reply(tenant, clock, unsure):
    task = factories.make_task(tenant)
    enrollment = db.session.get(Enrollment, task.enrollment_id)
    enrollment.sequence.steps.append(
        factories.SequenceStep(tenant_id=tenant.id, step_order=2, channel="call_reminder", delay_hours=0)
    )
    db.session.commit()
    unsure(task.lead)
    complete_task(task.id, user_id=None, now=clock.now(), outcome="connected")
    db.session.expire_all()
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (enrollment.current_step_order, enrollment.status, enrollment.pause_reason) == (
        2,
        "paused",
        "reply_triage",
    )


def test_a_person_cannot_resume_by_hand_while_the_reply_waits(tenant, clock, unsure):
    lead, enrollment = _live(tenant)
    unsure(lead)
    with pytest.raises(lifecycle.TransitionRefused, match="waits to be sorted"):
        lifecycle.resume_enrollment(enrollment, actor_id=None)


# --- The web tab -----------------------------------------------------------------------------------


def test_a_rep_sees_only_their_own_leads_replies_oldest_first(tenant, clock, unsure, login_as):
    rep = login_as("rep")
    mine_old = factories.make_lead(tenant, owner_id=rep.user.id, first_name="Olga", last_name="Old")
    mine_new = factories.make_lead(tenant, owner_id=rep.user.id, first_name="Nina", last_name="New")
    theirs = factories.make_lead(tenant, owner_id=factories.make_user(tenant, "rep").id, first_name="Theo")
    unsure(mine_old)
    clock.advance(minutes=5)
    unsure(mine_new)
    unsure(theirs)
    page = rep.get("/inbox/replies").get_data(as_text=True)
    assert page.index("Olga Old") < page.index("Nina New")
    assert "Theo" not in page
    assert re.search(r'id="replies-total"[^>]*>2<', page)
    assert re.search(r'id="nav-count-replies"[^>]*>2<', page)
    manager = login_as("manager").get("/inbox/replies").get_data(as_text=True)
    assert "Theo" in manager and re.search(r'id="replies-total"[^>]*>3<', manager)


def test_a_rep_cannot_sort_another_reps_leads_reply(tenant, clock, unsure, login_as):
    rep = login_as("rep")
    theirs = factories.make_lead(tenant, owner_id=factories.make_user(tenant, "rep").id)
    _, enrollment = _live(tenant, theirs)
    reply = unsure(theirs)
    response = rep.post(f"/inbox/replies/{reply.id}/decision", {"decision": "neutral"}, headers=HTMX)
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(LeadReply, reply.id).triage == "pending"
    assert db.session.get(Enrollment, enrollment.id).status == "paused"


def test_sorting_by_htmx_answers_the_result_in_place_and_the_counts_together(tenant, clock, unsure, login_as):
    rep = login_as("rep")
    lead, enrollment = _live(tenant, factories.make_lead(tenant, owner_id=rep.user.id, first_name="Pia"))
    reply = unsure(lead)
    unsure(factories.make_lead(tenant, owner_id=rep.user.id))
    response = rep.post(f"/inbox/replies/{reply.id}/decision", {"decision": "negative"}, headers=HTMX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="reply-{reply.id}"' in body and "is-done" in body
    assert "Sorted as not interested: left “" in body
    for counter in ("replies-total", "tab-count-replies", "nav-count-replies"):
        assert re.search(rf'id="{counter}"[^>]*hx-swap-oob="true"[^>]*>1<', body.replace("\n", " ")), counter
    assert response.headers["HX-Trigger"] == "inbox-changed"
    db.session.expire_all()
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "negative_reply"


def test_sorting_without_javascript_redirects_with_the_result_and_a_second_try_is_refused(
    tenant, clock, unsure, login_as
):
    rep = login_as("rep")
    lead, _ = _live(tenant, factories.make_lead(tenant, owner_id=rep.user.id))
    reply = unsure(lead)
    response = rep.post(f"/inbox/replies/{reply.id}/decision", {"decision": "neutral"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/replies")
    page = rep.get("/inbox/replies").get_data(as_text=True)
    assert "Sorted as other:" in page and "goes on" in page
    rep.post(f"/inbox/replies/{reply.id}/decision", {"decision": "unsubscribe"})
    page = rep.get("/inbox/replies").get_data(as_text=True)
    assert "Already sorted by" in page


def test_a_decision_without_the_csrf_token_is_refused(tenant, clock, unsure, login_as):
    rep = login_as("rep")
    lead, _ = _live(tenant, factories.make_lead(tenant, owner_id=rep.user.id))
    reply = unsure(lead)
    response = rep.post(f"/inbox/replies/{reply.id}/decision", {"decision": "neutral"}, csrf=False)
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(LeadReply, reply.id).triage == "pending"


def test_marketers_have_no_replies_tab(login_as):
    assert login_as("marketer").get("/inbox/replies").status_code == 403


def test_the_card_shows_the_reply_its_history_the_guess_and_the_lead(tenant, clock, unsure, login_as):
    rep = login_as("rep")
    lead, _ = _live(tenant, factories.make_lead(tenant, owner_id=rep.user.id, first_name="Quinn"))
    unsure(lead, "Maybe next quarter?\n\nOn Mon, Mar 2, 2026 Nurture wrote:\n> Hello Quinn", guess="positive")
    page = rep.get("/inbox/replies").get_data(as_text=True)
    words = page.index("Maybe next quarter?")
    assert page.index("<details", words) > words  # the quoted history below, folded away
    assert "&gt; Hello Quinn" in page[page.index("<details") :]
    assert "Best guess: <strong>positive</strong>" in page and "the word maybe" in page
    assert f"/leads/{lead.id}/timeline" in page
    assert "Re: Hello" in page
    for key in ("p", "n", "u", "o", "x"):
        assert f'data-key="{key}"' in page


def test_the_lead_timeline_shows_a_waiting_reply_then_who_sorted_it(tenant, clock, unsure, login_as):
    admin = login_as("admin")
    lead, _ = _live(tenant)
    reply = unsure(lead)
    page = admin.get(f"/leads/{lead.id}/timeline").get_data(as_text=True)
    assert "waiting for a person to sort" in page
    triage.decide_triage(reply, "out_of_office", actor_id=admin.user.id)
    db.session.commit()
    page = admin.get(f"/leads/{lead.id}/timeline").get_data(as_text=True)
    assert f"Reply sorted by {admin.user.name}: out of office" in page
    assert "waiting for a person to sort" not in page


def test_the_enrollment_timeline_tells_the_wait_and_the_decision(tenant, clock, unsure):
    from nurture_ui.timeline import describe

    lead, _ = _live(tenant)
    reply = unsure(lead)
    triage.decide_triage(reply, "neutral", actor_id=None)
    db.session.commit()
    [received] = _activities(lead, "reply_received")
    [sorted_] = _activities(lead, "reply_triaged")
    [paused] = _activities(lead, "nurture_paused")
    words = {a.type: describe(a, labels={}, messages={}, tasks={}) for a in (received, sorted_, paused)}
    assert words["reply_received"].title == "The lead replied — waiting for a person to sort it"
    assert words["reply_triaged"].title == "Reply sorted: other"
    assert words["nurture_paused"].detail == "A reply waits for a person to sort it"
