"""The task queue (overdue first, one-click outcomes that move the enrollment on) and the policy settings."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Task, Tenant
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def call_sequence(tenant):
    factories.make_template(tenant, "after-call")
    return factories.make_sequence(
        tenant,
        name="Call first",
        status="active",
        steps=[
            {"channel": "call_reminder", "instructions": "Call about the pilot\nAsk who else decides."},
            {"template_id": "after-call", "delay_hours": 24},
        ],
    )


def make_task(tenant, sequence, clock, owner, **lead_fields) -> Task:
    lead = factories.make_lead(tenant, owner_id=owner.id, **lead_fields)
    schedule_first_step(lead, sequence, now=clock.now())
    db.session.commit()
    run_due(clock.now(), send=False)
    return db.session.scalars(sa.select(Task).where(Task.lead_id == lead.id)).one()


def task_ids(html: str) -> list[str]:
    return re.findall(r'id="task-([0-9a-f-]+)"', html)


def test_the_queue_lists_my_open_calls_overdue_first_with_phone_company_and_context(
    clock, tenant, call_sequence, login_as
):
    client = login_as("rep")
    older = make_task(
        tenant, call_sequence, clock, client.user, first_name="Ada", company="Engines", phone="+1 555 0100"
    )
    clock.advance(days=2)
    newer = make_task(tenant, call_sequence, clock, client.user, first_name="Bea", company="Looms")
    make_task(tenant, call_sequence, clock, factories.make_user(tenant, "rep"), first_name="Not mine")
    html = client.get("/tasks/").get_data(as_text=True)
    assert task_ids(html) == [str(older.id), str(newer.id)]
    assert html.index("Overdue") < html.index("Due today")
    assert "2 days overdue" in html
    assert 'href="tel:+15550100"' in html and "Engines" in html
    assert "Call about the pilot" in html and "Ask who else decides." in html
    assert "Call first · step 1 of 2" in html
    assert "Not mine" not in html
    assert 'id="nav-count-tasks"' in html and 'data-count="2"' in html


def test_completing_a_call_logs_the_outcome_and_moves_the_enrollment_on(
    clock, tenant, call_sequence, login_as
):
    client = login_as("rep")
    task = make_task(tenant, call_sequence, clock, client.user, first_name="Ada")
    clock.advance(hours=3)
    response = client.post(f"/tasks/{task.id}/complete", {"outcome": "voicemail"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "tasks-changed"
    assert "Call logged: voicemail." in html and "moves on: step 2 (email)" in html
    db.session.expire_all()
    task = db.session.get(Task, task.id)
    assert (task.status, task.outcome, task.completed_by) == ("done", "voicemail", client.user.id)
    enrollment = db.session.get(Enrollment, task.enrollment_id)
    assert (enrollment.status, enrollment.current_step_order) == ("active", 2)
    assert enrollment.next_step_on == clock.now() + timedelta(hours=24)
    again = client.post(f"/tasks/{task.id}/complete", {"outcome": "connected"}, headers=HTMX)
    assert "Already done by" in again.get_data(as_text=True)


def test_an_unknown_call_outcome_is_refused_and_skip_moves_on_too(clock, tenant, call_sequence, login_as):
    client = login_as("rep")
    task = make_task(tenant, call_sequence, clock, client.user)
    html = client.post(f"/tasks/{task.id}/complete", {"outcome": "great"}, headers=HTMX).get_data(
        as_text=True
    )
    assert "Choose how the call went" in html
    html = client.post(f"/tasks/{task.id}/skip", headers=HTMX).get_data(as_text=True)
    assert "Skipped." in html and "moves on" in html
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "skipped"


def test_managers_see_everyones_tasks_and_reps_cannot_close_others(clock, tenant, call_sequence, login_as):
    rep = login_as("rep")
    manager = login_as("manager")
    someone = factories.make_user(tenant, "rep")
    theirs = make_task(tenant, call_sequence, clock, someone)
    assert task_ids(manager.get("/tasks/").get_data(as_text=True)) == [str(theirs.id)]
    filtered = manager.get(f"/tasks/?assignee={rep.user.id}", headers={**HTMX, "HX-Target": "task-list"})
    assert task_ids(filtered.get_data(as_text=True)) == []
    assert task_ids(manager.get(f"/tasks/?assignee={someone.id}").get_data(as_text=True)) == [str(theirs.id)]
    assert rep.post(f"/tasks/{theirs.id}/skip", headers=HTMX).status_code == 404
    assert login_as("marketer").get("/tasks/").status_code == 403


# --- settings ------------------------------------------------------------------------------------------


def policy_form(**overrides) -> dict:
    values = {
        "frequency_cap_hours": "48",
        "reenrollment_cooldown_days": "30",
        "cross_sequence_cooldown": "y",
        "cross_sequence_cooldown_days": "7",
        "reply_window_days": "14",
        "ooo_default_days": "7",
        "enrollable_statuses": ["new", "contacted", "qualified"],
        "warm_bands": "warm",
        "send_days": ["0", "1", "2", "3", "4"],
        "send_start_hour": "9",
        "send_end_hour": "17",
        "timezone": "UTC",
        "max_steps": "6",
        "max_span_days": "21",
        "preapproved_skip_review": "y",
        "drafter_url": "",
        "drafter_timeout_seconds": "5",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("role", ["rep", "manager", "marketer"])
def test_settings_are_for_admins_only(login_as, role):
    assert login_as(role).get("/settings/").status_code == 403


def test_an_admin_changes_the_policy_and_the_change_is_logged_with_them(login_as, tenant):
    admin = login_as("admin")
    page = admin.get("/settings/").get_data(as_text=True)
    assert 'name="frequency_cap_hours"' in page and 'value="48"' in page
    response = admin.post(
        "/settings/",
        policy_form(
            frequency_cap_hours="72",
            warm_bands="warm, hot",
            send_days=["0", "2", "4"],
            timezone="Europe/Paris",
            drafter_url="https://writer.example.com/draft",
            drafter_timeout_seconds="2.5",
            preapproved_skip_review="",
        ),
    )
    assert response.status_code == 302
    db.session.expire_all()
    tenant = db.session.get(Tenant, tenant.id)
    assert tenant.policy_value("frequency_cap_hours") == 72
    assert tenant.policy_value("warm_bands") == ["warm", "hot"]
    assert tenant.policy_value("send_window") == {"days": [0, 2, 4], "start_hour": 9, "end_hour": 17}
    assert tenant.policy_value("timezone") == "Europe/Paris"
    assert tenant.policy_value("preapproved_skip_review") is False
    assert tenant.policy_value("drafter_timeout_seconds") == 2.5
    [change] = db.session.scalars(sa.select(Activity).where(Activity.type == "tenant_policy_changed")).all()
    assert change.actor_id == admin.user.id
    assert change.data["changes"]["frequency_cap_hours"] == {"from": 48, "to": 72}
    page = admin.get("/settings/").get_data(as_text=True)
    assert "Saved: frequency cap" in page and "Recent changes" in page and "Europe/Paris" in page
    # Back to the defaults: one more logged change; saving them again logs nothing.
    admin.post("/settings/", policy_form())
    admin.post("/settings/", policy_form())
    assert "Nothing changed." in admin.get("/settings/").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Activity)) == 2


def test_bad_settings_are_refused_field_by_field_and_what_was_typed_stays(login_as, tenant):
    admin = login_as("admin")
    response = admin.post(
        "/settings/",
        policy_form(
            frequency_cap_hours="0",
            warm_bands="Warm Leads!",
            enrollable_statuses=[],
            send_days=[],
            send_start_hour="17",
            send_end_hour="9",
            timezone="Mars/Olympus",
            drafter_url="ftp://writer",
            drafter_timeout_seconds="90",
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in (
        "Enter a whole number from 1 to 720.",
        "is not a band name",
        "Choose at least one status.",
        "Choose at least one day to send on.",
        "The window must end after it starts.",
        "Not a valid choice",  # the time zone list
        "Enter a full http:// or https:// address",
        "from 0.5 to 30",
    ):
        assert message in html, message
    assert 'value="ftp://writer"' in html
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).policy == {}


@pytest.mark.parametrize("zone", ["x" * 300, "America", "../../etc/passwd", "Europe/" + "B" * 250])
def test_a_time_zone_that_is_not_one_is_refused_not_a_500(login_as, tenant, zone):
    admin = login_as("admin")
    response = admin.post("/settings/", policy_form(timezone=zone))
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).policy == {}
