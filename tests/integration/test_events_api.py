"""The inbound events API: signed, replay-proof, idempotent, and true to its OpenAPI file."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from openapi_core.validation.request.exceptions import RequestValidationError

from nurture_ui.extensions import db
from nurture_ui.models import (
    Activity,
    ApiCredential,
    Enrollment,
    InboundEvent,
    Lead,
    LeadReply,
    OutboundMessage,
)
from tests import factories
from tests.integration.api_client import SPEC, SignedClient, event_id


@pytest.fixture
def api(app, tenant):
    return SignedClient(app, tenant)


@pytest.fixture
def live(tenant, clock):
    lead = factories.make_lead(tenant, email="ada@example.com")
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"channel": "email", "delay_hours": 48, "template_id": "intro"}] * 3
    )
    enrollment = factories.make_enrollment(
        lead, sequence, current_step_order=2, next_step_on=clock.now() + timedelta(hours=2)
    )
    return lead, enrollment


def reply(text, email="ada@example.com", **extra):
    return {"id": event_id(), "type": "reply.received", "data": {"email": email, "text": text, **extra}}


def _count(model):
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_positive_reply_exits_the_live_enrollment_before_its_next_email(api, live, clock):
    lead, enrollment = live
    queued = OutboundMessage(
        tenant_id=lead.tenant_id,
        enrollment_id=enrollment.id,
        step_order=2,
        lead_id=lead.id,
        sequence_id=enrollment.sequence_id,
        to_email=lead.email,
        subject="Next",
        body="…",
        status="queued",
        message_id="<next@test>",
    )
    db.session.add(queued)
    db.session.commit()

    response = api.send(reply("Yes - let's set up a call next week.", subject="Re: hello"))

    assert response.status_code == 200, response.json
    body = response.json
    assert body["duplicate"] is False
    assert body["reply"]["sentiment"] == "positive"
    assert body["enrollments"] == [{"id": str(enrollment.id), "status": "exited", "reason": "positive_reply"}]
    db.session.expire_all()
    assert db.session.get(Enrollment, enrollment.id).status == "exited"
    assert db.session.get(OutboundMessage, queued.id).status == "cancelled"
    assert db.session.get(Lead, lead.id).last_engaged_at == clock.now()


def test_bad_signature_is_refused_with_401_and_changes_nothing(api, live):
    event = reply("Yes, interested!")
    response = api.send(event, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "bad_signature"
    assert _count(LeadReply) == 0 and _count(InboundEvent) == 0
    assert db.session.get(Enrollment, live[1].id).status == "active"


def test_a_tampered_body_fails_its_signature(api, live):
    event = reply("Not interested.")
    body = json.dumps(event).encode()
    headers = api.headers(body)
    tampered = json.dumps({**event, "data": {**event["data"], "text": "Yes, interested!"}}).encode()
    response = api.send(tampered, headers=headers)
    assert response.status_code == 401 and _count(LeadReply) == 0


def test_replayed_request_is_refused_with_401_and_changes_nothing(api, live, clock):
    event = reply("Who is this?")
    assert api.send(event).status_code == 200
    activities = _count(Activity)

    clock.advance(seconds=30)
    replay = api.resend(event)

    assert replay.status_code == 401
    assert replay.json["error"]["code"] == "replayed"
    assert _count(LeadReply) == 1 and _count(Activity) == activities and _count(InboundEvent) == 1


def test_stale_timestamp_is_refused(api, live, clock):
    old = int((clock.now() - timedelta(minutes=6)).timestamp())
    response = api.send(reply("Yes, interested!"), timestamp=old)
    assert response.status_code == 401 and response.json["error"]["code"] == "stale_timestamp"
    assert _count(LeadReply) == 0
    future = int((clock.now() + timedelta(minutes=6)).timestamp())
    assert api.send(reply("Yes, interested!"), timestamp=future).status_code == 401


def test_unknown_or_revoked_key_and_missing_headers_are_refused(api, live, clock):
    api.credential.revoked_at = clock.now()
    db.session.commit()
    response = api.send(reply("Hi"))
    assert (response.status_code, response.json["error"]["code"]) == (401, "unknown_key")
    with pytest.raises(RequestValidationError):  # the spec requires the signature header too
        api.send(reply("Hi"), headers={"X-Other": "1"})
    response = api.send(reply("Hi"), headers={"X-Other": "1"}, check_request=False)
    assert (response.status_code, response.json["error"]["code"]) == (401, "missing_headers")


def test_the_same_event_sent_twice_acts_once(api, live, clock):
    event = reply("Out of office, back on Monday 9 March.")
    first = api.send(event)
    clock.advance(seconds=5)
    second = api.send(event)  # signed anew: not a replay, a retry

    assert first.status_code == second.status_code == 200
    assert second.json["duplicate"] is True
    assert {k: v for k, v in second.json.items() if k != "duplicate"} == {
        k: v for k, v in first.json.items() if k != "duplicate"
    }
    assert _count(LeadReply) == 1
    paused = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_paused")).all()
    assert len(paused) == 1


def test_out_of_office_reply_pauses_and_the_enrollment_resumes_on_the_return_date(api, live, clock):
    from nurture_ui.signals import resume_due_pauses

    lead, enrollment = live
    response = api.send(reply("Automatic reply: I'm out of the office until Thursday 5 March."))
    assert response.json["reply"]["return_on"] == "2026-03-05"
    assert response.json["enrollments"][0]["status"] == "paused"

    clock.set(clock.now().replace(day=4, hour=23))
    assert resume_due_pauses() == 0
    clock.set(clock.now().replace(day=5, hour=0, minute=1))
    assert resume_due_pauses() == 1
    db.session.expire_all()
    assert db.session.get(Enrollment, enrollment.id).status == "active"


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        ({"id": "x", "type": "lead.exploded", "data": {"email": "ada@example.com"}}, 422, "invalid_event"),
        ({"type": "lead.converted", "data": {"email": "ada@example.com"}}, 422, "invalid_event"),
        ({"id": "x", "type": "reply.received", "data": {"email": "ada@example.com"}}, 422, "invalid_event"),
        (
            {"id": "x", "type": "email.bounced", "data": {"email": "ada@example.com", "kind": "x"}},
            422,
            "invalid_event",
        ),
        (
            {"id": "x", "type": "lead.converted", "data": {"email": "nobody@example.com"}},
            404,
            "lead_not_found",
        ),
        (
            {"id": "x", "type": "lead.upserted", "data": {"email": "new@example.com", "score": 900}},
            422,
            "invalid_lead",
        ),
    ],
)
def test_bad_payloads_get_a_4xx_with_a_reason(api, live, event, status, code):
    if status == 422 and code != "invalid_lead":
        with pytest.raises(RequestValidationError):  # the spec refuses them too
            api.send(event)
    response = api.send(event, check_request=False)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    assert _count(InboundEvent) == 0


def test_not_json_is_a_400(api, live):
    response = api.send(b"{not json", check_request=False)
    assert (response.status_code, response.json["error"]["code"]) == (400, "invalid_json")


def test_lead_upserted_creates_then_updates_by_email(api, tenant):
    owner = factories.make_user(tenant, "rep", email="rob@example.com")
    created = api.send(
        {
            "id": event_id(),
            "type": "lead.upserted",
            "data": {"email": "Grace@Example.com", "first_name": "Grace", "company": "Navy", "score": 70},
        }
    )
    assert created.json["lead"]["outcome"] == "created"
    updated = api.send(
        {
            "id": event_id(),
            "type": "lead.upserted",
            "data": {
                "email": "grace@example.com",
                "score": 80,
                "owner_email": "ROB@example.com",
                "company": "Navy",
            },
        }
    )
    assert updated.json["lead"] == {"outcome": "updated", "changed": ["owner_email", "score"]}
    assert updated.json["lead_id"] == created.json["lead_id"]
    lead = db.session.scalars(sa.select(Lead)).one()
    assert (lead.score, lead.owner_id, lead.first_name) == (80, owner.id, "Grace")


@pytest.mark.parametrize("zone", ["x" * 300, "America", "../../etc/passwd"])
def test_lead_upserted_with_a_time_zone_that_is_not_one_is_a_422_naming_the_field(api, tenant, zone):
    event = {"id": event_id(), "type": "lead.upserted", "data": {"email": "tz@example.com", "timezone": zone}}
    response = api.send(event, check_request=False)
    assert (response.status_code, response.json["error"]["code"]) == (422, "invalid_lead")
    assert "is not a time zone" in response.json["error"]["fields"]["data.timezone"]
    assert _count(Lead) == 0


def test_an_out_of_office_reply_reads_a_broken_stored_zone_as_utc(api, live, tenant, clock):
    """Zones stored before they were checked (a directory name, an overlong policy value) fall back."""
    lead, enrollment = live
    lead.timezone = "America"
    tenant.policy = {"timezone": "x" * 300}
    db.session.commit()
    response = api.send(reply("Automatic reply: I'm out of the office until Thursday 5 March."))
    assert response.status_code == 200
    assert response.json["enrollments"][0]["status"] == "paused"
    clock.set(clock.now().replace(day=5, hour=0, minute=1))
    from nurture_ui.signals import resume_due_pauses

    assert resume_due_pauses() == 1


def test_conversion_disqualification_unsubscribe_and_bounce_events(api, tenant, clock):
    for email in ("c@example.com", "d@example.com", "u@example.com", "b@example.com"):
        lead = factories.make_lead(tenant, email=email)
        factories.make_enrollment(lead, factories.make_sequence(tenant, status="active"))
    cases = [
        ("lead.converted", "c@example.com", {}, "converted"),
        ("lead.disqualified", "d@example.com", {"reason": "student"}, "disqualified"),
        ("lead.unsubscribed", "u@example.com", {}, "unsubscribed"),
        ("email.bounced", "b@example.com", {"kind": "hard", "diagnostic": "550 no such user"}, "bounced"),
    ]
    for kind, email, extra, reason in cases:
        response = api.send({"id": event_id(), "type": kind, "data": {"email": email, **extra}})
        assert response.status_code == 200, response.json
        assert response.json["enrollments"][0]["reason"] == reason
    db.session.expire_all()
    leads = {lead.email: lead for lead in db.session.scalars(sa.select(Lead))}
    assert leads["c@example.com"].status == "converted"
    assert leads["d@example.com"].status == "disqualified"
    assert leads["u@example.com"].unsubscribed_at == clock.now()
    assert leads["b@example.com"].undeliverable is True


def test_a_soft_bounce_event_queues_the_email_again(api, live, clock):
    lead, enrollment = live
    message = OutboundMessage(
        tenant_id=lead.tenant_id,
        enrollment_id=enrollment.id,
        step_order=1,
        lead_id=lead.id,
        sequence_id=enrollment.sequence_id,
        to_email=lead.email,
        subject="Hello",
        body="…",
        status="sent",
        sent_at=clock.now(),
        attempts=1,
        message_id="<first@test>",
    )
    db.session.add(message)
    db.session.commit()
    event = {
        "id": event_id(),
        "type": "email.bounced",
        "data": {
            "email": lead.email,
            "kind": "soft",
            "diagnostic": "452 mailbox full",
            "message_id": "first@test",
        },
    }
    response = api.send(event)
    assert response.status_code == 200, response.json
    assert response.json["message"] == {"id": str(message.id), "status": "queued"}
    assert response.json["enrollments"] == []
    db.session.expire_all()
    assert db.session.get(OutboundMessage, message.id).status == "queued"
    assert db.session.get(Enrollment, enrollment.id).status == "active"


def test_events_only_reach_their_own_tenant(api, other_tenant):
    factories.make_lead(other_tenant, email="ada@example.com")
    response = api.send({"id": event_id(), "type": "lead.converted", "data": {"email": "ada@example.com"}})
    assert response.status_code == 404


def test_the_api_needs_no_csrf_token_and_no_session(api, tenant):
    # Covered by every test above; this one checks the CLI prints a working key.
    result = api.app.test_cli_runner().invoke(args=["nurture", "api-token", "--tenant", tenant.slug])
    assert result.exit_code == 0, result.output
    key = result.output.split("key:")[1].split()[0]
    secret = result.output.split("secret:")[1].split()[0]
    assert db.session.scalar(sa.select(ApiCredential).where(ApiCredential.key_id == key)) is not None
    api.credential = db.session.scalar(sa.select(ApiCredential).where(ApiCredential.key_id == key))
    api.secret = secret
    response = api.send({"id": event_id(), "type": "lead.upserted", "data": {"email": "cli@example.com"}})
    assert response.status_code == 200


def test_the_openapi_file_is_a_valid_document_and_is_served(app):
    SPEC.check_spec()
    response = app.test_client().get("/api/v1/openapi.yaml")
    assert response.status_code == 200 and b"openapi: 3.0.3" in response.data
