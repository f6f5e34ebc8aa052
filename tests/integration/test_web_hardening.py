"""Web hardening: CSRF on every state-changing request, cookie flags, a CSP the templates can keep,
sign-in throttling, password hashing, request size limits and email header injection."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.security import check_password_hash

from nurture_ui.config import load_config
from nurture_ui.extensions import csrf, db
from nurture_ui.mailer import UnsendableMessage, compose_email, header_text, recipient_address
from nurture_ui.models import OutboundMessage
from tests import factories
from tests.integration.test_access import _routes, _url

ROOT = Path(__file__).resolve().parents[2]

# The only POSTs that take no CSRF token, and why: neither can carry one, and each proves itself otherwise.
CSRF_EXEMPT = {
    "api.receive_event": "the signed events API: an HMAC signature over the body, replay-proof",
    "unsubscribe.unsubscribe": "RFC 8058 one-click unsubscribe: mail clients POST without a page; the signed "
    "token in the URL is the proof",
}


# --- CSRF ---------------------------------------------------------------------------------------------


def test_exactly_the_documented_views_are_exempt_from_csrf(app):
    exempt = set()
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue  # CSRF guards state changes only
        view = app.view_functions[rule.endpoint]
        name = f"{view.__module__}.{view.__name__}"
        blueprints = {bp.name for bp in csrf._exempt_blueprints}
        if name in csrf._exempt_views or rule.endpoint.split(".")[0] in blueprints:
            exempt.add(rule.endpoint)
    assert exempt == set(CSRF_EXEMPT)


def test_every_post_without_a_csrf_token_is_refused(app, login_as, tenant):
    client = login_as("admin")
    refused = 0
    for rule, method in _routes(app):
        if method != "POST" or rule.endpoint in CSRF_EXEMPT or rule.endpoint == "auth.logout":
            continue
        url = _url(rule, tenant)
        before = _fingerprint(tenant.id)
        response = client.post(url, {"name": "x"}, csrf=False)
        assert response.status_code == 400, (
            f"POST {rule.rule} without a token answered {response.status_code}"
        )
        assert "Form expired" in response.get_data(as_text=True)
        assert _fingerprint(tenant.id) == before, f"POST {rule.rule} changed data without a token"
        refused += 1
    assert refused >= 20
    # A token of another session is no token either.
    other = login_as("admin")
    response = client.post("/sequences/new", {"name": "Stolen", "csrf_token": other.csrf}, csrf=False)
    assert response.status_code == 400
    assert client.post("/logout", csrf=False).status_code == 400


def test_htmx_requests_carry_the_token_in_a_header(app, login_as, tenant):
    client = login_as("admin")
    response = client.post(
        "/sequences/new", {"name": "By htmx"}, csrf=False, headers={"X-CSRFToken": client.csrf}
    )
    assert response.status_code == 302


def _fingerprint(tenant_id):
    from tests.integration.test_access import _fingerprint as fingerprint

    return fingerprint(tenant_id)


# --- cookies ------------------------------------------------------------------------------------------


def _cookie(response, name: str) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


def test_session_and_remember_cookies_are_httponly_and_samesite(web, tenant):
    user = factories.make_user(tenant, "rep")
    web.get("/login")
    response = web.post("/login", {"email": user.email, "password": factories.PASSWORD, "remember": "y"})
    for name in ("session", "remember_token"):
        cookie = _cookie(response, name).lower()
        assert "httponly" in cookie and "samesite=lax" in cookie


def test_cookies_are_secure_when_the_environment_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    config = load_config(tmp_path)
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["REMEMBER_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_a_secure_app_sends_secure_cookies(app, tenant):
    user = factories.make_user(tenant, "rep")
    app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    try:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post(
            "/login",
            data={"email": user.email, "password": factories.PASSWORD, "remember": "y", "csrf_token": token},
        )
        assert "secure" in _cookie(response, "session").lower()
        assert "secure" in _cookie(response, "remember_token").lower()
    finally:
        app.config.update(SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)


# --- CSP ----------------------------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\s on[a-z]+\s*=", re.IGNORECASE | re.VERBOSE)


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(ROOT / "templates") for p in (ROOT / "templates").rglob("*.html"))
)
def test_no_template_has_inline_script_style_or_handlers(path):
    source = (ROOT / "templates" / path).read_text()
    source = re.sub(r"{#.*?#}", "", source, flags=re.DOTALL)  # comments may talk about them
    assert not INLINE_SCRIPT.search(source), "inline <script>: move it to static/js/"
    assert "<style" not in source.lower(), "<style> block: move it to static/css/"
    assert not re.search(r"\sstyle\s*=", source, re.IGNORECASE), "style= attribute: use a class"
    assert not EVENT_HANDLER.search(source), "on…= handler: bind it in static/js/"
    assert "javascript:" not in source.lower()


def test_every_page_sends_the_security_headers(app, login_as, web, tenant):
    client = login_as("admin")
    pages = [
        client.get("/"),
        client.get("/leads/"),
        client.get("/nope"),
        web.get("/login"),
        web.get("/healthz"),
    ]
    for response in pages:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


# --- sign-in throttling -------------------------------------------------------------------------------


def _attempt(web, email, password="wrong password", address="10.0.0.1"):
    return web.post("/login", {"email": email, "password": password}, environ_base={"REMOTE_ADDR": address})


def test_an_account_locks_after_five_failures_then_opens_again(web, tenant, clock):
    user = factories.make_user(tenant, "rep")
    web.get("/login")
    for _ in range(4):
        assert _attempt(web, user.email).status_code == 401
    locked = _attempt(web, user.email)
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account" in locked.get_data(as_text=True)
    assert "15 more minutes" in locked.get_data(as_text=True)
    # Even the right password waits, from another address too.
    assert _attempt(web, user.email, factories.PASSWORD, address="10.0.0.2").status_code == 429
    clock.advance(minutes=14)
    assert "1 more minute" in _attempt(web, user.email, factories.PASSWORD).get_data(as_text=True)
    clock.advance(minutes=1, seconds=1)
    assert _attempt(web, user.email, factories.PASSWORD).status_code == 302


def test_a_success_clears_the_accounts_failures(web, tenant, clock):
    user = factories.make_user(tenant, "rep")
    web.get("/login")
    for _ in range(4):
        _attempt(web, user.email)
    assert _attempt(web, user.email, factories.PASSWORD).status_code == 302
    web.post("/logout")
    web.get("/login")
    for _ in range(4):
        assert _attempt(web, user.email).status_code == 401


def test_unknown_accounts_lock_the_same_way(web, tenant):
    web.get("/login")
    codes = [_attempt(web, "nobody@example.test").status_code for _ in range(6)]
    assert codes == [401, 401, 401, 401, 429, 429]


def test_an_address_locks_after_twenty_failures_across_accounts(web, tenant, clock):
    user = factories.make_user(tenant, "rep")
    web.get("/login")
    for n in range(19):
        assert _attempt(web, f"guess{n}@example.test").status_code == 401
    locked = _attempt(web, "guess-last@example.test")
    assert locked.status_code == 429
    assert "this network address" in locked.get_data(as_text=True)
    assert _attempt(web, user.email, factories.PASSWORD).status_code == 429
    assert _attempt(web, user.email, factories.PASSWORD, address="10.9.9.9").status_code == 302
    clock.advance(minutes=16)
    web.post("/logout")
    web.get("/login")
    assert _attempt(web, user.email, factories.PASSWORD).status_code == 302


def test_failures_outside_the_window_do_not_count(web, tenant, clock):
    user = factories.make_user(tenant, "rep")
    web.get("/login")
    for _ in range(4):
        _attempt(web, user.email)
    clock.advance(minutes=16)
    for _ in range(4):
        assert _attempt(web, user.email).status_code == 401


# --- passwords ----------------------------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes(login_as, tenant):
    admin = login_as("admin")
    admin.post(
        "/team/", {"name": "Nia", "email": "nia@example.test", "role": "rep", "password": "long enough pw"}
    )
    from nurture_ui.models import User

    users = db.session.query(User).all()
    hashes = [u.password_hash for u in users]
    assert all(h.startswith("scrypt:") for h in hashes)
    n, r, p = (int(x) for x in hashes[0].split("$")[0].split(":")[1:])
    assert n >= 2**15 and r >= 8  # werkzeug's default cost: memory-hard
    assert len(set(hashes)) == len(hashes)  # salted: the same password never hashes the same
    nia = next(u for u in users if u.email == "nia@example.test")
    assert check_password_hash(nia.password_hash, "long enough pw") and not nia.check_password("long enough")


# --- sizes --------------------------------------------------------------------------------------------


def test_an_oversized_request_gets_a_clear_413(login_as):
    client = login_as("admin")
    response = client.post("/sequences/new", {"name": "x", "description": "y" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_fields_longer_than_their_limit_are_refused_by_name(login_as, tenant):
    client = login_as("admin")
    response = client.post("/sequences/new", {"name": "n" * 256})
    assert response.status_code == 422 and "Use at most 255 characters." in response.get_data(as_text=True)
    response = client.post(
        "/templates/new", {"name": "T", "key": "t", "subject": "s" * 300, "body": "b" * 20_001}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Use at most 255 characters." in html and "Use at most 20000 characters." in html


def test_a_nul_character_is_refused_with_a_message(login_as, tenant):
    client = login_as("admin")
    response = client.post("/sequences/new", {"name": "bad\x00name"})
    assert response.status_code == 400
    assert "cannot be saved" in response.get_data(as_text=True)
    assert client.get("/leads/?q=a%00b").status_code == 400


# --- email headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "a@example.com\r\nBcc: victim@example.com",
        "a@example.com\nX: y",
        "Eve <a@example.com>",
        "a@x.com, b@y.com",
        "a@\x00x.com",
        "",
    ],
)
def test_recipients_with_line_breaks_or_several_addresses_are_refused(address):
    with pytest.raises(UnsendableMessage):
        recipient_address(address)


def test_subjects_are_flattened_to_one_line():
    assert header_text("Hi\r\nBcc: victim@example.com\tthere") == "Hi Bcc: victim@example.com there"


def test_an_injected_subject_reaches_the_server_as_one_header(app, tenant, clock):
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, steps=[{"channel": "email", "template_id": "intro"}])
    enrollment = factories.make_enrollment(lead, sequence)
    message = OutboundMessage(
        tenant_id=tenant.id,
        enrollment_id=enrollment.id,
        step_order=1,
        lead_id=lead.id,
        sequence_id=sequence.id,
        to_email=lead.email,
        subject="Hello\r\nBcc: victim@example.com",
        body="Hi",
        status="queued",
        message_id="<x@example.test>",
    )
    email = compose_email(message, now=clock.now())
    raw = email.as_string()
    assert "\nBcc:" not in raw and email["Bcc"] is None
    assert email["Subject"] == "Hello Bcc: victim@example.com"


def test_a_message_to_an_injected_address_fails_and_is_never_sent(app, tenant, clock):
    from nurture_ui.mailer import send_messages

    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, steps=[{"channel": "email", "template_id": "intro"}])
    enrollment = factories.make_enrollment(lead, sequence)
    message = OutboundMessage(
        tenant_id=tenant.id,
        enrollment_id=enrollment.id,
        step_order=1,
        lead_id=lead.id,
        sequence_id=sequence.id,
        to_email="a@example.com\r\nBcc: victim@example.com",
        subject="Hi",
        body="Hi",
        status="queued",
        message_id="<y@example.test>",
        attempts=0,
        queued_at=clock.now(),
    )
    db.session.add(message)
    db.session.commit()
    app.config["SMTP_PORT"], saved = 1, app.config["SMTP_PORT"]  # nothing listens: a send would be transient
    try:
        report = send_messages([message.id], clock.now() + timedelta(seconds=1))
    finally:
        app.config["SMTP_PORT"] = saved
    db.session.refresh(message)
    assert report.failed == [message.id]
    assert message.status == "failed" and "the recipient" in message.error


def test_a_name_with_line_breaks_cannot_add_a_header_through_the_subject(tenant):
    from nurture_ui.templating import render_email

    lead = factories.make_lead(tenant, first_name="Ann\r\nBcc: victim@example.com")
    template = factories.make_template(tenant, key="hi", subject="Hello {{ lead.first_name }}")
    subject, _ = render_email(template, lead, None)
    assert subject == "Hello Ann Bcc: victim@example.com" and "\n" not in subject
