"""Run the engine at a given instant, synchronously: the CLI's ``run-due --now`` and the replay tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app

from nurture_ui import clock
from nurture_ui.engine.dispatcher import claim_due_enrollments
from nurture_ui.engine.executor import execute_batch


@dataclass
class ReplayReport:
    outcomes: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0


def run_due(now: datetime, *, send: bool = True) -> ReplayReport:
    """Claim and execute everything due at ``now`` (steps whose delay is zero included), then send the
    emails queued meanwhile, all in this process with the clock frozen at ``now``."""
    from nurture_ui import mailer

    report = ReplayReport()
    batch_size = int(current_app.config.get("ENGINE_BATCH_SIZE", 200))
    lease = timedelta(seconds=int(current_app.config.get("ENGINE_LEASE_SECONDS", 300)))
    queued = []
    with clock.frozen_at(now):
        while ids := claim_due_enrollments(now, batch_size, lease):
            batch = execute_batch(ids, now, enqueue_send=False)
            for outcome, count in batch.outcomes.items():
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + count
            queued.extend(batch.queued_message_ids)
        mailer.mark_stuck_sending_unknown(now)
        if send and queued:
            sent = mailer.send_messages(queued, now)
            report.sent, report.failed = len(sent.sent), len(sent.failed)
    return report
