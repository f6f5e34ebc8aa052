"""Connecting, changing and removing mailboxes (Settings → Mailboxes): who may see which, how their secrets
are kept, and the "Test connection" check. The web door parses the form; the rules live here.

Who manages what: an admin every mailbox of the tenant (the team's and each person's); a rep only their own
(owner fixed to themselves). Secrets are sealed with ``secret_box`` on the way in and never handed back: an
empty password on an edit keeps the stored one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from nurture_ui import activity
from nurture_ui.extensions import db
from nurture_ui.mail.connections import MailboxConnectionError, check_imap, check_smtp
from nurture_ui.models import InboundMail, Mailbox, User
from nurture_ui.secret_box import SecretUnreadable, open_sealed, seal

# The columns a form may set (secrets and the read position are not among them).
EDITABLE = (
    "address",
    "display_name",
    "user_id",
    "enabled",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_username",
    "imap_folder",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "daily_send_limit",
    "min_spacing_seconds",
)


class MailboxRefused(ValueError):
    """A change that cannot be saved, naming the form field it is about."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ConnectionCheck:
    """One server's answer to "Test connection": ``ok`` and a sentence a person can act on."""

    server: str  # "IMAP" | "SMTP"
    ok: bool
    message: str


def manages_all(user: User) -> bool:
    """Admins manage every mailbox of their tenant; everyone else (reps) only their own."""
    return user.role == "admin"


def visible_mailboxes(user: User) -> sa.Select:
    """The mailboxes ``user`` may see and change: the tenant's for an admin, their own for a rep."""
    query = sa.select(Mailbox).where(Mailbox.tenant_id == user.tenant_id)
    if not manages_all(user):
        query = query.where(Mailbox.user_id == user.id)
    return query.order_by(Mailbox.user_id.is_not(None), Mailbox.address)


def mailbox_for(user: User, mailbox_id: uuid.UUID | None) -> Mailbox | None:
    """The mailbox with this id if ``user`` may manage it; None otherwise (the door answers 404)."""
    if mailbox_id is None:
        return None
    return db.session.scalar(visible_mailboxes(user).where(Mailbox.id == mailbox_id))


def latest_inbound(user: User, limit: int = 20) -> list[InboundMail]:
    """The newest mail that reached the tenant (an admin), or reached the rep's own mailboxes."""
    query = sa.select(InboundMail).where(InboundMail.tenant_id == user.tenant_id)
    if not manages_all(user):
        own = sa.select(Mailbox.id).where(Mailbox.tenant_id == user.tenant_id, Mailbox.user_id == user.id)
        query = query.where(InboundMail.mailbox_id.in_(own))
    return list(db.session.scalars(query.order_by(InboundMail.received_at.desc()).limit(limit)))


def save_mailbox(
    mailbox: Mailbox | None,
    values: dict,
    *,
    tenant_id: uuid.UUID,
    imap_password: str | None,
    smtp_password: str | None,
    actor_id: uuid.UUID | None = None,
) -> Mailbox:
    """Create (``mailbox`` None) or change a mailbox of ``tenant_id`` and commit, with a ``mailbox_connected``
    or ``mailbox_changed`` activity naming the person and the fields (never a secret). A blank password keeps
    the stored one; a new one is sealed. Refuses (``MailboxRefused``) an address the tenant already has, and
    a new mailbox without an IMAP password."""
    address = values["address"]
    clash = sa.select(Mailbox.id).where(Mailbox.tenant_id == tenant_id, Mailbox.address == address)
    if mailbox is not None:
        clash = clash.where(Mailbox.id != mailbox.id)
    if db.session.scalar(clash) is not None:
        raise MailboxRefused("address", "This address is already connected as another mailbox.")
    if mailbox is None:
        if not imap_password:
            raise MailboxRefused("imap_password", "Enter the mailbox's password (or app password).")
        mailbox = Mailbox(id=uuid.uuid4(), tenant_id=tenant_id)
        db.session.add(mailbox)
        changed = list(EDITABLE)
    else:
        changed = [name for name in EDITABLE if getattr(mailbox, name) != values[name]]
    for name in EDITABLE:
        setattr(mailbox, name, values[name])
    if imap_password:
        mailbox.imap_secret = seal(imap_password)
        changed.append("imap_password")
    if smtp_password:
        mailbox.smtp_secret = seal(smtp_password)
        changed.append("smtp_password")
    if not mailbox.smtp_host:
        mailbox.smtp_secret = ""  # the app's SMTP carries this mailbox's mail: keep no unused secret
    if changed:
        activity.record(
            "mailbox_connected"
            if "address" in changed and len(changed) >= len(EDITABLE)
            else "mailbox_changed",
            tenant_id=tenant_id,
            actor_id=actor_id,
            data={"mailbox": str(mailbox.id), "address": mailbox.address, "fields": changed},
        )
    try:
        db.session.commit()
    except IntegrityError as error:  # the same address saved by someone else a moment ago
        db.session.rollback()
        raise MailboxRefused("address", "This address is already connected as another mailbox.") from error
    return mailbox


def delete_mailbox(mailbox: Mailbox, *, actor_id: uuid.UUID | None = None) -> None:
    """Remove the mailbox and its secrets (mail already read stays, no longer tied to it), with a
    ``mailbox_removed`` activity naming the person; commits."""
    activity.record(
        "mailbox_removed",
        tenant_id=mailbox.tenant_id,
        actor_id=actor_id,
        data={"mailbox": str(mailbox.id), "address": mailbox.address},
    )
    db.session.delete(mailbox)
    db.session.commit()


def check_connection(
    values: dict, stored: Mailbox | None, imap_password: str | None, smtp_password: str | None
) -> list[ConnectionCheck]:
    """Sign in to the IMAP server (and the SMTP server when a host is set) with the typed settings; a blank
    password means the stored one. Never raises for a server problem: each answer says what went wrong."""
    checks = []
    try:
        password = imap_password or (open_sealed(stored.imap_secret) if stored else "")
        if not password:
            raise MailboxConnectionError("IMAP: enter the password to test the connection")
        note = check_imap(
            values["imap_host"],
            values["imap_port"],
            values["imap_security"],
            values["imap_username"],
            password,
            values["imap_folder"],
        )
        checks.append(ConnectionCheck("IMAP", True, note))
    except (MailboxConnectionError, SecretUnreadable) as error:
        checks.append(ConnectionCheck("IMAP", False, _prefixed("IMAP", error)))
    if values["smtp_host"]:
        try:
            password = smtp_password
            if not password and stored is not None and stored.smtp_host:
                password = open_sealed(stored.smtp_secret)
            note = check_smtp(
                values["smtp_host"],
                values["smtp_port"],
                values["smtp_security"],
                values["smtp_username"],
                password or "",
            )
            checks.append(ConnectionCheck("SMTP", True, note))
        except (MailboxConnectionError, SecretUnreadable) as error:
            checks.append(ConnectionCheck("SMTP", False, _prefixed("SMTP", error)))
    return checks


def _prefixed(server: str, error: Exception) -> str:
    text = str(error)
    return text if text.startswith(server + ":") else f"{server}: {text}"
