"""Helpers for tests against the real dovecot + exim (tests/mail_servers.py): mailboxes, mail sent through
exim, waiting for it to land, and a lead's reply to the email it received."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

from nurture_ui.extensions import db
from nurture_ui.models import Mailbox
from nurture_ui.secret_box import seal
from tests.mail_servers import MAIL_DOMAIN, PASSWORD


def unique_address(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@{MAIL_DOMAIN}"


def connect_team_mailbox(tenant, servers, address: str | None = None, **fields) -> Mailbox:
    """A dovecot user and the tenant's Mailbox row reading it over IMAPS (verified against the test CA)."""
    address = servers.add_user(address or unique_address("team"))
    values = dict(
        tenant_id=tenant.id,
        address=address,
        display_name="Team",
        imap_host=servers.host,
        imap_port=servers.imaps_port,
        imap_security="ssl",
        imap_username=address,
        imap_secret=seal(PASSWORD),
        imap_folder="INBOX",
    )
    values.update(fields)
    mailbox = Mailbox(**values)
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def imap_login(servers, address: str) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context(cafile=str(servers.ca_file))
    client = imaplib.IMAP4_SSL(servers.host, servers.imaps_port, ssl_context=context, timeout=10)
    client.login(address, PASSWORD)
    return client


def messages_in(servers, address: str) -> list[bytes]:
    """Every message in the user's INBOX, oldest first (read-only)."""
    client = imap_login(servers, address)
    try:
        client.select("INBOX", readonly=True)
        _, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        client.logout()


def wait_for_messages(servers, address: str, count: int, seconds: float = 20) -> list[bytes]:
    """The user's messages once at least ``count`` have landed (exim delivers in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        found = messages_in(servers, address)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{address} holds {len(found)} messages, expected {count}"
            return found
        time.sleep(0.1)


def send_through_exim(servers, message: EmailMessage, sender: str, recipients: list[str]) -> None:
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=10) as client:
        client.send_message(message, from_addr=sender, to_addrs=recipients)


def reply_to(original: bytes, sender: str, text: str) -> EmailMessage:
    """The lead's reply to an email it received: In-Reply-To/References its Message-ID, to its Reply-To
    (or From), quoting it below as mail clients do."""
    import email
    from email import policy

    received = email.message_from_bytes(original, policy=policy.default)
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(received.get("Reply-To") or received["From"])
    reply["Subject"] = "Re: " + str(received["Subject"])
    reply["Message-ID"] = make_msgid(domain=MAIL_DOMAIN)
    reply["In-Reply-To"] = received["Message-ID"]
    reply["References"] = received["Message-ID"]
    body = received.get_body(("plain",))
    quoted = "\n".join("> " + line for line in (body.get_content() if body else "").splitlines())
    reply.set_content(f"{text}\n\nOn Monday, the team wrote:\n{quoted}\n")
    return reply
