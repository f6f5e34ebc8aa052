"""API keys and request signatures.

A tenant's key has a public id (``nk_…``) and a secret. Each request carries the key id, a Unix
timestamp and ``sha256=<hex>``: HMAC-SHA256 with the secret over ``timestamp + "." + body``.
Requests more than five minutes from our clock are refused, and so is a signature seen before, so a
captured request cannot be sent again.

The secret is never stored: it is derived from the app's SECRET_KEY and the key's random salt, so a
copy of the database alone cannot sign requests. Rotating SECRET_KEY therefore invalidates every key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from nurture_ui import clock
from nurture_ui.extensions import db
from nurture_ui.models import ApiCredential, ApiNonce, Tenant

KEY_HEADER = "X-Nurture-Key"
TIMESTAMP_HEADER = "X-Nurture-Timestamp"
SIGNATURE_HEADER = "X-Nurture-Signature"
TOLERANCE = timedelta(minutes=5)
# Signatures are remembered a little longer than a timestamp stays acceptable.
NONCE_RETENTION = TOLERANCE * 2


@dataclass
class AuthError(Exception):
    code: str
    message: str


def issue_credential(tenant: Tenant, label: str = "") -> tuple[ApiCredential, str]:
    """Create an API key for ``tenant`` (committed). Returns the key and its secret."""
    credential = ApiCredential(
        tenant_id=tenant.id, key_id=f"nk_{secrets.token_hex(10)}", salt=secrets.token_hex(16), label=label
    )
    db.session.add(credential)
    db.session.commit()
    return credential, signing_secret(credential)


def signing_secret(credential: ApiCredential) -> str:
    material = f"nurture-api-key:{credential.key_id}:{credential.salt}".encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode(), material, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix seconds, as a string)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def authenticate(headers, body: bytes) -> ApiCredential:
    """The credential that signed this request, with its signature recorded as used.

    Runs in the caller's transaction (the signature row commits with the event it carried).
    Raises AuthError for a missing header, unknown or revoked key, stale timestamp, bad signature
    or replayed request; in that case the caller must roll back.
    """
    key_id, stamp, given = (
        headers.get(h, "").strip() for h in (KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
    )
    if not (key_id and stamp and given):
        raise AuthError("missing_headers", f"Send {KEY_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}.")
    credential = db.session.scalar(
        sa.select(ApiCredential).where(ApiCredential.key_id == key_id, ApiCredential.revoked_at.is_(None))
    )
    if credential is None:
        raise AuthError("unknown_key", "No active API key with that id.")
    now = clock.now()
    try:
        sent_at = int(stamp)
    except ValueError:
        raise AuthError("stale_timestamp", f"{TIMESTAMP_HEADER} must be Unix seconds.") from None
    if abs(now.timestamp() - sent_at) > TOLERANCE.total_seconds():
        raise AuthError("stale_timestamp", "The timestamp is more than five minutes from the server's clock.")
    expected = sign(signing_secret(credential), stamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise AuthError("bad_signature", "The signature does not match the body and timestamp.")
    db.session.execute(sa.delete(ApiNonce).where(ApiNonce.seen_at < now - NONCE_RETENTION))
    db.session.add(
        ApiNonce(signature=expected.removeprefix("sha256="), credential_id=credential.id, seen_at=now)
    )
    try:
        db.session.flush()
    except IntegrityError:
        raise AuthError("replayed", "This exact request was received before; sign a new one.") from None
    credential.last_used_at = now
    return credential
