"""Execute the due step of each enrollment in a batch: the engine's one decision, made safely.

``execute_batch`` loads what a batch shares (sequences and steps, tenants, templates, replies, each lead's
last outbound message) in a handful of queries, then gives every enrollment its own transaction: the row is
locked, the lead read afresh, and exactly one of these happens, with its activity in the same commit —

  stop → ``exited`` · sequence not running → left alone · conditions false → step skipped ·
  email within the frequency cap or outside the send window → rescheduled · email needing approval →
  ``pending_approval`` draft from the tenant's drafter (``nurture_ui.drafting``) and ``paused`` · a draft
  approved while held by the cap or the window → ``queued`` · email → ``queued`` message (sent by a send job) ·
  task / call reminder → task for the lead's owner and ``paused`` · after the last step → ``completed``.

A row that is no longer due when locked (another worker got there first, a person paused it) is left as it
is, which is what makes a claim that expired and was taken twice harmless.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from collections.abc import Sequence as Seq
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from nurture_ui import activity, clock, new_rows, variants
from nurture_ui.drafting import TEMPLATE, Draft, DraftRequest, drafter_for
from nurture_ui.engine.content import render_step_email
from nurture_ui.engine.follow_ups import (
    SentEmail,
    activity_condition_failure,
    earlier_sent_email,
    follow_up_thread,
)
from nurture_ui.engine.stops import send_hold, send_refusal, step_conditions_hold
from nurture_ui.engine.transitions import (
    advance_in_session,
    exit_in_session,
    lock_enrollment,
    lock_enrollments,
    pause_in_session,
    reschedule_in_session,
)
from nurture_ui.extensions import db, one_of
from nurture_ui.models import (
    EmailTemplate,
    Enrollment,
    Lead,
    LeadReply,
    Mailbox,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Task,
    Tenant,
)
from nurture_ui.models.base import aware_utc
from nurture_ui.triage import PENDING, hold_if_pending

log = logging.getLogger(__name__)

# Why a draft waits, when nothing is unusual about it (the inbox shows this one quietly).
ROUTINE_REVIEW_REASON = "The step needs a person's approval before it goes."

# Messages that count against the frequency cap: everything that went, or is going, to the SMTP server.
CAPPED_MESSAGE_STATUSES = ("queued", "sending", "sent", "unknown")


@dataclass
class BatchReport:
    """What one batch did, by outcome; ``queued_message_ids`` are the emails waiting for a send job."""

    outcomes: dict[str, int] = field(default_factory=dict)
    queued_message_ids: list[uuid.UUID] = field(default_factory=list)
    # A/B steps with an auto-winner still open that drew variants: their check runs after the batch.
    auto_winner_steps: set[uuid.UUID] = field(default_factory=set)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class _BatchContext:
    """What the enrollments of one batch share, loaded once."""

    sequences: dict[uuid.UUID, Sequence]
    tenants: dict[uuid.UUID, Tenant]
    templates: dict[tuple[uuid.UUID, str], EmailTemplate]
    replies: dict[uuid.UUID, list[LeadReply]]
    last_outbound: dict[uuid.UUID, datetime]
    # Drafts a person approved while the frequency cap or the send window held them: sent when due.
    approved: dict[uuid.UUID, OutboundMessage] = field(default_factory=dict)
    # The enabled mailbox of each lead owner who has one: their leads' emails go out from it.
    owner_mailboxes: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    # The emails each enrollment has sent, and the leads with an open task: read only when a step of the
    # batch's sequences follows up in the same thread or has an activity condition.
    sent_emails: dict[uuid.UUID, list[SentEmail]] = field(default_factory=dict)
    leads_with_open_task: set[uuid.UUID] = field(default_factory=set)

    @classmethod
    def load(
        cls, enrollment_ids: Seq[uuid.UUID], locked: Seq[tuple[Enrollment, Lead]] | None = None
    ) -> _BatchContext:
        """``locked``: the batch's enrollments and leads when the caller has just locked and read them
        (else they are read here)."""
        session = db.session
        if locked is None:
            rows = session.execute(
                sa.select(Enrollment.sequence_id, Enrollment.tenant_id, Enrollment.lead_id, Lead.owner_id)
                .join(Lead, Lead.id == Enrollment.lead_id)
                .where(one_of(Enrollment.id, enrollment_ids))
            ).all()
            owner_ids = {r.owner_id for r in rows}
        else:
            rows = [enrollment for enrollment, _ in locked]
            owner_ids = {lead.owner_id for _, lead in locked}
        sequence_ids = {r.sequence_id for r in rows}
        lead_ids = {r.lead_id for r in rows}
        sequences = {
            s.id: s
            for s in session.scalars(
                sa.select(Sequence).where(Sequence.id.in_(sequence_ids)).options(selectinload(Sequence.steps))
            )
        }
        tenants = {
            t.id: t
            for t in session.scalars(sa.select(Tenant).where(Tenant.id.in_({r.tenant_id for r in rows})))
        }
        keys = {key for s in sequences.values() for st in s.steps for key in variants.template_keys(st)}
        templates = {}
        if keys:
            for template in session.scalars(
                sa.select(EmailTemplate).where(
                    EmailTemplate.tenant_id.in_(tenants.keys()), EmailTemplate.key.in_(keys)
                )
            ):
                templates[(template.tenant_id, template.key)] = template
        # All of each lead's replies: step conditions may look back before the enrollment began.
        replies: dict[uuid.UUID, list[LeadReply]] = {lead_id: [] for lead_id in lead_ids}
        for reply in session.scalars(sa.select(LeadReply).where(one_of(LeadReply.lead_id, lead_ids))):
            replies[reply.lead_id].append(reply)
        last_sent = sa.func.coalesce(OutboundMessage.sent_at, OutboundMessage.queued_at)
        last_outbound = dict(
            session.execute(
                sa.select(OutboundMessage.lead_id, sa.func.max(last_sent))
                .where(
                    one_of(OutboundMessage.lead_id, lead_ids),
                    OutboundMessage.status.in_(CAPPED_MESSAGE_STATUSES),
                )
                .group_by(OutboundMessage.lead_id)
            ).all()
        )
        # SQLite's max() hands back text or a naive datetime, not the column type.
        last_outbound = {k: aware_utc(v) for k, v in last_outbound.items() if v is not None}
        approved = {
            m.enrollment_id: m
            for m in session.scalars(
                sa.select(OutboundMessage).where(
                    one_of(OutboundMessage.enrollment_id, enrollment_ids),
                    OutboundMessage.status == "approved",
                )
            )
        }
        owner_mailboxes = owner_mailbox_ids(owner_ids)
        context = cls(sequences, tenants, templates, replies, last_outbound, approved, owner_mailboxes)
        all_steps = [st for s in sequences.values() for st in s.steps]
        if any(st.same_thread or st.only_if_not_replied for st in all_steps):
            context.sent_emails = sent_emails_of(enrollment_ids)
        if any(st.only_if_no_open_task for st in all_steps):
            context.leads_with_open_task = set(
                session.scalars(
                    sa.select(Task.lead_id).where(one_of(Task.lead_id, lead_ids), Task.status == "open")
                )
            )
        return context


def sent_emails_of(enrollment_ids) -> dict[uuid.UUID, list[SentEmail]]:
    """The emails each of these enrollments sent to its lead (status ``sent``), in one query."""
    found: dict[uuid.UUID, list[SentEmail]] = {}
    for row in db.session.execute(
        sa.select(
            OutboundMessage.enrollment_id,
            OutboundMessage.step_order,
            OutboundMessage.subject,
            OutboundMessage.message_id,
            OutboundMessage.thread_references,
            OutboundMessage.sent_at,
        ).where(one_of(OutboundMessage.enrollment_id, enrollment_ids), OutboundMessage.status == "sent")
    ):
        found.setdefault(row.enrollment_id, []).append(
            SentEmail(row.step_order, row.subject, row.message_id, row.thread_references, row.sent_at)
        )
    return found


def owner_mailbox_ids(owner_ids) -> dict[uuid.UUID, uuid.UUID]:
    """The enabled mailbox each of these users sends from (the oldest, when one has several); one query."""
    owner_ids = {i for i in owner_ids if i is not None}
    if not owner_ids:
        return {}
    found: dict[uuid.UUID, uuid.UUID] = {}
    for user_id, mailbox_id in db.session.execute(
        sa.select(Mailbox.user_id, Mailbox.id)
        .where(one_of(Mailbox.user_id, owner_ids), Mailbox.enabled.is_(True))
        .order_by(Mailbox.created_at.desc(), Mailbox.id.desc())
    ):
        found[user_id] = mailbox_id  # the last one written wins: the oldest
    return found


@contextmanager
def _objects_survive_commits() -> Iterator[None]:
    """Keep the batch's shared rows loaded across the per-enrollment commits (no reload per enrollment)."""
    session = db.session()
    previous = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = previous


def execute_batch(
    enrollment_ids: Seq[uuid.UUID], now: datetime | None = None, *, enqueue_send: bool = True
) -> BatchReport:
    """Execute the due step of each enrollment of a batch.

    The batch is one transaction: its rows locked in one query, every decision made in memory, everything
    written in one flush and committed once. If anything in it fails (a bug, a lost connection, a template
    that crashes the renderer in a new way), the whole batch is rolled back and run again one enrollment
    per transaction: then the failing enrollment is rolled back alone and keeps its lease, so a later tick
    retries it once the lease has expired, while the others go on. With ``enqueue_send`` the queued emails
    get their send jobs.
    """
    explicit_now = now
    now = now or clock.now()
    ids = [uuid.UUID(str(i)) for i in enrollment_ids]
    if not ids:
        return BatchReport()
    with _objects_survive_commits():
        try:
            report = _execute_together(ids, now)
        except Exception:
            db.session.rollback()
            log.warning(
                "a batch of %d enrollments failed as one transaction; running it one at a time",
                len(ids),
                exc_info=True,
            )
            report = _execute_one_by_one(ids, now)
    if enqueue_send and report.queued_message_ids:
        from nurture_ui.jobs import enqueue_send as enqueue

        enqueue(report.queued_message_ids, explicit_now)
    if report.auto_winner_steps:
        from nurture_ui.variant_results import check_winners

        # The A/B steps this batch drew for: a winner found now gets every later draw (a check a minute at most).
        check_winners(report.auto_winner_steps, now)
    return report


def _execute_together(ids: list[uuid.UUID], now: datetime) -> BatchReport:
    """The whole batch in one transaction (the fast path): the new messages and activities are kept as
    rows and inserted together after the enrollments' changes (``nurture_ui.new_rows``)."""
    report = BatchReport()
    with new_rows.collecting():
        locked = lock_enrollments(ids)
        # Read after the lock: what the steps decide on is at least as fresh as the rows they change.
        context = _BatchContext.load(ids, list(locked.values()))
        for enrollment_id in ids:
            outcome = execute_step(enrollment_id, context, now, report, locked=locked.get(enrollment_id))
            report.count(outcome)
        new_rows.write()
    db.session.commit()
    return report


def _execute_one_by_one(ids: list[uuid.UUID], now: datetime) -> BatchReport:
    """Each enrollment in its own transaction, a failure rolled back alone (the fallback)."""
    report = BatchReport()
    context = _BatchContext.load(ids)
    db.session.commit()
    for enrollment_id in ids:
        try:
            outcome = execute_step(enrollment_id, context, now, report)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception(
                "enrollment %s: step failed; it will be retried when its lease expires", enrollment_id
            )
            outcome = "failed"
        report.count(outcome)
    return report


_LOCK_HERE = object()


def execute_step(
    enrollment_id: uuid.UUID,
    context: _BatchContext,
    now: datetime,
    report: BatchReport,
    *,
    locked: tuple[Enrollment, Lead] | None | object = _LOCK_HERE,
) -> str:
    """Decide and apply what happens to one enrollment now, inside the caller's transaction; returns the outcome.

    ``locked`` is the enrollment and its lead when the caller has already locked them (``None``: the row is
    gone); by default the row is locked here.
    """
    if locked is _LOCK_HERE:
        locked = lock_enrollment(enrollment_id)
    if locked is None:
        return "gone"
    enrollment, lead = locked
    if enrollment.status != "active" or enrollment.next_step_on is None or enrollment.next_step_on > now:
        return "not_due"
    sequence = context.sequences.get(enrollment.sequence_id) or db.session.get(
        Sequence, enrollment.sequence_id
    )
    tenant = context.tenants.get(enrollment.tenant_id) or db.session.get(Tenant, enrollment.tenant_id)
    replies = context.replies.get(lead.id, [])

    reason = send_refusal(
        lead,
        sequence,
        enrollment_status=enrollment.status,
        enrolled_on=enrollment.enrolled_on,
        replies=replies,
        now=now,
    )
    if reason:
        exit_in_session(enrollment, reason=reason, now=now)
        return "exited"
    if sequence.status != "active":
        # A paused (or draft) sequence holds its enrollments where they are; the dispatcher skips them.
        enrollment.lease_until = None
        return "held"
    if any(r.triage == PENDING for r in replies) and hold_if_pending(
        enrollment, now=now, came_from="step_due"
    ):
        # A reply nobody has sorted yet: the step waits for the person who sorts it (nurture_ui.triage).
        return "paused_for_triage"

    steps = sequence.steps
    step = next((s for s in steps if s.step_order >= enrollment.current_step_order), None)
    if step is None:
        return advance_in_session(
            enrollment,
            steps,
            after_step=enrollment.current_step_order - 1,
            now=now,
            lead_timezone=lead.timezone,
            tenant=tenant,
            sequence=sequence,
        )
    enrollment.current_step_order = step.step_order

    def advance() -> str:
        return advance_in_session(
            enrollment,
            steps,
            after_step=step.step_order,
            now=now,
            lead_timezone=lead.timezone,
            tenant=tenant,
            sequence=sequence,
        )

    if not step_conditions_hold(step.conditions, lead, now=now, replies=replies):
        _record_executed(enrollment, step, now, outcome="skipped", reason="conditions")
        advance()
        return "skipped"
    earlier = earlier_sent_email(step.step_order, context.sent_emails.get(enrollment.id, ()))
    failure = activity_condition_failure(
        step,
        earlier=earlier,
        replies=replies,
        has_open_task=lead.id in context.leads_with_open_task,
        now=now,
    )
    if failure is not None:
        _record_executed(enrollment, step, now, outcome="skipped", reason=failure)
        advance()
        return "skipped"
    if step.channel == "email":
        return _execute_email(
            enrollment, lead, step, tenant, context, now, report, advance, sequence, earlier
        )
    return _execute_task(enrollment, lead, step, now)


def _execute_email(enrollment, lead, step, tenant, context, now, report, advance, sequence, earlier) -> str:
    hold = send_hold(
        last_sent=context.last_outbound.get(lead.id),
        tenant=tenant,
        lead_timezone=lead.timezone,
        now=now,
        sequence=sequence,
    )
    if hold is not None:
        reschedule_in_session(enrollment, due=hold.until, now=now, reason=hold.reason)
        return "rescheduled"

    held = context.approved.get(enrollment.id)
    if held is not None and held.step_order == step.step_order:
        return _queue_approved(enrollment, lead, step, held, context, now, report, advance)

    # An A/B step: the enrollment's variant (the same on every retry), its template and subject.
    drawn = variants.variant_for(step, enrollment.id)
    if drawn and step.auto_winner_min_sends is not None and not step.winner_variant:
        report.auto_winner_steps.add(step.id)
    letter, template_key, subject_override = (
        (drawn[0], drawn[1]["template_id"], drawn[1].get("subject") or "")
        if drawn
        else (None, step.template_id, "")
    )
    template = context.templates.get((enrollment.tenant_id, template_key))
    if template is None:
        pause_in_session(enrollment, reason="template_missing", now=now, data={"template": template_key})
        return "paused"
    template = variants.with_subject(template, subject_override)
    try:
        subject, body = render_step_email(template, lead, lead.owner)
    except Exception as error:  # a template a person wrote: its error is theirs to read, not a crash
        pause_in_session(
            enrollment,
            reason="render_failed",
            now=now,
            data={"template": template_key, "error": str(error)},
        )
        return "paused"
    variant_data = {"variant": letter} if letter else {}

    from nurture_ui.mailer import new_message_id

    needs_review = step.requires_human_approval and not (
        template.pre_approved and tenant.policy_value("preapproved_skip_review")
    )
    drafter, review_reason = TEMPLATE, None
    if needs_review:
        draft = drafter_for(tenant).draft(
            DraftRequest(
                template=template,
                lead=lead,
                owner=lead.owner,
                sequence_name=(
                    context.sequences.get(enrollment.sequence_id)
                    or db.session.get(Sequence, enrollment.sequence_id)
                ).name,
                step_order=step.step_order,
                rendered_subject=subject,
                rendered_body=body,
            )
        )
        subject, body, drafter = draft.subject, draft.body, draft.drafter
        review_reason = review_reason_for(template, draft)
    message_id = uuid.uuid4()
    thread = None
    if step.same_thread:
        # After the drafter: a follow-up's subject is the thread's, whoever wrote the body.
        thread = follow_up_thread(subject, earlier)
        subject = thread.subject
        if thread.unthreaded_reason:
            activity.record_for_enrollment(
                "email_unthreaded",
                enrollment,
                data={
                    "step": step.step_order,
                    "message": str(message_id),
                    "reason": thread.unthreaded_reason,
                },
                occurred_at=now,
            )
    new_rows.add(
        OutboundMessage,
        id=message_id,
        tenant_id=enrollment.tenant_id,
        enrollment_id=enrollment.id,
        step_order=step.step_order,
        step_id=step.id,
        lead_id=lead.id,
        sequence_id=enrollment.sequence_id,
        to_email=lead.email,
        subject=subject,
        body=body,
        status="pending_approval" if needs_review else "queued",
        drafter=drafter,
        review_reason=review_reason,
        queued_at=None if needs_review else now,
        message_id=new_message_id(),
        in_reply_to=thread.in_reply_to if thread else None,
        thread_references=thread.references if thread else None,
        attempts=0,
        mailbox_id=context.owner_mailboxes.get(lead.owner_id),
        variant=letter,
        created_at=now,
        updated_at=now,
    )
    if needs_review:
        pause_in_session(
            enrollment, reason="approval", now=now, data={"message": str(message_id), **variant_data}
        )
        return "paused"
    _record_executed(enrollment, step, now, message=str(message_id), **variant_data)
    context.last_outbound[lead.id] = now
    report.queued_message_ids.append(message_id)
    return "completed" if advance() == "completed" else "executed"


def review_reason_for(template: EmailTemplate, draft: Draft) -> str:
    """Why a person must read this draft, in a sentence or two (shown in the inbox)."""
    if template.pre_approved:
        reason = "The step needs approval: pre-approved templates are reviewed too under your settings."
    else:
        reason = ROUTINE_REVIEW_REASON
    if draft.fallback_reason:
        reason += f" The writing service failed ({draft.fallback_reason}), so this is the template's text."
    elif draft.drafter != TEMPLATE:
        reason += " Written by the writing service: read it closely."
    return reason[:255]


def _queue_approved(enrollment, lead, step, message, context, now, report, advance) -> str:
    """Send a draft a person approved while the cap or the window held it: it is queued now, as approved."""
    message.status = "queued"
    message.queued_at = now
    message.updated_at = now
    message.mailbox_id = context.owner_mailboxes.get(lead.owner_id)
    variant_data = {"variant": message.variant} if message.variant else {}
    _record_executed(enrollment, step, now, message=str(message.id), approved=True, **variant_data)
    context.last_outbound[lead.id] = now
    report.queued_message_ids.append(message.id)
    return "completed" if advance() == "completed" else "executed"


def _execute_task(enrollment, lead, step, now) -> str:
    kind = "call_reminder" if step.channel == "call_reminder" else "task"
    first_line = (
        (step.instructions or "").strip().splitlines()[0] if (step.instructions or "").strip() else ""
    )
    title = first_line[:255] or (
        f"Call {lead.name}" if kind == "call_reminder" else f"Follow up with {lead.name}"
    )
    task = Task(
        id=uuid.uuid4(),
        tenant_id=enrollment.tenant_id,
        lead_id=lead.id,
        enrollment_id=enrollment.id,
        step_order=step.step_order,
        kind=kind,
        title=title,
        notes=step.instructions or "",
        assignee_id=lead.owner_id,
        due_at=now,
        status="open",
        created_at=now,
        updated_at=now,
    )
    db.session.add(task)
    _record_executed(enrollment, step, now, task=str(task.id))
    pause_in_session(enrollment, reason="task", now=now, data={"task": str(task.id)})
    return "paused"


def _record_executed(enrollment: Enrollment, step: SequenceStep, now: datetime, **data) -> None:
    activity.record(
        "nurture_step_executed",
        tenant_id=enrollment.tenant_id,
        lead_id=enrollment.lead_id,
        enrollment_id=enrollment.id,
        sequence_id=enrollment.sequence_id,
        occurred_at=now,
        data={"step": step.step_order, "channel": step.channel, **data},
    )


__all__ = ["BatchReport", "Lead", "execute_batch", "execute_step"]
