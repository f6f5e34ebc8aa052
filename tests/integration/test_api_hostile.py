"""The events API with tenant A's key: tenant B is out of reach whatever the event names, and hostile
bodies get a 4xx with a reason, never a 500."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nurture_ui.api.credentials import sign
from nurture_ui.api.events import EVENT_TYPES
from nurture_ui.extensions import db
from nurture_ui.models import Lead
from tests import factories
from tests.integration.api_client import SignedClient, event_id
from tests.integration.test_access import _fingerprint

EXTRA = {
    "reply.received": {"text": "Yes please, let's talk"},
    "lead.converted": {},
    "lead.disqualified": {"reason": "no budget"},
    "lead.unsubscribed": {},
    "email.bounced": {"kind": "hard", "diagnostic": "550"},
    "lead.upserted": {"first_name": "Hijack", "score": 1},
}


@pytest.fixture
def other_lead(other_tenant):
    lead = factories.make_lead(other_tenant, email="b-lead@example.com", first_name="Bea")
    factories.make_enrollment(lead, factories.make_sequence(other_tenant, status="active"))
    return lead


def test_the_api_walk_every_event_type_with_a_key_of_tenant_a_never_touches_tenant_b(
    app, tenant, other_tenant, other_lead
):
    assert set(EXTRA) == set(EVENT_TYPES), "add the new event type to this walk"
    api = SignedClient(app, tenant)
    before = _fingerprint(other_tenant.id)
    for kind in EVENT_TYPES:
        response = api.send(
            {"id": event_id(), "type": kind, "data": {"email": other_lead.email, **EXTRA[kind]}}
        )
        if kind == "lead.upserted":
            # A lead of tenant A with the same address: B's lead is a different row, untouched.
            assert response.status_code == 200
            made = db.session.get(Lead, uuid.UUID(response.json["lead_id"]))
            assert made.tenant_id == tenant.id and made.id != other_lead.id
        else:
            assert response.status_code == 404, (kind, response.json)
            assert response.json["error"]["code"] == "lead_not_found"
    assert _fingerprint(other_tenant.id) == before


def test_an_event_id_used_by_tenant_b_is_no_duplicate_for_tenant_a(app, tenant, other_tenant, other_lead):
    shared_id = event_id()
    b = SignedClient(app, other_tenant)
    assert (
        b.send(
            {"id": shared_id, "type": "lead.unsubscribed", "data": {"email": other_lead.email}}
        ).status_code
        == 200
    )
    factories.make_lead(tenant, email="a-lead@example.com")
    a = SignedClient(app, tenant)
    response = a.send({"id": shared_id, "type": "lead.converted", "data": {"email": "a-lead@example.com"}})
    assert response.status_code == 200 and response.json["duplicate"] is False
    assert str(other_lead.id) not in json.dumps(response.json)


def test_a_key_of_tenant_a_signed_with_the_secret_of_tenant_b_is_refused(
    app, tenant, other_tenant, other_lead
):
    a, b = SignedClient(app, tenant), SignedClient(app, other_tenant)
    body = json.dumps(
        {"id": event_id(), "type": "lead.converted", "data": {"email": other_lead.email}}
    ).encode()
    headers = a.headers(body, secret=b.secret)
    response = app.test_client().post(
        "/api/v1/events", data=body, headers=headers, content_type="application/json"
    )
    assert response.status_code == 401


# --- hostile bodies ---------------------------------------------------------------------------------


@pytest.fixture
def api_a(app, tenant):
    """A's signed client, with a lead the generated events may name (one for all examples of a test)."""
    factories.make_lead(tenant, email="a-lead@example.com")
    return SignedClient(app, tenant)


texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["", " ", "\x00", "a\x00b", "<script>alert(1)</script>", "'; DROP TABLE leads; --", "é" * 300]
    ),
)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(), texts),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=12,
)
data_fields = st.dictionaries(
    st.sampled_from(
        ["email", "text", "subject", "kind", "reason", "diagnostic", "message_id", "first_name", "last_name",
         "company", "score", "score_band", "status", "segment", "owner_email", "timezone", "do_not_contact"]
    ),
    st.one_of(values, st.just("a-lead@example.com")),
    max_size=6,
)  # fmt: skip
events = st.one_of(
    values,
    st.fixed_dictionaries(
        {
            "id": st.one_of(texts, values),
            "type": st.one_of(st.sampled_from(EVENT_TYPES), texts),
            "data": data_fields,
        },
        optional={"occurred_at": st.one_of(texts, st.sampled_from(["2026-03-01T10:00:00Z", "2026-03-01"]))},
    ),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
def test_hostile_events_get_an_answer_never_a_500(app, tenant, api_a, event):
    api = api_a
    response = api.send(json.dumps(event).encode(), check_request=False)
    # 401 "replayed": hypothesis sent the very same body twice within a second, which is a replay.
    assert response.status_code in (200, 400, 401, 404, 409, 413, 422), response.get_data(as_text=True)[:300]
    assert response.status_code != 401 or response.json["error"]["code"] == "replayed"
    if response.status_code != 200:
        assert response.json["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"id": "x", "type": "lead.upserted", "data": {"email": "a\\u0000@example.com"}}',
        b"\xff\xfe",
    ],
)
def test_deep_nul_and_undecodable_bodies_are_400_or_422(app, tenant, body):
    api = SignedClient(app, tenant)
    response = api.send(body, check_request=False)
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]


def test_an_oversized_event_is_refused_with_413(app, tenant):
    api = SignedClient(app, tenant)
    body = json.dumps({"id": event_id(), "type": "reply.received", "data": {"text": "x" * 300_000}}).encode()
    response = app.test_client().post(
        "/api/v1/events", data=body, headers=api.headers(body), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"


def test_signature_helper_is_what_the_api_checks(app, tenant):
    api = SignedClient(app, tenant)
    body = b"{}"
    assert api.headers(body, timestamp=1)["X-Nurture-Signature"] == sign(api.secret, "1", body)
