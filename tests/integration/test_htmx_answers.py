"""Every htmx request of the app is answered with a fragment, never a whole page (issue 16).

A walk, per role, through every page reachable from the navigation on demo-like data; each element with an
``hx-get``/``hx-post``/``hx-put``/``hx-patch``/``hx-delete`` (on the pages and in the fragments they bring)
is fired as htmx would fire it: with ``HX-Request``, ``HX-Target``, the CSRF token, the enclosing form's
fields and its ``hx-vals``. An answer holding a second ``<html>`` or the layout's sidebar fails the test,
and so does a crash.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from nurture_ui import clock as app_clock
from nurture_ui.demo import DEMO_PASSWORD, seed_demo
from nurture_ui.extensions import db
from nurture_ui.models import LeadReply, OutboundMessage, Sequence, User
from tests import factories

HX_METHODS = ("hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# The base layout's markers (templates/base.html): a page inside the page shows them twice.
WHOLE_PAGE = re.compile(r"<html|<aside class=\"sidebar\"|<nav class=\"nav\" aria-label=\"Main\"", re.I)
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
SKIP_PATHS = ("/static/", "/logout", "/api/", "/devmail")
PAGES_PER_SHAPE = 2  # two lead pages tell as much as twenty


@dataclass
class HtmxCall:
    method: str
    url: str
    target: str | None
    values: dict = field(default_factory=dict)

    @property
    def key(self):
        return (self.method, UUID.sub("<id>", self.url.split("?")[0]), UUID.sub("<id>", self.target or ""))


class HtmxCollector(HTMLParser):
    """Links, and the htmx calls with what htmx would send: inherited ``hx-target``, form fields, hx-vals."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.calls: list[HtmxCall] = []
        self.stack: list[tuple[str, dict]] = []
        self.form: dict | None = None
        self.pending: list[tuple[HtmxCall, dict | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        if tag == "a" and attrs.get("href", "").startswith("/"):
            self.links.append(attrs["href"])
        if tag == "form":
            self.form = {}
        if self.form is not None and tag in ("input", "textarea", "select") and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind not in ("checkbox", "radio") or "checked" in attrs or attrs.get("required") is not None:
                self.form.setdefault(attrs["name"], attrs.get("value", "on" if kind == "checkbox" else ""))
        if tag == "option" and self.form is not None and self.stack:
            select = next((a for t, a in reversed(self.stack) if t == "select"), None)
            if select and select.get("name") and not self.form.get(select["name"]):
                self.form[select["name"]] = attrs.get("value", "")
        for method in HX_METHODS:
            if attrs.get(method):
                self._collect(method[3:].upper(), attrs[method], attrs, is_form=tag == "form")
        if tag not in VOID:
            self.stack.append((tag, attrs))

    def _collect(self, method, url, attrs, *, is_form):
        target = attrs.get("hx-target") or next(
            (a["hx-target"] for _t, a in reversed(self.stack) if a.get("hx-target")), None
        )
        # "this", "closest …" or none: htmx names the element it lands on when it has an id.
        target_id = target[1:] if target and target.startswith("#") else attrs.get("id") or None
        values = {}
        for raw in [a.get("hx-vals") for _t, a in self.stack] + [attrs.get("hx-vals")]:
            if raw:
                values.update(json.loads(raw))
        call = HtmxCall(method, url, target_id, values)
        # A form sends its fields, a non-GET request its closest form's; they are known when it closes.
        self.pending.append((call, self.form if method != "GET" or is_form else None))

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def close(self):
        super().close()
        for call, form in self.pending:
            call.values = {**(form or {}), **call.values}
            self.calls.append(call)


def parse(html: str) -> HtmxCollector:
    collector = HtmxCollector()
    collector.feed(html)
    collector.close()
    return collector


@pytest.fixture
def demo(clock):
    """The demo tenant, plus what makes every fragment show: a draft, an open task, emails a person must
    look at, a reply waiting to be sorted, a live enrollment, a running import, a lead to enroll anyway."""
    demo_tenant = seed_demo(lead_count=12)
    rep = db.session.scalar(db.select(User).where(User.email == "rep@demo.test"))
    leads = demo_tenant_leads(demo_tenant)
    draft = factories.make_draft(demo_tenant, leads[0])
    factories.make_task(demo_tenant, leads[1], assignee_id=rep.id)
    for status, lead in (("failed", leads[2]), ("unknown", leads[3])):
        message = factories.make_draft(demo_tenant, lead, status=status, error="SMTP said no")
        message.updated_at = app_clock.now() - timedelta(hours=2)
    factories.make_reply(leads[4], "neutral", triage="pending", body_excerpt="Maybe later?")
    sequence = db.session.scalars(db.select(Sequence).where(Sequence.tenant_id == demo_tenant.id)).first()
    sequence.status = "active"
    factories.make_enrollment(leads[5], sequence)
    factories.make_lead_import(demo_tenant, status="running")
    clock.advance(minutes=1)  # the newest lead, first on the leads page: one to "enroll anyway"
    factories.make_lead(demo_tenant, status="disqualified", first_name="Dee")
    db.session.commit()
    assert db.session.get(OutboundMessage, draft.id).status == "pending_approval"
    assert db.session.scalar(db.select(db.func.count()).select_from(LeadReply)) == 1
    return demo_tenant


def demo_tenant_leads(tenant):
    from nurture_ui.models import Lead

    return db.session.scalars(db.select(Lead).where(Lead.tenant_id == tenant.id).order_by(Lead.email)).all()


def walk(client) -> tuple[list[str], list[HtmxCall]]:
    """Visit every page reachable from the home page (a few per URL shape) and collect htmx calls."""
    seen_shapes: dict[str, int] = {}
    visited, calls = [], {}
    queue = deque(["/"])
    while queue:
        url = queue.popleft()
        path = urlsplit(url).path
        shape = UUID.sub("<id>", path)
        if (
            url in visited
            or any(s in path for s in SKIP_PATHS)
            or seen_shapes.get(shape, 0) >= PAGES_PER_SHAPE
        ):
            continue
        seen_shapes[shape] = seen_shapes.get(shape, 0) + 1
        visited.append(url)
        response = client.get(url)
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        found = parse(response.get_data(as_text=True))
        queue.extend(found.links)
        for call in found.calls:
            calls.setdefault(call.key, call)
    return visited, list(calls.values())


def fire(client, call: HtmxCall):
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/", "X-CSRFToken": client.csrf or ""}
    if call.target:
        headers["HX-Target"] = call.target
    # The browser's XHR follows a redirect before htmx sees the answer; so does this client.
    if call.method == "GET":
        return client.get(call.url, headers=headers, query_string=call.values, follow_redirects=True)
    open_method = getattr(client.client, call.method.lower())
    data = {"csrf_token": client.csrf, **{k: str(v) for k, v in call.values.items()}}
    with client._fresh_context():
        return client._remember_csrf(open_method(call.url, data=data, headers=headers, follow_redirects=True))


@pytest.mark.parametrize("role", ["admin", "marketer", "rep", "manager"])
def test_no_htmx_request_is_answered_with_a_whole_page(app, demo, role):
    from tests.conftest import WebClient

    email = {"admin": "admin@demo.test", "marketer": "marketer@demo.test", "rep": "rep@demo.test"}.get(
        role, "manager@demo.test"
    )
    client = WebClient(app.test_client()).login(email, DEMO_PASSWORD)
    visited, calls = walk(client)
    assert len(visited) > 5 and calls, "the walk found no pages or no htmx calls"

    whole_pages, crashes, fired = [], [], set()
    queue = deque(calls)
    while queue:
        call = queue.popleft()
        if call.key in fired:
            continue
        fired.add(call.key)
        response = fire(client, call)
        body = response.get_data(as_text=True)
        where = f"{call.method} {call.url} (target {call.target}) → {response.status_code}"
        if response.status_code >= 500:
            crashes.append(where)
        if WHOLE_PAGE.search(body):
            whole_pages.append(where)
        queue.extend(c for c in parse(body).calls if c.key not in fired)  # fragments bring their own calls

    assert not whole_pages, "htmx requests answered with a whole page:\n" + "\n".join(whole_pages)
    assert not crashes, "htmx requests that crashed:\n" + "\n".join(crashes)
    assert len(fired) >= 3


def test_enroll_anyway_answers_in_place_with_the_new_enrollment(login_as, tenant):
    lead = factories.make_lead(tenant, status="disqualified")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}])
    rep = login_as("rep")
    rep.get(f"/leads/{lead.id}")
    response = rep.post(
        f"/leads/{lead.id}/enroll",
        {"sequence_id": str(sequence.id), "override": "yes"},
        headers={"HX-Request": "true", "HX-Target": "verdict"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and not WHOLE_PAGE.search(body)
    assert f"is enrolled in “{sequence.name}”" in body
    assert 'id="lead-enrollments" hx-swap-oob="outerHTML"' in body and sequence.name in body
    assert "Not in any sequence yet" not in body


def test_a_redirect_answered_to_htmx_tells_htmx_to_navigate(login_as, tenant):
    rep = login_as("rep")
    lead = factories.make_lead(tenant)
    rep.get(f"/leads/{lead.id}")
    response = rep.post(f"/leads/{lead.id}/enroll", {}, headers={"HX-Request": "true"})  # no sequence chosen
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/leads/{lead.id}"
    assert "Location" not in response.headers and response.get_data() == b""
    boosted = rep.post(f"/leads/{lead.id}/enroll", {}, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 302
