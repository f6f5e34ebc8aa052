"""step variants: A/B tests of an email step, and the variant each message was drawn for

Revision ID: 0011_step_variants
Revises: 0010_step_thread
Create Date: 2026-12-03 10:00:00

``lead_nurture_sequence_steps.variants``: 2-4 variants (template, optional subject, weight) of an email step,
empty for a step without any; ``auto_winner_min_sends`` turns on the auto-winner; ``winner_*`` record the
variant declared the winner, when and on what figures; ``winner_checked_at`` throttles the check.
``outbound_messages.variant``: the letter of the variant a message was drawn for.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0011_step_variants'
down_revision = "0010_step_thread"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    with op.batch_alter_table('lead_nurture_sequence_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variants', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('auto_winner_min_sends', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('winner_variant', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('winner_declared_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('winner_evidence', JSON, nullable=True))
        batch_op.add_column(sa.Column('winner_checked_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('lead_nurture_sequence_steps', schema=None) as batch_op:
        batch_op.alter_column('variants', server_default=None)
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=1), nullable=True))


def downgrade():
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('lead_nurture_sequence_steps', schema=None) as batch_op:
        batch_op.drop_column('winner_checked_at')
        batch_op.drop_column('winner_evidence')
        batch_op.drop_column('winner_declared_at')
        batch_op.drop_column('winner_variant')
        batch_op.drop_column('auto_winner_min_sends')
        batch_op.drop_column('variants')
