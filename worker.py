"""The RQ worker entry point.

    python worker.py            an RQ worker on the nurture queue (run as many as needed, on any hosts)
    python worker.py --burst    the same, exiting when the queue is empty
    python worker.py --simple   execute jobs in the worker process instead of a forked work horse
    python worker.py cron       the scheduler (run ONE): the dispatcher tick every ENGINE_TICK_SECONDS
                                (one at a time, even if two schedulers run),
                                auto-enrollment every AUTO_ENROLL_SECONDS, out-of-office resumes every minute

The worker reads DATABASE_URL, REDIS_URL and the SMTP settings from the environment like the web app.
The app is created once here; each forked work horse inherits it (see ``nurture_ui.jobs``).
"""

from __future__ import annotations

import logging
import sys
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker
from rq.cron import CronScheduler

from nurture_ui.extensions import get_redis
from nurture_ui.jobs import auto_enroll_job, dispatch_due_job, resume_pauses_job, worker_app

log = logging.getLogger("nurture.worker")


def run_worker(*, burst: bool, simple: bool) -> bool:
    """An RQ worker, kept running through Redis outages: RQ retries a lost connection while it waits for a
    job but stops when the connection drops while a job runs; then a new worker starts once Redis answers
    (the job's rows are recovered by the engine's leases and outbox sweeps, not by RQ)."""
    app = worker_app()
    with app.app_context():
        connection = get_redis()
        queue_name = app.config["RQ_QUEUE"]
    worker_class = SimpleWorker if simple else Worker
    wait = 1.0
    while True:
        try:
            worker = worker_class([queue_name], connection=connection)
            return worker.work(burst=burst, logging_level="WARNING" if burst else "INFO")
        except (RedisConnectionError, RedisTimeoutError) as error:
            if burst:
                raise
            log.warning("Redis is unreachable (%s); the worker starts again in %.0f s", error, wait)
            time.sleep(wait)
            wait = min(wait * 2, 30.0)


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
    scheduler = CronScheduler(connection=connection, logging_level=logging.INFO)
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
    return scheduler


def main(argv: list[str]) -> int:
    if "cron" in argv:
        run_cron()
        return 0
    run_worker(burst="--burst" in argv, simple="--simple" in argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
