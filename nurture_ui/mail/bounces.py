"""Delivery failure reports: RFC 3464 ``multipart/report`` and the common forms that are not.

A report's status decides its kind — ``5.x.x`` hard (the address will never take mail), ``4.x.x`` soft
(mailbox full, greylisted: try again) — and a notice that delivery is only delayed is no bounce at all.
The email that bounced is found by the Message-ID of the original quoted in the report.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses

from nurture_ui.mail.parse import ParsedMail, header_text, header_values, message_ids, part_text

_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounces?)@", re.IGNORECASE)
_FAILURE_SUBJECT = re.compile(
    r"mail delivery failed|undeliver(?:ed|able)|delivery status notification|returned mail"
    r"|delivery (?:has )?failed|failure notice|non[- ]?delivery|unzustellbar|nicht zustellbar"
    r"|non remis|no se puede entregar",
    re.IGNORECASE,
)
_DELAY_SUBJECT = re.compile(r"\(delay\)|delayed|warning: message|verz[öo]gert", re.IGNORECASE)
_DAEMON_TEXT = re.compile(
    r"created automatically by mail delivery software|could not be delivered to one or more"
    r"|delivery to the following recipient|your message (?:couldn'?t|could not|wasn'?t|was not) (?:be )?delivered"
    r"|I'm sorry to have to inform you",
    re.IGNORECASE,
)
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<!\d)([45])\d\d(?=[\s-])")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_RCPT = re.compile(r"RCPT TO:\s*<([^>]+)>", re.IGNORECASE)
_ORIGINAL_ID = re.compile(r"^\s*Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Bounce:
    """What a delivery report says. ``kind``: "hard", "soft", or None when delivery is only delayed."""

    kind: str | None
    status: str = ""
    action: str = ""
    diagnostic: str = ""
    form: str = "rfc3464"
    failed_recipients: list[str] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)
    # Addresses of the original email (its Reply-To carries our reply token).
    original_addresses: list[str] = field(default_factory=list)

    def detail(self) -> dict:
        return {
            "bounce": self.kind,
            "status": self.status,
            "action": self.action,
            "diagnostic": self.diagnostic[:500],
            "form": self.form,
            "failed_recipients": self.failed_recipients[:10],
            "original_message_id": self.original_message_ids[0] if self.original_message_ids else None,
        }


def read_bounce(parsed: ParsedMail) -> Bounce | None:
    """The delivery report ``parsed`` is, or None when it is not one."""
    message = parsed.message
    if message.get_content_type() == "multipart/report":
        report_type = (message.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            status_part = _first(message, "message/delivery-status")
            if status_part is not None:
                bounce = _from_delivery_status(status_part)
                if bounce is not None:
                    _add_original(bounce, message, parsed.text)
                    return bounce
    if _looks_like_daemon(parsed):
        bounce = _from_text(parsed)
        _add_original(bounce, message, parsed.text)
        return bounce
    return None


def _looks_like_daemon(parsed: ParsedMail) -> bool:
    from_daemon = bool(_DAEMON.match(parsed.from_address)) or "mailer-daemon" in parsed.from_name.lower()
    failure_subject = bool(_FAILURE_SUBJECT.search(parsed.subject) or _DELAY_SUBJECT.search(parsed.subject))
    if from_daemon and (failure_subject or _DAEMON_TEXT.search(parsed.text)):
        return True
    # Servers that send reports from an ordinary-looking address still say what they are.
    return bool(_FAILURE_SUBJECT.search(parsed.subject) and _DAEMON_TEXT.search(parsed.text))


# ---------------------------------------------------------------------------------------------------
# RFC 3464
# ---------------------------------------------------------------------------------------------------


def _from_delivery_status(part: Message) -> Bounce | None:
    recipients = _status_blocks(part)
    if not recipients:
        return None
    failed = [r for r in recipients if r.get("action", "").lower() == "failed"]
    chosen = failed[0] if failed else recipients[0]
    action = chosen.get("action", "").lower()
    status = _status_code(chosen.get("status", "")) or _status_code(chosen.get("diagnostic-code", ""))
    if action == "failed":
        kind = _kind(status) or "hard"
    elif action in ("delayed", "relayed", "delivered", "expanded"):
        kind = None
    else:
        kind = _kind(status)
    return Bounce(
        kind=kind,
        status=status,
        action=action,
        diagnostic=_strip_type(chosen.get("diagnostic-code", "")),
        failed_recipients=[
            _strip_type(r.get("final-recipient") or r.get("original-recipient", "")).lower()
            for r in (failed or recipients)
            if r.get("final-recipient") or r.get("original-recipient")
        ],
    )


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The per-recipient field blocks of a message/delivery-status part, lower-cased names."""
    blocks: list[dict[str, str]] = []
    payload = part.get_payload()
    if isinstance(payload, list):
        for block in payload:
            fields = {key.lower(): " ".join(str(value).split()) for key, value in block.items()}
            blocks.append(fields)
    else:
        text = part_text(part).replace("\r\n", "\n")
        for chunk in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in re.sub(r"\n[ \t]+", " ", chunk).split("\n"):
                name, colon, value = line.partition(":")
                if colon:
                    fields[name.strip().lower()] = value.strip()
            blocks.append(fields)
    return [b for b in blocks if "action" in b or "final-recipient" in b or "status" in b]


def _strip_type(value: str) -> str:
    """``rfc822; ann@x.com`` → ``ann@x.com``; ``smtp; 550 …`` → ``550 …``."""
    kind, semicolon, rest = value.partition(";")
    return (rest if semicolon and " " not in kind.strip() else value).strip()


# ---------------------------------------------------------------------------------------------------
# Reports that are not RFC 3464 (exim's, old Exchange's, …)
# ---------------------------------------------------------------------------------------------------


def _from_text(parsed: ParsedMail) -> Bounce:
    text = _report_text(parsed)
    status = _status_code(text)
    code_line = _line_with(text, status) if status else ""
    if not status and (smtp := _SMTP_CODE.search(text)):
        code_line = _line_with(text, smtp.group(0))
        status = f"{smtp.group(1)}.0.0"
    delayed = bool(_DELAY_SUBJECT.search(parsed.subject)) and not _FAILURE_SUBJECT.search(
        parsed.subject.replace("Delivery Status Notification", "")
    )
    # A failure report without a code (exim's "unrouteable address", a local "unknown user") is
    # permanent, as the report itself says.
    kind = None if delayed else _kind(status) or "hard"
    failed = _failed_recipients_in_text(parsed, text)
    return Bounce(
        kind=kind,
        status=status,
        action="delayed" if delayed else "failed",
        diagnostic=code_line or (_line_after(text, failed[0]) if failed else ""),
        form="text",
        failed_recipients=failed,
    )


def _report_text(parsed: ParsedMail) -> str:
    """The report's own words: its text before the copy of the original email."""
    text = parsed.text
    for marker in (
        "------ This is a copy of the message",
        "----- Original message -----",
        "Original message",
    ):
        position = text.find(marker)
        if position > 0:
            return text[:position]
    return text


def _failed_recipients_in_text(parsed: ParsedMail, text: str) -> list[str]:
    listed = [a.lower() for _, a in getaddresses(header_values(parsed.message, "X-Failed-Recipients")) if a]
    if listed:
        return listed
    found = [a.lower() for a in _RCPT.findall(text)]
    sender_side = {parsed.from_address, *(a.lower() for a in parsed.recipients)}
    found += [a.lower() for a in _ADDRESS.findall(text) if a.lower() not in sender_side]
    return list(dict.fromkeys(a for a in found if not _DAEMON.match(a)))


# ---------------------------------------------------------------------------------------------------
# Shared
# ---------------------------------------------------------------------------------------------------


def _add_original(bounce: Bounce, message: Message, text: str) -> None:
    """The original email's Message-ID and addresses, from its copy (message/rfc822), its headers
    (text/rfc822-headers), or, for a text report, the headers quoted in its text."""
    for part in message.walk():
        original = None
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            original = payload[0] if isinstance(payload, list) and payload else None
        elif part.get_content_type() == "text/rfc822-headers":
            original = email.message_from_string(part_text(part), policy=email.policy.default)
        if original is not None:
            bounce.original_message_ids += message_ids(header_text(original, "Message-ID"))
            for name in ("Reply-To", "From", "To"):
                bounce.original_addresses += [a for _, a in getaddresses(header_values(original, name)) if a]
    bounce.original_message_ids += _ORIGINAL_ID.findall(text)
    bounce.original_message_ids = list(dict.fromkeys(bounce.original_message_ids))
    if not bounce.original_addresses:
        bounce.original_addresses = [a for a in _ADDRESS.findall(text) if "+" in a]


def _first(message: Message, content_type: str) -> Message | None:
    return next((p for p in message.walk() if p.get_content_type() == content_type), None)


def _status_code(text: str) -> str:
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else ""


def _kind(status: str) -> str | None:
    return {"5": "hard", "4": "soft"}.get(status[:1])


def _line_with(text: str, needle: str) -> str:
    for line in text.splitlines():
        if needle in line:
            return " ".join(line.split())[:500]
    return ""


def _line_after(text: str, needle: str) -> str:
    """The line after the first one naming ``needle``: exim writes the reason under the address."""
    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines[:-1]):
        if needle in line.lower() and lines[index + 1]:
            return lines[index + 1][:500]
    return ""
