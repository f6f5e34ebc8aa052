"""A/B variants of an email step: what they are, when they may be saved, and which one an enrollment gets.

An email step may hold two to four variants, each a template, an optional subject that replaces the
template's, and a fixed weight in percent (the weights add up to 100; an equal split by default). Variant A
is the first; its template is also the step's ``template_id``, so everything that reads a step's template
(activation checks, previews, the timeline) keeps working.

The draw is deterministic: ``draw_variant`` hashes the enrollment's and the step's ids onto the weights, so an
enrollment gets the same variant however often its step is retried or re-run. Once a winner is declared
(``nurture_ui.variant_results``), every new draw gets the winner. The message row records the letter it was
drawn for (``OutboundMessage.variant``), and so does the step's ``nurture_step_executed`` activity.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate, SequenceStep

LETTERS = "ABCD"
MIN_VARIANTS, MAX_VARIANTS = 2, 4
MAX_SUBJECT = 255
DEFAULT_MIN_SENDS = 100
MAX_MIN_SENDS = 1_000_000


@dataclass
class VariantInput:
    """One variant as a person typed it: ``weight`` None means "my share of an equal split"."""

    template_id: str = ""
    subject: str = ""
    weight: int | None = None


def letter(index: int) -> str:
    return LETTERS[index]


def equal_weights(count: int) -> list[int]:
    """Whole percents as equal as they go, the first ones rounded up: 2 → 50/50, 3 → 34/33/33."""
    base, extra = divmod(100, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def variant_errors(tenant_id: uuid.UUID, variants: list[VariantInput]) -> dict[str, list[str]]:
    """Field-level problems: ``{"variants": [...], "variant-0-template_id": [...], "variant-1-weight": ...}``;
    empty when the variants may be saved (no variants at all is always fine)."""
    from nurture_ui.templating import check_source

    if not variants:
        return {}
    errors: dict[str, list[str]] = {}
    if len(variants) < MIN_VARIANTS:
        errors["variants"] = ["An A/B test needs at least two variants: add one, or stop the test."]
    elif len(variants) > MAX_VARIANTS:
        errors["variants"] = [f"Use at most {MAX_VARIANTS} variants."]
    keys = set(
        db.session.scalars(
            sa.select(EmailTemplate.key).where(
                EmailTemplate.tenant_id == tenant_id,
                EmailTemplate.key.in_({v.template_id for v in variants if v.template_id}),
            )
        )
    )
    for index, variant in enumerate(variants[:MAX_VARIANTS]):
        name = f"Variant {letter(index)}"
        if not variant.template_id:
            errors[f"variant-{index}-template_id"] = [f"{name}: choose a template."]
        elif variant.template_id not in keys:
            errors[f"variant-{index}-template_id"] = [
                f"{name}: there is no template '{variant.template_id}'."
            ]
        subject = (variant.subject or "").strip()
        if len(subject) > MAX_SUBJECT:
            errors[f"variant-{index}-subject"] = [f"{name}: use at most {MAX_SUBJECT} characters."]
        elif subject:
            problems = check_source(subject, "Subject")
            if problems:
                errors[f"variant-{index}-subject"] = [f"{name}: {p}" for p in problems]
        if variant.weight is not None and not 1 <= variant.weight <= 99:
            errors[f"variant-{index}-weight"] = [f"{name}: the weight is a whole percent from 1 to 99."]
    weights = [v.weight for v in variants]
    if "variants" not in errors and any(w is not None for w in weights):
        if any(w is None for w in weights):
            errors.setdefault("variants", []).append("Give every variant a weight, or leave them all empty.")
        elif sum(weights) != 100:
            errors.setdefault("variants", []).append(
                f"The weights add up to {sum(weights)}%; they must add up to 100%."
            )
    return errors


def stored_variants(variants: list[VariantInput]) -> list[dict]:
    """The step's ``variants`` column for valid input: empty weights become an equal split."""
    if not variants:
        return []
    weights = [v.weight for v in variants]
    if any(w is None for w in weights):
        weights = equal_weights(len(variants))
    return [
        {"template_id": v.template_id, "subject": (v.subject or "").strip(), "weight": w}
        for v, w in zip(variants, weights, strict=True)
    ]


def draw_variant(enrollment_id: uuid.UUID, step_id: uuid.UUID, weights: list[int]) -> int:
    """The index of the variant ``enrollment_id`` gets at ``step_id``: a point in [0, 100) from a hash of
    the two ids, placed on the weights. The same ids and weights always give the same variant."""
    digest = hashlib.sha256(f"{enrollment_id}:{step_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") * 100 / 2**64
    total = 0
    for index, weight in enumerate(weights):
        total += weight
        if point < total:
            return index
    return len(weights) - 1


def variant_for(step: SequenceStep, enrollment_id: uuid.UUID) -> tuple[str, dict] | None:
    """``(letter, variant)`` an enrollment gets at ``step``: the declared winner, else its weighted draw;
    None for a step without variants."""
    variants = step.variants or []
    if not variants:
        return None
    if step.winner_variant and step.winner_variant in LETTERS[: len(variants)]:
        index = LETTERS.index(step.winner_variant)
    else:
        index = draw_variant(enrollment_id, step.id, [int(v["weight"]) for v in variants])
    return letter(index), variants[index]


@dataclass(frozen=True)
class VariantTemplate:
    """A template with a variant's subject in place of its own (what the renderer and drafters read)."""

    key: str
    name: str
    subject: str
    body: str
    pre_approved: bool


def with_subject(template: EmailTemplate, subject: str) -> EmailTemplate | VariantTemplate:
    """``template``, or a copy of it whose subject is ``subject`` when the variant overrides it."""
    if not subject:
        return template
    return VariantTemplate(template.key, template.name, subject, template.body, template.pre_approved)


def template_keys(step: SequenceStep) -> set[str]:
    """Every template key the step uses: its own and its variants'."""
    keys = {step.template_id} if step.template_id else set()
    return keys | {v["template_id"] for v in step.variants or [] if v.get("template_id")}
