"""Editing a sequence's steps: add, change, delete, reorder. ``step_order`` is always 1..N, no gaps.

The unique key (sequence_id, step_order) holds at every moment: renumbering first moves the rows to a
temporary negative range, then writes 1..N, so no two rows ever share a number, on either database.

Enrollments in flight keep a correct pointer. A live enrollment has run every step before its pointer
(and, when paused, is waiting on the step at its pointer); those steps form the sequence's *frozen
prefix*: they may be edited but not moved or deleted while such enrollments live. Everything after the
prefix may be rearranged freely, so each enrollment still runs exactly the steps it has not run yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from nurture_ui import activity, clock, rules, variants
from nurture_ui.extensions import db
from nurture_ui.models import (
    DELAY_UNITS,
    STEP_CHANNELS,
    EmailTemplate,
    Enrollment,
    Sequence,
    SequenceStep,
    User,
)
from nurture_ui.sequences import SequenceRefused, lock_sequence, require_editable

MAX_DELAY_HOURS = 24 * 365
MAX_BUSINESS_DAYS = 260  # about a year of weekdays
MAX_INSTRUCTIONS = 2000


@dataclass
class StepInput:
    channel: str
    delay_hours: int
    # When set (> 0 or with ``delay_unit`` "business_days") the step waits business days, not hours.
    delay_unit: str = "hours"
    delay_business_days: int = 0
    template_id: str | None = None
    requires_human_approval: bool = False
    conditions: dict = field(default_factory=dict)
    instructions: str = ""
    same_thread: bool = False
    only_if_not_replied: bool = False
    only_if_no_open_task: bool = False
    # A/B test (email only): 2-4 variants, or none; the auto-winner's minimum sends per variant, or None (off).
    variants: list[variants.VariantInput] = field(default_factory=list)
    auto_winner_min_sends: int | None = None


def step_errors(
    tenant_id: uuid.UUID, data: StepInput, *, earlier_steps: Iterable[SequenceStep] = ()
) -> dict[str, list[str]]:
    """Field-level problems with ``data``: ``{"delay_hours": ["…"], …}``; empty when it may be saved.

    ``earlier_steps`` are the steps before the one being saved: a follow-up in the same thread, or a step that
    runs only if the previous email got no reply, needs an email step among them."""
    errors: dict[str, list[str]] = {}
    earlier_email = any(s.channel == "email" for s in earlier_steps)
    if data.same_thread and data.channel == "email" and not earlier_email:
        errors["same_thread"] = [
            "The first email of a sequence cannot reply in an earlier email's thread: there is none before it."
        ]
    if data.only_if_not_replied and not earlier_email:
        errors["only_if_not_replied"] = [
            "No email comes before this step, so there is no previous email to have been replied to."
        ]
    if data.channel not in STEP_CHANNELS:
        errors["channel"] = ["Choose email, task or call reminder."]
    if not isinstance(data.delay_hours, int) or not 0 <= data.delay_hours <= MAX_DELAY_HOURS:
        errors["delay_hours"] = ["The delay is a whole number of hours from 0 to a year."]
    if data.delay_unit not in DELAY_UNITS:
        errors["delay_hours"] = ["Wait hours, days or business days."]
    elif data.delay_unit == "business_days" and not (
        isinstance(data.delay_business_days, int) and 0 <= data.delay_business_days <= MAX_BUSINESS_DAYS
    ):
        errors["delay_hours"] = [f"Wait a whole number of business days from 0 to {MAX_BUSINESS_DAYS}."]
    if data.channel == "email" and data.template_id and not data.variants:  # variants check their own
        exists = db.session.scalar(
            sa.select(EmailTemplate.id).where(
                EmailTemplate.tenant_id == tenant_id, EmailTemplate.key == data.template_id
            )
        )
        if not exists:
            errors["template_id"] = [f"There is no template '{data.template_id}'."]
    if len(data.instructions or "") > MAX_INSTRUCTIONS:
        errors["instructions"] = [f"Use at most {MAX_INSTRUCTIONS} characters."]
    if data.channel == "email":
        errors.update(variants.variant_errors(tenant_id, data.variants))
        minimum = data.auto_winner_min_sends
        if minimum is not None and not 10 <= minimum <= variants.MAX_MIN_SENDS:
            errors["auto_winner_min_sends"] = ["The minimum is a whole number of sends from 10."]
    condition_errors = rules.validate(data.conditions, kind="condition")
    if condition_errors:
        errors["conditions"] = condition_errors
    return errors


def _apply(step: SequenceStep, data: StepInput) -> None:
    step.channel = data.channel
    business = data.delay_unit == "business_days"
    step.delay_unit = data.delay_unit
    step.delay_business_days = data.delay_business_days if business else 0
    step.delay_hours = 0 if business else data.delay_hours
    step.template_id = (data.template_id or None) if data.channel == "email" else None
    step.requires_human_approval = bool(data.requires_human_approval) and data.channel == "email"
    step.conditions = data.conditions or {}
    step.instructions = (data.instructions or "").strip() if data.channel != "email" else ""
    step.same_thread = bool(data.same_thread) and data.channel == "email"
    step.only_if_not_replied = bool(data.only_if_not_replied)
    step.only_if_no_open_task = bool(data.only_if_no_open_task)
    _apply_variants(step, data)


def _apply_variants(step: SequenceStep, data: StepInput) -> None:
    """Variant A's template is the step's template; a change of what the variants say (not of their weights)
    starts the test afresh, so an earlier winner no longer holds."""
    stored = variants.stored_variants(data.variants) if data.channel == "email" else []
    if stored:
        step.template_id = stored[0]["template_id"]

    def content(vs):
        return [(v["template_id"], v.get("subject") or "") for v in vs or []]

    if content(stored) != content(step.variants):
        step.winner_variant = step.winner_declared_at = step.winner_evidence = step.winner_checked_at = None
    step.variants = stored
    step.auto_winner_min_sends = data.auto_winner_min_sends if stored else None


def _lock(sequence: Sequence, step: SequenceStep | None = None) -> None:
    """Serialize edits of one sequence (see ``lock_sequence``), then check it may still be edited."""
    lock_sequence(sequence)
    require_editable(sequence)
    if step is not None and step.id not in {s.id for s in sequence.steps}:
        raise SequenceRefused("This step was deleted meanwhile: reload the page.")


def add_step(sequence: Sequence, data: StepInput, *, actor: User) -> SequenceStep:
    """Append a step at N+1 (committed). Raises ``SequenceRefused`` when not editable or invalid."""
    _lock(sequence)
    _refuse_errors(sequence, data, earlier_steps=sequence.steps)
    count = db.session.scalar(
        sa.select(sa.func.count(SequenceStep.id)).where(SequenceStep.sequence_id == sequence.id)
    )
    step = SequenceStep(tenant_id=sequence.tenant_id, sequence_id=sequence.id, step_order=count + 1)
    _apply(step, data)
    db.session.add(step)
    db.session.flush()
    ab = {"variants": [v["weight"] for v in step.variants]} if step.variants else {}
    _touch(sequence, actor, "step_added", {"step": step.step_order, "channel": step.channel, **ab})
    db.session.commit()
    db.session.refresh(sequence)
    return step


def update_step(step: SequenceStep, data: StepInput, *, actor: User) -> None:
    """Change a step's content in place; its position stays (committed)."""
    sequence = step.sequence
    _lock(sequence, step)
    _refuse_errors(sequence, data, earlier_steps=steps_before(sequence, step))
    _apply(step, data)
    ab = {"variants": [v["weight"] for v in step.variants]} if step.variants else {}
    _touch(sequence, actor, "step_updated", {"step": step.step_order, "channel": step.channel, **ab})
    db.session.commit()


def delete_step(step: SequenceStep, *, actor: User) -> None:
    """Remove a step and close the gap (committed); refused for a step of the frozen prefix."""
    sequence = step.sequence
    _lock(sequence, step)
    frozen = frozen_prefix(sequence)
    if step.step_order <= frozen:
        raise SequenceRefused(_frozen_message(frozen))
    remaining = [s.id for s in sequence.steps if s.id != step.id]
    position = step.step_order
    db.session.delete(step)
    db.session.flush()
    _renumber(sequence, remaining)
    _touch(sequence, actor, "step_deleted", {"step": position})
    db.session.commit()
    db.session.refresh(sequence)


def reorder_steps(sequence: Sequence, step_ids: list[uuid.UUID], *, actor: User) -> None:
    """Put the steps in the order of ``step_ids`` (every step exactly once), renumbered 1..N (committed)."""
    _lock(sequence)
    current = [s.id for s in sequence.steps]
    if sorted(map(str, step_ids)) != sorted(map(str, current)) or len(set(step_ids)) != len(step_ids):
        raise SequenceRefused("The steps changed meanwhile: reload the page and try again.")
    if step_ids == current:
        return
    frozen = frozen_prefix(sequence)
    if step_ids[:frozen] != current[:frozen]:
        raise SequenceRefused(_frozen_message(frozen))
    _renumber(sequence, step_ids)
    _touch(sequence, actor, "steps_reordered", {"order": [current.index(i) + 1 for i in step_ids]})
    db.session.commit()
    db.session.refresh(sequence)


def move_step(step: SequenceStep, offset: int, *, actor: User) -> None:
    """Move a step up (-1) or down (+1) by one place; a no-op at either end."""
    sequence = step.sequence
    order = [s.id for s in sequence.steps]
    index = order.index(step.id)
    target = index + offset
    if not 0 <= target < len(order):
        return
    order[index], order[target] = order[target], order[index]
    reorder_steps(sequence, order, actor=actor)


def frozen_prefix(sequence: Sequence) -> int:
    """How many leading steps live enrollments have run or are waiting on; those may not move."""
    rows = db.session.execute(
        sa.select(Enrollment.status, sa.func.max(Enrollment.current_step_order))
        .where(Enrollment.sequence_id == sequence.id, Enrollment.status.in_(("active", "paused")))
        .group_by(Enrollment.status)
    ).all()
    frozen = 0
    for status, pointer in rows:
        # An active enrollment has run the steps before its pointer; a paused one waits on the pointer's step.
        frozen = max(frozen, pointer - 1 if status == "active" else pointer)
    return min(frozen, len(sequence.steps))


def _frozen_message(frozen: int) -> str:
    which = "Step 1 has" if frozen == 1 else f"Steps 1–{frozen} have"
    return (
        f"{which} already run for leads still in this sequence, so {'it' if frozen == 1 else 'they'} "
        "cannot be moved or deleted. Later steps can."
    )


def _renumber(sequence: Sequence, ordered_ids: list[uuid.UUID]) -> None:
    """Write step_order 1..N in the given order through a temporary negative range."""
    table = SequenceStep.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.sequence_id == sequence.id)
        .values(step_order=-table.c.step_order - 1000)
    )
    for position, step_id in enumerate(ordered_ids, start=1):
        db.session.execute(sa.update(table).where(table.c.id == step_id).values(step_order=position))
    db.session.expire(sequence, ["steps"])
    for step in db.session.identity_map.values():
        if isinstance(step, SequenceStep) and step.sequence_id == sequence.id:
            db.session.expire(step, ["step_order"])


def steps_before(sequence: Sequence, step: SequenceStep | None) -> list[SequenceStep]:
    """The steps before ``step`` (all of them for a step not added yet, ``None``)."""
    if step is None:
        return list(sequence.steps)
    return [s for s in sequence.steps if s.step_order < step.step_order]


def _refuse_errors(sequence: Sequence, data: StepInput, *, earlier_steps: Iterable[SequenceStep]) -> None:
    errors = step_errors(sequence.tenant_id, data, earlier_steps=earlier_steps)
    if errors:
        raise SequenceRefused([message for messages in errors.values() for message in messages])


def _touch(sequence: Sequence, actor: User, type_: str, data: dict) -> None:
    sequence.updated_at = clock.now()
    activity.record(
        type_, tenant_id=sequence.tenant_id, sequence_id=sequence.id, actor_id=actor.id, data=data
    )
