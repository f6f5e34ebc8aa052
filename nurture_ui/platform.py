"""The platform's view of the engine: every tenant's jobs, for the people who run Nurture itself.

A tenant's admin sees and retries only their tenant's jobs (nurture_ui.overview). The platform admin is a
separate role that needs no migration: an ``admin`` whose email is listed in ``PLATFORM_ADMIN_EMAILS``. It
is read from the configuration at each request, so granting or withdrawing it is a deploy setting, not a
row a tenant admin could change through the team page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from redis.exceptions import RedisError

from nurture_ui.extensions import db
from nurture_ui.job_tenancy import QueueFigures, figures_by_tenant, retry_all_failed_jobs
from nurture_ui.models import OutboundMessage, Tenant, User
from nurture_ui.overview import PROBLEM_STATUSES, EngineHealth, health_from_counts


def platform_admin_emails() -> frozenset[str]:
    """The configured platform admins' addresses, lower-cased (a comma-separated string or a list)."""
    value = current_app.config.get("PLATFORM_ADMIN_EMAILS") or ""
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip().lower() for item in items if item.strip())


def is_platform_admin(user: User) -> bool:
    """Whether ``user`` may see and retry every tenant's engine jobs: an active admin listed in
    ``PLATFORM_ADMIN_EMAILS``."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and user.role == "admin"
        and user.email.lower() in platform_admin_emails()
    )


@dataclass
class TenantEngineRow:
    """One tenant's share of the engine (``tenant`` None: the scheduler's own jobs and legacy jobs)."""

    tenant: Tenant | None
    jobs: QueueFigures
    unknown_messages: int = 0
    failed_messages: int = 0


@dataclass
class PlatformEngine:
    health: EngineHealth
    rows: list[TenantEngineRow]


def platform_engine() -> PlatformEngine:
    """The whole queue's figures, and each tenant's (those with jobs or emails in trouble), busiest first."""
    try:
        by_tenant = figures_by_tenant()
    except (RedisError, OSError):
        return PlatformEngine(EngineHealth(reachable=False), [])
    totals = QueueFigures(
        queued=sum(f.queued for f in by_tenant.values()),
        running=sum(f.running for f in by_tenant.values()),
        failed=sum(f.failed for f in by_tenant.values()),
    )
    try:
        health = health_from_counts(totals.queued, totals.running, totals.failed)
    except (RedisError, OSError):
        health = EngineHealth(reachable=False)
    problems: dict[uuid.UUID, dict[str, int]] = {}
    m = OutboundMessage
    for tenant_id, status, count in db.session.execute(
        sa.select(m.tenant_id, m.status, sa.func.count())
        .where(m.status.in_(PROBLEM_STATUSES))
        .group_by(m.tenant_id, m.status)
    ).all():
        problems.setdefault(uuid.UUID(str(tenant_id)), {})[status] = int(count)
    tenant_ids = {t for t in by_tenant if t is not None} | set(problems)
    tenants = (
        {t.id: t for t in db.session.scalars(sa.select(Tenant).where(Tenant.id.in_(tenant_ids)))}
        if tenant_ids
        else {}
    )
    rows = [
        TenantEngineRow(
            tenants.get(tenant_id) if tenant_id else None,
            by_tenant.get(tenant_id, QueueFigures()),
            problems.get(tenant_id, {}).get("unknown", 0),
            problems.get(tenant_id, {}).get("failed", 0),
        )
        for tenant_id in tenant_ids | ({None} if None in by_tenant else set())
    ]
    rows.sort(key=lambda r: (-r.jobs.failed, -r.jobs.queued, r.tenant.name if r.tenant else ""))
    return PlatformEngine(health, rows)


def retry_every_failed_job() -> int:
    """Every failed job back on the queue, whatever its tenant (see nurture_ui.job_tenancy)."""
    return retry_all_failed_jobs()
