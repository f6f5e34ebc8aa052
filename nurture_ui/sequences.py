"""Sequences: creating, duplicating, the status lifecycle and its activation checks, the schedule.

Every function that changes state commits one unit of work, with its activity and the acting user.
Step editing (add, change, delete, reorder) lives in ``nurture_ui.steps``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from nurture_ui import activity, clock, rules
from nurture_ui.extensions import db
from nurture_ui.lifecycle import exit_enrollment
from nurture_ui.models import (
    DEFAULT_EXIT_RULES,
    LIVE_STATUSES,
    EmailTemplate,
    Enrollment,
    Lead,
    Sequence,
    SequenceStep,
    Tenant,
    User,
)

# draft → active ⇄ paused → archived, and draft → archived. An active sequence is paused before archiving.
TRANSITIONS = {
    ("draft", "active"): "activate",
    ("paused", "active"): "activate",
    ("active", "paused"): "pause",
    ("paused", "archived"): "archive",
    ("draft", "archived"): "archive",
}
EDITABLE_STATUSES = ("draft", "paused")
CHANNEL_LABELS = {"email": "Email", "task": "Task", "call_reminder": "Call reminder"}
MAX_NAME_LENGTH = 255
# Auto-enrollment takes the active sequences lowest priority number first (``enrollment.auto_enroll``).
MIN_PRIORITY, MAX_PRIORITY = 0, 9999
MAX_DAILY_CAP = 1_000_000


class SequenceRefused(Exception):
    """A change the sequence's state or the tenant's policy does not allow; ``messages`` say why."""

    def __init__(self, messages: list[str] | str):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("; ".join(self.messages))


def lock_sequence(sequence: Sequence) -> None:
    """Take the sequence's write lock for the rest of the caller's transaction, then re-read it.

    An UPDATE of its row does it on both databases: a row lock on PostgreSQL, the database write lock
    on SQLite. Concurrent step edits and status changes of one sequence therefore run one after the
    other, each seeing the steps and status the previous one committed.
    """
    db.session.execute(
        sa.update(Sequence)
        .where(Sequence.id == sequence.id)
        .values(updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(sequence, attribute_names=["status", "updated_at"])
    db.session.expire(sequence, ["steps"])
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, SequenceStep) and obj.sequence_id == sequence.id:
            db.session.expire(obj)


def is_editable(sequence: Sequence) -> bool:
    """Structure (steps, rules) may change only while the sequence is a draft or paused."""
    return sequence.status in EDITABLE_STATUSES


def require_editable(sequence: Sequence) -> None:
    if not is_editable(sequence):
        if sequence.status == "active":
            raise SequenceRefused("This sequence is active: pause it to edit.")
        raise SequenceRefused(f"This sequence is {sequence.status} and can no longer be edited.")


def _name_problem(name: str) -> str | None:
    if not name.strip():
        return "Enter a name."
    if len(name.strip()) > MAX_NAME_LENGTH:
        return f"Use at most {MAX_NAME_LENGTH} characters."
    return None


def create_sequence(tenant_id: uuid.UUID, name: str, *, actor: User, description: str = "") -> Sequence:
    """A new draft sequence with the default entry rule and exit switches (committed)."""
    problem = _name_problem(name)
    if problem:
        raise SequenceRefused(problem)
    sequence = Sequence(
        tenant_id=tenant_id,
        name=name.strip(),
        description=description.strip(),
        status="draft",
        entry_rules={},
        exit_rules=dict(DEFAULT_EXIT_RULES),
        created_by=actor.id,
    )
    db.session.add(sequence)
    db.session.flush()
    activity.record(
        "sequence_created",
        tenant_id=tenant_id,
        sequence_id=sequence.id,
        actor_id=actor.id,
        data={"name": sequence.name},
    )
    db.session.commit()
    return sequence


def details_problems(name: str, priority: int | None, daily_enrollment_cap: int | None) -> dict[str, str]:
    """What is wrong with a sequence's details, by field (``name``, ``priority``, ``daily_enrollment_cap``);
    empty when they may be saved. No cap (None) is allowed."""
    problems = {}
    if problem := _name_problem(name):
        problems["name"] = problem
    if priority is None or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        problems["priority"] = f"Enter a whole number from {MIN_PRIORITY} to {MAX_PRIORITY:,}."
    if daily_enrollment_cap is not None and not 1 <= daily_enrollment_cap <= MAX_DAILY_CAP:
        problems["daily_enrollment_cap"] = (
            f"Leave it empty for no cap, or enter a whole number from 1 to {MAX_DAILY_CAP:,}."
        )
    return problems


def update_details(
    sequence: Sequence,
    name: str,
    description: str,
    *,
    priority: int,
    daily_enrollment_cap: int | None,
    actor: User,
) -> None:
    """Change the name, description, priority and daily enrollment cap (committed).

    Allowed while draft, active or paused: none of these touch the steps, so enrollments in flight are
    safe. Refused for an archived sequence, and with the problems by field when a value is invalid.
    """
    if sequence.status == "archived":
        raise SequenceRefused("An archived sequence can no longer be edited.")
    problems = details_problems(name, priority, daily_enrollment_cap)
    if problems:
        raise SequenceRefused(list(problems.values()))
    changes = {}
    if sequence.priority != priority:
        changes["priority"] = {"from": sequence.priority, "to": priority}
    if sequence.daily_enrollment_cap != daily_enrollment_cap:
        changes["daily_enrollment_cap"] = {"from": sequence.daily_enrollment_cap, "to": daily_enrollment_cap}
    sequence.name, sequence.description = name.strip(), description.strip()
    sequence.priority, sequence.daily_enrollment_cap = priority, daily_enrollment_cap
    _record(sequence, "sequence_updated", actor, {"name": sequence.name, **changes})
    db.session.commit()


def duplicate_sequence(sequence: Sequence, *, actor: User) -> Sequence:
    """A draft copy with the same rules and steps, named "Copy of …" (committed)."""
    copy_ = Sequence(
        tenant_id=sequence.tenant_id,
        name=f"Copy of {sequence.name}"[:MAX_NAME_LENGTH],
        description=sequence.description,
        status="draft",
        entry_rules=copy.deepcopy(sequence.entry_rules),
        exit_rules=copy.deepcopy(sequence.exit_rules),
        priority=sequence.priority,
        daily_enrollment_cap=sequence.daily_enrollment_cap,
        send_window=copy.deepcopy(sequence.send_window),
        created_by=actor.id,
    )
    copy_.steps = [
        SequenceStep(
            tenant_id=step.tenant_id,
            step_order=step.step_order,
            channel=step.channel,
            delay_hours=step.delay_hours,
            delay_unit=step.delay_unit,
            delay_business_days=step.delay_business_days,
            template_id=step.template_id,
            requires_human_approval=step.requires_human_approval,
            conditions=copy.deepcopy(step.conditions),
            instructions=step.instructions,
            same_thread=step.same_thread,
            only_if_not_replied=step.only_if_not_replied,
            only_if_no_open_task=step.only_if_no_open_task,
            variants=copy.deepcopy(step.variants),
            auto_winner_min_sends=step.auto_winner_min_sends,
        )
        for step in sequence.steps
    ]
    db.session.add(copy_)
    db.session.flush()
    _record(copy_, "sequence_duplicated", actor, {"from": str(sequence.id)})
    db.session.commit()
    return copy_


# ---------------------------------------------------------------------------------------------------
# Lifecycle


def activation_problems(sequence: Sequence, tenant: Tenant) -> list[str]:
    """Every reason ``sequence`` may not run under ``tenant``'s policy; empty when it may be activated."""
    problems: list[str] = []
    steps = list(sequence.steps)
    max_steps = tenant.policy_value("max_steps")
    max_span_days = tenant.policy_value("max_span_days")
    if not steps:
        problems.append("The sequence has no steps: add at least one.")
    elif len(steps) > max_steps:
        problems.append(f"It has {len(steps)} steps; the limit is {max_steps} steps per sequence.")
    span_hours = sum(nominal_delay_hours(step) for step in steps)
    if span_hours > max_span_days * 24:
        problems.append(
            f"Its steps span {format_days(span_hours)} days; the limit is {max_span_days} days from enrollment to the last step."
        )
    keys = _template_keys(sequence.tenant_id)
    for step in steps:
        if step.channel != "email":
            continue
        if not step.template_id:
            problems.append(f"Step {step.step_order} (email) has no template.")
        elif step.template_id not in keys:
            problems.append(
                f"Step {step.step_order} uses the template '{step.template_id}', which does not exist."
            )
        for index, variant in enumerate(step.variants or []):
            if index and variant["template_id"] not in keys:
                problems.append(
                    f"Step {step.step_order}, variant {'ABCD'[index]} uses the template "
                    f"'{variant['template_id']}', which does not exist."
                )
    problems += [f"Entry rules: {e}" for e in rules.validate(sequence.entry_rules or {}, kind="entry")]
    problems += [f"Exit rules: {e}" for e in rules.validate(sequence.exit_rules or {}, kind="exit")]
    for step in steps:
        problems += [
            f"Step {step.step_order} conditions: {e}"
            for e in rules.validate(step.conditions or {}, kind="condition")
        ]
    return problems


def change_status(sequence: Sequence, new_status: str, *, actor: User) -> None:
    """Move ``sequence`` to ``new_status`` and commit, or raise ``SequenceRefused`` naming each problem.

    Activation re-runs every check; pausing holds the enrollments (the engine leaves a paused sequence's
    enrollments where they are); archiving exits the live enrollments at once.
    """
    lock_sequence(sequence)
    action = TRANSITIONS.get((sequence.status, new_status))
    if action is None:
        article = "An" if sequence.status[0] in "aeiou" else "A"
        raise SequenceRefused(f"{article} {sequence.status} sequence cannot become {new_status}.")
    if action == "activate":
        tenant = db.session.get(Tenant, sequence.tenant_id)
        problems = activation_problems(sequence, tenant)
        if problems:
            raise SequenceRefused(problems)
    old_status = sequence.status
    sequence.status = new_status
    exited = _exit_live_enrollments(sequence, actor) if action == "archive" else 0
    type_ = {"activate": "sequence_activated", "pause": "sequence_paused", "archive": "sequence_archived"}[
        action
    ]
    if action == "activate" and old_status == "paused":
        type_ = "sequence_resumed"
    _record(sequence, type_, actor, {"from": old_status, "exited_enrollments": exited})
    db.session.commit()


def _exit_live_enrollments(sequence: Sequence, actor: User) -> int:
    """Exit every active or paused enrollment of an archived sequence through the one exit path."""
    now = clock.now()
    live = db.session.scalars(
        sa.select(Enrollment)
        .where(Enrollment.sequence_id == sequence.id, Enrollment.status.in_(LIVE_STATUSES))
        .with_for_update()
    ).all()
    return sum(exit_enrollment(e, "sequence_archived", actor_id=actor.id, now=now) for e in live)


# ---------------------------------------------------------------------------------------------------
# Rules


def update_entry_rules(sequence: Sequence, rule: dict, *, actor: User) -> list[str]:
    """Save the entry rule when valid (committed); otherwise return its errors and change nothing."""
    require_editable(sequence)
    errors = rules.validate(rule, kind="entry")
    if errors:
        return errors
    sequence.entry_rules = rule
    _record(sequence, "sequence_rules_changed", actor, {"entry_rules": rule})
    db.session.commit()
    return []


def update_exit_rules(sequence: Sequence, switches: dict, *, actor: User) -> list[str]:
    """Save the exit switches when valid (committed); otherwise return their errors."""
    require_editable(sequence)
    merged = {**DEFAULT_EXIT_RULES, **switches}
    errors = rules.validate(merged, kind="exit")
    if errors:
        return errors
    sequence.exit_rules = merged
    _record(sequence, "sequence_rules_changed", actor, {"exit_rules": merged})
    db.session.commit()
    return []


def matching_lead_count(tenant_id: uuid.UUID, rule: dict, *, now: datetime | None = None) -> int:
    """How many of the tenant's leads the (valid) rule matches right now."""
    condition = rules.compile_filter(rule, now=now or clock.now())
    # count(*), not count(id): an index on the rule's columns then answers it without reading the leads.
    return db.session.scalar(sa.select(sa.func.count()).where(Lead.tenant_id == tenant_id, condition)) or 0


# ---------------------------------------------------------------------------------------------------
# The list and the schedule


@dataclass(frozen=True)
class SequenceRow:
    sequence: Sequence
    step_count: int
    span_hours: int
    active_enrollments: int
    paused_enrollments: int


def sequence_overview(tenant_id: uuid.UUID, status: str = "") -> list[SequenceRow]:
    """The tenant's sequences, most recently updated first, with step and enrollment figures (3 queries)."""
    stmt = sa.select(Sequence).where(Sequence.tenant_id == tenant_id)
    if status:
        stmt = stmt.where(Sequence.status == status)
    sequences = db.session.scalars(stmt.order_by(Sequence.updated_at.desc(), Sequence.name)).all()
    ids = [s.id for s in sequences]
    if not ids:
        return []
    steps = {
        row.sequence_id: (row.n, row.span or 0)
        for row in db.session.execute(
            sa.select(
                SequenceStep.sequence_id,
                sa.func.count(SequenceStep.id).label("n"),
                sa.func.sum(SequenceStep.delay_hours + 24 * SequenceStep.delay_business_days).label("span"),
            )
            .where(SequenceStep.sequence_id.in_(ids))
            .group_by(SequenceStep.sequence_id)
        )
    }
    live: dict[tuple[uuid.UUID, str], int] = {
        (row.sequence_id, row.status): row.n
        for row in db.session.execute(
            sa.select(Enrollment.sequence_id, Enrollment.status, sa.func.count().label("n"))
            .where(Enrollment.sequence_id.in_(ids), Enrollment.status.in_(("active", "paused")))
            .group_by(Enrollment.sequence_id, Enrollment.status)
        )
    }
    return [
        SequenceRow(
            sequence=s,
            step_count=steps.get(s.id, (0, 0))[0],
            span_hours=int(steps.get(s.id, (0, 0))[1]),
            active_enrollments=live.get((s.id, "active"), 0),
            paused_enrollments=live.get((s.id, "paused"), 0),
        )
        for s in sequences
    ]


def format_days(hours: int) -> str:
    """Hours as days for people: 48 → "2", 36 → "1.5", 30 → "1.25"."""
    return f"{hours / 24:.2f}".rstrip("0").rstrip(".")


def nominal_delay_hours(step: SequenceStep) -> int:
    """A step's delay in hours for spans and summaries, a business day counted as a day (the real wait,
    over weekends and holidays, is longer: ``engine.schedule.delay_ends_at``)."""
    return step.delay_business_days * 24 if step.delay_unit == "business_days" else step.delay_hours


def describe_delay(hours: int, *, first: bool, business_days: int | None = None) -> str:
    """ "2 days after the previous step", "Right at enrollment", "1 day 6 hours after enrollment",
    "3 business days after the previous step" (with ``business_days``)."""
    anchor = "enrollment" if first else "the previous step"
    if business_days:
        return f"{business_days} business day{'s' if business_days != 1 else ''} after {anchor}"
    if hours == 0:
        return "Right at enrollment" if first else "Right after the previous step"
    days, rest = divmod(hours, 24)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if rest:
        parts.append(f"{rest} hour{'s' if rest != 1 else ''}")
    return f"{' '.join(parts)} after {anchor}"


def schedule_summary(steps: list[SequenceStep], template_names: dict[str, str]) -> str:
    """One line: "Day 0 email 'Intro' · Day 2 call reminder · … · ends day 12"."""
    if not steps:
        return "No steps yet."
    parts = []
    hours = 0
    for step in steps:
        hours += nominal_delay_hours(step)
        label = CHANNEL_LABELS[step.channel].lower()
        if step.channel == "email" and step.template_id:
            label += f" ‘{template_names.get(step.template_id, step.template_id)}’"
        parts.append(f"Day {format_days(hours)} {label}")
    return " · ".join(parts) + f" · ends day {format_days(hours)}"


def template_names(tenant_id: uuid.UUID) -> dict[str, str]:
    """The tenant's template keys and their names."""
    rows = db.session.execute(
        sa.select(EmailTemplate.key, EmailTemplate.name)
        .where(EmailTemplate.tenant_id == tenant_id)
        .order_by(EmailTemplate.name)
    )
    return {row.key: row.name for row in rows}


def _template_keys(tenant_id: uuid.UUID) -> set[str]:
    return set(db.session.scalars(sa.select(EmailTemplate.key).where(EmailTemplate.tenant_id == tenant_id)))


def _record(sequence: Sequence, type_: str, actor: User, data: dict | None = None) -> None:
    activity.record(
        type_, tenant_id=sequence.tenant_id, sequence_id=sequence.id, actor_id=actor.id, data=data or {}
    )
