"""The reasons an enrollment pauses, resumes, exits or moves, in plain words for people.

The engine stores short codes (``positive_reply``, ``frequency_cap``); every page that shows one to a person
reads it through here, so a timeline, a chart label and a table say the same thing.
"""

from __future__ import annotations

EXIT_REASONS = {
    "converted": "The lead converted",
    "disqualified": "The lead was disqualified",
    "unsubscribed": "The lead unsubscribed",
    "positive_reply": "The lead replied positively",
    "negative_reply": "The lead says not interested",
    "replied": "The lead replied",
    "bounced": "An email bounced",
    "undeliverable": "The address cannot receive mail",
    "do_not_contact": "Marked do-not-contact",
    "unenrolled": "Taken out by hand",
    "rejected_in_review": "A reviewer rejected a draft and took the lead out",
    "sequence_archived": "The sequence was archived",
    "inactive": "No activity for too long",
    "inactivity": "No activity for too long",
}

PAUSE_REASONS = {
    "approval": "the email waits for approval",
    "task": "waiting for a task to be done",
    "manual": "paused by hand",
    "out_of_office": "the lead is out of office",
    "reply_triage": "a reply waits for a person to sort it",
    "render_failed": "the email template could not be filled in",
    "template_missing": "the email template is missing",
}

RESUME_REASONS = {
    "approved": "the email was approved",
    "rejected": "the draft was rejected; the step is skipped",
    "task_done": "the task was done",
    "task_skipped": "the task was skipped",
    "manual": "resumed by hand",
    "out_of_office": "resumed by hand after an out-of-office pause",
    "out_of_office_ended": "the lead is back from out of office",
    "reply_reclassified": "a reply was reclassified",
    "reply_triaged": "a person sorted the lead's reply",
}

RESCHEDULE_REASONS = {
    "frequency_cap": "moved: the lead was emailed too recently (frequency cap)",
    "send_window": "moved into the send window",
    "daily_limit": "moved: the sending mailbox reached its daily limit",
    "spacing": "moved: the sending mailbox spaces its emails apart",
    "reply_triage": "held: a reply waits for a person to sort it",
    "undo_window": "held: not due yet (the reviewer can still undo the approval)",
}

# Why the sender cancelled a queued email right before it went (``message_cancelled``'s ``reason``): every
# exit reason, and an enrollment that had already ended.
STOP_REASONS = {**EXIT_REASONS, "enrollment_exited": "The lead has left the sequence"}

CHANNELS = {"email": "Email", "task": "Task", "call_reminder": "Call reminder"}


def _fallback(code: str | None) -> str:
    return (code or "unknown").replace("_", " ").capitalize()


def exit_reason(code: str | None) -> str:
    return EXIT_REASONS.get(code or "", _fallback(code))


def pause_reason(code: str | None) -> str:
    return PAUSE_REASONS.get(code or "", _fallback(code).lower())


def resume_reason(code: str | None) -> str:
    return RESUME_REASONS.get(code or "", _fallback(code).lower())


def reschedule_reason(code: str | None) -> str:
    return RESCHEDULE_REASONS.get(code or "", _fallback(code).lower())


def stop_reason(code: str | None) -> str:
    return STOP_REASONS.get(code or "", _fallback(code))


def channel(code: str | None) -> str:
    return CHANNELS.get(code or "", _fallback(code))
