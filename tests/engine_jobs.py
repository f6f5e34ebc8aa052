"""Jobs in the RQ queue for the engine-wall tests: waiting or really failed, of a tenant or of none."""

from __future__ import annotations

from rq import SimpleWorker
from rq.job import Job

from nurture_ui.extensions import get_queue, get_redis
from nurture_ui.job_tenancy import tenant_job_options
from nurture_ui.jobs import execute_batch_job, resume_pauses_job


def queued_jobs(tenant, count: int) -> list[Job]:
    """``count`` executor jobs of ``tenant`` (None: jobs of no tenant, like the scheduler's) left waiting."""
    queue = get_queue()
    if tenant is None:
        return [queue.enqueue(resume_pauses_job) for _ in range(count)]
    return [
        queue.enqueue(execute_batch_job, args=([],), **tenant_job_options(tenant.id)) for _ in range(count)
    ]


def failed_jobs(tenant, count: int) -> list[str]:
    """``count`` jobs of ``tenant`` (None: of no tenant) that a real worker ran and that failed: each names
    an enrollment id that is no uuid, so the job raises before touching anything. Leaves the queue empty."""
    queue = get_queue()
    jobs = [
        queue.enqueue(
            execute_batch_job, args=(["not-a-uuid"],), **(tenant_job_options(tenant.id) if tenant else {})
        )
        for _ in range(count)
    ]
    SimpleWorker([queue], connection=get_redis()).work(burst=True, logging_level="ERROR")
    failed = set(queue.failed_job_registry.get_job_ids())
    assert {j.id for j in jobs} <= failed
    return [j.id for j in jobs]
