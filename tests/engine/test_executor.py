"""One step at a time, with the movable clock: what the executor decides, and the trace it leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.engine import executor
from nurture_ui.engine.dispatcher import claim_due_enrollments
from nurture_ui.engine.executor import execute_batch
from nurture_ui.engine.replay import run_due
from nurture_ui.engine.transitions import TransitionRefused, approve_message, complete_task
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, OutboundMessage, Task
from tests import factories
from tests.engine.conftest import enroll, messages, trace, types

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def refreshed(enrollment) -> Enrollment:
    db.session.expire_all()
    return db.session.get(Enrollment, enrollment.id)


@pytest.fixture
def two_emails(tenant):
    factories.make_template(tenant, "intro")
    factories.make_template(tenant, "follow-up")
    return factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"channel": "email", "delay_hours": 0, "template_id": "intro"},
            {"channel": "email", "delay_hours": 72, "template_id": "follow-up"},
        ],
    )


def test_enrolling_schedules_step_one_and_logs_it(clock, tenant, two_emails):
    enrollment = enroll(factories.make_lead(tenant), two_emails, clock.now())
    assert enrollment.current_step_order == 1
    assert enrollment.next_step_on == MONDAY_10
    assert types(enrollment) == ["nurture_enrolled", "nurture_step_scheduled"]


def test_due_email_is_queued_and_the_next_step_scheduled_after_its_delay(clock, tenant, two_emails):
    lead = factories.make_lead(tenant, first_name="Ada", company="Initech")
    enrollment = enroll(lead, two_emails, clock.now())
    report = run_due(clock.now(), send=False)
    assert report.outcomes == {"executed": 1}
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.current_step_order) == ("active", 2)
    assert enrollment.next_step_on == MONDAY_10 + timedelta(hours=72)
    assert enrollment.lease_until is None
    [message] = messages(enrollment)
    assert (message.status, message.subject, message.queued_at) == ("queued", "Hello Ada", MONDAY_10)
    assert "Initech" in message.body
    assert message.message_id.startswith("<") and message.message_id.endswith(">")
    assert types(enrollment) == [
        "nurture_enrolled",
        "nurture_step_scheduled",
        "nurture_step_executed",
        "nurture_step_scheduled",
    ]


def test_after_the_last_step_the_enrollment_is_completed(clock, tenant, two_emails):
    enrollment = enroll(factories.make_lead(tenant), two_emails, clock.now())
    run_due(clock.now(), send=False)
    clock.advance(hours=72)
    run_due(clock.now(), send=False)
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.ended_on, enrollment.next_step_on) == (
        "completed",
        clock.now(),
        None,
    )
    assert types(enrollment)[-2:] == ["nurture_step_executed", "nurture_completed"]


def test_an_enrollment_not_yet_due_is_left_alone_and_a_second_execution_does_nothing(
    clock, tenant, two_emails
):
    enrollment = enroll(factories.make_lead(tenant), two_emails, clock.now())
    first = execute_batch([enrollment.id], clock.now(), enqueue_send=False)
    again = execute_batch([enrollment.id], clock.now(), enqueue_send=False)
    assert first.outcomes == {"executed": 1}
    assert again.outcomes == {"not_due": 1}
    assert len(messages(enrollment)) == 1


def test_frequency_cap_reschedules_to_when_the_cap_ends(clock, tenant):
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[{"template_id": "a", "delay_hours": 0}, {"template_id": "a", "delay_hours": 24}],
    )
    enrollment = enroll(factories.make_lead(tenant), sequence, clock.now())
    run_due(clock.now(), send=False)
    clock.advance(hours=24)
    report = run_due(clock.now(), send=False)
    assert report.outcomes == {"rescheduled": 1}
    enrollment = refreshed(enrollment)
    assert enrollment.next_step_on == MONDAY_10 + timedelta(hours=48)
    assert trace(enrollment)[-1] == ("nurture_step_scheduled", clock.now(), 2)
    clock.advance(hours=24)
    assert run_due(clock.now(), send=False).outcomes == {"completed": 1}
    assert [m.queued_at for m in messages(enrollment)] == [MONDAY_10, MONDAY_10 + timedelta(hours=48)]


def test_frequency_cap_counts_messages_from_other_sequences(clock, tenant):
    factories.make_template(tenant, "a")
    lead = factories.make_lead(tenant)
    first = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    second = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    one = enroll(lead, first, clock.now())
    run_due(clock.now(), send=False)
    assert refreshed(one).status == "completed"
    clock.advance(hours=5)
    two = enroll(lead, second, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"rescheduled": 1}
    assert refreshed(two).next_step_on == MONDAY_10 + timedelta(hours=48)


def test_email_due_outside_the_send_window_waits_for_the_next_opening(clock, tenant, two_emails):
    friday_evening = clock.set(datetime(2026, 3, 6, 19, 0, tzinfo=UTC))
    enrollment = enroll(factories.make_lead(tenant, timezone="Europe/Berlin"), two_emails, friday_evening)
    # Monday 09:00 in Berlin (CET, UTC+1).
    assert enrollment.next_step_on == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


def test_executor_rechecks_the_window_when_a_step_runs_late(clock, tenant, two_emails):
    enrollment = enroll(factories.make_lead(tenant), two_emails, clock.now())
    late = clock.set(datetime(2026, 3, 2, 18, 0, tzinfo=UTC))
    assert run_due(late, send=False).outcomes == {"rescheduled": 1}
    assert refreshed(enrollment).next_step_on == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def test_step_needing_approval_drafts_and_pauses_then_approval_resumes(clock, tenant):
    factories.make_template(tenant, "a")
    reviewer = factories.make_user(tenant, "rep")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"template_id": "a", "requires_human_approval": True},
            {"template_id": "a", "delay_hours": 48},
        ],
    )
    enrollment = enroll(factories.make_lead(tenant), sequence, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"paused": 1}
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.pause_reason, enrollment.next_step_on) == (
        "paused",
        "approval",
        None,
    )
    [draft] = messages(enrollment)
    assert draft.status == "pending_approval"

    clock.advance(hours=3)
    approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), enqueue_send=False)
    enrollment = refreshed(enrollment)
    draft = db.session.get(OutboundMessage, draft.id)
    assert (draft.status, draft.reviewer_id, draft.queued_at) == ("queued", reviewer.id, clock.now())
    assert (enrollment.status, enrollment.current_step_order) == ("active", 2)
    assert enrollment.next_step_on == clock.now() + timedelta(hours=48)
    assert types(enrollment)[2:] == [
        "nurture_paused",
        "nurture_resumed",
        "nurture_step_executed",
        "nurture_step_scheduled",
    ]
    with pytest.raises(TransitionRefused):
        approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now(), enqueue_send=False)


def test_pre_approved_template_skips_review_when_the_tenant_allows_it(clock, tenant):
    factories.make_template(tenant, "ok", pre_approved=True)
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"template_id": "ok", "requires_human_approval": True}]
    )
    enroll(factories.make_lead(tenant), sequence, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"completed": 1}


def test_pre_approved_template_still_needs_review_when_the_tenant_forbids_it(clock):
    strict = factories.make_tenant("Strict", preapproved_skip_review=False)
    factories.make_template(strict, "ok", pre_approved=True)
    sequence = factories.make_sequence(
        strict, status="active", steps=[{"template_id": "ok", "requires_human_approval": True}]
    )
    enroll(factories.make_lead(strict), sequence, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"paused": 1}


@pytest.mark.parametrize("channel", ["task", "call_reminder"])
def test_task_step_creates_a_task_for_the_owner_and_pauses_until_done(clock, tenant, channel):
    owner = factories.make_user(tenant, "rep")
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"channel": channel, "instructions": "Ask about budget\nBe brief"},
            {"template_id": "a", "delay_hours": 24},
        ],
    )
    enrollment = enroll(factories.make_lead(tenant, owner_id=owner.id), sequence, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"paused": 1}
    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.kind, task.assignee_id, task.title, task.status) == (
        channel,
        owner.id,
        "Ask about budget",
        "open",
    )
    assert refreshed(enrollment).pause_reason == "task"

    clock.advance(hours=30)
    complete_task(task.id, user_id=owner.id, now=clock.now(), outcome="connected")
    enrollment = refreshed(enrollment)
    assert (enrollment.status, enrollment.current_step_order) == ("active", 2)
    assert enrollment.next_step_on == clock.now() + timedelta(hours=24)
    assert types(enrollment)[2:] == [
        "nurture_step_executed",
        "nurture_paused",
        "nurture_resumed",
        "nurture_step_scheduled",
    ]


def test_false_conditions_skip_the_step(clock, tenant, two_emails, monkeypatch):
    monkeypatch.setattr(executor, "step_conditions_hold", lambda *a, **k: False)
    enrollment = enroll(factories.make_lead(tenant), two_emails, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"skipped": 1}
    enrollment = refreshed(enrollment)
    assert enrollment.current_step_order == 2 and messages(enrollment) == []
    assert trace(enrollment)[2] == ("nurture_step_executed", MONDAY_10, 1)


def test_a_paused_sequence_holds_its_enrollments_until_it_runs_again(clock, tenant, two_emails):
    enrollment = enroll(factories.make_lead(tenant), two_emails, clock.now())
    two_emails.status = "paused"
    db.session.commit()
    clock.advance(hours=4)
    assert run_due(clock.now(), send=False).outcomes == {}
    assert claim_due_enrollments(clock.now(), 10, timedelta(minutes=5)) == []
    two_emails.status = "active"
    db.session.commit()
    assert run_due(clock.now(), send=False).outcomes == {"executed": 1}
    assert refreshed(enrollment).current_step_order == 2


def test_missing_template_pauses_with_a_reason(clock, tenant):
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "nope"}])
    enrollment = enroll(factories.make_lead(tenant), sequence, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"paused": 1}
    assert refreshed(enrollment).pause_reason == "template_missing"


def test_a_batch_costs_the_same_statements_whatever_its_size(clock, tenant, two_emails):
    """A batch is locked in one query, decided in memory and written in one flush: its statements do not
    grow with its size (the rows of one table go in one multi-row statement)."""
    statements = []

    def count(*args, **kwargs):
        statements.append(1)

    def run(n: int) -> int:
        ids = [enroll(factories.make_lead(tenant), two_emails, clock.now()).id for _ in range(n)]
        claim_due_enrollments(clock.now(), 1000, timedelta(minutes=5))
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            execute_batch(ids, clock.now(), enqueue_send=False)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    small, large = run(5), run(45)
    assert large == small, (small, large)
    assert small <= 15, small


def test_a_step_that_fails_is_rolled_back_alone_and_the_rest_of_its_batch_goes_on(
    clock, tenant, two_emails, monkeypatch
):
    """The batch's one transaction fails; it runs again one enrollment at a time, and only the enrollment
    whose step raises keeps its lease (retried when it expires), with nothing of it written."""
    enrollments = [enroll(factories.make_lead(tenant), two_emails, clock.now()) for _ in range(3)]
    broken = enrollments[1]
    monkeypatch.setattr(
        executor,
        "_execute_email",
        _crashing_for(broken.id, executor._execute_email),
    )
    ids = claim_due_enrollments(clock.now(), 10, timedelta(minutes=5))
    report = execute_batch(ids, clock.now(), enqueue_send=False)
    assert report.outcomes == {"executed": 2, "failed": 1}
    for enrollment in enrollments:
        enrollment = refreshed(enrollment)
        if enrollment.id == broken.id:
            assert (enrollment.current_step_order, enrollment.lease_until is not None) == (1, True)
            assert messages(enrollment) == []
            assert types(enrollment) == ["nurture_enrolled", "nurture_step_scheduled"]
        else:
            assert (enrollment.current_step_order, enrollment.lease_until) == (2, None)
            assert [m.status for m in messages(enrollment)] == ["queued"]
    assert len(report.queued_message_ids) == 2


def _crashing_for(enrollment_id, real):
    def execute_email(enrollment, *args, **kwargs):
        if enrollment.id == enrollment_id:
            raise RuntimeError("a bug in the executor")
        return real(enrollment, *args, **kwargs)

    return execute_email
