"""Team management: roles, deactivation, password resets and handing a person's work to someone else."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from nurture_ui import team
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Lead, Task, User
from nurture_ui.work_queues import drafts_query
from tests import factories
from tests.conftest import WebClient


def _signed_in(app, user) -> WebClient:
    client = WebClient(app.test_client())
    client.login(user.email)
    return client


def _reload(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def _activities(kind: str) -> list[Activity]:
    return list(db.session.scalars(sa.select(Activity).where(Activity.type == kind)))


def test_add_a_person_defaults_to_the_least_privileged_role(login_as):
    html = login_as("admin").get("/team/").get_data(as_text=True)
    selected = re.search(r'<select id="role" name="role">.*?</select>', html, re.S).group(0)
    assert re.search(r'<option selected value="rep">|<option value="rep" selected', selected)
    assert selected.index('value="rep"') < selected.index('value="admin"')


def test_adding_a_person_is_logged_with_the_admin(login_as):
    admin = login_as("admin")
    admin.post(
        "/team/",
        {"name": "Nia New", "email": "nia@example.test", "role": "rep", "password": "long enough pw"},
    )
    (added,) = _activities("user_added")
    assert added.actor_id == admin.user.id and added.data["user_name"] == "Nia New"


def test_admin_changes_a_role_and_it_is_logged(login_as, tenant):
    admin = login_as("admin")
    rep = factories.make_user(tenant, "rep")
    response = admin.post(f"/team/{rep.id}/role", {"role": "manager"})
    assert response.status_code == 302
    assert _reload(rep).role == "manager"
    (changed,) = _activities("user_role_changed")
    assert changed.actor_id == admin.user.id
    assert changed.data["from"] == "rep" and changed.data["to"] == "manager"
    assert "is now manager" in admin.get("/team/").get_data(as_text=True)


def test_an_unknown_role_is_refused_with_a_reason(login_as, tenant):
    admin = login_as("admin")
    rep = factories.make_user(tenant, "rep")
    admin.post(f"/team/{rep.id}/role", {"role": "owner"})
    assert _reload(rep).role == "rep"
    assert "Unknown role" in admin.get("/team/").get_data(as_text=True)


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app, login_as, tenant):
    admin = login_as("admin")
    other = factories.make_user(tenant, "admin")
    # Another admin may be demoted while one remains...
    admin.post(f"/team/{other.id}/role", {"role": "rep"})
    assert _reload(other).role == "rep"
    # ...and no admin may change their own role or deactivate themselves, so the last one stays.
    admin.post(f"/team/{admin.user.id}/role", {"role": "rep"})
    admin.post(f"/team/{admin.user.id}/deactivate", {})
    me = _reload(admin.user)
    assert me.role == "admin" and me.is_active_user
    page = admin.get("/team/").get_data(as_text=True)
    assert "You cannot deactivate yourself" in page


def test_the_only_active_admin_is_protected_on_every_path(tenant):
    only = factories.make_user(tenant, "admin")
    acting = factories.make_user(tenant, "admin")
    team.deactivate(acting, admin=only)  # now ``only`` is the one active admin
    with pytest.raises(team.TeamChangeRefused, match="only active admin"):
        team.deactivate(only, admin=acting)
    with pytest.raises(team.TeamChangeRefused, match="only active admin"):
        team.change_role(only, "manager", admin=acting)
    assert _reload(only).role == "admin" and _reload(only).is_active_user


def test_a_deactivated_person_cannot_sign_in_and_is_told_why(app, login_as, tenant):
    admin = login_as("admin")
    rep = factories.make_user(tenant, "rep")
    admin.post(f"/team/{rep.id}/deactivate", {})
    assert not _reload(rep).is_active_user
    (logged,) = _activities("user_deactivated")
    assert logged.actor_id == admin.user.id and logged.data["user_id"] == str(rep.id)

    visitor = WebClient(app.test_client())
    visitor.get("/login")
    response = visitor.post("/login", {"email": rep.email, "password": factories.PASSWORD})
    assert response.status_code == 403
    assert "This account is deactivated" in response.get_data(as_text=True)
    # A wrong password says nothing of the account's state.
    wrong = visitor.post("/login", {"email": rep.email, "password": "not the password"})
    assert wrong.status_code == 401 and "deactivated" not in wrong.get_data(as_text=True)


def test_deactivating_ends_the_persons_open_session(app, login_as, tenant):
    admin = login_as("admin")
    rep = factories.make_user(tenant, "rep")
    session = _signed_in(app, rep)
    assert session.get("/leads/").status_code == 200
    admin.post(f"/team/{rep.id}/deactivate", {})
    response = session.get("/leads/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_reactivated_people_sign_in_again(app, login_as, tenant):
    admin = login_as("admin")
    rep = factories.make_user(tenant, "rep")
    admin.post(f"/team/{rep.id}/deactivate", {})
    admin.post(f"/team/{rep.id}/reactivate", {})
    assert _reload(rep).is_active_user
    assert _activities("user_reactivated")[0].actor_id == admin.user.id
    _signed_in(app, rep)  # asserts the sign-in redirects


def test_a_password_reset_is_shown_once_ends_sessions_and_logs_no_password(app, login_as, tenant):
    admin = login_as("admin")
    rep = factories.make_user(tenant, "rep")
    old_session = _signed_in(app, rep)
    response = admin.post(f"/team/{rep.id}/reset-password", {})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = re.search(r"data-new-password>([^<]+)<", response.get_data(as_text=True)).group(1)
    assert len(password) >= 16
    # Shown once: the page after it does not carry it.
    assert password not in admin.get("/team/").get_data(as_text=True)
    # The old password and the old session are gone; the new one signs in.
    assert "/login" in old_session.get("/leads/").headers.get("Location", "")
    visitor = WebClient(app.test_client())
    visitor.get("/login")
    assert visitor.post("/login", {"email": rep.email, "password": factories.PASSWORD}).status_code == 401
    WebClient(app.test_client()).login(rep.email, password)
    (logged,) = _activities("password_reset")
    assert logged.actor_id == admin.user.id
    assert password not in str(logged.data)


def test_reassigning_moves_leads_their_drafts_and_open_tasks(login_as, tenant):
    admin = login_as("admin")
    leaving = factories.make_user(tenant, "rep")
    taking = factories.make_user(tenant, "rep")
    leads = [factories.make_lead(tenant, owner_id=leaving.id) for _ in range(3)]
    draft = factories.make_draft(tenant, lead=leads[0])
    task = factories.make_task(tenant, lead=leads[1], assignee_id=leaving.id)
    done = factories.make_task(tenant, lead=leads[2], assignee_id=leaving.id, status="done")
    someone_elses = factories.make_lead(tenant, owner_id=taking.id)
    admin.post(f"/team/{leaving.id}/deactivate", {})

    response = admin.post(f"/team/{leaving.id}/reassign", {"to_user_id": str(taking.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert {
        lead.owner_id for lead in db.session.scalars(sa.select(Lead).where(Lead.tenant_id == tenant.id))
    } == {taking.id}
    assert db.session.get(Task, task.id).assignee_id == taking.id
    assert db.session.get(Task, done.id).assignee_id == leaving.id  # history stays as it was
    assert db.session.get(Lead, someone_elses.id).owner_id == taking.id
    # The draft is now in the receiving rep's inbox, and no longer anyone's who left.
    taker = db.session.get(User, taking.id)
    assert draft.id in {m.id for m in db.session.scalars(drafts_query(taker)).unique()}
    (logged,) = _activities("leads_reassigned")
    assert logged.actor_id == admin.user.id
    assert (logged.data["leads"], logged.data["tasks"], logged.data["drafts"]) == (3, 1, 1)
    assert "now has" in admin.get("/team/").get_data(as_text=True)


def test_work_cannot_go_to_a_deactivated_person_or_a_marketer(login_as, tenant):
    admin = login_as("admin")
    leaving = factories.make_user(tenant, "rep")
    lead = factories.make_lead(tenant, owner_id=leaving.id)
    gone = factories.make_user(tenant, "rep")
    gone.is_active_user = False
    marketer = factories.make_user(tenant, "marketer")
    db.session.commit()
    admin.post(f"/team/{leaving.id}/reassign", {"to_user_id": str(gone.id)})
    admin.post(f"/team/{leaving.id}/reassign", {"to_user_id": str(marketer.id)})
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).owner_id == leaving.id
    page = admin.get("/team/").get_data(as_text=True)
    assert "is deactivated: choose an active person" in page


def test_team_changes_cannot_reach_another_tenants_people(login_as, tenant, other_tenant):
    admin = login_as("admin")
    stranger = factories.make_user(other_tenant, "admin")
    stranger_lead = factories.make_lead(other_tenant, owner_id=stranger.id)
    mine = factories.make_user(tenant, "rep")
    for path, form in (
        ("role", {"role": "rep"}),
        ("deactivate", {}),
        ("reset-password", {}),
        ("reassign", {"to_user_id": str(mine.id)}),
    ):
        assert admin.post(f"/team/{stranger.id}/{path}", form).status_code == 404
    # Nor can my people's work be given to a stranger.
    factories.make_lead(tenant, owner_id=mine.id)
    assert admin.post(f"/team/{mine.id}/reassign", {"to_user_id": str(stranger.id)}).status_code == 404
    db.session.expire_all()
    stranger = db.session.get(User, stranger.id)
    assert stranger.role == "admin" and stranger.is_active_user
    assert db.session.get(Lead, stranger_lead.id).owner_id == stranger.id


def test_reps_see_no_team_actions(login_as, tenant):
    rep = login_as("rep")
    other = factories.make_user(tenant, "rep")
    assert rep.post(f"/team/{other.id}/deactivate", {}).status_code == 403
    assert _reload(other).is_active_user
