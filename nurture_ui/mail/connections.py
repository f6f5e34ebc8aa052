"""Connecting to a mailbox's IMAP and SMTP servers with verified TLS, and saying clearly why it failed.

Used by the poller (``imap_poll``) and by Settings → Mailboxes' "Test connection".
"""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import socket
import ssl

from flask import current_app


class MailboxConnectionError(Exception):
    """A mailbox server could not be used; the message says why in words a person can act on."""


def tls_context() -> ssl.SSLContext:
    """A verifying TLS context: the system's CAs, plus ``MAIL_CA_FILE`` when set (a private CA)."""
    context = ssl.create_default_context()
    ca_file = current_app.config.get("MAIL_CA_FILE")
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def describe_error(error: BaseException, host: str, port: int, timeout: float) -> str:
    """What went wrong, for the Settings page and the mailbox's last error."""
    where = f"{host}:{port}"
    if isinstance(error, MailboxConnectionError):
        return str(error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the certificate of {where} did not verify ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS with {where} failed ({error.reason or error}); check the port and the security setting"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"{where} did not answer within {timeout:g} s"
    if isinstance(error, socket.gaierror):
        return f"the host {host!r} was not found"
    if isinstance(error, ConnectionRefusedError):
        return f"{where} refused the connection (is the port right?)"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"authentication failed at {where}: the server refused the user name or password"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"{where} does not offer STARTTLS; choose another security setting"
    if isinstance(error, imaplib.IMAP4.error):
        text = str(error)
        if "AUTHENTICATIONFAILED" in text.upper() or "LOGIN" in text.upper():
            return f"authentication failed at {where}: the server refused the user name or password"
        return f"the IMAP server at {where} said: {text}"
    if isinstance(error, smtplib.SMTPException):
        return f"the SMTP server at {where} said: {error}"
    if isinstance(error, OSError):
        return f"{where} is unreachable ({error.strerror or error})"
    return f"{type(error).__name__}: {error}"


def open_imap(
    host: str, port: int, security: str, username: str, password: str, *, timeout: float
) -> imaplib.IMAP4:
    """A logged-in IMAP connection (``ssl``: implicit TLS, ``starttls``, or ``none``: cleartext)."""
    if security == "ssl":
        client = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(), timeout=timeout)
    else:
        client = imaplib.IMAP4(host, port, timeout=timeout)
        if security == "starttls":
            client.starttls(ssl_context=tls_context())
    try:
        client.login(username, password)
    except BaseException:
        _close_quietly(client)
        raise
    return client


def select_read_only(client: imaplib.IMAP4, folder: str) -> tuple[int, int]:
    """EXAMINE ``folder`` (read-only: nothing we do marks a person's mail seen); (UIDVALIDITY, messages)."""
    status, data = client.select(_quote(folder), readonly=True)
    if status != "OK":
        raise MailboxConnectionError(f"the folder {folder!r} cannot be opened: {_text(data)}")
    _, validity = client.response("UIDVALIDITY")
    if not validity or validity[0] is None:
        raise MailboxConnectionError("the server gave no UIDVALIDITY for the folder")
    return int(validity[0]), int(data[0] or 0)


def close_imap(client: imaplib.IMAP4) -> None:
    _close_quietly(client)


def check_imap(host: str, port: int, security: str, username: str, password: str, folder: str) -> str:
    """Log in and open the folder; a short success note, or ``MailboxConnectionError`` saying why not."""
    timeout = float(current_app.config.get("MAILBOX_TIMEOUT_SECONDS", 30))
    try:
        client = open_imap(host, port, security, username, password, timeout=timeout)
        try:
            _, count = select_read_only(client, folder)
        finally:
            _close_quietly(client)
    except Exception as error:
        raise MailboxConnectionError("IMAP: " + describe_error(error, host, port, timeout)) from error
    return f"IMAP OK: signed in, {folder} holds {count} message{'s' if count != 1 else ''}"


def check_smtp(host: str, port: int, security: str, username: str, password: str) -> str:
    """EHLO (and STARTTLS / login when set); a short success note or ``MailboxConnectionError``."""
    timeout = float(current_app.config.get("MAILBOX_TIMEOUT_SECONDS", 30))
    try:
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        try:
            client.ehlo()
            if security == "starttls":
                client.starttls(context=tls_context())
                client.ehlo()
            if username:
                client.login(username, password)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except Exception as error:
        raise MailboxConnectionError("SMTP: " + describe_error(error, host, port, timeout)) from error
    return "SMTP OK" + (": signed in" if username else ": the server answered")


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data) -> str:
    return " ".join(
        item.decode(errors="replace") if isinstance(item, bytes) else str(item) for item in data or ()
    )


def _close_quietly(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError, ssl.SSLError):
        with contextlib.suppress(OSError):
            client.shutdown()
