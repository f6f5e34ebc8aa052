"""What a strict MTA asks of a message's bytes, checked on every message the test SMTP servers receive.

``problems(data)`` lists what is wrong (empty: well formed); ``strict_parse(data)`` raises on any of it.
"""

from __future__ import annotations

import re
from email import message_from_bytes, message_from_string, policy
from email.errors import NonASCIILocalPartDefect
from email.message import EmailMessage

BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")
ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
MAX_LINE_OCTETS = 998
MAX_ENCODED_WORD = 75


class MalformedMessage(AssertionError):
    pass


def problems(data: bytes) -> list[str]:
    """Everything a strict reader would object to in a message's bytes (empty when there is nothing)."""
    found = []
    for bare in BARE_CR_OR_LF.finditer(data):
        context = data[max(0, bare.start() - 30) : bare.end() + 10]
        kind = "CR" if bare.group() == b"\r" else "LF"
        found.append(f"bare {kind} at octet {bare.start()}: {context!r}")
    for number, line in enumerate(data.split(b"\r\n"), 1):
        if len(line) > MAX_LINE_OCTETS:
            found.append(f"line {number} is {len(line)} octets long (at most {MAX_LINE_OCTETS})")
    head = data.split(b"\r\n\r\n", 1)[0]
    for word in ENCODED_WORD.finditer(head):
        if len(word.group()) > MAX_ENCODED_WORD:
            found.append(f"encoded word of {len(word.group())} characters: {word.group()!r}")
    try:
        message = _parse(data)
    except Exception as error:  # noqa: BLE001 - every way the strict parse fails is a finding
        return [*found, f"the strict parse failed: {error.__class__.__name__}: {error}"]
    found.extend(f"message defect: {defect!r}" for defect in message.defects)
    for name, value in message.items():
        for defect in getattr(value, "defects", ()):
            # RFC 6532: an SMTPUTF8 message may have a UTF-8 local part; Python reports that as a defect.
            if not isinstance(defect, NonASCIILocalPartDefect):
                found.append(f"{name}: {defect!r} in {str(value)!r}")
    if not message.is_multipart():
        try:
            message.get_content()
        except Exception as error:  # noqa: BLE001
            found.append(f"the body cannot be decoded: {error}")
    return found


def strict_parse(data: bytes) -> EmailMessage:
    """The message parsed with ``email.policy.strict``; raises ``MalformedMessage`` listing its problems."""
    found = problems(data)
    if found:
        raise MalformedMessage("malformed message:\n  " + "\n  ".join(found))
    return _parse(data)


def _parse(data: bytes) -> EmailMessage:
    head = data.split(b"\r\n\r\n", 1)[0]
    if head.isascii():
        return message_from_bytes(data, policy=policy.strict)
    # UTF-8 headers (RFC 6532, sent with SMTPUTF8): Python's bytes parser reads only ASCII headers.
    return message_from_string(data.decode("utf-8"), policy=policy.strict)
