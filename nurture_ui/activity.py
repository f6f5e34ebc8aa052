"""The activity log: the one function every transition calls to leave its trace."""

from __future__ import annotations

import uuid
from typing import Any

from nurture_ui import clock, new_rows
from nurture_ui.models import Activity


def record(
    type: str,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID | None = None,
    enrollment_id: uuid.UUID | None = None,
    sequence_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
    occurred_at=None,
) -> None:
    """Add an activity to the current session (or to the rows ``new_rows.collecting()`` keeps); it commits
    with the change it records (the caller's unit)."""
    new_rows.add(
        Activity,
        # Set here, not left to the column default: with every key known, many activities are one
        # executemany.
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        type=type,
        lead_id=lead_id,
        enrollment_id=enrollment_id,
        sequence_id=sequence_id,
        actor_id=actor_id,
        occurred_at=occurred_at or clock.now(),
        data=data or {},
    )


def record_for_enrollment(
    type: str,
    enrollment,
    *,
    actor_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
    occurred_at=None,
) -> None:
    """``record`` for a transition of one enrollment: its lead, sequence and tenant filled in."""
    record(
        type,
        tenant_id=enrollment.tenant_id,
        lead_id=enrollment.lead_id,
        enrollment_id=enrollment.id,
        sequence_id=enrollment.sequence_id,
        actor_id=actor_id,
        data=data,
        occurred_at=occurred_at,
    )
