"""Reply tokens: a plus-address in ``Reply-To`` that names the email being answered.

A reply whose client dropped ``In-Reply-To`` and ``References`` still reaches ``local+r<token>@domain``;
the token is the outbox row's id and a short HMAC of it (SECRET_KEY), so it cannot be forged for another
email. Lower-case hex only: some servers fold the local part's case.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

from flask import current_app

_PREFIX = "r"
_MAC_LENGTH = 10
_TOKEN = re.compile(rf"\+{_PREFIX}([0-9a-f]{{32}})([0-9a-f]{{{_MAC_LENGTH}}})@", re.IGNORECASE)
_LOCAL_PART_LIMIT = 64  # RFC 5321


def _mac(message_row_id: uuid.UUID) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"reply-token:" + message_row_id.bytes, hashlib.sha256).hexdigest()[:_MAC_LENGTH]


def reply_address(address: str, message_row_id: uuid.UUID) -> str:
    """``address`` with this email's token plus-added to its local part (``ann+r…@x.com``); the address
    unchanged when the result would be longer than a local part may be."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    local = local.split("+", 1)[0]
    tagged = f"{local}+{_PREFIX}{message_row_id.hex}{_mac(message_row_id)}"
    return f"{tagged}@{domain}" if len(tagged) <= _LOCAL_PART_LIMIT else address


def message_row_id_from_address(address: str) -> uuid.UUID | None:
    """The outbox row a reply address names, or None when it carries no token of ours (or a forged one)."""
    match = _TOKEN.search(address or "")
    if not match:
        return None
    row_id = uuid.UUID(match.group(1).lower())
    return row_id if hmac.compare_digest(_mac(row_id), match.group(2).lower()) else None
