"""Sending over TLS (STARTTLS and implicit TLS) to a local aiosmtpd server whose certificate a test CA made
here: verified with the CA, refused with a clear, recorded, retried error without it or for another name;
and no password over a connection that is not encrypted unless that was asked for."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nurture_ui.engine.replay import run_due
from nurture_ui.extensions import db
from nurture_ui.mail.smtp_open import SmtpSetupError, open_smtp, security_of
from nurture_ui.mailer import send_messages
from nurture_ui.models import OutboundMessage
from tests import factories
from tests.engine.conftest import CollectingHandler, enroll, free_port

SMTP_KEYS = ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_CA_FILE")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool, names=()):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    """A CA of our own and two server certificates it signed: one for 127.0.0.1, one for another name."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate(
        _name("Nurture test CA"), _name("Nurture test CA"), ca_key.public_key(), ca_key, ca=True
    )
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    servers = {}
    for label, names in {
        "local": [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        "elsewhere": [x509.DNSName("mail.elsewhere.test")],
    }.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(_name(label), ca_cert.subject, key.public_key(), ca_key, ca=False, names=names)
        (folder / f"{label}.pem").write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        servers[label] = str(folder / f"{label}.pem")
    return {"ca": str(folder / "ca.pem"), **servers}


def _server_context(cert_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file)
    return context


class TlsServer:
    def __init__(self, handler, controller, logins):
        self.handler, self.controller, self.logins = handler, controller, logins

    @property
    def port(self) -> int:
        return self.controller.port


def _authenticator(logins):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"rita", b"s3cret")
        encrypted = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        logins.append((data.login, encrypted))
        return AuthResult(success=ok)

    return check


@pytest.fixture
def tls_server(request, test_ca):
    """``tls_server("starttls" | "ssl", "local" | "elsewhere")``: an aiosmtpd server with that certificate."""
    from aiosmtpd.controller import Controller

    started = []

    def start(mode: str, certificate: str = "local") -> TlsServer:
        handler, logins = CollectingHandler(), []
        context = _server_context(test_ca[certificate])
        options = {"authenticator": _authenticator(logins), "auth_require_tls": True}
        if mode == "ssl":
            # aiosmtpd counts only STARTTLS as TLS for AUTH; this whole connection is TLS.
            options["auth_require_tls"] = False
            controller = Controller(
                handler, hostname="127.0.0.1", port=free_port(), ssl_context=context, **options
            )
        else:
            controller = Controller(
                handler,
                hostname="127.0.0.1",
                port=free_port(),
                tls_context=context,
                require_starttls=True,
                **options,
            )
        controller.start()
        started.append(controller)
        return TlsServer(handler, controller, logins)

    yield start
    for controller in started:
        controller.stop()


def settings(port: int, **values) -> dict:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, **values}


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_a_certificate_signed_by_the_configured_ca_verifies_and_the_login_goes_over_tls(
    app, tls_server, test_ca, mode
):
    server = tls_server(mode)
    smtp = open_smtp(
        settings(
            server.port,
            SMTP_SECURITY=mode,
            SMTP_CA_FILE=test_ca["ca"],
            SMTP_USERNAME="rita",
            SMTP_PASSWORD="s3cret",
        )
    )
    try:
        assert smtp.sendmail("n@acme.test", ["ada@example.test"], b"Subject: hi\r\n\r\nHello\r\n") == {}
    finally:
        smtp.quit()
    assert server.logins == [(b"rita", True)]
    assert len(server.handler.messages) == 1


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_a_certificate_without_the_ca_that_signed_it_is_refused_clearly(app, tls_server, mode):
    server = tls_server(mode)
    with pytest.raises(SmtpSetupError) as refused:
        open_smtp(settings(server.port, SMTP_SECURITY=mode))
    assert str(refused.value).startswith("the SMTP server's certificate for 127.0.0.1 did not verify: ")
    assert "certificate" in str(refused.value).split(": ", 1)[1]
    assert server.handler.messages == []


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_a_certificate_for_another_host_name_is_refused(app, tls_server, test_ca, mode):
    server = tls_server(mode, "elsewhere")
    with pytest.raises(
        SmtpSetupError, match="did not verify: IP address mismatch, certificate is not valid for .127.0.0.1."
    ):
        open_smtp(settings(server.port, SMTP_SECURITY=mode, SMTP_CA_FILE=test_ca["ca"]))


def test_verification_is_off_only_when_explicitly_set_false(app, tls_server):
    server = tls_server("ssl", "elsewhere")
    smtp = open_smtp(settings(server.port, SMTP_SECURITY="ssl", SMTP_TLS_VERIFY="false"))
    smtp.quit()
    with pytest.raises(SmtpSetupError):
        open_smtp(settings(server.port, SMTP_SECURITY="ssl", SMTP_TLS_VERIFY=None))


def test_no_password_goes_over_a_plain_connection_unless_security_none_is_explicit(app, smtp_server):
    port = app.config["SMTP_PORT"]
    with pytest.raises(
        SmtpSetupError, match="refusing to send the SMTP password to 127.0.0.1 over an unencrypted"
    ):
        open_smtp(settings(port, SMTP_USERNAME="rita", SMTP_PASSWORD="s3cret"))
    # Written out, it is the operator's choice (aiosmtpd then answers that it offers no AUTH in the clear).
    with pytest.raises(SmtpSetupError, match="does not accept a login"):
        open_smtp(settings(port, SMTP_SECURITY="none", SMTP_USERNAME="rita", SMTP_PASSWORD="s3cret"))


def test_the_old_starttls_switch_still_means_starttls():
    assert security_of({"SMTP_STARTTLS": True}) == ("starttls", False)
    assert security_of({"SMTP_STARTTLS": False}) == ("none", False)
    assert security_of({"SMTP_SECURITY": "SSL"}) == ("ssl", True)
    with pytest.raises(SmtpSetupError, match="write none, starttls or ssl"):
        security_of({"SMTP_SECURITY": "tls"})


def test_an_unverified_certificate_is_recorded_on_the_message_and_retried_not_a_crash(
    app, clock, tenant, tls_server, caplog, monkeypatch
):
    # The migrations' logging.config.fileConfig, run in this process to build the schema, disabled the
    # loggers that existed then.
    monkeypatch.setattr(logging.getLogger("nurture_ui.mailer"), "disabled", False)
    server = tls_server("starttls")
    factories.make_template(tenant, "a", subject="Hi", body="Body")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    enroll(factories.make_lead(tenant, email="ada@example.test"), sequence, clock.now())
    run_due(clock.now(), send=False)
    message = db.session.scalars(sa.select(OutboundMessage)).one()
    saved = {key: app.config.get(key) for key in SMTP_KEYS}
    app.config.update(
        SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_SECURITY="starttls", SMTP_CA_FILE=None
    )
    try:
        with caplog.at_level(logging.WARNING, logger="nurture_ui.mailer"):
            report = send_messages([message.id], clock.now())
    finally:
        app.config.update(saved)
    assert report.retrying == [message.id]
    db.session.expire_all()
    message = db.session.get(OutboundMessage, message.id)
    assert message.status == "queued"
    assert message.error.startswith("the SMTP server's certificate for 127.0.0.1 did not verify: ")
    assert caplog.text.count("the SMTP server's certificate for 127.0.0.1 did not verify") == 1


def test_after_a_setup_error_the_rest_of_the_job_waits_without_trying_again(app, tls_server):
    from nurture_ui.mailer import SmtpConnection, WireEmail, _TransientFailure

    server = tls_server("starttls")
    connection = SmtpConnection(settings(server.port, SMTP_SECURITY="starttls"))
    email = WireEmail("n@acme.test", "ada@example.test", b"Subject: hi\r\n\r\nHello\r\n")
    attempts = []
    real_open = connection._open
    connection._open = lambda: attempts.append(1) or real_open()
    for _ in range(3):
        with pytest.raises(_TransientFailure, match="did not verify"):
            connection.send(email)
    connection.close()
    assert len(attempts) == 1
