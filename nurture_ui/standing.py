"""A lead's standing — its status, do-not-contact, unsubscribed — and the one function that changes it.

Every door that can change a lead's standing (the lead's edit form, the events API, a CSV import, the
"log conversion" button, an unsubscribe link or reply) calls ``change_standing``. It sets the fields and,
in the caller's transaction, makes the change take effect at once: enrollments exit, unsent emails
(queued, held back by ``send_after``, approved, awaiting approval) are cancelled, open tasks are closed,
and the change is logged. Nothing waits for the engine's next step to notice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from nurture_ui import activity, clock, lifecycle
from nurture_ui.extensions import db
from nurture_ui.models import DEFAULT_EXIT_RULES, Enrollment, Lead, OutboundMessage, Sequence

# The lead fields whose change has effects beyond the field itself.
STANDING_FIELDS = ("status", "do_not_contact")
# A final status and the sequence exit rule that decides whether it ends an enrollment.
FINAL_STATUS_RULES = {"converted": "conversion", "disqualified": "disqualification"}
_STATUS_ACTIVITIES = {"converted": "lead_converted", "disqualified": "lead_disqualified"}


@dataclass
class StandingChange:
    """What ``change_standing`` did: the fields it changed (``{name: (old, new)}``), the enrollments it
    ended (their unsent emails cancelled with them) and how many other unsent emails it cancelled."""

    lead: Lead
    changed: dict[str, tuple] = field(default_factory=dict)
    exited: list[Enrollment] = field(default_factory=list)
    cancelled_messages: int = 0


def exit_rule_on(exit_rules: dict | None, rule: str) -> bool:
    """Whether a sequence's exit rule is on; missing keys take the product default."""
    return bool((exit_rules or {}).get(rule, DEFAULT_EXIT_RULES.get(rule)))


def change_standing(
    lead: Lead,
    *,
    source: str,
    status: str | None = None,
    do_not_contact: bool | None = None,
    unsubscribed: bool | None = None,
    actor_id: uuid.UUID | None = None,
    now: datetime | None = None,
    data: dict | None = None,
) -> StandingChange:
    """Change the lead's standing and make it take effect now, inside the caller's transaction (never
    commits). ``None`` leaves a field as it is; a field set to the value it has does nothing.

    - status → converted / disqualified: logged (``lead_converted`` / ``lead_disqualified``); every
      enrollment whose sequence has the ``conversion`` / ``disqualification`` exit rule on exits (its unsent
      emails cancelled, open tasks closed), and unsent emails of such sequences' ended enrollments are
      cancelled too (the last step's email of a completed one).
    - any other status (e.g. back from converted): set, nothing exits; the door's edit record logs it.
    - do_not_contact on, or unsubscribed: every enrollment exits whatever its rules say and every unsent
      email to the lead is cancelled. Unsubscribing is logged (``lead_unsubscribed``), and so is
      resubscribing (``lead_resubscribed``); do-not-contact is a field of the edit the door logs.

    ``source`` (form, api, csv, lead page, link, reply…) and ``data`` go into the activities.
    """
    now = now or clock.now()
    change = StandingChange(lead=lead)
    context = {"source": source, **(data or {})}

    if status is not None and status != lead.status:
        change.changed["status"] = (lead.status, status)
        lead.status = status
        if status in FINAL_STATUS_RULES:
            activity.record(
                _STATUS_ACTIVITIES[status],
                tenant_id=lead.tenant_id,
                lead_id=lead.id,
                actor_id=actor_id,
                occurred_at=now,
                data={"previous_status": change.changed["status"][0], **context},
            )
            _stop_for_rule(change, FINAL_STATUS_RULES[status], reason=status, actor_id=actor_id, now=now)

    if do_not_contact is not None and do_not_contact != lead.do_not_contact:
        change.changed["do_not_contact"] = (lead.do_not_contact, do_not_contact)
        lead.do_not_contact = do_not_contact
        if do_not_contact:
            _stop_everything(change, "do_not_contact", actor_id=actor_id, now=now, data=data)

    if unsubscribed is not None and unsubscribed != (lead.unsubscribed_at is not None):
        change.changed["unsubscribed"] = (not unsubscribed, unsubscribed)
        lead.unsubscribed_at = now if unsubscribed else None
        activity.record(
            "lead_unsubscribed" if unsubscribed else "lead_resubscribed",
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            actor_id=actor_id,
            occurred_at=now,
            data=context,
        )
    if lead.unsubscribed_at is not None and unsubscribed:
        # Also when already unsubscribed: an opt-out repeated is a stop repeated, and stops are idempotent.
        _stop_everything(change, "unsubscribed", actor_id=actor_id, now=now, data=data)
    return change


def _stop_for_rule(change: StandingChange, rule: str, *, reason: str, actor_id, now, data=None) -> None:
    lead = change.lead
    for enrollment in lifecycle.live_enrollments(lead.id, lock=True):
        if exit_rule_on(enrollment.sequence.exit_rules, rule) and lifecycle.exit_enrollment(
            enrollment, reason, actor_id=actor_id, now=now, data=data
        ):
            change.exited.append(enrollment)
    stopped_sequences = [
        sequence_id
        for sequence_id, exit_rules in db.session.execute(
            sa.select(Sequence.id, Sequence.exit_rules)
            .join(OutboundMessage, OutboundMessage.sequence_id == Sequence.id)
            .where(
                OutboundMessage.lead_id == lead.id,
                OutboundMessage.status.in_(lifecycle.CANCELLABLE_MESSAGE_STATUSES),
            )
            .distinct()
        )
        if exit_rule_on(exit_rules, rule)
    ]
    if stopped_sequences:
        change.cancelled_messages += _cancel_unsent(
            lead, f"lead {reason}", now, OutboundMessage.sequence_id.in_(stopped_sequences)
        )


def _stop_everything(change: StandingChange, reason: str, *, actor_id, now, data=None) -> None:
    change.exited += lifecycle.exit_live_enrollments(
        change.lead.id, reason, actor_id=actor_id, now=now, data=data
    )
    change.cancelled_messages += _cancel_unsent(change.lead, f"lead {reason.replace('_', ' ')}", now)


def _cancel_unsent(lead: Lead, error: str, now: datetime, *where) -> int:
    """Cancel the lead's emails that have not left (those of exited enrollments are already cancelled;
    these are the rest, e.g. a completed enrollment's last email). Returns how many."""
    result = db.session.execute(
        sa.update(OutboundMessage)
        .where(
            OutboundMessage.lead_id == lead.id,
            OutboundMessage.status.in_(lifecycle.CANCELLABLE_MESSAGE_STATUSES),
            *where,
        )
        .values(status="cancelled", error=error, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
