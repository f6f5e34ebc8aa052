"""What activating a sequence will do, said before it is done: who joins at once, how many a day after that,
and when the first of them hear from it, in their own time zones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from nurture_ui import eligibility
from nurture_ui.engine.schedule import send_window_for, step_due_after
from nurture_ui.extensions import db
from nurture_ui.models import Lead, Sequence, SequenceStep, Tenant

SAMPLE_SIZE = 10
FLOW_DAYS = 30
# The checks that are about the lead itself: a lead that newly passes them (and the entry rule) would join.
_LEAD_CHECKS = ("do_not_contact", "unsubscribed", "undeliverable", "status", "score_band", "reply_window")


@dataclass(frozen=True)
class SampleLead:
    lead: Lead
    first_step_at: datetime  # in the lead's own time zone
    zone_name: str
    channel: str


@dataclass
class ActivationPreview:
    sequence: Sequence
    breakdown: eligibility.Breakdown
    fresh_fits: int  # leads created or changed in the last FLOW_DAYS days that fit now
    sample: list[SampleLead] = field(default_factory=list)
    first_step: SequenceStep | None = None
    daily_cap: int | None = None

    @property
    def per_day(self) -> float:
        """Leads expected to join each day from now on (never more than the daily cap)."""
        rate = self.fresh_fits / FLOW_DAYS
        return min(rate, self.daily_cap) if self.daily_cap is not None else rate


def _first_step(sequence: Sequence) -> SequenceStep | None:
    return db.session.scalar(
        sa.select(SequenceStep)
        .where(SequenceStep.sequence_id == sequence.id)
        .order_by(SequenceStep.step_order)
        .limit(1)
    )


def fresh_fits(sequence: Sequence, tenant: Tenant, *, now: datetime) -> int:
    """How many of the tenant's leads created or changed in the last ``FLOW_DAYS`` days match the entry
    rule and pass the checks about the lead itself today: the flow of newly fitting leads, which, divided by
    the days, estimates how many join per day once the current ones are in."""
    since = now - timedelta(days=FLOW_DAYS)
    blocks = dict(eligibility.lead_blocks(sequence, tenant, now))
    return (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                eligibility.entry_filter(sequence, tenant, now),
                sa.or_(Lead.created_at >= since, Lead.updated_at >= since),
                *(sa.not_(blocks[key]) for key in _LEAD_CHECKS),
            )
        )
        or 0
    )


def activation_preview(sequence: Sequence, *, now: datetime) -> ActivationPreview:
    """The preview the Activate confirmation shows; reads only (a few counting queries and ten leads)."""
    tenant = db.session.get(Tenant, sequence.tenant_id)
    breakdown = eligibility.eligibility_breakdown(sequence, now=now)
    step = _first_step(sequence)
    sample: list[SampleLead] = []
    if step is not None:
        leads = db.session.scalars(
            eligibility.joining_leads(sequence, tenant, now=now).limit(min(SAMPLE_SIZE, breakdown.can_join))
        ).all()
        schedule = send_window_for(tenant, sequence)
        for lead in leads:
            # Auto-enrollment makes step 1 due after its delay; the engine moves an email into the window.
            due = step_due_after(now, step, lead_timezone=lead.timezone, schedule=schedule)
            zone = schedule.zone(lead.timezone)
            sample.append(SampleLead(lead, due.astimezone(zone), zone.key, step.channel))
    return ActivationPreview(
        sequence=sequence,
        breakdown=breakdown,
        fresh_fits=fresh_fits(sequence, tenant, now=now),
        sample=sample,
        first_step=step,
        daily_cap=sequence.daily_enrollment_cap,
    )
