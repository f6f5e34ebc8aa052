"""Sign-in, roles, CSRF and tenant isolation across the whole URL map."""

from __future__ import annotations

import re
import uuid

import pytest

from nurture_ui.web.access import allowed_roles
from tests import factories

# How to make a tenant-B object for each kind of id a route can take. A route with an id argument
# not listed here fails the walk below, so every new route is covered or noticed.
FOREIGN_FACTORIES = {
    "lead_id": lambda t: factories.make_lead(t),
    "sequence_id": lambda t: factories.make_sequence(t, steps=[{"channel": "email", "template_id": "intro"}]),
    "step_id": lambda t: factories.make_sequence(t, steps=[{"channel": "task"}]).steps[0],
    "template_id": lambda t: factories.make_template(t, key=f"t-{uuid.uuid4().hex[:12]}"),
    "enrollment_id": lambda t: factories.make_enrollment(factories.make_lead(t), factories.make_sequence(t)),
    "user_id": lambda t: factories.make_user(t, "rep"),
    "job_id": lambda t: _foreign_bulk_job(t),
    "reply_id": lambda t: factories.make_reply(factories.make_lead(t)),
    "import_id": lambda t: factories.make_lead_import(t),
    "message_id": lambda t: factories.make_draft(t),
    "task_id": lambda t: factories.make_task(t),
}


def _foreign_bulk_job(tenant):
    from types import SimpleNamespace

    from nurture_ui.bulk import start_bulk_enrollment

    sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
    job_id = start_bulk_enrollment(
        tenant_id=tenant.id, sequence_id=sequence.id, actor_id=factories.make_user(tenant).id, lead_ids=[]
    )
    return SimpleNamespace(id=job_id)


def _id_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        id_args = [a for a in rule.arguments if a.endswith("_id")]
        if id_args:
            yield rule, id_args


def test_every_view_declares_who_may_open_it(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "is_public", False) and not getattr(view, "allowed_roles", None):
            undeclared.append(rule.endpoint)
    assert undeclared == []


def test_every_route_with_an_id_of_another_tenant_answers_404(app, login_as, other_tenant):
    client = login_as("admin")
    checked = 0
    for rule, id_args in _id_routes(app):
        values = {}
        for arg in id_args:
            assert arg in FOREIGN_FACTORIES, f"{rule.rule}: add a factory for {arg} to FOREIGN_FACTORIES"
            values[arg] = str(FOREIGN_FACTORIES[arg](other_tenant).id)
        url = rule.rule
        for arg, value in values.items():
            url = re.sub(rf"<(?:[^:<>]+:)?{arg}>", value, url)
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = client.get(url) if method == "GET" else client.post(url, {})
            assert response.status_code == 404, f"{method} {rule.rule} answered {response.status_code}"
            checked += 1
    assert checked >= 2  # at least the lead page's GET and POST


def test_anonymous_visitors_are_sent_to_sign_in(web):
    response = web.get("/leads/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["marketer", "rep", "manager"])
def test_team_page_is_for_admins_only(login_as, role):
    assert login_as(role).get("/team/").status_code == 403


def test_admin_sees_team_and_can_add_a_person(login_as, tenant):
    admin = login_as("admin")
    assert admin.get("/team/").status_code == 200
    response = admin.post(
        "/team/",
        {"name": "Nia New", "email": "Nia@Example.test", "role": "rep", "password": "long enough pw"},
    )
    assert response.status_code == 302
    page = admin.get("/team/").get_data(as_text=True)
    assert "nia@example.test" in page


def test_team_form_rejects_bad_input_and_keeps_it(login_as):
    admin = login_as("admin")
    response = admin.post(
        "/team/", {"name": "Nia", "email": "not-an-email", "role": "rep", "password": "short"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a valid email address" in html
    assert "Use at least 10 characters." in html
    assert 'value="Nia"' in html and 'value="not-an-email"' in html


def test_navigation_follows_the_roles_each_page_allows(app, login_as):
    with app.test_request_context():
        assert allowed_roles("team.index") == frozenset({"admin"})
    rep_home = login_as("rep").get("/").get_data(as_text=True)
    assert 'data-nav="leads.index"' in rep_home
    assert 'data-nav="team.index"' not in rep_home
    admin_home = login_as("admin").get("/").get_data(as_text=True)
    assert 'data-nav="team.index"' in admin_home


def test_post_without_csrf_token_is_refused(login_as, tenant):
    client = login_as("rep")
    lead = factories.make_lead(tenant, score=10)
    response = client.post(
        f"/leads/{lead.id}", {"status": "new", "score": "99", "score_band": "hot", "owner_id": ""}, csrf=False
    )
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)
    from nurture_ui.extensions import db

    db.session.refresh(lead)
    assert lead.score == 10


def test_login_without_csrf_token_is_refused(web, tenant):
    user = factories.make_user(tenant, "rep")
    response = web.post("/login", {"email": user.email, "password": factories.PASSWORD}, csrf=False)
    assert response.status_code == 400


def test_wrong_password_is_refused_with_a_message(web, tenant):
    user = factories.make_user(tenant, "rep")
    web.get("/login")
    response = web.post("/login", {"email": user.email, "password": "wrong password"})
    assert response.status_code == 401
    assert "That email and password do not match an account." in response.get_data(as_text=True)


def test_sign_in_is_case_insensitive_and_never_redirects_off_site(web, tenant):
    factories.make_user(tenant, "rep", email="casey@example.test")
    web.get("/login")
    response = web.post(
        "/login?next=https://evil.example/", {"email": "Casey@Example.TEST", "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_inactive_users_cannot_sign_in(web, tenant):
    from nurture_ui.extensions import db

    user = factories.make_user(tenant, "rep")
    user.is_active_user = False
    db.session.commit()
    web.get("/login")
    assert web.post("/login", {"email": user.email, "password": factories.PASSWORD}).status_code == 401


def test_passwords_are_stored_with_scrypt(tenant):
    user = factories.make_user(tenant, "rep")
    assert user.password_hash.startswith("scrypt:")
    assert factories.PASSWORD not in user.password_hash


def test_pages_carry_a_strict_content_security_policy(login_as):
    response = login_as("rep").get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert 'style="' not in response.get_data(as_text=True)
