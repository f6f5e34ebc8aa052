"""Each stop exits at the next step with its reason, sends nothing more, and closes what was open."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, OutboundMessage, Task
from tests import factories
from tests.engine.conftest import STOPS, enroll, messages, trace


@pytest.fixture
def sequence(tenant):
    factories.make_template(tenant, "a")
    return factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"template_id": "a", "delay_hours": 0},
            {"template_id": "a", "delay_hours": 72},
            {"template_id": "a", "delay_hours": 72},
        ],
    )


def _after_first_email(clock, tenant, sequence, **lead_fields):
    lead = factories.make_lead(tenant, **lead_fields)
    enrollment = enroll(lead, sequence, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"executed": 1}
    clock.advance(hours=24)
    return lead, enrollment


@pytest.mark.parametrize("reason", list(STOPS))
def test_stop_mid_sequence_exits_at_the_next_step_and_sends_nothing_more(clock, tenant, sequence, reason):
    lead, enrollment = _after_first_email(clock, tenant, sequence)
    STOPS[reason](lead)
    db.session.commit()
    clock.advance(hours=48)
    assert run_due(clock.now(), send=False).outcomes == {"exited": 1}
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (enrollment.status, enrollment.exit_reason, enrollment.ended_on) == ("exited", reason, clock.now())
    assert trace(enrollment)[-1] == ("nurture_exited", clock.now(), 2)
    assert len(messages(enrollment)) == 1
    clock.advance(days=10)
    assert run_due(clock.now(), send=False).outcomes == {}


def test_neutral_reply_does_not_stop_unless_the_sequence_exits_on_any_reply(clock, tenant, sequence):
    lead, enrollment = _after_first_email(clock, tenant, sequence)
    factories.make_reply(lead, "neutral")
    clock.advance(hours=48)
    assert run_due(clock.now(), send=False).outcomes == {"executed": 1}

    strict = factories.make_sequence(
        tenant,
        status="active",
        exit_rules={"any_reply": True},
        steps=[{"template_id": "a", "delay_hours": 0}],
    )
    other = factories.make_lead(tenant)
    factories.make_reply(other, "neutral")
    enrollment = enroll(other, strict, clock.now() - timedelta(hours=1))
    factories.make_reply(other, "neutral")
    run_due(clock.now(), send=False)
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "replied"


def test_conversion_does_not_stop_a_sequence_whose_rules_turn_it_off(clock, tenant):
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(
        tenant, status="active", exit_rules={"conversion": False}, steps=[{"template_id": "a"}]
    )
    enroll(factories.make_lead(tenant, status="converted"), sequence, clock.now())
    assert run_due(clock.now(), send=False).outcomes == {"completed": 1}


def test_inactivity_exits_after_the_configured_days_without_engagement(clock, tenant):
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        exit_rules={"inactivity_days": 5},
        steps=[{"template_id": "a"}, {"template_id": "a", "delay_hours": 24 * 7}],
    )
    enrollment = enroll(factories.make_lead(tenant), sequence, clock.now())
    run_due(clock.now(), send=False)
    clock.advance(days=7)
    run_due(clock.now(), send=False)
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "inactive"


def test_archived_sequence_exits_its_enrollments(clock, tenant, sequence):
    lead, enrollment = _after_first_email(clock, tenant, sequence)
    sequence.status = "archived"
    db.session.commit()
    clock.advance(hours=48)
    run_due(clock.now(), send=False)
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "sequence_archived"


def test_exit_cancels_the_pending_draft_and_skips_the_open_task(clock, tenant):
    factories.make_template(tenant, "a")
    draft_sequence = factories.make_sequence(
        tenant, status="active", steps=[{"template_id": "a", "requires_human_approval": True}]
    )
    lead = factories.make_lead(tenant)
    enrollment = enroll(lead, draft_sequence, clock.now())
    run_due(clock.now(), send=False)
    assert db.session.get(Enrollment, enrollment.id).status == "paused"

    from nurture_ui.engine.transitions import unsubscribe_lead

    assert unsubscribe_lead(lead.id, now=clock.now()) == 1
    [draft] = messages(enrollment)
    assert draft.status == "cancelled"

    task_sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "task"}])
    other = factories.make_lead(tenant)
    enrollment = enroll(other, task_sequence, clock.now())
    run_due(clock.now(), send=False)
    unsubscribe_lead(other.id, now=clock.now())
    assert db.session.scalars(sa.select(Task.status)).all() == ["skipped"]
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "unsubscribed"


def test_unsubscribe_cancels_queued_messages_of_a_finished_enrollment(clock, tenant):
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    lead = factories.make_lead(tenant)
    enroll(lead, sequence, clock.now())
    run_due(clock.now(), send=False)
    from nurture_ui.engine.transitions import unsubscribe_lead

    assert unsubscribe_lead(lead.id, now=clock.now()) == 0
    assert db.session.scalars(sa.select(OutboundMessage.status)).all() == ["cancelled"]
