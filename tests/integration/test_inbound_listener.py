"""The inbound listener (`python worker.py inbound`): mail an MTA forwards over SMTP or LMTP is recorded
through the same core as mail read over IMAP, committed before the 250; mail for no tenant gets 550; an
error gets 451 so the MTA retries. Tried with smtplib and with the real exim forwarding to it."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.mail.inbound_listener import start_inbound_listener
from nurture_ui.models import InboundMail, Mailbox
from tests import factories
from tests.engine.conftest import free_port
from tests.integration.mailbox_helpers import send_through_exim, wait_for_messages
from tests.mail_servers import FORWARD_DOMAIN


@pytest.fixture
def listener(app):
    controller = start_inbound_listener(app, host="127.0.0.1", port=free_port())
    yield controller
    controller.stop()


@pytest.fixture
def forwarded_mailbox(tenant):
    mailbox = Mailbox(tenant_id=tenant.id, address=f"replies@{FORWARD_DOMAIN}", display_name="Replies")
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def a_reply(sender: str, to: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "Re: hello"
    message["Message-ID"] = make_msgid(domain="lead.test")
    message.set_content(text)
    return message


def test_mail_for_a_connected_mailbox_is_recorded_before_the_250(listener, tenant, forwarded_mailbox):
    lead = factories.make_lead(tenant, email="ada@lead.test")
    with smtplib.SMTP(listener.hostname, listener.port) as client:
        refused = client.send_message(
            a_reply("ada@lead.test", forwarded_mailbox.address, "Yes, interested!"),
            to_addrs=[f"replies+anything@{FORWARD_DOMAIN}"],
        )
    assert refused == {}
    db.session.expire_all()
    inbound = db.session.scalars(sa.select(InboundMail)).one()
    assert (inbound.source, inbound.lead_id, inbound.mailbox_id) == ("smtp", lead.id, forwarded_mailbox.id)


def test_mail_for_no_tenant_is_refused_with_550(listener):
    with (
        smtplib.SMTP(listener.hostname, listener.port) as client,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        client.send_message(a_reply("x@lead.test", "who@nowhere.test", "hi"), to_addrs=["who@nowhere.test"])
    assert refused.value.smtp_code == 550
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMail)) == 0


def test_an_unexpected_error_answers_451_so_the_mta_retries(listener, forwarded_mailbox, monkeypatch):
    from nurture_ui.mail import receive as receive_module

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(receive_module, "receive_pushed", broken)
    with (
        smtplib.SMTP(listener.hostname, listener.port) as client,
        pytest.raises(smtplib.SMTPDataError) as deferred,
    ):
        client.send_message(
            a_reply("x@lead.test", forwarded_mailbox.address, "hi"), to_addrs=[forwarded_mailbox.address]
        )
    assert deferred.value.smtp_code == 451


def test_a_message_over_the_size_limit_is_refused(app, tenant, forwarded_mailbox):
    app.config["INBOUND_MAX_BYTES"] = 2000
    controller = start_inbound_listener(app, host="127.0.0.1", port=free_port())
    try:
        with (
            smtplib.SMTP(controller.hostname, controller.port) as client,
            pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as refused,
        ):
            client.send_message(
                a_reply("x@lead.test", forwarded_mailbox.address, "x" * 5000),
                to_addrs=[forwarded_mailbox.address],
            )
        assert refused.value.smtp_code == 552
    finally:
        controller.stop()
        app.config["INBOUND_MAX_BYTES"] = 10 * 1024 * 1024


def test_lmtp_listener_records_the_message(app, tenant, forwarded_mailbox):
    app.config["INBOUND_LMTP"] = True
    controller = start_inbound_listener(app, host="127.0.0.1", port=free_port())
    try:
        with smtplib.LMTP(controller.hostname, controller.port) as client:
            client.send_message(
                a_reply("ada@lead.test", forwarded_mailbox.address, "Sure."),
                to_addrs=[forwarded_mailbox.address],
            )
    finally:
        controller.stop()
        app.config["INBOUND_LMTP"] = False
    db.session.expire_all()
    assert db.session.scalars(sa.select(InboundMail.source)).all() == ["lmtp"]


def test_exim_forwarding_replies_to_the_listener(listener, tenant, forwarded_mailbox, mail_servers):
    lead = factories.make_lead(tenant, email="grace@lead.test")
    mail_servers.set_forward_port(listener.port)
    sender = mail_servers.add_user(f"sender-{lead.id.hex[:8]}@mail.test")

    send_through_exim(
        mail_servers,
        a_reply("grace@lead.test", forwarded_mailbox.address, "Interested!"),
        sender,
        [forwarded_mailbox.address],
    )

    inbound = None
    for _ in range(100):
        db.session.expire_all()
        inbound = db.session.scalars(sa.select(InboundMail)).first()
        if inbound:
            break
        time.sleep(0.1)
    assert inbound is not None and inbound.lead_id == lead.id and inbound.source == "smtp"


def test_exim_bounces_what_the_listener_refuses(listener, mail_servers):
    mail_servers.set_forward_port(listener.port)
    sender = mail_servers.add_user("refused-sender@mail.test")

    send_through_exim(
        mail_servers, a_reply(sender, f"nobody@{FORWARD_DOMAIN}", "hi"), sender, [f"nobody@{FORWARD_DOMAIN}"]
    )

    bounce = wait_for_messages(mail_servers, sender, 1)[0]
    assert b"550" in bounce and b"No mailbox here" in bounce
