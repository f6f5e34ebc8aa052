"""Every form and query string of the app, fed hostile input: an answer with a message, never a 500.

The routes come from the URL map and the field names from the app itself: every field of its WTForms
classes and every key a view reads from the request (found in the source), so a new form or filter is
fuzzed without anyone adding it here. Each route first gets a fixed set of nasty forms, then hypothesis
draws routes and forms at random; uploaded CSV files get their own hypothesis run at the end.
"""

from __future__ import annotations

import ast
import csv
import importlib
import io
import pkgutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import wtforms
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wtforms.fields.core import UnboundField

import nurture_ui
from nurture_ui import rules
from nurture_ui.extensions import db
from nurture_ui.lead_upsert import LEAD_FIELDS
from nurture_ui.models import LeadImport
from tests import factories
from tests.integration.test_access import _routes, _url

WEB = Path(nurture_ui.__file__).parent / "web"
REQUEST_DATA = {"args", "form", "values", "files"}
# Names built at run time (f-strings) in the views, with the names they make. A view that builds a new
# kind of name fails test_every_field_the_app_reads_is_fuzzed until it is listed here.
BUILT_NAMES = {
    "map-{field}": [f"map-{field}" for field in LEAD_FIELDS],
    "{prefix}-mode": ["entry-mode", "cond-mode"],
    "{prefix}-match": ["entry-match", "cond-match"],
    "{prefix}-json": ["entry-json", "cond-json"],
    "{prefix}-count": ["entry-count", "cond-count"],
    "{name}-field": ["entry-0-field", "cond-0-field"],
    "{name}-op": ["entry-0-op", "cond-0-op"],
    "{name}-value": ["entry-0-value", "cond-0-value"],
}
# Keys read through a variable: sequences.exit_rules reads one switch per exit rule.
COMPUTED_NAMES = [*rules.EXIT_SWITCHES]


def _form_classes() -> set[type]:
    """Every WTForms form class the app defines."""
    for module in pkgutil.iter_modules([str(WEB)]):
        importlib.import_module(f"nurture_ui.web.{module.name}")
    found, todo = set(), [wtforms.Form]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("nurture_ui."):
                found.add(sub)
    return found


def _wtforms_fields() -> set[str]:
    return {
        name
        for form in _form_classes()
        for klass in form.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, UnboundField)
    }


def _reads_request_data(node: ast.expr) -> bool:
    """``request.form`` / ``request.args`` / …, or a parameter named ``args`` or ``form`` (the
    ``filters_from(request.args)`` and ``editor_from_form(request.form, …)`` helpers)."""
    if isinstance(node, ast.Attribute):
        return node.attr in REQUEST_DATA and isinstance(node.value, ast.Name) and node.value.id == "request"
    return isinstance(node, ast.Name) and node.id in {"args", "form"}


def _pattern(node: ast.JoinedStr) -> str:
    return "".join(
        part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
        for part in node.values
    )


def _request_names() -> tuple[set[str], set[str]]:
    """(literal names, f-string patterns) of every form field and query argument the views read:
    ``x.get("name")``, ``x.getlist("name")``, ``x["name"]`` and ``"name" in x`` on request data."""
    names, patterns = set(), set()
    for path in WEB.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                if node.func.attr in ("get", "getlist") and _reads_request_data(node.func.value):
                    key = node.args[0]
            elif isinstance(node, ast.Subscript) and _reads_request_data(node.value):
                key = node.slice
            elif isinstance(node, ast.Compare) and any(_reads_request_data(c) for c in node.comparators):
                key = node.left
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names.add(key.value)
            elif isinstance(key, ast.JoinedStr):
                patterns.add(_pattern(key))
    return names, patterns


def _all_field_names() -> list[str]:
    names, patterns = _request_names()
    built = [name for pattern in patterns for name in BUILT_NAMES.get(pattern, [])]
    return sorted(_wtforms_fields() | names | set(built) | set(COMPUTED_NAMES) | {"csrf_token"})


FIELDS = _all_field_names()
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
    """Every route and method but SKIP: pages with ids too (the performance page reads from, to, chart)."""
    return [(rule, method) for rule, method in _routes(app) if rule.endpoint not in SKIP]


def test_every_field_the_app_reads_is_fuzzed():
    names, patterns = _request_names()
    assert patterns - set(BUILT_NAMES) == set(), "list the names these f-strings build in BUILT_NAMES"
    assert _wtforms_fields() | names <= set(FIELDS)
    # The derivation finds the fields of every area: settings, inbox, tasks, filters, imports.
    for name in ("timezone", "send_days", "note", "despite_reply", "message_ids", "outcome", "assignee",
                 "rep", "from", "to", "chart", "limit", "map-timezone", "file", "inactivity_days"):  # fmt: skip
        assert name in FIELDS, name


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


# Uploaded CSV files: what a spreadsheet, a wrong file or an attacker might send.
HEADERS = ["Email", "E-mail", "First Name", "Score", "Status", "Time zone", "Owner", "DNC", "Segment", ""]
cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(NASTY[:7]),
    st.sampled_from(
        ["ada@example.com", "x" * 300, "America", "Europe/Berlin", "yes", "101", "=cmd|' /C calc'!A0"]
    ),
)
csv_files = st.one_of(
    st.builds(
        lambda header, rows, delimiter: _csv(header, rows, delimiter),
        st.lists(st.one_of(st.sampled_from(HEADERS), st.text(max_size=12)), min_size=1, max_size=6),
        st.lists(st.lists(cells, max_size=7), max_size=6),
        st.sampled_from([",", ";", "\t"]),
    ).map(lambda text: text.encode("utf-8")),
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


def _csv(header: list[str], rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _run_queued_import():
    from rq import SimpleWorker

    from nurture_ui.extensions import get_queue, get_redis

    SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)


@pytest.fixture
def marketer(login_as):
    return login_as("marketer")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=csv_files, filename=st.one_of(st.just("leads.csv"), st.text(max_size=300)))
@example(
    raw=f"Email,Time zone\nada@example.com,{'x' * 300}\nbob@example.com,America\n".encode(), filename="a.csv"
)
@example(raw=b"Email;Score\n\x00;1\n", filename="nul.csv")
@example(raw="Email\n".encode("utf-16"), filename="utf16.csv")
def test_uploaded_csv_contents_never_get_a_500_and_a_refusal_says_why(marketer, raw, filename):
    client = marketer
    response = client.post(
        "/leads/import/", {"file": (io.BytesIO(raw), filename or "x")}, content_type="multipart/form-data"
    )
    _check(response, f"upload of {raw[:60]!r}")
    if response.status_code != 302:
        html = response.get_data(as_text=True)
        assert response.status_code in (400, 422), response.status_code
        assert 'role="alert"' in html or "Cannot save that text" in html, html[:500]
        return
    mapping_url = response.headers["Location"]
    lead_import = db.session.scalars(sa.select(LeadImport).order_by(LeadImport.created_at.desc())).first()
    started = client.post(mapping_url, {f"map-{f}": h for f, h in lead_import.mapping.items()})
    _check(started, f"mapping of {raw[:60]!r}")
    if started.status_code != 302:
        assert started.status_code == 422 and 'role="alert"' in started.get_data(as_text=True)
        return
    _run_queued_import()
    db.session.expire_all()
    lead_import = db.session.get(LeadImport, lead_import.id)
    assert lead_import.status == "done", lead_import.failure
    counts = (lead_import.created_count, lead_import.updated_count, lead_import.unchanged_count)
    assert sum(counts) + len({e["row"] for e in lead_import.errors}) == lead_import.total_rows
    assert all(e["message"] for e in lead_import.errors)
    _check(client.get(f"/leads/import/{lead_import.id}"), "the import's report")
