"""The step form's A/B variant rows: read from the posted form, added and removed through the server.

Rows are posted as ``variant-count`` and ``variant-<i>-template_id`` / ``-subject`` / ``-weight``; the auto-winner
as ``auto_winner`` (a checkbox) and ``auto_winner_min_sends``. The row buttons post the whole form with a
``variant_action`` (``start``, ``add``, ``remove:<i>``, ``stop``) and get the form back with the rows changed,
nothing saved.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from nurture_ui.variants import DEFAULT_MIN_SENDS, MAX_VARIANTS, VariantInput, equal_weights


@dataclass
class VariantRows:
    """What the variant part of the form holds, and the problems found reading it."""

    rows: list[VariantInput] = field(default_factory=list)
    auto_winner: bool = False
    min_sends: int | None = DEFAULT_MIN_SENDS
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def auto_winner_min_sends(self) -> int | None:
        return (self.min_sends or DEFAULT_MIN_SENDS) if self.auto_winner and self.rows else None


def _whole(text: str) -> int | None | str:
    text = (text or "").strip().rstrip("%").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return "bad"


def rows_from_form(form) -> VariantRows:
    """The variant rows and auto-winner setting as posted (weights that are not whole numbers are errors)."""
    result = VariantRows()
    try:
        count = min(int(form.get("variant-count", "0")), MAX_VARIANTS + 1)
    except ValueError:
        count = 0
    for index in range(max(count, 0)):
        prefix = f"variant-{index}-"
        weight = _whole(form.get(prefix + "weight", ""))
        if weight == "bad":
            result.errors[prefix + "weight"] = [f"Variant {'ABCDE'[index]}: the weight is a whole percent."]
            weight = None
        result.rows.append(
            VariantInput(
                template_id=form.get(prefix + "template_id", "").strip(),
                subject=form.get(prefix + "subject", ""),
                weight=weight,
            )
        )
    result.auto_winner = bool(form.get("auto_winner"))
    minimum = _whole(form.get("auto_winner_min_sends", ""))
    if minimum == "bad":
        result.errors["auto_winner_min_sends"] = ["The minimum is a whole number of sends from 10."]
        minimum = None
    result.min_sends = minimum
    return result


def rows_from_step(step) -> VariantRows:
    """The rows of a saved step (for its edit form)."""
    rows = [
        VariantInput(v["template_id"], v.get("subject") or "", int(v["weight"])) for v in step.variants or []
    ]
    return VariantRows(
        rows, step.auto_winner_min_sends is not None, step.auto_winner_min_sends or DEFAULT_MIN_SENDS
    )


def apply_action(variants: VariantRows, action: str, template_id: str) -> VariantRows:
    """The rows after a row button: ``start`` (two variants, A with the step's template), ``add`` (up to
    four), ``remove:<i>``, ``stop`` (back to one template). Adding or removing splits the weights equally."""
    rows = list(variants.rows)
    if action == "start":
        rows = [VariantInput(template_id or ""), VariantInput("")]
    elif action == "add" and len(rows) < MAX_VARIANTS:
        rows.append(VariantInput(""))
    elif action.startswith("remove:"):
        with contextlib.suppress(ValueError, IndexError):
            del rows[int(action.split(":", 1)[1])]
    elif action == "stop":
        rows = []
    if action != "stop" and rows:
        for row, weight in zip(rows, equal_weights(len(rows)), strict=True):
            row.weight = weight
    return VariantRows(rows, variants.auto_winner, variants.min_sends or DEFAULT_MIN_SENDS)
