"""Leads, our CRM stand-in: finding them and changing them, with every change on the record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from nurture_ui import activity, clock, eligibility
from nurture_ui.extensions import db
from nurture_ui.models import Lead, Sequence, User
from nurture_ui.standing import STANDING_FIELDS, change_standing


@dataclass(frozen=True)
class LeadFilters:
    q: str = ""
    status: str = ""
    score_band: str = ""
    segment: str = ""
    owner: str = ""  # a user id, "none" for unowned, "" for anyone
    # "<sequence id>:<key>": the leads behind one number of that sequence's eligibility breakdown.
    eligibility: str = ""

    @property
    def active(self) -> bool:
        return any((self.q, self.status, self.score_band, self.segment, self.owner, self.eligibility))

    def as_args(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("q", self.q),
                ("status", self.status),
                ("score_band", self.score_band),
                ("segment", self.segment),
                ("owner", self.owner),
                ("eligibility", self.eligibility),
            )
            if v
        }


def lead_query(tenant_id: uuid.UUID, filters: LeadFilters) -> sa.Select:
    """The tenant's leads matching ``filters``, newest first."""
    stmt = sa.select(Lead).where(Lead.tenant_id == tenant_id)
    if filters.status:
        stmt = stmt.where(Lead.status == filters.status)
    if filters.score_band:
        stmt = stmt.where(Lead.score_band == filters.score_band)
    if filters.segment:
        stmt = stmt.where(Lead.segment == filters.segment)
    if filters.owner == "none":
        stmt = stmt.where(Lead.owner_id.is_(None))
    elif filters.owner:
        try:
            stmt = stmt.where(Lead.owner_id == uuid.UUID(filters.owner))
        except ValueError:
            stmt = stmt.where(sa.false())
    if filters.eligibility:
        scope = eligibility_scope(tenant_id, filters.eligibility)
        if scope is None:
            stmt = stmt.where(sa.false())
        else:
            sequence, key = scope
            stmt = stmt.where(eligibility.leads_filter(sequence, key, now=clock.now()))
    if filters.q:
        pattern = f"%{filters.q.strip().lower()}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Lead.email).like(pattern),
                sa.func.lower(Lead.first_name + " " + Lead.last_name).like(pattern),
                sa.func.lower(Lead.company).like(pattern),
            )
        )
    return stmt.order_by(Lead.created_at.desc(), Lead.id)


def eligibility_scope(tenant_id: uuid.UUID, value: str) -> tuple[Sequence, str] | None:
    """The tenant's sequence and breakdown key named by an ``eligibility`` filter, or None when it names
    no such thing (another tenant's sequence included)."""
    sequence_id, _, key = value.partition(":")
    try:
        parsed = uuid.UUID(sequence_id)
    except ValueError:
        return None
    if key not in eligibility.LIST_KEYS:
        return None
    sequence = db.session.scalar(
        sa.select(Sequence).where(Sequence.id == parsed, Sequence.tenant_id == tenant_id)
    )
    return (sequence, key) if sequence is not None else None


def lead_by_email(tenant_id: uuid.UUID, email: str) -> Lead | None:
    """The tenant's lead with this address (compared case-insensitively), or None."""
    text = email.strip().lower()
    if not text:
        return None
    return db.session.scalar(
        sa.select(Lead).where(Lead.tenant_id == tenant_id, sa.func.lower(Lead.email) == text).limit(1)
    )


def segments(tenant_id: uuid.UUID) -> list[str]:
    """The tenant's segments (not the empty one), in order.

    One index probe per segment (a recursive "next segment after this one"), not ``DISTINCT`` over every
    lead: at 100,000 leads that read the whole of the tenant's segment index (37 ms) for a few names.
    """
    after = sa.select(sa.func.min(Lead.segment).label("segment")).where(
        Lead.tenant_id == tenant_id, Lead.segment > ""
    )
    found = after.cte("segments", recursive=True)
    following = (
        sa.select(sa.func.min(Lead.segment))
        .where(Lead.tenant_id == tenant_id, Lead.segment > found.c.segment)
        .scalar_subquery()
    )
    found = found.union_all(sa.select(following).where(found.c.segment.is_not(None)))
    rows = db.session.scalars(
        sa.select(found.c.segment).where(found.c.segment.is_not(None)).order_by(found.c.segment)
    )
    return list(rows)


def team(tenant_id: uuid.UUID) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(User.tenant_id == tenant_id).order_by(User.name)))


EDITABLE_FIELDS = ("status", "score", "score_band", "owner_id", "do_not_contact")


def update_lead(lead: Lead, changes: dict[str, Any], actor: User) -> dict[str, tuple[Any, Any]]:
    """Apply ``changes`` to the lead's editable fields and commit, with a ``lead_updated`` activity.

    Status and do-not-contact change through ``standing.change_standing`` in the same transaction, as
    through the API or an import: converted or disqualified exits the sequences whose exit rule says so,
    do-not-contact exits every one, with their unsent emails and open tasks.
    Returns what changed as ``{field: (old, new)}``; nothing is written when nothing changed.
    """
    diff: dict[str, tuple[Any, Any]] = {}
    for field in EDITABLE_FIELDS:
        if field not in changes:
            continue
        old, new = getattr(lead, field), changes[field]
        if old != new:
            diff[field] = (old, new)
            if field not in STANDING_FIELDS:  # set below, with their effects
                setattr(lead, field, new)
    if not diff:
        return diff
    now = clock.now()
    activity.record(
        "lead_updated",
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        actor_id=actor.id,
        occurred_at=now,
        data={
            _label(field): [_readable(field, old), _readable(field, new)]
            for field, (old, new) in diff.items()
        },
    )
    change_standing(
        lead,
        status=changes.get("status"),
        do_not_contact=changes.get("do_not_contact"),
        actor_id=actor.id,
        source="lead form",
        now=now,
    )
    db.session.commit()
    return diff


def _label(field: str) -> str:
    return "owner" if field == "owner_id" else field


def _readable(field: str, value: Any) -> Any:
    """What a person reads in the trace: the owner's name rather than an id."""
    if field == "owner_id":
        user = db.session.get(User, value) if value else None
        return user.name if user else "Unassigned"
    return value
