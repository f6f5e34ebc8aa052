"""user time zone: each person may see times in their own zone

Revision ID: 0009_user_timezone
Revises: 0008_outbound_sender
Create Date: 2026-12-07 09:00:00

``users.timezone``: an IANA zone name the person chose on their profile page; NULL means "use the tenant's
time zone" (policy "timezone"), so a tenant that changes its zone moves everyone who never chose their own.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0009_user_timezone'
down_revision = '0008_outbound_sender'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('timezone')
