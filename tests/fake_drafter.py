"""A local stand-in for an AI writing service: an HTTP server on 127.0.0.1 whose answer a test chooses."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeDrafter:
    """``mode`` is "ok" (answers a draft), "slow" (answers after ``delay`` seconds), "error" (500) or
    "garbage" (200 with non-JSON). ``requests`` holds every JSON body received."""

    def __init__(self):
        self.mode = "ok"
        self.delay = 2.0
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                fake.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                if fake.mode == "slow":
                    time.sleep(fake.delay)
                if fake.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    return
                if fake.mode == "garbage":
                    payload = b"<html>oops</html>"
                else:
                    lead = fake.requests[-1]["lead"]
                    payload = json.dumps(
                        {
                            "subject": f"A thought for {lead['company']}",
                            "body": f"Hi {lead['first_name']}, written by the agent.",
                        }
                    ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/draft"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeDrafter:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
