"""One eligibility answer: the breakdown the builder and the activation preview show is what auto-enrollment
does, and the cross-sequence cooldown keeps a lead who just left a sequence out of the others."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nurture_ui import eligibility
from nurture_ui import enrollment as enrolling
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, Tenant
from tests import factories

SMB = {"all": [{"field": "segment", "op": "eq", "value": "SMB"}]}


def _generated_leads(tenant, sequence, elsewhere, clock, *, count=80, seed=7):
    """Leads with every kind of history the checks look at, mixed at random (seeded)."""
    pick = random.Random(seed)
    now = clock.now()
    for _ in range(count):
        lead = factories.make_lead(
            tenant,
            status=pick.choice(["new", "contacted", "qualified", "converted"]),
            score=pick.randint(0, 100),
            score_band=pick.choice(["warm", "warm", "cold"]),
            segment=pick.choice(["SMB", "SMB", "SMB", "Enterprise"]),
            do_not_contact=pick.random() < 0.05,
            undeliverable=pick.random() < 0.05,
            unsubscribed_at=now - timedelta(days=1) if pick.random() < 0.05 else None,
        )
        if pick.random() < 0.1:
            factories.make_reply(lead, days_ago=pick.choice([2, 30]))
        history = pick.choice(
            ["none", "none", "none", "live", "left_here", "left_elsewhere", "left_long_ago"]
        )
        # Enrolled days ago: today's enrollments would count against the daily cap.
        before = now - timedelta(days=90)
        if history == "live":
            factories.make_enrollment(lead, elsewhere, enrolled_on=before)
        elif history == "left_here":
            ended = now - timedelta(days=10)
            factories.make_enrollment(lead, sequence, status="completed", enrolled_on=before, ended_on=ended)
        elif history == "left_elsewhere":
            ended = now - timedelta(days=2)
            factories.make_enrollment(lead, elsewhere, status="exited", enrolled_on=before, ended_on=ended)
        elif history == "left_long_ago":
            ended = now - timedelta(days=60)
            factories.make_enrollment(lead, elsewhere, status="completed", enrolled_on=before, ended_on=ended)


def _enrolled_in(sequence) -> set:
    return set(
        db.session.scalars(
            sa.select(Enrollment.lead_id).where(
                Enrollment.sequence_id == sequence.id, Enrollment.status == "active"
            )
        )
    )


@pytest.mark.parametrize("cap", [None, 5])
def test_can_join_now_is_exactly_what_auto_enroll_then_enrolls(tenant, clock, cap):
    sequence = factories.make_sequence(
        tenant, status="active", entry_rules=SMB, daily_enrollment_cap=cap, steps=[{"channel": "email"}]
    )
    elsewhere = factories.make_sequence(tenant, status="paused", steps=[{"channel": "email"}])
    _generated_leads(tenant, sequence, elsewhere, clock)
    now = clock.now()

    breakdown = eligibility.eligibility_breakdown(sequence, now=now)
    tenant_row = db.session.get(Tenant, tenant.id)
    joining = set(
        db.session.scalars(
            eligibility.joining_leads(sequence, tenant_row, now=now).with_only_columns(Lead.id)
        )
    )
    # Every lead the entry rule matches is counted once: joining, or under its first reason.
    assert breakdown.matching == db.session.scalar(
        sa.select(sa.func.count()).where(Lead.tenant_id == tenant.id, Lead.segment == "SMB")
    )
    assert breakdown.can_join + sum(n for _, n in breakdown.held_back) == breakdown.matching
    keys = [reason.key for reason, _ in breakdown.held_back]
    assert {"in_sequence", "cooldown", "cross_cooldown", "score_band"} <= set(keys)
    if cap:
        assert keys[-1] == "daily_cap" and breakdown.can_join == cap

    results = enrolling.auto_enroll(now=now, tenant_id=tenant.id)
    assert results[sequence.id] == breakdown.can_join == len(joining)
    assert _enrolled_in(sequence) == joining


def test_a_higher_priority_sequence_takes_its_leads_first_and_the_breakdown_says_so(tenant, clock):
    first = factories.make_sequence(tenant, status="active", priority=10, steps=[{"channel": "email"}])
    second = factories.make_sequence(
        tenant, status="active", priority=20, entry_rules=SMB, steps=[{"channel": "email"}]
    )
    factories.make_lead(tenant, segment="SMB")
    factories.make_lead(tenant, segment="SMB", score_band="cold")

    breakdown = eligibility.eligibility_breakdown(second, now=clock.now())
    assert breakdown.can_join == 0
    assert [(r.key, n) for r, n in breakdown.held_back] == [("score_band", 1), ("earlier_sequence", 1)]
    results = enrolling.auto_enroll(now=clock.now(), tenant_id=tenant.id)
    assert results == {first.id: 1, second.id: 0}


def test_each_reason_lists_exactly_its_leads(tenant, clock):
    sequence = factories.make_sequence(tenant, status="active", entry_rules=SMB, steps=[{"channel": "email"}])
    elsewhere = factories.make_sequence(tenant, status="paused", steps=[{"channel": "email"}])
    _generated_leads(tenant, sequence, elsewhere, clock, count=50, seed=3)
    now = clock.now()
    breakdown = eligibility.eligibility_breakdown(sequence, now=now)
    for reason, count in breakdown.held_back:
        listed = db.session.scalar(
            sa.select(sa.func.count()).where(eligibility.leads_filter(sequence, reason.key, now=now))
        )
        assert listed == count, reason.key
    joining = db.session.scalar(
        sa.select(sa.func.count()).where(eligibility.leads_filter(sequence, "join", now=now))
    )
    assert joining == breakdown.can_join


def test_a_draft_is_counted_as_if_it_were_active(tenant, clock):
    draft = factories.make_sequence(tenant, status="draft", steps=[{"channel": "email"}])
    factories.make_lead(tenant)
    breakdown = eligibility.eligibility_breakdown(draft, now=clock.now())
    assert (breakdown.matching, breakdown.can_join, breakdown.has_entry_rule) == (1, 1, False)


def test_the_edited_rule_is_counted_before_it_is_saved(tenant, clock):
    sequence = factories.make_sequence(tenant, status="draft", entry_rules=SMB, steps=[{"channel": "email"}])
    factories.make_lead(tenant, segment="SMB")
    factories.make_lead(tenant, segment="Enterprise")
    rule = {"all": [{"field": "segment", "op": "eq", "value": "Enterprise"}]}
    assert eligibility.eligibility_breakdown(sequence, now=clock.now(), entry_rule=rule).matching == 1
    assert eligibility.eligibility_breakdown(sequence, now=clock.now(), entry_rule={}).matching == 2


# --- cross-sequence cooldown ---------------------------------------------------------------------------


@pytest.fixture
def two_sequences(tenant):
    finished = factories.make_sequence(tenant, name="Welcome", status="active", steps=[{"channel": "email"}])
    other = factories.make_sequence(tenant, name="Re-engage", status="active", steps=[{"channel": "email"}])
    return finished, other


def test_a_lead_who_just_left_a_sequence_is_kept_out_of_the_others_for_seven_days(
    tenant, two_sequences, clock
):
    finished, other = two_sequences
    lead = factories.make_lead(tenant)
    factories.make_enrollment(lead, finished, status="exited", exit_reason="rejected", ended_on=clock.now())

    clock.advance(days=2)
    assert enrolling.auto_enroll(now=clock.now(), tenant_id=tenant.id)[other.id] == 0
    breakdown = eligibility.eligibility_breakdown(other, now=clock.now())
    assert [(r.key, n) for r, n in breakdown.held_back] == [("cross_cooldown", 1)]

    clock.advance(days=5, minutes=1)
    assert enrolling.auto_enroll(now=clock.now(), tenant_id=tenant.id)[other.id] == 1


def test_the_tenant_can_turn_the_cross_sequence_cooldown_off_or_lengthen_it(clock):
    for policy, enrolled in (
        ({"cross_sequence_cooldown": False}, 1),
        ({"cross_sequence_cooldown_days": 1}, 1),
    ):
        tenant = factories.make_tenant(**policy)
        finished = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
        other = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
        lead = factories.make_lead(tenant)
        factories.make_enrollment(
            lead, finished, status="completed", ended_on=clock.now() - timedelta(days=2)
        )
        assert enrolling.auto_enroll(now=clock.now(), tenant_id=tenant.id)[other.id] == enrolled


def test_manual_enrollment_names_the_cross_sequence_cooldown_and_may_override_it(
    tenant, two_sequences, clock
):
    finished, other = two_sequences
    user = factories.make_user(tenant)
    lead = factories.make_lead(tenant)
    factories.make_enrollment(lead, finished, status="completed", ended_on=clock.now() - timedelta(days=2))

    verdict = enrolling.eligibility(lead, other, now=clock.now())
    assert [c.key for c in verdict.failures] == ["cross_cooldown"]
    assert verdict.can_override
    assert verdict.reasons == [
        "Left ‘Welcome’ 2 days ago: the cross-sequence cooldown keeps leads out for 7 days (until Mar 7)."
    ]
    with pytest.raises(enrolling.EnrollmentRefused, match="Left ‘Welcome’ 2 days ago"):
        enrolling.enroll(lead, other, actor_id=user.id)

    enrolled = enrolling.enroll(lead, other, actor_id=user.id, override=True)
    logged = db.session.scalar(
        sa.select(Activity).where(Activity.enrollment_id == enrolled.id, Activity.type == "nurture_enrolled")
    )
    assert logged.actor_id == user.id
    assert logged.data["overridden"] == verdict.reasons


def test_the_settings_form_keeps_the_cross_sequence_cooldown_in_bounds(login_as, tenant):
    from tests.integration.test_tasks_and_settings_web import policy_form

    admin = login_as("admin")
    response = admin.post("/settings/", policy_form(cross_sequence_cooldown_days="0"))
    assert response.status_code == 422
    assert "Enter a whole number from 1 to 365." in response.get_data(as_text=True)
    response = admin.post(
        "/settings/", policy_form(cross_sequence_cooldown="", cross_sequence_cooldown_days="3")
    )
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(Tenant, tenant.id)
    assert row.policy_value("cross_sequence_cooldown") is False
    assert row.policy_value("cross_sequence_cooldown_days") == 3
