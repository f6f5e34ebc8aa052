"""The RQ worker entry point.

    python worker.py            an RQ worker on the nurture queue (run as many as needed, on any hosts)
    python worker.py --burst    the same, exiting when the queue is empty
    python worker.py --fork     RQ's forking worker: every job in a new work horse (slower: each job starts
                                cold, with a new database connection and nothing compiled)
    python worker.py cron       the scheduler (run ONE): the dispatcher tick every ENGINE_TICK_SECONDS
                                (one at a time, even if two schedulers run),
                                auto-enrollment every AUTO_ENROLL_SECONDS, out-of-office resumes every minute,
                                connected mailboxes read over IMAP every MAILBOX_POLL_SECONDS
    python worker.py inbound    the inbound listener (off unless started): SMTP on INBOUND_SMTP_HOST:
                                INBOUND_SMTP_PORT (LMTP instead with INBOUND_LMTP=1) for mail an MTA forwards;
                                each message is recorded before the 250, refused with 550 when not ours

The worker reads DATABASE_URL, REDIS_URL and the SMTP settings from the environment like the web app.

By default jobs run in one long-lived child process, one after another: its database connection, compiled
statements and templates serve job after job. The parent only watches it: after ``WORKER_MAX_JOBS`` jobs
the child finishes its job and exits, and the parent starts a fresh one (so memory a job leaves behind is
given back); a child that dies (killed, out of memory) is replaced the same way, and the engine's leases
and outbox sweeps recover its job's rows. SIGTERM or SIGINT to the parent stops the child after its job.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker
from rq.cron import CronScheduler

from nurture_ui.extensions import get_redis
from nurture_ui.jobs import (
    auto_enroll_job,
    dispatch_due_job,
    poll_mailboxes_job,
    resume_pauses_job,
    worker_app,
)

log = logging.getLogger("nurture.worker")


def log_level() -> int:
    """RQ's and the scheduler's level: ``WORKER_LOG_LEVEL`` (INFO unless set: a line per job and per
    scheduled run). `make run` sets WARNING unless asked to be verbose; what the jobs did (``nurture.events``)
    and every warning are shown either way."""
    name = os.environ.get("WORKER_LOG_LEVEL", "INFO").upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def configure_logging() -> None:
    # One handler on the root: RQ then adds none of its own (it looks for an effective handler), so every
    # line has the same shape; the events logger speaks at INFO whatever the level of RQ's lines.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("nurture.events").setLevel(logging.INFO)
    logging.getLogger("rq").setLevel(log_level())  # the scheduler's logger keeps what it inherits


def run_worker(*, burst: bool, fork: bool, max_jobs: int | None = None) -> bool:
    """An RQ worker, kept running through Redis outages: RQ retries a lost connection while it waits for a
    job but stops when the connection drops while a job runs; then a new worker starts once Redis answers
    (the job's rows are recovered by the engine's leases and outbox sweeps, not by RQ)."""
    app = worker_app()
    with app.app_context():
        connection = get_redis()
        queue_name = app.config["RQ_QUEUE"]
    worker_class = Worker if fork else SimpleWorker
    wait = 1.0
    while True:
        try:
            worker = worker_class([queue_name], connection=connection)
            level = "WARNING" if burst else logging.getLevelName(log_level())
            return worker.work(burst=burst, logging_level=level, max_jobs=max_jobs)
        except (RedisConnectionError, RedisTimeoutError) as error:
            if burst:
                raise
            log.warning("Redis is unreachable (%s); the worker starts again in %.0f s", error, wait)
            time.sleep(wait)
            wait = min(wait * 2, 30.0)


def run_recycled(max_jobs: int) -> None:
    """Jobs in a long-lived child process, replaced after ``max_jobs`` jobs or when it dies (see above)."""
    stopping = False
    child = 0

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        if child:
            os.kill(child, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wait = 1.0
    while not stopping:
        started = time.monotonic()
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = 1
            try:
                run_worker(burst=False, fork=False, max_jobs=max_jobs)
                code = 0
            except BaseException:
                log.exception("the worker process stopped")
            finally:
                logging.shutdown()
                os._exit(code)
        _, status = os.waitpid(child, 0)
        child = 0
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            break
        if code != 0:
            # A child that keeps dying at once (a bad setting, the database down) is not restarted in a loop.
            wait = 1.0 if time.monotonic() - started > 60 else min(wait * 2, 30.0)
            log.warning("the worker process exited with %s; a new one starts in %.0f s", code, wait)
            time.sleep(wait)


def run_cron() -> None:
    """The scheduler, kept running through Redis outages: RQ's cron loop stops on a lost connection, so it
    is started again (with its jobs registered afresh) once Redis answers."""
    wait = 1.0
    while True:
        try:
            _cron_scheduler().start()
            return
        except (RedisConnectionError, RedisTimeoutError) as error:
            log.warning("Redis is unreachable (%s); the scheduler starts again in %.0f s", error, wait)
            time.sleep(wait)
            wait = min(wait * 2, 30.0)


def _cron_scheduler() -> CronScheduler:
    app = worker_app()
    with app.app_context():
        connection = get_redis()
        queue_name = app.config["RQ_QUEUE"]
        interval = max(1, int(app.config.get("ENGINE_TICK_SECONDS", 5)))
        tick_lock = max(2, int(app.config.get("ENGINE_TICK_LOCK_SECONDS", 60)))
        enroll_interval = max(5, int(app.config.get("AUTO_ENROLL_SECONDS", 60)))
        poll_interval = max(1, int(app.config.get("MAILBOX_POLL_SECONDS", 60)))
    scheduler = CronScheduler(connection=connection, logging_level=log_level())
    # A tick that waited longer than a few intervals is stale: the next one does the same work. Ticks run
    # one at a time (a Redis lock, see dispatch_due_job); RQ stops a tick before its lock expires.
    scheduler.register(
        dispatch_due_job,
        queue_name,
        interval=interval,
        ttl=max(30, 3 * interval),
        job_timeout=tick_lock - max(1, tick_lock // 10),
        result_ttl=60,
    )
    # Enrollment and out-of-office resumes run every minute; each is safe to run twice at once.
    scheduler.register(
        auto_enroll_job, queue_name, interval=enroll_interval, ttl=enroll_interval, result_ttl=300
    )
    scheduler.register(resume_pauses_job, queue_name, interval=60, ttl=60, result_ttl=300)
    # Mailboxes: the job only enqueues one poll per mailbox; a mailbox is read by one worker at a time.
    scheduler.register(
        poll_mailboxes_job, queue_name, interval=poll_interval, ttl=max(30, poll_interval), result_ttl=60
    )
    return scheduler


def yield_to_the_web() -> None:
    """Run the job workers at a lower CPU priority (``WORKER_NICE``, 10 unless set; 0 leaves it): where the
    web app and the workers share cores, a person's page comes before the next batch of steps, and the
    engine still has every cycle the pages leave idle. It is not enough on its own: with the engine sending at
    full speed on two cores (``python -m bench.bench_load``), the pages' p50 is still three to four times
    their p50 with the engine stopped, as the PostgreSQL backends serving the engine (about a third of its
    CPU) keep their priority."""
    text = os.environ.get("WORKER_NICE", "10").strip()
    try:
        value = int(text)
    except ValueError:
        raise SystemExit(f"WORKER_NICE={text!r}: write a whole number from 0 to 19") from None
    if not 0 <= value <= 19:
        raise SystemExit(f"WORKER_NICE={text!r}: write a whole number from 0 to 19")
    if value:
        os.nice(value)


def main(argv: list[str]) -> int:
    configure_logging()
    if "cron" in argv:
        run_cron()
        return 0
    if "inbound" in argv:
        from nurture_ui.mail.inbound_listener import run_inbound_listener

        run_inbound_listener()
        return 0
    yield_to_the_web()
    if "--burst" in argv or "--fork" in argv:
        run_worker(burst="--burst" in argv, fork="--fork" in argv)
    else:
        run_recycled(max_jobs=max(1, int(os.environ.get("WORKER_MAX_JOBS", "500"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
