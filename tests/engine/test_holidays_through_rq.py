"""Holidays, business days and a sequence's own send window through the real engine: RQ worker, Redis, SMTP.

Each tick is the real dispatcher job (as in ``test_through_rq``); only the instants are the test's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from nurture_ui.extensions import db, get_queue
from nurture_ui.models import OutboundMessage, TenantHoliday
from tests import factories
from tests.engine.conftest import enroll
from tests.engine.test_through_rq import replay_until


@pytest.fixture
def queue(app):
    queue = get_queue()
    queue.empty()
    yield queue
    queue.empty()


def sent_at(lead) -> list[datetime]:
    rows = db.session.scalars(
        sa.select(OutboundMessage.sent_at)
        .where(OutboundMessage.lead_id == lead.id, OutboundMessage.status == "sent")
        .order_by(OutboundMessage.sent_at)
    ).all()
    return [r if r.tzinfo else r.replace(tzinfo=UTC) for r in rows]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_holiday_monday_after_spring_forward_sends_tuesday_nine_local_in_each_zone(
    clock,
    queue,
    smtp_server,
):
    # US clocks go forward on Sunday 2026-03-08; the UK's not until 03-29. Monday 03-09 is a holiday.
    tenant = factories.make_tenant("Acme", frequency_cap_hours=1, timezone="America/New_York")
    db.session.add(TenantHoliday(tenant_id=tenant.id, day=date(2026, 3, 9), name="Founders’ Day"))
    factories.make_template(tenant, "intro")
    factories.make_template(tenant, "follow")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"template_id": "intro"},
            {"template_id": "follow", "delay_unit": "business_days", "delay_business_days": 1},
        ],
    )
    new_york = factories.make_lead(tenant, timezone="America/New_York")
    london = factories.make_lead(tenant, timezone="Europe/London")
    friday_evening = clock.set(utc(2026, 3, 6, 23))  # 18:00 EST, 23:00 GMT: both windows shut
    enroll(new_york, sequence, friday_evening)
    enroll(london, sequence, friday_evening)

    replay_until(queue, clock, utc(2026, 3, 14))

    # Tuesday 09:00 EDT is 13:00 UTC (it was 14:00 UTC before the change); one business day later is
    # Wednesday 09:00 EDT. London is still on GMT: Tuesday and Wednesday at 09:00 UTC.
    assert sent_at(new_york) == [utc(2026, 3, 10, 13), utc(2026, 3, 11, 13)]
    assert sent_at(london) == [utc(2026, 3, 10, 9), utc(2026, 3, 11, 9)]
    assert len(smtp_server.messages) == 4


def test_business_days_skip_the_weekend_and_a_country_holiday(clock, queue, smtp_server):
    # Good Friday 2026-04-03 and Easter Monday 04-06 are public holidays in England.
    tenant = factories.make_tenant(
        "Acme",
        frequency_cap_hours=1,
        timezone="Europe/London",
        holiday_country="GB",
        holiday_subdivision="ENG",
    )
    factories.make_template(tenant, "intro")
    factories.make_template(tenant, "follow")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"template_id": "intro"},
            {"template_id": "follow", "delay_unit": "business_days", "delay_business_days": 2},
        ],
    )
    lead = factories.make_lead(tenant)
    thursday = clock.set(utc(2026, 4, 2, 10))  # 11:00 BST
    enroll(lead, sequence, thursday)
    replay_until(queue, clock, utc(2026, 4, 12))
    # Business day 1 is Tuesday 04-07, day 2 Wednesday 04-08, at the same 11:00 BST (10:00 UTC).
    assert sent_at(lead) == [utc(2026, 4, 2, 10), utc(2026, 4, 8, 10)]


def test_a_sequences_own_window_overrides_the_tenants(clock, queue, smtp_server):
    tenant = factories.make_tenant("Acme", frequency_cap_hours=1, timezone="Europe/London")
    factories.make_template(tenant, "intro")
    weekend_only = factories.make_sequence(
        tenant,
        status="active",
        steps=[{"template_id": "intro"}],
        # Saturdays and Sundays 10–12 in the company's zone, whatever the lead's.
        send_window={"days": [5, 6], "start_hour": 10, "end_hour": 12, "zone": "tenant"},
    )
    tenants_window = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}])
    far_away = factories.make_lead(tenant, timezone="America/Los_Angeles")
    nearby = factories.make_lead(tenant, timezone="Europe/London")
    monday = clock.now()  # Monday 2026-03-02 10:00 UTC: the tenant's window (09–17 local) is open in London
    enroll(far_away, weekend_only, monday)
    enroll(nearby, tenants_window, monday)
    replay_until(queue, clock, utc(2026, 3, 9))
    assert sent_at(nearby) == [monday]
    # Saturday 10:00 in London (GMT) although it is 02:00 in Los Angeles.
    assert sent_at(far_away) == [utc(2026, 3, 7, 10)]
