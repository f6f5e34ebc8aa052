"""The benchmarks' SMTP sink is a real SMTP server: smtplib talks to it, and pipelined commands are answered
one by one, in order."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import pytest

from bench.smtp_sink import serving_in_thread


@pytest.fixture
def sink():
    """A sink on a free port, served from a background event loop."""
    with serving_in_thread() as served:
        yield served


def _replies(conn: socket.socket, count: int) -> list[bytes]:
    """Read ``count`` complete replies (a multi-line reply counts once)."""
    buffer, replies = b"", []
    while len(replies) < count:
        chunk = conn.recv(4096)
        assert chunk, f"connection closed after {replies}"
        buffer += chunk
        while b"\r\n" in buffer:
            line, buffer = buffer.split(b"\r\n", 1)
            if line[3:4] != b"-":
                replies.append(line[:3])
    return replies


def test_smtplib_sends_over_one_connection_and_every_message_is_counted(sink):
    server, port = sink
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("pipelining") and smtp.has_extn("8bitmime")
        for i in range(3):
            email = EmailMessage()
            email["From"], email["To"], email["Subject"] = "a@x.test", f"b{i}@x.test", "Hé"
            email.set_content("Line one\n.\nA dot alone on a line is stuffed, not the end.\n")
            assert smtp.send_message(email) == {}
        smtp.rset()
        assert smtp.noop()[0] == 250
        assert smtp.docmd("XCOUNT") == (250, b"3")
    assert server.accepted == 3


def test_pipelined_commands_are_answered_in_order(sink):
    server, port = sink
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        assert _replies(conn, 1) == [b"220"]
        conn.sendall(
            b"EHLO me\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n"
        )
        assert _replies(conn, 5) == [b"250", b"250", b"250", b"250", b"354"]
        # The body, the next transaction and QUIT in a single write.
        conn.sendall(
            b"Subject: one\r\n\r\nbody\r\n.\r\n"
            b"MAIL FROM:<a@x.test>\r\nRCPT TO:<d@x.test>\r\nDATA\r\nSubject: two\r\n\r\n.\r\nQUIT\r\n"
        )
        assert _replies(conn, 6) == [b"250", b"250", b"250", b"354", b"250", b"221"]
    assert server.accepted == 2


def test_commands_out_of_order_are_refused_and_not_counted(sink):
    server, port = sink
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        _replies(conn, 1)
        conn.sendall(
            b"HELO me\r\nDATA\r\nRCPT TO:<b@x.test>\r\nMAIL FROM:<a@x.test>\r\nMAIL FROM:<a@x.test>\r\n"
        )
        assert _replies(conn, 5) == [b"250", b"503", b"503", b"250", b"503"]
        conn.sendall(b"RSET\r\nDATA\r\nVRFY b\r\nQUIT\r\n")
        assert _replies(conn, 4) == [b"250", b"503", b"502", b"221"]
    assert server.accepted == 0


def test_a_sink_with_inspect_hands_over_each_message_with_its_dots_unstuffed():
    received = []
    with (
        serving_in_thread(inspect=received.append) as (_, port),
        smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp,
    ):
        smtp.sendmail("a@x.test", ["b@x.test"], b"Subject: s\r\n\r\nLine\r\n.\r\n..two\r\n")
    assert received == [b"Subject: s\r\n\r\nLine\r\n.\r\n..two\r\n"]
