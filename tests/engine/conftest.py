"""Fixtures for the engine tests: a real local SMTP server, and helpers to enroll and read the trace."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa

from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db
from nurture_ui.models import Activity, OutboundMessage
from tests import factories
from tests.mail_checks import problems


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def to_address(message) -> str:
    """The address a received message is To (its header also carries the lead's name)."""
    return message["To"].addresses[0].addr_spec


class CollectingHandler:
    """Keeps every message the server accepts; ``reply`` can be set to refuse (e.g. "451 try later").

    Every message is first checked as a strict MTA would (``tests.mail_checks``): a malformed one is refused
    with a 554 and kept in ``malformed``, and the fixtures fail the test over it (``assert_well_formed``).
    """

    def __init__(self):
        self.messages = []
        self.raw: list[bytes] = []
        self.malformed: list[str] = []
        self.lock = threading.Lock()
        self.replies: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        data = envelope.original_content or envelope.content
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            found = problems(data)
            if found:
                self.malformed.append("\n".join(found))
                return "554 5.6.0 Malformed message: " + found[0][:200].replace("\r", " ").replace("\n", " ")
            self.raw.append(data)
            self.messages.append(message_from_bytes(data, policy=policy.default))
        return "250 OK"

    def assert_well_formed(self) -> None:
        assert not self.malformed, "the app sent malformed messages:\n" + "\n\n".join(self.malformed)

    def by_recipient(self) -> dict[str, list]:
        result: dict[str, list] = {}
        for message in self.messages:
            result.setdefault(to_address(message), []).append(message)
        return result


@pytest.fixture
def smtp_server(app):
    """A real aiosmtpd server on a free local port; the app sends to it for the length of the test."""
    from aiosmtpd.controller import Controller

    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    yield handler
    app.config.update(saved)
    controller.stop()
    handler.assert_well_formed()


class InspectedSink:
    """``inspect`` for the benchmark's SMTP sink in tests: every message it receives is checked as a strict
    MTA would, and ``assert_well_formed`` fails the test over any malformed one."""

    def __init__(self):
        self.malformed: list[str] = []

    def __call__(self, data: bytes) -> None:
        found = problems(data)
        if found:
            self.malformed.append("\n".join(found))

    def assert_well_formed(self) -> None:
        assert not self.malformed, "the app sent malformed messages:\n" + "\n\n".join(self.malformed)


# Each stop, set on a lead mid-sequence (the caller commits): the exit reason it must lead to → how to set it.
STOPS = {
    "converted": lambda lead: setattr(lead, "status", "converted"),
    "disqualified": lambda lead: setattr(lead, "status", "disqualified"),
    "do_not_contact": lambda lead: setattr(lead, "do_not_contact", True),
    "unsubscribed": lambda lead: factories.make_reply(lead, "unsubscribe"),
    "positive_reply": lambda lead: factories.make_reply(lead, "positive"),
}


def enroll(lead, sequence, now):
    enrollment = schedule_first_step(lead, sequence, now=now)
    db.session.commit()
    return enrollment


# Activities of one transaction share their instant; within an instant they read by step, then in this order.
_ORDER = [
    "nurture_enrolled",
    "nurture_step_scheduled",
    "nurture_resumed",
    "nurture_step_executed",
    "nurture_paused",
    "nurture_exited",
    "nurture_completed",
    "message_sent",
    "message_failed",
    "message_unknown",
]


def trace(enrollment) -> list[tuple]:
    """The enrollment's activities as (type, occurred_at, step) in order."""
    rows = db.session.scalars(sa.select(Activity).where(Activity.enrollment_id == enrollment.id)).all()
    rows = sorted(
        rows,
        key=lambda a: (
            a.occurred_at,
            a.data.get("step") or 0,
            _ORDER.index(a.type) if a.type in _ORDER else 99,
        ),
    )
    return [(a.type, a.occurred_at, a.data.get("step")) for a in rows]


def types(enrollment) -> list[str]:
    return [t for t, _, _ in trace(enrollment)]


def messages(enrollment) -> list[OutboundMessage]:
    return db.session.scalars(
        sa.select(OutboundMessage)
        .where(OutboundMessage.enrollment_id == enrollment.id)
        .order_by(OutboundMessage.step_order)
    ).all()
