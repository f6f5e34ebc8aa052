"""Reading replies from connected mailboxes over IMAP: the inbound door's poller.

Each poll opens the mailbox's folder read-only (EXAMINE + BODY.PEEK: a person's mail stays unread),
reads the messages after the stored read position (UIDVALIDITY, last UID) in UID order, and hands each to
``nurture_ui.mail.receive.receive``; the read position advances in the same transaction, committed per
message, so a crash re-reads at most one message (recorded once: receive is idempotent by Message-ID) and
skips none. A changed UIDVALIDITY means the server renumbered the folder: reading starts over.

One poll per mailbox at a time, on any number of workers: a Redis lock per mailbox (taken without
waiting, extended while the poll runs, expiring by itself if the worker dies); the read position only
ever moves forward (a conditional UPDATE), so even a poll that outlived its lock cannot move it back.
"""

from __future__ import annotations

import imaplib
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nurture_ui import clock
from nurture_ui.extensions import db, get_redis
from nurture_ui.mail.connections import close_imap, describe_error, open_imap, select_read_only
from nurture_ui.models import Mailbox
from nurture_ui.secret_box import SecretUnreadable, open_sealed

log = logging.getLogger(__name__)

# Mail older than this before the mailbox was connected is not read on the first poll (or after the
# server renumbered the folder): a person's years of mail are not replies to our sequences.
FIRST_READ_LOOKBACK = timedelta(days=7)
# At most this many messages per poll; the next poll goes on from there (a poll ends, its lock frees).
MAX_MESSAGES_PER_POLL = 1000
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "[^"]+"')


class MessageNotRecorded(RuntimeError):
    """A message the core could not record; the poll stops before it (its UID is in the message)."""


@dataclass
class PollReport:
    """What one poll did. ``status``: read | busy (another worker holds it) | disabled | missing | error."""

    mailbox_id: uuid.UUID
    status: str
    read: int = 0
    uidvalidity_reset: bool = False
    last_uid: int = 0
    error: str | None = None


def poll_mailbox(mailbox_id: uuid.UUID) -> PollReport:
    """Read what arrived in the mailbox since the last poll and record it; never raises for a mailbox
    problem (the error is kept on the mailbox and returned), so the caller goes on to the next one."""
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return PollReport(mailbox_id, "missing")
    if not mailbox.enabled or not mailbox.imap_host:
        db.session.rollback()
        return PollReport(mailbox_id, "disabled")
    lock = _mailbox_lock(mailbox_id)
    if not lock.acquire(blocking=False):
        db.session.rollback()
        return PollReport(mailbox_id, "busy")
    try:
        return _poll_locked(mailbox, lock)
    finally:
        try:
            lock.release()
        except Exception:  # expired meanwhile: nothing to release
            log.warning("the poll lock of mailbox %s had expired before the poll ended", mailbox_id)


def due_mailbox_ids() -> list[uuid.UUID]:
    """Enabled mailboxes with an IMAP server, least recently polled first."""
    return list(
        db.session.scalars(
            sa.select(Mailbox.id)
            .where(Mailbox.enabled.is_(True), Mailbox.imap_host != "")
            .order_by(Mailbox.last_polled_at.asc().nulls_first(), Mailbox.id)
        )
    )


def poll_due_mailboxes() -> list[PollReport]:
    """Poll every enabled mailbox once, one after another (a failing one does not stop the rest)."""
    ids = due_mailbox_ids()
    db.session.rollback()
    return [poll_mailbox(mailbox_id) for mailbox_id in ids]


def _mailbox_lock(mailbox_id: uuid.UUID):
    config = current_app.config
    return get_redis().lock(
        f"nurture:lock:mailbox:{config['RQ_QUEUE']}:{mailbox_id}",
        timeout=_lock_seconds(),
        blocking=False,
        thread_local=False,
    )


def _lock_seconds() -> int:
    return max(60, 4 * int(current_app.config.get("MAILBOX_TIMEOUT_SECONDS", 30)))


def _poll_locked(mailbox: Mailbox, lock) -> PollReport:
    config = current_app.config
    timeout = float(config.get("MAILBOX_TIMEOUT_SECONDS", 30))
    batch = max(1, int(config.get("MAILBOX_FETCH_BATCH", 50)))
    mailbox_id, tenant_id = mailbox.id, mailbox.tenant_id
    host, port, folder = mailbox.imap_host, mailbox.imap_port, mailbox.imap_folder or "INBOX"
    report = PollReport(mailbox_id, "read", last_uid=mailbox.last_uid)
    started = clock.now()
    client = None
    try:
        password = open_sealed(mailbox.imap_secret)
        security, username = mailbox.imap_security, mailbox.imap_username
        stored_validity, last_uid = mailbox.uidvalidity, mailbox.last_uid
        connected_at = mailbox.created_at or started
        db.session.rollback()  # no transaction held open while talking to the server

        client = open_imap(host, port, security, username, password, timeout=timeout)
        validity, _count = select_read_only(client, folder)
        if stored_validity != validity:
            report.uidvalidity_reset = stored_validity is not None
            last_uid = _first_read_position(client, connected_at)
            _reset_position(mailbox_id, validity, last_uid)
        uids = [uid for uid in _uids_after(client, last_uid) if uid > last_uid][:MAX_MESSAGES_PER_POLL]
        for start in range(0, len(uids), batch):
            for uid, raw, received_at in _fetch(client, uids[start : start + batch]):
                _record(raw, uid, tenant_id, mailbox_id, validity, received_at)
                report.read += 1
                report.last_uid = uid
            lock.extend(_lock_seconds(), replace_ttl=True)
        _finish(mailbox_id, started, error=None)
    except Exception as error:
        db.session.rollback()
        message = describe_error(error, host, port, timeout)
        if isinstance(error, (SecretUnreadable, MessageNotRecorded)):
            message = str(error)
        log.warning("polling mailbox %s failed: %s", mailbox_id, message, exc_info=not _expected(error))
        _finish(mailbox_id, started, error=message)
        report.status, report.error = "error", message
    finally:
        if client is not None:
            close_imap(client)
    return report


def _expected(error: Exception) -> bool:
    """Server trouble (logged in one line), as opposed to a bug here (logged with its traceback)."""
    return isinstance(error, (OSError, imaplib.IMAP4.error, SecretUnreadable))


def _first_read_position(client: imaplib.IMAP4, connected_at: datetime) -> int:
    """The UID before the first message to read when the position is unknown: mail from a week before the
    mailbox was connected onwards."""
    since = (connected_at - FIRST_READ_LOOKBACK).strftime("%d-%b-%Y")
    status, data = client.uid("SEARCH", None, "SINCE", since)
    if status != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH SINCE failed: {data!r}")
    uids = [int(uid) for uid in (data[0] or b"").split()]
    return min(uids) - 1 if uids else _highest_uid(client)


def _highest_uid(client: imaplib.IMAP4) -> int:
    status, data = client.uid("SEARCH", None, "ALL")
    uids = [int(uid) for uid in (data[0] or b"").split()] if status == "OK" else []
    return max(uids, default=0)


def _uids_after(client: imaplib.IMAP4, last_uid: int) -> list[int]:
    # "UID n:*" always matches the highest message, even below n: the caller filters.
    status, data = client.uid("SEARCH", None, "UID", f"{last_uid + 1}:*")
    if status != "OK":
        raise imaplib.IMAP4.error(f"UID SEARCH failed: {data!r}")
    return sorted(int(uid) for uid in (data[0] or b"").split())


def _fetch(client: imaplib.IMAP4, uids: list[int]):
    """(uid, raw bytes, arrival time) per message, in UID order; BODY.PEEK leaves \\Seen alone."""
    status, data = client.uid("FETCH", ",".join(map(str, uids)), "(UID INTERNALDATE BODY.PEEK[])")
    if status != "OK":
        raise imaplib.IMAP4.error(f"UID FETCH failed: {data!r}")
    found = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, raw = item
        uid = _UID.search(head)
        if uid is None:
            continue
        found.append((int(uid.group(1)), raw, _arrival(head)))
    return sorted(found, key=lambda entry: entry[0])


def _arrival(head: bytes) -> datetime | None:
    match = _INTERNALDATE.search(head)
    parsed = imaplib.Internaldate2tuple(match.group(0)) if match else None
    return datetime.fromtimestamp(time.mktime(parsed), UTC) if parsed else None


def _record(raw: bytes, uid: int, tenant_id, mailbox_id, validity: int, received_at) -> None:
    """One message and the read position past it, in one transaction."""
    from nurture_ui.mail.receive import receive

    try:
        receive(raw, tenant_id=tenant_id, mailbox_id=mailbox_id, source="imap", received_at=received_at)
        db.session.execute(
            sa.update(Mailbox)
            .where(Mailbox.id == mailbox_id, Mailbox.uidvalidity == validity, Mailbox.last_uid < uid)
            .values(last_uid=uid)
        )
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        # The message stays unread (the position did not move): the next poll tries it again, and the
        # Settings page shows which one stops the mailbox rather than letting a reply be skipped.
        raise MessageNotRecorded(f"message UID {uid} could not be recorded: {error}") from error


def _reset_position(mailbox_id, validity: int, last_uid: int) -> None:
    db.session.execute(
        sa.update(Mailbox).where(Mailbox.id == mailbox_id).values(uidvalidity=validity, last_uid=last_uid)
    )
    db.session.commit()


def _finish(mailbox_id, started: datetime, *, error: str | None) -> None:
    db.session.execute(
        sa.update(Mailbox).where(Mailbox.id == mailbox_id).values(last_polled_at=started, last_error=error)
    )
    db.session.commit()
