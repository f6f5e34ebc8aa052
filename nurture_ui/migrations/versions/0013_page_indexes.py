"""page indexes: leads newest first, and enrollments by when they ended, for the builder and the lead list

Revision ID: 0013_page_indexes
Revises: 0012_holidays_windows
Create Date: 2026-12-03 11:00:00

The builder previews its emails for the tenant's newest lead, and the lead list shows the newest leads
first (``created_at DESC, id``). Without an index in that order PostgreSQL read and sorted all of a
tenant's leads for each of them: 43 ms at 100,000 leads, on every builder page. With it, the first rows
of the index, read backwards (PostgreSQL's incremental sort puts equal ``created_at`` in ``id`` order).
The owner's index gains ``created_at`` for the same order within one person's leads: the lead list filtered
by owner (and status, band, segment) read 12,000 rows of the newest-first index to find its 50 (46 ms);
now 1,000 of the owner's (2 ms).

The builder's eligibility count (and auto-enrollment) asks which leads left a sequence in the last days
(the cooldowns): PostgreSQL read every enrollment of the table for it, 70 ms at 120,000 enrollments. By
``(status, ended_on)``, with the lead and sequence in the index, it reads only those recently ended.
"""

from alembic import op

revision = "0013_page_indexes"
down_revision = "0012_holidays_windows"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_tenant_newest", ["tenant_id", "created_at", "id"], unique=False)
        batch_op.drop_index("ix_leads_tenant_owner")
        batch_op.create_index("ix_leads_tenant_owner", ["tenant_id", "owner_id", "created_at"], unique=False)
    with op.batch_alter_table("lead_nurture_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_status_ended_on",
            ["status", "ended_on"],
            unique=False,
            postgresql_include=["lead_id", "sequence_id"],
        )


def downgrade():
    with op.batch_alter_table("lead_nurture_enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_status_ended_on")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_tenant_newest")
        batch_op.drop_index("ix_leads_tenant_owner")
        batch_op.create_index("ix_leads_tenant_owner", ["tenant_id", "owner_id"], unique=False)
