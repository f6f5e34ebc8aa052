"""engine write indexes: fewer index entries per step, and the lead foreign keys indexed

Revision ID: 0006_engine_write_indexes
Revises: 0005_report_covering_indexes
Create Date: 2026-11-29 13:00:00

Every step the engine runs writes an enrollment, a message (three times: queued, sending, sent) and three
activities, and each write adds an entry to every index of its table. This drops what another index
already serves and narrows one index to the rows that use it:

- ``tenant_id`` alone on activities, messages and enrollments: each table has an index leading with
  ``tenant_id`` (``ix_activities_tenant_time``, ``ix_messages_tenant_status``,
  ``ix_enrollments_tenant_enrolled_on``), which answers the same lookups.
- The outbox sweeps' index (``status, updated_at``) only ever looks for ``queued`` and ``sending``
  messages: partial, a sent message leaves it instead of staying in it for good.
- Enrollments leave a fifth of each page free (PostgreSQL ``fillfactor``), so the dispatcher's claim,
  which changes no indexed column, updates the row in place (a HOT update: no index entries at all).

And ``tasks.lead_id`` and ``inbound_events.lead_id`` get the index every other reference to a lead has:
without it, deleting a lead scans both tables for rows pointing at it.
"""

from alembic import op
import sqlalchemy as sa

revision = "0006_engine_write_indexes"
down_revision = "0005_report_covering_indexes"
branch_labels = None
depends_on = None

# The tenant_id index each table loses, and the index leading with tenant_id that serves instead.
REDUNDANT = [
    ("activities", "ix_activities_tenant_id"),
    ("outbound_messages", "ix_outbound_messages_tenant_id"),
    ("lead_nurture_enrollments", "ix_lead_nurture_enrollments_tenant_id"),
]
IN_FLIGHT = sa.text("status IN ('queued', 'sending')")


def upgrade():
    for table, index in REDUNDANT:
        op.drop_index(index, table_name=table)
    op.drop_index("ix_messages_status_updated_at", table_name="outbound_messages")
    op.create_index(
        "ix_messages_status_updated_at",
        "outbound_messages",
        ["status", "updated_at"],
        postgresql_where=IN_FLIGHT,
        sqlite_where=IN_FLIGHT,
    )
    op.create_index("ix_tasks_lead_id", "tasks", ["lead_id"])
    op.create_index("ix_inbound_events_lead_id", "inbound_events", ["lead_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE lead_nurture_enrollments SET (fillfactor = 80)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE lead_nurture_enrollments RESET (fillfactor)")
    op.drop_index("ix_inbound_events_lead_id", table_name="inbound_events")
    op.drop_index("ix_tasks_lead_id", table_name="tasks")
    op.drop_index("ix_messages_status_updated_at", table_name="outbound_messages")
    op.create_index("ix_messages_status_updated_at", "outbound_messages", ["status", "updated_at"])
    for table, index in REDUNDANT:
        op.create_index(index, table, ["tenant_id"])
