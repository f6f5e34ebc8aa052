"""Bulk enrollment: enroll many chosen leads as a background job that reports its progress."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from dataclasses import asdict

import sqlalchemy as sa
from rq import get_current_job
from rq.job import Job

from nurture_ui import clock
from nurture_ui.enrollment import EnrollmentRefused, LeadFacts, enroll
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.job_tenancy import tenant_job_id
from nurture_ui.jobs import job_app_context
from nurture_ui.leads import LeadFilters, lead_query
from nurture_ui.models import Lead, Sequence

CHUNK = 200
MAX_SELECTED = 10_000


def start_bulk_enrollment(
    *,
    tenant_id: uuid.UUID,
    sequence_id: uuid.UUID,
    actor_id: uuid.UUID,
    lead_ids: list[uuid.UUID] | None = None,
    filters: LeadFilters | None = None,
) -> str:
    """Queue a bulk enrollment of the chosen leads (or of all leads matching ``filters``); returns the job id."""
    if lead_ids is not None and len(lead_ids) > MAX_SELECTED:
        raise ValueError(f"Select at most {MAX_SELECTED} leads, or enroll all matching a filter.")
    job = get_queue().enqueue(
        run_bulk_enrollment,
        kwargs=dict(
            tenant_id=str(tenant_id),
            sequence_id=str(sequence_id),
            actor_id=str(actor_id),
            lead_ids=[str(i) for i in lead_ids] if lead_ids is not None else None,
            filters=asdict(filters) if filters is not None else None,
        ),
        job_id=tenant_job_id(tenant_id),
        meta={"tenant_id": str(tenant_id), "kind": "bulk_enrollment", "total": None, "done": 0},
        result_ttl=24 * 3600,
        job_timeout=3600,
    )
    return job.id


def run_bulk_enrollment(
    *, tenant_id: str, sequence_id: str, actor_id: str, lead_ids=None, filters=None
) -> dict:
    """The RQ job: judge and enroll each lead; progress goes to ``job.meta`` after every chunk."""
    with job_app_context():
        job = get_current_job()
        tenant = uuid.UUID(tenant_id)
        sequence = db.session.scalar(
            sa.select(Sequence).where(Sequence.id == uuid.UUID(sequence_id), Sequence.tenant_id == tenant)
        )
        if filters is not None:
            ids_stmt = lead_query(tenant, LeadFilters(**filters)).with_only_columns(Lead.id)
            ids = list(db.session.scalars(ids_stmt))
        else:
            ids = [uuid.UUID(i) for i in lead_ids or []]
        enrolled, skipped = 0, Counter()
        # Who was skipped and why, one row a lead: [lead id, email, name, reason] (the summary and its CSV).
        skipped_leads: list[list[str]] = []
        _progress(job, total=len(ids), done=0, enrolled=0, skipped={}, skipped_leads=[])
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            leads = db.session.scalars(
                sa.select(Lead).where(Lead.id.in_(chunk), Lead.tenant_id == tenant)
            ).all()
            if len(leads) < len(chunk):
                skipped["Not found"] += len(chunk) - len(leads)
                found = {lead.id for lead in leads}
                skipped_leads += [[str(i), "", "", "Not found"] for i in chunk if i not in found]
            if sequence is None:
                skipped["The sequence no longer exists"] += len(leads)
                skipped_leads += [_skipped_row(lead, "The sequence no longer exists") for lead in leads]
                leads = []
            facts = LeadFacts.load([lead.id for lead in leads], sequence) if leads else None
            now = clock.now()
            for lead in leads:
                try:
                    # One commit per lead: a refusal or a lost race never undoes the others.
                    enroll(lead, sequence, actor_id=uuid.UUID(actor_id), now=now, facts=facts)
                    enrolled += 1
                except EnrollmentRefused as refused:
                    # The first failing check is the reason a person needs; the panel shows them all.
                    reason = refused.verdict.failures[0].reason if refused.verdict.failures else str(refused)
                    skipped[reason] += 1
                    skipped_leads.append(_skipped_row(lead, reason))
            _progress(
                job,
                total=len(ids),
                done=min(start + CHUNK, len(ids)),
                enrolled=enrolled,
                skipped=dict(skipped),
                skipped_leads=skipped_leads,
            )
        result = {
            "total": len(ids),
            "done": len(ids),
            "enrolled": enrolled,
            "skipped": dict(skipped),
            "skipped_leads": skipped_leads,
        }
        _progress(job, **result)
        return result


def _skipped_row(lead: Lead, reason: str) -> list[str]:
    return [str(lead.id), lead.email, lead.name, reason]


def skipped_csv(status: dict) -> str:
    """The leads a bulk enrollment skipped, as CSV: lead id, email, name, reason (``bulk_job_status``)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["lead_id", "email", "name", "reason"])
    # A spreadsheet would run a cell starting with = + - @ as a formula: such names are written as text.
    writer.writerows([[_cell(value) for value in row] for row in status.get("skipped_leads", [])])
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _progress(job, **values) -> None:
    if job is None:
        return
    job.meta.update(values)
    job.save_meta()


def bulk_job_status(job_id: str, tenant_id: uuid.UUID) -> dict | None:
    """The job's progress for this tenant's eyes, or None when there is no such job for it."""
    try:
        job = Job.fetch(job_id, connection=get_redis())
    except Exception:  # unknown, expired or malformed id: all look the same from outside
        return None
    if job.meta.get("tenant_id") != str(tenant_id) or job.meta.get("kind") != "bulk_enrollment":
        return None
    status = job.get_status(refresh=True)
    meta = job.meta
    total = meta.get("total")
    return {
        "id": job.id,
        "status": str(status.value if hasattr(status, "value") else status),
        "total": total,
        "done": meta.get("done", 0),
        "enrolled": meta.get("enrolled", 0),
        "skipped": meta.get("skipped", {}),
        "skipped_leads": meta.get("skipped_leads", []),
        "percent": int(100 * meta.get("done", 0) / total) if total else (100 if total == 0 else 0),
        "finished": str(status.value if hasattr(status, "value") else status) in ("finished", "failed"),
        "failed": str(status.value if hasattr(status, "value") else status) == "failed",
    }
