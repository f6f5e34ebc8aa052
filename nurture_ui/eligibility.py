"""Who can join a sequence right now, as a set: the one answer auto-enrollment, bulk enrollment, the builder
and the activation preview all read.

Every check is a SQL condition over ``Lead`` that is true when the lead FAILS it, listed in one fixed order
(``REASONS``). Auto-enrollment enrolls the leads that fail none (``eligible_filter``); the breakdown puts
each lead that matches the entry rule under the first check it fails (``first_reason``), so every lead is
counted once and "can join now" is exactly what the next auto-enrollment run takes. The per-lead Python
judgement (``enrollment.eligibility``, the "why (not)?" panel) states the same checks one by one; a test
holds the two equal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from nurture_ui import rules
from nurture_ui.extensions import db
from nurture_ui.models import LIVE_STATUSES, Enrollment, Lead, Sequence, SequenceStep, Tenant
from nurture_ui.time_zones import first_zone

ENDED_STATUSES = ("exited", "completed")


@dataclass(frozen=True)
class Reason:
    key: str
    label: str  # how the breakdown names the leads held back by it ("4 in cooldown")


# The order auto-enrollment's checks are reported in: a lead failing several counts under the first.
REASONS: tuple[Reason, ...] = (
    Reason("do_not_contact", "marked do-not-contact"),
    Reason("unsubscribed", "unsubscribed"),
    Reason("undeliverable", "undeliverable (bounced)"),
    Reason("in_sequence", "already in a sequence"),
    Reason("status", "status not enrollable"),
    Reason("score_band", "score band not warm"),
    Reason("reply_window", "replied recently"),
    Reason("cooldown", "in cooldown for this sequence"),
    Reason("cross_cooldown", "just left another sequence"),
    Reason("earlier_sequence", "taken first by a higher-priority sequence"),
)
# Not a property of the lead: the sequence's daily cap leaves these for the following days.
DAILY_CAP = Reason("daily_cap", "wait for the daily cap")
# Leads a person picks (bulk enrollment) need not match the entry rule to be picked; they are held back by it.
ENTRY_RULE = Reason("entry_rule", "does not match the entry rule")
NO_STEPS = Reason("no_steps", "wait: the sequence has no steps")
REASON_LABELS = {r.key: r.label for r in (*REASONS, DAILY_CAP, NO_STEPS)}
# Filters the lead list accepts besides the reasons: everyone the entry rule matches, and who joins.
LIST_KEYS = frozenset({"match", "join", *REASON_LABELS})


def cross_cooldown_days(tenant: Tenant) -> int:
    """Days a lead who left any sequence stays out of auto-enrollment; 0 when the tenant turned it off."""
    if not tenant.policy_value("cross_sequence_cooldown"):
        return 0
    return int(tenant.policy_value("cross_sequence_cooldown_days"))


def _ended_since(since: datetime, *, sequence_id: uuid.UUID | None = None) -> sa.Exists:
    conditions = [
        Enrollment.lead_id == Lead.id,
        Enrollment.status.in_(ENDED_STATUSES),
        Enrollment.ended_on > since,
    ]
    if sequence_id is not None:
        conditions.append(Enrollment.sequence_id == sequence_id)
    return sa.exists().where(*conditions)


def lead_blocks(sequence: Sequence, tenant: Tenant, now: datetime) -> list[tuple[str, sa.ColumnElement]]:
    """(reason key, condition true when the lead fails it) for every check that is about the lead."""
    live = sa.exists().where(Enrollment.lead_id == Lead.id, Enrollment.status.in_(LIVE_STATUSES))
    cooldown = now - timedelta(days=int(tenant.policy_value("reenrollment_cooldown_days")))
    cross_days = cross_cooldown_days(tenant)
    window = int(tenant.policy_value("reply_window_days"))

    def fails(rule: dict) -> sa.ColumnElement:
        return sa.not_(rules.compile_filter(rule, now=now))

    return [
        ("do_not_contact", Lead.do_not_contact.is_(True)),
        ("unsubscribed", Lead.unsubscribed_at.is_not(None)),
        ("undeliverable", Lead.undeliverable.is_(True)),
        ("in_sequence", live),
        (
            "status",
            fails({"field": "status", "op": "in", "value": list(tenant.policy_value("enrollable_statuses"))}),
        ),
        (
            "score_band",
            fails({"field": "score_band", "op": "in", "value": list(tenant.policy_value("warm_bands"))}),
        ),
        ("reply_window", fails({rules.REPLY_KEY: window})),
        ("cooldown", _ended_since(cooldown, sequence_id=sequence.id)),
        ("cross_cooldown", _ended_since(now - timedelta(days=cross_days)) if cross_days else sa.false()),
    ]


def _auto_order(sequence: Sequence):
    return (sequence.priority, sequence.created_at, sequence.id)


def earlier_sequences(sequence: Sequence) -> list[Sequence]:
    """The active sequences auto-enrollment runs before ``sequence`` (as if it were active): they take the
    leads they want first. Only those with steps enroll anyone."""
    others = db.session.scalars(
        sa.select(Sequence).where(
            Sequence.tenant_id == sequence.tenant_id,
            Sequence.status == "active",
            Sequence.id != sequence.id,
            sa.exists().where(SequenceStep.sequence_id == Sequence.id),
        )
    ).all()
    return sorted((s for s in others if _auto_order(s) < _auto_order(sequence)), key=_auto_order)


def _blocks(sequence: Sequence, tenant: Tenant, now: datetime, *, with_earlier: bool = True):
    blocks = lead_blocks(sequence, tenant, now)
    if with_earlier:
        earlier = [
            eligible_filter(other, tenant, now=now, entry_rule=None, with_earlier=False)
            for other in earlier_sequences(sequence)
        ]
        blocks.append(("earlier_sequence", sa.or_(*earlier) if earlier else sa.false()))
    return blocks


def entry_filter(sequence: Sequence, tenant: Tenant, now: datetime, entry_rule: dict | None = None):
    """The tenant's leads the entry rule (the saved one, or ``entry_rule`` while it is being edited) matches."""
    rule = sequence.entry_rules if entry_rule is None else entry_rule
    return sa.and_(Lead.tenant_id == tenant.id, rules.compile_filter(rule or {}, now=now))


def eligible_filter(
    sequence: Sequence,
    tenant: Tenant,
    *,
    now: datetime,
    entry_rule: dict | None = None,
    with_earlier: bool = False,
) -> sa.ColumnElement[bool]:
    """A filter over ``Lead``: the leads that match the entry rule and fail no check, whatever the
    sequence's status. ``with_earlier`` also leaves out the leads a higher-priority sequence takes first."""
    blocks = _blocks(sequence, tenant, now, with_earlier=with_earlier)
    return sa.and_(entry_filter(sequence, tenant, now, entry_rule), *(sa.not_(cond) for _, cond in blocks))


def first_reason(
    sequence: Sequence, tenant: Tenant, *, now: datetime, with_earlier: bool = True
) -> sa.ColumnElement:
    """A SQL expression naming the first check (``REASONS`` order) a lead fails; NULL when it fails none.
    Without ``with_earlier`` the higher-priority sequences are not asked (a person chose this one)."""
    blocks = _blocks(sequence, tenant, now, with_earlier=with_earlier)
    return sa.case(*((cond, key) for key, cond in blocks), else_=sa.null())


def chosen_reason(sequence: Sequence, tenant: Tenant, *, now: datetime) -> sa.ColumnElement:
    """For leads a person picked (bulk enrollment): the first check a lead fails, NULL when it may join.

    The entry rule comes first (``ENTRY_RULE``), then ``first_reason``'s checks in their order, so a lead
    the entry rule matches gets exactly the reason the breakdown counts it under. Neither the
    higher-priority sequences nor the daily cap hold a picked lead back: they decide among the sequences
    auto-enrollment picks, and here a person picked this one, as on the lead's page.
    """
    # Reason first when the rule holds: a rule that compares with a NULL column is unknown, not met.
    return sa.case(
        (entry_filter(sequence, tenant, now), first_reason(sequence, tenant, now=now, with_earlier=False)),
        else_=sa.literal(ENTRY_RULE.key),
    )


def remaining_today(sequence: Sequence, tenant: Tenant, now: datetime) -> int | None:
    """How many more leads the sequence's daily cap lets in today (the tenant's day); None without a cap."""
    if sequence.daily_enrollment_cap is None:
        return None
    zone = first_zone(tenant.policy_value("timezone"))
    day_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)
    done = db.session.scalar(
        sa.select(sa.func.count(Enrollment.id)).where(
            Enrollment.sequence_id == sequence.id, Enrollment.enrolled_on >= day_start
        )
    )
    return max(sequence.daily_enrollment_cap - (done or 0), 0)


def _has_steps(sequence: Sequence) -> bool:
    return bool(db.session.scalar(sa.select(sa.exists().where(SequenceStep.sequence_id == sequence.id))))


@dataclass
class Breakdown:
    """How many leads the entry rule matches, how many can join now, and why the others cannot."""

    sequence_id: uuid.UUID
    matching: int
    can_join: int
    held_back: list[tuple[Reason, int]] = field(default_factory=list)  # in REASONS order, zeros left out
    has_entry_rule: bool = True
    saved_rule: bool = True  # counted for the saved entry rule (the lead list can show these leads)

    @property
    def blocked(self) -> int:
        return self.matching - self.can_join


def eligibility_breakdown(sequence: Sequence, *, now: datetime, entry_rule: dict | None = None) -> Breakdown:
    """The breakdown of ``sequence``'s eligibility at ``now`` in one grouped query (plus the cap's count).

    As if the sequence were active: for a draft it says who would join on activation. ``entry_rule``
    replaces the saved rule (the builder counts a rule while it is being edited).
    """
    tenant = db.session.get(Tenant, sequence.tenant_id)
    reason = first_reason(sequence, tenant, now=now).label("reason")
    inner = sa.select(reason).where(entry_filter(sequence, tenant, now, entry_rule)).subquery()
    counts = dict(
        db.session.execute(sa.select(inner.c.reason, sa.func.count()).group_by(inner.c.reason)).all()
    )
    eligible = counts.pop(None, 0)
    matching = eligible + sum(counts.values())
    held = [(r, counts[r.key]) for r in REASONS if counts.get(r.key)]
    can_join = eligible
    if eligible and not _has_steps(sequence):
        held.append((NO_STEPS, eligible))
        can_join = 0
    remaining = remaining_today(sequence, tenant, now)
    if remaining is not None and can_join > remaining:
        held.append((DAILY_CAP, can_join - remaining))
        can_join = remaining
    rule = sequence.entry_rules if entry_rule is None else entry_rule
    return Breakdown(
        sequence_id=sequence.id,
        matching=matching,
        can_join=can_join,
        held_back=held,
        has_entry_rule=not rules.is_always_true(rule or {}),
        saved_rule=entry_rule is None or (entry_rule or {}) == (sequence.entry_rules or {}),
    )


def joining_leads(sequence: Sequence, tenant: Tenant, *, now: datetime) -> sa.Select:
    """The leads the next auto-enrollment run takes, best first, in the order auto-enrollment takes them
    (score, then id), cut at what the daily cap leaves today."""
    stmt = (
        sa.select(Lead)
        .where(eligible_filter(sequence, tenant, now=now, with_earlier=True))
        .order_by(Lead.score.desc(), Lead.id)
    )
    remaining = remaining_today(sequence, tenant, now)
    if not _has_steps(sequence):
        remaining = 0
    return stmt.limit(remaining) if remaining is not None else stmt


def leads_filter(sequence: Sequence, key: str, *, now: datetime) -> sa.ColumnElement[bool]:
    """A filter over ``Lead`` for the leads behind one number of the breakdown (``LIST_KEYS``)."""
    tenant = db.session.get(Tenant, sequence.tenant_id)
    if key == "match":
        return entry_filter(sequence, tenant, now)
    joining = joining_leads(sequence, tenant, now=now).with_only_columns(Lead.id)
    if key == "join":
        return Lead.id.in_(joining)
    if key in (DAILY_CAP.key, NO_STEPS.key):
        eligible = eligible_filter(sequence, tenant, now=now, with_earlier=True)
        return sa.and_(eligible, Lead.id.not_in(joining))
    if key not in REASON_LABELS:
        return sa.false()
    return sa.and_(entry_filter(sequence, tenant, now), first_reason(sequence, tenant, now=now) == key)
