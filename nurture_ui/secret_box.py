"""Secrets we must be able to read back (mailbox passwords, DKIM keys), stored encrypted.

The key is derived from ``SECRET_KEY`` (HKDF-SHA256), so a copy of the database alone reveals nothing;
changing ``SECRET_KEY`` makes stored secrets unreadable, and the people who entered them enter them again.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class SecretUnreadable(ValueError):
    """A stored secret that this SECRET_KEY cannot decrypt (the key changed, or the value was altered)."""


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"nurture-secret-box", info=b"stored secrets")
    return Fernet(base64.urlsafe_b64encode(key.derive(secret_key.encode())))


def seal(plaintext: str) -> str:
    """The secret encrypted for storage; an empty secret stays empty (nothing to hide)."""
    if not plaintext:
        return ""
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(plaintext.encode()).decode("ascii")


def open_sealed(sealed: str) -> str:
    """The secret ``seal`` stored; raises ``SecretUnreadable`` when it cannot be decrypted."""
    if not sealed:
        return ""
    try:
        return _fernet(current_app.config["SECRET_KEY"]).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError) as error:
        raise SecretUnreadable(
            "the stored secret cannot be read with this SECRET_KEY: enter it again"
        ) from error
