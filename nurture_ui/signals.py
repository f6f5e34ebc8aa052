"""Signals from outside: a lead replies, converts, is disqualified, unsubscribes, or an email bounces.

This is where "what happens when a lead replies" lives. The API, the lead page and the import are doors
onto these functions. Each runs inside the caller's transaction — it changes rows and writes activities
but never commits — so the event and all its effects land in one commit: a reply that exits a sequence
exits it in the same transaction that stores the reply, before any later step can be sent.

Exits go through ``lifecycle.exit_enrollment`` (unsent messages cancelled, tasks closed, logged).
``resume_due_pauses`` is the exception: a scheduled job, it commits its own batches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from nurture_ui import activity, clock, lifecycle, standing, triage
from nurture_ui.classifier import Classification, classify, read_return_date
from nurture_ui.extensions import db
from nurture_ui.models import (
    Activity,
    Enrollment,
    Lead,
    LeadReply,
    OutboundMessage,
    Tenant,
)
from nurture_ui.time_zones import first_zone

# Replies a person wrote (an auto-reply or an opt-out is not a conversation).
CONVERSATION = ("positive", "neutral", "negative")
BOUNCE_KINDS = ("hard", "soft")


@dataclass
class Outcome:
    """What a signal did, for the door to report."""

    lead: Lead
    reply: LeadReply | None = None
    classification: Classification | None = None
    exited: list[Enrollment] = field(default_factory=list)
    paused: list[Enrollment] = field(default_factory=list)
    resumed: list[Enrollment] = field(default_factory=list)
    message: OutboundMessage | None = None  # the email a soft bounce queued again or gave up on

    def summary(self) -> dict:
        result = {
            "lead_id": str(self.lead.id),
            "enrollments": [
                {"id": str(e.id), "status": e.status, "reason": e.exit_reason or e.pause_reason}
                for e in (*self.exited, *self.paused, *self.resumed)
            ],
        }
        if self.message is not None:
            result["message"] = {"id": str(self.message.id), "status": self.message.status}
        return result


exit_rule_on = standing.exit_rule_on


# ---------------------------------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------------------------------


def record_reply(
    lead: Lead,
    text: str,
    *,
    subject: str = "",
    received_at: datetime | None = None,
    sentiment: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> Outcome:
    """Store a reply, classify it (unless a person gave ``sentiment``) and let the sequences react.

    positive → exit (``positive_reply`` rule, on by default); not interested → exit (``negative_reply``,
    on by default); any conversation reply → exit where the ``any_reply`` rule is on; unsubscribe request
    → the lead is unsubscribed and leaves every sequence; out-of-office → live enrollments pause until the
    return date (or the tenant's default days). When the classifier is not sure (``needs_person``) the
    reply keeps its best guess but nothing acts on it: it waits in the triage queue and the lead's running
    enrollments pause until a person sorts it (``nurture_ui.triage``).
    """
    now = clock.now()
    received_at = received_at or now
    verdict = classify(text, _local_date(lead, received_at))
    waits_for_person = sentiment is None and verdict.needs_person
    reply = LeadReply(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        received_at=received_at,
        sentiment=sentiment or verdict.sentiment,
        classified_by="user" if sentiment else "auto",
        thread_open=(sentiment or verdict.sentiment) in CONVERSATION,
        subject=(subject or "")[:255],
        body_excerpt=(text or "")[:10_000],
        triage=triage.PENDING if waits_for_person else None,
    )
    db.session.add(reply)
    db.session.flush()
    if lead.last_engaged_at is None or received_at > lead.last_engaged_at:
        lead.last_engaged_at = received_at
    activity.record(
        "reply_received",
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        actor_id=actor_id,
        occurred_at=received_at,
        data={
            "reply_id": str(reply.id),
            "sentiment": reply.sentiment,
            "classified_by": reply.classified_by,
            "because": verdict.reason,
            **({"triage": triage.PENDING} if waits_for_person else {}),
        },
    )
    outcome = Outcome(lead=lead, reply=reply, classification=verdict)
    if waits_for_person:
        outcome.paused += triage.hold_for_triage(lead, reply, actor_id=actor_id, now=now)
    else:
        react_to_reply(outcome, actor_id=actor_id, now=now)
    return outcome


def lead_replies(lead_id: uuid.UUID, limit: int = 10) -> list[LeadReply]:
    """The lead's latest replies, newest first."""
    return list(
        db.session.scalars(
            sa.select(LeadReply)
            .where(LeadReply.lead_id == lead_id)
            .order_by(LeadReply.received_at.desc(), LeadReply.created_at.desc())
            .limit(limit)
        )
    )


def correct_reply(reply: LeadReply, sentiment: str, *, actor_id: uuid.UUID | None) -> Outcome:
    """A person corrects a reply's classification; the lead's sequences follow the correction.

    What the old verdict did is undone first — an out-of-office pause is lifted, an exit or an
    unsubscribe caused by this reply is reversed (when the lead may still be nurtured and has no other
    live enrollment) — and then the new verdict acts as if the reply had come in with it.
    """
    if reply.triage == triage.PENDING:
        # Nothing acted on the guess yet: correcting it is sorting it.
        return triage.decide_triage(reply, sentiment, actor_id=actor_id)
    lead = reply.lead
    outcome = Outcome(lead=lead, reply=reply)
    old = reply.sentiment
    if sentiment == old:
        reply.classified_by = "user"
        return outcome
    now = clock.now()
    _undo_reply(reply, old, sentiment, outcome, actor_id=actor_id, now=now)
    reply.sentiment = sentiment
    reply.classified_by = "user"
    reply.thread_open = sentiment in CONVERSATION
    activity.record(
        "reply_reclassified",
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        actor_id=actor_id,
        occurred_at=now,
        data={"reply_id": str(reply.id), "from": old, "to": sentiment},
    )
    react_to_reply(outcome, actor_id=actor_id, now=now)
    return outcome


def reply_exit_reason(exit_rules: dict | None, sentiment: str) -> str | None:
    if sentiment == "positive" and exit_rule_on(exit_rules, "positive_reply"):
        return "positive_reply"
    if sentiment == "negative" and exit_rule_on(exit_rules, "negative_reply"):
        return "negative_reply"
    if sentiment in CONVERSATION and exit_rule_on(exit_rules, "any_reply"):
        return "replied"
    return None


def react_to_reply(outcome: Outcome, *, actor_id, now: datetime, taking_over: tuple[str, ...] = ()) -> None:
    """What the lead's sequences do about ``outcome.reply`` as it is now classified (the caller's
    transaction). ``taking_over``: pause reasons an out-of-office pause may replace (the triage pause,
    when a person sorts a reply as out of office)."""
    lead, reply = outcome.lead, outcome.reply
    data = {"reply_id": str(reply.id)}
    if reply.sentiment == "unsubscribe":
        outcome.exited += unsubscribe(lead, source="reply", actor_id=actor_id, now=now, data=data)
    elif reply.sentiment == "out_of_office":
        return_on, _estimated = read_return_date(reply.body_excerpt, _local_date(lead, reply.received_at))
        outcome.paused += pause_for_out_of_office(
            lead, return_on, actor_id=actor_id, now=now, data=data, taking_over=taking_over
        )
    else:
        for enrollment in lifecycle.live_enrollments(lead.id, lock=True):
            reason = reply_exit_reason(enrollment.sequence.exit_rules, reply.sentiment)
            if reason and lifecycle.exit_enrollment(
                enrollment, reason, actor_id=actor_id, now=now, data=data
            ):
                outcome.exited.append(enrollment)


def _undo_reply(reply: LeadReply, old: str, new: str, outcome: Outcome, *, actor_id, now) -> None:
    lead = reply.lead
    data = {"reason": "reply_reclassified", "reply_id": str(reply.id)}
    if old == "out_of_office":
        for enrollment in lifecycle.live_enrollments(lead.id, lock=True):
            if enrollment.status == "paused" and enrollment.pause_reason == "out_of_office":
                resume(enrollment, now=now, actor_id=actor_id, data=data)
                outcome.resumed.append(enrollment)
    if old == "unsubscribe" and new != "unsubscribe" and _unsubscribed_by(reply):
        standing.change_standing(
            lead, unsubscribed=False, source="reply", actor_id=actor_id, now=now, data=data
        )
    for enrollment in _exited_by(reply):
        new_reason = (
            "unsubscribed" if new == "unsubscribe" else reply_exit_reason(enrollment.sequence.exit_rules, new)
        )
        if new_reason:
            enrollment.exit_reason = new_reason  # still out, now for the corrected reason
        elif _may_reopen(lead, enrollment):
            enrollment.status, enrollment.exit_reason, enrollment.ended_on = "active", None, None
            enrollment.next_step_on = now
            _log_resumed(enrollment, now=now, actor_id=actor_id, data=data)
            outcome.resumed.append(enrollment)


def _exited_by(reply: LeadReply) -> list[Enrollment]:
    activities = db.session.scalars(
        sa.select(Activity).where(Activity.lead_id == reply.lead_id, Activity.type == "nurture_exited")
    )
    ids = [a.enrollment_id for a in activities if (a.data or {}).get("reply_id") == str(reply.id)]
    if not ids:
        return []
    return list(
        db.session.scalars(sa.select(Enrollment).where(Enrollment.id.in_(ids), Enrollment.status == "exited"))
    )


def _unsubscribed_by(reply: LeadReply) -> bool:
    activities = db.session.scalars(
        sa.select(Activity).where(Activity.lead_id == reply.lead_id, Activity.type == "lead_unsubscribed")
    )
    return any((a.data or {}).get("reply_id") == str(reply.id) for a in activities)


def _may_reopen(lead: Lead, enrollment: Enrollment) -> bool:
    if lead.do_not_contact or lead.unsubscribed_at or lead.undeliverable:
        return False
    if lead.status in ("converted", "disqualified") or enrollment.sequence.status != "active":
        return False
    return not lifecycle.live_enrollments(lead.id)


# ---------------------------------------------------------------------------------------------------
# Out of office: pause, and resume when the date comes
# ---------------------------------------------------------------------------------------------------


def pause_for_out_of_office(
    lead: Lead,
    return_on: date | None,
    *,
    actor_id=None,
    now: datetime,
    data: dict | None = None,
    taking_over: tuple[str, ...] = (),
) -> list[Enrollment]:
    """Pause the lead's running enrollments until ``return_on`` (start of that day, lead's time zone),
    or for the tenant's ``ooo_default_days`` when no date was given. A later out-of-office reply moves
    the date of an enrollment it had paused; enrollments paused for another reason are left alone,
    except those paused for one of ``taking_over``."""
    tenant = db.session.get(Tenant, lead.tenant_id)
    if return_on is not None:
        resume_on = datetime.combine(return_on, time(0, 0), tzinfo=_zone(lead, tenant)).astimezone(UTC)
    else:
        resume_on = now + timedelta(days=int(tenant.policy_value("ooo_default_days")))
    resume_on = max(resume_on, now)
    paused = []
    for enrollment in lifecycle.live_enrollments(lead.id, lock=True):
        if enrollment.status == "paused" and enrollment.pause_reason not in ("out_of_office", *taking_over):
            continue
        enrollment.status, enrollment.pause_reason, enrollment.resume_on = (
            "paused",
            "out_of_office",
            resume_on,
        )
        activity.record_for_enrollment(
            "nurture_paused",
            enrollment,
            actor_id=actor_id,
            occurred_at=now,
            data={
                "reason": "out_of_office",
                "resume_on": resume_on.isoformat(),
                "return_date_given": return_on is not None,
                **(data or {}),
            },
        )
        paused.append(enrollment)
    return paused


def resume(enrollment: Enrollment, *, now: datetime, actor_id=None, data: dict | None = None) -> None:
    """Resume a paused enrollment: the next step is due when it was, or now if that has passed."""
    enrollment.status, enrollment.pause_reason, enrollment.resume_on = "active", None, None
    enrollment.next_step_on = max(enrollment.next_step_on or now, now)
    _log_resumed(enrollment, now=now, actor_id=actor_id, data=data)


def _log_resumed(enrollment: Enrollment, *, now, actor_id, data) -> None:
    activity.record_for_enrollment(
        "nurture_resumed",
        enrollment,
        actor_id=actor_id,
        occurred_at=now,
        data=data or {},
    )


def resume_due_pauses(now: datetime | None = None, *, batch_size: int = 500) -> int:
    """Resume every paused enrollment whose ``resume_on`` has come (out-of-office pauses); commits
    each batch. A lead with a reply waiting in the triage queue stays paused, for the triage instead. Rows another process holds are skipped and picked up by the next run. Returns the count."""
    now = now or clock.now()
    resumed = 0
    while True:
        due = list(
            db.session.scalars(
                sa.select(Enrollment)
                .where(Enrollment.status == "paused", Enrollment.resume_on <= now)
                .order_by(Enrollment.resume_on)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        for enrollment in due:
            # A reply sorted by nobody yet keeps the lead waiting, out of office or not.
            if not triage.hold_if_pending(enrollment, now=now, came_from="out_of_office_ended"):
                resume(enrollment, now=now, data={"reason": "out_of_office_ended"})
        db.session.commit()
        resumed += len(due)
        if len(due) < batch_size:
            return resumed


# ---------------------------------------------------------------------------------------------------
# Conversion, disqualification, unsubscribe, bounces
# ---------------------------------------------------------------------------------------------------


def convert(lead: Lead, *, actor_id=None, data: dict | None = None, source: str = "api") -> Outcome:
    """The lead converted (``standing.change_standing``): status set, and sequences with the conversion
    rule on exit (``converted``) with their unsent emails and open tasks. Nothing happens when the lead
    already is converted."""
    change = standing.change_standing(lead, status="converted", actor_id=actor_id, source=source, data=data)
    return Outcome(lead=lead, exited=change.exited)


def disqualify(lead: Lead, *, actor_id=None, data: dict | None = None, source: str = "api") -> Outcome:
    """The lead was disqualified (``standing.change_standing``): status set, sequences with that rule on
    exit (``disqualified``). Nothing happens when the lead already is disqualified."""
    change = standing.change_standing(
        lead, status="disqualified", actor_id=actor_id, source=source, data=data
    )
    return Outcome(lead=lead, exited=change.exited)


def unsubscribe(
    lead: Lead, *, source: str, actor_id=None, now: datetime | None = None, data: dict | None = None
):
    """The lead opted out (``standing.change_standing``): marked unsubscribed, out of every sequence
    whatever its exit rules say, and every unsent message to it cancelled (also a last email of an
    enrollment that already ended). Idempotent; runs in the caller's transaction. Returns the enrollments
    it ended."""
    change = standing.change_standing(
        lead, unsubscribed=True, source=source, actor_id=actor_id, now=now, data=data
    )
    return change.exited


def record_bounce(lead: Lead, kind: str, *, diagnostic: str = "", message_id: str | None = None) -> Outcome:
    """An email to the lead bounced. Hard: the address is undeliverable and every sequence exits
    (``bounced``). Soft (mailbox full, greylisted): the email (the one ``message_id`` names, else the
    lead's last one sent) goes back to ``queued`` and the outbox sweep sends it again after its growing
    delay, up to ``MAIL_SOFT_BOUNCE_RETRIES`` times; the next soft bounce marks it ``failed`` for a person
    (the outbox problems page). An email the lead may no longer receive is marked ``failed`` at once."""
    if kind not in BOUNCE_KINDS:
        raise ValueError(f"bounce kind must be one of {BOUNCE_KINDS}")
    now = clock.now()
    message = _bounced_message(lead, message_id)
    activity.record(
        "email_bounced",
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        occurred_at=now,
        data={
            "kind": kind,
            "diagnostic": diagnostic[:500],
            "message_id": message_id,
            **({"message": str(message.id)} if message else {}),
        },
    )
    outcome = Outcome(lead=lead)
    if kind == "hard":
        lead.undeliverable = True
        outcome.exited = lifecycle.exit_live_enrollments(lead.id, "bounced", now=now)
    elif message is not None and message.status == "sent":
        _retry_soft_bounce(message, diagnostic=diagnostic[:500], now=now)
        outcome.message = message
    return outcome


def _bounced_message(lead: Lead, message_id: str | None) -> OutboundMessage | None:
    """The email a bounce is about: the one with that Message-ID (with or without its angle brackets), or
    without one, the last email sent to the lead."""
    stmt = sa.select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)
    if message_id:
        bare = message_id.strip().strip("<>")
        return db.session.scalar(stmt.where(OutboundMessage.message_id.in_((f"<{bare}>", bare))))
    return db.session.scalar(
        stmt.where(OutboundMessage.status == "sent").order_by(OutboundMessage.sent_at.desc()).limit(1)
    )


def soft_bounce_retries(message: OutboundMessage) -> int:
    """How many times a soft bounce has put this email back in the outbox."""
    return sum(
        1
        for data in db.session.scalars(
            sa.select(Activity.data).where(
                Activity.enrollment_id == message.enrollment_id, Activity.type == "message_requeued"
            )
        )
        if (data or {}).get("message") == str(message.id) and data.get("reason") == "soft_bounce"
    )


def _retry_soft_bounce(message: OutboundMessage, *, diagnostic: str, now: datetime) -> None:
    from flask import current_app

    from nurture_ui.outbox import refusal_to_send

    limit = int(current_app.config.get("MAIL_SOFT_BOUNCE_RETRIES", 3))
    retries = soft_bounce_retries(message)
    refusal = refusal_to_send(message)
    data = {"step": message.step_order, "message": str(message.id)}
    if refusal or retries >= limit:
        error = (
            f"soft bounce ({diagnostic or 'no diagnostic'}), not sent again: {refusal}"
            if refusal
            else f"soft-bounced {retries + 1} times, last: {diagnostic or 'no diagnostic'}"
        )
        message.status, message.error = "failed", error
        activity_type, data = "message_failed", {**data, "error": error}
    else:
        # Back to the outbox: the dispatcher's sweep hands it to a send job after its retry delay.
        message.status, message.error, message.sent_at = "queued", f"soft bounce: {diagnostic}", None
        activity_type, data = "message_requeued", {**data, "reason": "soft_bounce", "retry": retries + 1}
    message.updated_at = now
    activity.record(
        activity_type,
        tenant_id=message.tenant_id,
        lead_id=message.lead_id,
        enrollment_id=message.enrollment_id,
        sequence_id=message.sequence_id,
        occurred_at=now,
        data=data,
    )


def _zone(lead: Lead, tenant: Tenant) -> ZoneInfo:
    return first_zone(lead.timezone, tenant.policy_value("timezone"))


def _local_date(lead: Lead, instant: datetime) -> date:
    """The day ``instant`` falls on where the lead is: "back tomorrow" is read from their today."""
    return instant.astimezone(_zone(lead, db.session.get(Tenant, lead.tenant_id))).date()
