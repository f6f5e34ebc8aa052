"""DKIM: an admin makes or pastes a key under Settings and sees the DNS record to publish; every email of the
tenant then leaves signed, and the bytes the SMTP server receives verify against that record."""

from __future__ import annotations

import hashlib
import re

import dkim
import dkim.crypto
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from nurture_ui.engine.replay import run_due
from nurture_ui.extensions import db
from nurture_ui.mail.dkim_keys import (
    SIGNED_HEADERS,
    dns_record,
    generate_private_key,
    public_key_base64,
    store_key,
)
from nurture_ui.mailer import send_messages
from nurture_ui.models import OutboundMessage
from nurture_ui.secret_box import open_sealed, seal
from tests import factories
from tests.engine.conftest import enroll

PAGE = "/settings/email-authentication/"


def _pkcs8(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _published(tenant):
    """A DNS lookup that answers with the record the settings page shows for ``tenant``."""
    record = dns_record(tenant.dkim_selector, tenant.dkim_domain, open_sealed(tenant.dkim_private_key))

    def lookup(name, timeout=5):
        return record.value.encode() if name == f"{record.name}.".encode() else None

    return lookup


@pytest.fixture
def queued(clock, tenant):
    factories.make_template(
        tenant, "a", subject="Grüße, {{ lead.first_name }}", body="Body for {{ lead.company }}"
    )
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    lead = factories.make_lead(tenant, email="ada@example.test", first_name="Jördis")
    enroll(lead, sequence, clock.now())
    run_due(clock.now(), send=False)
    return db.session.scalars(sa.select(OutboundMessage)).one()


def test_an_admin_generates_a_key_and_sees_the_dns_record_to_publish(login_as, tenant):
    admin = login_as("admin")
    assert 'href="/settings/email-authentication/"' in admin.get("/settings/").get_data(as_text=True)
    response = admin.post(PAGE, {"domain": "Acme.example", "selector": "nurture1", "action": "generate"})
    assert response.status_code == 302
    html = admin.get(PAGE).get_data(as_text=True)
    db.session.refresh(tenant)
    assert (tenant.dkim_domain, tenant.dkim_selector) == ("acme.example", "nurture1")
    pem = open_sealed(tenant.dkim_private_key)
    assert "PRIVATE KEY" not in tenant.dkim_private_key  # stored sealed
    # Never shown again: no line of it is on the page, but for those that only hold the public modulus.
    public = public_key_base64(pem)
    assert [line for line in pem.splitlines() if line in html and line not in public] == []
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert "nurture1._domainkey.acme.example" in html
    assert f"v=DKIM1; k=rsa; p={public_key_base64(pem)}" in html
    zone = re.search(r'<code id="dkim-zone"[^>]*>(.*?)</code>', html, re.S).group(1)
    strings = re.findall(r"&#34;(.*?)&#34;", zone)
    assert len(strings) == 2 and all(len(part) <= 255 for part in strings)
    assert "".join(strings) == f"v=DKIM1; k=rsa; p={public_key_base64(pem)}"


def test_a_pasted_key_is_checked_and_a_bad_one_explained(login_as, tenant):
    admin = login_as("admin")
    cases = {
        "not a key": "Paste the whole private key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----": "not a readable PEM private key",
        _pkcs8(ec.generate_private_key(ec.SECP256R1())): "RSA keys: this one is not",
    }
    for pasted, message in cases.items():
        response = admin.post(PAGE, {"domain": "acme.example", "selector": "s1", "private_key": pasted})
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    response = admin.post(PAGE, {"domain": "not a domain", "selector": "s 1", "action": "generate"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter the domain your emails come from" in html and "Use letters, digits and hyphens" in html
    db.session.refresh(tenant)
    assert tenant.dkim_private_key == ""

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = admin.post(PAGE, {"domain": "acme.example", "selector": "s1", "private_key": _pkcs8(key)})
    assert response.status_code == 302
    db.session.refresh(tenant)
    assert public_key_base64(open_sealed(tenant.dkim_private_key)) == public_key_base64(_pkcs8(key))


def test_only_admins_manage_the_key(login_as):
    rep = login_as("rep")
    assert rep.get(PAGE).status_code in (302, 403)
    assert rep.post(PAGE, {"domain": "a.example", "selector": "s", "action": "generate"}).status_code in (
        302,
        403,
    )


def test_stop_signing_forgets_the_key(login_as, tenant):
    store_key(tenant, domain="acme.example", selector="s1", private_pem=generate_private_key())
    db.session.commit()
    admin = login_as("admin")
    admin.get(PAGE)
    assert admin.post(PAGE + "stop").status_code == 302
    db.session.refresh(tenant)
    assert (tenant.dkim_domain, tenant.dkim_selector, tenant.dkim_private_key) == ("", "", "")


def test_sent_mail_is_signed_and_verifies_against_the_published_record(
    app, clock, tenant, queued, smtp_server
):
    store_key(tenant, domain="example.test", selector="nurture1", private_pem=generate_private_key())
    db.session.commit()
    assert send_messages([queued.id], clock.now()).sent == [queued.id]
    [data] = smtp_server.raw
    assert data.startswith(b"DKIM-Signature: ")
    assert dkim.verify(data, dnsfunc=_published(tenant))
    signature = dkim.DKIM(data)
    signature.verify(dnsfunc=_published(tenant))
    assert set(signature.include_headers) == {name.lower() for name in SIGNED_HEADERS}
    tampered = data.replace(b"Subject: ", b"Subject: Re: ", 1)
    assert not dkim.verify(tampered, dnsfunc=_published(tenant))


def test_mail_of_a_tenant_without_a_key_goes_unsigned(clock, queued, smtp_server):
    assert send_messages([queued.id], clock.now()).sent == [queued.id]
    assert b"DKIM-Signature" not in smtp_server.raw[0]


def test_a_key_this_secret_key_cannot_open_keeps_the_email_waiting_with_a_clear_error(
    app, clock, tenant, queued, smtp_server
):
    tenant.dkim_domain, tenant.dkim_selector = "example.test", "nurture1"
    tenant.dkim_private_key = seal("x")[:-8] + "AAAAAAAA"  # sealed with another key, or altered
    db.session.commit()
    report = send_messages([queued.id], clock.now())
    assert report.retrying == [queued.id] and smtp_server.messages == []
    db.session.expire_all()
    assert "DKIM key cannot be read with this SECRET_KEY" in db.session.get(OutboundMessage, queued.id).error


def test_openssl_signs_exactly_as_dkimpy_would():
    """The send loop has OpenSSL do dkimpy's RSA step (12 ms a message in Python); the bytes are the same."""
    from nurture_ui.mail import dkim_keys

    pk = dkim.crypto.parse_pem_private_key(generate_private_key().encode())
    digest = hashlib.sha256(b"the canonicalised headers")
    assert dkim_keys._openssl_rsassa_sign(digest, pk) == dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, pk)


def test_a_long_key_is_published_as_several_strings_of_at_most_255():
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    record = dns_record("s1", "acme.example", _pkcs8(key))
    assert len(record.strings) == 3 and all(len(part) <= 255 for part in record.strings)
    assert "".join(record.strings) == record.value
    assert record.zone_line.startswith('s1._domainkey.acme.example. IN TXT ( "v=DKIM1; k=rsa; p=')
