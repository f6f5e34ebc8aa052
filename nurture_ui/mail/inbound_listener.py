"""The inbound listener: mail an MTA forwards to us over SMTP (or LMTP), recorded through the same core as
mail read over IMAP (``nurture_ui.mail.receive.receive_pushed``). Off unless started
(``python worker.py inbound``).

Each message is committed before the listener answers 250, so an accepted message is never lost; mail for
no tenant of ours gets 550 (the MTA bounces it to its sender); an unexpected error gets 451 so the MTA
keeps the message and tries again (recording is idempotent by Message-ID, so a retry records it once).
"""

from __future__ import annotations

import logging
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from flask import Flask

log = logging.getLogger(__name__)


class InboundHandler:
    """aiosmtpd handler: one message in, one transaction, then the answer."""

    def __init__(self, app: Flask, source: str):
        self.app = app
        self.source = source

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        # Recording runs in a worker thread: the database must not block the listener's event loop.
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(
            None, self.record, envelope.original_content or envelope.content, list(envelope.rcpt_tos)
        )

    def record(self, raw: bytes, recipients: list[str]) -> str:
        """Record one pushed message; the SMTP reply to give."""
        from nurture_ui.extensions import db
        from nurture_ui.mail.receive import receive_pushed

        with self.app.app_context():
            try:
                mail = receive_pushed(raw, recipients, source=self.source)
                if mail is None:
                    db.session.rollback()
                    return "550 5.1.1 No mailbox here for " + ", ".join(recipients)[:200]
                db.session.commit()
                return "250 2.0.0 Recorded"
            except Exception:
                db.session.rollback()
                log.exception("an inbound message for %s could not be recorded", recipients)
                return "451 4.3.0 Not recorded this time; try again later"
            finally:
                db.session.remove()


class _SizedController(Controller):
    """aiosmtpd's controller with our protocol (SMTP or LMTP) and size limit."""

    def __init__(self, handler, *, lmtp: bool, data_size_limit: int, **kwargs):
        self.lmtp = lmtp
        self.data_size_limit = data_size_limit
        super().__init__(handler, **kwargs)

    def factory(self):
        protocol = LMTP if self.lmtp else SMTP
        return protocol(self.handler, data_size_limit=self.data_size_limit, enable_SMTPUTF8=True)


def start_inbound_listener(app: Flask, *, host: str | None = None, port: int | None = None) -> Controller:
    """Start listening (in a background thread) with the app's INBOUND_* settings; ``.stop()`` ends it."""
    config = app.config
    lmtp = bool(config.get("INBOUND_LMTP"))
    controller = _SizedController(
        InboundHandler(app, "lmtp" if lmtp else "smtp"),
        lmtp=lmtp,
        data_size_limit=int(config.get("INBOUND_MAX_BYTES", 10 * 1024 * 1024)),
        hostname=host or config.get("INBOUND_SMTP_HOST", "127.0.0.1"),
        port=port if port is not None else int(config.get("INBOUND_SMTP_PORT", 2525)),
    )
    controller.start()
    return controller


def run_inbound_listener() -> None:
    """``python worker.py inbound``: listen until SIGTERM or SIGINT."""
    from nurture_ui.jobs import worker_app

    app = worker_app()
    controller = start_inbound_listener(app)
    log.warning(
        "inbound %s listener on %s:%s",
        "LMTP" if app.config.get("INBOUND_LMTP") else "SMTP",
        controller.hostname,
        controller.port,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
