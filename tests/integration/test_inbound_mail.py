"""Inbound mail, end to end in the database: a raw message read from a mailbox (or pushed to the
listener) becomes a reply, a bounce or a pause, once, on the lead it is about."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.mail.receive import receive
from nurture_ui.models import Activity, InboundMail, LeadReply, OutboundMessage
from tests import factories

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
