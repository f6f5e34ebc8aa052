"""reporting: an insertion-order tiebreak for activities, and the indexes the reports read through

Revision ID: 0004_reporting
Revises: 0003_inbound_signals
Create Date: 2026-11-29 06:00:00

Activities written in one transaction share ``occurred_at``; ``seq`` orders them as they were written.
PostgreSQL fills it from a sequence (existing rows get values in physical order). SQLite has no
sequences: a trigger copies the rowid, which SQLite hands out in insertion order. A later SQLite batch
migration that recreates ``activities`` must recreate the trigger (``create_sqlite_seq_trigger``).
"""

from alembic import op
import sqlalchemy as sa

revision = "0004_reporting"
down_revision = "0003_inbound_signals"
branch_labels = None
depends_on = None

SQLITE_TRIGGER = """
CREATE TRIGGER activities_fill_seq AFTER INSERT ON activities
FOR EACH ROW WHEN NEW.seq IS NULL
BEGIN
    UPDATE activities SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END
"""


def create_sqlite_seq_trigger():
    op.execute("DROP TRIGGER IF EXISTS activities_fill_seq")
    op.execute(SQLITE_TRIGGER)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE activities_seq_seq AS BIGINT")
        op.execute(
            "ALTER TABLE activities ADD COLUMN seq BIGINT DEFAULT nextval('activities_seq_seq')"
        )
        op.execute("ALTER SEQUENCE activities_seq_seq OWNED BY activities.seq")
    else:
        op.add_column("activities", sa.Column("seq", sa.BigInteger(), nullable=True))
        op.execute("UPDATE activities SET seq = rowid")
    step_run = sa.text("type = 'nurture_step_executed'")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        # The steps that ran, per sequence; PostgreSQL answers the performance figures from the index alone.
        batch_op.create_index(
            "ix_activities_step_runs",
            ["sequence_id", "occurred_at"],
            unique=False,
            postgresql_include=["enrollment_id", "data"],
            postgresql_where=step_run,
            sqlite_where=step_run,
        )
    with op.batch_alter_table("lead_nurture_enrollments", schema=None) as batch_op:
        # A sequence's cohort: its enrollments that started in a date range.
        batch_op.create_index("ix_enrollments_sequence_enrolled_on", ["sequence_id", "enrolled_on"], unique=False)
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        # A sequence's messages by step (per-step figures).
        batch_op.create_index("ix_messages_sequence_step", ["sequence_id", "step_order"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        # Last, so no batch operation above can have recreated the table without it.
        create_sqlite_seq_trigger()


def downgrade():
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_step_runs")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_sequence_step")
    with op.batch_alter_table("lead_nurture_enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_sequence_enrolled_on")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS activities_fill_seq")
    op.drop_column("activities", "seq")
