"""A dry run of a sequence: the emails it would send over the next days if the leads who can join now
joined, computed from the engine's own schedule rules without writing anything.

Why a computation and not the engine in a rolled-back transaction: the engine drafts through the tenant's
writing service and talks to Redis, which a rollback cannot undo, and replaying three weeks hour by hour
for thousands of leads is slow. The schedule is deterministic, so this walks it with the engine's
functions (``send_window_for``, ``delay_ends_at``, ``step_due_at``, ``send_hold``: the sequence's own window or the
tenant's, holidays and business-day delays included) and the same step conditions. It assumes nobody replies or exits.

The activity conditions follow from that: "only if the previous email was not replied to" always passes
(nobody replies). "Only if the lead has no open task" fails for a lead with a task open now, which the run
assumes stays open; a task one of this sequence's own steps makes never counts, because the engine waits for
it to be done before the next step runs.

An A/B step's emails are split by variant: each lead gets the winner once one is declared, else a draw with the
step's weights (``variants.variant_for``) — made on the lead's id, since the enrollment whose id the real draw
hashes does not exist yet, so a lead's letter here shows the split rather than promising that lead's variant.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from nurture_ui import eligibility, rules, variants
from nurture_ui.engine.executor import CAPPED_MESSAGE_STATUSES
from nurture_ui.engine.schedule import delay_ends_at, next_send_opening, send_window_for, step_due_at
from nurture_ui.engine.stops import send_hold
from nurture_ui.extensions import db
from nurture_ui.models import (
    Enrollment,
    Lead,
    LeadReply,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Task,
    Tenant,
)
from nurture_ui.models.base import aware_utc
from nurture_ui.time_zones import first_zone

DAYS = 21
MAX_LEADS = 2_000
SAMPLE_LEADS = 10  # the leads whose A/B variants the dry run lists


@dataclass
class Simulation:
    days: list[tuple[date, int]]  # emails per day (the tenant's days), DAYS of them from today
    leads: int  # how many leads the run covered
    capped_at: int | None  # MAX_LEADS when more could join and the run took only the first ones
    held_by_cap: int = 0  # emails the frequency cap moved later
    held_by_window: int = 0  # emails the send window moved later
    held_by_holiday: int = 0  # of those, emails a holiday moved later still (the window alone would not)
    skipped_by_condition: int = 0  # steps whose condition the lead fails: they do not run
    skipped_by_open_task: int = 0  # steps that run only without an open task, for leads with one open now
    assumed_no_reply: int = 0  # steps that run only if the previous email got no reply: all run here
    # Whether any step has each activity condition (the page explains what the run assumed about it).
    has_reply_condition: bool = False
    has_open_task_condition: bool = False
    tasks: int = 0
    other_sequences: list[tuple[str, int]] = field(default_factory=list)  # (name, leads) live or left
    # A/B steps: step order → emails per variant letter; and the first leads' letters, step by step.
    variant_split: dict[int, Counter] = field(default_factory=dict)
    variant_sample: list[tuple[str, dict[int, str]]] = field(default_factory=list)

    @property
    def emails(self) -> int:
        return sum(n for _, n in self.days)


def _joins(sequence: Sequence, tenant: Tenant, leads: list[Lead], now: datetime) -> list[datetime]:
    """When each lead joins: today up to what the daily cap leaves, then the cap's worth each next day."""
    cap = sequence.daily_enrollment_cap
    if cap is None:
        return [now] * len(leads)
    left_today = eligibility.remaining_today(sequence, tenant, now) or 0
    zone = first_zone(tenant.policy_value("timezone"))
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    joins = []
    for index in range(len(leads)):
        if index < left_today:
            joins.append(now)
        else:
            day = 1 + (index - left_today) // cap
            joins.append((midnight + timedelta(days=day)).astimezone(now.tzinfo))
    return joins


def simulate(sequence: Sequence, *, now: datetime) -> Simulation:
    """Run ``sequence``'s schedule for the first ``MAX_LEADS`` leads that can join now (as auto-enrollment
    orders them, at the pace of its daily cap) and count the emails per day for ``DAYS`` days. Reads only."""
    tenant = db.session.get(Tenant, sequence.tenant_id)
    steps = list(
        db.session.scalars(
            sa.select(SequenceStep)
            .where(SequenceStep.sequence_id == sequence.id)
            .order_by(SequenceStep.step_order)
        )
    )
    eligible = eligibility.eligible_filter(sequence, tenant, now=now, with_earlier=True)
    leads = list(
        db.session.scalars(
            sa.select(Lead).where(eligible).order_by(Lead.score.desc(), Lead.id).limit(MAX_LEADS + 1)
        )
    )
    capped = len(leads) > MAX_LEADS
    leads = leads[:MAX_LEADS]
    ids = [lead.id for lead in leads]
    last_sent, replies = _history(ids)

    schedule = send_window_for(tenant, sequence)
    zone = first_zone(tenant.policy_value("timezone"))
    today = now.astimezone(zone).date()
    per_day: Counter[date] = Counter()
    result = Simulation(
        days=[],
        leads=len(leads),
        capped_at=MAX_LEADS if capped else None,
        has_reply_condition=any(s.only_if_not_replied for s in steps),
        has_open_task_condition=any(s.only_if_no_open_task for s in steps),
    )
    with_open_task = _leads_with_open_task(ids) if result.has_open_task_condition else set()
    end = now + timedelta(days=DAYS)
    for lead, joined in zip(leads, _joins(sequence, tenant, leads, now), strict=True):
        at, sent = joined, last_sent.get(lead.id)
        letters: dict[int, str] = {}
        for step in steps:
            earliest = delay_ends_at(at, step, schedule, lead.timezone)
            at = step_due_at(earliest, step.channel, lead_timezone=lead.timezone, schedule=schedule)
            if at >= end:
                break
            if step.channel == "email" and at > earliest:
                result.held_by_window += 1
                if schedule.holidays and at != next_send_opening(
                    earliest, schedule.window, schedule.zone(lead.timezone)
                ):
                    result.held_by_holiday += 1
            if step.conditions and not rules.evaluate(
                step.conditions, lead, now=at, replies=replies.get(lead.id, [])
            ):
                result.skipped_by_condition += 1
                continue
            if step.only_if_no_open_task and lead.id in with_open_task:
                result.skipped_by_open_task += 1
                continue
            if step.only_if_not_replied:
                result.assumed_no_reply += 1
            if step.channel != "email":
                result.tasks += 1
                continue
            hold = send_hold(
                last_sent=sent, tenant=tenant, lead_timezone=lead.timezone, now=at, sequence=sequence
            )
            if hold is not None:
                if hold.reason == "frequency_cap":
                    result.held_by_cap += 1
                at = hold.until
                if at >= end:
                    break
            per_day[at.astimezone(zone).date()] += 1
            sent = at
            drawn = variants.variant_for(step, lead.id)
            if drawn is not None:
                result.variant_split.setdefault(step.step_order, Counter())[drawn[0]] += 1
                letters[step.step_order] = drawn[0]
        if letters and len(result.variant_sample) < SAMPLE_LEADS:
            result.variant_sample.append((lead.name, letters))
    result.days = [(today + timedelta(days=d), per_day[today + timedelta(days=d)]) for d in range(DAYS)]
    result.other_sequences = _other_sequences(sequence, tenant, now)
    return result


def _history(ids: list[uuid.UUID]):
    last_sent: dict[uuid.UUID, datetime] = {}
    replies: dict[uuid.UUID, list[LeadReply]] = {}
    when = sa.func.coalesce(OutboundMessage.sent_at, OutboundMessage.queued_at)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for lead_id, value in db.session.execute(
            sa.select(OutboundMessage.lead_id, sa.func.max(when))
            .where(OutboundMessage.lead_id.in_(chunk), OutboundMessage.status.in_(CAPPED_MESSAGE_STATUSES))
            .group_by(OutboundMessage.lead_id)
        ):
            if value is not None:
                last_sent[lead_id] = aware_utc(value)
        for reply in db.session.scalars(sa.select(LeadReply).where(LeadReply.lead_id.in_(chunk))):
            replies.setdefault(reply.lead_id, []).append(reply)
    return last_sent, replies


def _leads_with_open_task(ids: list[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            db.session.scalars(sa.select(Task.lead_id).where(Task.lead_id.in_(chunk), Task.status == "open"))
        )
    return found


def _other_sequences(sequence: Sequence, tenant: Tenant, now: datetime) -> list[tuple[str, int]]:
    """The other sequences the leads of the entry rule are in or left in the last 30 days, most leads first:
    where the leads held back are, and what else they have heard from lately."""
    recent = now - timedelta(days=30)
    rows = db.session.execute(
        sa.select(Sequence.name, sa.func.count(sa.distinct(Enrollment.lead_id)))
        .join(Enrollment, Enrollment.sequence_id == Sequence.id)
        .join(Lead, Lead.id == Enrollment.lead_id)
        .where(
            eligibility.entry_filter(sequence, tenant, now),
            Sequence.id != sequence.id,
            sa.or_(Enrollment.status.in_(("active", "paused")), Enrollment.ended_on > recent),
        )
        .group_by(Sequence.name)
        .order_by(sa.func.count(sa.distinct(Enrollment.lead_id)).desc(), Sequence.name)
        .limit(10)
    ).all()
    return [(name, count) for name, count in rows]
