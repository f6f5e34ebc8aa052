"""The naive baseline: the design people reach for first, measured on the same work as the engine.

One RQ job per enrollment-step, scheduled with ``Queue.enqueue_at`` for the step's due time and moved onto
the queue by RQ's scheduler (workers started with ``with_scheduler=True``). Each job does the step through
the ORM, row by row: load the enrollment, its lead and sequence, render the template, create the
OutboundMessage and the activities, send over a new SMTP connection with smtplib, mark the message sent,
complete the enrollment and commit. The app is created once per worker (as ``nurture_ui.jobs`` does),
so the baseline pays for the row-by-row work, not for building Flask each time.

Two worker models, so the report can tell what batching buys from what the worker model buys: ``fork``,
RQ's default ``Worker``, which forks a work horse per job (a new database connection each job), and
``simple``, RQ's ``SimpleWorker``, which runs every job in the worker's own long-lived process (as the
engine's workers do).

    .venv/bin/python -m bench.naive worker QUEUE [fork|simple]   a worker with the scheduler (run_naive starts it)
"""

from __future__ import annotations

import smtplib
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from nurture_ui import activity
from nurture_ui.engine.content import render_step_email
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.models import EmailTemplate, Enrollment, Lead, OutboundMessage, Sequence


def naive_step_job(enrollment_id: str) -> str:
    """Execute and send one enrollment's due email step, all in one transaction committed at the end."""
    from nurture_ui.jobs import job_app_context

    with job_app_context():
        now = datetime.now(UTC)
        enrollment = db.session.get(Enrollment, uuid.UUID(enrollment_id))
        if enrollment is None or enrollment.status != "active":
            return "not_due"
        lead = db.session.get(Lead, enrollment.lead_id)
        sequence = db.session.get(Sequence, enrollment.sequence_id)
        step = next(s for s in sequence.steps if s.step_order == enrollment.current_step_order)
        template = db.session.scalar(
            sa.select(EmailTemplate).where(
                EmailTemplate.tenant_id == enrollment.tenant_id, EmailTemplate.key == step.template_id
            )
        )
        subject, body = render_step_email(template, lead, lead.owner)
        message = OutboundMessage(
            id=uuid.uuid4(), tenant_id=enrollment.tenant_id, enrollment_id=enrollment.id,
            step_order=step.step_order, step_id=step.id, lead_id=lead.id, sequence_id=sequence.id,
            to_email=lead.email, subject=subject, body=body, status="sending", drafter="template",
            queued_at=now, message_id=make_msgid(domain="bench.test"), attempts=1, created_at=now, updated_at=now,
        )  # fmt: skip
        db.session.add(message)
        activity.record_for_enrollment("nurture_step_executed", enrollment, occurred_at=now,
                                       data={"step": step.step_order, "channel": "email", "message": str(message.id)})  # fmt: skip
        db.session.flush()

        email = EmailMessage()
        email["From"] = current_app.config["MAIL_FROM"]
        email["To"] = lead.email
        email["Subject"] = subject
        email["Message-ID"] = message.message_id
        email["Date"] = format_datetime(now)
        email.set_content(body)
        with smtplib.SMTP(
            current_app.config["SMTP_HOST"], current_app.config["SMTP_PORT"], timeout=30
        ) as smtp:
            smtp.send_message(email)

        message.status = "sent"
        message.sent_at = now
        activity.record_for_enrollment("message_sent", enrollment, occurred_at=now,
                                       data={"step": step.step_order, "message": str(message.id)})  # fmt: skip
        enrollment.status = "completed"
        enrollment.ended_on = now
        enrollment.next_step_on = None
        enrollment.updated_at = now
        activity.record_for_enrollment(
            "nurture_completed", enrollment, occurred_at=now, data={"step": step.step_order}
        )
        db.session.commit()
        return "sent"


WORKER_MODELS = ("fork", "simple")


def run_naive(
    app, steps: int, workers: int, *, log_dir: Path, worker_model: str = "fork", lead_time: float = 3.0
) -> dict:
    """Time ``steps`` naive jobs with ``workers`` RQ workers of ``worker_model`` (``WORKER_MODELS``), from
    the moment the jobs fall due."""
    from bench.bench_engine import BenchFailed, wait_for_workers, wait_until_delivered, worker_env
    from bench.due_steps import drop_tenant, seed_due_steps
    from bench.processes import MemorySampler, SinkProcess, start_processes, stop_process

    queue_name = f"bench-naive-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        due = seed_due_steps(steps, label="naive")
        enrollment_ids = [str(i) for i in db.session.scalars(
            sa.select(Enrollment.id).where(Enrollment.tenant_id == due.tenant_id))]  # fmt: skip
        db.session.commit()
        sink = SinkProcess()
        processes = start_processes(
            [sys.executable, "-m", "bench.naive", "worker", queue_name, worker_model],
            workers,
            worker_env(app, queue_name, sink.port, batch=1),
            log_dir / f"{queue_name}.log",
        )
        queue = get_queue(queue_name)
        try:
            wait_for_workers(queue, workers, processes)
            # Every job is scheduled for the same instant a little ahead, so scheduling is not timed.
            due_at = datetime.now(UTC) + timedelta(seconds=lead_time + steps / 20_000)
            with get_redis().pipeline() as pipeline:
                for enrollment_id in enrollment_ids:
                    queue.enqueue_at(due_at, naive_step_job, enrollment_id, result_ttl=0, pipeline=pipeline)
                pipeline.execute()
            wait = (due_at - datetime.now(UTC)).total_seconds()
            if wait < 0:
                raise BenchFailed("scheduling the naive jobs took longer than their lead time")
            time.sleep(wait)
            with MemorySampler([p.pid for p in processes]) as memory:
                seconds = wait_until_delivered(sink, due.tenant_id, steps, processes, poll=0.1,
                                               timeout=max(900, steps / 5))  # fmt: skip
            accepted = sink.accepted()
        finally:
            for process in processes:
                stop_process(process)
            sink.stop()
            queue.empty()
            drop_tenant(due.tenant_id)
        if accepted != steps:
            raise BenchFailed(f"the naive baseline sent {accepted} messages for {steps} steps")
    return {
        "workers": workers,
        "worker_model": worker_model,
        "steps": steps,
        "seconds": round(seconds, 2),
        "steps_per_s": round(steps / seconds, 1),
        "peak_rss_mib": memory.peaks_mib(),
    }


def run_worker(queue_name: str, worker_model: str = "fork") -> None:
    """An RQ worker that also runs RQ's scheduler, on ``queue_name``: forking (RQ's default ``Worker``) or
    ``SimpleWorker`` (every job in this process)."""
    from rq import SimpleWorker, Worker

    from nurture_ui.jobs import worker_app

    app = worker_app()
    with app.app_context():
        connection = get_redis()
    worker_class = SimpleWorker if worker_model == "simple" else Worker
    worker_class([queue_name], connection=connection).work(with_scheduler=True, logging_level="WARNING")


if __name__ == "__main__":
    if (
        len(sys.argv) not in (3, 4)
        or sys.argv[1] != "worker"
        or sys.argv[3:] not in ([], ["fork"], ["simple"])
    ):
        raise SystemExit("usage: python -m bench.naive worker QUEUE [fork|simple]")
    run_worker(sys.argv[2], *sys.argv[3:])
