"""Drafts a person reviews: who wrote them, approving (with the lead checked again), rejecting, tasks."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.engine.transitions import (
    ReviewRefused,
    TransitionRefused,
    approve_message,
    complete_task,
    reject_message,
)
from nurture_ui.extensions import db
from nurture_ui.mailer import send_messages
from nurture_ui.models import Activity, Enrollment, OutboundMessage, Task
from tests import factories
from tests.engine.conftest import enroll, messages, types
from tests.fake_drafter import FakeDrafter

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def refreshed(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


@pytest.fixture
def reviewed_sequence(tenant):
    factories.make_template(tenant, "intro", subject="Hello {{ lead.first_name }}")
    factories.make_template(tenant, "follow-up")
    return factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"template_id": "intro", "requires_human_approval": True},
            {"template_id": "follow-up", "delay_hours": 72},
        ],
    )


def drafted(tenant, sequence, clock, **lead_fields):
    """A lead enrolled and run to its first step: its enrollment and the pending draft."""
    lead = factories.make_lead(tenant, first_name="Ada", company="Initech", **lead_fields)
    enrollment = enroll(lead, sequence, clock.now())
    run_due(clock.now(), send=False)
    [draft] = messages(enrollment)
    assert draft.status == "pending_approval"
    return enrollment, draft


# --- drafters ------------------------------------------------------------------------------------------


def test_the_default_drafter_is_the_template_and_the_draft_says_why_it_waits(
    clock, tenant, reviewed_sequence
):
    _, draft = drafted(tenant, reviewed_sequence, clock)
    assert (draft.drafter, draft.subject) == ("template", "Hello Ada")
    assert "approval" in draft.review_reason


def test_the_http_drafter_writes_the_draft_and_is_named_on_it(clock, tenant, reviewed_sequence):
    with FakeDrafter() as service:
        tenant.policy = {"drafter_url": service.url, "drafter_timeout_seconds": 2}
        db.session.commit()
        _, draft = drafted(tenant, reviewed_sequence, clock)
    assert (draft.subject, draft.body) == ("A thought for Initech", "Hi Ada, written by the agent.")
    assert draft.drafter == f"http:127.0.0.1:{service.server.server_port}"
    assert "writing service" in draft.review_reason
    [sent] = service.requests
    assert sent["rendered"]["subject"] == "Hello Ada"
    assert sent["template"]["key"] == "intro" and sent["lead"]["company"] == "Initech"


def test_the_http_drafters_timeout_falls_back_to_the_template(clock, tenant, reviewed_sequence):
    with FakeDrafter() as service:
        service.mode, service.delay = "slow", 3
        tenant.policy = {"drafter_url": service.url, "drafter_timeout_seconds": 0.3}
        db.session.commit()
        started = time.monotonic()
        _, draft = drafted(tenant, reviewed_sequence, clock)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5  # the timeout, not the service, decided
    assert (draft.drafter, draft.subject) == ("template", "Hello Ada")
    assert "did not answer within 0.3 s" in draft.review_reason


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_a_failing_http_drafter_falls_back_to_the_template(clock, tenant, reviewed_sequence, mode):
    with FakeDrafter() as service:
        service.mode = mode
        tenant.policy = {"drafter_url": service.url}
        db.session.commit()
        _, draft = drafted(tenant, reviewed_sequence, clock)
    assert (draft.drafter, draft.subject) == ("template", "Hello Ada")
    assert "writing service" in draft.review_reason


def test_steps_without_review_never_call_the_drafter(clock, tenant):
    factories.make_template(tenant, "plain")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "plain"}])
    with FakeDrafter() as service:
        tenant.policy = {"drafter_url": service.url}
        db.session.commit()
        enroll(factories.make_lead(tenant), sequence, clock.now())
        run_due(clock.now(), send=False)
    assert service.requests == []


# --- approving -----------------------------------------------------------------------------------------


def test_an_approved_draft_is_sent_exactly_once(clock, tenant, reviewed_sequence, smtp_server):
    reviewer = factories.make_user(tenant, "rep")
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    approval = approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), enqueue_send=False)
    assert approval.held_until is None
    with pytest.raises(ReviewRefused):
        approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), enqueue_send=False)
    # Two send jobs for the same message (a retry, a duplicate ticket): one email.
    send_messages([draft.id], clock.now())
    send_messages([draft.id], clock.now())
    run_due(clock.now())
    assert [m["Subject"] for m in smtp_server.messages] == ["Hello Ada"]
    assert refreshed(draft).status == "sent"
    assert refreshed(enrollment).current_step_order == 2


def test_an_edited_draft_goes_out_as_edited_and_the_edit_is_logged(
    clock, tenant, reviewed_sequence, smtp_server
):
    reviewer = factories.make_user(tenant, "rep")
    _, draft = drafted(tenant, reviewed_sequence, clock)
    approval = approve_message(
        draft.id,
        reviewer_id=reviewer.id,
        now=clock.now(),
        enqueue_send=False,
        subject="Hello Ada, a quick idea",
        body="Hi Ada,\r\nI rewrote this myself.",
    )
    assert approval.edited
    send_messages([draft.id], clock.now())
    [email] = smtp_server.messages
    assert email["Subject"] == "Hello Ada, a quick idea"
    assert "I rewrote this myself." in email.get_content()
    executed = db.session.scalars(
        sa.select(Activity).where(Activity.type == "nurture_step_executed", Activity.actor_id == reviewer.id)
    ).one()
    assert executed.data["edited"] is True and executed.data["approved"] is True


def test_approving_for_a_lead_that_converted_meanwhile_is_refused_and_the_enrollment_exits(
    clock, tenant, reviewed_sequence, smtp_server
):
    reviewer = factories.make_user(tenant, "rep")
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    lead = enrollment.lead
    lead.status = "converted"
    db.session.commit()
    with pytest.raises(ReviewRefused) as refused:
        approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now())
    assert refused.value.code == "stopped"
    assert str(refused.value) == f"Not sent to {lead.name}: the lead converted, so the enrollment has ended."
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "converted")
    assert refreshed(draft).status == "cancelled"
    run_due(clock.now())
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    "change", [{"do_not_contact": True}, {"unsubscribed_at": MONDAY_10}], ids=["dnc", "unsubscribed"]
)
def test_approving_for_a_lead_that_may_no_longer_be_mailed_is_refused(
    clock, tenant, reviewed_sequence, change
):
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    for key, value in change.items():
        setattr(enrollment.lead, key, value)
    db.session.commit()
    with pytest.raises(ReviewRefused, match="so the enrollment has ended"):
        approve_message(draft.id, reviewer_id=None, now=clock.now(), enqueue_send=False)
    assert refreshed(enrollment).status == "exited"


def test_a_reply_after_the_draft_holds_it_until_someone_sends_it_anyway(clock, tenant, reviewed_sequence):
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    clock.advance(hours=1)
    factories.make_reply(enrollment.lead, "neutral")
    with pytest.raises(ReviewRefused) as refused:
        approve_message(draft.id, reviewer_id=None, now=clock.now(), enqueue_send=False)
    assert refused.value.code == "replied"
    assert (refreshed(draft).status, refreshed(enrollment).pause_reason) == ("pending_approval", "approval")
    assert "replied" in refreshed(draft).review_reason
    approve_message(draft.id, reviewer_id=None, now=clock.now(), enqueue_send=False, despite_reply=True)
    assert refreshed(draft).status == "queued"


def test_within_the_frequency_cap_an_approved_draft_waits_and_goes_once_the_cap_ends(
    clock, tenant, reviewed_sequence
):
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    other = factories.make_sequence(tenant, status="draft", steps=[{"template_id": "intro"}])
    earlier = factories.make_enrollment(enrollment.lead, other, status="completed")
    db.session.add(
        OutboundMessage(
            tenant_id=tenant.id,
            enrollment_id=earlier.id,
            step_order=1,
            lead_id=enrollment.lead_id,
            sequence_id=other.id,
            to_email="x@example.test",
            subject="s",
            body="b",
            status="sent",
            sent_at=MONDAY_10 - timedelta(hours=44),
            message_id="<earlier@example.test>",
        )
    )
    db.session.commit()
    clock.advance(minutes=30)
    approval = approve_message(draft.id, reviewer_id=None, now=clock.now(), enqueue_send=False)
    cap_ends = MONDAY_10 + timedelta(hours=4)
    assert (approval.held_until, approval.hold_reason) == (cap_ends, "frequency_cap")
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.current_step_order, enrollment.next_step_on) == (
        "active",
        1,
        cap_ends,
    )
    assert refreshed(draft).status == "approved"

    assert run_due(clock.now(), send=False).outcomes == {}
    clock.set(cap_ends)
    assert run_due(clock.now(), send=False).outcomes == {"executed": 1}
    assert refreshed(draft).status == "queued"
    assert refreshed(enrollment).current_step_order == 2
    assert len(messages(enrollment)) == 1
    assert set(types(enrollment)[-4:-2]) == {"nurture_resumed", "nurture_step_scheduled"}
    assert types(enrollment)[-2:] == ["nurture_step_executed", "nurture_step_scheduled"]


def test_an_approval_outside_the_send_window_waits_for_the_window(clock, tenant, reviewed_sequence):
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    clock.set(datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    approval = approve_message(draft.id, reviewer_id=None, now=clock.now(), enqueue_send=False)
    assert (approval.held_until, approval.hold_reason) == (
        datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        "send_window",
    )


EVENING = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # outside the default send window: an approval is held


@pytest.mark.parametrize("held", [False, True], ids=["goes-now", "held-by-the-window"])
@pytest.mark.parametrize("waiting", [True, False], ids=["paused-on-the-draft", "paused-for-something-else"])
def test_every_approval_is_logged_with_the_reviewer(clock, tenant, reviewed_sequence, held, waiting):
    reviewer = factories.make_user(tenant, "rep")
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    if not waiting:
        enrollment.pause_reason = "out_of_office"
        db.session.commit()
    if held:
        clock.set(EVENING)
    approval = approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), enqueue_send=False)
    assert (approval.held_until is not None) == held
    logged = db.session.scalars(
        sa.select(Activity).where(Activity.actor_id == reviewer.id, Activity.occurred_at == clock.now())
    ).all()
    assert any(a.data.get("message") == str(draft.id) for a in logged), [a.type for a in logged]


def test_an_approval_held_while_the_enrollment_waits_on_something_else_is_logged_and_sent_later(
    clock, tenant, reviewed_sequence
):
    from nurture_ui import timeline
    from nurture_ui.lifecycle import resume_enrollment

    reviewer = factories.make_user(tenant, "rep")
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    # An out-of-office pause took the enrollment over after the draft was written.
    enrollment.pause_reason = "out_of_office"
    db.session.commit()
    clock.set(EVENING)
    approval = approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), enqueue_send=False)
    next_opening = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert (approval.held_until, approval.hold_reason) == (next_opening, "send_window")
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "out_of_office")  # left as it was
    approved = db.session.scalars(sa.select(Activity).where(Activity.type == "message_approved")).one()
    assert (approved.actor_id, approved.enrollment_id, approved.occurred_at) == (
        reviewer.id,
        enrollment.id,
        EVENING,
    )
    assert approved.data == {
        "step": 1,
        "message": str(draft.id),
        "held_until": next_opening.isoformat(),
        "hold_reason": "send_window",
    }
    entry = timeline.describe(approved, labels={}, messages={str(draft.id): refreshed(draft)}, tasks={})
    assert entry.title == "Email approved — Step 1"
    assert entry.detail.endswith(
        "Held until at least Tue Mar 3, 09:00: moved into the send window."
    )  # the reader's zone (UTC here)

    # Back from out of office in the window: the approved draft goes out, once, and the sequence moves on.
    clock.set(next_opening)
    resume_enrollment(enrollment, actor_id=None, now=clock.now())
    db.session.commit()
    assert run_due(clock.now(), send=False).outcomes == {"executed": 1}
    assert refreshed(draft).status == "queued"
    assert len(messages(enrollment)) == 1
    assert refreshed(enrollment).current_step_order == 2


def test_two_people_approving_the_same_draft_one_wins_and_the_other_is_told_who(
    app, clock, tenant, reviewed_sequence
):
    rita = factories.make_user(tenant, "rep", name="Rita Rep")
    mo = factories.make_user(tenant, "manager", name="Mo Manager")
    _, draft = drafted(tenant, reviewed_sequence, clock)
    now = clock.now()
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def approve(user):
        with app.app_context():
            barrier.wait()
            try:
                approve_message(draft.id, reviewer_id=user.id, now=now, enqueue_send=False)
                results[user.name] = "approved"
            except ReviewRefused as refused:
                results[user.name] = str(refused)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (rita, mo)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winner = next(name for name, r in results.items() if r == "approved")
    loser = next(name for name in results if name != winner)
    assert results[loser] == f"Already approved by {winner} at 10:00 on Mar 2."
    assert refreshed(draft).status == "queued"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 1


# --- rejecting -----------------------------------------------------------------------------------------


def test_rejecting_with_skip_moves_on_to_the_next_step(clock, tenant, reviewed_sequence):
    reviewer = factories.make_user(tenant, "rep")
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    clock.advance(hours=2)
    rejection = reject_message(
        draft.id, reviewer_id=reviewer.id, now=clock.now(), action="skip", note="Too pushy"
    )
    assert rejection.enrollment_outcome == "scheduled"
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.current_step_order) == ("active", 2)
    assert enrollment.next_step_on == clock.now() + timedelta(hours=72)
    draft = refreshed(draft)
    assert (draft.status, draft.review_note, draft.reviewer_id) == ("rejected", "Too pushy", reviewer.id)
    resumed = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_resumed")).one()
    assert (resumed.actor_id, resumed.data["reason"], resumed.data["action"]) == (
        reviewer.id,
        "rejected",
        "skip",
    )
    with pytest.raises(ReviewRefused, match="Already rejected by"):
        approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), enqueue_send=False)


def test_rejecting_with_exit_ends_the_enrollment(clock, tenant, reviewed_sequence):
    reviewer = factories.make_user(tenant, "rep")
    enrollment, draft = drafted(tenant, reviewed_sequence, clock)
    rejection = reject_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), action="exit")
    assert rejection.enrollment_outcome == "exited"
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "rejected_in_review")
    assert refreshed(draft).status == "rejected"
    exited = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_exited")).one()
    assert exited.actor_id == reviewer.id


def test_rejecting_needs_a_known_action(clock, tenant, reviewed_sequence):
    _, draft = drafted(tenant, reviewed_sequence, clock)
    with pytest.raises(ReviewRefused):
        reject_message(draft.id, reviewer_id=None, now=clock.now(), action="maybe")


# --- tasks ---------------------------------------------------------------------------------------------


def test_a_call_needs_an_outcome_and_its_outcome_is_logged_with_the_resume(clock, tenant):
    owner = factories.make_user(tenant, "rep", name="Rob Rep")
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[{"channel": "call_reminder"}, {"template_id": "a", "delay_hours": 24}],
    )
    enrollment = enroll(factories.make_lead(tenant, owner_id=owner.id), sequence, clock.now())
    run_due(clock.now(), send=False)
    task = db.session.scalars(sa.select(Task)).one()
    with pytest.raises(TransitionRefused, match="Choose how the call went"):
        complete_task(task.id, user_id=owner.id, now=clock.now(), outcome="great")
    clock.advance(hours=5)
    complete_task(task.id, user_id=owner.id, now=clock.now(), outcome="voicemail")
    enrollment = refreshed(enrollment)
    assert (enrollment.current_step_order, enrollment.next_step_on) == (2, clock.now() + timedelta(hours=24))
    resumed = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_resumed")).one()
    assert (resumed.actor_id, resumed.data["outcome"]) == (owner.id, "voicemail")
    with pytest.raises(TransitionRefused, match="Already done by Rob Rep"):
        complete_task(task.id, user_id=owner.id, now=clock.now(), skipped=True)
    assert db.session.get(Enrollment, enrollment.id).status == "active"
