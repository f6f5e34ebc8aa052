"""Why an enrollment must stop, and whether a step's conditions hold: the engine's re-check of one lead.

The stops are checked in the order DESIGN.md gives, before every step. Step conditions are rules in the JSON
rule language, evaluated by ``nurture_ui.rules.evaluate``; until that module exists, an empty condition holds
and any other condition is treated as false (the step is skipped), so nothing runs on a rule nobody checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from nurture_ui.models import DEFAULT_EXIT_RULES

# The exit reasons an enrollment can carry; the UI may translate them.
EXIT_REASONS = (
    "do_not_contact",
    "unsubscribed",
    "undeliverable",
    "converted",
    "disqualified",
    "positive_reply",
    "negative_reply",
    "replied",
    "inactive",
    "sequence_archived",
)


def exit_reason(lead, sequence, *, enrolled_on: datetime, replies: Iterable, now: datetime) -> str | None:
    """The reason the enrollment of ``lead`` in ``sequence`` must exit now, or None to go on.

    ``replies`` are the lead's replies (any order); only those received since ``enrolled_on`` count, and
    not one waiting in the triage queue: its sentiment is a guess nobody confirmed (the enrollment waits
    for it instead, see ``nurture_ui.triage``). Do-not-contact, unsubscribe and a hard bounce always stop;
    the rest follow the sequence's exit rules.
    """
    rules = {**DEFAULT_EXIT_RULES, **(sequence.exit_rules or {})}
    recent = [
        r for r in replies if enrolled_on <= r.received_at <= now and getattr(r, "triage", None) != "pending"
    ]
    if lead.do_not_contact:
        return "do_not_contact"
    if lead.unsubscribed_at is not None or any(r.sentiment == "unsubscribe" for r in recent):
        return "unsubscribed"
    if lead.undeliverable:
        return "undeliverable"
    if rules.get("conversion") and lead.status == "converted":
        return "converted"
    if rules.get("disqualification") and lead.status == "disqualified":
        return "disqualified"
    if rules.get("positive_reply") and any(r.sentiment == "positive" for r in recent):
        return "positive_reply"
    if rules.get("negative_reply") and any(r.sentiment == "negative" for r in recent):
        return "negative_reply"
    if rules.get("any_reply") and any(r.sentiment != "out_of_office" for r in recent):
        return "replied"
    inactivity_days = rules.get("inactivity_days")
    if inactivity_days:
        last_engaged = max(filter(None, (lead.last_engaged_at, enrolled_on)))
        if now - last_engaged >= timedelta(days=int(inactivity_days)):
            return "inactive"
    if sequence.status == "archived":
        return "sequence_archived"
    return None


def step_conditions_hold(conditions: dict | None, lead, *, now: datetime, replies: list) -> bool:
    """Whether a step's ``conditions`` hold for ``lead``; an empty condition always holds."""
    if not conditions:
        return True
    try:
        from nurture_ui.rules import evaluate
    except ModuleNotFoundError as error:
        if error.name != "nurture_ui.rules":
            raise
        # No rule engine yet: refuse to run a step on a condition nobody evaluated.
        return False
    return bool(evaluate(conditions, lead, now=now, replies=replies))
