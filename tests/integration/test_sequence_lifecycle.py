"""Sequences: create, duplicate, the status lifecycle and the activation checks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nurture_ui import sequences
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, OutboundMessage, Task
from nurture_ui.sequences import SequenceRefused
from tests import factories


def _steps(n, **fields):
    return [{"channel": "email", "delay_hours": 24, "template_id": "intro", **fields} for _ in range(n)]


def test_new_sequence_is_a_draft_with_default_exit_rules(tenant):
    actor = factories.make_user(tenant, "marketer")
    sequence = sequences.create_sequence(tenant.id, "  Warm leads  ", actor=actor)
    assert sequence.status == "draft" and sequence.name == "Warm leads"
    assert sequence.exit_rules["positive_reply"] is True
    created = db.session.scalar(sa.select(Activity).where(Activity.type == "sequence_created"))
    assert created.actor_id == actor.id and created.sequence_id == sequence.id


def test_blank_name_is_refused(tenant):
    with pytest.raises(SequenceRefused, match="Enter a name"):
        sequences.create_sequence(tenant.id, "   ", actor=factories.make_user(tenant))


def test_activation_refuses_an_empty_sequence(tenant):
    sequence = factories.make_sequence(tenant)
    with pytest.raises(SequenceRefused) as refused:
        sequences.change_status(sequence, "active", actor=factories.make_user(tenant))
    assert refused.value.messages == ["The sequence has no steps: add at least one."]
    assert sequence.status == "draft"


def test_activation_names_the_step_limit(tenant):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, steps=_steps(7, delay_hours=1))
    assert sequences.activation_problems(sequence, tenant) == [
        "It has 7 steps; the limit is 6 steps per sequence."
    ]


def test_activation_follows_the_tenant_policy():
    tenant = factories.make_tenant(max_steps=2, max_span_days=3)
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, steps=_steps(3, delay_hours=30))
    assert sequences.activation_problems(sequence, tenant) == [
        "It has 3 steps; the limit is 2 steps per sequence.",
        "Its steps span 3.75 days; the limit is 3 days from enrollment to the last step.",
    ]


def test_activation_names_each_problem(tenant):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(
        tenant,
        steps=[
            {"channel": "email", "delay_hours": 0, "template_id": None},
            {"channel": "email", "delay_hours": 24 * 22, "template_id": "gone"},
            {"channel": "task", "delay_hours": 0, "conditions": {"field": "score", "op": "gt", "value": "x"}},
        ],
        entry_rules={"all": [{"field": "status", "op": "between", "value": 1}]},
    )
    assert sequences.activation_problems(sequence, tenant) == [
        "Its steps span 22 days; the limit is 21 days from enrollment to the last step.",
        "Step 1 (email) has no template.",
        "Step 2 uses the template 'gone', which does not exist.",
        "Entry rules: Rule 1: operator 'between' is not allowed for field 'status'.",
        "Step 3 conditions: Rule: 'score' compares with a whole number, not 'x'.",
    ]


def test_lifecycle_draft_active_paused_archived(tenant):
    actor = factories.make_user(tenant, "marketer")
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, steps=_steps(2))
    sequences.change_status(sequence, "active", actor=actor)
    assert sequence.status == "active"
    with pytest.raises(SequenceRefused, match="An active sequence cannot become archived"):
        sequences.change_status(sequence, "archived", actor=actor)
    sequences.change_status(sequence, "paused", actor=actor)
    sequences.change_status(sequence, "active", actor=actor)
    sequences.change_status(sequence, "paused", actor=actor)
    sequences.change_status(sequence, "archived", actor=actor)
    with pytest.raises(SequenceRefused):
        sequences.change_status(sequence, "active", actor=actor)
    types = db.session.scalars(
        sa.select(Activity.type)
        .where(Activity.sequence_id == sequence.id)
        .order_by(Activity.occurred_at, Activity.id)
    ).all()
    assert sorted(types) == sorted(
        ["sequence_activated", "sequence_paused", "sequence_resumed", "sequence_paused", "sequence_archived"]
    )


def test_draft_can_be_archived(tenant):
    sequence = factories.make_sequence(tenant)
    sequences.change_status(sequence, "archived", actor=factories.make_user(tenant))
    assert sequence.status == "archived"


def test_archiving_exits_live_enrollments_and_closes_their_work(tenant, clock):
    actor = factories.make_user(tenant, "admin")
    sequence = factories.make_sequence(tenant, steps=_steps(2), status="paused")
    waiting = factories.make_enrollment(
        factories.make_lead(tenant), sequence, status="paused", current_step_order=1
    )
    running = factories.make_enrollment(factories.make_lead(tenant), sequence)
    done = factories.make_enrollment(factories.make_lead(tenant), sequence, status="completed")
    draft = OutboundMessage(
        tenant_id=tenant.id,
        enrollment_id=waiting.id,
        step_order=1,
        lead_id=waiting.lead_id,
        sequence_id=sequence.id,
        to_email="a@b.test",
        subject="s",
        body="b",
        status="pending_approval",
        message_id="<m1@test>",
    )
    task = Task(
        tenant_id=tenant.id,
        lead_id=running.lead_id,
        enrollment_id=running.id,
        step_order=1,
        kind="task",
        title="Call",
        due_at=clock.now(),
    )
    db.session.add_all([draft, task])
    db.session.commit()
    sequences.change_status(sequence, "archived", actor=actor)
    db.session.expire_all()
    assert {e.status for e in (waiting, running)} == {"exited"}
    assert waiting.exit_reason == "sequence_archived" and waiting.ended_on == clock.now()
    assert db.session.get(Enrollment, done.id).status == "completed"
    assert draft.status == "cancelled" and task.status == "skipped"
    exits = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_exited")).all()
    assert {a.enrollment_id for a in exits} == {waiting.id, running.id}
    assert all(a.actor_id == actor.id and a.data["reason"] == "sequence_archived" for a in exits)


def test_duplicate_copies_rules_and_steps_as_a_draft(tenant):
    actor = factories.make_user(tenant, "marketer")
    rule = {"all": [{"field": "score", "op": "gte", "value": 40}]}
    original = factories.make_sequence(
        tenant,
        name="Warm",
        status="active",
        entry_rules=rule,
        steps=[{"channel": "email", "template_id": "intro"}, {"channel": "call_reminder", "delay_hours": 48}],
    )
    copy = sequences.duplicate_sequence(original, actor=actor)
    assert copy.name == "Copy of Warm" and copy.status == "draft" and copy.entry_rules == rule
    assert [(s.step_order, s.channel, s.delay_hours) for s in copy.steps] == [
        (1, "email", 0),
        (2, "call_reminder", 48),
    ]
    assert {s.id for s in copy.steps}.isdisjoint({s.id for s in original.steps})


def test_overview_counts_steps_span_and_live_enrollments(tenant):
    sequence = factories.make_sequence(tenant, steps=_steps(3), status="active")
    factories.make_sequence(tenant, status="draft")
    factories.make_enrollment(factories.make_lead(tenant), sequence)
    factories.make_enrollment(factories.make_lead(tenant), sequence, status="paused")
    factories.make_enrollment(factories.make_lead(tenant), sequence, status="exited")
    [row] = sequences.sequence_overview(tenant.id, status="active")
    assert (row.step_count, row.span_hours, row.active_enrollments, row.paused_enrollments) == (3, 72, 1, 1)
    assert len(sequences.sequence_overview(tenant.id)) == 2


def test_schedule_summary_reads_like_a_plan(tenant):
    sequence = factories.make_sequence(
        tenant,
        steps=[
            {"channel": "email", "delay_hours": 0, "template_id": "intro"},
            {"channel": "call_reminder", "delay_hours": 48},
            {"channel": "email", "delay_hours": 240, "template_id": "breakup"},
        ],
    )
    summary = sequences.schedule_summary(sequence.steps, {"intro": "Intro"})
    assert summary == "Day 0 email ‘Intro’ · Day 2 call reminder · Day 12 email ‘breakup’ · ends day 12"
    assert sequences.describe_delay(48, first=False) == "2 days after the previous step"
    assert sequences.describe_delay(30, first=True) == "1 day 6 hours after enrollment"
    assert sequences.describe_delay(0, first=True) == "Right at enrollment"


def test_entry_rules_saved_only_when_valid_and_counted(tenant):
    actor = factories.make_user(tenant, "marketer")
    sequence = factories.make_sequence(tenant)
    factories.make_lead(tenant, score=80)
    factories.make_lead(tenant, score=20)
    bad = {"all": [{"field": "score", "op": "gte", "value": 500}]}
    assert sequences.update_entry_rules(sequence, bad, actor=actor) == [
        "Rule 1: 'score' must be between 0 and 100, not 500."
    ]
    assert sequence.entry_rules == {}
    good = {"all": [{"field": "score", "op": "gte", "value": 50}]}
    assert sequences.update_entry_rules(sequence, good, actor=actor) == []
    assert sequences.matching_lead_count(tenant.id, sequence.entry_rules) == 1


def test_active_sequence_rules_cannot_change(tenant):
    sequence = factories.make_sequence(tenant, status="active")
    with pytest.raises(SequenceRefused, match="pause it to edit"):
        sequences.update_exit_rules(sequence, {"any_reply": True}, actor=factories.make_user(tenant))
