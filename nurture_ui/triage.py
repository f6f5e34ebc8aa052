"""The triage queue: replies the classifier was not sure about wait here for a person to sort them.

A reply classified with ``needs_person`` is stored with the classifier's best guess and ``triage="pending"``,
and the guess is not acted on: the lead's running enrollments pause (``reply_triage``) in the same
transaction. Nothing lifts that pause but a person's decision (``decide_triage``): the engine pauses a due
enrollment of a lead with a pending reply instead of running its step, the out-of-office job and a finished
task hand a lifted pause back to the triage pause, and a draft of such a lead cannot be approved. Once a
person decides, the sequences react exactly as if the reply had come in with that sentiment.

Everything here runs inside the caller's transaction (the door commits), like ``nurture_ui.signals``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from nurture_ui import activity, clock, lifecycle
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, LeadReply, User

TRIAGE_PAUSE = "reply_triage"
PENDING, DECIDED = "pending", "decided"

# A person's decision → the sentiment the reply then carries, and the words on its button.
DECISIONS = {
    "positive": "Positive",
    "negative": "Not interested",
    "unsubscribe": "Opt-out",
    "out_of_office": "Out of office",
    "neutral": "Other",
}


class TriageRefused(ValueError):
    """A decision that cannot be taken; ``str()`` says why, for the person who tried."""


def has_pending_reply(lead_id: uuid.UUID) -> bool:
    """Whether the lead has a reply waiting for a person to sort it (its enrollments must not move on)."""
    return (
        db.session.scalar(
            sa.select(LeadReply.id).where(LeadReply.lead_id == lead_id, LeadReply.triage == PENDING).limit(1)
        )
        is not None
    )


def hold_for_triage(
    lead: Lead, reply: LeadReply, *, actor_id: uuid.UUID | None = None, now: datetime
) -> list[Enrollment]:
    """Pause the lead's running enrollments (``reply_triage``) while ``reply`` waits for a person.

    Enrollments already paused for something else (a draft to approve, a task, out of office) keep their
    pause: whatever would lift it checks ``has_pending_reply`` first. Where the best guess (other than
    positive) would end the sequence by its exit rules, it ends now instead. Returns the enrollments it paused.
    """
    from nurture_ui.signals import reply_exit_reason

    paused = []
    for enrollment in lifecycle.live_enrollments(lead.id, lock=True):
        # A guess that would end the sequence ("not interested", or any reply where that rule is on) ends
        # it now: stopping is the safe side of a guess. A guessed positive only pauses (a wrong one must not
        # cost the lead its sequence). Either way a person still sorts the reply: an opt-out must reach the
        # lead's record, whatever the sequence did.
        stop = reply_exit_reason(enrollment.sequence.exit_rules, reply.sentiment)
        if stop and reply.sentiment != "positive":
            lifecycle.exit_enrollment(
                enrollment, stop, actor_id=actor_id, now=now, data={"reply_id": str(reply.id)}
            )
        elif enrollment.status == "active":
            _pause(enrollment, reply_id=reply.id, actor_id=actor_id, now=now)
            paused.append(enrollment)
    return paused


def hold_if_pending(
    enrollment: Enrollment, *, now: datetime, actor_id: uuid.UUID | None = None, came_from: str
) -> bool:
    """Put an enrollment that was about to go on (``came_from``: what would have resumed it) back on the
    triage pause when its lead has a reply waiting to be sorted. Returns True when it did."""
    reply_id = _pending_reply_id(enrollment.lead_id)
    if reply_id is None:
        return False
    _pause(enrollment, reply_id=reply_id, actor_id=actor_id, now=now, came_from=came_from)
    return True


def _pause(
    enrollment: Enrollment, *, reply_id, actor_id, now: datetime, came_from: str | None = None
) -> None:
    # The due time is kept: when the pause is lifted the step is due when it was, or at once if that passed.
    enrollment.status, enrollment.pause_reason, enrollment.resume_on = "paused", TRIAGE_PAUSE, None
    enrollment.lease_until = None
    activity.record_for_enrollment(
        "nurture_paused",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data={
            "reason": TRIAGE_PAUSE,
            "reply_id": str(reply_id),
            "step": enrollment.current_step_order,
            **({"instead_of": came_from} if came_from else {}),
        },
    )


def _pending_reply_id(lead_id: uuid.UUID) -> uuid.UUID | None:
    return db.session.scalar(
        sa.select(LeadReply.id)
        .where(LeadReply.lead_id == lead_id, LeadReply.triage == PENDING)
        .order_by(LeadReply.received_at)
        .limit(1)
    )


def decide_triage(reply: LeadReply, decision: str, *, actor_id: uuid.UUID | None):
    """A person sorts a pending reply: ``decision`` is one of ``DECISIONS`` (positive, negative = not
    interested, unsubscribe = opt-out, out_of_office, neutral = other).

    The reply takes that sentiment (``classified_by="user"``, ``triage="decided"``, ``reply_triaged``
    logged with who and what), then the sequences react as if the reply had come in with it — an opt-out
    unsubscribes the lead and ends every sequence, a positive or not-interested reply exits where the
    sequence's rule says so, out of office pauses until the return date — and the triage pause is lifted
    from what is left (unless another reply of the lead still waits). Runs in the caller's transaction;
    returns ``signals.Outcome``. Raises ``TriageRefused`` for an unknown decision or a reply that is not
    waiting (already sorted, by whom and when).
    """
    from nurture_ui import signals

    if decision not in DECISIONS:
        raise TriageRefused(f"Choose one of: {', '.join(DECISIONS.values())}.")
    # Locked and read afresh: of two people deciding at once, the second sees the first one's decision.
    locked = db.session.scalar(
        sa.select(LeadReply)
        .where(LeadReply.id == reply.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise TriageRefused("This reply no longer exists.")
    reply = locked
    if reply.triage != PENDING:
        raise TriageRefused(already_sorted(reply))
    now = clock.now()
    guess = reply.sentiment
    reply.sentiment, reply.classified_by, reply.triage = decision, "user", DECIDED
    reply.thread_open = decision in signals.CONVERSATION
    activity.record(
        "reply_triaged",
        tenant_id=reply.tenant_id,
        lead_id=reply.lead_id,
        actor_id=actor_id,
        occurred_at=now,
        data={"reply_id": str(reply.id), "decision": decision, "guess": guess},
    )
    lead = reply.lead
    outcome = signals.Outcome(lead=lead, reply=reply)
    signals.react_to_reply(outcome, actor_id=actor_id, now=now, taking_over=(TRIAGE_PAUSE,))
    if _pending_reply_id(lead.id) is None:
        from nurture_ui.engine.presend import release_held_for_triage

        release_held_for_triage(lead.id, now)
        for enrollment in lifecycle.live_enrollments(lead.id, lock=True):
            if enrollment.status == "paused" and enrollment.pause_reason == TRIAGE_PAUSE:
                signals.resume(
                    enrollment,
                    now=now,
                    actor_id=actor_id,
                    data={"reason": "reply_triaged", "reply_id": str(reply.id)},
                )
                outcome.resumed.append(enrollment)
    return outcome


def already_sorted(reply: LeadReply) -> str:
    """Who sorted a reply that no longer waits, and how ("Already sorted by Rita at 10:04: not interested.")."""
    if reply.triage != DECIDED:
        return "This reply was not waiting to be sorted."
    decided = db.session.scalars(
        sa.select(Activity)
        .where(Activity.lead_id == reply.lead_id, Activity.type == "reply_triaged")
        .order_by(Activity.occurred_at.desc())
    )
    record = next((a for a in decided if (a.data or {}).get("reply_id") == str(reply.id)), None)
    what = DECISIONS.get(reply.sentiment, reply.sentiment).lower()
    if record is None:
        return f"Already sorted: {what}."
    who = db.session.get(User, record.actor_id) if record.actor_id else None
    return f"Already sorted by {who.name if who else 'someone else'} at {record.occurred_at:%H:%M on %b %-d}: {what}."
