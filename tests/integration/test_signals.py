"""Inbound signals acting on sequences: replies, corrections, out-of-office pauses, conversions, bounces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from nurture_ui import signals
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, LeadReply
from tests import factories


def _live(tenant, lead=None, **sequence_fields):
    lead = lead or factories.make_lead(tenant)
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"channel": "email", "delay_hours": 48}] * 3, **sequence_fields
    )
    return lead, factories.make_enrollment(lead, sequence, next_step_on=datetime(2026, 3, 4, 9, tzinfo=UTC))


def _types(lead):
    return [
        a.type
        for a in db.session.scalars(
            sa.select(Activity)
            .where(Activity.lead_id == lead.id)
            .order_by(Activity.occurred_at, Activity.type)
        )
    ]


def test_positive_reply_exits_and_marks_the_lead_engaged(tenant, clock):
    lead, enrollment = _live(tenant)
    outcome = signals.record_reply(lead, "Sounds great, can we book a call on Thursday?")
    db.session.commit()
    assert outcome.reply.sentiment == "positive" and outcome.reply.classified_by == "auto"
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "positive_reply")
    assert lead.last_engaged_at == clock.now()
    assert {"reply_received", "nurture_exited"} <= set(_types(lead))


def test_positive_reply_rule_off_keeps_the_sequence_running(tenant, clock):
    rules = {"positive_reply": False, "any_reply": False}
    lead, enrollment = _live(tenant, exit_rules=rules)
    signals.record_reply(lead, "Yes, interested!")
    db.session.commit()
    assert enrollment.status == "active"


def test_any_reply_rule_exits_on_a_neutral_reply_but_not_on_an_auto_reply(tenant, clock):
    lead, enrollment = _live(tenant, exit_rules={"any_reply": True})
    signals.record_reply(lead, "Out of office, back on Monday 9 March.")
    db.session.commit()
    assert enrollment.status == "paused"
    signals.record_reply(lead, "Who is this?")
    db.session.commit()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "replied")


def test_unsubscribe_request_unsubscribes_and_exits_whatever_the_rules(tenant, clock):
    lead, enrollment = _live(tenant, exit_rules={"unsubscribe": False})
    signals.record_reply(lead, "Please remove me from your mailing list.")
    db.session.commit()
    assert lead.unsubscribed_at == clock.now()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "unsubscribed")


def test_out_of_office_pauses_until_the_return_date_then_resumes(tenant, clock):
    # Monday 2 March 2026, 10:00 UTC; the lead is in Berlin.
    lead, enrollment = _live(tenant, lead=factories.make_lead(tenant, timezone="Europe/Berlin"))
    signals.record_reply(lead, "I am out of the office, back on Thursday 5 March.")
    db.session.commit()
    berlin_midnight = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "out_of_office")
    assert enrollment.resume_on == berlin_midnight
    paused = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_paused")).one()
    assert paused.data["resume_on"] == berlin_midnight.isoformat()

    clock.set(berlin_midnight - timedelta(minutes=1))
    assert signals.resume_due_pauses(clock.now()) == 0
    assert enrollment.status == "paused"

    clock.set(berlin_midnight + timedelta(minutes=5))
    assert signals.resume_due_pauses(clock.now()) == 1
    db.session.expire_all()
    resumed = db.session.get(Enrollment, enrollment.id)
    assert (resumed.status, resumed.resume_on, resumed.pause_reason) == ("active", None, None)
    assert resumed.next_step_on == clock.now()  # the step due on the 4th goes out now
    assert _types(lead)[-1] == "nurture_resumed"


def test_out_of_office_without_a_date_uses_the_tenants_default_days(clock):
    tenant = factories.make_tenant(ooo_default_days=3)
    lead, enrollment = _live(tenant)
    signals.record_reply(lead, "I'm on parental leave. Please contact Dana.")
    db.session.commit()
    assert enrollment.resume_on == clock.now() + timedelta(days=3)


def test_resuming_keeps_a_later_step_time(tenant, clock):
    lead, enrollment = _live(tenant)
    enrollment.next_step_on = clock.now() + timedelta(days=10)
    signals.record_reply(lead, "Out of office until Friday.")
    db.session.commit()
    clock.advance(days=5)
    signals.resume_due_pauses()
    assert enrollment.next_step_on == datetime(2026, 3, 12, 10, tzinfo=UTC)


def test_correcting_a_positive_verdict_reopens_the_enrollment(tenant, clock):
    rep = factories.make_user(tenant, "rep")
    lead, enrollment = _live(tenant)
    outcome = signals.record_reply(lead, "Interested to know how you got my address.")
    db.session.commit()
    assert enrollment.status == "exited"
    clock.advance(minutes=3)
    signals.correct_reply(outcome.reply, "neutral", actor_id=rep.id)
    db.session.commit()
    assert (enrollment.status, enrollment.exit_reason, enrollment.next_step_on) == (
        "active",
        None,
        clock.now(),
    )
    assert outcome.reply.classified_by == "user"
    assert _types(lead)[-2:] == ["nurture_resumed", "reply_reclassified"]


def test_correcting_to_positive_exits_and_from_out_of_office_lifts_the_pause(tenant, clock):
    rep = factories.make_user(tenant, "rep")
    lead, enrollment = _live(tenant)
    outcome = signals.record_reply(lead, "Auto-reply: away until 9 March. Happy to talk when I'm back!")
    db.session.commit()
    assert enrollment.status == "paused"
    signals.correct_reply(outcome.reply, "positive", actor_id=rep.id)
    db.session.commit()
    assert (enrollment.status, enrollment.exit_reason, enrollment.resume_on) == (
        "exited",
        "positive_reply",
        None,
    )


def test_correcting_an_unsubscribe_verdict_resubscribes_the_lead(tenant, clock):
    rep = factories.make_user(tenant, "rep")
    lead, enrollment = _live(tenant)
    outcome = signals.record_reply(
        lead, "Stop sending the PDF, I have it. Who else should I add to the thread?"
    )
    db.session.commit()
    assert lead.unsubscribed_at is not None and enrollment.status == "exited"
    signals.correct_reply(outcome.reply, "neutral", actor_id=rep.id)
    db.session.commit()
    assert lead.unsubscribed_at is None and enrollment.status == "active"


def test_conversion_and_disqualification_follow_their_rules(tenant, clock):
    lead, enrollment = _live(tenant)
    signals.convert(lead)
    db.session.commit()
    assert (lead.status, enrollment.status, enrollment.exit_reason) == ("converted", "exited", "converted")

    other, kept = _live(tenant, exit_rules={"disqualification": False})
    signals.disqualify(other)
    db.session.commit()
    assert (other.status, kept.status) == ("disqualified", "active")


def test_hard_bounce_marks_undeliverable_and_exits_soft_bounce_only_records(tenant, clock):
    lead, enrollment = _live(tenant)
    signals.record_bounce(lead, "soft", diagnostic="452 mailbox full")
    db.session.commit()
    assert (lead.undeliverable, enrollment.status) == (False, "active")
    signals.record_bounce(lead, "hard", diagnostic="550 5.1.1 user unknown")
    db.session.commit()
    assert (lead.undeliverable, enrollment.status, enrollment.exit_reason) == (True, "exited", "bounced")
    assert _types(lead).count("email_bounced") == 2


def test_replies_are_stored_with_their_text(tenant, clock):
    lead = factories.make_lead(tenant)
    signals.record_reply(lead, "Who is this?", subject="Re: hello")
    db.session.commit()
    reply = db.session.scalars(sa.select(LeadReply)).one()
    assert (reply.sentiment, reply.subject, reply.body_excerpt, reply.thread_open) == (
        "neutral",
        "Re: hello",
        "Who is this?",
        True,
    )
    assert db.session.get(Lead, lead.id).last_engaged_at == clock.now()
