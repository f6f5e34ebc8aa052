"""Why an enrollment must stop, whether a lead may be mailed now, and whether a step's conditions hold.

``may_mail`` (its halves ``send_refusal`` and ``send_hold``) is the one stop decision (DESIGN.md §8): the
executor asks it when a step runs, approval when a person approves a draft, the outbox before a person sends an
email again, and the sender (``nurture_ui.engine.presend``, the same rules for a whole group of emails at
once) right before an email is handed to SMTP.

The stops are checked in the order DESIGN.md gives, before every step. Step conditions are rules in the JSON
rule language, evaluated by ``nurture_ui.rules.evaluate``; until that module exists, an empty condition holds
and any other condition is treated as false (the step is skipped), so nothing runs on a rule nobody checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from nurture_ui.engine.schedule import send_window_for
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


def send_refusal(
    lead, sequence, *, enrollment_status: str, enrolled_on: datetime, replies: Iterable, now: datetime
) -> str | None:
    """Why ``lead`` may not be mailed now from its enrollment in ``sequence``, or None: an exit reason
    (``exit_reason``: do-not-contact, unsubscribed, undeliverable, converted, disqualified, a positive or
    opt-out reply, …), else ``enrollment_exited`` when the enrollment has already ended that way.

    A completed enrollment may still be mailed: its last step's email is queued as it completes.
    """
    reason = exit_reason(lead, sequence, enrolled_on=enrolled_on, replies=replies, now=now)
    if reason is None and enrollment_status == "exited":
        return "enrollment_exited"
    return reason


@dataclass(frozen=True)
class SendHold:
    """Not now: the email may go from ``until`` (``reason``: frequency_cap, send_window, spacing,
    daily_limit)."""

    until: datetime
    reason: str


def cap_ends(last_sent: datetime | None, tenant) -> datetime | None:
    """When the tenant's frequency cap, counted from the lead's last email ``last_sent``, lets another go."""
    if last_sent is None:
        return None
    return last_sent + timedelta(hours=int(tenant.policy_value("frequency_cap_hours")))


def send_hold(
    *,
    last_sent: datetime | None,
    tenant,
    lead_timezone: str | None,
    now: datetime,
    window: bool = True,
    sequence=None,
) -> SendHold | None:
    """When an email to a lead last emailed at ``last_sent`` may go, if not now: after the frequency cap,
    at the next opening of the send window. With ``window`` an instant outside the send window holds too
    (the executor and approval); without it (the sender, whose email the executor queued inside the window)
    only the cap does, and its end still moves into the window. The window is ``sequence``'s
    (``send_window_for``): its own when it has one, else the tenant's, shut on holidays."""
    schedule = send_window_for(tenant, sequence)
    ends = cap_ends(last_sent, tenant)
    if ends is not None and now < ends:
        return SendHold(schedule.opening(ends, lead_timezone), "frequency_cap")
    if window and not schedule.is_open(now, lead_timezone):
        return SendHold(schedule.opening(now, lead_timezone), "send_window")
    return None


@dataclass(frozen=True)
class MailDecision:
    """Whether a lead may be mailed now: ``stop`` (never, with why), ``hold`` (later), or neither (now)."""

    stop: str | None = None
    hold: SendHold | None = None

    @property
    def now(self) -> bool:
        return self.stop is None and self.hold is None


def may_mail(
    lead,
    sequence,
    *,
    enrollment_status: str,
    enrolled_on: datetime,
    replies: Iterable,
    last_sent: datetime | None,
    tenant,
    now: datetime,
    window: bool = True,
) -> MailDecision:
    """The one stop decision: whether ``lead`` may be mailed now from its enrollment in ``sequence``.

    ``send_refusal`` first (a stop is final), then ``send_hold`` (the frequency cap from ``last_sent``, the
    lead's last email to go out, and with ``window`` the send window)."""
    stop = send_refusal(
        lead, sequence, enrollment_status=enrollment_status, enrolled_on=enrolled_on, replies=replies, now=now
    )
    if stop is not None:
        return MailDecision(stop=stop)
    hold = send_hold(
        last_sent=last_sent,
        tenant=tenant,
        lead_timezone=lead.timezone,
        now=now,
        window=window,
        sequence=sequence,
    )
    return MailDecision(hold=hold)


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
