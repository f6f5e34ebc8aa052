"""Inbound signals acting on sequences: replies, corrections, out-of-office pauses, conversions, bounces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from nurture_ui import signals
from nurture_ui.extensions import db, get_queue
from nurture_ui.models import Activity, Enrollment, Lead, LeadReply, OutboundMessage
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


def test_hard_bounce_marks_undeliverable_and_exits_soft_bounce_does_not(tenant, clock):
    lead, enrollment = _live(tenant)
    signals.record_bounce(lead, "soft", diagnostic="452 mailbox full")
    db.session.commit()
    assert (lead.undeliverable, enrollment.status) == (False, "active")
    signals.record_bounce(lead, "hard", diagnostic="550 5.1.1 user unknown")
    db.session.commit()
    assert (lead.undeliverable, enrollment.status, enrollment.exit_reason) == (True, "exited", "bounced")
    assert _types(lead).count("email_bounced") == 2


def _sent(enrollment, step=1, at=None):
    message = OutboundMessage(
        tenant_id=enrollment.tenant_id,
        enrollment_id=enrollment.id,
        step_order=step,
        lead_id=enrollment.lead_id,
        sequence_id=enrollment.sequence_id,
        to_email="x@example.test",
        subject=f"Step {step}",
        body="b",
        status="sent",
        attempts=1,
        sent_at=at or clock_now(),
        message_id=f"<step-{step}-{enrollment.id}@example.test>",
    )
    db.session.add(message)
    db.session.commit()
    return message


def clock_now():
    from nurture_ui import clock

    return clock.now()


def _message(message):
    db.session.expire_all()
    return db.session.get(OutboundMessage, message.id)


def test_a_soft_bounce_queues_the_email_again_and_the_sweep_sends_it_after_its_delay(app, tenant, clock):
    from nurture_ui.mailer import requeue_stale_queued, retry_delay

    lead, enrollment = _live(tenant)
    message = _sent(enrollment)
    clock.advance(minutes=10)
    outcome = signals.record_bounce(
        lead, "soft", diagnostic="452 4.2.2 mailbox full", message_id=message.message_id
    )
    db.session.commit()
    after = _message(message)
    assert (after.status, after.sent_at, after.error) == (
        "queued",
        None,
        "soft bounce: 452 4.2.2 mailbox full",
    )
    assert outcome.summary()["message"] == {"id": str(message.id), "status": "queued"}
    assert (lead.undeliverable, enrollment.status) == (False, "active")
    requeued = db.session.scalars(sa.select(Activity).where(Activity.type == "message_requeued")).one()
    assert requeued.data == {"step": 1, "message": str(message.id), "reason": "soft_bounce", "retry": 1}
    # Not at once: the outbox sweep hands it to a send job once its retry delay has passed.
    get_queue().empty()
    assert requeue_stale_queued(clock.now() + timedelta(seconds=5)) == 0
    assert requeue_stale_queued(clock.now() + retry_delay(after.attempts)) == 1
    assert [job.args[0] for job in get_queue().jobs] == [[str(message.id)]]
    get_queue().empty()


def test_soft_bounces_retry_three_times_then_the_email_fails(tenant, clock):
    lead, enrollment = _live(tenant)
    message = _sent(enrollment)
    for attempt in range(1, 5):
        clock.advance(hours=1)
        # The outbox sent it again meanwhile (the same Message-ID; angle brackets optional in the event).
        db.session.execute(
            sa.update(OutboundMessage)
            .where(OutboundMessage.id == message.id)
            .values(status="sent", sent_at=clock.now(), attempts=attempt)
        )
        db.session.commit()
        signals.record_bounce(
            lead, "soft", diagnostic="452 mailbox full", message_id=message.message_id.strip("<>")
        )
        db.session.commit()
        assert _message(message).status == ("queued" if attempt <= 3 else "failed")
    after = _message(message)
    assert after.error == "soft-bounced 4 times, last: 452 mailbox full"
    failed = db.session.scalars(sa.select(Activity).where(Activity.type == "message_failed")).one()
    assert failed.enrollment_id == enrollment.id and failed.data["error"] == after.error
    assert (lead.undeliverable, enrollment.status) == (False, "active")  # a full mailbox is not a bad address

    from nurture_ui.timeline import enrollment_timeline

    titles = [e.title for e in enrollment_timeline(enrollment, clock.now()).past]
    assert titles.count("Email queued to try again after a soft bounce — Step 1 · Email") == 3
    assert titles[-2:] == ["An email bounced (soft)", "Email failed — Step 1 · Email"]


def test_a_soft_bounce_without_a_message_id_concerns_the_last_email_sent(tenant, clock):
    lead, enrollment = _live(tenant)
    first = _sent(enrollment, step=1, at=clock.now() - timedelta(days=2))
    second = _sent(enrollment, step=2, at=clock.now() - timedelta(hours=1))
    signals.record_bounce(lead, "soft", diagnostic="421 try later")
    db.session.commit()
    assert (_message(first).status, _message(second).status) == ("sent", "queued")


def test_a_soft_bounce_to_a_lead_who_said_stop_is_not_sent_again(tenant, clock):
    lead, enrollment = _live(tenant)
    message = _sent(enrollment)
    lead.do_not_contact = True
    db.session.commit()
    outcome = signals.record_bounce(
        lead, "soft", diagnostic="452 mailbox full", message_id=message.message_id
    )
    db.session.commit()
    after = _message(message)
    assert after.status == "failed" and "do-not-contact" in after.error
    assert outcome.summary()["message"]["status"] == "failed"


def test_a_soft_bounce_for_an_email_not_sent_changes_nothing_but_the_record(tenant, clock):
    lead, enrollment = _live(tenant)
    message = _sent(enrollment)
    message.status = "cancelled"
    db.session.commit()
    outcome = signals.record_bounce(lead, "soft", message_id=message.message_id)
    db.session.commit()
    assert _message(message).status == "cancelled" and "message" not in outcome.summary()
    assert _types(lead) == ["email_bounced"]


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
