"""Same-thread follow-ups and the activity conditions, through a real RQ worker, Redis and a local SMTP server.

Threading is read in the bytes the SMTP server received. As in ``test_through_rq``, every tick is the real
dispatcher job (which enqueues the executor jobs, which enqueue the send jobs) run by RQ's ``SimpleWorker``
in burst mode in this process, at an instant the test chooses.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from nurture_ui.engine.transitions import approve_message
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.jobs import dispatch_due_job
from nurture_ui.lead_timeline import lead_timeline
from nurture_ui.models import Activity, Enrollment, OutboundMessage, Task
from nurture_ui.timeline import enrollment_timeline
from tests import factories
from tests.engine.conftest import enroll, messages


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)  # Monday 2 March 2026 is day 2


@pytest.fixture
def queue(app):
    queue = get_queue()
    queue.empty()
    yield queue
    queue.empty()


def tick(queue, clock, instant: datetime) -> None:
    """The dispatcher at ``instant``, and every job it leads to, run by a real RQ worker."""
    clock.set(instant)
    queue.enqueue(dispatch_due_job, instant.isoformat())
    SimpleWorker([queue], connection=get_redis()).work(burst=True, logging_level="WARNING")
    assert queue.count == 0 and queue.failed_job_registry.count == 0


def header_block(raw: bytes) -> bytes:
    """The headers as received, folds undone (CRLF + whitespace is one space), each line ending in CRLF."""
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    return re.sub(rb"\r\n[ \t]+", b" ", head)


def header(raw: bytes, name: str) -> str | None:
    found = re.search(rb"(?m)^" + name.encode() + rb": (.*)\r$", header_block(raw))
    return found.group(1).decode() if found else None


def sequence_of(tenant, *steps):
    return factories.make_sequence(tenant, status="active", steps=list(steps))


@pytest.fixture
def ada(tenant):
    for key, subject in (("intro", "A pilot for {{ lead.company }}"), ("nudge", "Still thinking?")):
        factories.make_template(tenant, key, subject=subject, body="Hello {{ lead.first_name }}")
    return factories.make_lead(tenant, first_name="Ada", company="Initech", segment="SMB")


def test_follow_ups_reply_in_the_thread_of_the_email_before_them_even_after_approval(
    clock, tenant, ada, queue, smtp_server
):
    reviewer = factories.make_user(tenant, "rep")
    sequence = sequence_of(
        tenant,
        {"template_id": "intro"},
        {"template_id": "nudge", "delay_hours": 48, "same_thread": True},
        {"template_id": "nudge", "delay_hours": 48, "same_thread": True, "requires_human_approval": True},
    )
    enrollment = enroll(ada, sequence, at(2))
    tick(queue, clock, at(2))
    tick(queue, clock, at(4))
    tick(queue, clock, at(6))
    [draft] = [m for m in messages(enrollment) if m.status == "pending_approval"]
    assert draft.subject == "Re: A pilot for Initech"  # the draft a person reads is already the reply
    clock.set(at(6, 11))
    approve_message(draft.id, reviewer_id=reviewer.id, now=clock.now())  # enqueues its send job
    tick(queue, clock, at(6, 11))

    first, second, third = smtp_server.raw
    ids = [m.message_id for m in messages(enrollment)]
    assert header(first, "Subject") == "A pilot for Initech"
    assert header(first, "In-Reply-To") is None and header(first, "References") is None
    assert header(second, "Subject") == "Re: A pilot for Initech"
    assert header(second, "In-Reply-To") == ids[0]
    assert header(second, "References") == ids[0]
    # "Re: " is not doubled, and the chain grows by the parent's Message-ID (RFC 5322 §3.6.4).
    assert header(third, "Subject") == "Re: A pilot for Initech"
    assert header(third, "In-Reply-To") == ids[1]
    assert header(third, "References") == f"{ids[0]} {ids[1]}"
    assert [header(raw, "Message-ID") for raw in smtp_server.raw] == ids
    on_lead_page = [i.detail for i in lead_timeline(ada, clock.now()).items if i.kind == "email"]
    assert sum("A reply in the thread of the earlier email" in d for d in on_lead_page) == 2


def test_a_follow_up_whose_earlier_email_was_skipped_goes_with_its_own_subject_and_says_so(
    clock, tenant, ada, queue, smtp_server
):
    enterprise_only = {"field": "segment", "op": "eq", "value": "Enterprise"}
    sequence = sequence_of(
        tenant,
        {"template_id": "intro", "conditions": enterprise_only},
        {"template_id": "nudge", "delay_hours": 48, "same_thread": True},
    )
    enrollment = enroll(ada, sequence, at(2))
    tick(queue, clock, at(2))
    tick(queue, clock, at(4))

    [raw] = smtp_server.raw
    assert header(raw, "Subject") == "Still thinking?"
    assert header(raw, "In-Reply-To") is None and header(raw, "References") is None
    timeline = enrollment_timeline(db.session.get(Enrollment, enrollment.id), clock.now())
    said = [(e.title, e.detail) for e in timeline.past]
    assert any(
        "sent with its own subject" in title and detail.startswith("The earlier email was never sent")
        for title, detail in said
    ), said
    on_lead_page = [i.detail for i in lead_timeline(ada, clock.now()).items if i.kind == "email"]
    assert on_lead_page == [
        f"Step 2 of “{enrollment.sequence.name}”. Sent with its own subject: the earlier email was never sent, "
        "so there was no thread to reply in."
    ]


def test_a_follow_up_after_a_rejected_draft_threads_under_the_last_email_that_did_go(
    clock, tenant, ada, queue, smtp_server
):
    from nurture_ui.engine.transitions import reject_message

    reviewer = factories.make_user(tenant, "rep")
    sequence = sequence_of(
        tenant,
        {"template_id": "intro"},
        {"template_id": "nudge", "delay_hours": 48, "requires_human_approval": True},
        {"template_id": "nudge", "delay_hours": 48, "same_thread": True},
    )
    enrollment = enroll(ada, sequence, at(2))
    tick(queue, clock, at(2))
    tick(queue, clock, at(4))
    [draft] = [m for m in messages(enrollment) if m.status == "pending_approval"]
    reject_message(draft.id, reviewer_id=reviewer.id, now=at(4, 11), action="skip")
    tick(queue, clock, at(6, 11))

    first, follow_up = smtp_server.raw
    assert header(follow_up, "Subject") == "Re: A pilot for Initech"
    assert header(follow_up, "In-Reply-To") == header(first, "Message-ID")


def reply_conditioned(tenant):
    return sequence_of(
        tenant,
        {"template_id": "intro"},
        {"template_id": "nudge", "delay_hours": 48, "only_if_not_replied": True},
    )


def test_a_step_that_runs_only_without_a_reply_is_skipped_when_the_lead_replied(
    clock, tenant, ada, queue, smtp_server
):
    enrollment = enroll(ada, reply_conditioned(tenant), at(2))
    tick(queue, clock, at(2))
    clock.set(at(3))
    factories.make_reply(ada, "neutral")  # a question, neither a yes nor a no: the sequence goes on
    tick(queue, clock, at(4))

    assert len(smtp_server.raw) == 1
    skipped = db.session.scalars(
        sa.select(Activity).where(
            Activity.enrollment_id == enrollment.id, Activity.type == "nurture_step_executed"
        )
    ).all()
    assert [(a.data["step"], a.data.get("outcome"), a.data.get("reason")) for a in skipped] == [
        (1, None, None),
        (2, "skipped", "previous_email_replied"),
    ]
    assert db.session.get(Enrollment, enrollment.id).status == "completed"
    timeline = enrollment_timeline(db.session.get(Enrollment, enrollment.id), clock.now())
    assert any("The lead replied to the previous email" in e.detail for e in timeline.past)


def test_a_step_that_runs_only_without_a_reply_is_sent_when_the_lead_did_not_reply(
    clock, tenant, ada, queue, smtp_server
):
    factories.make_reply(ada, "neutral", days_ago=5)  # before the sequence's email: not a reply to it
    enrollment = enroll(ada, reply_conditioned(tenant), at(2))
    tick(queue, clock, at(2))
    tick(queue, clock, at(4))
    assert [header(raw, "Subject") for raw in smtp_server.raw] == ["A pilot for Initech", "Still thinking?"]
    assert db.session.get(Enrollment, enrollment.id).status == "completed"


def open_task_for(lead, status="open") -> Task:
    """A task someone added by hand for ``lead`` (no sequence made it)."""
    task = Task(
        id=uuid.uuid4(),
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        kind="task",
        title="Send the pricing sheet",
        due_at=at(2),
        status=status,
    )
    db.session.add(task)
    db.session.commit()
    return task


def task_conditioned(tenant):
    return sequence_of(
        tenant,
        {"template_id": "intro"},
        {"template_id": "nudge", "delay_hours": 48, "only_if_no_open_task": True},
    )


def test_a_step_that_runs_only_without_an_open_task_is_skipped_while_one_is_open(
    clock, tenant, ada, queue, smtp_server
):
    open_task_for(ada)
    enrollment = enroll(ada, task_conditioned(tenant), at(2))
    tick(queue, clock, at(2))
    tick(queue, clock, at(4))
    assert len(smtp_server.raw) == 1
    last = db.session.scalars(
        sa.select(Activity).where(
            Activity.enrollment_id == enrollment.id, Activity.type == "nurture_step_executed"
        )
    ).all()[-1]
    assert (last.data["step"], last.data["outcome"], last.data["reason"]) == (2, "skipped", "open_task")


def test_a_step_that_runs_only_without_an_open_task_runs_once_the_task_is_done(
    clock, tenant, ada, queue, smtp_server
):
    task = open_task_for(ada)
    enroll(ada, task_conditioned(tenant), at(2))
    tick(queue, clock, at(2))
    task.status = "done"
    db.session.commit()
    tick(queue, clock, at(4))
    assert [header(raw, "Subject") for raw in smtp_server.raw] == ["A pilot for Initech", "Still thinking?"]
    assert db.session.scalars(sa.select(OutboundMessage.status)).all() == ["sent", "sent"]
