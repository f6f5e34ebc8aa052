"""The outgoing-mail settings read from the environment: security, certificate checks, the sender."""

from __future__ import annotations

import pytest

from nurture_ui.config import load_config

SMTP_ENV = ("SMTP_SECURITY", "SMTP_STARTTLS", "SMTP_TLS_VERIFY", "SMTP_CA_FILE", "MAIL_FROM")


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in SMTP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "test")

    def load(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return load_config(tmp_path)

    return load


def test_by_default_mail_goes_unencrypted_to_the_local_capture_server_with_certificates_checked(env):
    config = env()
    assert (config["SMTP_SECURITY"], config["SMTP_TLS_VERIFY"], config["SMTP_CA_FILE"]) == ("", True, None)


def test_the_old_starttls_switch_means_starttls_and_security_wins_when_both_are_set(env):
    assert env(SMTP_STARTTLS="true")["SMTP_SECURITY"] == "starttls"
    assert env(SMTP_STARTTLS="true", SMTP_SECURITY="ssl")["SMTP_SECURITY"] == "ssl"


def test_certificate_checks_stay_on_unless_explicitly_false(env):
    assert env(SMTP_TLS_VERIFY="")["SMTP_TLS_VERIFY"] is True
    assert env(SMTP_TLS_VERIFY="maybe")["SMTP_TLS_VERIFY"] is True
    assert env(SMTP_TLS_VERIFY="false")["SMTP_TLS_VERIFY"] is False


def test_an_unknown_security_or_a_sender_that_is_not_one_address_stops_the_start_clearly(env):
    with pytest.raises(ValueError, match="SMTP_SECURITY='tls': write none, starttls or ssl"):
        env(SMTP_SECURITY="tls")
    with pytest.raises(ValueError, match="MAIL_FROM: 'Acme <a@x.test>, b@y.test' is not an email address"):
        env(SMTP_SECURITY="", MAIL_FROM="Acme <a@x.test>, b@y.test")
    assert env(MAIL_FROM="Acme, Inc. <n@acme.test>")["MAIL_FROM"] == "Acme, Inc. <n@acme.test>"
