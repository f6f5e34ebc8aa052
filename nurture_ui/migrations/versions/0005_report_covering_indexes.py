"""report covering indexes: the performance page and the overview read indexes, not the tables

Revision ID: 0005_report_covering_indexes
Revises: 0004_reporting
Create Date: 2026-11-29 12:00:00

A sequence's enrollments, messages and the tenant's converted leads are spread over every page of their
tables; the reports read a few columns of thousands of rows. With those columns in the index (INCLUDE,
PostgreSQL only; SQLite ignores it) PostgreSQL answers from the index alone: a few hundred pages instead of
every page of the table. Three indexes are rebuilt with the same keys and more columns, one is new:
the cohort of every sequence of a tenant (the overview's figures). And the inbox's index on the tenant's
messages by status gains ``created_at, id``, its order: the oldest 25 drafts are the index's first 25.
"""

from alembic import op

revision = "0005_report_covering_indexes"
down_revision = "0004_reporting"
branch_labels = None
depends_on = None

# (table, index, (key columns, included columns) before, and after)
REBUILT = [
    (
        "leads",
        "ix_leads_tenant_status_band",
        (["tenant_id", "status", "score_band"], []),
        (["tenant_id", "status", "score_band"], ["id"]),
    ),
    (
        "lead_nurture_enrollments",
        "ix_enrollments_sequence_enrolled_on",
        (["sequence_id", "enrolled_on"], []),
        (["sequence_id", "enrolled_on"], ["id", "tenant_id", "status", "lead_id", "ended_on", "exit_reason"]),
    ),
    (
        "outbound_messages",
        "ix_messages_sequence_step",
        (["sequence_id", "step_order"], []),
        (["sequence_id", "step_order"], ["enrollment_id", "status", "created_at", "reviewed_at"]),
    ),
    # The inbox's oldest drafts first: read in order from the index, 25 rows instead of all and a sort.
    (
        "outbound_messages",
        "ix_messages_tenant_status",
        (["tenant_id", "status"], []),
        (["tenant_id", "status", "created_at", "id"], []),
    ),
]
TENANT_COHORT = ["sequence_id", "status", "lead_id", "ended_on"]


def _rebuild(table, name, shape):
    columns, include = shape
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(name)
        batch_op.create_index(name, columns, unique=False, postgresql_include=include)


def upgrade():
    for table, name, _, after in REBUILT:
        _rebuild(table, name, after)
    with op.batch_alter_table("lead_nurture_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_tenant_enrolled_on",
            ["tenant_id", "enrolled_on"],
            unique=False,
            postgresql_include=TENANT_COHORT,
        )


def downgrade():
    with op.batch_alter_table("lead_nurture_enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_tenant_enrolled_on")
    for table, name, before, _ in REBUILT:
        _rebuild(table, name, before)
