"""Inbound mail, end to end in the database: a raw message read from a mailbox (or pushed to the
listener) becomes a reply, a bounce or a pause, once, on the lead it is about."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.lead_timeline import lead_timeline
from nurture_ui.mail.receive import receive, receive_pushed
from nurture_ui.mail.reply_tokens import reply_address
from nurture_ui.models import Activity, InboundMail, Lead, LeadReply, Mailbox, OutboundMessage
from tests import factories
from tests.mail_samples import LEAD_ADDRESS, OUR_ADDRESS, load_sample

_numbers = itertools.count(1)


def _emailed(tenant, clock, lead=None, **sequence_fields):
    """A lead in a running three-email sequence whose first email went out an hour ago."""
    lead = lead or factories.make_lead(tenant)
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"channel": "email", "delay_hours": 48}] * 3, **sequence_fields
    )
    enrollment = factories.make_enrollment(
        lead, sequence, current_step_order=2, next_step_on=datetime(2026, 3, 4, 9, tzinfo=UTC)
    )
    message = OutboundMessage(
        tenant_id=tenant.id,
        enrollment_id=enrollment.id,
        step_order=1,
        lead_id=lead.id,
        sequence_id=sequence.id,
        to_email=lead.email,
        subject="A note for Example Co",
        body="Hi Lee",
        status="sent",
        sent_at=clock.now(),
        message_id=f"<sent-{next(_numbers)}@nurture.acme.test>",
        created_at=clock.now(),
    )
    db.session.add(message)
    db.session.commit()
    return lead, enrollment, message


def _reply(message, text, *, sender=None, message_id=None, extra_headers=""):
    sender = sender or message.to_email
    message_id = message_id or f"<reply-{next(_numbers)}@mail.example.test>"
    return (
        f"From: Lee Lead <{sender}>\r\n"
        f"To: Nurture <nurture@localhost>\r\n"
        f"Subject: Re: {message.subject}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"In-Reply-To: {message.message_id}\r\n"
        f"Date: Mon, 02 Mar 2026 11:00:00 +0000\r\n"
        f"{extra_headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
    ).encode()


def test_positive_reply_exits_before_the_next_email(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock)
    mail = receive(_reply(message, "Sounds great, can we book a call on Thursday?"), tenant_id=tenant.id)
    db.session.commit()
    assert (mail.kind, mail.matched_by, mail.lead_id) == ("reply", "in_reply_to", lead.id)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "positive_reply")
    reply = db.session.get(LeadReply, mail.reply_id)
    assert reply.sentiment == "positive"
    assert reply.outbound_message_id == message.id


def test_the_same_message_read_twice_is_recorded_once(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock)
    raw = _reply(message, "Sounds great, can we book a call on Thursday?")
    first = receive(raw, tenant_id=tenant.id)
    db.session.commit()
    again = receive(raw, tenant_id=tenant.id)
    db.session.commit()
    assert again.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadReply)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMail)) == 1
    replies = db.session.scalars(sa.select(Activity).where(Activity.type == "reply_received")).all()
    assert len(replies) == 1


# --- the corpus, end to end ---------------------------------------------------------------------------


def _sample(name, message, **values):
    values.setdefault("lead", message.to_email)
    values.setdefault("message_id", message.message_id)
    return load_sample(name, **values)


def _lead(tenant):
    return factories.make_lead(tenant, email=LEAD_ADDRESS)


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_an_opt_out_from_outlook_unsubscribes_the_lead(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample("outlook_reply", message), tenant_id=tenant.id)
    db.session.commit()
    assert (mail.kind, mail.matched_by) == ("reply", "in_reply_to")
    assert lead.unsubscribed_at == clock.now()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "unsubscribed")
    reply = db.session.get(LeadReply, mail.reply_id)
    assert reply.sentiment == "unsubscribe" and reply.body_excerpt.startswith("Hello,\nPlease remove me")


def test_an_out_of_office_notice_pauses_until_the_return_date_and_records_no_reply(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample("ooo_auto_submitted", message), tenant_id=tenant.id)
    db.session.commit()
    assert (mail.kind, mail.matched_by) == ("auto_reply", "in_reply_to")
    assert mail.detail["return_on"] == "2026-03-09"
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "out_of_office")
    assert enrollment.resume_on == datetime(2026, 3, 9, tzinfo=UTC)
    assert _count(LeadReply) == 0  # never a human reply


def test_a_german_abwesenheitsnotiz_pauses_for_the_default_days(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample("abwesenheitsnotiz", message), tenant_id=tenant.id)
    db.session.commit()
    assert mail.kind == "auto_reply" and mail.detail["out_of_office"] is True
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "out_of_office")


@pytest.mark.parametrize("name", ["exim_hard", "exim_text_hard", "gmail_dsn", "exchange_ndr"])
def test_a_hard_bounce_marks_the_address_undeliverable_and_exits(tenant, clock, name):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample(name, message, our=OUR_ADDRESS), tenant_id=tenant.id)
    db.session.commit()
    assert (mail.kind, mail.matched_by, mail.outbound_message_id) == (
        "bounce",
        "original_message_id",
        message.id,
    )
    assert mail.detail["bounce"] == "hard"
    assert lead.undeliverable is True
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "bounced")


def test_a_soft_bounce_puts_the_email_back_in_the_outbox(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample("postfix_soft", message), tenant_id=tenant.id)
    db.session.commit()
    assert (mail.kind, mail.detail["bounce"], mail.detail["status"]) == ("bounce", "soft", "4.2.2")
    assert message.status == "queued" and "Mailbox full" in message.error
    assert enrollment.status == "active" and lead.undeliverable is False


def test_a_delay_notice_changes_nothing(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample("postfix_delayed", message), tenant_id=tenant.id)
    db.session.commit()
    assert mail.kind == "ignored" and "delay" in mail.detail["reason"]
    assert message.status == "sent" and enrollment.status == "active"


def test_a_bounce_without_the_original_is_matched_by_its_failed_recipient(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample("exim_hard", message, message_id="<not-ours@elsewhere.test>"), tenant_id=tenant.id)
    db.session.commit()
    assert (mail.kind, mail.matched_by) == ("bounce", "final_recipient")
    assert lead.undeliverable is True


def test_each_way_of_matching_is_recorded(tenant, clock):
    lead, _, message = _emailed(tenant, clock, lead=_lead(tenant))
    token = reply_address(OUR_ADDRESS, message.id)
    by_references = receive(_sample("folded_headers", message), tenant_id=tenant.id)
    by_token = receive(_sample("token_only_reply", message, reply_to=token), tenant_id=tenant.id)
    by_sender = receive(_sample("sender_only_reply", message), tenant_id=tenant.id)
    db.session.commit()
    assert (by_references.matched_by, by_references.outbound_message_id) == ("references", message.id)
    assert (by_token.matched_by, by_token.lead_id, by_token.outbound_message_id) == (
        "reply_token",
        lead.id,
        message.id,
    )
    assert (by_sender.matched_by, by_sender.lead_id, by_sender.outbound_message_id) == (
        "sender",
        lead.id,
        None,
    )
    assert db.session.get(LeadReply, by_token.reply_id).outbound_message_id == message.id


def test_unmatched_mail_is_recorded_with_why_and_changes_nothing(tenant, clock):
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    stranger = _sample("sender_only_reply", message, lead="someone@else.test")
    mail = receive(stranger, tenant_id=tenant.id)
    db.session.commit()
    assert (mail.kind, mail.lead_id, mail.matched_by) == ("unmatched", None, None)
    assert "no lead has the address someone@else.test" in mail.detail["reason"]
    assert _count(LeadReply) == 0 and enrollment.status == "active"


def test_another_tenants_message_id_does_not_match(tenant, other_tenant, clock):
    _, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    mail = receive(_sample("gmail_reply", message), tenant_id=other_tenant.id)
    db.session.commit()
    assert mail.kind == "unmatched" and enrollment.status == "active"


def test_two_leads_with_the_senders_address_in_any_case_leave_it_unmatched(tenant, clock):
    factories.make_lead(tenant, email="Lee.Lead@example.test")
    factories.make_lead(tenant, email=LEAD_ADDRESS)
    message = OutboundMessage(message_id="<unrelated@x>", to_email=LEAD_ADDRESS)
    mail = receive(load_sample("sender_only_reply", message_id=message.message_id), tenant_id=tenant.id)
    assert mail.kind == "unmatched" and "several leads" in mail.detail["reason"]


def test_our_own_email_read_back_and_list_mail_and_junk_are_ignored(tenant, clock):
    _, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    own = receive(_sample("sent_copy", message), tenant_id=tenant.id)
    listed = receive(_sample("mailing_list", message), tenant_id=tenant.id)
    junk = receive(_sample("junk_truncated", message), tenant_id=tenant.id)
    db.session.commit()
    assert [m.kind for m in (own, listed, junk)] == ["ignored"] * 3
    assert "our own email" in own.detail["reason"]
    assert "bulk" in listed.detail["reason"]
    assert junk.detail["reason"] == "no sender address in From"
    assert enrollment.status == "active" and _count(LeadReply) == 0


def test_a_message_without_message_id_is_recorded_once_by_its_digest(tenant, clock):
    _, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    raw = _sample("no_message_id", message)
    first = receive(raw, tenant_id=tenant.id)
    again = receive(raw, tenant_id=tenant.id)
    db.session.commit()
    assert first.id == again.id and first.message_id.endswith("@digest.invalid>")
    assert _count(LeadReply) == 1 and enrollment.exit_reason == "positive_reply"


def test_receive_does_not_commit(tenant, clock):
    _, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    receive(_sample("gmail_reply", message), tenant_id=tenant.id)
    db.session.rollback()
    assert _count(InboundMail) == 0 and _count(LeadReply) == 0
    assert db.session.get(OutboundMessage, message.id).status == "sent"


def test_the_reply_shows_on_the_leads_timeline(tenant, clock):
    lead, _, message = _emailed(tenant, clock, lead=_lead(tenant))
    receive(_sample("gmail_reply", message), tenant_id=tenant.id)
    db.session.commit()
    timeline = lead_timeline(db.session.get(Lead, lead.id), clock.now())
    replies = [item for item in timeline.items if item.kind == "reply"]
    assert len(replies) == 1 and "pricing" in replies[0].detail + replies[0].title
    assert db.session.scalars(
        sa.select(Activity.type).where(Activity.lead_id == lead.id, Activity.type == "reply_received")
    ).one()


# --- pushed to the listener ---------------------------------------------------------------------------


def test_pushed_mail_finds_its_tenant_by_reply_token_or_mailbox_and_refuses_the_rest(tenant, clock):
    lead, _, message = _emailed(tenant, clock, lead=_lead(tenant))
    token = reply_address(OUR_ADDRESS, message.id)
    by_token = receive_pushed(_sample("token_only_reply", message, reply_to=token), [token], "lmtp")
    mailbox = Mailbox(tenant_id=tenant.id, address="Replies@Acme.test")
    db.session.add(mailbox)
    db.session.flush()
    by_mailbox = receive_pushed(_sample("sender_only_reply", message), ["replies+x@acme.test"], "smtp")
    nobody = receive_pushed(_sample("gmail_reply", message), ["someone@nowhere.test"], "smtp")
    db.session.commit()
    assert (by_token.tenant_id, by_token.source, by_token.matched_by) == (tenant.id, "lmtp", "reply_token")
    assert (by_mailbox.tenant_id, by_mailbox.mailbox_id, by_mailbox.source) == (tenant.id, mailbox.id, "smtp")
    assert nobody is None


# --- races ----------------------------------------------------------------------------------------------


def test_two_workers_reading_the_same_reply_at_once_record_it_once(app, tenant, clock):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")
    lead, enrollment, message = _emailed(tenant, clock, lead=_lead(tenant))
    raw = _sample("gmail_reply", message)
    tenant_id, start = tenant.id, threading.Barrier(2)
    recorded: list = []

    def worker():
        with app.app_context():
            try:
                start.wait()
                mail = receive(raw, tenant_id=tenant_id)
                recorded.append(mail.id)
                db.session.commit()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(recorded) == 2 and recorded[0] == recorded[1]
    db.session.expire_all()
    assert _count(InboundMail) == 1 and _count(LeadReply) == 1
    assert db.session.get(type(enrollment), enrollment.id).exit_reason == "positive_reply"
