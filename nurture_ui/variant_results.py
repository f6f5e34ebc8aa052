"""How the variants of an A/B step do, and the auto-winner that stops a test once one clearly wins.

A variant's figures count the step's *sent* emails drawn for it (``OutboundMessage.variant``):

- sent: those emails
- replied: those whose lead sent a conversation reply (positive, neutral or negative) after the email went
  and before the enrollment's next step ran — the page credits every reply to the last step that ran. A reply
  after the enrollment ended counts too: the last email of a sequence is answered after it completes
- positive: the same with a positive reply
- converted: those whose lead has converted since

The auto-winner (a step's ``auto_winner_min_sends``) is checked right after every engine batch that drew
variants for the step, at most once a minute per step (a conditional update of ``winner_checked_at`` claims
the check, in its own short transaction after the batch's commit, so parallel batches never wait on the
step's row for long, and a batch without an A/B step pays nothing). Once every variant has at least that many sends and the best reply rate beats every
other at 95% (``ab_stats.compare``), the step records the winner, when and on what figures, and an
``ab_winner_declared`` activity says why; from then on every new draw gets the winner.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from nurture_ui import activity
from nurture_ui.ab_stats import Arm, Comparison, compare, p_text, wilson_interval
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, LeadReply, OutboundMessage, SequenceStep
from nurture_ui.variants import DEFAULT_MIN_SENDS, letter

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(minutes=1)
CONVERSATION = ("positive", "neutral", "negative")  # as nurture_ui.signals.CONVERSATION (no import cycle)


@dataclass
class VariantFigures:
    letter: str
    template_id: str
    subject: str
    weight: int
    sent: int = 0
    replied: int = 0
    positive: int = 0
    converted: int = 0

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.sent if self.sent else None

    @property
    def positive_rate(self) -> float | None:
        return self.positive / self.sent if self.sent else None

    @property
    def reply_interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.replied, self.sent)

    @property
    def positive_interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.positive, self.sent)


@dataclass
class StepTest:
    """One A/B step's variants and the verdict on their reply rates."""

    step: SequenceStep
    variants: list[VariantFigures]
    comparison: Comparison
    winner_figures: str = ""


def _reply_credited_to_step(m, sentiments):
    """EXISTS a reply of ``sentiments`` from the message's lead after it was sent, before any later step of
    the enrollment ran."""
    later = Activity.__table__.alias("later_run")
    later_step_ran = (
        sa.exists()
        .where(
            later.c.enrollment_id == m.enrollment_id,
            later.c.type == "nurture_step_executed",
            later.c.data["step"].as_integer() > m.step_order,
            sa.func.coalesce(later.c.data["outcome"].as_string(), "") != "skipped",
            later.c.occurred_at <= LeadReply.received_at,
        )
        .correlate_except(later)
    )
    return (
        sa.exists()
        .where(
            LeadReply.lead_id == m.lead_id,
            LeadReply.tenant_id == m.tenant_id,
            LeadReply.received_at >= m.sent_at,
            LeadReply.sentiment.in_(sentiments),
            ~later_step_ran,
        )
        .correlate_except(LeadReply)
    )


def _count_if(condition) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def variant_figures(step: SequenceStep, cohort=None) -> list[VariantFigures]:
    """The figures of each of ``step``'s variants (see the module), in one query; ``cohort``: an optional
    condition on ``Enrollment`` (the performance page's date range)."""
    figures = [
        VariantFigures(letter(i), v["template_id"], v.get("subject") or "", int(v["weight"]))
        for i, v in enumerate(step.variants or [])
    ]
    if not figures:
        return []
    m = OutboundMessage
    converted = m.lead_id.in_(
        sa.select(Lead.id).where(Lead.tenant_id == step.tenant_id, Lead.status == "converted")
    )
    query = (
        sa.select(
            m.variant,
            sa.func.count(),
            _count_if(_reply_credited_to_step(m, CONVERSATION)),
            _count_if(_reply_credited_to_step(m, ("positive",))),
            _count_if(converted),
        )
        .join(Enrollment, Enrollment.id == m.enrollment_id)
        .where(
            m.sequence_id == step.sequence_id,
            m.step_order == step.step_order,
            m.status == "sent",
            m.variant.is_not(None),
        )
        .group_by(m.variant)
    )
    if cohort is not None:
        query = query.where(cohort)
    by_letter = {f.letter: f for f in figures}
    for variant, sent, replied, positive, conversions in db.session.execute(query).all():
        if variant in by_letter:
            f = by_letter[variant]
            f.sent, f.replied, f.positive, f.converted = map(int, (sent, replied, positive, conversions))
    return figures


def step_test(step: SequenceStep, cohort=None) -> StepTest:
    """``step``'s variants with their figures, the verdict, and what its declared winner (if any) was declared on."""
    figures = variant_figures(step, cohort)
    comparison = compare([Arm(f.letter, f.sent, f.replied) for f in figures])
    return StepTest(step, figures, comparison, winner_figures=winner_figures(step))


def winner_figures(step: SequenceStep) -> str:
    """ " — reply rate 12.1% vs 6.3%, p = 0.004": what a declared winner was declared on ("" without one)."""
    if not step.winner_variant:
        return ""
    evidence = step.winner_evidence or {}
    rates = evidence.get("rates", {})
    mine = rates.get(step.winner_variant)
    others = [f"{rate * 100:.1f}%" for key, rate in sorted(rates.items()) if key != step.winner_variant]
    note = ""
    if mine is not None and others:
        note += f" — reply rate {mine * 100:.1f}% vs {', '.join(others)}"
    if evidence.get("p_value") is not None:
        note += f", {p_text(evidence['p_value'])}"
    return note


def check_winners(step_ids: Seq[uuid.UUID], now: datetime) -> list[SequenceStep]:
    """Check the auto-winner of each of these steps not checked in the last minute, and declare the winners
    found, each step in its own short transaction (committed). Returns the steps that got a winner."""
    declared = []
    for step_id in step_ids:
        step = _claim_check(step_id, now)
        if step is not None and check_winner(step, now):
            declared.append(step)
        db.session.commit()
    return declared


def _claim_check(step_id: uuid.UUID, now: datetime) -> SequenceStep | None:
    """Mark the step checked now, unless another worker did within the minute (then None)."""
    table = SequenceStep.__table__
    claimed = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == step_id,
            table.c.winner_variant.is_(None),
            sa.or_(table.c.winner_checked_at.is_(None), table.c.winner_checked_at <= now - CHECK_EVERY),
        )
        .values(winner_checked_at=now)
    ).rowcount
    if not claimed:
        db.session.rollback()
        return None
    step = db.session.get(SequenceStep, step_id)
    db.session.refresh(step)
    return step


def check_winner(step: SequenceStep, now: datetime) -> bool:
    """Declare ``step``'s winner when every variant has its minimum of sends and the best reply rate beats
    every other at 95%, inside the caller's transaction; True when it did."""
    if step.winner_variant or step.auto_winner_min_sends is None or len(step.variants or []) < 2:
        return False
    minimum = step.auto_winner_min_sends or DEFAULT_MIN_SENDS
    figures = variant_figures(step)
    if any(f.sent < minimum for f in figures):
        return False
    comparison = compare([Arm(f.letter, f.sent, f.replied) for f in figures])
    if not comparison.significant:
        return False
    evidence = {
        "sent": {f.letter: f.sent for f in figures},
        "replied": {f.letter: f.replied for f in figures},
        "rates": {f.letter: f.reply_rate for f in figures},
        "p_value": comparison.p_value,
        "min_sends": minimum,
        "because": comparison.sentence,
    }
    step.winner_variant = comparison.best
    step.winner_declared_at = now
    step.winner_evidence = evidence
    activity.record(
        "ab_winner_declared",
        tenant_id=step.tenant_id,
        sequence_id=step.sequence_id,
        occurred_at=now,
        data={"step": step.step_order, "variant": comparison.best, **evidence},
    )
    log.info("step %s: variant %s declared the winner (%s)", step.id, comparison.best, comparison.sentence)
    return True
