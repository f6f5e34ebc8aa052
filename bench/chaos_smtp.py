"""The chaos run's SMTP server: accepts mail and logs every accepted message, or refuses on command.

    python bench/chaos_smtp.py PORT LOGFILE

Each accepted message is one JSON line ``{"at", "message_id", "to", "subject"}`` written and flushed
*before* the server answers 250, so the log is the server's own record of what it took responsibility for.
SIGUSR1 starts refusing (every DATA gets ``451 4.3.0``, a transient failure the sender must retry);
SIGUSR2 stops refusing. Refused attempts are logged as ``{"at", "refused": message_id}``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class LoggingHandler:
    def __init__(self, path: str):
        self.log = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)
        self.lock = threading.Lock()
        self.refusing = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        message_id = str(message["Message-ID"] or "")
        with self.lock:
            if self.refusing:
                self.log.write(json.dumps({"at": time.time(), "refused": message_id}) + "\n")
                return "451 4.3.0 Mail server busy, try again later"
            self.log.write(
                json.dumps(
                    {
                        "at": time.time(),
                        "message_id": message_id,
                        "to": ",".join(envelope.rcpt_tos),
                        "subject": str(message["Subject"] or ""),
                    }
                )
                + "\n"
            )
            self.log.flush()
        return "250 OK"


def main(port: int, path: str) -> None:
    handler = LoggingHandler(path)

    def refuse(*_):
        handler.refusing = True

    def accept(*_):
        handler.refusing = False

    signal.signal(signal.SIGUSR1, refuse)
    signal.signal(signal.SIGUSR2, accept)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
