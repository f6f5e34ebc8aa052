"""Exiting enrollments: the shared stop used by the engine, people and inbound signals."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui import lifecycle
from nurture_ui.extensions import db
from nurture_ui.models import Activity, OutboundMessage, Task
from tests import factories


def _message(enrollment, step_order, status):
    message = OutboundMessage(
        tenant_id=enrollment.tenant_id,
        enrollment_id=enrollment.id,
        step_order=step_order,
        lead_id=enrollment.lead_id,
        sequence_id=enrollment.sequence_id,
        to_email="x@example.test",
        subject="s",
        body="b",
        status=status,
        message_id=f"<{enrollment.id}.{step_order}@test>",
    )
    db.session.add(message)
    return message


def test_exit_cancels_unsent_mail_closes_tasks_and_logs(tenant, clock):
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}] * 4)
    enrollment = factories.make_enrollment(lead, sequence, current_step_order=4)
    sent = _message(enrollment, 1, "sent")
    in_flight = _message(enrollment, 2, "sending")
    draft = _message(enrollment, 3, "pending_approval")
    queued = _message(enrollment, 4, "queued")
    task = Task(
        tenant_id=tenant.id,
        lead_id=lead.id,
        enrollment_id=enrollment.id,
        step_order=2,
        kind="call_reminder",
        title="Call",
        due_at=clock.now(),
    )
    db.session.add(task)
    db.session.commit()

    assert lifecycle.exit_enrollment(enrollment, "converted") is True
    db.session.commit()
    db.session.expire_all()

    assert (enrollment.status, enrollment.exit_reason, enrollment.ended_on) == (
        "exited",
        "converted",
        clock.now(),
    )
    assert enrollment.next_step_on is None
    statuses = {m.step_order: m.status for m in db.session.scalars(sa.select(OutboundMessage))}
    assert statuses == {1: "sent", 2: "sending", 3: "cancelled", 4: "cancelled"}
    assert (sent.status, in_flight.status, draft.status, queued.status) == (
        "sent",
        "sending",
        "cancelled",
        "cancelled",
    )
    assert db.session.get(Task, task.id).status == "skipped"
    trace = db.session.scalars(sa.select(Activity).where(Activity.enrollment_id == enrollment.id)).one()
    assert trace.type == "nurture_exited" and trace.data == {"reason": "converted", "step": 4}


def test_exit_is_a_no_op_on_an_ended_enrollment(tenant):
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant)
    enrollment = factories.make_enrollment(lead, sequence, status="completed")
    assert lifecycle.exit_enrollment(enrollment, "unsubscribed") is False
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_exit_live_enrollments_touches_only_that_leads_live_ones(tenant):
    lead, other = factories.make_lead(tenant), factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, status="active")
    done = factories.make_enrollment(lead, sequence, status="completed")
    live = factories.make_enrollment(lead, sequence, status="paused")
    bystander = factories.make_enrollment(other, sequence)
    exited = lifecycle.exit_live_enrollments(lead.id, "unsubscribed")
    db.session.commit()
    assert [e.id for e in exited] == [live.id]
    assert (done.status, live.status, bystander.status) == ("completed", "exited", "active")
