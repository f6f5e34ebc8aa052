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
from nurture_ui.eligibility import ENTRY_RULE, REASON_LABELS, chosen_reason
from nurture_ui.enrollment import enroll_picked, first_step
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.job_tenancy import tenant_job_id
from nurture_ui.jobs import job_app_context
from nurture_ui.leads import LeadFilters, lead_query
from nurture_ui.models import Lead, Sequence, Tenant

CHUNK = 200
MAX_SELECTED = 10_000
NOT_FOUND = "not found"
# The breakdown's words for each reason, and the entry rule's (the breakdown counts only leads it matches).
_LABELS = {**REASON_LABELS, ENTRY_RULE.key: ENTRY_RULE.label}


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
    """The RQ job: per chunk of leads, one query asks the set-based eligibility (``chosen_reason``) why
    each lead may not join, one INSERT enrolls the others; progress goes to ``job.meta`` after every
    chunk. Skipped leads are listed with the words the builder's breakdown uses."""
    with job_app_context():
        job = get_current_job()
        tenant_uuid = uuid.UUID(tenant_id)
        tenant = db.session.get(Tenant, tenant_uuid)
        sequence = db.session.scalar(
            sa.select(Sequence).where(
                Sequence.id == uuid.UUID(sequence_id), Sequence.tenant_id == tenant_uuid
            )
        )
        if filters is not None:
            ids_stmt = lead_query(tenant_uuid, LeadFilters(**filters)).with_only_columns(Lead.id)
            ids = list(db.session.scalars(ids_stmt))
        else:
            ids = [uuid.UUID(i) for i in lead_ids or []]
        # Said once for every lead: the sequence itself keeps them all out.
        refusal = _sequence_refusal(sequence)
        enrolled, skipped = 0, Counter()
        # Who was skipped and why, one row a lead: [lead id, email, name, reason] (the summary and its CSV).
        skipped_leads: list[list[str]] = []

        def skip(row: list[str]) -> None:
            skipped[row[3]] += 1
            skipped_leads.append(row)

        _progress(job, total=len(ids), done=0, enrolled=0, skipped={}, skipped_leads=[])
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            now = clock.now()
            reason = sa.null() if refusal else chosen_reason(sequence, tenant, now=now)
            judged = db.session.execute(
                sa.select(Lead, reason).where(Lead.id.in_(chunk), Lead.tenant_id == tenant_uuid)
            ).all()
            found = {lead.id for lead, _ in judged}
            for missing in (i for i in chunk if i not in found):
                skip([str(missing), "", "", NOT_FOUND])
            if refusal:
                for lead, _ in judged:
                    skip(_skipped_row(lead, refusal))
            else:
                joining = [lead for lead, key in judged if key is None]
                taken = enroll_picked(
                    [lead.id for lead in joining], sequence, actor_id=uuid.UUID(actor_id), now=now
                )
                enrolled += len(taken)
                for lead, key in judged:
                    if key is not None:
                        skip(_skipped_row(lead, _LABELS[key]))
                    elif lead.id not in taken:  # another enrollment took it since the question was asked
                        skip(_skipped_row(lead, REASON_LABELS["in_sequence"]))
                # One commit per chunk: a later failure never undoes the enrollments already reported. After
                # the rows are read: a commit expires the leads, and reading one would load it again.
                db.session.commit()
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


def _sequence_refusal(sequence: Sequence | None) -> str | None:
    """Why nobody can join the sequence, or None."""
    if sequence is None:
        return "the sequence no longer exists"
    if sequence.status != "active":
        return f"the sequence is not active ({sequence.status})"
    if first_step(sequence) is None:
        return "the sequence has no steps"
    return None


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
