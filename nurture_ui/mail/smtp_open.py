"""Opening an SMTP session as its settings say: plain, STARTTLS or implicit TLS, certificates verified.

The settings are a mapping with the keys of the app's config (``SMTP_HOST``, ``SMTP_PORT``,
``SMTP_SECURITY``, ``SMTP_USERNAME``, ``SMTP_PASSWORD``, ``SMTP_CA_FILE``, ``SMTP_TLS_VERIFY``), so a
mailbox's own SMTP settings open the same way as the app's.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from collections.abc import Mapping

SECURITY_MODES = ("none", "starttls", "ssl")
TIMEOUT_SECONDS = 30


class SmtpSetupError(Exception):
    """The session could not be set up as configured (certificate, STARTTLS, credentials): the message
    says what to fix. Sending waits and retries; nothing is sent meanwhile."""


def security_of(settings: Mapping) -> tuple[str, bool]:
    """The connection's security (none | starttls | ssl) and whether it was written out. Unset means
    starttls when the older ``SMTP_STARTTLS`` is true, else none."""
    value = str(settings.get("SMTP_SECURITY") or "").strip().lower()
    if not value:
        return ("starttls" if settings.get("SMTP_STARTTLS") else "none"), False
    if value not in SECURITY_MODES:
        raise SmtpSetupError(f"SMTP_SECURITY={value!r}: write none, starttls or ssl (implicit TLS, port 465)")
    return value, True


def verifies_certificates(settings: Mapping) -> bool:
    """True unless ``SMTP_TLS_VERIFY`` is explicitly false (a test server with a self-made certificate)."""
    value = settings.get("SMTP_TLS_VERIFY", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return value is None or bool(value)


def tls_context(settings: Mapping) -> ssl.SSLContext:
    """The TLS context for these settings: the system's CAs (or ``SMTP_CA_FILE``), hostname checked."""
    try:
        return _context(settings.get("SMTP_CA_FILE") or None, verifies_certificates(settings))
    except (OSError, ssl.SSLError) as error:
        raise SmtpSetupError(
            f"SMTP_CA_FILE {settings.get('SMTP_CA_FILE')!r} cannot be read as CA certificates: {error}"
        ) from error


@functools.lru_cache(maxsize=16)
def _context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    # Built once per process and CA file: loading the system's CA store costs milliseconds.
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def open_smtp(settings: Mapping) -> smtplib.SMTP:
    """A session ready for MAIL: connected, encrypted as configured, logged in when a username is set.

    Raises ``SmtpSetupError`` with a message naming the fix (a certificate that did not verify, a server
    without STARTTLS, a password that would go unencrypted, credentials refused); ``OSError`` and
    ``smtplib.SMTPException`` for the rest (a server that is down).
    """
    host, port = settings["SMTP_HOST"], int(settings["SMTP_PORT"])
    mode, explicit = security_of(settings)
    username = settings.get("SMTP_USERNAME")
    if username and mode == "none" and not explicit:
        raise SmtpSetupError(
            f"refusing to send the SMTP password to {host} over an unencrypted connection: set "
            "SMTP_SECURITY=starttls or ssl (or SMTP_SECURITY=none to send it in the clear anyway)"
        )
    context = tls_context(settings) if mode != "none" else None
    try:
        if mode == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
        try:
            _secure_and_log_in(smtp, settings, mode, context)
        except BaseException:
            smtp.close()
            raise
    except ssl.SSLCertVerificationError as error:
        reason = error.verify_message or str(error)
        raise SmtpSetupError(f"the SMTP server's certificate for {host} did not verify: {reason}") from error
    except ssl.SSLError as error:
        raise SmtpSetupError(f"TLS with the SMTP server {host}:{port} failed: {error}") from error
    return smtp


def _secure_and_log_in(smtp: smtplib.SMTP, settings: Mapping, mode: str, context) -> None:
    host = settings["SMTP_HOST"]
    if mode == "starttls":
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise SmtpSetupError(f"the SMTP server {host} does not offer STARTTLS (SMTP_SECURITY=starttls)")
        smtp.starttls(context=context)
        smtp.ehlo()
    if settings.get("SMTP_USERNAME"):
        try:
            smtp.login(settings["SMTP_USERNAME"], settings.get("SMTP_PASSWORD") or "")
        except smtplib.SMTPAuthenticationError as error:
            raise SmtpSetupError(
                f"the SMTP server {host} refused the username and password: {error.smtp_code} "
                f"{error.smtp_error.decode(errors='replace')}"
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            raise SmtpSetupError(f"the SMTP server {host} does not accept a login (AUTH)") from error
    smtp.ehlo_or_helo_if_needed()
