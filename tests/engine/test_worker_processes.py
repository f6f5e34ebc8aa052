"""Real worker processes (``python worker.py``) on shared due work: each step once, each email once,
and a worker killed with SIGKILL mid-batch loses nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from nurture_ui import clock as core_clock
from nurture_ui.extensions import db, get_queue
from nurture_ui.jobs import dispatch_due_job
from nurture_ui.models import Activity, Enrollment, Lead, OutboundMessage
from tests import factories
from tests.engine.conftest import to_address

ROOT = Path(__file__).resolve().parents[2]
ALWAYS_OPEN = {"days": [0, 1, 2, 3, 4, 5, 6], "start_hour": 0, "end_hour": 24}


@pytest.fixture
def processes(app, database_url, redis_url, smtp_server, tmp_path):
    """Start ``worker.py`` processes against this suite's database, Redis, a fresh queue and the SMTP server."""
    queue_name = f"test-{uuid.uuid4().hex[:8]}"
    saved_queue = app.config["RQ_QUEUE"]
    app.config["RQ_QUEUE"] = queue_name
    started: list[subprocess.Popen] = []

    def start(*args: str, **settings) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RQ_QUEUE": queue_name,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(app.config["SMTP_PORT"]),
            "SECRET_KEY": app.config["SECRET_KEY"],
            **{k: str(v) for k, v in settings.items()},
        }
        log = open(tmp_path / f"worker-{len(started)}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py"), *args], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        started.append(process)
        return process

    start.queue_name = queue_name
    start.logs = tmp_path
    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
    get_queue().empty()
    app.config["RQ_QUEUE"] = saved_queue


def kill_tree(pid: int) -> None:
    """SIGKILL a process and its children (an RQ worker and the work horse it forked)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        kill_tree(int(child))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def make_due_enrollments(count: int) -> None:
    """``count`` leads enrolled in a one-email sequence, all due now (bulk inserts: this is set-up, not the test)."""
    core_clock.set_now(None)
    tenant = factories.make_tenant("Bulk", send_window=ALWAYS_OPEN)
    factories.make_template(tenant, "a", subject="Hello {{ lead.first_name }}")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    now = core_clock.now()
    leads = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant.id,
            "email": f"bulk{i}@example.test",
            "first_name": f"L{i}",
            "last_name": "",
            "company": "",
            "title": "",
            "phone": "",
            "status": "new",
            "score": 0,
            "score_band": "warm",
            "segment": "",
            "do_not_contact": False,
            "undeliverable": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    db.session.execute(sa.insert(Lead), leads)
    db.session.execute(
        sa.insert(Enrollment),
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant.id,
                "lead_id": lead["id"],
                "sequence_id": sequence.id,
                "current_step_order": 1,
                "status": "active",
                "enrolled_on": now,
                "next_step_on": now,
                "created_at": now,
                "updated_at": now,
            }
            for lead in leads
        ],
    )
    db.session.commit()


def scalar(statement):
    value = db.session.scalar(statement)
    db.session.commit()  # a fresh snapshot next time
    return value


def wait_until(condition, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = {p.name: p.read_text()[-2000:] for p in logs.glob("worker-*.log")}
            pytest.fail(f"timed out waiting for {what}; worker logs: {tails}")
        time.sleep(0.05)


def assert_each_step_and_email_once(count: int, smtp_server, *, max_unknown: int = 0) -> None:
    executed = db.session.execute(
        sa.select(Activity.enrollment_id, sa.func.count())
        .where(Activity.type == "nurture_step_executed")
        .group_by(Activity.enrollment_id)
    ).all()
    assert len(executed) == count and {n for _, n in executed} == {1}
    statuses = Counter(db.session.scalars(sa.select(OutboundMessage.status)))
    assert sum(statuses.values()) == count
    received = Counter(to_address(m) for m in smtp_server.messages)
    assert max(received.values()) == 1, "an email arrived twice"
    # Only the group of messages a crash caught mid-send may be unknown; everything else was sent and arrived.
    assert statuses["sent"] + statuses["unknown"] == count and statuses["unknown"] <= max_unknown
    sent_to = set(
        db.session.scalars(sa.select(OutboundMessage.to_email).where(OutboundMessage.status == "sent"))
    )
    assert sent_to <= set(received)
    assert scalar(sa.select(sa.func.count()).where(Enrollment.status != "completed")) == 0


@pytest.mark.postgres
def test_four_workers_on_5000_due_enrollments_execute_every_step_and_email_once(
    database_url, processes, smtp_server
):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent claims need PostgreSQL")
    count = 5000
    make_due_enrollments(count)
    queue = get_queue()
    # Four ticks at once, as a doubled scheduler would enqueue them: one claims (the others skip, or find
    # nothing left), and its 20 batches are executed by four workers at once. Concurrent claims themselves
    # are tested in test_dispatcher_tick.py.
    for _ in range(4):
        queue.enqueue(dispatch_due_job)
    workers = [processes("--burst", ENGINE_BATCH_SIZE=250) for _ in range(4)]
    wait_until(
        lambda: (
            scalar(sa.select(sa.func.count()).where(OutboundMessage.status == "sent")) == count
            or all(w.poll() is not None for w in workers)
        ),
        timeout=240,
        what="all emails sent",
        logs=processes.logs,
    )
    assert_each_step_and_email_once(count, smtp_server)
    assert len(smtp_server.messages) == count


def test_worker_killed_mid_batch_loses_nothing(database_url, processes, smtp_server):
    count = 1000 if database_url.startswith("postgresql") else 400
    make_due_enrollments(count)
    settings = {
        "ENGINE_BATCH_SIZE": 100,
        "ENGINE_LEASE_SECONDS": 2,
        "ENGINE_TICK_SECONDS": 1,
        "MAIL_REQUEUE_AFTER_SECONDS": 2,
        # The kill may catch a message mid-SMTP: it becomes unknown soon here, not after ten minutes.
        "MAIL_SENDING_STUCK_SECONDS": 3,
        "MAIL_CLAIM_GROUP": 5,
    }
    get_queue().enqueue(dispatch_due_job)
    doomed = processes(**settings)
    executed = sa.select(sa.func.count()).where(Activity.type == "nurture_step_executed")
    wait_until(lambda: scalar(executed) > 0, timeout=60, what="the first executed step", logs=processes.logs)
    kill_tree(doomed.pid)
    doomed.wait(timeout=10)
    at_kill = scalar(executed)
    assert at_kill < count, "the worker finished before it could be killed"

    processes("cron", **settings)
    processes(**settings)
    done = sa.select(sa.func.count()).where(OutboundMessage.status.in_(("sent", "unknown")))
    wait_until(
        lambda: scalar(done) == count,
        timeout=120,
        what="every email sent after the kill",
        logs=processes.logs,
    )
    assert_each_step_and_email_once(count, smtp_server, max_unknown=5)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_the_job_process_is_replaced_after_its_jobs_or_its_death_and_stops_with_the_worker(
    processes, redis_url
):
    """``python worker.py`` runs jobs in a long-lived child: a new child after WORKER_MAX_JOBS jobs, a new
    child when one is killed, and SIGTERM to the worker stops both."""
    from rq.job import Job

    from nurture_ui.extensions import get_redis
    from nurture_ui.jobs import resume_pauses_job

    worker = processes(WORKER_MAX_JOBS=2)
    queue = get_queue()

    def run_jobs(count: int) -> list[str]:
        jobs = [queue.enqueue(resume_pauses_job) for _ in range(count)]
        wait_until(
            lambda: all(j.get_status(refresh=True) == "finished" for j in jobs),
            timeout=60,
            what=f"{count} jobs to finish",
            logs=processes.logs,
        )
        return [Job.fetch(j.id, connection=get_redis()).worker_name for j in jobs]

    names = run_jobs(5)
    # The worker and its job process give way to the web app (WORKER_NICE, 10 unless set).
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, ours + 10)
    assert os.getpriority(os.PRIO_PROCESS, _children(worker.pid)[0]) == min(19, ours + 10)
    # Two jobs a child: five jobs took at least three of them, each under its own RQ worker name.
    assert len(set(names)) >= 3 and max(Counter(names).values()) <= 2
    [child] = _children(worker.pid)
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: _children(worker.pid) not in ([], [child]), timeout=30, what="a new child",
               logs=processes.logs)  # fmt: skip
    assert set(run_jobs(1)).isdisjoint(names)
    [child] = _children(worker.pid)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_worker_nice_zero_keeps_the_priority_and_a_bad_value_is_refused(processes):
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    worker = processes(WORKER_NICE=0)
    wait_until(lambda: _children(worker.pid), timeout=30, what="the job process", logs=processes.logs)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == ours
    refused = processes(WORKER_NICE="low")
    assert refused.wait(timeout=30) == 1
    logs = "".join(path.read_text() for path in processes.logs.glob("worker-*.log"))
    assert "WORKER_NICE='low': write a whole number from 0 to 19" in logs
