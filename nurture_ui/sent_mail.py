"""Sent mail: the tenant's outgoing emails, newest first, one status at a time, searchable by lead and
sequence, and each one as the lead saw it.

Every page is one index range: ``ix_messages_tenant_status`` (tenant_id, status, created_at, id) read
backwards from a keyset cursor, so page 1 000 costs what page 1 does. A search by lead first finds the
matching leads (at most ``MAX_SEARCHED_LEADS``) and then their emails. Admins, managers and marketers see
the whole tenant's mail; a rep sees the mail of the leads they own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from nurture_ui.extensions import db
from nurture_ui.mailer import BadSender, UnsendableMessage, wire_email
from nurture_ui.models import Lead, Mailbox, OutboundMessage, User

# The statuses of an email that left the approval inbox, in the order the page offers them.
SENT_MAIL_STATUSES = ("sent", "queued", "sending", "failed", "unknown", "cancelled")
SEES_ALL_MAIL = frozenset({"admin", "manager", "marketer"})
PAGE_SIZE = 50
MAX_SEARCHED_LEADS = 500


@dataclass(frozen=True)
class SentMailFilters:
    q: str = ""
    status: str = "sent"
    sequence: uuid.UUID | None = None

    def as_args(self) -> dict[str, str]:
        args = {"q": self.q, "status": self.status, "sequence": str(self.sequence or "")}
        return {k: v for k, v in args.items() if v}


@dataclass(frozen=True)
class SentMailPage:
    messages: list[OutboundMessage]
    next_cursor: str | None  # the "older" link's cursor; None on the last page
    searched_leads_capped: bool  # the lead search matched more leads than it looks through


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def cursor_of(message: OutboundMessage) -> str:
    return f"{message.created_at.isoformat()}_{message.id}"


def parse_cursor(value: str) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) a cursor names, or None for anything else (the page starts at the newest)."""
    instant, _, message_id = value.partition("_")
    try:
        return datetime.fromisoformat(instant), uuid.UUID(message_id)
    except ValueError:
        return None


def _matching_lead_ids(tenant_id: uuid.UUID, q: str, owner_id: uuid.UUID | None) -> list[uuid.UUID]:
    pattern = _like(q)
    stmt = sa.select(Lead.id).where(
        Lead.tenant_id == tenant_id,
        sa.or_(
            sa.func.lower(Lead.email).like(pattern, escape="\\"),
            sa.func.lower(Lead.first_name + " " + Lead.last_name).like(pattern, escape="\\"),
        ),
    )
    if owner_id is not None:
        stmt = stmt.where(Lead.owner_id == owner_id)
    return list(db.session.scalars(stmt.limit(MAX_SEARCHED_LEADS + 1)))


def sent_mail_page(user: User, filters: SentMailFilters, cursor: str = "") -> SentMailPage:
    """One page (``PAGE_SIZE``) of the emails of ``filters.status`` that ``user`` may read, newest first,
    older than ``cursor`` (from ``cursor_of``); the lead and the sequence are loaded with each."""
    if filters.status not in SENT_MAIL_STATUSES:
        raise ValueError(f"unknown status {filters.status!r}")
    owner_id = None if user.role in SEES_ALL_MAIL else user.id
    stmt = (
        sa.select(OutboundMessage)
        .where(OutboundMessage.tenant_id == user.tenant_id, OutboundMessage.status == filters.status)
        .options(joinedload(OutboundMessage.lead), joinedload(OutboundMessage.sequence))
        .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    capped = False
    if filters.q.strip():
        lead_ids = _matching_lead_ids(user.tenant_id, filters.q, owner_id)
        capped = len(lead_ids) > MAX_SEARCHED_LEADS
        stmt = stmt.where(OutboundMessage.lead_id.in_(lead_ids[:MAX_SEARCHED_LEADS]))
    elif owner_id is not None:
        stmt = stmt.join(Lead, Lead.id == OutboundMessage.lead_id).where(Lead.owner_id == owner_id)
    if filters.sequence is not None:
        stmt = stmt.where(OutboundMessage.sequence_id == filters.sequence)
    position = parse_cursor(cursor) if cursor else None
    if position is not None:
        stmt = stmt.where(sa.tuple_(OutboundMessage.created_at, OutboundMessage.id) < position)
    rows = list(db.session.scalars(stmt).unique())
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return SentMailPage(
        messages=rows, next_cursor=cursor_of(rows[-1]) if more else None, searched_leads_capped=capped
    )


def may_read(user: User, message: OutboundMessage) -> bool:
    """Whether ``user`` may read ``message`` (already known to be of their tenant): a rep, their own leads'."""
    return user.role in SEES_ALL_MAIL or message.lead.owner_id == user.id


@dataclass(frozen=True)
class EmailAsSent:
    """What the lead's mail client shows: the headers a reader sees and the plain-text body."""

    subject: str
    from_: str
    to: str
    reply_to: str
    date: str
    body: str
    problem: str | None = None  # why the email could not be written as it would go (then: the stored text)


def email_as_sent(message: OutboundMessage) -> EmailAsSent:
    """``message`` composed exactly as the mailer writes it (``mailer.wire_email``: From its mailbox or the
    app's sender, the unsubscribe footer, the Date of its send) and read back as a mail client would. An email
    that cannot be written (a refused address) comes back as its stored subject and body with the reason."""
    sender = None
    if message.mailbox_id is not None:
        box = db.session.get(Mailbox, message.mailbox_id)
        if box is not None:
            owner = box.user.name if box.user is not None else ""
            sender = (box.display_name or owner, box.address)
    when = message.sent_at or message.queued_at or message.created_at
    try:
        wire = wire_email(message, now=when, sender=sender)
    except (UnsendableMessage, BadSender) as error:
        return EmailAsSent(
            subject=message.subject,
            from_="",
            to=message.to_email,
            reply_to="",
            date=when.isoformat(),
            body=message.body,
            problem=str(error),
        )
    parsed = message_from_bytes(wire.data, policy=policy.default)
    return EmailAsSent(
        subject=str(parsed["Subject"]),
        from_=str(parsed["From"]),
        to=str(parsed["To"]),
        reply_to=str(parsed["Reply-To"]),
        date=str(parsed["Date"]),
        body=parsed.get_content(),
    )
