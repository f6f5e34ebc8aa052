"""Bulk enrollment reads the same set-based eligibility as the builder's breakdown: whom it enrolls and the
words it skips the others with are what ``eligibility_breakdown`` and ``first_reason`` say at that instant."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from nurture_ui import bulk, eligibility
from nurture_ui import enrollment as enrolling
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, Tenant
from tests import factories
from tests.integration.test_eligibility import SMB, _generated_leads


def _run(tenant, sequence, actor, lead_ids) -> dict:
    return bulk.run_bulk_enrollment(
        tenant_id=str(tenant.id),
        sequence_id=str(sequence.id),
        actor_id=str(actor.id),
        lead_ids=[str(i) for i in lead_ids],
    )


def _live_in(sequence) -> set:
    return set(
        db.session.scalars(
            sa.select(Enrollment.lead_id).where(
                Enrollment.sequence_id == sequence.id, Enrollment.status == "active"
            )
        )
    )


def test_bulk_enrolls_and_skips_exactly_as_the_breakdown_says(tenant, clock, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 9)  # several chunks, the last one short
    sequence = factories.make_sequence(tenant, status="active", entry_rules=SMB, steps=[{"channel": "email"}])
    elsewhere = factories.make_sequence(tenant, status="paused", steps=[{"channel": "email"}])
    _generated_leads(tenant, sequence, elsewhere, clock, count=80, seed=11)
    marketer = factories.make_user(tenant, "marketer")
    now = clock.now()
    all_ids = list(db.session.scalars(sa.select(Lead.id).where(Lead.tenant_id == tenant.id)))

    breakdown = eligibility.eligibility_breakdown(sequence, now=now)
    tenant_row = db.session.get(Tenant, tenant.id)
    said = dict(
        db.session.execute(
            sa.select(Lead.id, eligibility.first_reason(sequence, tenant_row, now=now)).where(
                eligibility.entry_filter(sequence, tenant_row, now)
            )
        ).all()
    )
    outside = len(all_ids) - len(said)
    assert outside and breakdown.held_back  # the generated leads exercise both

    result = _run(tenant, sequence, marketer, all_ids)

    may_join = {lead_id for lead_id, key in said.items() if key is None}
    assert may_join and result["enrolled"] == breakdown.can_join == len(may_join)
    assert _live_in(sequence) == may_join
    expected = Counter({reason.label: n for reason, n in breakdown.held_back})
    expected[eligibility.ENTRY_RULE.label] = outside
    assert result["skipped"] == dict(expected)
    # Lead by lead, in the CSV's rows: the breakdown's words for the first check each lead fails.
    listed = {row[0]: row[3] for row in result["skipped_leads"]}
    assert listed == {
        str(i): eligibility.REASON_LABELS[said[i]] if i in said else eligibility.ENTRY_RULE.label
        for i in all_ids
        if i not in may_join
    }
    # Each enrollment carries the two activities a person's enrollment gets, naming the person.
    logged = db.session.execute(
        sa.select(Activity.type, sa.func.count())
        .where(Activity.sequence_id == sequence.id, Activity.actor_id == marketer.id)
        .group_by(Activity.type)
    ).all()
    assert dict(logged) == {"nurture_enrolled": len(may_join), "nurture_step_scheduled": len(may_join)}


def test_a_picked_lead_is_not_held_back_by_a_higher_priority_sequence(tenant, clock):
    factories.make_sequence(tenant, status="active", priority=10, steps=[{"channel": "email"}])
    chosen = factories.make_sequence(tenant, status="active", priority=20, steps=[{"channel": "email"}])
    lead = factories.make_lead(tenant)
    marketer = factories.make_user(tenant, "marketer")
    # Auto-enrollment would leave the lead to the first sequence; a person chose this one.
    held = eligibility.eligibility_breakdown(chosen, now=clock.now()).held_back
    assert [(r.key, n) for r, n in held] == [("earlier_sequence", 1)]
    result = _run(tenant, chosen, marketer, [lead.id])
    assert (result["enrolled"], result["skipped"]) == (1, {})
    assert _live_in(chosen) == {lead.id}


def test_a_lead_taken_since_the_question_is_never_enrolled_twice(tenant, clock):
    sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
    other = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
    lead = factories.make_lead(tenant)
    factories.make_enrollment(lead, other)  # as if it happened between the reason query and the insert
    assert enrolling.enroll_picked([lead.id], sequence, actor_id=None, now=clock.now()) == set()
    live = db.session.scalar(
        sa.select(sa.func.count()).where(Enrollment.lead_id == lead.id, Enrollment.status == "active")
    )
    assert live == 1
    assert not db.session.scalar(sa.select(sa.func.count()).where(Activity.sequence_id == sequence.id))


@pytest.mark.parametrize(
    ("status", "steps", "reason"),
    [
        ("paused", [{"channel": "email"}], "the sequence is not active (paused)"),
        ("active", [], "the sequence has no steps"),
    ],
)
def test_a_sequence_nobody_can_join_skips_every_lead_with_its_reason(tenant, clock, status, steps, reason):
    sequence = factories.make_sequence(tenant, status=status, steps=steps)
    leads = [factories.make_lead(tenant) for _ in range(3)]
    result = _run(tenant, sequence, factories.make_user(tenant, "marketer"), [lead.id for lead in leads])
    assert (result["enrolled"], result["skipped"]) == (0, {reason: 3})
    assert not _live_in(sequence)


def test_another_tenants_lead_is_skipped_as_not_found(tenant, other_tenant, clock):
    sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
    own = factories.make_lead(tenant)
    foreign = factories.make_lead(other_tenant)
    result = _run(tenant, sequence, factories.make_user(tenant, "marketer"), [own.id, foreign.id])
    assert result["enrolled"] == 1
    assert result["skipped_leads"] == [[str(foreign.id), "", "", bulk.NOT_FOUND]]
    assert _live_in(sequence) == {own.id}
