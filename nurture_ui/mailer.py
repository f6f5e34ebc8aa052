"""Send queued emails over SMTP, never twice, and sign the unsubscribe links they carry.

A message moves ``queued → sending → sent``. The move to ``sending`` is a conditional UPDATE committed before
the message goes to the server (for a small group of messages at a time, ``MAIL_CLAIM_GROUP``), so of two
send jobs holding the same message only one sends it. A message a crash left
in ``sending`` may or may not have reached the server: it becomes ``unknown`` for a person to look at and is
never resent automatically. Transient SMTP failures put the message back to ``queued`` and the dispatcher's
sweep retries it after a growing delay; permanent ones mark it ``failed``.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import logging
import re
import smtplib
import threading
import uuid
from collections.abc import Sequence as Seq
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from nurture_ui import activity, clock
from nurture_ui.extensions import db
from nurture_ui.mail import headers
from nurture_ui.mail.dkim_keys import DkimKeyError, TenantSigners
from nurture_ui.mail.headers import BadAddress, parse_mailbox
from nurture_ui.mail.reply_tokens import reply_address
from nurture_ui.mail.smtp_open import SmtpSetupError, open_smtp
from nurture_ui.models import Activity, Lead, OutboundMessage

log = logging.getLogger(__name__)

_UNSUBSCRIBE_SALT = "nurture-unsubscribe"


# --- unsubscribe links -------------------------------------------------------------------------------


def unsubscribe_token(lead_id: uuid.UUID) -> str:
    """A token naming the lead, signed with SECRET_KEY: it cannot be forged for another lead."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT).dumps(str(lead_id))


def lead_id_from_token(token: str) -> uuid.UUID | None:
    """The lead a token names, or None when it is not one we signed."""
    try:
        value = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT).loads(token)
        return uuid.UUID(value)
    except (BadSignature, ValueError, TypeError):
        return None


def unsubscribe_url(lead_id: uuid.UUID) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/u/{unsubscribe_token(lead_id)}"


# --- composing ---------------------------------------------------------------------------------------


def new_message_id() -> str:
    """A fresh RFC 5322 Message-ID in the sender's domain; fixed on the message when it is created."""
    domain = sender_identity(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "nurture.invalid"
    return make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)


class UnsendableMessage(ValueError):
    """A message whose headers cannot be written safely (a recipient with line breaks, not one address)."""


class BadSender(ValueError):
    """A sender (``MAIL_FROM``, a mailbox's address) that is not one email address: the configuration's
    fault, not the lead's, so the message waits (a transient failure shown in the outbox) until it is fixed."""


_CONTROL = dict.fromkeys(range(32), " ") | {127: " "}


def header_text(value: str) -> str:
    """A header value on one line: CR, LF and other control characters become spaces, runs collapse.
    A subject cannot smuggle in a second header (``Bcc: …``) however it was written or edited."""
    return " ".join((value or "").translate(_CONTROL).split())


def recipient_address(value: str) -> str:
    """The one plain address a message goes to; raises ``UnsendableMessage`` for anything else
    (line breaks, control characters, several addresses, a display name smuggling one in)."""
    address = (value or "").strip()
    if not address or any(ord(ch) < 32 or ord(ch) == 127 for ch in address):
        raise UnsendableMessage(f"the recipient {value!r} contains control characters")
    name, parsed = parseaddr(address)
    if name or parsed != address or parsed.count("@") != 1 or any(c in parsed for c in ',;<>" '):
        raise UnsendableMessage(f"the recipient {value!r} is not one plain email address")
    return parsed


@dataclass(frozen=True)
class WireEmail:
    """An email as it goes to the SMTP server: envelope sender and recipient, and the message's bytes."""

    sender: str
    recipient: str
    data: bytes

    @property
    def needs_smtputf8(self) -> bool:
        return not (self.sender.isascii() and self.recipient.isascii())


TEST_SUBJECT_PREFIX = "[Test] "
TEST_HEADER = "X-Nurture-Test"


def wire_email(
    message, *, now: datetime, sender: tuple[str, str] | None = None, test: bool = False
) -> WireEmail:
    """The email for an outbox row, as bytes: its stable Message-ID, the one-click unsubscribe headers and
    link, a UTF-8 plain-text body; In-Reply-To and References when it follows up in the thread of an earlier
    email (``message.in_reply_to``, ``message.thread_references``).

    ``sender`` is the (display name, address) the email goes out From, None for the app's ``MAIL_FROM``; the
    envelope sender is that address, and ``Reply-To`` is that address plus-tagged with a signed token naming
    this outbox row (``reply_tokens.reply_address``), so a reply whose client dropped In-Reply-To still
    finds its email. ``To`` carries the lead's name (``message.first_name``/``last_name`` when the row has
    them, else ``message.lead``'s). Names are quoted or RFC 2047 encoded, folds are CRLF (``mail.headers``).

    Written out directly (CRLF lines; encoded words for headers that are not ASCII; quoted-printable for a
    body that is not 7-bit ASCII in short lines) instead of through ``email.message.EmailMessage``, whose
    header registry costs milliseconds a message: at the engine's rate that was most of a core. Header
    values are neutralised (``header_text``) or refused (``recipient_address``): no header injection.

    ``test=True`` writes a test of the email to the person writing it (``message.to_email`` is theirs): the
    subject starts with ``[Test] ``, an ``X-Nurture-Test: yes`` header marks it, and it carries no
    unsubscribe link or headers (the lead's link would unsubscribe the lead).
    """
    config = current_app.config
    from_header, sender_address = _from(sender) if sender else _app_sender(config["MAIL_FROM"])
    recipient = recipient_address(message.to_email)
    if test:
        link = None
        footer = "This is a test. The lead's email ends with their unsubscribe link here."
    else:
        link = unsubscribe_url(message.lead_id)
        footer = f"To stop receiving these emails, unsubscribe: {link}"
    body = f"{message.body.rstrip()}\n\n--\n{footer}\n"
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if body.isascii() and all(len(line) <= 998 for line in body.split("\n")):
        encoding, payload = "7bit", body.encode("ascii")
    else:
        encoding, payload = "quoted-printable", binascii.b2a_qp(body.encode("utf-8"), istext=True)
    subject = (TEST_SUBJECT_PREFIX if test else "") + header_text(message.subject)
    fields = (
        ("From", from_header),
        ("To", _to(_lead_name(message), recipient)),
        # An email not yet in the outbox (a preview, a test) has no row to name.
        ("Reply-To", reply_address(sender_address, message.id) if message.id else sender_address),
        ("Subject", headers.unstructured("Subject", subject)),
        ("Message-ID", header_text(message.message_id)),
        *_thread_fields(message),
        ("Date", format_datetime(now)),
        # RFC 8058: a mail client may unsubscribe with one POST to this URL, without opening a page.
        *(
            (("List-Unsubscribe", f"<{link}>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
            if link
            else ((TEST_HEADER, "yes"),)
        ),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", encoding),
    )
    head = "".join(f"{name}: {value}\r\n" for name, value in fields)
    data = head.encode("utf-8") + b"\r\n" + payload.replace(b"\n", b"\r\n")
    return WireEmail(sender=sender_address, recipient=recipient, data=data)


def _thread_fields(message) -> tuple[tuple[str, str], ...]:
    """In-Reply-To and References of a follow-up in the same thread (none for an email of its own): the
    lead's client shows the two as one conversation. References folds between its Message-IDs."""
    in_reply_to = header_text(getattr(message, "in_reply_to", None) or "")
    if not in_reply_to:
        return ()
    references = header_text(getattr(message, "thread_references", None) or "").split() or [in_reply_to]
    return (("In-Reply-To", in_reply_to), ("References", headers.fold("References", references)))


def sender_identity(mail_from: str) -> tuple[str, str]:
    """(display name, address) of ``MAIL_FROM``-style text (``Acme, Inc. <n@acme.test>``, a quoted name, or
    a bare address); raises ``BadSender`` naming the text when it is not one address."""
    try:
        return parse_mailbox(mail_from)
    except BadAddress as error:
        raise BadSender(f"the sender {error}") from error


@functools.lru_cache(maxsize=256)
def _from(sender: tuple[str, str]) -> tuple[str, str]:
    """The From header and the envelope sender for a (display name, address): the same for each of its
    messages, so written once."""
    name, address = sender
    _, address = sender_identity(address)  # one plain address, whatever the caller passed
    return headers.mailbox("From", header_text(name), address), address


@functools.lru_cache(maxsize=8)
def _app_sender(mail_from: str) -> tuple[str, str]:
    return _from(sender_identity(mail_from))


def _to(display_name: str, address: str) -> str:
    """The To header: the lead's name (quoted or encoded as needed) and their validated address."""
    name = header_text(display_name)
    if not name:
        return address
    return headers.mailbox("To", name, address)


def _lead_name(message) -> str:
    """The lead's name: from the row when the send loop read it with the lead's names, else from the
    outbox row's lead (a preview); empty when neither is there."""
    person = message if hasattr(message, "first_name") else getattr(message, "lead", None)
    if person is None:
        return ""
    return f"{person.first_name or ''} {person.last_name or ''}"


def compose_email(message, *, now: datetime) -> EmailMessage:
    """``wire_email`` read back as an ``EmailMessage``: what a mail client makes of the bytes we send."""
    return message_from_bytes(wire_email(message, now=now).data, policy=policy.default)


# --- sending -----------------------------------------------------------------------------------------


class _PermanentFailure(Exception):
    def __init__(self, text: str, *, bad_address: bool = False):
        super().__init__(text)
        self.bad_address = bad_address


class _TransientFailure(Exception):
    pass


class SmtpConnection:
    """One SMTP session reused across a batch; opened on first use, reopened once if the server dropped it.

    ``config`` is a mapping with the app config's SMTP keys (``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_SECURITY``,
    ``SMTP_USERNAME``, ``SMTP_PASSWORD``, ``SMTP_CA_FILE``, ``SMTP_TLS_VERIFY``): see ``mail.smtp_open``.

    With a server that offers PIPELINING (RFC 2920), ``send(email, following=next_email)`` writes the next
    email's MAIL, RCPT and DATA right after this one's content, so each message costs one round trip.
    """

    def __init__(self, config):
        self.config = config
        self.smtp: smtplib.SMTP | None = None
        # The email whose MAIL, RCPT and DATA went out after the previous content, replies not yet read.
        self._ahead: WireEmail | None = None
        self._setup_error: SmtpSetupError | None = None

    def _open(self) -> smtplib.SMTP:
        return open_smtp(self.config)

    def send(self, email: WireEmail, *, following: WireEmail | None = None) -> None:
        if self._setup_error is not None:
            raise _TransientFailure(str(self._setup_error))
        try:
            if self._ahead is not None and self._ahead is not email:
                # A transaction opened for another email: dropping the connection abandons it (nothing is
                # delivered without the content's final dot).
                self.close()
            if self.smtp is None:
                self.smtp = self._open()
            if self.smtp.has_extn("pipelining"):
                self._send_pipelined(email, following)
                refused = {}
            else:
                options = ["SMTPUTF8"] if email.needs_smtputf8 else []
                refused = self.smtp.sendmail(
                    email.sender, [email.recipient], email.data, mail_options=options
                )
        except SmtpSetupError as error:
            # The configuration's fault (a certificate, credentials): the message waits, the log says why,
            # and the rest of this job's messages wait too without trying again (a fix takes a person).
            self.close()
            self._setup_error = error
            log.warning("SMTP: %s", error)
            raise _TransientFailure(str(error)) from error
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise (
                _PermanentFailure(f"{code} {text!r}", bad_address=True)
                if code >= 500
                else _TransientFailure(f"{code} {text!r}")
            ) from error
        except smtplib.SMTPResponseException as error:
            self.close()
            text = f"{error.smtp_code} {error.smtp_error!r}"
            raise (_PermanentFailure(text) if error.smtp_code >= 500 else _TransientFailure(text)) from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise _TransientFailure(f"{error.__class__.__name__}: {error}") from error
        if refused:
            raise _PermanentFailure(f"refused: {refused}", bad_address=True)

    def _send_pipelined(self, email: WireEmail, following: WireEmail | None) -> None:
        """One message with RFC 2920 pipelining: MAIL, RCPT and DATA in one write (unless they went out
        after the previous message), then the content and the next message's MAIL, RCPT and DATA in
        another. Raises what ``smtplib.SMTP.sendmail`` raises for the same replies."""
        smtp = self.smtp
        if self._ahead is None:
            smtp.send(_envelope(email))
        self._ahead = None
        mail, rcpt, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            smtp.send(b".\r\n")  # a server that opened DATA anyway is given an empty message, then reset
            smtp.getreply()
        if mail[0] != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], email.sender)
        if rcpt[0] not in (250, 251):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused({email.recipient: rcpt})
        if data[0] != 354:
            smtp.rset()
            raise smtplib.SMTPDataError(*data)
        content = _LEADING_DOT.sub(b"..", email.data)
        if not content.endswith(b"\r\n"):
            content += b"\r\n"
        if following is not None:
            self._ahead = following
            smtp.send(content + b".\r\n" + _envelope(following))
        else:
            smtp.send(content + b".\r\n")
        code, text = smtp.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, text)

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                if self._ahead is None:
                    self.smtp.quit()
                else:
                    # The server may be waiting for content: a QUIT would be read as content. Hang up.
                    self.smtp.close()
            self.smtp = None
        self._ahead = None


_LEADING_DOT = re.compile(rb"(?m)^\.")


def deliver_now(email: WireEmail) -> str | None:
    """Send one email through the app's SMTP server right away (not through the outbox); None when the
    server accepted it, else why not, for a person to read. Nothing is recorded or retried."""
    connection = SmtpConnection(current_app.config)
    try:
        connection.send(email)
    except (_PermanentFailure, _TransientFailure) as error:
        return str(error)
    finally:
        connection.close()
    return None


def _envelope(email: WireEmail) -> bytes:
    """MAIL, RCPT and DATA for one message, written at once (PIPELINING)."""
    option = " SMTPUTF8" if email.needs_smtputf8 else ""
    return f"MAIL FROM:<{email.sender}>{option}\r\nRCPT TO:<{email.recipient}>\r\nDATA\r\n".encode()


@dataclass
class SendReport:
    sent: list[uuid.UUID] = field(default_factory=list)
    retrying: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    cancelled: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    # Still queued, held back until the frequency cap, or the mailbox's spacing or daily limit, lets them go.
    held: list[uuid.UUID] = field(default_factory=list)


def send_messages(message_ids: Seq[uuid.UUID], now: datetime | None = None) -> SendReport:
    """Send each ``queued`` message once, over ``MAIL_SMTP_CONNECTIONS`` SMTP connections per server (one
    unless set; see ``_send_lanes``).

    Messages are claimed a small group at a time (``MAIL_CLAIM_GROUP``). Right before its claim, a group is
    checked again (``engine.presend.plan_group``: the one stop decision, for the whole group in one query):
    a message whose lead may no longer be mailed is ``cancelled``; one the frequency cap, or its mailbox's
    spacing or daily limit, does not let go yet stays ``queued``, held until it may (``send_after``); the rest
    go From their lead's owner's mailbox when the owner has one. The group's move to ``sending`` is committed
    with those decisions before any of it goes to the server, and the group's outcomes (``sent``, ``failed``,
    back to ``queued``) commit with the claim of the next group. One commit serves a whole group, and a
    crash at any point leaves at most one group in ``sending``: those messages become ``unknown`` for a
    person to look at and are never resent automatically. Messages in any other state are skipped (another
    job sent them, a person cancelled them).
    """
    from nurture_ui.engine.presend import apply_plan, plan_group

    replaying = now is not None
    now = now or clock.now()
    report = SendReport()
    ids = [uuid.UUID(str(i)) for i in message_ids]
    config = current_app.config
    max_attempts = int(config.get("MAIL_MAX_ATTEMPTS", 5))
    group_size = max(1, int(config.get("MAIL_CLAIM_GROUP", 20)))
    lanes = max(1, int(config.get("MAIL_SMTP_CONNECTIONS", 1)))
    connections: dict[tuple[uuid.UUID | None, int], SmtpConnection] = {}

    def connection_for(sender, lane: int) -> SmtpConnection:
        """The app's SMTP server, or the sender's mailbox's own when it has one: lane ``lane``'s connection."""
        key = sender.mailbox_id if sender is not None and sender.smtp else None
        if (key, lane) not in connections:
            connections[(key, lane)] = SmtpConnection(sender.smtp if key else config)
        return connections[(key, lane)]

    signers = TenantSigners()  # each tenant's DKIM key opened once for the whole job
    try:
        for start in range(0, len(ids), group_size):
            # The check's and the claim's own instant (not the job's start): the cap and a mailbox's spacing
            # are measured right before sending, and how long a claim has been in flight is read from here.
            at = now if replaying else clock.now()
            plan = plan_group(ids[start : start + group_size], at)
            apply_plan(plan, at)
            report.skipped.extend(plan.missing)
            report.cancelled.extend(row.id for row, _ in plan.cancelled)
            report.held.extend(row.id for row, _ in plan.held)
            senders = {row.id: sender for row, sender in plan.send}
            claimed = _claim([row.id for row, _ in plan.send], at)
            # Commits the decisions and the claim with the outcomes of the group before it.
            db.session.commit()
            sent, untried = [], [row for row, _ in plan.send if row.id in claimed]
            report.skipped.extend(row.id for row, _ in plan.send if row.id not in claimed)
            try:
                emails = {row.id: _wire_or_failure(row, now, senders[row.id], signers) for row in untried}
                outcomes, failure = _send_lanes(untried, emails, senders, connection_for, lanes)
                for row, error in outcomes:
                    if isinstance(error, _PermanentFailure):
                        _finish(row, now, "failed", error=str(error), bad_address=error.bad_address)
                        report.failed.append(row.id)
                    elif isinstance(error, _TransientFailure):
                        if row.attempts + 1 >= max_attempts:
                            error_text = f"gave up after {row.attempts + 1} attempts: {error}"
                            _finish(row, now, "failed", error=error_text)
                            report.failed.append(row.id)
                        else:
                            # Back to the outbox for a later try: recorded, so a person sees why it waits.
                            deferred = "message_deferred"
                            _finish(row, now, "queued", error=str(error), activity_type=deferred)
                            report.retrying.append(row.id)
                    else:
                        sent.append(row)
                        report.sent.append(row.id)
                if failure is not None:
                    raise failure
            finally:
                # Also when something unexpected stops the loop: what was accepted is recorded, and what
                # never went to the server goes back to the outbox (the message in flight stays `sending`).
                _finish_sent(sent, now)
                _release([row.id for row in untried])
    finally:
        try:
            db.session.commit()  # the last group's outcomes
        finally:
            close_in_background(list(connections.values()))
    return report


def close_in_background(connections: list[SmtpConnection]) -> None:
    """Say QUIT on each connection, and wait for the server's goodbye, in a thread of its own: the job does not
    wait for it. Nothing recorded depends on that answer (every message's outcome was read before), and some
    servers are slow to give it: Debian's exim answers QUIT about 200 ms late (it corks its output), which was
    a fifth of the time of a send job of 200 messages through it. A process that exits first hangs up instead,
    after the last message's outcome, which is as harmless."""
    for connection in connections:
        if connection.smtp is None:
            continue
        threading.Thread(target=connection.close, name="smtp-quit", daemon=True).start()


def _send_lanes(
    untried: list, emails: dict, senders: dict, connection_for, lanes: int
) -> tuple[list, BaseException | None]:
    """Send a claimed group's emails over ``lanes`` parallel SMTP connections per server (``MAIL_SMTP_CONNECTIONS``:
    the k-th email goes over lane k mod ``lanes``, in order within a lane, each lane pipelining its own); returns
    the outcomes, (row, None when the server accepted it, else its ``_PermanentFailure`` or
    ``_TransientFailure``) in the rows' order, and the unexpected error that stopped a lane (None when none
    did). The caller records the outcomes (its database session stays in its own thread), then raises it.

    ``untried`` keeps only the rows no lane reached (the caller puts them back to ``queued``); a row in flight
    when its lane stopped has no outcome and stays ``sending``."""
    rows = list(untried)
    by_lane = [rows[lane::lanes] for lane in range(lanes)]
    results: dict[uuid.UUID, object] = {}
    reached: set[uuid.UUID] = set()

    def send_lane(lane: int) -> None:
        lane_rows = by_lane[lane]
        for index, row in enumerate(lane_rows):
            reached.add(row.id)  # from here on it may have reached the server
            email = emails[row.id]
            connection = connection_for(senders[row.id], lane)
            following_row = lane_rows[index + 1] if index + 1 < len(lane_rows) else None
            following = emails[following_row.id] if following_row is not None else None
            if (
                following_row is not None
                and connection_for(senders[following_row.id], lane) is not connection
            ):
                following = None
            try:
                if not isinstance(email, WireEmail):
                    raise email
                connection.send(email, following=following if isinstance(following, WireEmail) else None)
            except (_PermanentFailure, _TransientFailure) as error:
                results[row.id] = error
            else:
                results[row.id] = None

    failure: BaseException | None = None
    if lanes == 1 or len(rows) <= 1:
        try:
            for lane in range(lanes):
                send_lane(lane)
        except Exception as error:  # handed back: the caller records what went first, then raises it
            failure = error
    else:
        # Connections for every lane are made here, in this thread, so the dict is only read by the lanes.
        for lane in range(lanes):
            for row in by_lane[lane]:
                connection_for(senders[row.id], lane)
        with ThreadPoolExecutor(max_workers=lanes) as pool:
            for future in [pool.submit(send_lane, lane) for lane in range(lanes)]:
                error = future.exception()
                if error is not None and failure is None:
                    failure = error
    untried[:] = [row for row in rows if row.id not in reached]
    return [(row, results[row.id]) for row in rows if row.id in results], failure


def _wire_or_failure(
    row, now: datetime, sender, signers: TenantSigners
) -> WireEmail | _PermanentFailure | _TransientFailure:
    """The row's email (From ``sender``'s mailbox, else ``MAIL_FROM``), DKIM-signed when its tenant set a
    key, or the failure of a message that cannot be written: permanent for a bad recipient, transient for a
    bad sender or an unreadable DKIM key (the configuration is fixed, then it goes)."""
    try:
        email = wire_email(row, now=now, sender=sender.identity if sender is not None else None)
        signer = signers.for_tenant(row.tenant_id)
    except UnsendableMessage as error:
        return _PermanentFailure(str(error), bad_address=True)
    except (BadSender, DkimKeyError) as error:
        return _TransientFailure(str(error))
    if signer is None:
        return email
    return WireEmail(sender=email.sender, recipient=email.recipient, data=signer.sign(email.data))


def _claim(message_ids: list[uuid.UUID], claimed_at: datetime) -> set[uuid.UUID]:
    """Move the still ``queued`` of these messages to ``sending`` (not committed); returns the ones moved."""
    if not message_ids:
        return set()
    table = OutboundMessage.__table__
    moved = db.session.connection().execute(
        sa.update(table)
        .where(table.c.id.in_(message_ids), table.c.status == "queued")
        .values(status="sending", attempts=table.c.attempts + 1, updated_at=claimed_at, send_after=None)
        .returning(table.c.id)
    )
    return {uuid.UUID(str(i)) for i in moved.scalars()}


def _release(message_ids: list[uuid.UUID]) -> None:
    """Put claimed messages that never went to the server back to ``queued`` (not committed)."""
    if not message_ids:
        return
    table = OutboundMessage.__table__
    db.session.connection().execute(
        sa.update(table)
        .where(table.c.id.in_(message_ids), table.c.status == "sending")
        .values(status="queued", attempts=table.c.attempts - 1)
    )


# ``_finish_sent`` on PostgreSQL: the messages moved and their activities written in one statement.
_FINISH_SENT_POSTGRESQL = sa.text(
    """
    WITH moved AS (
        UPDATE outbound_messages
        SET status = 'sent', sent_at = :now, updated_at = :now, error = NULL
        WHERE id = ANY(:ids) AND status = 'sending'
        RETURNING id, tenant_id, lead_id, enrollment_id, sequence_id, step_order
    )
    INSERT INTO activities (id, tenant_id, type, lead_id, enrollment_id, sequence_id, occurred_at, data)
    SELECT gen_random_uuid(), tenant_id, 'message_sent', lead_id, enrollment_id, sequence_id, :now,
           jsonb_build_object('step', step_order, 'message', id::text)
    FROM moved
    """
)


def _finish_sent(rows: list, now: datetime) -> None:
    """Mark messages the server accepted ``sent``, with their ``message_sent`` activities (not committed)."""
    if not rows:
        return
    table = OutboundMessage.__table__
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_FINISH_SENT_POSTGRESQL, {"ids": [row.id for row in rows], "now": now})
        return
    moved = connection.execute(
        sa.update(table)
        .where(table.c.id.in_([row.id for row in rows]), table.c.status == "sending")
        .values(status="sent", sent_at=now, updated_at=now, error=None)
        .returning(table.c.id)
    )
    moved = {uuid.UUID(str(i)) for i in moved.scalars()}
    logged = [_message_activity(row, "message_sent", now) for row in rows if row.id in moved]
    if logged:
        connection.execute(_LOG, logged)


_MESSAGES = OutboundMessage.__table__
# Built once: the send loop runs these often, and building a statement costs more than running it.
_MOVE = sa.update(_MESSAGES).where(
    _MESSAGES.c.id == sa.bindparam("the_id"), _MESSAGES.c.status == sa.bindparam("expected")
)
_LOG = sa.insert(Activity.__table__)


def _finish(
    row, now, status, *, expected="sending", error=None, bad_address=False, activity_type=None
) -> None:
    """Move a message from ``expected`` to ``status`` with its activity (not committed: it goes with the send
    loop's next commit)."""
    connection = db.session.connection()
    values = {"status": status, "updated_at": now, "error": error}
    changed = connection.execute(_MOVE.values(**values), {"the_id": row.id, "expected": expected}).rowcount
    if changed and bad_address:
        connection.execute(
            sa.update(Lead.__table__).where(Lead.__table__.c.id == row.lead_id).values(undeliverable=True)
        )
    if changed:
        connection.execute(
            _LOG, _message_activity(row, activity_type or f"message_{status}", now, error=error)
        )


def _message_activity(row, kind: str, now: datetime, *, error: str | None = None) -> dict:
    """The activity row recording what happened to a message (for ``_LOG``)."""
    return {
        "id": uuid.uuid4(),
        "type": kind,
        "tenant_id": row.tenant_id,
        "lead_id": row.lead_id,
        "enrollment_id": row.enrollment_id,
        "sequence_id": row.sequence_id,
        "actor_id": None,
        "occurred_at": now,
        "data": {"step": row.step_order, "message": str(row.id), **({"error": error} if error else {})},
    }


# --- the outbox sweeps (run by every dispatcher tick) ------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """How long a message waits in ``queued`` before its next try: a lost job, then exponential backoff."""
    config = current_app.config
    if attempts <= 0:
        return timedelta(seconds=int(config.get("MAIL_REQUEUE_AFTER_SECONDS", 120)))
    base = int(config.get("MAIL_RETRY_BASE_SECONDS", 30))
    return timedelta(seconds=min(base * 2 ** (attempts - 1), 3600))


def requeue_stale_queued(now: datetime, *, explicit_now: datetime | None = None, limit: int = 1000) -> int:
    """Give a new send job to ``queued`` messages whose job was lost or whose retry delay has passed, and to
    held messages whose ``send_after`` has come (handed out once; a job lost after that is handed out again
    after the lost-job delay). A held message keeps its ``send_after`` until a send job claims it: its mailbox
    spaces new emails after the turns it reserved."""
    table = OutboundMessage.__table__
    shortest = min(retry_delay(0), retry_delay(1))
    candidates = db.session.execute(
        sa.select(table.c.id, table.c.tenant_id, table.c.attempts, table.c.updated_at)
        .where(
            table.c.status == "queued",
            table.c.send_after.is_(None),
            table.c.updated_at <= now - shortest,
        )
        .order_by(table.c.updated_at)
        .limit(limit)
    ).all()
    due = [row for row in candidates if row.updated_at + retry_delay(row.attempts) <= now]
    held = db.session.execute(
        sa.select(table.c.id, table.c.tenant_id, table.c.updated_at, table.c.send_after)
        .where(table.c.status == "queued", table.c.send_after.is_not(None), table.c.send_after <= now)
        .order_by(table.c.send_after)
        .limit(limit)
    ).all()
    due += [row for row in held if row.updated_at < row.send_after or row.updated_at + retry_delay(0) <= now]
    if due:
        # Touch them so the next tick does not hand them out again while this job waits in the queue.
        db.session.execute(
            sa.update(table)
            .where(table.c.id.in_([row.id for row in due]), table.c.status == "queued")
            .values(updated_at=now)
        )
    db.session.commit()
    if due:
        from nurture_ui.jobs import enqueue_send

        # Each tenant's emails in their own send jobs (a job works for one tenant: nurture_ui.job_tenancy).
        by_tenant: dict[uuid.UUID, list] = {}
        for row in due:
            by_tenant.setdefault(uuid.UUID(str(row.tenant_id)), []).append(row.id)
        for tenant_id, ids in by_tenant.items():
            enqueue_send(ids, explicit_now, tenant_id=tenant_id)
    return len(due)


def mark_stuck_sending_unknown(now: datetime) -> int:
    """Messages in ``sending`` for longer than any real send takes: a crash hid their fate. They become
    ``unknown`` and wait for a person; nothing resends them. The activity keeps when the send began
    (``sending_since``), so a person (or the chaos run) can match it to the outage that interrupted it."""
    table = OutboundMessage.__table__
    cutoff = now - timedelta(seconds=int(current_app.config.get("MAIL_SENDING_STUCK_SECONDS", 600)))
    candidates = {
        row.id: row
        for row in db.session.execute(
            sa.select(
                table.c.id,
                table.c.tenant_id,
                table.c.lead_id,
                table.c.enrollment_id,
                table.c.sequence_id,
                table.c.step_order,
                table.c.updated_at,
            )
            .where(table.c.status == "sending", table.c.send_after.is_(None), table.c.updated_at < cutoff)
            .limit(1000)
        )
    }
    if not candidates:
        db.session.commit()
        return 0
    # Conditional on the state read above: a sender that finished meanwhile keeps its outcome.
    stuck = db.session.scalars(
        sa.update(table)
        .where(table.c.id.in_(candidates), table.c.status == "sending", table.c.updated_at < cutoff)
        .values(
            status="unknown",
            updated_at=now,
            error="interrupted while sending: it may or may not have been delivered",
        )
        .returning(table.c.id)
    ).all()
    for message_id in stuck:
        row = candidates[message_id]
        activity.record(
            "message_unknown",
            tenant_id=row.tenant_id,
            lead_id=row.lead_id,
            enrollment_id=row.enrollment_id,
            sequence_id=row.sequence_id,
            occurred_at=now,
            data={
                "step": row.step_order,
                "message": str(row.id),
                "sending_since": row.updated_at.isoformat(),
            },
        )
    db.session.commit()
    return len(stuck)
