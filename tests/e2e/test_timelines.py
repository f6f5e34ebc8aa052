"""Browser: a manager watches an enrollment's timeline update as the engine runs a step, reads a sequence's
performance and downloads its CSV, and looks at the overview."""

from __future__ import annotations

import csv
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nurture_ui.engine.heartbeat import record_dispatch
from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db, get_queue
from nurture_ui.jobs import dispatch_due_job
from nurture_ui.models import Activity, LeadReply, OutboundMessage, Task
from tests import factories
from tests.engine.conftest import to_address

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def mailing_worker(request):
    """The module's real RQ worker (``python worker.py``), sending to a local SMTP server it inherits."""
    from aiosmtpd.controller import Controller

    from tests.engine.conftest import CollectingHandler, free_port

    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    saved = {k: os.environ.get(k) for k in ("SMTP_HOST", "SMTP_PORT")}
    os.environ.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(controller.port))
    request.getfixturevalue("worker_process")
    yield handler
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    controller.stop()
    handler.assert_well_formed()


@pytest.fixture
def fast_polling(app):
    previous = app.config.get("TIMELINE_POLL_SECONDS")
    app.config["TIMELINE_POLL_SECONDS"] = 1
    yield
    app.config["TIMELINE_POLL_SECONDS"] = previous or 5


def test_enrollment_timeline_shows_past_and_planned_and_updates_when_the_worker_runs_a_step(
    page, sign_in, screenshot, tenant, clock, fast_polling, mailing_worker
):
    factories.make_template(tenant, "intro", name="Welcome", pre_approved=True)
    sequence = factories.make_sequence(
        tenant,
        name="Warm leads, 3 weeks",
        status="active",
        steps=[
            {"channel": "email", "template_id": "intro"},
            {"channel": "email", "template_id": "intro", "delay_hours": 24},
            {"channel": "task", "delay_hours": 48, "instructions": "Call to book a demo"},
        ],
    )
    manager = factories.make_user(tenant, "manager", name="Mona Manager")
    lead = factories.make_lead(tenant, first_name="Nora", last_name="Nguyen", timezone="America/New_York")
    enrollment = schedule_first_step(lead, sequence, now=MONDAY, actor_id=manager.id)
    db.session.commit()

    sign_in(manager)
    page.goto(f"/enrollments/{enrollment.id}")
    past = page.locator('[data-kind="past"]')
    planned = page.locator('[data-kind="planned"]')
    assert past.first.inner_text().startswith("Enrolled")
    assert planned.count() == 4
    assert "Step 1 · Email “Welcome”" in planned.nth(0).inner_text()
    assert "Mon Mar 2, 14:00 · 09:00 New York" in planned.nth(0).inner_text()  # the reader in UTC
    assert "frequency cap" in planned.nth(1).inner_text()
    assert page.get_by_text("Live · updates every 1 s").is_visible()
    screenshot(page, "enrollment-timeline")

    page.evaluate("window.__same_page = true")
    # The scheduler's tick at 09:00 in New York, run by the real worker process: it claims the enrollment,
    # enqueues the step's job, which the worker runs, and that job's send job, which emails Nora.
    get_queue().enqueue(dispatch_due_job, datetime(2026, 3, 2, 14, 0, tzinfo=UTC).isoformat())
    ran = page.locator('[data-kind="past"]', has_text="Step 1 · Email “Welcome” ran: email queued")
    ran.wait_for(state="visible", timeout=30_000)
    sent = page.locator('[data-kind="past"]', has_text="Email sent — Step 1 · Email “Welcome”")
    sent.wait_for(state="visible", timeout=30_000)
    assert page.evaluate("window.__same_page") is True  # updated in place by htmx polling, no reload
    assert [to_address(m) for m in mailing_worker.messages] == [lead.email]
    assert planned.count() == 3
    assert "Step 2 · Email “Welcome”" in planned.first.inner_text()
    screenshot(page, "enrollment-timeline-after-step")
    assert page.js_errors == []


def _busy_sequence(tenant, name, n, seed, reps, now):
    """A running sequence with ``n`` enrollments over the last four weeks and a realistic spread of outcomes."""
    rng = random.Random(seed)
    sequence = factories.make_sequence(
        tenant,
        name=name,
        status="active",
        steps=[
            {"channel": "email", "template_id": "intro", "requires_human_approval": True},
            {"channel": "email", "template_id": "intro", "delay_hours": 72},
            {"channel": "call_reminder", "delay_hours": 48, "instructions": "Call"},
            {"channel": "email", "template_id": "intro", "delay_hours": 96},
        ],
    )
    for _ in range(n):
        start = now - timedelta(days=rng.randint(0, 27), hours=rng.randint(0, 8))
        reached = rng.choices([0, 1, 2, 3, 4], weights=[10, 25, 25, 15, 25])[0]
        outcome = rng.choices(
            ["running", "completed", "positive_reply", "unsubscribed", "converted", "replied"],
            weights=[30, 25, 15, 8, 12, 10],
        )[0]
        if reached == 4:
            outcome = "completed" if outcome == "running" else outcome
        status = {"running": "active", "completed": "completed"}.get(outcome, "exited")
        owner = rng.choice(reps)
        lead = factories.make_lead(
            tenant, owner_id=owner.id, status="converted" if outcome == "converted" else "contacted"
        )
        e = factories.make_enrollment(
            lead,
            sequence,
            enrolled_on=start,
            status=status,
            current_step_order=max(1, reached),
            exit_reason=None if status != "exited" else outcome,
            ended_on=None if status == "active" else min(now, start + timedelta(days=reached * 3 + 1)),
        )
        for step in range(1, reached + 1):
            at = start + timedelta(days=(step - 1) * 3, hours=rng.randint(1, 30))
            skipped = step == 2 and rng.random() < 0.15
            db.session.add(
                Activity(
                    tenant_id=tenant.id,
                    type="nurture_step_executed",
                    lead_id=lead.id,
                    enrollment_id=e.id,
                    sequence_id=sequence.id,
                    occurred_at=min(at, now),
                    data={"step": step, **({"outcome": "skipped"} if skipped else {})},
                )
            )
            if step in (1, 2, 4) and not skipped:
                reviewed = step == 1
                db.session.add(
                    OutboundMessage(
                        tenant_id=tenant.id,
                        enrollment_id=e.id,
                        step_order=step,
                        lead_id=lead.id,
                        sequence_id=sequence.id,
                        to_email=lead.email,
                        subject=f"Step {step} for {lead.first_name}",
                        body="…",
                        status="rejected" if reviewed and rng.random() < 0.1 else "sent",
                        review_reason="the step requires human approval" if reviewed else None,
                        reviewed_at=min(now, at) if reviewed else None,
                        created_at=min(now, at - timedelta(hours=rng.randint(1, 20))),
                        updated_at=min(now, at),
                        sent_at=min(now, at),
                        message_id=f"<{uuid.uuid4()}@test>",
                    )
                )
        if outcome in ("positive_reply", "replied"):
            db.session.add(
                LeadReply(
                    tenant_id=tenant.id,
                    lead_id=lead.id,
                    received_at=min(now, start + timedelta(days=max(reached, 1) * 3)),
                    sentiment="positive" if outcome == "positive_reply" else "neutral",
                )
            )
        if outcome == "running" and rng.random() < 0.3 and reached >= 1:
            db.session.add(
                OutboundMessage(
                    tenant_id=tenant.id,
                    enrollment_id=e.id,
                    step_order=5,
                    lead_id=lead.id,
                    sequence_id=sequence.id,
                    to_email=lead.email,
                    subject="Draft",
                    body="…",
                    status="pending_approval",
                    review_reason="the step requires human approval",
                    created_at=now - timedelta(hours=rng.randint(1, 60)),
                    updated_at=now,
                    message_id=f"<{uuid.uuid4()}@test>",
                )
            )
            db.session.add(
                Task(
                    tenant_id=tenant.id,
                    lead_id=lead.id,
                    enrollment_id=e.id,
                    step_order=3,
                    kind="call_reminder",
                    title=f"Call {lead.first_name}",
                    assignee_id=owner.id,
                    due_at=now - timedelta(hours=rng.randint(-20, 70)),
                    status="open",
                )
            )
        db.session.commit()
    return sequence


@pytest.fixture
def busy_tenant(tenant, clock):
    factories.make_template(tenant, "intro", name="Welcome")
    reps = [factories.make_user(tenant, "rep", name=n) for n in ("Ann Archer", "Ben Brooks", "Cleo Cruz")]
    sequences = [
        _busy_sequence(tenant, "Warm leads, 3 weeks", 60, 1, reps, MONDAY),
        _busy_sequence(tenant, "Webinar follow-up", 35, 2, reps, MONDAY),
        _busy_sequence(tenant, "Trial nudges", 20, 3, reps, MONDAY),
    ]
    return tenant, sequences


def test_performance_page_charts_and_csv_export(page, sign_in, screenshot, busy_tenant):
    tenant, (sequence, *_rest) = busy_tenant
    sign_in(factories.make_user(tenant, "manager"))
    page.goto("/sequences/")
    page.locator(f'a[href="/sequences/{sequence.id}/performance"]').click()
    page.wait_for_url(f"**/sequences/{sequence.id}/performance")
    assert page.locator("svg.chart").count() == 4
    enrolled = page.locator('[data-figure="enrolled"]').inner_text()
    assert enrolled == "60"
    screenshot(page, "sequence-performance")

    with page.expect_download() as download_info:
        page.locator('[data-csv="funnel"]').first.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(Path(download.path()).read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["stage", "enrollments"]
    assert rows[1] == ["Enrolled", "60"]
    assert [r[0] for r in rows[2:6]] == [f"Reached step {n}" for n in (1, 2, 3, 4)]

    page.locator("#range-from").fill("2026-02-23")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**from=2026-02-23**")
    assert int(page.locator('[data-figure="enrolled"]').inner_text()) < 60
    assert page.js_errors == []


def test_manager_overview(page, sign_in, screenshot, busy_tenant):
    tenant, _ = busy_tenant
    record_dispatch(4, at=MONDAY - timedelta(seconds=20))
    sign_in(factories.make_user(tenant, "manager"))
    page.locator('[data-nav="overview.index"]').click()
    page.wait_for_url("**/overview/")
    assert page.locator("#sequence-figures tbody tr").count() == 3
    assert page.locator("#backlog tbody tr").count() >= 1
    assert page.locator('[data-figure="engine"]').inner_text() == "Running"
    screenshot(page, "manager-overview")
    assert page.js_errors == []


def test_lead_timeline(page, sign_in, screenshot, busy_tenant):
    tenant, (sequence, *_rest) = busy_tenant
    enrollment = db.session.query(OutboundMessage).filter_by(sequence_id=sequence.id, status="sent").first()
    lead = enrollment.lead
    factories.make_reply(lead, "neutral", body_excerpt="Thanks — could you send pricing for 20 seats?")
    sign_in(factories.make_user(tenant, "rep"))
    page.goto(f"/leads/{lead.id}")
    page.get_by_role("link", name="Full timeline").click()
    page.wait_for_url(f"**/leads/{lead.id}/timeline")
    assert page.locator("svg.chart.lanes").is_visible()
    assert page.get_by_text("could you send pricing").is_visible()
    screenshot(page, "lead-timeline")
    assert page.js_errors == []
