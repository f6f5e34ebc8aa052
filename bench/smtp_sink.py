"""A lean SMTP server that accepts every message and counts it, for the benchmarks.

    .venv/bin/python -m bench.smtp_sink PORT      prints "ready PORT" once listening

aiosmtpd spends more time per message than the engine does, so the benchmark would measure it. This speaks
just enough SMTP for smtplib over plain TCP: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, advertising
PIPELINING and 8BITMIME. Commands are read one line at a time from the connection's buffer and answered in
order, so a client that pipelines a group of commands gets one reply per command, in sequence. ``XCOUNT``
(not SMTP) answers ``250 <messages accepted so far>``, which lets the benchmark watch progress cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Iterator

EHLO_REPLY = b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
MAX_LINE = 1 << 20


class SmtpSink:
    """An asyncio SMTP server; ``accepted`` counts messages whose DATA ended with a 250."""

    def __init__(self, refuse: tuple[bytes, ...] = (), inspect=None) -> None:
        self.accepted = 0
        self.refuse = refuse  # recipients answered 550 (tests of a client's refusal handling)
        # Tests: called with each message's bytes (dots unstuffed); a message is only kept when this is set.
        self.inspect = inspect
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0: any free port) and return the port."""
        self.server = await asyncio.start_server(self._session, host, port, limit=MAX_LINE)
        return self.server.sockets[0].getsockname()[1]

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 bench-sink ESMTP\r\n")
        sender, recipients = None, 0
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb, _, argument = line.strip().partition(b" ")
                verb = verb.upper()
                if verb == b"EHLO":
                    sender, recipients = None, 0
                    writer.write(EHLO_REPLY)
                elif verb == b"HELO":
                    sender, recipients = None, 0
                    writer.write(b"250 bench-sink\r\n")
                elif verb == b"MAIL":
                    if sender is not None:
                        writer.write(b"503 5.5.1 Nested MAIL command\r\n")
                    elif not argument.upper().startswith(b"FROM:"):
                        writer.write(b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n")
                    else:
                        sender, recipients = argument[5:], 0
                        writer.write(b"250 2.1.0 OK\r\n")
                elif verb == b"RCPT":
                    if sender is None:
                        writer.write(b"503 5.5.1 Need MAIL before RCPT\r\n")
                    elif not argument.upper().startswith(b"TO:"):
                        writer.write(b"501 5.5.4 Syntax: RCPT TO:<address>\r\n")
                    elif any(address in argument for address in self.refuse):
                        writer.write(b"550 5.1.1 No such user\r\n")
                    else:
                        recipients += 1
                        writer.write(b"250 2.1.5 OK\r\n")
                elif verb == b"DATA":
                    if not recipients:
                        writer.write(b"503 5.5.1 Need RCPT before DATA\r\n")
                        continue
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    content = await self._read_data(reader, keep=self.inspect is not None)
                    if content is None:
                        break
                    if self.inspect is not None:
                        self.inspect(content)
                    self.accepted += 1
                    sender, recipients = None, 0
                    writer.write(b"250 2.0.0 OK queued\r\n")
                elif verb == b"RSET":
                    sender, recipients = None, 0
                    writer.write(b"250 2.0.0 OK\r\n")
                elif verb == b"NOOP":
                    writer.write(b"250 2.0.0 OK\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    break
                elif verb == b"XCOUNT":
                    writer.write(b"250 %d\r\n" % self.accepted)
                else:
                    writer.write(b"502 5.5.2 Command not implemented\r\n")
                # Answers to a pipelined group go out together; wait for the socket only when nothing is queued.
                if not reader._buffer:  # noqa: SLF001 - StreamReader exposes no "is data waiting" call
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _read_data(reader: asyncio.StreamReader, *, keep: bool) -> bytes | None:
        """Consume a message up to the line holding a single dot: its bytes when ``keep`` (else b""), None if
        the client went away first."""
        lines = []
        while True:
            line = await reader.readline()
            if not line:
                return None
            if line in (b".\r\n", b".\n"):
                return b"".join(lines)
            if keep:
                lines.append(line[1:] if line.startswith(b".") else line)


@contextlib.contextmanager
def serving_in_thread(**options) -> Iterator[tuple[SmtpSink, int]]:
    """A sink on a free port, on its own event loop in a background thread (for tests): yields it and its
    port, and stops it after. The loop is the thread's own, whatever loop the calling thread runs."""
    sink, started, ports = SmtpSink(**options), threading.Event(), []
    loop = asyncio.new_event_loop()

    def serve_forever() -> None:
        asyncio.set_event_loop(loop)
        ports.append(loop.run_until_complete(sink.start()))
        started.set()
        loop.run_forever()
        # Sessions still open (a client saying QUIT from a thread of its own) end here, not half-collected.
        sessions = asyncio.all_tasks(loop)
        for session in sessions:
            session.cancel()
        loop.run_until_complete(asyncio.gather(*sessions, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the SMTP sink did not start")
    try:
        yield sink, ports[0]
    finally:
        loop.call_soon_threadsafe(sink.server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def serve(port: int) -> None:
    sink = SmtpSink()
    bound = await sink.start(port=port)
    print(f"ready {bound}", flush=True)
    await sink.server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
