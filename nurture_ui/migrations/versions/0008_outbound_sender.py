"""outbound sender: a queued email may be held until a time (frequency cap, a mailbox's spacing and daily limit)

Revision ID: 0008_outbound_sender
Revises: 0007_mail_both_ways
Create Date: 2026-12-03 07:30:00

``outbound_messages.send_after``: set on a ``queued`` email the sender held back; the outbox sweep hands it
to a send job once that time has passed. The lost-job sweep index now leaves held emails out (its scan stays
as short as the emails really waiting), and two partial indexes hold only the held ones: by time for the
sweep, by mailbox for spreading a mailbox's sends after those already reserved.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0008_outbound_sender'
down_revision = '0007_mail_both_ways'
branch_labels = None
depends_on = None

IN_FLIGHT = sa.text("status IN ('queued', 'sending')")
IN_FLIGHT_NOT_HELD = sa.text("status IN ('queued', 'sending') AND send_after IS NULL")
HELD = sa.text("status = 'queued' AND send_after IS NOT NULL")


def upgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_after', sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_messages_status_updated_at", table_name="outbound_messages")
    op.create_index(
        "ix_messages_status_updated_at",
        "outbound_messages",
        ["status", "updated_at"],
        postgresql_where=IN_FLIGHT_NOT_HELD,
        sqlite_where=IN_FLIGHT_NOT_HELD,
    )
    op.create_index(
        "ix_messages_held_send_after",
        "outbound_messages",
        ["send_after"],
        postgresql_where=HELD,
        sqlite_where=HELD,
    )
    op.create_index(
        "ix_messages_mailbox_held",
        "outbound_messages",
        ["mailbox_id", "send_after"],
        postgresql_where=HELD,
        sqlite_where=HELD,
    )


def downgrade():
    op.drop_index("ix_messages_mailbox_held", table_name="outbound_messages")
    op.drop_index("ix_messages_held_send_after", table_name="outbound_messages")
    op.drop_index("ix_messages_status_updated_at", table_name="outbound_messages")
    op.create_index(
        "ix_messages_status_updated_at",
        "outbound_messages",
        ["status", "updated_at"],
        postgresql_where=IN_FLIGHT,
        sqlite_where=IN_FLIGHT,
    )
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('send_after')
