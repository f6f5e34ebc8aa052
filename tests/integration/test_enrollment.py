"""Who may enroll, auto-enrollment by rules, and enrolling by hand."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nurture_ui import enrollment as enrolling
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, Tenant
from tests import factories

WARM_RULES = {"all": [{"field": "segment", "op": "eq", "value": "SMB"}]}


@pytest.fixture
def sequence(tenant):
    return factories.make_sequence(
        tenant,
        status="active",
        entry_rules=WARM_RULES,
        steps=[
            {"channel": "email", "template_id": "intro", "delay_hours": 24},
            {"channel": "task", "delay_hours": 48},
        ],
    )


def _failed(lead, sequence):
    return [c.key for c in enrolling.eligibility(lead, sequence).failures]


def test_a_warm_lead_matching_the_rules_is_eligible(tenant, sequence, clock):
    lead = factories.make_lead(tenant, status="contacted", score_band="warm", segment="SMB")
    verdict = enrolling.eligibility(lead, sequence)
    assert verdict.eligible, verdict.reasons
    labels = [c.label for c in verdict.checks]
    assert "Entry rule: Segment is “SMB”" in labels


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"status": "converted"}, "status"),
        ({"status": "disqualified"}, "status"),
        ({"score_band": "cold"}, "score_band"),
        ({"segment": "Enterprise"}, "entry_rules.1"),
        ({"do_not_contact": True}, "not_dnc"),
        ({"undeliverable": True}, "deliverable"),
    ],
)
def test_each_rule_blocks_for_its_stated_reason(tenant, sequence, fields, reason):
    lead = factories.make_lead(tenant, **fields)
    assert _failed(lead, sequence) == [reason]


def test_unsubscribed_lead_is_refused(tenant, sequence, clock):
    lead = factories.make_lead(tenant, unsubscribed_at=clock.now())
    assert _failed(lead, sequence) == ["not_unsubscribed"]


def test_open_reply_inside_the_window_blocks_and_outside_does_not(tenant, sequence, clock):
    lead = factories.make_lead(tenant)
    factories.make_reply(lead, "neutral", days_ago=20)
    assert _failed(lead, sequence) == []
    factories.make_reply(lead, "neutral", days_ago=3)
    assert _failed(lead, sequence) == ["reply_window"]


def test_tenant_policy_changes_the_bands_statuses_and_window(clock):
    tenant = factories.make_tenant(warm_bands=["hot"], enrollable_statuses=["qualified"], reply_window_days=2)
    sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
    lead = factories.make_lead(tenant, status="qualified", score_band="hot")
    factories.make_reply(lead, "neutral", days_ago=3)
    assert _failed(lead, sequence) == []
    warm = factories.make_lead(tenant, status="new", score_band="warm")
    assert set(_failed(warm, sequence)) == {"status", "score_band"}


def test_live_enrollment_anywhere_blocks(tenant, sequence):
    lead = factories.make_lead(tenant)
    other = factories.make_sequence(tenant, status="active", name="Other", steps=[{"channel": "email"}])
    factories.make_enrollment(lead, other, status="paused")
    verdict = enrolling.eligibility(lead, sequence)
    assert [c.key for c in verdict.failures] == ["not_enrolled"]
    assert "Paused in “Other”" in verdict.failures[0].detail


def test_cooldown_blocks_for_thirty_days_after_leaving(tenant, sequence, clock):
    lead = factories.make_lead(tenant)
    factories.make_enrollment(
        lead, sequence, status="exited", exit_reason="manual", ended_on=clock.now() - timedelta(days=29)
    )
    assert _failed(lead, sequence) == ["cooldown"]
    clock.advance(days=1, seconds=1)
    assert _failed(lead, sequence) == []


def test_inactive_sequence_takes_nobody(tenant, sequence):
    sequence.status = "paused"
    db.session.commit()
    lead = factories.make_lead(tenant)
    assert _failed(lead, sequence) == ["sequence_active"]


def test_auto_enroll_takes_every_eligible_lead_with_bulk_activities(tenant, sequence, clock):
    good = [factories.make_lead(tenant) for _ in range(5)]
    factories.make_lead(tenant, segment="Enterprise")
    factories.make_lead(tenant, do_not_contact=True)
    factories.make_lead(tenant, score_band="cold")
    counts = enrolling.auto_enroll()
    assert counts == {sequence.id: 5}
    rows = db.session.scalars(sa.select(Enrollment)).all()
    assert {e.lead_id for e in rows} == {lead.id for lead in good}
    for e in rows:
        assert (e.status, e.current_step_order, e.enrolled_on) == ("active", 1, clock.now())
        assert e.next_step_on == clock.now() + timedelta(hours=24)
    kinds = db.session.execute(sa.select(Activity.type, sa.func.count()).group_by(Activity.type)).all()
    assert dict(kinds) == {"nurture_enrolled": 5, "nurture_step_scheduled": 5}
    scheduled = db.session.scalars(
        sa.select(Activity).where(Activity.type == "nurture_step_scheduled")
    ).first()
    assert scheduled.data["step"] == 1 and scheduled.enrollment_id in {e.id for e in rows}
    # Running again changes nothing: they are all in a live enrollment now.
    assert enrolling.auto_enroll() == {sequence.id: 0}


def test_each_auto_enrollment_gets_one_enrolled_then_one_scheduled_activity(tenant, sequence, clock):
    other = factories.make_sequence(
        tenant,
        status="active",
        priority=200,
        entry_rules={"all": [{"field": "segment", "op": "eq", "value": "Enterprise"}]},
        steps=[{"channel": "task", "delay_hours": 6}],
    )
    for segment in ("SMB", "SMB", "SMB", "Enterprise", "Enterprise"):
        factories.make_lead(tenant, segment=segment)
    assert enrolling.auto_enroll() == {sequence.id: 3, other.id: 2}
    first_steps = {sequence.id: ("email", 24), other.id: ("task", 6)}
    for enrollment in db.session.scalars(sa.select(Enrollment)):
        logged = db.session.scalars(
            sa.select(Activity).where(Activity.enrollment_id == enrollment.id).order_by(Activity.seq)
        ).all()
        channel, delay = first_steps[enrollment.sequence_id]
        due = clock.now() + timedelta(hours=delay)
        assert [(a.type, a.data) for a in logged] == [
            ("nurture_enrolled", {"source": "auto"}),
            ("nurture_step_scheduled", {"step": 1, "channel": channel, "due": due.isoformat()}),
        ]
        for a in logged:
            assert (a.tenant_id, a.lead_id, a.sequence_id) == (
                tenant.id,
                enrollment.lead_id,
                enrollment.sequence_id,
            )
            assert (a.actor_id, a.occurred_at) == (None, clock.now())
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 10


def test_a_lead_matching_two_sequences_lands_in_the_higher_priority_one(tenant, clock):
    low = factories.make_sequence(tenant, status="active", priority=50, steps=[{"channel": "email"}])
    high = factories.make_sequence(tenant, status="active", priority=5, steps=[{"channel": "email"}])
    lead = factories.make_lead(tenant)
    assert enrolling.auto_enroll() == {high.id: 1, low.id: 0}
    assert (
        db.session.scalar(sa.select(Enrollment.sequence_id).where(Enrollment.lead_id == lead.id)) == high.id
    )


def test_daily_cap_limits_enrollments_per_day(tenant, sequence, clock):
    sequence.daily_enrollment_cap = 3
    db.session.commit()
    leads = [factories.make_lead(tenant, score=score) for score in (41, 70, 55, 62, 48)]
    assert enrolling.auto_enroll() == {sequence.id: 3}
    taken = set(db.session.scalars(sa.select(Enrollment.lead_id)))
    assert taken == {lead.id for lead in leads if lead.score >= 55}, "the best scores first"
    assert enrolling.auto_enroll() == {sequence.id: 0}
    clock.advance(days=1)
    assert enrolling.auto_enroll() == {sequence.id: 2}


def test_two_auto_enroll_runs_at_once_enroll_nobody_twice(app, tenant, clock):
    first = factories.make_sequence(tenant, status="active", priority=1, steps=[{"channel": "email"}])
    second = factories.make_sequence(tenant, status="active", priority=2, steps=[{"channel": "email"}])
    leads = [factories.make_lead(tenant) for _ in range(40)]
    now = clock.now()
    errors = []

    def run():
        try:
            with app.app_context():
                enrolling.auto_enroll(now=now)
                db.session.remove()
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    per_lead = dict(
        db.session.execute(sa.select(Enrollment.lead_id, sa.func.count()).group_by(Enrollment.lead_id)).all()
    )
    assert per_lead == {lead.id: 1 for lead in leads}
    assert set(db.session.scalars(sa.select(Enrollment.sequence_id))) == {first.id}
    assert second.id is not None
    assert db.session.scalar(sa.select(sa.func.count()).where(Activity.type == "nurture_enrolled")) == 40


def test_manual_enroll_refuses_with_reasons_and_overrides_only_what_may_be(tenant, sequence, login_as):
    user = factories.make_user(tenant, "rep")
    outside_rules = factories.make_lead(tenant, segment="Enterprise")
    with pytest.raises(enrolling.EnrollmentRefused) as refused:
        enrolling.enroll(outside_rules, sequence, actor_id=user.id)
    assert refused.value.verdict.reasons == ["Does not meet the entry rule “Segment is “SMB””"]
    enrollment = enrolling.enroll(outside_rules, sequence, actor_id=user.id, override=True)
    trace = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_enrolled")).one()
    assert trace.actor_id == user.id and trace.data["overridden"] == [
        "Does not meet the entry rule “Segment is “SMB””"
    ]
    assert enrollment.enrolled_by == user.id

    dnc = factories.make_lead(tenant, do_not_contact=True, segment="Enterprise")
    with pytest.raises(enrolling.EnrollmentRefused):
        enrolling.enroll(dnc, sequence, actor_id=user.id, override=True)
    with pytest.raises(enrolling.EnrollmentRefused):
        enrolling.enroll(outside_rules, sequence, actor_id=user.id, override=True)  # already enrolled


# ---------------------------------------------------------------------------------------------------
# The SQL filter and the Python verdict agree on generated leads.

lead_strategy = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["new", "contacted", "qualified", "converted", "disqualified"]),
        "score_band": st.sampled_from(["cold", "warm", "hot"]),
        "segment": st.sampled_from(["SMB", "Enterprise", ""]),
        "do_not_contact": st.booleans(),
        "undeliverable": st.booleans(),
        "unsubscribed": st.booleans(),
        "reply_days_ago": st.one_of(st.none(), st.integers(0, 30)),
        "reply_open": st.booleans(),
        "history": st.sampled_from([None, "live_here", "live_elsewhere", "ended_recently", "ended_long_ago"]),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs=st.lists(lead_strategy, min_size=1, max_size=8))
def test_sql_eligibility_equals_python_eligibility(specs):
    from datetime import UTC, datetime

    from nurture_ui import clock as core_clock

    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    core_clock.set_now(now)
    try:
        tenant = factories.make_tenant()
        sequence = factories.make_sequence(
            tenant, status="active", entry_rules=WARM_RULES, steps=[{"channel": "email"}]
        )
        elsewhere = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
        leads = []
        for spec in specs:
            lead = factories.make_lead(
                tenant,
                status=spec["status"],
                score_band=spec["score_band"],
                segment=spec["segment"],
                do_not_contact=spec["do_not_contact"],
                undeliverable=spec["undeliverable"],
                unsubscribed_at=now - timedelta(days=1) if spec["unsubscribed"] else None,
            )
            if spec["reply_days_ago"] is not None:
                factories.make_reply(lead, days_ago=spec["reply_days_ago"], thread_open=spec["reply_open"])
            history = spec["history"]
            if history == "live_here":
                factories.make_enrollment(lead, sequence)
            elif history == "live_elsewhere":
                factories.make_enrollment(lead, elsewhere, status="paused")
            elif history in ("ended_recently", "ended_long_ago"):
                days = 5 if history == "ended_recently" else 45
                factories.make_enrollment(
                    lead, sequence, status="completed", ended_on=now - timedelta(days=days)
                )
            leads.append(lead)
        tenant_row = db.session.get(Tenant, tenant.id)
        in_sql = set(
            db.session.scalars(
                sa.select(Lead.id).where(enrolling.eligible_leads(sequence, tenant_row, now=now))
            )
        )
        in_python = {lead.id for lead in leads if enrolling.eligibility(lead, sequence, now=now).eligible}
        assert in_sql == in_python
    finally:
        core_clock.set_now(None)
