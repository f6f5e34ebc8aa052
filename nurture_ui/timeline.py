"""An enrollment's timeline: what happened, in order and in plain words, then what is planned and when.

The past is read from the activity log (the enrollment's own activities, plus the lead's replies and
status changes while it ran), in the order written. The future is projected with the engine's own rules:
each step's delay, the tenant's send window in the lead's time zone and the frequency cap
(``nurture_ui.engine.schedule``), so a planned date is the date the engine would pick if nothing changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from nurture_ui import reasons
from nurture_ui.engine import follow_ups
from nurture_ui.engine.executor import CAPPED_MESSAGE_STATUSES
from nurture_ui.engine.schedule import delay_ends_at, send_window_for
from nurture_ui.extensions import db
from nurture_ui.local_times import moment
from nurture_ui.models import (
    LIVE_STATUSES,
    Activity,
    EmailTemplate,
    Enrollment,
    Lead,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Task,
    Tenant,
    User,
)
from nurture_ui.models.activity import TIMELINE_ORDER
from nurture_ui.time_zones import UTC_ZONE
from nurture_ui.triage import DECISIONS as TRIAGE_WORDS

# Lead-level events (no enrollment id) that belong on an enrollment's timeline while it runs.
LEAD_EVENTS = (
    "reply_received",
    "reply_reclassified",
    "reply_triaged",
    "lead_converted",
    "lead_disqualified",
    "lead_unsubscribed",
    "lead_resubscribed",
    "email_bounced",
)
MAX_ENTRIES = 500

# What happened to an email (``message_<what>`` activities; a re-queue by its reason), in plain words.
MESSAGE_WORDS = {
    "sent": "Email sent",
    "failed": "Email failed",
    "unknown": "Email may not have gone out",
    "deferred": "Email delayed: the mail server will be tried again",
    "cancelled": "Email cancelled",
    "held": "Email held back",
    "marked_sent": "Email marked as delivered",
    "dismissed": "Email dismissed: it will not be sent",
    "requeued_send_again": "Email sent again (it may arrive twice)",
    "requeued_retry": "Failed email queued to try again",
    "requeued_soft_bounce": "Email queued to try again after a soft bounce",
    "review_undone": "Review undone: the draft waits for approval again",
}


@dataclass
class Entry:
    """One line of a timeline. ``tone`` colours its dot: ok, info, warn, bad, muted or planned."""

    at: datetime | None
    title: str
    detail: str = ""
    actor: str = ""
    tone: str = "info"
    planned: bool = False
    note: str = ""


@dataclass
class EnrollmentTimeline:
    enrollment: Enrollment
    steps: list[SequenceStep]
    past: list[Entry]
    planned: list[Entry]
    is_live: bool
    assumption: str = ""
    step_labels: dict[int, str] = field(default_factory=dict)


def step_label(step: SequenceStep | None, order: int | None, templates: dict[str, EmailTemplate]) -> str:
    """``Step 2 · Email “Welcome”``: the step's number, channel and what it sends or asks."""
    if step is None:
        return f"Step {order}" if order else "A step"
    what = ""
    if step.channel == "email" and step.template_id:
        template = templates.get(step.template_id)
        what = f" “{template.name if template else step.template_id}”"
    elif step.instructions.strip():
        what = f" “{step.instructions.strip().splitlines()[0][:60]}”"
    return f"Step {step.step_order} · {reasons.channel(step.channel)}{what}"


def _when(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    return moment(datetime.fromisoformat(value), zone)


def describe(
    activity: Activity,
    *,
    labels: dict[int, str],
    messages: dict[str, OutboundMessage],
    tasks: dict[str, Task],
    zone: ZoneInfo = UTC_ZONE,
) -> Entry:
    """The activity as a sentence a person reads: what happened, why, and to which step. Times in it are
    written in ``zone`` (the reader's)."""
    data = activity.data or {}
    kind = activity.type
    step = labels.get(data.get("step"), f"Step {data.get('step')}") if data.get("step") else ""
    entry = Entry(at=activity.occurred_at, title=kind.replace("_", " ").capitalize())
    if kind == "nurture_enrolled":
        source = data.get("source")
        entry.title = "Enrolled automatically" if source == "auto" else "Enrolled"
        if source == "auto":
            entry.detail = "The lead matched the sequence's entry rules."
        elif data.get("overridden"):
            entry.detail = "Enrolled by hand, overriding: " + ", ".join(map(str, data["overridden"]))
        entry.tone = "ok"
    elif kind == "nurture_step_scheduled":
        entry.title = f"{step} scheduled"
        due = data.get("due_at") or data.get("due")
        entry.detail = f"Due {_when(due, zone)}" if due else ""
        if data.get("reason"):
            entry.detail += f" — {reasons.reschedule_reason(data['reason'])}"
        entry.tone = "muted"
    elif kind == "nurture_step_executed":
        entry.title, entry.detail, entry.tone = _describe_executed(data, step, messages, tasks)
    elif kind == "email_unthreaded":
        entry.title = f"{step}: sent with its own subject" if step else "Sent with its own subject"
        entry.detail = follow_ups.UNTHREADED_WORDS.get(data.get("reason"), "It was not sent in the thread.")
        entry.tone = "warn"
    elif kind == "nurture_paused":
        entry.title = "Paused"
        entry.detail = reasons.pause_reason(data.get("reason")).capitalize()
        if data.get("resume_on"):
            entry.detail += f" until {_when(data['resume_on'], zone)}"
        if data.get("error"):
            entry.detail += f": {data['error']}"
        entry.tone = "warn"
    elif kind == "nurture_resumed":
        entry.title = "Resumed"
        entry.detail = reasons.resume_reason(data.get("reason")).capitalize()
        task = tasks.get(str(data.get("task")))
        if task is not None and task.outcome:
            entry.detail += f" (outcome: {task.outcome.replace('_', ' ')})"
        entry.tone = "ok"
    elif kind == "nurture_exited":
        entry.title = "Left the sequence"
        entry.detail = reasons.exit_reason(data.get("reason"))
        entry.tone = "bad"
    elif kind == "nurture_completed":
        entry.title = "Completed the sequence"
        entry.detail = "Every step has run."
        entry.tone = "ok"
    elif kind.startswith("message_"):
        status = kind.removeprefix("message_")
        message = messages.get(str(data.get("message")))
        if status == "requeued":
            status = f"requeued_{data.get('reason')}"
        entry.title = MESSAGE_WORDS.get(status, f"Email {status.replace('_', ' ')}") + (
            f" — {step}" if step else ""
        )
        entry.detail = f"“{message.subject}”" if message else ""
        if data.get("error"):
            entry.detail += f" {data['error']}"
        if data.get("held_until"):
            held = reasons.reschedule_reason(data.get("hold_reason")).removeprefix("moved: ")
            entry.detail += f" Held until at least {_when(data['held_until'], zone)}: {held}."
        entry.tone = {
            "sent": "ok",
            "marked_sent": "ok",
            "failed": "bad",
            "unknown": "bad",
            "deferred": "warn",
            "dismissed": "muted",
            "cancelled": "muted",
            "held": "warn",
        }.get(status, "info")
    elif kind == "reply_received" and data.get("triage") == "pending":
        entry.title = "The lead replied — waiting for a person to sort it"
        guess = (data.get("sentiment") or "").replace("_", " ")
        entry.detail = f"The classifier was not sure (best guess: {guess}); the sequence waits meanwhile."
        entry.tone = "warn"
    elif kind == "reply_received":
        sentiment = (data.get("sentiment") or "").replace("_", " ")
        entry.title = f"The lead replied ({sentiment})" if sentiment else "The lead replied"
        entry.detail = (
            "Classified by a person" if data.get("classified_by") == "user" else data.get("because") or ""
        )
        entry.tone = "ok" if data.get("sentiment") == "positive" else "info"
    elif kind == "reply_triaged":
        entry.title = f"Reply sorted: {TRIAGE_WORDS.get(data.get('decision'), '?').lower()}"
        entry.detail = f"The classifier had guessed {(data.get('guess') or '?').replace('_', ' ')}."
        entry.tone = "ok"
    elif kind == "reply_reclassified":
        entry.title = "A reply was reclassified"
        entry.detail = f"From {data.get('from', '?')} to {data.get('to', '?')}".replace("_", " ")
    elif kind in ("lead_converted", "lead_disqualified", "lead_unsubscribed", "lead_resubscribed"):
        entry.title = "The lead " + kind.removeprefix("lead_")
        entry.tone = "ok" if kind == "lead_converted" else "bad"
    elif kind == "email_bounced":
        entry.title = f"An email bounced ({data.get('kind', '')})"
        entry.detail = data.get("diagnostic") or ""
        entry.tone = "bad"
    entry.actor = activity.actor.name if activity.actor is not None else "the system"
    return entry


def _describe_executed(data, step, messages, tasks) -> tuple[str, str, str]:
    if data.get("outcome") == "skipped":
        because = follow_ups.SKIP_WORDS.get(data.get("reason"), "Its conditions did not hold for this lead.")
        return f"{step} skipped", because, "muted"
    if data.get("outcome") == "rejected":
        verdict = "exit this lead" if data.get("action") == "exit" else "skip this step"
        note = f" — “{data['note']}”" if data.get("note") else ""
        return f"{step} draft rejected", f"Reviewer chose: {verdict}{note}", "warn"
    if data.get("task"):
        task = tasks.get(str(data["task"]))
        detail = (
            f"Task “{task.title}” for {task.assignee.name if task.assignee else 'nobody yet'}" if task else ""
        )
        return f"{step} ran", detail, "info"
    message = messages.get(str(data.get("message")))
    detail = f"“{message.subject}”" if message else ""
    if data.get("approved"):
        edited = " after an edit" if data.get("edited") else ""
        return f"{step} approved{edited} and queued", detail, "ok"
    return f"{step} ran: email queued", detail, "info"


def enrollment_timeline(
    enrollment: Enrollment, now: datetime, *, zone: ZoneInfo = UTC_ZONE
) -> EnrollmentTimeline:
    """Everything that happened to ``enrollment`` in order, then its planned steps (when it is live). The
    sentences write their times in ``zone``, the reader's."""
    session = db.session
    steps = list(
        session.scalars(
            sa.select(SequenceStep)
            .where(SequenceStep.sequence_id == enrollment.sequence_id)
            .order_by(SequenceStep.step_order)
        )
    )
    keys = {s.template_id for s in steps if s.template_id}
    templates = (
        {
            t.key: t
            for t in session.scalars(
                sa.select(EmailTemplate).where(
                    EmailTemplate.tenant_id == enrollment.tenant_id, EmailTemplate.key.in_(keys)
                )
            )
        }
        if keys
        else {}
    )
    labels = {s.step_order: step_label(s, s.step_order, templates) for s in steps}

    own = sa.select(Activity).where(Activity.enrollment_id == enrollment.id)
    lead_level = sa.select(Activity).where(
        Activity.lead_id == enrollment.lead_id,
        Activity.enrollment_id.is_(None),
        Activity.type.in_(LEAD_EVENTS),
        Activity.occurred_at >= enrollment.enrolled_on,
        Activity.occurred_at <= (enrollment.ended_on or now),
    )
    activities = sorted(
        [
            *session.scalars(own.order_by(*TIMELINE_ORDER).limit(MAX_ENTRIES)),
            *session.scalars(lead_level.order_by(*TIMELINE_ORDER).limit(MAX_ENTRIES)),
        ],
        key=lambda a: (a.occurred_at, a.seq or 0),
    )
    actor_ids = {a.actor_id for a in activities if a.actor_id}
    if actor_ids:  # one query for every actor's name, instead of one per line
        list(session.scalars(sa.select(User).where(User.id.in_(actor_ids))))
    messages = {
        str(m.id): m
        for m in session.scalars(
            sa.select(OutboundMessage).where(OutboundMessage.enrollment_id == enrollment.id)
        )
    }
    tasks = {
        str(t.id): t for t in session.scalars(sa.select(Task).where(Task.enrollment_id == enrollment.id))
    }
    past = [describe(a, labels=labels, messages=messages, tasks=tasks, zone=zone) for a in activities]

    timeline = EnrollmentTimeline(
        enrollment=enrollment,
        steps=steps,
        past=past,
        planned=[],
        is_live=enrollment.status in LIVE_STATUSES,
        step_labels=labels,
    )
    if timeline.is_live:
        lead = session.get(Lead, enrollment.lead_id)
        tenant = session.get(Tenant, enrollment.tenant_id)
        timeline.planned, timeline.assumption = plan_remaining_steps(
            enrollment, steps, lead=lead, tenant=tenant, now=now, labels=labels, tasks=tasks
        )
    return timeline


def last_outbound_at(lead_id: uuid.UUID) -> datetime | None:
    """When the lead was last emailed (or an email to it was queued), from any sequence: the cap's start."""
    value = db.session.scalar(
        sa.select(sa.func.max(sa.func.coalesce(OutboundMessage.sent_at, OutboundMessage.queued_at))).where(
            OutboundMessage.lead_id == lead_id, OutboundMessage.status.in_(CAPPED_MESSAGE_STATUSES)
        )
    )
    if value is None:
        return None
    # SQLite's max() hands back text or a naive datetime rather than the column's type.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def plan_remaining_steps(
    enrollment: Enrollment,
    steps: list[SequenceStep],
    *,
    lead: Lead,
    tenant: Tenant,
    now: datetime,
    labels: dict[int, str],
    tasks: dict[str, Task] | None = None,
) -> tuple[list[Entry], str]:
    """The steps still to come with the date each would run, the way the executor would time them.

    An email runs at its due time moved past the frequency cap and into the send window; the next step is
    due its delay after that. A step that waits for a person (an approval, a task) is assumed done at
    once, which the returned assumption sentence says. Steps with conditions may be skipped when they run.
    """
    schedule = send_window_for(tenant, db.session.get(Sequence, enrollment.sequence_id))
    cap = timedelta(hours=int(tenant.policy_value("frequency_cap_hours")))
    last_email = last_outbound_at(lead.id)
    remaining = [s for s in steps if s.step_order >= enrollment.current_step_order]
    planned: list[Entry] = []
    assumption = ""
    if not remaining:
        return planned, assumption

    first = remaining[0]
    if enrollment.status == "paused":
        reason = enrollment.pause_reason
        if reason in ("approval", "task"):
            open_task = next((t for t in (tasks or {}).values() if t.status == "open"), None)
            waiting = (
                "the draft's approval"
                if reason == "approval"
                else (f"the task “{open_task.title}”" if open_task else "a task")
            )
            planned.append(
                Entry(
                    at=None,
                    title=labels[first.step_order],
                    detail=f"Waiting for {waiting}",
                    tone="planned",
                    planned=True,
                    note="waiting",
                )
            )
            assumption = "Dates below assume the wait ends now."
            if reason == "approval":
                last_email = now
            clock = now
            remaining = remaining[1:]
            due = None
        else:
            resume_at = max(enrollment.resume_on or now, now)
            due = max(enrollment.next_step_on or resume_at, resume_at)
            assumption = f"Paused ({reasons.pause_reason(reason)}): dates assume it resumes " + (
                "on its return date." if enrollment.resume_on else "now."
            )
            clock = due
    else:
        due = max(enrollment.next_step_on or now, now)
        clock = due

    for index, step in enumerate(remaining):
        if index > 0 or due is None:
            due = delay_ends_at(clock, step, schedule, lead.timezone)
        runs_at, note = due, ""
        if step.channel == "email":
            earliest = due
            if last_email is not None and earliest < last_email + cap:
                earliest = last_email + cap
                note = (
                    f"Moved by the frequency cap ({int(cap.total_seconds() // 3600)} h since the last email)"
                )
            runs_at = schedule.opening(earliest, lead.timezone)
            if runs_at != earliest and not note:
                note = "Moved into the send window"
            last_email = runs_at
        details = []
        if step.conditions:
            details.append("Runs only if its conditions hold")
        if step.only_if_not_replied:
            details.append("Runs only if the previous email got no reply")
        if step.only_if_no_open_task:
            details.append("Runs only if the lead has no open task")
        if step.channel == "email" and step.same_thread:
            details.append("Replies in the earlier email's thread")
        if step.channel == "email" and step.requires_human_approval:
            details.append("Needs approval before it goes")
        if step.channel in ("task", "call_reminder"):
            details.append("Creates a task for the lead's owner; the sequence waits until it is done")
        planned.append(
            Entry(
                at=runs_at,
                title=labels[step.step_order],
                detail=". ".join(details),
                tone="planned",
                planned=True,
                note=note,
            )
        )
        clock = runs_at
    planned.append(Entry(at=clock, title="Completes the sequence", tone="planned", planned=True))
    if any(s.channel != "email" or s.requires_human_approval for s in remaining):
        assumption = (
            assumption + " Steps that wait for a person are assumed done as soon as they run."
        ).strip()
    return planned, assumption
