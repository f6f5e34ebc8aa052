"""``POST /api/v1/events``: one signed event per request, applied in one transaction, once per id.

The door only checks the request and the payload's shape; what each event does lives in
``nurture_ui.signals`` and ``nurture_ui.lead_upsert``. Documented in ``openapi.yaml`` beside this file.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import IntegrityError

from nurture_ui import clock, signals
from nurture_ui.api.credentials import AuthError, authenticate
from nurture_ui.extensions import csrf, db
from nurture_ui.lead_upsert import (
    LeadFieldErrors,
    clean_lead_fields,
    find_lead_by_email,
    owner_directory,
    upsert_lead,
)
from nurture_ui.models import InboundEvent, Tenant
from nurture_ui.web.access import public

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")
MAX_BODY_BYTES = 256 * 1024
EVENT_TYPES = (
    "reply.received",
    "lead.converted",
    "lead.disqualified",
    "lead.unsubscribed",
    "email.bounced",
    "lead.upserted",
)


class PayloadError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def _error(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


@bp.get("/openapi.yaml")
@public
def openapi_document():
    return Response(OPENAPI_FILE.read_text(), mimetype="application/yaml")


@bp.post("/events")
@public  # authenticated below by the request signature, not a session
def receive_event():
    body = request.get_data()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "too_large", f"Events are at most {MAX_BODY_BYTES // 1024} KiB.")
    try:
        credential = authenticate(request.headers, body)
    except AuthError as error:
        db.session.rollback()
        return _error(401, error.code, error.message)
    try:
        event = _parse_envelope(body)
    except PayloadError as error:
        db.session.commit()  # the signature stays used: the same request again is a replay
        return _error(error.status, error.code, error.message, error.fields)

    tenant = db.session.get(Tenant, credential.tenant_id)
    stored = _stored_event(tenant.id, event["id"])
    if stored is not None:
        db.session.commit()
        return _duplicate_response(stored)
    record = InboundEvent(
        tenant_id=tenant.id,
        event_id=event["id"],
        type=event["type"],
        received_at=clock.now(),
        status_code=200,
    )
    db.session.add(record)
    try:
        db.session.flush()  # a concurrent request with the same id waits here, then fails
        result = _apply(tenant, event)
    except IntegrityError:
        db.session.rollback()
        stored = _stored_event(tenant.id, event["id"])
        if stored is None:
            raise
        return _duplicate_response(stored)
    except PayloadError as error:
        db.session.rollback()
        return _error(error.status, error.code, error.message, error.fields)
    body = {"event_id": event["id"], "type": event["type"], "duplicate": False, **result}
    record.lead_id = uuid.UUID(result["lead_id"])
    record.result = body
    db.session.commit()
    return jsonify(body), 200


def _stored_event(tenant_id, event_id: str) -> InboundEvent | None:
    return db.session.scalar(
        sa.select(InboundEvent).where(InboundEvent.tenant_id == tenant_id, InboundEvent.event_id == event_id)
    )


def _duplicate_response(stored: InboundEvent):
    return jsonify({**stored.result, "duplicate": True}), stored.status_code


# ---------------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------------


def _parse_envelope(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
        holds_nul = _holds_nul(event)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError(400, "invalid_json", "The body is not JSON.") from None
    except RecursionError:
        raise PayloadError(400, "invalid_json", "The body is nested too deeply.") from None
    if not isinstance(event, dict):
        raise PayloadError(422, "invalid_event", "The body must be a JSON object.")
    if holds_nul:
        # PostgreSQL text cannot hold NUL; no real event carries one.
        raise PayloadError(422, "invalid_event", "Text in the event cannot contain NUL (\\u0000) characters.")
    fields: dict[str, str] = {}
    if not isinstance(event.get("id"), str) or not 1 <= len(event["id"]) <= 255:
        fields["id"] = "A string of 1 to 255 characters, unique per event."
    if event.get("type") not in EVENT_TYPES:
        fields["type"] = f"One of {', '.join(EVENT_TYPES)}."
    if not isinstance(event.get("data"), dict):
        fields["data"] = "An object with the event's details."
    if "occurred_at" in event:
        try:
            event["occurred_at"] = _instant(event["occurred_at"])
        except (TypeError, ValueError):
            fields["occurred_at"] = "An RFC 3339 date-time with a time zone, e.g. 2026-03-02T10:00:00Z."
    if fields:
        raise PayloadError(422, "invalid_event", "The event is not valid.", fields)
    return event


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _instant(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("naive")
    return min(parsed, clock.now())  # a reply cannot arrive in the future


def _text(data: dict, name: str, *, required: bool = False, limit: int = 255) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise PayloadError(422, "invalid_event", "The event is not valid.", {f"data.{name}": "A string."})
    if required and not value.strip():
        raise PayloadError(422, "invalid_event", "The event is not valid.", {f"data.{name}": "Required."})
    if len(value) > limit:
        raise PayloadError(
            422, "invalid_event", "The event is not valid.", {f"data.{name}": f"At most {limit} characters."}
        )
    return value


def _lead(tenant: Tenant, data: dict):
    email = _text(data, "email", required=True, limit=320)
    lead = find_lead_by_email(tenant.id, email.strip())
    if lead is None:
        raise PayloadError(
            404,
            "lead_not_found",
            f"No lead with the email {email.strip()!r} in this workspace; send lead.upserted first.",
        )
    return lead


def _apply(tenant: Tenant, event: dict) -> dict[str, Any]:
    data, kind = event["data"], event["type"]
    if kind == "lead.upserted":
        try:
            clean = clean_lead_fields(data, tenant, owner_directory(tenant.id))
        except LeadFieldErrors as error:
            fields = {f"data.{name}": message for name, message in error.errors.items()}
            raise PayloadError(422, "invalid_lead", "The lead is not valid.", fields) from None
        lead, outcome, diff = upsert_lead(tenant, clean, source="api")
        changed = sorted("owner_email" if name == "owner_id" else name for name in diff)
        return {"lead_id": str(lead.id), "lead": {"outcome": outcome, "changed": changed}, "enrollments": []}

    lead = _lead(tenant, data)
    if kind == "reply.received":
        text = _text(data, "text", required=True, limit=100_000)
        subject = _text(data, "subject")
        outcome = signals.record_reply(lead, text, subject=subject, received_at=event.get("occurred_at"))
        reply = outcome.reply
        verdict = outcome.classification
        result = outcome.summary()
        result["reply"] = {
            "id": str(reply.id),
            "sentiment": reply.sentiment,
            "because": verdict.reason,
            "return_on": verdict.return_on.isoformat() if verdict.return_on else None,
        }
        return result
    if kind == "lead.converted":
        return signals.convert(lead, source="api").summary()
    if kind == "lead.disqualified":
        return signals.disqualify(
            lead, source="api", data={"note": _text(data, "reason", limit=500)}
        ).summary()
    if kind == "lead.unsubscribed":
        exited = signals.unsubscribe(lead, source="api")
        return signals.Outcome(lead=lead, exited=exited).summary()
    # email.bounced
    bounce = data.get("kind")
    if bounce not in signals.BOUNCE_KINDS:
        raise PayloadError(422, "invalid_event", "The event is not valid.", {"data.kind": "hard or soft."})
    outcome = signals.record_bounce(
        lead,
        bounce,
        diagnostic=_text(data, "diagnostic", limit=500),
        message_id=_text(data, "message_id") or None,
    )
    return outcome.summary()
