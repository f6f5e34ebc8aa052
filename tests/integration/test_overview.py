"""The manager overview: sequences' headline figures, work waiting per rep, and the engine's health."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from nurture_ui import overview
from nurture_ui.engine.heartbeat import DISPATCH_KEY, last_dispatch
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.jobs import dispatch_due_job
from nurture_ui.models import OutboundMessage, Task
from tests import factories
from tests.engine_jobs import failed_jobs, queued_jobs


@pytest.fixture(autouse=True)
def clean_redis(app):
    get_redis().delete(DISPATCH_KEY)
    get_queue().empty()
    yield
    get_redis().delete(DISPATCH_KEY)


def draft(enrollment, status="pending_approval", created=None, step=1, error=None):
    message = OutboundMessage(
        tenant_id=enrollment.tenant_id,
        enrollment_id=enrollment.id,
        step_order=step,
        lead_id=enrollment.lead_id,
        sequence_id=enrollment.sequence_id,
        to_email="x@example.test",
        subject=f"Draft {step}",
        body="b",
        status=status,
        message_id=f"<{uuid.uuid4()}@test>",
        created_at=created,
        updated_at=created,
        error=error,
    )
    db.session.add(message)
    db.session.commit()
    return message


def task(enrollment, assignee, due, step=1, status="open"):
    row = Task(
        tenant_id=enrollment.tenant_id,
        lead_id=enrollment.lead_id,
        enrollment_id=enrollment.id,
        step_order=step,
        kind="call_reminder",
        title="Call",
        assignee_id=assignee.id if assignee else None,
        due_at=due,
        status=status,
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def team(tenant, clock):
    now = clock.now()
    ann, bob = factories.make_user(tenant, "rep", name="Ann"), factories.make_user(tenant, "rep", name="Bob")
    sequence = factories.make_sequence(tenant, name="Warm", status="active", steps=[{"channel": "email"}])

    def enrollment(owner):
        lead = factories.make_lead(tenant, owner_id=owner.id if owner else None)
        return factories.make_enrollment(lead, sequence, status="paused", enrolled_on=now - timedelta(days=3))

    # Ann: 3 drafts, the oldest 2 days old; Bob: 1 draft; a lead nobody owns: 1 draft.
    ann_drafts = [draft(enrollment(ann), created=now - timedelta(hours=h)) for h in (48, 5, 1)]
    draft(enrollment(bob), created=now - timedelta(hours=3))
    draft(enrollment(None), created=now - timedelta(hours=30))
    # Tasks: Ann 2 overdue (+1 due later, +1 done), Bob none overdue.
    task(enrollment(ann), ann, now - timedelta(days=2))
    task(enrollment(ann), ann, now - timedelta(hours=2))
    task(enrollment(ann), ann, now + timedelta(hours=2))
    task(enrollment(ann), ann, now - timedelta(days=5), status="done")
    task(enrollment(bob), bob, now + timedelta(days=1))
    # Messages in trouble
    draft(
        enrollment(bob), status="unknown", created=now - timedelta(hours=1), error="interrupted while sending"
    )
    draft(enrollment(bob), status="failed", created=now - timedelta(hours=2), error="550 no such user")
    draft(enrollment(bob), status="failed", created=now - timedelta(hours=3), error="550 no such user")
    return {"ann": ann, "bob": bob, "sequence": sequence, "oldest": ann_drafts[0]}


def test_approval_backlog_per_rep_with_the_oldest_draft(team, tenant):
    rows = overview.approval_backlog(tenant.id)
    summary = [(b.user.name if b.user else None, b.count) for b in rows]
    assert summary == [("Ann", 3), (None, 1), ("Bob", 1)]  # oldest backlog first
    assert rows[0].oldest_id == team["oldest"].id


def test_overdue_tasks_per_rep(team, tenant, clock):
    rows = overview.overdue_tasks(tenant.id, clock.now())
    assert [(b.user.name, b.count) for b in rows] == [("Ann", 2)]
    assert rows[0].oldest_at == clock.now() - timedelta(days=2)


def test_messages_in_doubt_or_failed(team, tenant):
    counts, latest = overview.message_problems(tenant.id)
    assert counts == {"unknown": 1, "failed": 2}
    assert [m.status for m in latest] == ["unknown", "failed", "failed"]


def test_dispatcher_tick_leaves_a_heartbeat(app, clock):
    assert last_dispatch() is None
    dispatch_due_job()
    beat = last_dispatch()
    assert beat is not None and beat.at == clock.now() and beat.claimed == 0


def test_engine_health_reads_the_tenants_jobs_of_the_queue(app, tenant):
    queued_jobs(tenant, 1)
    queued_jobs(None, 1)  # the scheduler's own job: nobody's tenant
    health = overview.engine_health(tenant.id)
    assert health.reachable and health.queued_jobs == 1 and health.failed_jobs == 0
    get_queue().empty()


def test_overview_page_for_managers(team, login_as, clock):
    client = login_as("manager")
    html = client.get("/overview/").get_data(as_text=True)
    assert 'data-figure="drafts">5<' in html
    assert 'data-figure="overdue">2<' in html
    assert 'data-figure="troubled">3<' in html
    assert "Not dispatching" in html and "not in the last day" in html
    assert 'data-rep="Ann"' in html and "2 days ago" in html
    # With the inbox and the task queue in the app, a rep's backlog links to their filtered queue.
    assert "550 no such user" in html and f"/inbox/?rep={team['ann'].id}" in html
    assert f"/tasks/?assignee={team['ann'].id}" in html
    assert html.index('<svg class="chart') < html.index('id="sequence-figures"')
    assert 'data-nav="overview.index"' in html
    dispatch_due_job()
    assert "Running" in client.get("/overview/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["rep", "marketer"])
def test_overview_is_for_managers_and_admins(login_as, role):
    assert login_as(role).get("/overview/").status_code == 403


def test_admin_retries_the_tenants_failed_jobs(app, login_as, tenant):
    queue = get_queue()
    failed_jobs(tenant, 1)
    assert overview.engine_health(tenant.id).failed_jobs == 1
    response = login_as("admin").post("/overview/retry-failed-jobs")
    assert response.status_code == 302
    assert overview.engine_health(tenant.id).failed_jobs == 0 and queue.count == 1
    queue.empty()
    assert login_as("manager").post("/overview/retry-failed-jobs").status_code == 403
