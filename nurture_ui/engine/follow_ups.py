"""What a step knows of its enrollment's earlier emails: the thread a follow-up replies in, and the activity
conditions (the previous email got no reply, the lead has no open task).

Pure functions over rows the executor has already loaded, so a batch decides in memory and tests need no
database. "The earlier email" of a step is the nearest earlier email step of the same enrollment whose
message was actually sent to the lead (status ``sent``): a skipped step has no message, and a failed,
rejected or cancelled one never reached the lead, so neither can be replied to or threaded under.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Why a step whose activity conditions fail is skipped (``nurture_step_executed`` data ``reason``).
REPLIED = "previous_email_replied"
OPEN_TASK = "open_task"
# Why a same-thread follow-up went with its own subject (``email_unthreaded`` data ``reason``).
EARLIER_NOT_SENT = "earlier_email_not_sent"

SKIP_WORDS = {
    REPLIED: "The lead replied to the previous email, and this step runs only if they did not.",
    OPEN_TASK: "The lead has an open task, and this step runs only if they have none.",
}
UNTHREADED_WORDS = {
    EARLIER_NOT_SENT: "The earlier email was never sent, so there was no thread to reply in.",
}

MAX_SUBJECT = 998  # outbound_messages.subject


@dataclass(frozen=True)
class SentEmail:
    """An email of the enrollment that went out: what a follow-up threads under, or a reply answers."""

    step_order: int
    subject: str
    message_id: str
    thread_references: str | None
    sent_at: datetime


@dataclass(frozen=True)
class Thread:
    """How a follow-up email goes out: its subject and threading headers (None: its own thread)."""

    subject: str
    in_reply_to: str | None = None
    references: str | None = None
    unthreaded_reason: str | None = None


def earlier_sent_email(step_order: int, sent: Iterable[SentEmail]) -> SentEmail | None:
    """The enrollment's nearest email before step ``step_order`` that was sent; None when none was."""
    earlier = [email for email in sent if email.step_order < step_order]
    return max(earlier, key=lambda email: email.step_order, default=None)


def reply_subject(subject: str) -> str:
    """``Re: <subject>``, not doubled when the subject already starts with ``Re:`` (in any case)."""
    subject = subject.strip()
    if subject[:3].lower() == "re:":
        return subject[:MAX_SUBJECT]
    return f"Re: {subject}"[:MAX_SUBJECT]


def references_after(earlier: SentEmail) -> str:
    """RFC 5322 §3.6.4: the parent's References (its own chain) followed by the parent's Message-ID."""
    chain = (earlier.thread_references or "").split()
    if earlier.message_id not in chain:
        chain.append(earlier.message_id)
    return " ".join(chain)


def follow_up_thread(own_subject: str, earlier: SentEmail | None) -> Thread:
    """The subject and headers of a same-thread follow-up whose earlier email is ``earlier``: ``Re:`` that
    email's subject as it was sent, In-Reply-To its Message-ID, References its chain plus its Message-ID. With
    no earlier email sent, the step's own subject, no threading headers, and the reason."""
    if earlier is None:
        return Thread(subject=own_subject, unthreaded_reason=EARLIER_NOT_SENT)
    return Thread(
        subject=reply_subject(earlier.subject),
        in_reply_to=earlier.message_id,
        references=references_after(earlier),
    )


def replied_since(sent_at: datetime, replies: Iterable, now: datetime) -> bool:
    """Whether any reply of the lead (an out-of-office notice is not one) arrived from ``sent_at`` to now."""
    return any(
        sent_at <= reply.received_at <= now and reply.sentiment != "out_of_office" for reply in replies
    )


def activity_condition_failure(
    step, *, earlier: SentEmail | None, replies: Iterable, has_open_task: bool, now: datetime
) -> str | None:
    """Why ``step`` must be skipped by its activity conditions (``REPLIED``, ``OPEN_TASK``), or None to run.

    "Only if the previous email was not replied to" holds when no earlier email was sent (nothing to reply
    to) or no reply came since it was sent; "only if the lead has no open task" holds when ``has_open_task``
    is false (any task of the lead not done or skipped, from any sequence or made by hand)."""
    if step.only_if_not_replied and earlier is not None and replied_since(earlier.sent_at, replies, now):
        return REPLIED
    if step.only_if_no_open_task and has_open_task:
        return OPEN_TASK
    return None
