"""Inbound mail, the door: a raw message (read over IMAP or pushed over SMTP/LMTP) becomes its effect, once.

Like the web and the API, this door only reads and decides what the message is; what a reply, a bounce
or an out-of-office notice does lives in ``nurture_ui.signals``. Each message is recorded once per
tenant by its Message-ID (``InboundMail``): reading it again (a re-poll after a crash, a second worker)
returns the row already there and does nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from nurture_ui import clock, signals
from nurture_ui.classifier import own_words, read_return_date
from nurture_ui.extensions import db
from nurture_ui.mail.auto_replies import AutoReply, read_auto_reply
from nurture_ui.mail.bounces import Bounce, read_bounce
from nurture_ui.mail.matching import Match, match_bounce, match_reply
from nurture_ui.mail.parse import ParsedMail, parse_address, parse_mail
from nurture_ui.mail.reply_tokens import message_row_id_from_address
from nurture_ui.models import InboundMail, Mailbox, OutboundMessage, Tenant
from nurture_ui.time_zones import first_zone

# RFC 3676's signature separator: what follows is the writer's signature, not their words.
_SIGNATURE = "\n-- \n"
MAX_TEXT = 100_000


def receive(
    raw: bytes,
    *,
    tenant_id: uuid.UUID,
    mailbox_id: uuid.UUID | None = None,
    source: str = "imap",
    received_at: datetime | None = None,
    recipients: Iterable[str] = (),
) -> InboundMail:
    """Record one raw message for ``tenant_id`` and apply its effect: a reply goes to
    ``signals.record_reply``, a bounce to ``signals.record_bounce``, an out-of-office notice pauses the
    lead's enrollments. Unmatched, bulk and junk mail is recorded with no effect (``kind`` says which and
    ``detail["reason"]`` why). Never raises on the message's content.

    Runs inside the caller's transaction and never commits (a poller advances its read position in the
    same commit). Idempotent per tenant and Message-ID (a digest of the bytes when there is none): the same
    message again returns the row already recorded and changes nothing, also when two workers race (the
    unique key decides, inside a savepoint)."""
    parsed = parse_mail(raw)
    existing = _recorded(tenant_id, parsed.message_id)
    if existing is not None:
        return existing
    received_at = received_at or clock.now()
    recipients = [*parsed.recipients, *(r for r in recipients if r)]
    kind, match, detail, reading = _read(parsed, tenant_id, recipients)
    mail = InboundMail(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        mailbox_id=mailbox_id,
        source=source,
        message_id=parsed.message_id[:998],
        received_at=received_at,
        from_address=parsed.from_address[:320],
        subject=parsed.subject[:998],
        kind=kind,
        matched_by=match.matched_by,
        lead_id=match.lead.id if match.lead else None,
        outbound_message_id=match.message.id if match.message else None,
        detail=detail,
        created_at=clock.now(),
    )
    if not _insert_once(mail):
        return _recorded(tenant_id, parsed.message_id)
    _apply(mail, match, reading, parsed)
    return mail


def receive_pushed(raw: bytes, recipients: Iterable[str], source: str = "smtp") -> InboundMail | None:
    """``receive`` for mail pushed to the inbound listener: the tenant (and mailbox) is found from the
    envelope ``recipients`` — a reply token names our email and so its tenant; else an enabled mailbox
    with that address (a ``+tag`` ignored). Returns None when no recipient is ours (the listener answers
    550), also when an address is the mailbox of several tenants. Runs in the caller's transaction."""
    recipients = [r.strip() for r in recipients if r and r.strip()]
    for address in recipients:
        row_id = message_row_id_from_address(address)
        message = db.session.get(OutboundMessage, row_id) if row_id else None
        if message is not None:
            return receive(raw, tenant_id=message.tenant_id, source=source, recipients=recipients)
    for address in recipients:
        mailbox = mailbox_for_address(address)
        if mailbox is not None:
            return receive(
                raw, tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id, source=source, recipients=recipients
            )
    return None


def mailbox_for_address(address: str) -> Mailbox | None:
    """The enabled mailbox with this address (its ``+tag`` ignored), when exactly one tenant has it."""
    local, _, domain = (address or "").strip().lower().strip("<>").rpartition("@")
    if not local:
        return None
    bare = f"{local.split('+', 1)[0]}@{domain}"
    mailboxes = list(
        db.session.scalars(
            sa.select(Mailbox)
            .where(Mailbox.enabled.is_(True), sa.func.lower(Mailbox.address) == bare)
            .limit(2)
        )
    )
    return mailboxes[0] if len(mailboxes) == 1 else None


def _recorded(tenant_id: uuid.UUID, message_id: str) -> InboundMail | None:
    return db.session.scalar(
        sa.select(InboundMail).where(InboundMail.tenant_id == tenant_id, InboundMail.message_id == message_id)
    )


def _insert_once(mail: InboundMail) -> bool:
    """Insert ``mail`` unless its (tenant, Message-ID) is already there; False when another transaction
    recorded it first. The savepoint keeps the caller's transaction usable after the refusal."""
    _open_sqlite_transaction()
    try:
        with db.session.begin_nested():
            db.session.add(mail)
            db.session.flush()
    except IntegrityError:
        return False
    return True


def _open_sqlite_transaction() -> None:
    # pysqlite opens a transaction only before a data change, and a SAVEPOINT outside one is SQLite's own
    # transaction, which RELEASE commits. Beginning it here keeps this function inside the caller's unit.
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN")


# ---------------------------------------------------------------------------------------------------
# What the message is
# ---------------------------------------------------------------------------------------------------


def _read(parsed: ParsedMail, tenant_id, recipients) -> tuple[str, Match, dict, Bounce | AutoReply | str]:
    """(kind, match, detail, what was read) for a parsed message, without changing anything."""
    if parsed.problem:
        return "ignored", Match(), {"reason": parsed.problem}, ""
    bounce = read_bounce(parsed)
    if bounce is not None:
        detail = bounce.detail()
        if bounce.kind is None:
            return (
                "ignored",
                Match(),
                {**detail, "reason": "a delay notice: the email is still being tried"},
                "",
            )
        match = match_bounce(
            tenant_id,
            original_message_ids=bounce.original_message_ids,
            token_addresses=[*recipients, *bounce.original_addresses],
            failed_recipients=bounce.failed_recipients,
        )
        if match.lead is None:
            return "unmatched", match, {**detail, "reason": match.reason}, bounce
        return "bounce", match, detail, bounce
    if _is_our_own(parsed, tenant_id):
        return "ignored", Match(), {"reason": "our own email, read back (a Sent folder or a copy)"}, ""
    auto = read_auto_reply(parsed)
    if auto is not None and auto.bulk:
        return "ignored", Match(), {"reason": f"bulk or list mail ({auto.because})"}, ""
    match = match_reply(
        tenant_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        recipients=recipients,
        sender=parsed.from_address,
    )
    if auto is not None:
        detail = {"auto_reply": auto.because, "out_of_office": auto.out_of_office}
        if match.lead is None:
            return "unmatched", match, {**detail, "reason": match.reason}, auto
        return "auto_reply", match, detail, auto
    text = reply_text(parsed.text)
    if match.lead is None:
        return "unmatched", match, {"reason": match.reason}, text
    return "reply", match, {}, text


def reply_text(text: str) -> str:
    """The writer's own words: the quoted history (``classifier.own_words``) and signature cut off."""
    text = text.replace("\r\n", "\n")
    if _SIGNATURE in f"\n{text}":
        text = f"\n{text}".split(_SIGNATURE, 1)[0]
    return own_words(text)[:MAX_TEXT]


def _is_our_own(parsed: ParsedMail, tenant_id) -> bool:
    """Mail we sent, read back: its From is our sender or one of the tenant's mailboxes sending for a rep,
    or its Message-ID is one of our emails'."""
    if parsed.message_id and db.session.scalar(
        sa.select(OutboundMessage.id).where(
            OutboundMessage.tenant_id == tenant_id, OutboundMessage.message_id == parsed.message_id
        )
    ):
        return True
    ours = {parse_address(current_app.config.get("MAIL_FROM", ""))[1]}
    ours |= {
        address.lower()
        for address in db.session.scalars(
            sa.select(Mailbox.address).where(Mailbox.tenant_id == tenant_id, Mailbox.user_id.is_not(None))
        )
    }
    return parsed.from_address in ours


# ---------------------------------------------------------------------------------------------------
# Effects
# ---------------------------------------------------------------------------------------------------


def _apply(mail: InboundMail, match: Match, reading, parsed: ParsedMail) -> None:
    lead = match.lead
    if mail.kind == "reply":
        outcome = signals.record_reply(lead, reading, subject=parsed.subject, received_at=mail.received_at)
        outcome.reply.outbound_message_id = match.message.id if match.message else None
        mail.reply_id = outcome.reply.id
        mail.detail = {**mail.detail, **_summary(outcome)}
    elif mail.kind == "bounce":
        outcome = signals.record_bounce(
            lead,
            reading.kind,
            diagnostic=reading.diagnostic,
            message_id=match.message.message_id if match.message else None,
        )
        mail.detail = {**mail.detail, **_summary(outcome)}
    elif mail.kind == "auto_reply" and reading.out_of_office:
        received_on = _lead_today(lead, mail.received_at)
        return_on, estimated = read_return_date(parsed.text, received_on)
        paused = signals.pause_for_out_of_office(
            lead, return_on, now=clock.now(), data={"inbound_mail_id": str(mail.id), "source": "auto_reply"}
        )
        mail.detail = {
            **mail.detail,
            "return_on": return_on.isoformat() if return_on else None,
            "return_estimated": estimated,
            "paused": [str(e.id) for e in paused],
        }


def _summary(outcome: signals.Outcome) -> dict:
    summary = outcome.summary()
    summary.pop("lead_id", None)
    return summary


def _lead_today(lead, instant: datetime):
    """The day ``instant`` is where the lead is: "back tomorrow" is read from their today."""
    tenant = db.session.get(Tenant, lead.tenant_id)
    return instant.astimezone(first_zone(lead.timezone, tenant.policy_value("timezone"))).date()
