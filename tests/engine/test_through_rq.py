"""The engine through a real RQ worker, Redis and a local SMTP server: a six-step sequence over 21 days
(its approval and call steps pausing and resuming), each stop, two sequences' frequency cap, a paused sequence.

The worker is RQ's ``SimpleWorker`` in burst mode in this process (so the movable clock moves it too);
every tick is the real dispatcher job, which enqueues the real executor jobs, which enqueue the real
send jobs. Only the instant each tick runs at is chosen by the test.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from nurture_ui.engine.transitions import approve_message, complete_task
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.jobs import dispatch_due_job
from nurture_ui.models import Enrollment, OutboundMessage, Task
from tests import factories
from tests.engine.conftest import STOPS, enroll, messages, trace


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def queue(app):
    queue = get_queue()
    queue.empty()
    yield queue
    queue.empty()


def work(queue) -> None:
    """Run every job in the queue (and those they enqueue) with a real RQ worker, then return."""
    SimpleWorker([queue], connection=get_redis()).work(burst=True, logging_level="WARNING")
    assert queue.count == 0
    assert queue.failed_job_registry.count == 0, [
        queue.fetch_job(j).latest_result().exc_string for j in queue.failed_job_registry.get_job_ids()
    ]


def tick(queue, clock, instant: datetime) -> None:
    clock.set(instant)
    queue.enqueue(dispatch_due_job, instant.isoformat())
    work(queue)


def replay_until(queue, clock, end: datetime) -> None:
    """Tick at every instant something falls due, up to ``end``, as a live scheduler would have."""
    while True:
        due = db.session.scalar(
            sa.select(sa.func.min(Enrollment.next_step_on)).where(Enrollment.status == "active")
        )
        db.session.commit()
        if due is None:
            break
        due = (
            due
            if isinstance(due, datetime) and due.tzinfo
            else datetime.fromisoformat(str(due)).replace(tzinfo=UTC)
        )
        if due > end:
            break
        tick(queue, clock, due)
    clock.set(end)


def test_six_step_sequence_over_21_days_leaves_exactly_the_expected_trace(clock, tenant, queue, smtp_server):
    owner = factories.make_user(tenant, "rep")
    for key in ("intro", "value", "case-study", "check-in", "breakup"):
        factories.make_template(tenant, key, subject=f"{key} for {{{{ lead.first_name }}}}")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"channel": "email", "template_id": "intro", "delay_hours": 0},
            {"channel": "email", "template_id": "value", "delay_hours": 24},  # held by the 48 h cap
            {"channel": "call_reminder", "delay_hours": 48, "instructions": "Call about the pilot"},
            {"channel": "email", "template_id": "case-study", "delay_hours": 24},  # lands on a weekend
            {
                "channel": "email",
                "template_id": "check-in",
                "delay_hours": 96,
                "requires_human_approval": True,
            },
            {"channel": "email", "template_id": "breakup", "delay_hours": 168},
        ],
    )
    # New York: 10:00 EST on Monday 2 March; clocks go forward on Sunday 8 March.
    lead = factories.make_lead(tenant, first_name="Ada", owner_id=owner.id, timezone="America/New_York")
    clock.set(at(2, 15))
    enrollment = enroll(lead, sequence, clock.now())

    replay_until(queue, clock, at(6, 20))
    [task] = db.session.scalars(sa.select(Task)).all()
    assert (task.assignee_id, task.kind, task.due_at) == (owner.id, "call_reminder", at(6, 15))
    complete_task(task.id, user_id=owner.id, now=clock.now(), outcome="connected")

    replay_until(queue, clock, at(13, 14))
    draft = db.session.scalars(
        sa.select(OutboundMessage).where(OutboundMessage.status == "pending_approval")
    ).one()
    approve_message(draft.id, reviewer_id=owner.id, now=clock.now())
    work(queue)

    replay_until(queue, clock, at(23, 9))  # day 21

    expected = [
        ("nurture_enrolled", at(2, 15), None),
        ("nurture_step_scheduled", at(2, 15), 1),
        ("nurture_step_executed", at(2, 15), 1),
        ("message_sent", at(2, 15), 1),
        ("nurture_step_scheduled", at(2, 15), 2),
        ("nurture_step_scheduled", at(3, 15), 2),  # frequency cap: 48 h after the first email
        ("nurture_step_executed", at(4, 15), 2),
        ("message_sent", at(4, 15), 2),
        ("nurture_step_scheduled", at(4, 15), 3),
        ("nurture_step_executed", at(6, 15), 3),  # the call reminder
        ("nurture_paused", at(6, 15), 3),
        ("nurture_resumed", at(6, 20), 3),
        ("nurture_step_scheduled", at(6, 20), 4),
        ("nurture_step_executed", at(9, 13), 4),  # Monday 09:00 in New York, now on daylight time
        ("message_sent", at(9, 13), 4),
        ("nurture_step_scheduled", at(9, 13), 5),
        ("nurture_paused", at(13, 13), 5),  # waiting for approval
        ("nurture_resumed", at(13, 14), 5),
        ("nurture_step_executed", at(13, 14), 5),
        ("message_sent", at(13, 14), 5),
        ("nurture_step_scheduled", at(13, 14), 6),
        ("nurture_step_executed", at(20, 14), 6),
        ("nurture_completed", at(20, 14), 6),
        ("message_sent", at(20, 14), 6),
    ]
    assert trace(enrollment) == expected

    received = smtp_server.messages
    assert [m["Subject"] for m in received] == [
        "intro for Ada",
        "value for Ada",
        "case-study for Ada",
        "check-in for Ada",
        "breakup for Ada",
    ]
    sent = db.session.scalars(sa.select(OutboundMessage).order_by(OutboundMessage.step_order)).all()
    assert [m.sent_at for m in sent] == [at(2, 15), at(4, 15), at(9, 13), at(13, 14), at(20, 14)]
    assert [m["Message-ID"] for m in received] == [m.message_id for m in sent]
    assert db.session.get(Enrollment, enrollment.id).status == "completed"


@pytest.mark.parametrize("reason", list(STOPS))
def test_each_stop_through_the_worker_exits_at_the_next_step_and_sends_nothing_more(
    clock, tenant, queue, smtp_server, reason
):
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"template_id": "a"},
            {"template_id": "a", "delay_hours": 72},
            {"template_id": "a", "delay_hours": 72},
        ],
    )
    lead = factories.make_lead(tenant)
    enrollment = enroll(lead, sequence, clock.now())
    tick(queue, clock, at(2, 10))
    assert len(smtp_server.messages) == 1

    clock.set(at(3, 10))
    STOPS[reason](lead)
    db.session.commit()
    replay_until(queue, clock, at(20, 9))

    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (enrollment.status, enrollment.exit_reason, enrollment.ended_on) == ("exited", reason, at(5, 10))
    assert trace(enrollment)[-1] == ("nurture_exited", at(5, 10), 2)  # at step 2, when it fell due
    assert len(messages(enrollment)) == 1
    assert len(smtp_server.messages) == 1


def test_a_lead_in_two_sequences_never_gets_two_emails_within_48_hours_through_the_worker(
    clock, tenant, queue, smtp_server
):
    factories.make_template(tenant, "a")
    first = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    second = factories.make_sequence(
        tenant, status="active", steps=[{"template_id": "a"}, {"template_id": "a", "delay_hours": 24}]
    )
    lead = factories.make_lead(tenant)
    one = enroll(lead, first, clock.now())
    tick(queue, clock, at(2, 10))
    assert db.session.get(Enrollment, one.id).status == "completed"
    clock.set(at(2, 15))
    two = enroll(lead, second, clock.now())  # both its emails fall due within 48 h of the first one

    replay_until(queue, clock, at(20, 9))

    sent = sorted(
        db.session.scalars(
            sa.select(OutboundMessage.sent_at).where(
                OutboundMessage.lead_id == lead.id, OutboundMessage.status == "sent"
            )
        )
    )
    assert sent == [at(2, 10), at(4, 10), at(6, 10)]
    assert len(smtp_server.messages) == 3
    assert db.session.get(Enrollment, two.id).status == "completed"


def test_a_paused_sequence_holds_through_the_worker_and_goes_on_when_it_runs_again(
    clock, tenant, queue, smtp_server
):
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"template_id": "a"}, {"template_id": "a", "delay_hours": 72}]
    )
    enrollment = enroll(factories.make_lead(tenant), sequence, clock.now())
    tick(queue, clock, at(2, 10))
    sequence.status = "paused"
    db.session.commit()
    before = trace(enrollment)

    for instant in (at(5, 10), at(6, 10), at(9, 10)):  # step 2 falls due on the 5th
        tick(queue, clock, instant)
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (enrollment.status, enrollment.current_step_order) == ("active", 2)
    assert trace(enrollment) == before
    assert len(smtp_server.messages) == 1

    sequence.status = "active"
    db.session.commit()
    tick(queue, clock, at(9, 11))
    assert db.session.get(Enrollment, enrollment.id).status == "completed"
    assert len(smtp_server.messages) == 2
    assert [m.sent_at for m in messages(enrollment)] == [at(2, 10), at(9, 11)]
