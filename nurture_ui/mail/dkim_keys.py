"""DKIM: a tenant's signing key (made here or pasted), the DNS record that publishes it, and signing.

The private key is stored sealed (``secret_box``) on the tenant with its domain and selector; the send loop
opens it once per tenant per job (``TenantSigners``) and signs each message's bytes with ``dkimpy``.
"""

from __future__ import annotations

import base64
import functools
import re
import uuid
from dataclasses import dataclass

import dkim
import dkim.crypto
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from nurture_ui import activity
from nurture_ui.extensions import db
from nurture_ui.models import Tenant
from nurture_ui.secret_box import SecretUnreadable, open_sealed, seal

# What a message's signature covers: what a reader sees and what a forger would change.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
)
KEY_BITS = 2048
_DNS_STRING = 255  # a TXT record is a list of strings of at most 255 octets each
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class DkimKeyError(ValueError):
    """A key, domain or selector that cannot be used: the message says what is wrong."""


@dataclass(frozen=True)
class DkimSigner:
    """One tenant's key, opened and ready to sign."""

    domain: str
    selector: str
    private_key: bytes  # PKCS#1 PEM: what dkimpy reads

    def sign(self, data: bytes) -> bytes:
        """The message with its DKIM-Signature header first (relaxed/relaxed canonicalisation)."""
        signature = dkim.sign(
            data,
            self.selector.encode(),
            self.domain.encode(),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
        return signature + data


def generate_private_key() -> str:
    """A new RSA 2048 private key as PEM (PKCS#1)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return _pem(key)


def normalized_private_key(pem: str) -> str:
    """A pasted private key as the PKCS#1 PEM we store; raises ``DkimKeyError`` saying what is wrong
    (not a PEM private key, protected by a passphrase, not RSA, shorter than 1024 bits)."""
    text = (pem or "").strip()
    if "PRIVATE KEY-----" not in text:
        raise DkimKeyError("Paste the whole private key, from -----BEGIN … PRIVATE KEY----- to its END line.")
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError as error:
        raise DkimKeyError("This key is protected by a passphrase: paste it without one.") from error
    except ValueError as error:
        raise DkimKeyError("This is not a readable PEM private key.") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimKeyError("DKIM keys here are RSA keys: this one is not.")
    if key.key_size < 1024:
        raise DkimKeyError(
            f"This RSA key has {key.key_size} bits; receivers ignore keys under 1024 (use 2048)."
        )
    return _pem(key)


def check_domain(domain: str) -> str:
    """The signing domain, lower case; raises ``DkimKeyError`` for anything that is not a DNS name."""
    value = (domain or "").strip().rstrip(".").lower()
    labels = value.split(".")
    if len(labels) < 2 or len(value) > 253 or not all(_LABEL.match(label) for label in labels):
        raise DkimKeyError("Enter the domain your emails come from, like example.com.")
    return value


def check_selector(selector: str) -> str:
    """The selector, lower case; raises ``DkimKeyError`` for anything that is not one or more DNS labels."""
    value = (selector or "").strip().lower()
    if not value or not all(_LABEL.match(label) for label in value.split(".")):
        raise DkimKeyError("Use letters, digits and hyphens, like nurture1.")
    return value


def public_key_base64(private_pem: str) -> str:
    """The key's public half as DKIM publishes it (``p=``): base64 of the DER SubjectPublicKeyInfo."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


@dataclass(frozen=True)
class DnsRecord:
    name: str  # <selector>._domainkey.<domain>
    value: str  # v=DKIM1; k=rsa; p=…
    strings: tuple[str, ...]  # the value cut into the ≤ 255-character strings a TXT record holds

    @property
    def zone_line(self) -> str:
        """The record as a zone-file line, ready to copy."""
        quoted = " ".join(f'"{part}"' for part in self.strings)
        return f"{self.name}. IN TXT ( {quoted} )"


def dns_record(selector: str, domain: str, private_pem: str) -> DnsRecord:
    """The TXT record that publishes this key for ``selector`` at ``domain``."""
    value = f"v=DKIM1; k=rsa; p={public_key_base64(private_pem)}"
    strings = tuple(value[i : i + _DNS_STRING] for i in range(0, len(value), _DNS_STRING))
    return DnsRecord(name=f"{selector}._domainkey.{domain}", value=value, strings=strings)


def store_key(
    tenant: Tenant,
    *,
    domain: str,
    selector: str,
    private_pem: str | None,
    actor_id: uuid.UUID | None = None,
    how: str = "pasted",
) -> None:
    """Set the tenant's DKIM domain, selector and (sealed) key — ``private_pem`` None keeps the stored key —
    with a ``dkim_settings_changed`` activity naming the person (``how``: generated, pasted or kept; never
    the key). The caller commits."""
    tenant.dkim_domain = check_domain(domain)
    tenant.dkim_selector = check_selector(selector)
    if private_pem is not None:
        tenant.dkim_private_key = seal(normalized_private_key(private_pem))
    activity.record(
        "dkim_settings_changed",
        tenant_id=tenant.id,
        actor_id=actor_id,
        data={"domain": tenant.dkim_domain, "selector": tenant.dkim_selector, "key": how},
    )


def clear_key(tenant: Tenant, *, actor_id: uuid.UUID | None = None) -> None:
    """Stop signing: forget the key, with a ``dkim_signing_stopped`` activity (the caller commits)."""
    tenant.dkim_domain = tenant.dkim_selector = tenant.dkim_private_key = ""
    activity.record("dkim_signing_stopped", tenant_id=tenant.id, actor_id=actor_id)


class TenantSigners:
    """The signers of the tenants one send job meets: each tenant's key read and opened once per job.

    ``for_tenant`` returns None for a tenant that has not set DKIM up, and raises ``DkimKeyError`` when its
    key cannot be opened (SECRET_KEY changed): sending unsigned could fail the domain's DMARC policy.
    """

    def __init__(self) -> None:
        self._signers: dict[uuid.UUID, DkimSigner | DkimKeyError | None] = {}

    def for_tenant(self, tenant_id: uuid.UUID) -> DkimSigner | None:
        if tenant_id not in self._signers:
            self._signers[tenant_id] = self._load(tenant_id)
        found = self._signers[tenant_id]
        if isinstance(found, DkimKeyError):
            raise found
        return found

    @staticmethod
    def _load(tenant_id: uuid.UUID) -> DkimSigner | DkimKeyError | None:
        table = Tenant.__table__
        row = db.session.execute(
            sa.select(table.c.dkim_domain, table.c.dkim_selector, table.c.dkim_private_key).where(
                table.c.id == tenant_id
            )
        ).one_or_none()
        if row is None or not (row.dkim_domain and row.dkim_selector and row.dkim_private_key):
            return None
        try:
            pem = open_sealed(row.dkim_private_key)
        except SecretUnreadable:
            return DkimKeyError(
                "the DKIM key cannot be read with this SECRET_KEY: set it again under Settings, Email "
                "authentication (DKIM)"
            )
        return DkimSigner(domain=row.dkim_domain, selector=row.dkim_selector, private_key=pem.encode())


# dkimpy does RSA with Python's pow(): 12 ms a message for a 2048-bit key, which would make signing most of
# the send loop's time. RSASSA-PKCS1-v1_5 is deterministic, so OpenSSL (through ``cryptography``) gives the
# same signature bytes in a tenth of a millisecond; dkimpy calls this name at module level when it signs.
_HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


def _openssl_rsassa_sign(digest, private_key: dict) -> bytes:
    """``dkim.crypto.RSASSA_PKCS1_v1_5_sign`` (same arguments, same result) done by OpenSSL."""
    algorithm = _HASHES[digest.name.lower()]()
    return _openssl_key(*(private_key[name] for name in _RSA_NUMBERS)).sign(
        digest.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm)
    )


_RSA_NUMBERS = (
    "modulus",
    "publicExponent",
    "privateExponent",
    "prime1",
    "prime2",
    "exponent1",
    "exponent2",
    "coefficient",
)


@functools.lru_cache(maxsize=64)
def _openssl_key(n, e, d, p, q, dmp1, dmq1, iqmp) -> rsa.RSAPrivateKey:
    public = rsa.RSAPublicNumbers(e, n)
    return rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, public).private_key()


dkim.RSASSA_PKCS1_v1_5_sign = _openssl_rsassa_sign
# dkimpy also parses the PEM key (pure-Python ASN.1, 0.5 ms) on every message: parse each key once. The
# parsed key is only read, by the function above.
dkim.parse_pem_private_key = functools.lru_cache(maxsize=64)(dkim.crypto.parse_pem_private_key)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
