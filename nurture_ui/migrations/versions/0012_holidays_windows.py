"""holidays and send windows: a tenant's imported holiday dates, a sequence's own send window, business-day delays

Revision ID: 0012_holidays_windows
Revises: 0011_step_variants
Create Date: 2026-12-03 10:00:00

``tenant_holidays``: the dates a tenant imported from an .ics file (country holidays are not stored: they
come from the ``holidays`` package through the policy's ``holiday_country``). ``lead_nurture_sequences.
send_window``: NULL means the tenant's window. ``lead_nurture_sequence_steps.delay_unit`` /
``delay_business_days``: a step may wait business days instead of hours.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0012_holidays_windows'
down_revision = '0011_step_variants'
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    op.create_table(
        'tenant_holidays',
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'day', name='uq_tenant_holidays_day'),
    )
    with op.batch_alter_table('lead_nurture_sequences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_window', JSONType, nullable=True))
    with op.batch_alter_table('lead_nurture_sequence_steps', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'delay_unit',
                sa.Enum('hours', 'business_days', name='step_delay_unit', native_enum=False,
                        create_constraint=True, length=32),
                nullable=False,
                server_default='hours',
            )
        )
        batch_op.add_column(
            sa.Column('delay_business_days', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade():
    with op.batch_alter_table('lead_nurture_sequence_steps', schema=None) as batch_op:
        batch_op.drop_column('delay_business_days')
        batch_op.drop_column('delay_unit')
    with op.batch_alter_table('lead_nurture_sequences', schema=None) as batch_op:
        batch_op.drop_column('send_window')
    op.drop_table('tenant_holidays')
