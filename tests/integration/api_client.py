"""A signed client for the events API that checks every request and response against openapi.yaml."""

from __future__ import annotations

import json
import time

from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from nurture_ui import clock
from nurture_ui.api.credentials import issue_credential, sign
from nurture_ui.api.events import OPENAPI_FILE

SPEC = OpenAPI.from_file_path(str(OPENAPI_FILE))
PATH = "/api/v1/events"


class SignedClient:
    def __init__(self, app, tenant):
        self.app = app
        self.client = app.test_client()
        self.credential, self.secret = issue_credential(tenant, label="tests")
        self.last_headers: dict[str, str] = {}

    def headers(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict:
        stamp = str(timestamp if timestamp is not None else int(clock.now().timestamp()))
        return {
            "X-Nurture-Key": self.credential.key_id,
            "X-Nurture-Timestamp": stamp,
            "X-Nurture-Signature": sign(secret or self.secret, stamp, body),
        }

    def send(self, event, *, headers: dict | None = None, check_request: bool = True, **sign_options):
        """POST ``event`` (a dict, or raw bytes) signed now; the response is checked against the spec."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = headers or self.headers(body, **sign_options)
        self.last_headers = headers
        builder = EnvironBuilder(
            path=PATH, method="POST", data=body, headers=headers, content_type="application/json"
        )
        request = Request(builder.get_environ())
        if check_request:
            SPEC.validate_request(WerkzeugOpenAPIRequest(request))
        with self.app.app_context():
            response = self.client.post(PATH, data=body, headers=headers, content_type="application/json")
        SPEC.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
        return response

    def resend(self, event):
        """Send the exact same request again: same body, same timestamp, same signature."""
        return self.send(event, headers=self.last_headers)


def event_id() -> str:
    return f"evt-{time.monotonic_ns()}"
