"""A local SMTP server that accepts and counts mail, for the engine benchmark (run as its own process)."""

from __future__ import annotations

import sys
import threading

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.count += 1
        return "250 OK"


if __name__ == "__main__":
    controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()
