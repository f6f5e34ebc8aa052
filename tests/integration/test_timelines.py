"""Enrollment and lead timelines: the past in the order written, the planned steps as the engine would time them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nurture_ui import lifecycle
from nurture_ui.engine.replay import run_due
from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db
from nurture_ui.models import Activity, OutboundMessage
from nurture_ui.timeline import enrollment_timeline
from tests import factories
from tests.engine.conftest import smtp_server  # noqa: F401 (the fixture, imported)

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 05:00 in New York (EST)


@pytest.fixture
def setup(tenant, clock):
    factories.make_template(tenant, "intro", name="Welcome", pre_approved=True)
    sequence = factories.make_sequence(
        tenant,
        name="Warm",
        status="active",
        steps=[
            {"channel": "email", "template_id": "intro", "delay_hours": 0},
            {"channel": "email", "template_id": "intro", "delay_hours": 24},
            {"channel": "task", "delay_hours": 48, "instructions": "Call to book a demo"},
        ],
    )
    owner = factories.make_user(tenant, "rep", name="Rita Rep")
    lead = factories.make_lead(tenant, timezone="America/New_York", owner_id=owner.id, first_name="Nora")
    enrollment = schedule_first_step(lead, sequence, now=clock.now())
    db.session.commit()
    return enrollment


def titles(entries):
    return [e.title for e in entries]


def test_activities_of_one_transaction_keep_the_order_they_were_written(setup):
    past = enrollment_timeline(setup, MONDAY).past
    assert titles(past) == ["Enrolled", "Step 1 · Email “Welcome” scheduled"]
    assert past[0].at == past[1].at
    seqs = [a.seq for a in db.session.query(Activity).filter_by(enrollment_id=setup.id).all()]
    assert all(s is not None for s in seqs) and len(set(seqs)) == 2


def test_planned_steps_follow_delays_send_window_and_frequency_cap(setup):
    timeline = enrollment_timeline(setup, MONDAY)
    planned = [(e.title, e.at) for e in timeline.planned]
    assert planned == [
        # 09:00 in New York, when the send window opens
        ("Step 1 · Email “Welcome”", datetime(2026, 3, 2, 14, 0, tzinfo=UTC)),
        # 24 h later is within the 48 h frequency cap: moved to when the cap ends
        ("Step 2 · Email “Welcome”", datetime(2026, 3, 4, 14, 0, tzinfo=UTC)),
        # a task is not held by the window or the cap: 48 h after step 2
        ("Step 3 · Task “Call to book a demo”", datetime(2026, 3, 6, 14, 0, tzinfo=UTC)),
        ("Completes the sequence", datetime(2026, 3, 6, 14, 0, tzinfo=UTC)),
    ]
    assert "frequency cap" in timeline.planned[1].note
    assert all(e.planned for e in timeline.planned)
    assert "assumed done" in timeline.assumption


def test_the_plan_matches_what_the_engine_then_does(setup, clock):
    planned = enrollment_timeline(setup, MONDAY).planned
    run_due(planned[0].at, send=False)
    db.session.refresh(setup)
    assert setup.current_step_order == 2
    # The engine schedules step 2 at 24 h and holds it for the cap when it comes due; the plan says where it lands.
    run_due(setup.next_step_on, send=False)
    db.session.refresh(setup)
    run_due(setup.next_step_on, send=False)
    second = db.session.query(OutboundMessage).filter_by(enrollment_id=setup.id, step_order=2).one()
    assert second.queued_at == planned[1].at


def test_executed_steps_read_in_plain_words_and_leave_the_plan(setup):
    run_due(datetime(2026, 3, 2, 14, 0, tzinfo=UTC), send=False)
    db.session.refresh(setup)
    timeline = enrollment_timeline(setup, datetime(2026, 3, 2, 14, 5, tzinfo=UTC))
    assert titles(timeline.past)[-2:] == [
        "Step 1 · Email “Welcome” ran: email queued",
        "Step 2 · Email “Welcome” scheduled",
    ]
    assert timeline.past[-2].detail == "“Hello Nora”"
    assert timeline.past[-2].actor == "the system"
    assert titles(timeline.planned)[0] == "Step 2 · Email “Welcome”"


def test_pause_reply_and_exit_carry_actor_and_reason(setup, tenant, clock):
    manager = factories.make_user(tenant, "manager", name="Mona Manager")
    lifecycle.pause_enrollment(setup, actor_id=manager.id)
    db.session.commit()
    clock.advance(hours=1)
    from nurture_ui import signals

    signals.record_reply(setup.lead, "Yes please, let's talk next week", sentiment="positive")
    db.session.commit()
    db.session.refresh(setup)
    timeline = enrollment_timeline(setup, clock.now())
    paused, replied, exited = timeline.past[-3:]
    assert (paused.title, paused.detail, paused.actor) == ("Paused", "Paused by hand", "Mona Manager")
    assert replied.title == "The lead replied (positive)"
    assert (exited.title, exited.detail) == ("Left the sequence", "The lead replied positively")
    assert timeline.planned == [] and not timeline.is_live


def test_a_draft_waiting_for_approval_is_shown_as_waiting(tenant, clock):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"channel": "email", "template_id": "intro", "requires_human_approval": True},
            {"channel": "email", "template_id": "intro", "delay_hours": 72},
        ],
    )
    enrollment = schedule_first_step(factories.make_lead(tenant), sequence, now=MONDAY)
    db.session.commit()
    run_due(MONDAY, send=False)
    db.session.refresh(enrollment)
    timeline = enrollment_timeline(enrollment, MONDAY + timedelta(hours=1))
    assert timeline.past[-1].title == "Paused"
    assert timeline.past[-1].detail == "The email waits for approval"
    waiting, second, _done = timeline.planned
    assert waiting.at is None and waiting.detail == "Waiting for the draft's approval"
    # assumed approved now (11:00): +72 h, no cap hit (the cap ends 48 h after the approval)
    assert second.at == MONDAY + timedelta(hours=73)
    assert "wait ends now" in timeline.assumption


def test_timeline_page_polls_while_live_and_stops_when_ended(setup, login_as, tenant):
    client = login_as("rep")
    url = f"/enrollments/{setup.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in page and "planned" in page and "Now" in page
    assert page.index("Enrolled") < page.index('data-kind="planned"') < page.index("Completes the sequence")
    partial = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and 'id="enrollment-timeline"' in partial
    lifecycle.exit_enrollment(setup, "unenrolled", actor_id=client.user.id)
    db.session.commit()
    ended = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in ended
    assert "Taken out by hand" in ended and "nothing more is planned" in ended


def test_lead_timeline_puts_enrollments_emails_replies_and_tasks_on_one_axis(setup, login_as, tenant):
    run_due(datetime(2026, 3, 2, 14, 0, tzinfo=UTC), send=False)
    factories.make_reply(setup.lead, "neutral", body_excerpt="Thanks, send me pricing")
    client = login_as("rep")
    lead_page = client.get(f"/leads/{setup.lead_id}").get_data(as_text=True)
    assert f"/leads/{setup.lead_id}/timeline" in lead_page
    html = client.get(f"/leads/{setup.lead_id}/timeline").get_data(as_text=True)
    assert '<svg class="chart lanes"' in html
    assert "Enrolled in “Warm”" in html
    assert "Email queued to send: “Hello Nora”" in html
    assert "Replied (neutral)" in html and "Thanks, send me pricing" in html
    assert html.index("<svg") < html.index("Everything, newest first")


def _enrolled(tenant, steps, *, score=50, pre_approved=True):
    factories.make_template(tenant, "intro", name="Welcome", pre_approved=pre_approved)
    sequence = factories.make_sequence(tenant, name="Warm", status="active", steps=steps)
    owner = factories.make_user(tenant, "rep", name="Rita Rep")
    lead = factories.make_lead(
        tenant, timezone="America/New_York", owner_id=owner.id, first_name="Nora", score=score
    )
    enrollment = schedule_first_step(lead, sequence, now=MONDAY)
    db.session.commit()
    return enrollment, owner


def _entries(enrollment, now):
    db.session.expire_all()
    return [(e.title, e.detail, e.actor) for e in enrollment_timeline(enrollment, now).past]


AT_NINE_IN_NEW_YORK = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_a_step_whose_conditions_fail_reads_as_skipped(tenant, clock):
    enrollment, _owner = _enrolled(
        tenant,
        [
            {"template_id": "intro", "conditions": {"all": [{"field": "score", "op": "gte", "value": 90}]}},
            {"template_id": "intro", "delay_hours": 24},
        ],
        score=50,
    )
    run_due(AT_NINE_IN_NEW_YORK, send=False)
    entries = _entries(enrollment, AT_NINE_IN_NEW_YORK)
    assert (
        "Step 1 · Email “Welcome” skipped",
        "Its conditions did not hold for this lead.",
        "the system",
    ) in entries
    assert entries[-1][0] == "Step 2 · Email “Welcome” scheduled"
    assert db.session.query(OutboundMessage).count() == 0


def test_an_email_sent_and_the_last_step_completing_read_in_plain_words(
    tenant,
    clock,
    smtp_server,  # noqa: F811 (the fixture, imported)
):
    enrollment, _owner = _enrolled(tenant, [{"template_id": "intro"}])
    run_due(AT_NINE_IN_NEW_YORK)  # executes the only step and sends its email
    assert len(smtp_server.messages) == 1
    titles = [t for t, _d, _a in _entries(enrollment, AT_NINE_IN_NEW_YORK)]
    assert titles[-3:] == [
        "Step 1 · Email “Welcome” ran: email queued",
        "Completed the sequence",
        "Email sent — Step 1 · Email “Welcome”",
    ]
    sent = _entries(enrollment, AT_NINE_IN_NEW_YORK)[-1]
    assert sent[1] == "“Hello Nora”" and sent[2] == "the system"
    completed = _entries(enrollment, AT_NINE_IN_NEW_YORK)[-2]
    assert completed[1] == "Every step has run."
    assert enrollment_timeline(enrollment, AT_NINE_IN_NEW_YORK).planned == []


def test_an_approved_draft_names_its_reviewer_and_an_edit(tenant, clock):
    from nurture_ui.engine.transitions import approve_message

    enrollment, _owner = _enrolled(
        tenant,
        [
            {"template_id": "intro", "requires_human_approval": True},
            {"template_id": "intro", "delay_hours": 72},
        ],
        pre_approved=False,
    )
    manager = factories.make_user(tenant, "manager", name="Mona Manager")
    run_due(AT_NINE_IN_NEW_YORK, send=False)
    draft = db.session.query(OutboundMessage).filter_by(enrollment_id=enrollment.id).one()
    approve_message(
        draft.id,
        reviewer_id=manager.id,
        now=AT_NINE_IN_NEW_YORK + timedelta(minutes=30),
        enqueue_send=False,
        subject="Hello Nora, a quick idea",
        body="Edited body",
    )
    entries = _entries(enrollment, AT_NINE_IN_NEW_YORK + timedelta(minutes=30))
    assert (
        "Step 1 · Email “Welcome” approved after an edit and queued",
        "“Hello Nora, a quick idea”",
        "Mona Manager",
    ) in entries
    assert ("Resumed", "The email was approved", "Mona Manager") in entries


@pytest.mark.parametrize(
    ("action", "note", "detail"),
    [
        ("skip", "Too pushy for this lead", "Reviewer chose: skip this step — “Too pushy for this lead”"),
        ("exit", None, "Reviewer chose: exit this lead"),
    ],
)
def test_a_rejected_draft_says_what_the_reviewer_chose(tenant, clock, action, note, detail):
    from nurture_ui.engine.transitions import reject_message

    enrollment, _owner = _enrolled(
        tenant,
        [
            {"template_id": "intro", "requires_human_approval": True},
            {"template_id": "intro", "delay_hours": 72},
        ],
        pre_approved=False,
    )
    manager = factories.make_user(tenant, "manager", name="Mona Manager")
    run_due(AT_NINE_IN_NEW_YORK, send=False)
    draft = db.session.query(OutboundMessage).filter_by(enrollment_id=enrollment.id).one()
    later = AT_NINE_IN_NEW_YORK + timedelta(hours=1)
    reject_message(draft.id, reviewer_id=manager.id, now=later, action=action, note=note)
    entries = _entries(enrollment, later)
    assert ("Step 1 · Email “Welcome” draft rejected", detail, "Mona Manager") in entries
    if action == "exit":
        assert entries[-1] == (
            "Left the sequence",
            "A reviewer rejected a draft and took the lead out",
            "Mona Manager",
        )
    else:
        assert entries[-1][0] == "Step 2 · Email “Welcome” scheduled"


def test_a_task_done_resumes_the_enrollment_and_both_timelines_show_the_task(tenant, clock, login_as):
    from nurture_ui.engine.transitions import complete_task
    from nurture_ui.models import Task

    enrollment, owner = _enrolled(
        tenant,
        [
            {"channel": "call_reminder", "instructions": "Call to book a demo"},
            {"template_id": "intro", "delay_hours": 24},
        ],
    )
    run_due(MONDAY, send=False)
    task = db.session.query(Task).filter_by(enrollment_id=enrollment.id).one()
    entries = _entries(enrollment, MONDAY)
    assert (
        "Step 1 · Call reminder “Call to book a demo” ran",
        "Task “Call to book a demo” for Rita Rep",
        "the system",
    ) in entries
    assert entries[-1][:2] == ("Paused", "Waiting for a task to be done")
    done_at = MONDAY + timedelta(hours=3)
    complete_task(task.id, user_id=owner.id, now=done_at, outcome="connected")
    entries = _entries(enrollment, done_at)
    assert ("Resumed", "The task was done (outcome: connected)", "Rita Rep") in entries
    assert entries[-1][0] == "Step 2 · Email “Welcome” scheduled"

    html = login_as("manager").get(f"/leads/{enrollment.lead_id}/timeline").get_data(as_text=True)
    assert "Call for Rita Rep: “Call to book a demo”" in html
    assert "Call done (connected): “Call to book a demo”" in html
    assert ">Tasks<" in html  # the chart's lane of tasks
