"""step thread follow-ups and activity conditions

Revision ID: 0010_step_thread
Revises: 0009_user_timezone
Create Date: 2026-12-03 10:00:00

``lead_nurture_sequence_steps.same_thread``: an email step that replies in the thread of the enrollment's
earlier email (``Re:`` subject, In-Reply-To, References). ``only_if_not_replied`` / ``only_if_no_open_task``:
the step runs only if the previous email got no reply / the lead has no open task.
``outbound_messages.in_reply_to`` / ``thread_references``: the threading headers the email is sent with.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0010_step_thread'
down_revision = '0009_user_timezone'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead_nurture_sequence_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('same_thread', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column('only_if_not_replied', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column('only_if_no_open_task', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_reply_to', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('thread_references', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('thread_references')
        batch_op.drop_column('in_reply_to')
    with op.batch_alter_table('lead_nurture_sequence_steps', schema=None) as batch_op:
        batch_op.drop_column('only_if_no_open_task')
        batch_op.drop_column('only_if_not_replied')
        batch_op.drop_column('same_thread')
