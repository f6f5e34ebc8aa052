"""Who may enroll in a sequence, and enrolling them: one lead by hand, or every eligible lead at once.

Eligibility is decided once, in two forms that a test holds equal: ``eligibility`` judges one lead in
Python and says every reason it fails (the "why (not)?" panel and manual enrollment), and
``nurture_ui.eligibility`` states the same checks as SQL, which ``auto_enroll`` uses to enroll a whole
tenant in one INSERT … SELECT per sequence and bulk enrollment reads (``enroll_picked`` writes what it
lets join). The tenant's policy checks are themselves expressed in the rule language, so they compile and
evaluate exactly like a sequence's entry rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from nurture_ui import activity, clock, new_rows, rules
from nurture_ui.eligibility import (
    ENDED_STATUSES,
    cross_cooldown_days,
    eligible_filter,
    remaining_today,
)
from nurture_ui.extensions import db
from nurture_ui.models import (
    LIVE_STATUSES,
    Activity,
    Enrollment,
    Lead,
    LeadReply,
    Sequence,
    SequenceStep,
    Tenant,
)
from nurture_ui.models.base import JSONType

# Checks a person may override with a confirmation when enrolling by hand. Everything else
# (do-not-contact, unsubscribed, undeliverable, already in a sequence, sequence not active) never.
OVERRIDABLE = frozenset({"status", "score_band", "reply_window", "cooldown", "cross_cooldown", "entry_rules"})
_STATUS_WORDS = {"draft": "a draft", "paused": "paused", "archived": "archived"}


@dataclass(frozen=True)
class Check:
    key: str
    label: str  # the requirement, as the panel lists it
    passed: bool
    detail: str = ""
    problem: str = ""  # the failure in words, for refusals and the bulk summary

    @property
    def reason(self) -> str:
        return self.problem or f"Fails: {self.label}"

    @property
    def overridable(self) -> bool:
        return self.key in OVERRIDABLE or self.key.startswith("entry_rules")


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def eligible(self) -> bool:
        return not self.failures

    @property
    def can_override(self) -> bool:
        """Every failure is one a person may override (and there is at least one)."""
        return bool(self.failures) and all(c.overridable for c in self.failures)

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.failures]


class EnrollmentRefused(Exception):
    def __init__(self, verdict: Verdict, message: str | None = None):
        self.verdict = verdict
        super().__init__(message or "; ".join(verdict.reasons))


def policy_rule(tenant: Tenant) -> dict:
    """The tenant's standing entry conditions, in the rule language."""
    return {
        "all": [
            {"field": "status", "op": "in", "value": list(tenant.policy_value("enrollable_statuses"))},
            {"field": "score_band", "op": "in", "value": list(tenant.policy_value("warm_bands"))},
            {rules.REPLY_KEY: int(tenant.policy_value("reply_window_days"))},
        ]
    }


# ---------------------------------------------------------------------------------------------------
# One lead, in Python


@dataclass
class LeadFacts:
    """What eligibility needs besides the lead row, loaded in a few queries for many leads at once."""

    replies: dict[uuid.UUID, list[LeadReply]]
    live: dict[uuid.UUID, Enrollment]
    last_ended: dict[uuid.UUID, datetime]  # for this sequence: when the lead last left it
    # For any sequence: when the lead last left one, and which (the cross-sequence cooldown).
    last_left: dict[uuid.UUID, tuple[datetime, uuid.UUID]] = field(default_factory=dict)

    @classmethod
    def load(cls, lead_ids: Iterable[uuid.UUID], sequence: Sequence) -> LeadFacts:
        ids = list(lead_ids)
        replies: dict[uuid.UUID, list[LeadReply]] = {i: [] for i in ids}
        live: dict[uuid.UUID, Enrollment] = {}
        last_ended: dict[uuid.UUID, datetime] = {}
        last_left: dict[uuid.UUID, tuple[datetime, uuid.UUID]] = {}
        for chunk in _chunks(ids, 500):
            for reply in db.session.scalars(sa.select(LeadReply).where(LeadReply.lead_id.in_(chunk))):
                replies[reply.lead_id].append(reply)
            for enrollment in db.session.scalars(
                sa.select(Enrollment).where(
                    Enrollment.lead_id.in_(chunk), Enrollment.status.in_(LIVE_STATUSES)
                )
            ):
                live[enrollment.lead_id] = enrollment
            ended = db.session.execute(
                sa.select(Enrollment.lead_id, sa.func.max(Enrollment.ended_on))
                .where(
                    Enrollment.lead_id.in_(chunk),
                    Enrollment.sequence_id == sequence.id,
                    Enrollment.status.in_(("exited", "completed")),
                )
                .group_by(Enrollment.lead_id)
            )
            last_ended.update({lead_id: when for lead_id, when in ended if when is not None})
            for lead_id, when, sequence_id in db.session.execute(
                sa.select(Enrollment.lead_id, Enrollment.ended_on, Enrollment.sequence_id)
                .where(
                    Enrollment.lead_id.in_(chunk),
                    Enrollment.status.in_(ENDED_STATUSES),
                    Enrollment.ended_on.is_not(None),
                )
                .order_by(Enrollment.ended_on)
            ):
                last_left[lead_id] = (when, sequence_id)  # ordered: the latest wins
        return cls(replies=replies, live=live, last_ended=last_ended, last_left=last_left)


def eligibility(
    lead: Lead, sequence: Sequence, *, now: datetime | None = None, facts: LeadFacts | None = None
) -> Verdict:
    """Every check a lead must pass to enroll in ``sequence``, each with whether it passes."""
    now = now or clock.now()
    facts = facts or LeadFacts.load([lead.id], sequence)
    tenant = db.session.get(Tenant, lead.tenant_id)
    replies = facts.replies.get(lead.id, [])
    verdict = Verdict()
    add = verdict.checks.append

    state = _STATUS_WORDS.get(sequence.status, sequence.status)
    add(
        Check(
            "sequence_active",
            "The sequence is active",
            sequence.status == "active",
            f"It is {state}: nobody can join until it is activated.",
            problem=f"The sequence is not active ({state})",
        )
    )
    add(
        Check(
            "not_dnc",
            "The lead is not marked do-not-contact",
            not lead.do_not_contact,
            problem="The lead is marked do-not-contact",
        )
    )
    add(
        Check(
            "not_unsubscribed",
            "The lead has not unsubscribed",
            lead.unsubscribed_at is None,
            problem="The lead has unsubscribed",
        )
    )
    add(
        Check(
            "deliverable",
            "The lead's address accepts mail",
            not lead.undeliverable,
            "A hard bounce marked it undeliverable.",
            problem="The lead's address bounced",
        )
    )
    current = facts.live.get(lead.id)
    add(
        Check(
            "not_enrolled",
            "The lead is not already in a sequence",
            current is None,
            ""
            if current is None
            else f"{current.status.title()} in “{_sequence_name(current.sequence_id)}”.",
            problem="The lead is already in a sequence",
        )
    )

    statuses = tenant.policy_value("enrollable_statuses")
    add(
        Check(
            "status",
            f"Status is {_or_list(statuses)}",
            lead.status in statuses,
            f"It is {lead.status}.",
            problem=f"Status is {lead.status}",
        )
    )
    bands = tenant.policy_value("warm_bands")
    add(
        Check(
            "score_band",
            f"Score band is {_or_list(bands)}",
            lead.score_band in bands,
            f"It is {lead.score_band}.",
            problem=f"Score band is {lead.score_band}",
        )
    )
    window = int(tenant.policy_value("reply_window_days"))
    reply_ok = rules.evaluate({rules.REPLY_KEY: window}, lead, now=now, replies=replies)
    add(
        Check(
            "reply_window",
            f"No open reply thread in the last {window} days",
            reply_ok,
            "The lead replied recently and the thread is open.",
            problem=f"An open reply thread in the last {window} days",
        )
    )
    cooldown_days = int(tenant.policy_value("reenrollment_cooldown_days"))
    ended = facts.last_ended.get(lead.id)
    cooled = ended is None or ended <= now - timedelta(days=cooldown_days)
    add(
        Check(
            "cooldown",
            f"Not in this sequence in the last {cooldown_days} days",
            cooled,
            ""
            if cooled
            else f"Left it on {ended:%b %-d}; eligible again from {ended + timedelta(days=cooldown_days):%b %-d}.",
            problem=f"Left this sequence less than {cooldown_days} days ago",
        )
    )
    cross_days = cross_cooldown_days(tenant)
    left = facts.last_left.get(lead.id)
    if cross_days:
        recent = left is not None and left[0] > now - timedelta(days=cross_days)
        add(
            Check(
                "cross_cooldown",
                f"Has not left any sequence in the last {cross_days} days",
                not recent,
                _cross_detail(left, cross_days, now) if recent else "",
                problem=_cross_detail(left, cross_days, now) if recent else "",
            )
        )
    for index, (text, passed) in enumerate(
        rules.explain(sequence.entry_rules or {}, lead, now=now, replies=replies), start=1
    ):
        add(
            Check(
                f"entry_rules.{index}",
                f"Entry rule: {text}",
                passed,
                problem=f"Does not meet the entry rule “{text}”",
            )
        )
    return verdict


# ---------------------------------------------------------------------------------------------------
# Many leads, in SQL


def eligible_leads(sequence: Sequence, tenant: Tenant, *, now: datetime) -> sa.ColumnElement[bool]:
    """A filter over ``Lead`` true exactly for the leads ``eligibility`` passes (without overrides):
    ``nurture_ui.eligibility``'s checks, for an active sequence."""
    if sequence.status != "active":
        return sa.false()
    return eligible_filter(sequence, tenant, now=now)


def _cross_detail(left: tuple[datetime, uuid.UUID], days: int, now: datetime) -> str:
    when, sequence_id = left
    ago = (now - when).days
    ago_text = "today" if ago == 0 else ("1 day ago" if ago == 1 else f"{ago} days ago")
    return (
        f"Left ‘{_sequence_name(sequence_id)}’ {ago_text}: the cross-sequence cooldown keeps leads out "
        f"for {days} days (until {when + timedelta(days=days):%b %-d})."
    )


def first_step(sequence: Sequence) -> SequenceStep | None:
    return db.session.scalar(
        sa.select(SequenceStep)
        .where(SequenceStep.sequence_id == sequence.id)
        .order_by(SequenceStep.step_order)
        .limit(1)
    )


def first_step_due(step: SequenceStep, now: datetime, sequence: Sequence) -> datetime:
    """When step 1 falls due: its delay after enrollment. The engine moves it into the send window when it
    runs. Business days are counted in the sequence's zone without a lead's (one instant for a bulk insert);
    the window still opens in each lead's own zone."""
    if step.delay_unit != "business_days":
        return now + timedelta(hours=step.delay_hours)
    from nurture_ui.engine.schedule import delay_ends_at, send_window_for

    tenant = db.session.get(Tenant, sequence.tenant_id)
    return delay_ends_at(now, step, send_window_for(tenant, sequence), None)


def _new_id_sql():
    if db.engine.dialect.name == "postgresql":
        return sa.func.gen_random_uuid()
    return sa.func.lower(sa.func.hex(sa.func.randomblob(16)))


def _insert(table):
    return (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(table)


def auto_enroll_sequence(sequence: Sequence, tenant: Tenant, *, now: datetime) -> int:
    """Enroll every eligible lead of the tenant in ``sequence`` with one INSERT … SELECT, each with its
    ``nurture_enrolled`` and ``nurture_step_scheduled`` activities. Runs in the caller's transaction.
    The partial unique index settles races: a lead already taken is skipped, never doubled.
    """
    step = first_step(sequence)
    if step is None:
        return 0
    remaining = remaining_today(sequence, tenant, now)
    if remaining == 0:
        return 0
    due = first_step_due(step, now, sequence)
    candidates = (
        sa.select(
            _new_id_sql(),
            sa.literal(tenant.id, sa.Uuid),
            Lead.id,
            sa.literal(sequence.id, sa.Uuid),
            sa.literal(1),
            sa.literal("active"),
            sa.literal(now, Enrollment.enrolled_on.type),
            sa.literal(due, Enrollment.next_step_on.type),
            sa.literal(now, Enrollment.created_at.type),
            sa.literal(now, Enrollment.updated_at.type),
        )
        .where(eligible_leads(sequence, tenant, now=now))
        # The best leads first when the daily cap cuts the list short. Without a cap the sort still
        # earns its keep on PostgreSQL: it reads every candidate before the first insert. Without it
        # a plan may probe the enrollments with a scan per lead while the INSERT fills that table
        # (quadratic: one sequence of 104k leads ran over five minutes); ordering by id instead
        # invites merge anti-joins that walk the live-enrollment index as it fills.
        .order_by(Lead.score.desc(), Lead.id)
    )
    if remaining is not None:
        candidates = candidates.limit(remaining)
    table = Enrollment.__table__
    columns = [
        "id",
        "tenant_id",
        "lead_id",
        "sequence_id",
        "current_step_order",
        "status",
        "enrolled_on",
        "next_step_on",
        "created_at",
        "updated_at",
    ]
    insert = (
        _insert(table)
        .from_select(columns, candidates)
        .on_conflict_do_nothing(index_elements=["lead_id"], index_where=table.c.status.in_(LIVE_STATUSES))
    )
    if db.engine.dialect.name == "postgresql":
        return _enroll_with_activities(insert, sequence, now, due, step)
    # SQLite has no INSERT in a WITH clause: enroll, then find this run's enrollments again for the activities.
    # SQLAlchemy reports an INSERT's rowcount only when asked to keep it.
    count = db.session.execute(insert.execution_options(preserve_rowcount=True)).rowcount or 0
    if count:
        _record_bulk(sequence, now, due, step)
    return count


_ACTIVITY_COLUMNS = [
    "id",
    "tenant_id",
    "type",
    "lead_id",
    "enrollment_id",
    "sequence_id",
    "occurred_at",
    "data",
]


def _auto_activities(step: SequenceStep, due: datetime) -> list[tuple[str, dict]]:
    """The two activities every auto-enrollment gets, in the order a timeline shows them."""
    return [
        ("nurture_enrolled", {"source": "auto"}),
        (
            "nurture_step_scheduled",
            {"step": step.step_order, "channel": step.channel, "due": due.isoformat()},
        ),
    ]


def _enroll_with_activities(
    insert, sequence: Sequence, now: datetime, due: datetime, step: SequenceStep
) -> int:
    """PostgreSQL: the enrollments and their activities in one statement. The activities are written from
    what the INSERT returns (the rows it made, not the ones a conflict skipped), so each enrollment of this
    run gets exactly its two, whatever another run does at the same instant."""
    enrolled = insert.returning(Enrollment.__table__.c.id, Enrollment.__table__.c.lead_id).cte("enrolled")
    kinds = sa.values(
        sa.column("position", sa.Integer),
        sa.column("type", sa.String),
        sa.column("data", JSONType),
        name="kinds",
    ).data([(position, kind, data) for position, (kind, data) in enumerate(_auto_activities(step, due))])
    rows = (
        sa.select(
            _new_id_sql(),
            sa.literal(sequence.tenant_id, sa.Uuid),
            kinds.c.type,
            enrolled.c.lead_id,
            enrolled.c.id,
            sa.literal(sequence.id, sa.Uuid),
            sa.literal(now, Activity.occurred_at.type),
            kinds.c.data,
        )
        .select_from(enrolled)
        .join(kinds, sa.true())
        # ``seq`` numbers activities in the order they are inserted: every nurture_enrolled before its
        # enrollment's nurture_step_scheduled, as the SQLite path and a manual enrollment write them.
        .order_by(kinds.c.position)
    )
    logged = sa.insert(Activity.__table__).from_select(_ACTIVITY_COLUMNS, rows).cte("logged")
    return db.session.scalar(sa.select(sa.func.count()).select_from(enrolled).add_cte(logged))


def _record_bulk(sequence: Sequence, now: datetime, due: datetime, step: SequenceStep) -> None:
    """Activities for the enrollments this run just made (they carry its instant and no actor)."""
    fresh = sa.and_(
        Enrollment.sequence_id == sequence.id,
        Enrollment.created_at == sa.literal(now, Enrollment.created_at.type),
        Enrollment.enrolled_by.is_(None),
    )
    for kind, data in _auto_activities(step, due):
        rows = sa.select(
            _new_id_sql(),
            Enrollment.tenant_id,
            sa.literal(kind),
            Enrollment.lead_id,
            Enrollment.id,
            Enrollment.sequence_id,
            sa.literal(now, Activity.occurred_at.type),
            sa.literal(data, JSONType),
        ).where(fresh)
        db.session.execute(sa.insert(Activity.__table__).from_select(_ACTIVITY_COLUMNS, rows))


def auto_enroll(*, now: datetime | None = None, tenant_id: uuid.UUID | None = None) -> dict[uuid.UUID, int]:
    """Enroll eligible leads in every active sequence, highest priority first, one commit per tenant.

    Returns how many leads each sequence took. Safe to run twice at once: nobody is enrolled twice.
    """
    now = now or clock.now()
    results: dict[uuid.UUID, int] = {}
    tenants = db.session.scalars(
        sa.select(Tenant).where(Tenant.id == tenant_id) if tenant_id else sa.select(Tenant)
    )
    for tenant in list(tenants):
        sequences = db.session.scalars(
            sa.select(Sequence)
            .where(Sequence.tenant_id == tenant.id, Sequence.status == "active")
            .order_by(Sequence.priority, Sequence.created_at, Sequence.id)
        ).all()
        for sequence in sequences:
            results[sequence.id] = auto_enroll_sequence(sequence, tenant, now=now)
        db.session.commit()
    return results


def enroll_picked(
    lead_ids: Iterable[uuid.UUID], sequence: Sequence, *, actor_id: uuid.UUID | None, now: datetime
) -> set[uuid.UUID]:
    """Enroll leads a person picked and the set-based answer let join (``eligibility.chosen_reason`` is
    NULL for them: the caller asked), in one INSERT, each with the ``nurture_enrolled`` (source "bulk") and
    ``nurture_step_scheduled`` activities naming ``actor_id``. Runs in the caller's transaction.

    Returns the ids of the leads enrolled. The partial unique index settles races: a lead another
    enrollment took in the meantime is left out of the answer, never doubled. ``ValueError`` when the
    sequence has no steps (the caller says so to the person first).
    """
    step = first_step(sequence)
    if step is None:
        raise ValueError("the sequence has no steps")
    due = first_step_due(step, now, sequence)
    rows = [
        dict(
            id=uuid.uuid4(),
            tenant_id=sequence.tenant_id,
            lead_id=lead_id,
            sequence_id=sequence.id,
            current_step_order=1,
            status="active",
            enrolled_on=now,
            next_step_on=due,
            enrolled_by=actor_id,
            created_at=now,
            updated_at=now,
        )
        for lead_id in lead_ids
    ]
    if not rows:
        return set()
    table = Enrollment.__table__
    # One multi-row VALUES, not an executemany: the index's IN list is expanded at execution.
    insert = (
        _insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["lead_id"], index_where=table.c.status.in_(LIVE_STATUSES))
        .returning(table.c.id, table.c.lead_id)
    )
    made = db.session.execute(insert).all()
    with new_rows.collecting():
        for enrollment_id, lead_id in made:
            common = dict(
                tenant_id=sequence.tenant_id,
                lead_id=lead_id,
                enrollment_id=enrollment_id,
                sequence_id=sequence.id,
                actor_id=actor_id,
                occurred_at=now,
            )
            activity.record("nurture_enrolled", data={"source": "bulk"}, **common)
            activity.record(
                "nurture_step_scheduled",
                data={"step": step.step_order, "channel": step.channel, "due": due.isoformat()},
                **common,
            )
        new_rows.write()
    return {lead_id for _, lead_id in made}


# ---------------------------------------------------------------------------------------------------
# By hand


def active_sequences(tenant_id: uuid.UUID) -> list[Sequence]:
    """The sequences a lead can be enrolled in now, in priority order."""
    return list(
        db.session.scalars(
            sa.select(Sequence)
            .where(Sequence.tenant_id == tenant_id, Sequence.status == "active")
            .order_by(Sequence.priority, Sequence.name)
        )
    )


def checkable_sequences(tenant_id: uuid.UUID) -> list[Sequence]:
    """The sequences the "why (not)?" panel offers: every one not archived, the active ones first (in
    priority order), so a marketer can check a draft or paused sequence before activating it."""
    return list(
        db.session.scalars(
            sa.select(Sequence)
            .where(Sequence.tenant_id == tenant_id, Sequence.status != "archived")
            .order_by(Sequence.status != "active", Sequence.priority, Sequence.name)
        )
    )


def enroll(
    lead: Lead,
    sequence: Sequence,
    *,
    actor_id: uuid.UUID | None,
    now: datetime | None = None,
    override: bool = False,
    facts: LeadFacts | None = None,
    commit: bool = True,
) -> Enrollment:
    """Enroll one lead, or raise ``EnrollmentRefused`` with the verdict.

    ``override`` lets a person enroll despite the overridable checks (entry rules, status, band, reply
    window, cooldown) — never despite do-not-contact, an unsubscribe, a bounce or a live enrollment.
    """
    now = now or clock.now()
    if lead.tenant_id != sequence.tenant_id:
        raise ValueError("lead and sequence belong to different tenants")
    verdict = eligibility(lead, sequence, now=now, facts=facts)
    if not verdict.eligible and not (override and verdict.can_override):
        raise EnrollmentRefused(verdict)
    step = first_step(sequence)
    if step is None:
        raise EnrollmentRefused(verdict, "The sequence has no steps.")
    due = first_step_due(step, now, sequence)
    enrollment = Enrollment(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        sequence_id=sequence.id,
        current_step_order=1,
        status="active",
        enrolled_on=now,
        next_step_on=due,
        enrolled_by=actor_id,
    )
    db.session.add(enrollment)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as error:  # a concurrent enrollment won the race
        if commit:
            db.session.rollback()
        raise EnrollmentRefused(verdict, "The lead was enrolled in another sequence a moment ago.") from error
    common = dict(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        enrollment_id=enrollment.id,
        sequence_id=sequence.id,
        actor_id=actor_id,
        occurred_at=now,
    )
    overridden = [c.reason for c in verdict.failures] if override else []
    activity.record("nurture_enrolled", data={"source": "manual", "overridden": overridden}, **common)
    activity.record(
        "nurture_step_scheduled",
        data={"step": step.step_order, "channel": step.channel, "due": due.isoformat()},
        **common,
    )
    if commit:
        db.session.commit()
    return enrollment


def _sequence_name(sequence_id: uuid.UUID) -> str:
    return db.session.scalar(sa.select(Sequence.name).where(Sequence.id == sequence_id)) or "another sequence"


def _or_list(values: Iterable[str]) -> str:
    values = list(values)
    if len(values) <= 1:
        return "".join(values) or "(none allowed)"
    return ", ".join(values[:-1]) + " or " + values[-1]


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
