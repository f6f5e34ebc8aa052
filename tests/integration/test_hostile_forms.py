"""Every form and query string of the app, fed hostile input: an answer with a message, never a 500.

The routes come from the URL map (a new form is fuzzed without anyone adding it here); the field names
are every name the app's forms read, plus junk. Each route first gets a fixed set of nasty forms, then
hypothesis draws routes and forms at random.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.integration.test_access import _routes, _url

FIELDS = [
    "name", "description", "key", "subject", "body", "pre_approved", "status", "score", "score_band",
    "owner_id", "owner", "do_not_contact", "channel", "delay_value", "delay_unit", "template_id",
    "requires_human_approval", "instructions", "text", "sentiment", "email", "password", "role", "remember",
    "lead_id", "lead_ids", "sequence_id", "override", "next", "scope", "prefix", "action", "order",
    "direction", "inactivity_days", "inactivity_on", "conversion", "disqualification", "unsubscribe",
    "positive_reply", "any_reply", "q", "segment", "page", "map-email", "map-first_name",
    "entry-mode", "entry-match", "entry-json", "entry-count", "entry-0-field", "entry-0-op", "entry-0-value",
    "cond-mode", "cond-json", "cond-count", "cond-0-field", "cond-0-op", "cond-0-value",
]  # fmt: skip
NASTY = [
    "",
    "a\x00b",
    '<script>alert(1)</script>"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}{% for x in range(9) %}'; DROP TABLE leads; --",
    "-1",
    "99999999999999999999999999",
    "\r\nBcc: victim@example.com é\u202e\ufeff\U0001f600",
    '{"not": ' * 2000 + "[" * 3000,
    "x" * 70_000,
]
SKIP = {"auth.logout", "static", "api.receive_event"}  # logout ends the session; the API has its own fuzz


def _form_routes(app):
    return [
        (rule, method)
        for rule, method in _routes(app)
        if rule.endpoint not in SKIP and (method == "POST" or not rule.arguments)
    ]


def _check(response, what):
    assert response.status_code < 500, f"{what} answered {response.status_code}"


def _send(client, url, method, form):
    if method == "GET":
        return client.get(url, query_string=form)
    return client.post(url, form)


def test_every_form_survives_a_set_of_nasty_inputs(app, login_as, tenant):
    client = login_as("admin")
    factories.make_template(tenant, key="intro")
    for rule, method in _form_routes(app):
        url = _url(rule, tenant)
        for value in NASTY if method == "POST" else [v for v in NASTY if len(v) < 1000]:
            form = dict.fromkeys(FIELDS, value)
            _check(_send(client, url, method, form), f"{method} {rule.rule} with {value[:20]!r}")
            _check(
                _send(client, url, method, {"prefix": "entry", "entry-mode": "json", "entry-json": value}),
                rule.rule,
            )


texts = st.one_of(st.text(max_size=40), st.sampled_from(NASTY[:7]), st.integers().map(str))
forms = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), texts, max_size=8)


@pytest.fixture
def fuzz_client(app, login_as, tenant):
    factories.make_template(tenant, key="intro")
    routes = [(rule, method, _url(rule, tenant)) for rule, method in _form_routes(app)]
    return login_as("admin"), routes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_forms_on_random_routes_never_get_a_500(fuzz_client, data):
    client, routes = fuzz_client
    rule, method, url = data.draw(st.sampled_from(routes), label="route")
    form = data.draw(forms, label="form")
    _check(_send(client, url, method, form), f"{method} {rule.rule} with {form!r}")
