"""A lead's whole history on one time axis: its enrollments, the emails to it, its replies and its tasks.

Read straight from those tables (each through an index on the lead), newest first, with the lanes of a
chart that puts them side by side in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from nurture_ui import reasons
from nurture_ui.charts import Lane, Point, Span
from nurture_ui.engine import follow_ups
from nurture_ui.extensions import db
from nurture_ui.local_times import moment
from nurture_ui.models import Activity, Enrollment, Lead, LeadReply, OutboundMessage, Task, User
from nurture_ui.time_zones import UTC_ZONE
from nurture_ui.triage import DECISIONS

# Enough for any real lead's page; a lead with more shows its latest.
LIMIT_PER_KIND = 200

MESSAGE_TONES = {
    "sent": "ok",
    "failed": "bad",
    "unknown": "bad",
    "rejected": "muted",
    "cancelled": "muted",
    "pending_approval": "warn",
}
MESSAGE_WORDS = {
    "pending_approval": "waiting for approval",
    "approved": "approved",
    "rejected": "rejected",
    "queued": "queued to send",
    "sending": "sending",
    "sent": "sent",
    "failed": "failed",
    "unknown": "may not have gone out",
    "cancelled": "cancelled",
}
ENROLLMENT_TONES = {"active": "accent", "paused": "warn", "completed": "ok", "exited": "bad"}


@dataclass
class Item:
    at: datetime
    kind: str  # enrollment, email, reply, task
    title: str
    detail: str
    tone: str
    enrollment_id: object = None


@dataclass
class LeadTimeline:
    lead: Lead
    items: list[Item]
    lanes: list[Lane]
    start: datetime
    end: datetime


def lead_timeline(lead: Lead, now: datetime, *, zone: ZoneInfo = UTC_ZONE) -> LeadTimeline:
    """Every enrollment, email, reply and task of ``lead``, newest first, and the chart lanes for them."""
    session = db.session
    enrollments = list(
        session.scalars(
            sa.select(Enrollment)
            .where(Enrollment.lead_id == lead.id)
            .options(selectinload(Enrollment.sequence))
            .order_by(Enrollment.enrolled_on.desc())
            .limit(LIMIT_PER_KIND)
        )
    )
    messages = list(
        session.scalars(
            sa.select(OutboundMessage)
            .where(OutboundMessage.lead_id == lead.id)
            .order_by(OutboundMessage.created_at.desc())
            .limit(LIMIT_PER_KIND)
        )
    )
    replies = list(
        session.scalars(
            sa.select(LeadReply)
            .where(LeadReply.lead_id == lead.id)
            .order_by(LeadReply.received_at.desc())
            .limit(LIMIT_PER_KIND)
        )
    )
    tasks = list(
        session.scalars(
            sa.select(Task)
            .where(Task.lead_id == lead.id)
            .options(selectinload(Task.assignee))
            .order_by(Task.created_at.desc())
            .limit(LIMIT_PER_KIND)
        )
    )
    names = {e.sequence_id: e.sequence.name for e in enrollments}
    # Follow-ups that could not reply in their thread, by message: the lead's page says why.
    unthreaded = {
        data.get("message"): data.get("reason")
        for data in session.scalars(
            sa.select(Activity.data).where(Activity.lead_id == lead.id, Activity.type == "email_unthreaded")
        )
    }

    items: list[Item] = []
    lanes: list[Lane] = []
    for e in enrollments:
        name = e.sequence.name
        items.append(Item(e.enrolled_on, "enrollment", f"Enrolled in “{name}”", "", "accent", e.id))
        if e.ended_on:
            if e.status == "exited":
                title, detail = f"Left “{name}”", reasons.exit_reason(e.exit_reason)
            else:
                title, detail = f"Completed “{name}”", "Every step ran."
            items.append(Item(e.ended_on, "enrollment", title, detail, ENROLLMENT_TONES[e.status], e.id))
        state = e.status if not e.exit_reason else f"exited: {reasons.exit_reason(e.exit_reason).lower()}"
        lanes.append(
            Lane(
                label=name,
                spans=[
                    Span(
                        e.enrolled_on,
                        e.ended_on or now,
                        ENROLLMENT_TONES.get(e.status, "accent"),
                        f"{name}: {e.enrolled_on.astimezone(zone):%b %-d} – {(e.ended_on or now).astimezone(zone):%b %-d} ({state})",
                    )
                ],
            )
        )
    email_lane = Lane("Emails")
    for m in messages:
        at = m.sent_at or m.created_at
        words = MESSAGE_WORDS.get(m.status, m.status)
        title = f"Email {words}: “{m.subject}”"
        sequence = names.get(m.sequence_id)
        detail = f"Step {m.step_order}" + (f" of “{sequence}”" if sequence else "")
        if m.in_reply_to:
            detail += ". A reply in the thread of the earlier email"
        elif str(m.id) in unthreaded:
            why = follow_ups.UNTHREADED_WORDS.get(unthreaded[str(m.id)], "It was not sent in its thread.")
            detail += ". Sent with its own subject: " + why[0].lower() + why[1:]
        if m.error and m.status in ("failed", "unknown"):
            detail += f". {m.error}"
        tone = MESSAGE_TONES.get(m.status, "accent")
        items.append(Item(at, "email", title, detail, tone, m.enrollment_id))
        email_lane.points.append(Point(at, tone, f"{at.astimezone(zone):%b %-d %H:%M} · {title}"))
    reply_lane = Lane("Replies")
    for r in replies:
        sentiment = r.sentiment.replace("_", " ")
        tone = {"positive": "ok", "negative": "bad", "unsubscribe": "bad", "out_of_office": "warn"}.get(
            r.sentiment, "accent"
        )
        title = f"Replied ({sentiment})"
        if r.triage == "pending":
            title, tone = "Replied — waiting for a person to sort", "warn"
        excerpt = (r.body_excerpt or "").strip().replace("\n", " ")
        items.append(
            Item(
                r.received_at,
                "reply",
                title,
                (excerpt[:160] + "…") if len(excerpt) > 160 else excerpt,
                tone,
            )
        )
        reply_lane.points.append(
            Point(r.received_at, tone, f"{r.received_at.astimezone(zone):%b %-d %H:%M} · reply, {sentiment}")
        )
    items.extend(_triage_decisions(lead))
    task_lane = Lane("Tasks")
    for t in tasks:
        who = t.assignee.name if t.assignee else "nobody"
        kind = "Call" if t.kind == "call_reminder" else "Task"
        items.append(
            Item(
                t.created_at,
                "task",
                f"{kind} for {who}: “{t.title}”",
                f"Due {moment(t.due_at, zone)}",
                "warn" if t.status == "open" else "muted",
                t.enrollment_id,
            )
        )
        task_lane.points.append(
            Point(t.created_at, "warn", f"{t.created_at.astimezone(zone):%b %-d} · {kind.lower()}: {t.title}")
        )
        if t.completed_at:
            outcome = f" ({t.outcome.replace('_', ' ')})" if t.outcome else ""
            items.append(
                Item(
                    t.completed_at,
                    "task",
                    f"{kind} {t.status}{outcome}: “{t.title}”",
                    "",
                    "ok",
                    t.enrollment_id,
                )
            )
            task_lane.points.append(
                Point(
                    t.completed_at, "ok", f"{t.completed_at.astimezone(zone):%b %-d} · {t.status}: {t.title}"
                )
            )
    lanes.reverse()  # oldest enrollment on top
    lanes.extend(lane for lane in (email_lane, reply_lane, task_lane) if lane.points)
    items.sort(key=lambda i: i.at, reverse=True)
    start = min((i.at for i in items), default=now - timedelta(days=7))
    end = max([now, *(i.at for i in items)])
    if end - start < timedelta(days=1):
        start = end - timedelta(days=1)
    return LeadTimeline(lead=lead, items=items, lanes=lanes, start=start, end=end)


def _triage_decisions(lead: Lead) -> list[Item]:
    """Each sort of a reply the classifier was not sure about: what was decided, and by whom."""
    rows = db.session.execute(
        sa.select(Activity.occurred_at, Activity.data, User.name)
        .outerjoin(User, User.id == Activity.actor_id)
        .where(Activity.lead_id == lead.id, Activity.type == "reply_triaged")
        .order_by(Activity.occurred_at.desc())
        .limit(LIMIT_PER_KIND)
    ).all()
    items = []
    for at, data, who in rows:
        decision = DECISIONS.get((data or {}).get("decision"), "?").lower()
        guess = ((data or {}).get("guess") or "?").replace("_", " ")
        items.append(
            Item(
                at,
                "reply",
                f"Reply sorted by {who or 'someone'}: {decision}",
                f"The classifier was not sure (its guess: {guess}).",
                "ok",
            )
        )
    return items
