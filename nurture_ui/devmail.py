"""A capturing SMTP server for development: `make run` sends real SMTP to it, and the UI lists what arrived.

    python -m nurture_ui.devmail [--port 8025] [--store instance/devmail.sqlite]

runs it as a process; ``start_capture_server`` runs it in a thread of the calling process. Every message is
kept whole (raw RFC 5322) in a small SQLite file, which the ``/dev/mail`` pages read. Nothing is delivered.
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

from nurture_ui.web.access import ALL_ROLES, allow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_tos TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    raw BLOB NOT NULL
)
"""


class DevMailStore:
    """The captured mail, in a SQLite file that the server process writes and the web process reads."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def add(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        parsed = message_from_bytes(raw, policy=policy.default)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO messages (received_at, mail_from, rcpt_tos, subject, message_id, raw)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    mail_from,
                    ", ".join(rcpt_tos),
                    str(parsed.get("Subject", "")),
                    str(parsed.get("Message-ID", "")),
                    raw,
                ),
            )

    def recent(self, limit: int = 100) -> list[sqlite3.Row]:
        with self._connect() as conn:
            return conn.execute(
                "SELECT id, received_at, mail_from, rcpt_tos, subject, message_id FROM messages"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()

    def get(self, message_id: int) -> dict | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        parsed = message_from_bytes(row["raw"], policy=policy.default)
        body = parsed.get_body(preferencelist=("plain", "html"))
        return {
            **dict(row),
            "headers": list(parsed.items()),
            "body": body.get_content() if body is not None else "",
        }


class CaptureHandler:
    """aiosmtpd handler: keep the message, accept it."""

    def __init__(self, store: DevMailStore):
        self.store = store

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.store.add(
            envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content
        )
        return "250 Message accepted for delivery"


def start_capture_server(store_path: str | Path, host: str = "127.0.0.1", port: int = 8025):
    """Start the capturing server in a background thread; returns the aiosmtpd Controller (``.stop()``)."""
    from aiosmtpd.controller import Controller

    controller = Controller(CaptureHandler(DevMailStore(store_path)), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description="A capturing SMTP server for development.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--store", default=str(Path("instance") / "devmail.sqlite"))
    args = parser.parse_args()
    controller = start_capture_server(args.store, args.host, args.port)
    print(f"Capturing SMTP on {args.host}:{args.port}, storing in {args.store}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


# --- the pages -----------------------------------------------------------------------------------------

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")


def _store() -> DevMailStore:
    if not current_app.config.get("DEVMAIL_ENABLED"):
        abort(404)
    return DevMailStore(current_app.config["DEVMAIL_PATH"])


@bp.get("/")
@allow(*ALL_ROLES)
def index():
    return render_template("devmail/index.html", messages=_store().recent())


# Not "<…_id>": captured mail is the developer's, not a tenant's object (tests/integration/test_access.py).
@bp.get("/<int:number>")
@allow(*ALL_ROLES)
def show(number: int):
    message = _store().get(number)
    if message is None:
        abort(404)
    return render_template("devmail/show.html", message=message)


if __name__ == "__main__":
    main()
