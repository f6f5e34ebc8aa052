"""A/B steps through the real engine: one variant per enrollment, drawn once, sent, and the auto-winner."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.engine.transitions import approve_message
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, OutboundMessage, SequenceStep
from nurture_ui.variant_results import check_winners, step_test
from nurture_ui.variants import draw_variant
from tests import factories
from tests.engine.conftest import enroll


def _ab_sequence(tenant, weights=(50, 50), **step):
    factories.make_template(tenant, "intro", subject="Hello {{ lead.first_name }}")
    factories.make_template(tenant, "intro-b", subject="Unused", body="Short note for {{ lead.company }}.")
    return factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {
                "channel": "email",
                "template_id": "intro",
                "variants": [
                    {"template_id": "intro", "subject": "", "weight": weights[0]},
                    {
                        "template_id": "intro-b",
                        "subject": "Quick question, {{ lead.first_name }}",
                        "weight": weights[1],
                    },
                ],
                **step,
            }
        ],
    )


def _message(enrollment) -> OutboundMessage:
    return db.session.scalars(
        sa.select(OutboundMessage).where(OutboundMessage.enrollment_id == enrollment.id)
    ).one()


def _step_run(enrollment) -> Activity:
    return db.session.scalars(
        sa.select(Activity).where(
            Activity.enrollment_id == enrollment.id, Activity.type == "nurture_step_executed"
        )
    ).one()


def test_each_enrollment_gets_its_drawn_variant_with_that_variants_template_and_subject(clock, tenant):
    sequence = _ab_sequence(tenant)
    step = sequence.steps[0]
    enrollments = [
        enroll(factories.make_lead(tenant, first_name="Ada"), sequence, clock.now()) for _ in range(12)
    ]
    run_due(clock.now(), send=False)
    seen = set()
    for enrollment in enrollments:
        message = _message(enrollment)
        expected = "AB"[draw_variant(enrollment.id, step.id, [50, 50])]
        assert message.variant == expected and _step_run(enrollment).data["variant"] == expected
        if expected == "A":
            assert message.subject == "Hello Ada" and "a note for Example Co" in message.body
        else:
            assert message.subject == "Quick question, Ada" and message.body == "Short note for Example Co."
        seen.add(expected)
    assert seen == {"A", "B"}


def test_a_step_run_again_after_a_rollback_keeps_the_same_variant(clock, tenant):
    sequence = _ab_sequence(tenant)
    enrollments = [enroll(factories.make_lead(tenant), sequence, clock.now()) for _ in range(10)]
    run_due(clock.now(), send=False)
    first = {e.id: _message(e).variant for e in enrollments}
    # As if the batch had been rolled back: no message, no step run, the enrollment due again at step 1.
    db.session.execute(sa.delete(OutboundMessage))
    db.session.execute(sa.delete(Activity).where(Activity.type == "nurture_step_executed"))
    db.session.execute(
        sa.update(Enrollment).values(
            status="active", current_step_order=1, next_step_on=clock.now(), ended_on=None
        )
    )
    db.session.commit()
    clock.advance(hours=3)
    run_due(clock.now(), send=False)
    assert {e.id: _message(e).variant for e in enrollments} == first
    run_due(clock.now(), send=False)  # nothing is due: no second message, no new draw
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 10


def test_a_draft_for_approval_carries_its_variant_to_the_approved_send(clock, tenant):
    sequence = _ab_sequence(tenant, requires_human_approval=True)
    enrollment = enroll(factories.make_lead(tenant), sequence, clock.now())
    run_due(clock.now(), send=False)
    draft = _message(enrollment)
    assert draft.status == "pending_approval" and draft.variant in ("A", "B")
    approve_message(draft.id, reviewer_id=None, now=clock.now(), enqueue_send=False)
    assert _step_run(enrollment).data["variant"] == draft.variant


def test_several_hundred_enrollments_through_the_engine_split_in_the_weights_proportions(clock, tenant):
    sequence = _ab_sequence(tenant, weights=(70, 30))
    n = 600
    for _ in range(n):
        enroll(factories.make_lead(tenant), sequence, clock.now())
    run_due(clock.now(), send=False)
    counts = dict(
        db.session.execute(
            sa.select(OutboundMessage.variant, sa.func.count()).group_by(OutboundMessage.variant)
        ).all()
    )
    assert counts["A"] + counts["B"] == n
    # Within five standard errors of 30% (±9.4 points): a failure means a biased draw, not bad luck.
    assert abs(counts["B"] / n - 0.30) < 5 * (0.3 * 0.7 / n) ** 0.5


def test_the_auto_winner_is_declared_on_its_evidence_and_then_only_the_winner_is_sent(
    clock, tenant, smtp_server
):
    sequence = _ab_sequence(tenant, auto_winner_min_sends=30)
    step = sequence.steps[0]
    first = [enroll(factories.make_lead(tenant), sequence, clock.now()) for _ in range(100)]
    report = run_due(clock.now())
    assert report.sent == 100
    by_variant = {"A": [], "B": []}
    for enrollment in first:
        by_variant[_message(enrollment).variant].append(enrollment)
    assert min(len(v) for v in by_variant.values()) >= 30
    # Replies come in over the day: 40% of B's leads, 5% of A's.
    clock.advance(hours=5)
    for letter, share in (("A", 0.05), ("B", 0.40)):
        group = by_variant[letter]
        for enrollment in group[: round(share * len(group))]:
            factories.make_reply(db.session.get(Enrollment, enrollment.id).lead, "neutral")
    verdict = step_test(db.session.get(SequenceStep, step.id)).comparison
    assert verdict.best == "B" and verdict.significant

    # The next batch that draws for the step is followed by the check: B wins, on the figures so far.
    enroll(factories.make_lead(tenant), sequence, clock.now())
    run_due(clock.now())
    step = db.session.get(SequenceStep, step.id)
    db.session.refresh(step)
    assert step.winner_variant == "B" and step.winner_declared_at == clock.now()
    clock.advance(hours=1)
    later = [enroll(factories.make_lead(tenant), sequence, clock.now()) for _ in range(40)]
    run_due(clock.now())
    assert step.winner_evidence["p_value"] < 0.05 and step.winner_evidence["min_sends"] == 30
    declared = db.session.scalars(sa.select(Activity).where(Activity.type == "ab_winner_declared")).one()
    assert declared.data["variant"] == "B" and declared.data["because"].startswith("B's reply rate is higher")
    assert {_message(e).variant for e in later} == {"B"}
    subjects = [m["Subject"] for m in smtp_server.messages[101:]]
    assert len(subjects) == 40 and all(s.startswith("Quick question") for s in subjects)


def test_no_winner_before_every_variant_has_its_minimum_and_the_check_runs_at_most_once_a_minute(
    clock, tenant
):
    sequence = _ab_sequence(tenant, auto_winner_min_sends=1000)
    step = sequence.steps[0]
    enroll(factories.make_lead(tenant), sequence, clock.now())
    run_due(clock.now(), send=False)  # the batch drew for the step, then checked it
    db.session.expire_all()
    assert db.session.get(SequenceStep, step.id).winner_checked_at == clock.now()
    checked_at = clock.now()
    clock.advance(seconds=30)
    check_winners([step.id], clock.now())
    db.session.expire_all()
    assert db.session.get(SequenceStep, step.id).winner_checked_at == checked_at
    clock.advance(seconds=31)
    check_winners([step.id], clock.now())
    db.session.expire_all()
    assert db.session.get(SequenceStep, step.id).winner_checked_at == clock.now()
    assert db.session.get(SequenceStep, step.id).winner_variant is None
