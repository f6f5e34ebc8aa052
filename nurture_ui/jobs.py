"""RQ job functions: the worker's door onto the engine.

Each job takes ids (and, when replaying, the instant to run at), opens an app context and calls one core
function. Everything the job needs it loads itself from the database, so running a job twice, or after a
crash, is safe. The app is created once per worker process; a forked work horse inherits it and only drops
the database connections it inherited, which belong to its parent.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime

from flask import Flask, current_app, has_app_context

from nurture_ui import clock

log = logging.getLogger(__name__)
# One line when a job did something a person running the app wants to see (a step executed, an email sent,
# a reply read): `make run` shows these and the warnings, not RQ's line per job (see worker.py).
events = logging.getLogger("nurture.events")


def _say(what: str, counts: dict) -> None:
    done = {k: v for k, v in counts.items() if v}
    if done:
        events.info("%s: %s", what, ", ".join(f"{v} {k}" for k, v in done.items()))


_app: Flask | None = None
_app_pid: int | None = None

SEND_CHUNK = 200


def worker_app() -> Flask:
    """This process's app, created on first use. After a fork the inherited connection pool is discarded."""
    global _app, _app_pid
    if _app is None:
        from nurture_ui import create_app

        _app = create_app()
        _app_pid = os.getpid()
    elif _app_pid != os.getpid():
        from nurture_ui.extensions import db

        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app


def job_app_context():
    """The app context a job runs in: the caller's when there is one (a test's in-process worker,
    `run-due`), else this worker process's app."""
    return nullcontext() if has_app_context() else worker_app().app_context()


@contextmanager
def _job_context(now_iso: str | None) -> Iterator[datetime | None]:
    """The job's app context and its instant (frozen when replaying a given time)."""
    with job_app_context():
        if now_iso is None:
            yield None
            return
        instant = datetime.fromisoformat(now_iso)
        with clock.frozen_at(instant):
            yield instant


def dispatch_lock():
    """The Redis lock that lets one dispatcher tick run at a time (per queue): a token set with NX and an
    expiry of ``ENGINE_TICK_LOCK_SECONDS``, so the lock of a tick that crashed without releasing it frees
    itself. Acquiring it never waits."""
    from nurture_ui.extensions import get_redis

    config = current_app.config
    return get_redis().lock(
        f"nurture:lock:dispatch:{config['RQ_QUEUE']}",
        timeout=int(config.get("ENGINE_TICK_LOCK_SECONDS", 60)),
        blocking=False,
        thread_local=False,
    )


def dispatch_due_job(now_iso: str | None = None) -> dict:
    """The scheduler's tick: claim due enrollments and enqueue their executor jobs. One tick at a time: a
    tick that finds another one running returns at once, reporting ``skipped``."""
    from redis.exceptions import RedisError

    from nurture_ui.engine.dispatcher import dispatch_due
    from nurture_ui.engine.heartbeat import record_dispatch

    with _job_context(now_iso) as now:
        lock = dispatch_lock()
        if not lock.acquire():
            return {"skipped": True, "reason": "another dispatcher tick is running"}
        try:
            report = dispatch_due(now)
            record_dispatch(report.claimed)
            _say(
                "dispatcher",
                {"due enrollments claimed": report.claimed, "emails requeued": report.requeued_messages},
            )
        finally:
            try:
                lock.release()  # only if the token is still ours
            except RedisError:
                # Expired (the tick outlived ENGINE_TICK_LOCK_SECONDS), lost with a restarted Redis, or
                # Redis unreachable (then it expires by itself). The leases kept any overlap correct.
                log.warning("the dispatcher tick could not release its lock", exc_info=True)
        return {
            "skipped": False,
            "claimed": report.claimed,
            "batches": len(report.batches),
            "requeued": report.requeued_messages,
        }


def execute_batch_job(enrollment_ids: Sequence[str], now_iso: str | None = None) -> dict:
    """Execute the due step of each claimed enrollment; the queued emails get a send job."""
    from nurture_ui.engine.executor import execute_batch

    with _job_context(now_iso) as now:
        report = execute_batch([uuid.UUID(i) for i in enrollment_ids], now)
        _say("steps executed", {str(k): v for k, v in report.outcomes.items()})
        return report.outcomes


def send_messages_job(message_ids: Sequence[str], now_iso: str | None = None) -> dict:
    """Send queued emails over one SMTP connection."""
    from nurture_ui.mailer import send_messages

    with _job_context(now_iso) as now:
        report = send_messages([uuid.UUID(i) for i in message_ids], now)
        _say(
            "emails",
            {
                "sent": len(report.sent),
                "held": len(report.held),
                "retrying": len(report.retrying),
                "failed": len(report.failed),
            },
        )
        return {"sent": len(report.sent), "retrying": len(report.retrying), "failed": len(report.failed)}


def auto_enroll_job() -> dict:
    """The scheduler's enrollment run: every eligible lead into its highest-priority active sequence."""
    from nurture_ui.enrollment import auto_enroll

    with job_app_context():
        enrolled = {str(k): v for k, v in auto_enroll().items() if v}
        _say("auto-enrollment", {"leads enrolled": sum(enrolled.values()), "sequences": len(enrolled)})
        return enrolled


def resume_pauses_job() -> dict:
    """The scheduler's resume run: enrollments paused for an out-of-office reply whose date has come."""
    from nurture_ui.signals import resume_due_pauses

    with job_app_context():
        resumed = resume_due_pauses()
        _say("out-of-office pauses", {"resumed": resumed})
        return {"resumed": resumed}


def poll_mailboxes_job() -> dict:
    """The scheduler's poll of connected mailboxes: one ``poll_mailbox_job`` per enabled mailbox, so several
    workers share them (each mailbox is read by one worker at a time: see nurture_ui.mail.imap_poll)."""
    from nurture_ui.mail.imap_poll import due_mailbox_ids

    with job_app_context():
        from nurture_ui.extensions import get_queue
        from nurture_ui.job_tenancy import tenant_job_options

        ids = due_mailbox_ids()
        tenants = _mailbox_tenants(ids)
        queue = get_queue()
        for mailbox_id in ids:
            queue.enqueue(
                poll_mailbox_job,
                str(mailbox_id),
                result_ttl=300,
                failure_ttl=3600,
                **tenant_job_options(tenants[mailbox_id]),
            )
        return {"mailboxes": len(ids)}


def _mailbox_tenants(mailbox_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Each mailbox's tenant, so its poll job shows (and can be retried) on that tenant's overview."""
    import sqlalchemy as sa

    from nurture_ui.extensions import db, one_of
    from nurture_ui.models import Mailbox

    if not mailbox_ids:
        return {}
    rows = db.session.execute(sa.select(Mailbox.id, Mailbox.tenant_id).where(one_of(Mailbox.id, mailbox_ids)))
    return {mailbox_id: uuid.UUID(str(tenant)) for mailbox_id, tenant in rows}


def poll_mailbox_job(mailbox_id: str) -> dict:
    """Read one mailbox's new mail (a no-op when another worker is reading it)."""
    from nurture_ui.mail.imap_poll import poll_mailbox

    with job_app_context():
        report = poll_mailbox(uuid.UUID(mailbox_id))
        _say(f"mailbox {mailbox_id}", {"messages read": report.read})
        if report.error:
            events.warning("mailbox %s: %s", mailbox_id, report.error)
        return {"status": report.status, "read": report.read, "error": report.error}


def _now_iso(now: datetime | None) -> str | None:
    """Jobs enqueued while replaying a given instant carry it; live jobs read the clock when they run."""
    return now.isoformat() if now is not None else None


def enqueue_execute(
    enrollment_ids: Sequence[uuid.UUID], tenant_id: uuid.UUID, now: datetime | None = None
) -> None:
    """One executor job for a batch of ``tenant_id``'s enrollments (the dispatcher groups them by tenant,
    so each job works for one tenant and shows on that tenant's engine figures)."""
    from nurture_ui.extensions import get_queue
    from nurture_ui.job_tenancy import tenant_job_options

    get_queue().enqueue(
        execute_batch_job,
        args=([str(i) for i in enrollment_ids], _now_iso(now)),
        job_timeout=int(current_app.config.get("ENGINE_LEASE_SECONDS", 300)),
        result_ttl=300,
        **tenant_job_options(tenant_id),
    )


def enqueue_send(
    message_ids: Sequence[uuid.UUID], now: datetime | None = None, *, tenant_id: uuid.UUID | None = None
) -> None:
    """Send jobs for queued emails, ``SEND_CHUNK`` per job, each job holding one tenant's emails.

    A caller that knows the emails are all ``tenant_id``'s says so; otherwise their tenants are read in one
    query and each tenant's emails get their own jobs."""
    from nurture_ui.extensions import get_queue
    from nurture_ui.job_tenancy import tenant_job_options

    queue = get_queue()
    by_tenant = {tenant_id: list(message_ids)} if tenant_id is not None else _messages_by_tenant(message_ids)
    for tenant, tenant_message_ids in by_tenant.items():
        ids = [str(i) for i in tenant_message_ids]
        for start in range(0, len(ids), SEND_CHUNK):
            queue.enqueue(
                send_messages_job,
                args=(ids[start : start + SEND_CHUNK], _now_iso(now)),
                result_ttl=300,
                **tenant_job_options(tenant),
            )


def _messages_by_tenant(message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    import sqlalchemy as sa

    from nurture_ui.extensions import db, one_of
    from nurture_ui.models import OutboundMessage

    if not message_ids:
        return {}
    table = OutboundMessage.__table__
    grouped: dict[uuid.UUID, list[uuid.UUID]] = {}
    rows = db.session.execute(
        sa.select(table.c.tenant_id, table.c.id).where(
            one_of(table.c.id, [uuid.UUID(str(i)) for i in message_ids])
        )
    ).all()
    for tenant, message_id in rows:
        grouped.setdefault(uuid.UUID(str(tenant)), []).append(message_id)
    return grouped
