"""Row factories for tests: each makes a valid row with sensible defaults and commits it."""

from __future__ import annotations

import itertools
from datetime import timedelta

from nurture_ui import clock
from nurture_ui.extensions import db
from nurture_ui.models import (
    EmailTemplate,
    Enrollment,
    Lead,
    LeadImport,
    LeadReply,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Task,
    Tenant,
    User,
)

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def make_tenant(name: str | None = None, **policy) -> Tenant:
    n = next(_counter)
    tenant = Tenant(name=name or f"Tenant {n}", slug=f"tenant-{n}", policy=policy)
    db.session.add(tenant)
    db.session.commit()
    return tenant


def make_user(tenant: Tenant, role: str = "admin", email: str | None = None, name: str | None = None) -> User:
    n = next(_counter)
    user = User(
        tenant_id=tenant.id,
        email=email or f"{role}{n}@example.test",
        name=name or f"{role.title()} {n}",
        role=role,
    )
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def make_lead(tenant: Tenant, **fields) -> Lead:
    n = next(_counter)
    values = dict(
        tenant_id=tenant.id,
        email=f"lead{n}@example.test",
        first_name="Lee",
        last_name=f"Lead{n}",
        company="Example Co",
        status="new",
        score=50,
        score_band="warm",
        segment="SMB",
    )
    values.update(fields)
    lead = Lead(**values)
    db.session.add(lead)
    db.session.commit()
    return lead


def make_template(tenant: Tenant, key: str = "intro", **fields) -> EmailTemplate:
    values = dict(
        tenant_id=tenant.id,
        key=key,
        name=key.title(),
        subject="Hello {{ lead.first_name }}",
        body="Hi {{ lead.first_name }}, a note for {{ lead.company }}.",
        pre_approved=False,
    )
    values.update(fields)
    template = EmailTemplate(**values)
    db.session.add(template)
    db.session.commit()
    return template


def make_sequence(tenant: Tenant, steps: list[dict] | None = None, **fields) -> Sequence:
    """A sequence with ``steps`` given as dicts of SequenceStep fields (step_order is filled in)."""
    values = dict(tenant_id=tenant.id, name=f"Sequence {next(_counter)}", status="draft")
    values.update(fields)
    sequence = Sequence(**values)
    sequence.steps = [
        SequenceStep(tenant_id=tenant.id, step_order=i, **{"channel": "email", "delay_hours": 0, **step})
        for i, step in enumerate(steps or [], start=1)
    ]
    db.session.add(sequence)
    db.session.commit()
    return sequence


def make_enrollment(lead: Lead, sequence: Sequence, **fields) -> Enrollment:
    now = clock.now()
    values = dict(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        sequence_id=sequence.id,
        current_step_order=1,
        status="active",
        enrolled_on=now,
        next_step_on=now,
    )
    values.update(fields)
    enrollment = Enrollment(**values)
    db.session.add(enrollment)
    db.session.commit()
    return enrollment


def make_reply(lead: Lead, sentiment: str = "neutral", days_ago: float = 0, **fields) -> LeadReply:
    reply = LeadReply(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        received_at=clock.now() - timedelta(days=days_ago),
        sentiment=sentiment,
        **fields,
    )
    db.session.add(reply)
    db.session.commit()
    return reply


def make_lead_import(tenant: Tenant, csv_text: str = "email\nlead@example.test\n", **fields) -> LeadImport:
    values = dict(
        tenant_id=tenant.id, filename="leads.csv", csv_text=csv_text, headers=["email"], total_rows=1
    )
    values.update(fields)
    lead_import = LeadImport(**values)
    db.session.add(lead_import)
    db.session.commit()
    return lead_import


def make_draft(tenant: Tenant, lead: Lead | None = None, **fields) -> OutboundMessage:
    """A ``pending_approval`` draft of step 1 for a new (or the given) lead, its enrollment paused for it."""
    lead = lead or make_lead(tenant)
    sequence = make_sequence(
        tenant, status="active", steps=[{"template_id": "intro", "requires_human_approval": True}]
    )
    enrollment = make_enrollment(lead, sequence, status="paused", pause_reason="approval", next_step_on=None)
    values = dict(
        tenant_id=tenant.id,
        enrollment_id=enrollment.id,
        step_order=1,
        lead_id=lead.id,
        sequence_id=sequence.id,
        to_email=lead.email,
        subject="Hello",
        body="Hi there",
        status="pending_approval",
        review_reason="The step needs a person's approval before it goes.",  # the routine reason
        message_id=f"<draft-{next(_counter)}@example.test>",
        created_at=clock.now(),
    )
    values.update(fields)
    message = OutboundMessage(**values)
    db.session.add(message)
    db.session.commit()
    return message


def make_task(tenant: Tenant, lead: Lead | None = None, **fields) -> Task:
    """An open call reminder of step 1 for a new (or the given) lead, its enrollment paused for it."""
    lead = lead or make_lead(tenant)
    sequence = make_sequence(tenant, status="active", steps=[{"channel": "call_reminder"}])
    enrollment = make_enrollment(lead, sequence, status="paused", pause_reason="task", next_step_on=None)
    values = dict(
        tenant_id=tenant.id,
        lead_id=lead.id,
        enrollment_id=enrollment.id,
        step_order=1,
        kind="call_reminder",
        title=f"Call {lead.name}",
        assignee_id=lead.owner_id,
        due_at=clock.now(),
        status="open",
    )
    values.update(fields)
    task = Task(**values)
    db.session.add(task)
    db.session.commit()
    return task
