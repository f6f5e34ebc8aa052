"""The check right before a group of emails is handed to SMTP: the one stop decision for a whole group.

The sender calls ``plan_group`` inside the transaction that claims the group. It locks the group's leads (and
the mailboxes they send from), so two send jobs with emails to one person, or from one mailbox, take turns:
the second one sees the first one's email as ``sending``. Then one query reads, for every email of the group,
what ``stops.may_mail`` needs (the lead, its enrollment and sequence, its replies since it was enrolled, its
last email to go out, its owner's mailbox) and each email gets one of three answers:

  stop → ``cancelled`` with the reason (``message_cancelled``), its enrollment exited when it is still live ·
  not yet (the frequency cap, the mailbox's spacing or daily limit) → it stays ``queued`` with ``send_after``
  (``message_held``, once per hold), and the outbox sweep hands it to a send job when that time comes ·
  go → sent From its owner's mailbox when the owner has one, else from the app's ``MAIL_FROM``.

The mailbox is the lead's owner's *at send time*: a lead handed to another rep after its email was queued is
mailed from the new owner's mailbox, so the reply reaches the person who now looks after it; the email's
``mailbox_id`` is corrected to say so. Several emails for one mailbox are spread: the first goes, the next are
held ``min_spacing_seconds`` apart (after any sends the mailbox already reserved), and beyond its
``daily_send_limit`` in the last 24 hours they wait for the rolling window to free up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from nurture_ui import reasons
from nurture_ui.engine.schedule import send_window_for
from nurture_ui.engine.stops import SendHold, send_hold, send_refusal
from nurture_ui.extensions import db
from nurture_ui.models import (
    DEFAULT_POLICY,
    Activity,
    Enrollment,
    Lead,
    LeadReply,
    Mailbox,
    OutboundMessage,
    Sequence,
    Tenant,
    User,
)
from nurture_ui.models.base import UTCDateTime, aware_utc
from nurture_ui.triage import PENDING as TRIAGE_PENDING
from nurture_ui.triage import TRIAGE_PAUSE

# Emails that count as gone (or going) to a person: the cap and a mailbox's spacing are measured from these.
WENT_OUT = ("sent", "sending", "unknown")
DAY = timedelta(hours=24)
# How long an email waits for a person to sort its lead's reply before the sender looks again (the decision
# itself hands it back at once).
TRIAGE_HOLD = DAY
# The hold of an email a reviewer may still take back (``review_undo``): its ``send_after`` is not yet.
UNDO_WINDOW = "undo_window"

_M = OutboundMessage.__table__
_OTHER = _M.alias("other")
_L = Lead.__table__
_E = Enrollment.__table__
_S = Sequence.__table__
_T = Tenant.__table__
_R = LeadReply.__table__
_MB = Mailbox.__table__


@dataclass(frozen=True)
class Sender:
    """Who an email goes out as: the mailbox's display name and address, and its SMTP settings (None: the
    app's own SMTP server carries it)."""

    mailbox_id: uuid.UUID
    name: str
    address: str
    smtp: dict | None

    @property
    def identity(self) -> tuple[str, str]:
        return (self.name, self.address)


@dataclass
class GroupPlan:
    """What to do with each email of a group: send (rows in order, each with its ``Sender`` or None),
    cancelled (the row and the stop reason), held (the row and the ``SendHold``)."""

    send: list[tuple] = field(default_factory=list)
    cancelled: list[tuple] = field(default_factory=list)
    held: list[tuple] = field(default_factory=list)
    missing: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class _Reply:
    sentiment: str
    received_at: datetime


@dataclass(frozen=True)
class _Policy:
    """A tenant's policy, read like ``Tenant.policy_value`` without loading the tenant."""

    policy: dict | None
    id: uuid.UUID | None = None

    def policy_value(self, key: str):
        return (self.policy or {}).get(key, DEFAULT_POLICY[key])


@dataclass(frozen=True)
class _SequenceWindow:
    """A sequence's own send window as ``send_window_for`` reads it, without loading the sequence."""

    send_window: dict | None


def _went_out_at(table):
    """When an email went out: its ``sent_at``, else (``sending``, ``unknown``) when it was last touched."""
    return sa.type_coerce(
        sa.case((table.c.sent_at.is_not(None), table.c.sent_at), else_=table.c.updated_at), UTCDateTime
    )


def _first_reply(*conditions):
    """The earliest reply of the email's lead since its enrollment began (up to now) matching ``conditions``."""
    return (
        sa.select(sa.type_coerce(sa.func.min(_R.c.received_at), UTCDateTime))
        .where(
            _R.c.lead_id == _M.c.lead_id,
            _R.c.received_at >= _E.c.enrolled_on,
            _R.c.received_at <= sa.bindparam("now"),
            # A reply waiting for a person is a guess nobody confirmed (``stops.exit_reason`` skips it too):
            # it holds the email instead (``pending_reply``).
            sa.or_(_R.c.triage.is_(None), _R.c.triage != TRIAGE_PENDING),
            *conditions,
        )
        .scalar_subquery()
    )


# One query for the whole group: everything the stop decision and the cap need, per email.
_FACTS = (
    sa.select(
        _M.c.id,
        _M.c.tenant_id,
        _M.c.lead_id,
        _M.c.enrollment_id,
        _M.c.sequence_id,
        _M.c.step_order,
        _M.c.to_email,
        _M.c.subject,
        _M.c.body,
        _M.c.message_id,
        _M.c.in_reply_to,
        _M.c.thread_references,
        _M.c.attempts,
        _M.c.mailbox_id,
        _M.c.send_after,
        _L.c.first_name,  # the lead's name in To
        _L.c.last_name,
        _L.c.do_not_contact,
        _L.c.unsubscribed_at,
        _L.c.undeliverable,
        _L.c.status.label("lead_status"),
        _L.c.last_engaged_at,
        _L.c.timezone,
        _E.c.status.label("enrollment_status"),
        _E.c.enrolled_on,
        _S.c.exit_rules,
        _S.c.send_window.label("sequence_window"),
        _S.c.status.label("sequence_status"),
        _T.c.policy,
        sa.select(sa.func.max(_went_out_at(_OTHER)))
        .where(_OTHER.c.lead_id == _M.c.lead_id, _OTHER.c.id != _M.c.id, _OTHER.c.status.in_(WENT_OUT))
        .scalar_subquery()
        .label("last_sent"),
        _first_reply(_R.c.sentiment == "unsubscribe").label("opt_out_at"),
        _first_reply(_R.c.sentiment == "positive").label("positive_at"),
        _first_reply(_R.c.sentiment == "negative").label("negative_at"),
        _first_reply(_R.c.sentiment != "out_of_office").label("reply_at"),
        sa.exists().where(_R.c.lead_id == _M.c.lead_id, _R.c.triage == TRIAGE_PENDING).label("pending_reply"),
        sa.select(_MB.c.id)
        .where(_MB.c.user_id == _L.c.owner_id, _MB.c.tenant_id == _M.c.tenant_id, _MB.c.enabled.is_(True))
        .order_by(_MB.c.created_at, _MB.c.id)
        .limit(1)
        .scalar_subquery()
        .label("owner_mailbox_id"),
    )
    .select_from(
        _M.join(_L, _L.c.id == _M.c.lead_id)
        .join(_E, _E.c.id == _M.c.enrollment_id)
        .join(_S, _S.c.id == _M.c.sequence_id)
        .join(_T, _T.c.id == _M.c.tenant_id)
    )
    .where(_M.c.id.in_(sa.bindparam("ids", expanding=True)), _M.c.status == "queued")
)


def _lock_leads(message_ids: list[uuid.UUID]) -> None:
    """Lock the leads of these emails until the claim commits (in id order: no deadlock between senders).
    SQLite has no row locks: a no-op UPDATE takes the database's write lock instead."""
    leads_of = sa.select(_M.c.lead_id).where(_M.c.id.in_(message_ids))
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.update(_L).where(_L.c.id.in_(leads_of)).values(id=_L.c.id))
        return
    db.session.execute(
        sa.select(_L.c.id).where(_L.c.id.in_(leads_of)).order_by(_L.c.id).with_for_update(of=_L)
    )


def release_held_for_triage(lead_id: uuid.UUID, now: datetime) -> int:
    """Hand the lead's emails held while a reply waited for a person back to the sender now (their hold
    becomes due: the next dispatcher tick sends them, after checking the lead again with the person's
    decision in). Runs in the caller's transaction; returns how many."""
    return db.session.execute(
        sa.update(_M)
        .where(_M.c.lead_id == lead_id, _M.c.status == "queued", _M.c.send_after > now)
        # ``updated_at`` stays as the hold left it (before ``now``): the sweep hands out a hold that came due
        # since it was last touched.
        .values(send_after=now, updated_at=_M.c.updated_at)  # explicit: the column's onupdate would set now
        .execution_options(synchronize_session=False)
    ).rowcount


def group_facts(message_ids: list[uuid.UUID], now: datetime) -> list:
    """The ``queued`` ones of these emails with what the stop decision needs (one query), in their order."""
    rows = {r.id: r for r in db.session.execute(_FACTS, {"ids": message_ids, "now": now})}
    return [rows[i] for i in message_ids if i in rows]


def refusal_of(row, now: datetime) -> str | None:
    """``stops.send_refusal`` for a row of ``group_facts``: the same rules, on what the query read."""
    replies = [
        _Reply(sentiment, aware_utc(at))
        for sentiment, at in (
            ("unsubscribe", row.opt_out_at),
            ("positive", row.positive_at),
            ("negative", row.negative_at),
            ("neutral", row.reply_at),
        )
        if at is not None
    ]
    lead = _LeadFacts(
        do_not_contact=row.do_not_contact,
        unsubscribed_at=row.unsubscribed_at,
        undeliverable=row.undeliverable,
        status=row.lead_status,
        last_engaged_at=aware_utc(row.last_engaged_at),
        timezone=row.timezone,
    )
    sequence = _SequenceFacts(exit_rules=row.exit_rules, status=row.sequence_status)
    return send_refusal(
        lead,
        sequence,
        enrollment_status=row.enrollment_status,
        enrolled_on=aware_utc(row.enrolled_on),
        replies=replies,
        now=now,
    )


@dataclass(frozen=True)
class _LeadFacts:
    do_not_contact: bool
    unsubscribed_at: datetime | None
    undeliverable: bool
    status: str
    last_engaged_at: datetime | None
    timezone: str | None


@dataclass(frozen=True)
class _SequenceFacts:
    exit_rules: dict | None
    status: str


@dataclass
class _MailboxState:
    """A mailbox's sending so far: the settings, the last send, sends in the last 24 hours (how many, the
    oldest), and the latest send already reserved by an email it holds."""

    sender: Sender
    spacing: timedelta
    daily_limit: int
    last: datetime | None
    count: int
    oldest: datetime | None
    reserved: datetime | None


def _mailboxes(mailbox_ids: set[uuid.UUID], group_ids: list[uuid.UUID], now: datetime) -> dict:
    """Lock and read the group's mailboxes (one query), then what each has sent and reserved (one query)."""
    locked = sa.select(_MB, User.__table__.c.name.label("owner_name")).select_from(
        _MB.outerjoin(User.__table__, User.__table__.c.id == _MB.c.user_id)
    )
    locked = locked.where(_MB.c.id.in_(mailbox_ids)).order_by(_MB.c.id)
    if db.engine.dialect.name != "sqlite":
        locked = locked.with_for_update(of=_MB)
    settings = {row.id: row for row in db.session.execute(locked)}
    went = _went_out_at(_M)
    recent = sa.and_(
        _M.c.mailbox_id == _MB.c.id,
        _M.c.status.in_(WENT_OUT),
        sa.or_(
            _M.c.sent_at >= now - DAY,
            sa.and_(_M.c.sent_at.is_(None), _M.c.updated_at >= now - DAY),
        ),
    )
    stats = db.session.execute(
        sa.select(
            _MB.c.id,
            sa.select(sa.func.max(went)).where(recent).scalar_subquery().label("last"),
            sa.select(sa.func.count()).where(recent).scalar_subquery().label("count"),
            sa.select(sa.func.min(went)).where(recent).scalar_subquery().label("oldest"),
            sa.select(sa.type_coerce(sa.func.max(_M.c.send_after), UTCDateTime))
            .where(
                _M.c.mailbox_id == _MB.c.id,
                _M.c.status == "queued",
                _M.c.send_after.is_not(None),
                _M.c.id.not_in(group_ids),
            )
            .scalar_subquery()
            .label("reserved"),
        ).where(_MB.c.id.in_(settings))
    )
    states = {}
    for row in stats:
        box = settings[row.id]
        states[row.id] = _MailboxState(
            sender=Sender(
                mailbox_id=box.id,
                name=box.display_name or box.owner_name or "",
                address=box.address,
                smtp=mailbox_smtp_config(box) if box.smtp_host else None,
            ),
            spacing=timedelta(seconds=max(0, box.min_spacing_seconds)),
            daily_limit=max(1, box.daily_send_limit),
            last=aware_utc(row.last),
            count=row.count or 0,
            oldest=aware_utc(row.oldest),
            reserved=aware_utc(row.reserved),
        )
    return states


def mailbox_smtp_config(box) -> dict:
    """A mailbox's own SMTP settings in the keys ``SmtpConnection`` reads, its secret opened."""
    from nurture_ui.secret_box import open_sealed

    config = current_app.config
    return {
        "SMTP_HOST": box.smtp_host,
        "SMTP_PORT": box.smtp_port,
        "SMTP_SECURITY": box.smtp_security,
        "SMTP_USERNAME": box.smtp_username or None,
        "SMTP_PASSWORD": open_sealed(box.smtp_secret) if box.smtp_secret else None,
        "SMTP_CA_FILE": config.get("SMTP_CA_FILE"),
        "SMTP_TLS_VERIFY": config.get("SMTP_TLS_VERIFY", True),
    }


def plan_group(message_ids: list[uuid.UUID], now: datetime) -> GroupPlan:
    """Lock, read and decide a group (not committed: the caller claims what may go, and commits)."""
    plan = GroupPlan()
    _lock_leads(message_ids)
    rows = group_facts(message_ids, now)
    found = {row.id for row in rows}
    plan.missing = [i for i in message_ids if i not in found]
    mailbox_ids = {row.owner_mailbox_id for row in rows if row.owner_mailbox_id is not None}
    mailboxes = _mailboxes(mailbox_ids, message_ids, now) if mailbox_ids else {}
    going_to: dict[uuid.UUID, datetime] = {}  # lead → instant an email of this group goes to it
    policies: dict[uuid.UUID, _Policy] = {}
    for row in rows:
        stop = refusal_of(row, now)
        if stop is not None:
            plan.cancelled.append((row, stop))
            continue
        if row.pending_reply:
            # Perhaps "stop", perhaps not: the email waits until a person has sorted the reply (which hands
            # it back to the sender at once: ``release_held_for_triage``); the day is only a backstop.
            plan.held.append((row, SendHold(now + TRIAGE_HOLD, TRIAGE_PAUSE)))
            continue
        if row.send_after is not None and aware_utc(row.send_after) > now:
            # Never before its ``send_after``: a send job that reaches it early (a reviewer's undo window
            # still open, a turn its mailbox reserved) leaves it held until then.
            plan.held.append((row, SendHold(aware_utc(row.send_after), UNDO_WINDOW)))
            continue
        policy = policies.setdefault(row.tenant_id, _Policy(row.policy, row.tenant_id))
        last = max(filter(None, (aware_utc(row.last_sent), going_to.get(row.lead_id))), default=None)
        hold = (
            send_hold(
                last_sent=last,
                tenant=policy,
                lead_timezone=row.timezone,
                now=now,
                window=False,
                sequence=_SequenceWindow(row.sequence_window),
            )
            if last is not None
            else None
        )
        if hold is not None:
            plan.held.append((row, hold))
            continue
        state = mailboxes.get(row.owner_mailbox_id)
        if state is not None:
            hold = _mailbox_turn(state, row, policy, now)
            if hold is not None:
                plan.held.append((row, hold))
                continue
        going_to[row.lead_id] = now
        plan.send.append((row, state.sender if state is not None else None))
    return plan


def _mailbox_turn(state: _MailboxState, row, policy: _Policy, now: datetime) -> SendHold | None:
    """Whether this email may go from its mailbox now; else when (its spacing, its daily limit). Either
    way the mailbox's turn moves on: the next email of the group comes after this one."""
    earliest = aware_utc(row.send_after) or now
    if state.last is not None:
        earliest = max(earliest, state.last + state.spacing)
    if row.send_after is None and state.reserved is not None:
        # A new email queues behind the sends the mailbox already reserved for emails it holds.
        earliest = max(earliest, state.reserved + state.spacing)
    reason = "spacing"
    if state.count >= state.daily_limit:
        earliest = max(earliest, (state.oldest or now) + DAY)
        reason = "daily_limit"
    if earliest <= now:
        state.last = now
        state.count += 1
        state.oldest = state.oldest or now
        return None
    until = send_window_for(policy, _SequenceWindow(row.sequence_window)).opening(earliest, row.timezone)
    # The held email reserves its turn: the next one is spaced after it, and counts against the limit.
    state.reserved = max(filter(None, (state.reserved, until)))
    state.last = until
    if reason == "spacing":
        state.count += 1  # a turn within the day: it counts against the daily limit
    return SendHold(until, reason)


# --- writing the outcomes (not committed) ------------------------------------------------------------

_HOLD = (
    sa.update(_M)
    .where(_M.c.id == sa.bindparam("the_id"), _M.c.status == "queued")
    .values(send_after=sa.bindparam("until"), updated_at=sa.bindparam("now"))
)
_SET_MAILBOX = (
    sa.update(_M).where(_M.c.id == sa.bindparam("the_id")).values(mailbox_id=sa.bindparam("mailbox"))
)


def apply_plan(plan: GroupPlan, now: datetime) -> None:
    """Write a plan's cancellations (with their exits) and holds, and correct the sending mailbox of the
    emails that go; each with its activity. Not committed: it goes with the claim."""
    connection = db.session.connection()
    activities = []
    if plan.cancelled:
        texts = {row.id: f"Not sent: {reasons.stop_reason(stop).lower()}." for row, stop in plan.cancelled}
        moved = set(
            connection.execute(
                sa.update(_M)
                .where(_M.c.id.in_(list(texts)), _M.c.status == "queued")
                .values(
                    status="cancelled",
                    updated_at=now,
                    error=sa.case(texts, value=_M.c.id),
                    send_after=None,
                )
                .returning(_M.c.id)
            ).scalars()
        )
        moved = {uuid.UUID(str(i)) for i in moved}
        activities += [
            _activity(row, "message_cancelled", now, reason=stop, error=texts[row.id])
            for row, stop in plan.cancelled
            if row.id in moved
        ]
        _exit_enrollments([(row, stop) for row, stop in plan.cancelled if row.id in moved], now)
    # A hold logged once: an email held again until the same instant (a second job for it) is not news.
    held = [(row, hold) for row, hold in plan.held if aware_utc(row.send_after) != hold.until]
    if held:
        connection.execute(_HOLD, [{"the_id": row.id, "until": hold.until, "now": now} for row, hold in held])
        activities += [
            _activity(row, "message_held", now, held_until=hold.until.isoformat(), hold_reason=hold.reason)
            for row, hold in held
        ]
    moved_mailbox = [
        {"the_id": row.id, "mailbox": sender.mailbox_id if sender else None}
        for row, sender in plan.send
        if row.mailbox_id != (sender.mailbox_id if sender else None)
    ]
    if moved_mailbox:
        connection.execute(_SET_MAILBOX, moved_mailbox)
    if activities:
        connection.execute(sa.insert(Activity.__table__), activities)


def _exit_enrollments(stopped: list[tuple], now: datetime) -> None:
    """Exit the still live enrollments of cancelled emails with the stop's reason (``lifecycle``: the rest of
    their unsent mail cancelled, open tasks closed, ``nurture_exited`` logged) — at once, as approval does,
    rather than at their next step."""
    from nurture_ui.engine.transitions import exit_in_session, lock_enrollments
    from nurture_ui.models import LIVE_STATUSES

    reasons_by_enrollment = {
        row.enrollment_id: stop
        for row, stop in stopped
        if stop != "enrollment_exited" and row.enrollment_status in LIVE_STATUSES
    }
    if not reasons_by_enrollment:
        return
    for enrollment_id, (enrollment, _lead) in lock_enrollments(reasons_by_enrollment).items():
        exit_in_session(enrollment, reason=reasons_by_enrollment[enrollment_id], now=now)
    db.session.flush()


def _activity(row, kind: str, now: datetime, **data) -> dict:
    return {
        "id": uuid.uuid4(),
        "type": kind,
        "tenant_id": row.tenant_id,
        "lead_id": row.lead_id,
        "enrollment_id": row.enrollment_id,
        "sequence_id": row.sequence_id,
        "actor_id": None,
        "occurred_at": now,
        "data": {"step": row.step_order, "message": str(row.id), **data},
    }


__all__ = [
    "GroupPlan",
    "Sender",
    "apply_plan",
    "group_facts",
    "mailbox_smtp_config",
    "plan_group",
    "refusal_of",
]
