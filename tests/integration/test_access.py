"""Sign-in, roles, CSRF and tenant isolation across the whole URL map."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from nurture_ui import clock
from nurture_ui.extensions import db
from nurture_ui.mailer import unsubscribe_token
from nurture_ui.models import OutboundMessage, Task
from nurture_ui.web.access import allowed_roles
from tests import factories

# How to make an object of a given tenant for each kind of id a route can take. A route with an id argument
# not listed here fails the walk below, so every new route is covered or noticed. (message_id and task_id are
# ready for the inbox and task queue.)
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
    "message_id": lambda t: _message(t),
    "task_id": lambda t: _task(t),
    "mailbox_id": lambda t: _mailbox(t),
    "holiday_id": lambda t: _holiday(t),
}

# Routes that take no object id, each with the reason that makes it safe. The walk fails on a route that
# is neither walked (an `*_id` argument) nor listed here, and on an entry here whose route is gone.
ID_FREE = {
    "static": "files under static/: no tenant data",
    "health.healthz": "liveness check: no tenant data",
    "auth.login": "the sign-in form",
    "auth.logout": "ends the caller's own session",
    "dashboard.index": "the signed-in user's own tenant, read through tenancy.scoped",
    "overview.index": "own tenant's figures through tenancy; engine health counts the tenant's own jobs"
    " (job ids name their tenant: nurture_ui.job_tenancy); test_engine_routes_* below walk it",
    "overview.retry_failed_jobs": "admins only; re-queues the tenant's own failed jobs, never another"
    " tenant's (test_engine_routes_* below walk it with two tenants)",
    "platform.engine": "platform admins only (PLATFORM_ADMIN_EMAILS); 404 for every tenant admin",
    "platform.retry_failed_jobs": "platform admins only (PLATFORM_ADMIN_EMAILS); 404 for every tenant admin",
    "leads.index": "lists the user's tenant only (the id-free pages check below looks for the other tenant)",
    "enrollments.bulk_enroll": "lead and sequence ids come in the form: the form walk below sends foreign ones",
    "lead_imports.upload": "creates an import in the user's tenant; lists the user's own imports",
    "sequences.index": "lists the user's tenant only",
    "sequences.create": "creates a sequence in the user's tenant",
    "sequences.rule_editor": "renders an editor from the form; counts the user's tenant's leads only",
    "templates.index": "lists the user's tenant only",
    "templates.new": "creates a template in the user's tenant",
    "templates.preview": "the lead id comes in the form (get_or_404): the form walk sends a foreign one",
    "templates.preview_leads": "searches the user's tenant's leads only (email_previews.search_leads)",
    "templates.send_test": "sends to the signed-in person; the lead id comes in the form (get_or_404)",
    "team.index": "lists and adds users of the admin's own tenant",
    "profile.index": "reads and changes the signed-in person's own time zone (current_user)",
    "inbox.index": "lists drafts of the user's tenant only (reps: their own leads)",
    "inbox.count": "counts drafts of the user's tenant only",
    "inbox.replies.index": "lists replies to sort of the user's tenant only (reps: their own leads)",
    "inbox.replies.count": "counts replies to sort of the user's tenant only",
    "inbox.approve_selected": "message ids come in the form and are read through tenancy: the form walk"
    " sends foreign ones",
    "tasks.index": "lists tasks of the user's tenant only (reps: their own)",
    "tasks.count": "counts tasks of the user's tenant only",
    "settings.index": "reads and changes the admin's own tenant's policy",
    "holidays.index": "lists the admin's own tenant's holidays (current_user.tenant)",
    "holidays.import_ics": "adds holidays to the admin's own tenant from the uploaded file",
    "holidays.choose_country": "sets the admin's own tenant's holiday country (its policy)",
    "mail_auth.index": "reads and sets the DKIM key of the admin's own tenant (current_user.tenant)",
    "mail_auth.stop": "forgets the DKIM key of the admin's own tenant (current_user.tenant)",
    "mailboxes.index": "lists the tenant's mailboxes and mail (reps: their own) through mailbox_settings",
    "mailboxes.new": "creates a mailbox in the user's tenant; the owner choices are the tenant's people",
    "mailboxes.test_new_connection": "signs in with what the form says; reads and saves nothing",
    "sent_mail.index": "lists the outgoing mail of the user's tenant only (reps: their own leads')",
    "outbox.problems": "lists the unknown and failed emails of the user's tenant only",
    "unsubscribe.confirm": "public: a signed token names the lead (it cannot be forged for another lead)",
    "unsubscribe.unsubscribe": "public: a signed token names the lead (RFC 8058 one-click POST)",
    "api.receive_event": "public door authenticated by the request signature: the API walk below covers it",
    "api.openapi_document": "the public API description: no tenant data",
    "devmail.index": "development only (404 unless DEVMAIL is on): the local capture server's mailbox",
    "devmail.show": "development only (404 unless DEVMAIL is on): <number> is the capture server's message",
}

# Who may open what, written down from SPEC.md and DESIGN.md rather than read from the @allow decorators,
# so widening a decorator fails the role walk. "Marketers build sequences (and their templates, and the
# leads they import), reps clear the approval inbox and the task queue, managers watch timelines and
# results"; admins do everything, and alone manage the team, the tenant's policy and failed engine jobs.
# Everyone signed in works the CRM stand-in: leads, enrolling by hand ("from the CRM lead detail page"),
# pausing or stopping an enrollment, and reading sequences and templates.
ADMIN = frozenset({"admin"})
EVERYONE = frozenset({"admin", "marketer", "rep", "manager"})
BUILDERS = frozenset({"admin", "marketer"})
INBOX_AND_TASKS = frozenset({"admin", "rep", "manager"})
RESULTS = frozenset({"admin", "manager", "marketer"})
WATCHERS = frozenset({"admin", "manager"})
MAILBOX_KEEPERS = frozenset({"admin", "rep"})
PUBLIC = None
# endpoint → roles, or {method: roles} where one view answers two methods for different people.
ROLE_TABLE: dict[str, frozenset[str] | None | dict[str, frozenset[str]]] = {
    "api.openapi_document": PUBLIC,
    "api.receive_event": PUBLIC,  # signed by the caller's API key
    "auth.login": PUBLIC,
    "auth.logout": EVERYONE,
    "health.healthz": PUBLIC,
    "unsubscribe.confirm": PUBLIC,  # a signed token names the lead
    "unsubscribe.unsubscribe": PUBLIC,
    "dashboard.index": EVERYONE,
    "profile.index": EVERYONE,
    "devmail.index": EVERYONE,  # development only: the local mailbox of captured email
    "devmail.show": EVERYONE,
    "leads.index": EVERYONE,
    "leads.detail": EVERYONE,
    "timelines.lead": EVERYONE,
    "enrollments.verdict": EVERYONE,
    "enrollments.enroll_lead": EVERYONE,
    "enrollments.bulk_enroll": EVERYONE,
    "enrollments.bulk_progress": EVERYONE,
    "enrollments.detail": EVERYONE,
    "enrollments.pause": EVERYONE,
    "enrollments.resume": EVERYONE,
    "enrollments.unenroll": EVERYONE,
    "sequences.index": EVERYONE,
    "sequences.builder": EVERYONE,
    "steps.card": EVERYONE,
    "sequences.create": BUILDERS,
    "sequences.details": BUILDERS,
    "sequences.why": EVERYONE,
    "sequences.eligibility": EVERYONE,  # the builder's entry-rule count, loaded after the page  # the "why (not)?" check a marketer or a rep runs from either side
    "sequences.simulate": EVERYONE,  # a dry run: reads the sequence, changes nothing
    "sequences.activate_preview": BUILDERS,  # what activating would do, shown before it is done
    "sequences.change_status": BUILDERS,
    "sequences.duplicate": BUILDERS,
    "sequences.entry_rules": BUILDERS,
    "sequences.exit_rules": BUILDERS,
    "sequences.rule_editor": BUILDERS,
    "steps.new": BUILDERS,
    "steps.edit": BUILDERS,
    "steps.delete": BUILDERS,
    "steps.move": BUILDERS,
    "steps.reorder": BUILDERS,
    "templates.index": EVERYONE,
    "templates.edit": {"GET": EVERYONE, "POST": BUILDERS},
    "templates.preview": EVERYONE,
    "templates.preview_leads": EVERYONE,
    "templates.send_test": BUILDERS,
    "enrollments.bulk_skipped_csv": EVERYONE,
    "templates.new": BUILDERS,
    "templates.delete": BUILDERS,
    "lead_imports.upload": BUILDERS,
    "lead_imports.mapping": BUILDERS,
    "lead_imports.show": BUILDERS,
    "inbox.index": INBOX_AND_TASKS,
    "inbox.count": INBOX_AND_TASKS,
    "inbox.replies.index": INBOX_AND_TASKS,
    "inbox.replies.count": INBOX_AND_TASKS,
    "inbox.replies.decide": INBOX_AND_TASKS,
    "inbox.card": INBOX_AND_TASKS,
    "inbox.edit": INBOX_AND_TASKS,
    "inbox.approve": INBOX_AND_TASKS,
    "inbox.undo": INBOX_AND_TASKS,
    "inbox.approve_selected": INBOX_AND_TASKS,
    "inbox.reject": INBOX_AND_TASKS,
    "inbox.reject_form": INBOX_AND_TASKS,
    "tasks.index": INBOX_AND_TASKS,
    "tasks.count": INBOX_AND_TASKS,
    "tasks.complete": INBOX_AND_TASKS,
    "tasks.skip": INBOX_AND_TASKS,
    "lead_signals.log_reply": INBOX_AND_TASKS,  # replies and conversions are the people working the leads'
    "lead_signals.log_conversion": INBOX_AND_TASKS,
    "lead_signals.correct_reply": INBOX_AND_TASKS,
    "performance.show": RESULTS,
    "performance.export": RESULTS,
    "overview.index": WATCHERS,
    "overview.retry_failed_jobs": ADMIN,
    # The platform admin is an admin listed in PLATFORM_ADMIN_EMAILS; other admins get a 404, not a 403.
    "platform.engine": ADMIN,
    "platform.retry_failed_jobs": ADMIN,
    "outbox.problems": WATCHERS,  # emails in doubt or failed: the overview's people settle them
    "outbox.mark_delivered": WATCHERS,
    "outbox.send_again": WATCHERS,
    "outbox.retry": WATCHERS,
    "outbox.dismiss": WATCHERS,
    "team.index": ADMIN,
    "team.change_role": ADMIN,
    "team.deactivate": ADMIN,
    "team.reactivate": ADMIN,
    "team.reset_password": ADMIN,
    "team.reassign": ADMIN,
    "sent_mail.index": EVERYONE,  # a rep sees their own leads' mail
    "sent_mail.show": EVERYONE,
    "settings.index": ADMIN,
    "holidays.index": ADMIN,
    "holidays.import_ics": ADMIN,
    "holidays.choose_country": ADMIN,
    "holidays.remove": ADMIN,
    "sequence_window.save": BUILDERS,
    "mail_auth.index": ADMIN,
    "mail_auth.stop": ADMIN,
    # A mailbox is somebody's credentials and mail: admins manage all, reps their own, nobody else any.
    "mailboxes.index": MAILBOX_KEEPERS,
    "mailboxes.new": MAILBOX_KEEPERS,
    "mailboxes.edit": MAILBOX_KEEPERS,
    "mailboxes.delete": MAILBOX_KEEPERS,
    "mailboxes.test_new_connection": MAILBOX_KEEPERS,
    "mailboxes.test_connection": MAILBOX_KEEPERS,
    "mailboxes.poll_now": MAILBOX_KEEPERS,
}


def _expected_roles(endpoint: str, method: str) -> frozenset[str] | None:
    roles = ROLE_TABLE[endpoint]
    return roles[method] if isinstance(roles, dict) else roles


# Arguments that are not object ids, with a valid value for the tenant's own walk.
OTHER_ARGS = {
    "filename": lambda t: "css/app.css",
    "number": lambda t: "1",
    "token": lambda t: unsubscribe_token(factories.make_lead(t).id),
}


def _foreign_bulk_job(tenant):
    from types import SimpleNamespace

    from nurture_ui.bulk import start_bulk_enrollment

    sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "email"}])
    job_id = start_bulk_enrollment(
        tenant_id=tenant.id, sequence_id=sequence.id, actor_id=factories.make_user(tenant).id, lead_ids=[]
    )
    return SimpleNamespace(id=job_id)


def _message(tenant):
    from nurture_ui.mailer import new_message_id

    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, steps=[{"channel": "email", "template_id": "intro"}])
    enrollment = factories.make_enrollment(lead, sequence, status="paused", pause_reason="approval")
    message = OutboundMessage(
        tenant_id=tenant.id,
        enrollment_id=enrollment.id,
        step_order=1,
        lead_id=lead.id,
        sequence_id=sequence.id,
        to_email=lead.email,
        subject="Hello",
        body="Hi",
        status="pending_approval",
        message_id=new_message_id(),
    )
    db.session.add(message)
    db.session.commit()
    return message


def _task(tenant):
    lead = factories.make_lead(tenant)
    task = Task(
        tenant_id=tenant.id, lead_id=lead.id, kind="task", title="Call", due_at=clock.now(), status="open"
    )
    db.session.add(task)
    db.session.commit()
    return task


def _mailbox(tenant):
    """A team mailbox with no IMAP server yet: polling it reads nothing and touches no network."""
    from nurture_ui.models import Mailbox

    mailbox = Mailbox(tenant_id=tenant.id, address=f"team-{uuid.uuid4().hex[:8]}@example.test")
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def _routes(app):
    """(rule, method) for every route of the URL map, GET and POST."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield rule, method


def _id_args(rule) -> list[str]:
    return [a for a in rule.arguments if a.endswith("_id")]


def _url(rule, tenant, kinds=FOREIGN_FACTORIES) -> str:
    """The rule's path with a fresh object of ``tenant`` for each argument."""
    url = rule.rule
    for arg in rule.arguments:
        make = kinds.get(arg) or OTHER_ARGS[arg]
        made = make(tenant)
        value = made if isinstance(made, str) else str(made.id)
        url = re.sub(rf"<(?:[^:<>]+:)?{arg}>", value, url)
    return url


def _fingerprint(tenant_id) -> dict:
    """Row counts and last changes of every table for one tenant: equal before and after means untouched."""
    result = {}
    for table in db.metadata.sorted_tables:
        if "tenant_id" not in table.c:
            continue
        columns = [sa.func.count()]
        if "updated_at" in table.c:
            columns.append(sa.func.max(table.c.updated_at))
        result[table.name] = tuple(
            db.session.execute(sa.select(*columns).where(table.c.tenant_id == tenant_id)).one()
        )
    db.session.commit()
    return result


def _foreign_form(tenant) -> dict:
    """Form fields naming another tenant's objects, as a hostile user would put them in any form."""
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"channel": "email", "template_id": "intro"}]
    )
    return {
        "lead_id": str(lead.id),
        "lead_ids": [str(lead.id), str(factories.make_lead(tenant).id)],
        "message_ids": [str(_message(tenant).id)],
        "sequence_id": str(sequence.id),
        "step_id": str(sequence.steps[0].id),
        "order": str(sequence.steps[0].id),
        "owner_id": str(factories.make_user(tenant, "rep").id),
        "user_id": str(factories.make_user(tenant, "rep").id),
        "template_id": "intro",
        "subject": "Hi {{ lead.first_name }}",
        "body": "Hi",
        "scope": "selected",
    }


def test_every_view_declares_who_may_open_it(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "is_public", False) and not getattr(view, "allowed_roles", None):
            undeclared.append(rule.endpoint)
    assert undeclared == []


def test_the_tenant_walk_covers_the_whole_url_map(app):
    uncovered, unknown_args = [], []
    for rule, method in _routes(app):
        if _id_args(rule):
            unknown_args += [f"{rule.rule}: {a}" for a in _id_args(rule) if a not in FOREIGN_FACTORIES]
        elif rule.endpoint not in ID_FREE:
            uncovered.append(f"{method} {rule.rule} ({rule.endpoint})")
        unknown_args += [
            f"{rule.rule}: {a}" for a in rule.arguments if not a.endswith("_id") and a not in OTHER_ARGS
        ]
    assert uncovered == [], "add these to ID_FREE with the reason they hold no other tenant's data"
    assert unknown_args == [], "add a factory to FOREIGN_FACTORIES (or a value to OTHER_ARGS)"
    stale = set(ID_FREE) - {rule.endpoint for rule in app.url_map.iter_rules()}
    assert stale == set(), "these ID_FREE entries name routes that no longer exist"
    assert all(reason.strip() for reason in ID_FREE.values())


def test_every_route_with_an_id_of_another_tenant_answers_404(app, login_as, other_tenant):
    client = login_as("admin")
    form = _foreign_form(other_tenant)
    checked = 0
    for rule, method in _routes(app):
        if not _id_args(rule):
            continue
        url = _url(rule, other_tenant)
        before = _fingerprint(other_tenant.id)
        for headers in ({}, {"HX-Request": "true"}):
            if method == "GET":
                response = client.get(url, headers=headers)
            else:
                response = client.post(url, form, headers=headers)
            assert response.status_code == 404, f"{method} {rule.rule} answered {response.status_code}"
            checked += 1
        assert _fingerprint(other_tenant.id) == before, f"{method} {rule.rule} changed the other tenant"
    assert checked >= 40


def test_forms_naming_another_tenants_objects_change_nothing_of_it(app, login_as, tenant, other_tenant):
    """Every POST, on the user's own objects, with every id field of the form pointing into tenant B."""
    client = login_as("admin")
    skip = {"auth.logout", "auth.login", "api.receive_event", "unsubscribe.unsubscribe", "static"}
    posts = [rule for rule, method in _routes(app) if method == "POST" and rule.endpoint not in skip]
    form = _foreign_form(other_tenant)
    before = _fingerprint(other_tenant.id)
    for rule in posts:
        response = client.post(_url(rule, tenant), form)
        assert response.status_code < 500, f"POST {rule.rule} answered {response.status_code}"
        assert response.status_code != 200 or "Another tenant" not in response.get_data(as_text=True)
    assert _fingerprint(other_tenant.id) == before
    foreign_draft = db.session.get(OutboundMessage, uuid.UUID(form["message_ids"][0]))
    assert foreign_draft.status == "pending_approval"


def test_the_form_walks_message_ids_are_the_field_approve_selected_reads(login_as, tenant):
    """The same form with the user's own draft approves it: the walk above sends a field that is read."""
    client = login_as("admin")
    form = _foreign_form(tenant)
    response = client.post("/inbox/approve", form)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(OutboundMessage, uuid.UUID(form["message_ids"][0])).status != "pending_approval"


def test_id_free_pages_show_nothing_of_another_tenant(app, login_as, tenant, other_tenant):
    marker = "Zyxwv"
    lead = factories.make_lead(
        other_tenant, first_name=marker, last_name=marker, company=marker, segment=marker
    )
    factories.make_sequence(
        other_tenant, name=f"{marker} sequence", status="active", steps=[{"channel": "task"}]
    )
    factories.make_template(other_tenant, key="zyx", name=f"{marker} template", subject=marker, body=marker)
    factories.make_user(other_tenant, "rep", name=f"{marker} User")
    factories.make_reply(lead)
    client = login_as("admin")
    pages = 0
    for rule, method in _routes(app):
        if method != "GET" or rule.arguments:
            continue
        response = client.get(rule.rule)
        assert response.status_code < 500
        assert marker not in response.get_data(as_text=True), f"GET {rule.rule} shows another tenant's data"
        pages += 1
    assert pages >= 6


def test_the_role_table_names_every_route_of_the_url_map(app):
    missing = [
        f"{method} {rule.rule} ({rule.endpoint})"
        for rule, method in _routes(app)
        if rule.endpoint != "static"
        and (
            rule.endpoint not in ROLE_TABLE
            or (isinstance(ROLE_TABLE[rule.endpoint], dict) and method not in ROLE_TABLE[rule.endpoint])
        )
    ]
    assert missing == [], "add these to ROLE_TABLE with the roles SPEC.md gives them"
    stale = set(ROLE_TABLE) - {rule.endpoint for rule in app.url_map.iter_rules()}
    assert stale == set(), "these ROLE_TABLE entries name routes that no longer exist"


@pytest.mark.parametrize("role", ["admin", "marketer", "rep", "manager"])
def test_each_role_opens_exactly_what_it_is_allowed(app, login_as, tenant, role):
    client = login_as(role)
    wrong = []
    for rule, method in _routes(app):
        if rule.endpoint in ("auth.logout", "static"):
            continue
        roles = _expected_roles(rule.endpoint, method)
        url = _url(rule, tenant)
        response = client.get(url) if method == "GET" else client.post(url, {})
        expected_403 = roles is not None and role not in roles
        if (response.status_code == 403) != expected_403 or response.status_code >= 500:
            wrong.append(f"{method} {rule.rule}: {response.status_code}")
    assert wrong == [], f"{role}: {wrong}"
    assert client.post("/logout").status_code == 302
    assert "/login" in client.get("/").headers["Location"]


def test_every_page_but_the_public_ones_needs_sign_in(app, web, tenant):
    for rule, method in _routes(app):
        if rule.endpoint == "static":
            continue
        roles = _expected_roles(rule.endpoint, method)
        url = _url(rule, tenant)
        response = web.get(url) if method == "GET" else web.post(url, {})
        if roles is None:
            assert response.status_code < 500 and "/login" not in response.headers.get("Location", "")
        else:
            assert response.status_code == 302 and "/login" in response.headers["Location"], f"{method} {url}"


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
    response = web.post("/login", {"email": user.email, "password": factories.PASSWORD})
    assert response.status_code == 403
    assert "This account is deactivated" in response.get_data(as_text=True)


def test_passwords_are_stored_with_scrypt(tenant):
    user = factories.make_user(tenant, "rep")
    assert user.password_hash.startswith("scrypt:")
    assert factories.PASSWORD not in user.password_hash


def test_pages_carry_a_strict_content_security_policy(login_as):
    response = login_as("rep").get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert 'style="' not in response.get_data(as_text=True)


def test_engine_routes_show_and_retry_only_the_tenants_own_jobs(app, login_as, tenant, other_tenant):
    """The tenant walk of the engine routes, with two tenants each with failed and waiting jobs: each
    admin's overview counts its own, and each retry puts back its own and leaves the other's failed."""
    from nurture_ui.extensions import get_queue
    from nurture_ui.job_tenancy import tenant_of_job
    from tests.engine_jobs import failed_jobs, queued_jobs

    queue = get_queue()
    queue.empty()
    ours, theirs = failed_jobs(tenant, 2), failed_jobs(other_tenant, 3)
    queued_jobs(other_tenant, 4)
    admin, their_admin = login_as("admin"), login_as("admin", in_tenant=other_tenant)
    try:
        html = admin.get("/overview/").get_data(as_text=True)
        assert 'data-figure="failed_jobs">2<' in html and 'data-figure="queued">0<' in html
        html = their_admin.get("/overview/").get_data(as_text=True)
        assert 'data-figure="failed_jobs">3<' in html and 'data-figure="queued">4<' in html

        assert admin.post("/overview/retry-failed-jobs").status_code == 302
        assert "2 failed jobs put back" in admin.get("/overview/").get_data(as_text=True)
        assert sorted(queue.failed_job_registry.get_job_ids()) == sorted(theirs)
        assert {tenant_of_job(i) for i in queue.get_job_ids()} == {tenant.id, other_tenant.id}
        assert sorted(i for i in queue.get_job_ids() if tenant_of_job(i) == tenant.id) == sorted(ours)

        # A second retry finds nothing of its own: the other tenant's failed jobs stay where they are.
        assert admin.post("/overview/retry-failed-jobs").status_code == 302
        assert "0 failed jobs put back" in admin.get("/overview/").get_data(as_text=True)
        assert sorted(queue.failed_job_registry.get_job_ids()) == sorted(theirs)
        # Neither admin reaches the platform's view of every tenant.
        for client in (admin, their_admin):
            assert client.get("/platform/engine").status_code == 404
            assert client.post("/platform/engine/retry-failed-jobs").status_code == 404
        assert queue.failed_job_registry.count == 3
    finally:
        queue.empty()
        for job_id in queue.failed_job_registry.get_job_ids():
            queue.failed_job_registry.remove(job_id, delete_job=True)


def _holiday(tenant):
    from datetime import date

    from nurture_ui.models import TenantHoliday

    holiday = TenantHoliday(tenant_id=tenant.id, day=date(2026, 3, 16), name="Imported day")
    db.session.add(holiday)
    db.session.commit()
    return holiday
