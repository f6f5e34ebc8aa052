"""Tenant walls on the engine: every job works for one tenant, a tenant sees and retries only its own
jobs, and the platform admin (PLATFORM_ADMIN_EMAILS) alone sees every tenant's."""

from __future__ import annotations

import time
import uuid

import pytest
from rq.job import Job

from nurture_ui import overview, platform
from nurture_ui.engine.dispatcher import dispatch_due
from nurture_ui.extensions import get_queue, get_redis
from nurture_ui.job_tenancy import figures_by_tenant, tenant_job_id, tenant_of_job, tenant_queue_figures
from nurture_ui.jobs import enqueue_send
from nurture_ui.models import Enrollment, OutboundMessage
from tests import factories
from tests.engine.conftest import enroll
from tests.engine_jobs import failed_jobs, queued_jobs


@pytest.fixture(autouse=True)
def queue(app):
    queue = get_queue()
    queue.empty()
    for job_id in queue.failed_job_registry.get_job_ids():
        queue.failed_job_registry.remove(job_id, delete_job=True)
    yield queue
    queue.empty()
    for job_id in queue.failed_job_registry.get_job_ids():
        queue.failed_job_registry.remove(job_id, delete_job=True)


@pytest.fixture
def platform_admin(app, tenant):
    user = factories.make_user(tenant, "admin", email="ops@nurture.test")
    saved = app.config["PLATFORM_ADMIN_EMAILS"]
    app.config["PLATFORM_ADMIN_EMAILS"] = "someone@else.test, OPS@nurture.test"
    yield user
    app.config["PLATFORM_ADMIN_EMAILS"] = saved


def _due_in(tenant, clock, count):
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    return [enroll(factories.make_lead(tenant), sequence, clock.now()) for _ in range(count)]


def _enrollment_tenants(ids) -> set:
    from nurture_ui.extensions import db

    return {db.session.get(Enrollment, uuid.UUID(i)).tenant_id for i in ids}


def test_a_job_id_names_its_tenant_and_system_jobs_name_none(tenant):
    job_id = tenant_job_id(tenant.id)
    assert tenant_of_job(job_id) == tenant.id and tenant_of_job(job_id.encode()) == tenant.id
    assert len(job_id) <= 64  # fits LeadImport.job_id
    assert tenant_of_job(str(uuid.uuid4())) is None
    assert tenant_job_id(tenant.id) != job_id


def test_each_executor_job_holds_one_tenants_enrollments(app, clock, queue, tenant, other_tenant):
    _due_in(tenant, clock, 7)
    _due_in(other_tenant, clock, 4)
    app.config["ENGINE_BATCH_SIZE"] = 5
    try:
        report = dispatch_due(clock.now())
    finally:
        app.config["ENGINE_BATCH_SIZE"] = 200
    assert report.claimed == 11
    jobs = [Job.fetch(i, connection=get_redis()) for i in queue.get_job_ids()]
    executor_jobs = [j for j in jobs if j.func_name.endswith("execute_batch_job")]
    # Claims of 5 take both tenants' rows; the first tenant's batch goes out once it holds 5, the rest
    # (2 of one, 4 of the other) when the tick ends.
    assert len(executor_jobs) == len(report.batches) == 3
    for job in executor_jobs:
        tenant_ids = _enrollment_tenants(job.args[0])
        assert tenant_ids == {tenant_of_job(job.id)}
        assert job.meta["tenant_id"] == str(tenant_of_job(job.id))
    assert sorted(len(j.args[0]) for j in executor_jobs if tenant_of_job(j.id) == tenant.id) == [2, 5]
    assert [len(j.args[0]) for j in executor_jobs if tenant_of_job(j.id) == other_tenant.id] == [4]


def test_one_tenants_due_rows_still_make_full_batches(app, clock, queue, tenant):
    _due_in(tenant, clock, 23)
    app.config["ENGINE_BATCH_SIZE"] = 5
    try:
        report = dispatch_due(clock.now())
    finally:
        app.config["ENGINE_BATCH_SIZE"] = 200
    assert [len(b) for b in report.batches] == [5, 5, 5, 5, 3]


def test_send_jobs_are_split_by_tenant(app, clock, tenant, other_tenant, queue):
    from tests.integration.test_access import _message

    ours = [_message(tenant) for _ in range(3)]
    theirs = [_message(other_tenant) for _ in range(2)]
    enqueue_send([m.id for m in ours + theirs])
    by_tenant = {}
    for job_id in queue.get_job_ids():
        job = Job.fetch(job_id, connection=get_redis())
        by_tenant[tenant_of_job(job_id)] = set(job.args[0])
    assert by_tenant == {
        tenant.id: {str(m.id) for m in ours},
        other_tenant.id: {str(m.id) for m in theirs},
    }
    assert all(isinstance(m, OutboundMessage) for m in ours)


def test_engine_health_counts_only_the_tenants_own_jobs(tenant, other_tenant):
    failed_jobs(tenant, 2)
    failed_jobs(other_tenant, 3)
    failed_jobs(None, 1)
    queued_jobs(tenant, 1)
    queued_jobs(other_tenant, 4)
    queued_jobs(None, 2)
    ours, theirs = overview.engine_health(tenant.id), overview.engine_health(other_tenant.id)
    assert (ours.queued_jobs, ours.failed_jobs) == (1, 2)
    assert (theirs.queued_jobs, theirs.failed_jobs) == (4, 3)
    everyone = figures_by_tenant()
    assert (everyone[None].queued, everyone[None].failed) == (2, 1)


def test_retrying_puts_back_only_the_tenants_own_failed_jobs(queue, tenant, other_tenant):
    ours = failed_jobs(tenant, 2)
    theirs = failed_jobs(other_tenant, 3)
    system = failed_jobs(None, 1)
    assert overview.retry_failed_jobs(tenant.id) == 2
    assert sorted(queue.get_job_ids()) == sorted(ours)
    assert sorted(queue.failed_job_registry.get_job_ids()) == sorted(theirs + system)
    assert overview.engine_health(other_tenant.id).failed_jobs == 3


def test_the_platform_admin_sees_every_tenant_and_retries_them_all(
    app, queue, platform_admin, tenant, other_tenant
):
    failed_jobs(tenant, 1)
    failed_jobs(other_tenant, 3)
    failed_jobs(None, 1)
    queued_jobs(other_tenant, 2)
    from tests.conftest import WebClient

    client = WebClient(app.test_client())
    client.login(platform_admin.email)
    html = client.get("/platform/engine").get_data(as_text=True)
    assert 'data-figure="failed_jobs">5<' in html and 'data-figure="queued">2<' in html
    assert f'data-tenant="{other_tenant.slug}"' in html and "Other Corp" in html
    assert "Scheduler and unattributed jobs" in html
    assert 'href="/platform/engine"' in client.get("/overview/").get_data(as_text=True)
    response = client.post("/platform/engine/retry-failed-jobs")
    assert response.status_code == 302
    assert queue.failed_job_registry.count == 0 and queue.count == 7
    assert "5 failed jobs of all tenants" in client.get("/platform/engine").get_data(as_text=True)


@pytest.mark.parametrize("role, status", [("admin", 404), ("manager", 403), ("rep", 403)])
def test_the_platform_pages_do_not_exist_for_tenant_people(login_as, queue, other_tenant, role, status):
    failed_jobs(other_tenant, 2)
    client = login_as(role)
    assert client.get("/platform/engine").status_code == status
    assert client.post("/platform/engine/retry-failed-jobs").status_code == status
    assert queue.failed_job_registry.count == 2
    if role == "admin":
        assert "/platform/engine" not in client.get("/overview/").get_data(as_text=True)


def test_platform_admins_are_the_listed_admins_only(app, platform_admin, tenant):
    assert platform.is_platform_admin(platform_admin)
    listed_rep = factories.make_user(tenant, "rep", email="someone@else.test")
    assert not platform.is_platform_admin(listed_rep)
    assert not platform.is_platform_admin(factories.make_user(tenant, "admin"))
    app.config["PLATFORM_ADMIN_EMAILS"] = ""
    assert not platform.is_platform_admin(platform_admin)


def test_a_tenants_queue_depth_stays_cheap_with_thousands_of_jobs(queue, tenant):
    """5,000 waiting jobs of 5 tenants: one tenant's figures read the ids only (one LRANGE, no job)."""
    tenants = [tenant.id] + [uuid.uuid4() for _ in range(4)]
    ids = [tenant_job_id(tenants[n % 5]) for n in range(5000)]
    get_redis().rpush(queue.key, *ids)
    started = time.perf_counter()
    figures = tenant_queue_figures(tenant.id)
    elapsed = time.perf_counter() - started
    assert figures.queued == 1000
    assert elapsed < 0.5, f"{elapsed:.3f} s"
    print(f"\none tenant's figures over 5,000 queued jobs: {elapsed * 1000:.1f} ms")
    get_redis().delete(queue.key)


def test_each_mailbox_poll_job_works_for_the_mailboxs_tenant(queue, tenant, other_tenant):
    from nurture_ui.extensions import db
    from nurture_ui.jobs import poll_mailboxes_job
    from nurture_ui.models import Mailbox

    mailboxes = {}
    for owner in (tenant, other_tenant):
        mailbox = Mailbox(
            tenant_id=owner.id,
            address=f"team-{uuid.uuid4().hex[:6]}@example.test",
            display_name="Team",
            imap_host="imap.example.test",
            imap_port=993,
            imap_security="ssl",
            imap_username="team",
            imap_secret="",
            imap_folder="INBOX",
        )
        db.session.add(mailbox)
        db.session.commit()
        mailboxes[str(mailbox.id)] = owner.id
    assert poll_mailboxes_job() == {"mailboxes": 2}
    jobs = [Job.fetch(i, connection=get_redis()) for i in queue.get_job_ids()]
    assert {job.args[0]: tenant_of_job(job.id) for job in jobs} == mailboxes
