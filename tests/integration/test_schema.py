"""The schema the migrations build is the schema the models describe, and it holds the invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from nurture_ui.extensions import db
from nurture_ui.models import Lead, OutboundMessage, SequenceStep
from tests import factories


def test_migrations_build_exactly_the_models_schema():
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_second_live_enrollment_for_a_lead_is_refused_by_the_database(tenant):
    lead = factories.make_lead(tenant)
    first = factories.make_sequence(tenant, status="active")
    second = factories.make_sequence(tenant, status="active")
    factories.make_enrollment(lead, first)
    with pytest.raises(IntegrityError):
        factories.make_enrollment(lead, second, status="paused")
    db.session.rollback()


def test_ended_enrollments_do_not_block_a_new_one(tenant):
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, status="active")
    factories.make_enrollment(lead, sequence, status="completed")
    factories.make_enrollment(lead, sequence, status="exited", exit_reason="converted")
    live = factories.make_enrollment(lead, sequence, status="active")
    assert live.id is not None


def test_one_message_per_step_per_enrollment(tenant):
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, steps=[{"channel": "email", "template_id": "intro"}])
    enrollment = factories.make_enrollment(lead, sequence)

    def message(message_id):
        return OutboundMessage(
            tenant_id=tenant.id,
            enrollment_id=enrollment.id,
            step_order=1,
            lead_id=lead.id,
            sequence_id=sequence.id,
            to_email=lead.email,
            subject="s",
            body="b",
            status="queued",
            message_id=message_id,
        )

    db.session.add(message("<a@test>"))
    db.session.commit()
    db.session.add(message("<b@test>"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_step_order_is_unique_within_a_sequence(tenant):
    sequence = factories.make_sequence(tenant, steps=[{"channel": "email"}])
    db.session.add(SequenceStep(tenant_id=tenant.id, sequence_id=sequence.id, step_order=1, channel="task"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_timestamps_come_back_aware_utc_and_naive_ones_are_refused(tenant):
    instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    lead = factories.make_lead(tenant, unsubscribed_at=instant)
    db.session.expire_all()
    loaded = db.session.get(Lead, lead.id)
    assert loaded.unsubscribed_at == instant
    assert loaded.unsubscribed_at.tzinfo is not None
    # Comparisons in SQL use the same instants
    found = db.session.scalar(
        sa.select(sa.func.count(Lead.id)).where(Lead.unsubscribed_at < instant + timedelta(seconds=1))
    )
    assert found == 1
    loaded.unsubscribed_at = datetime(2026, 1, 1)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()


def test_enum_columns_refuse_unknown_values(tenant):
    db.session.execute(sa.text("SELECT 1"))
    lead = factories.make_lead(tenant)
    with pytest.raises((sa.exc.StatementError, IntegrityError, LookupError)):
        db.session.execute(
            sa.text("UPDATE leads SET status = 'bogus' WHERE id = :id"),
            {"id": lead.id.hex if db.engine.dialect.name == "sqlite" else lead.id},
        )
        db.session.commit()
    db.session.rollback()
