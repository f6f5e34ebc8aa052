"""A sequence's own send window in the builder, and the dry run and activation preview that follow it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from nurture_ui import simulation
from nurture_ui.activation_preview import activation_preview
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Sequence, TenantHoliday
from tests import factories

TWO_EMAILS = [
    {"channel": "email", "template_id": "intro", "delay_hours": 0},
    {"channel": "email", "template_id": "intro", "delay_hours": 24},
]
MORNINGS = {"days": [0, 1, 2, 3, 4], "start_hour": 8, "end_hour": 11, "zone": "lead"}


def window_form(**fields):
    data = {"whose": "own", "send_days": ["0", "1", "2", "3", "4"], "send_start_hour": "8"}
    data.update({"send_end_hour": "11", "send_zone": "lead", **fields})
    return data


def test_the_builder_says_when_emails_go_out_and_a_sequence_may_have_its_own_window(tenant, login_as, clock):
    tenant.policy = {"holiday_country": "GB", "timezone": "Europe/London"}
    db.session.commit()
    sequence = factories.make_sequence(tenant, steps=TWO_EMAILS)
    client = login_as("marketer")
    page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert (
        "Emails go out Mon–Fri 09:00–17:00 in each lead&#39;s time zone (Europe/London when unknown), skipping"
        " United Kingdom public holidays. The window from Settings." in page
    )
    response = client.post(f"/sequences/{sequence.id}/send-window", window_form())
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).send_window == MORNINGS
    page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert "Emails go out Mon–Fri 08:00–11:00 in each lead&#39;s time zone" in page
    assert "This sequence&#39;s own window." in page
    changed = db.session.scalars(sa.select(Activity).where(Activity.type == "sequence_window_changed")).one()
    assert changed.data == {"from": None, "to": MORNINGS}

    # The company's zone instead of the lead's, then back to the tenant's window.
    client.post(f"/sequences/{sequence.id}/send-window", window_form(send_zone="tenant", send_days=["5"]))
    assert "Emails go out Sat 08:00–11:00 in Europe/London time" in client.get(
        f"/sequences/{sequence.id}"
    ).get_data(as_text=True)
    client.post(f"/sequences/{sequence.id}/send-window", {"whose": "tenant"})
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).send_window is None


def test_a_window_that_never_opens_is_refused_by_field(tenant, login_as):
    sequence = factories.make_sequence(tenant, steps=TWO_EMAILS)
    client = login_as("admin")
    response = client.post(f"/sequences/{sequence.id}/send-window", window_form(send_days=[]))
    assert response.status_code == 422
    assert "Choose at least one day to send on." in response.get_data(as_text=True)
    response = client.post(f"/sequences/{sequence.id}/send-window", window_form(send_start_hour="12"))
    assert "The window must end after it starts." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).send_window is None


def test_reps_see_the_window_but_cannot_change_it(tenant, login_as):
    sequence = factories.make_sequence(tenant, steps=TWO_EMAILS)
    client = login_as("rep")
    page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert "Emails go out Mon–Fri" in page and "Save send window" not in page
    assert client.post(f"/sequences/{sequence.id}/send-window", window_form()).status_code == 403


def test_the_dry_run_follows_the_sequence_window_and_the_holidays(tenant, clock):
    factories.make_template(tenant, "intro")
    # Monday 2026-03-02 10:00 UTC; Tuesday 03-03 is a holiday.
    db.session.add(TenantHoliday(tenant_id=tenant.id, day=date(2026, 3, 3), name="Day off"))
    db.session.commit()
    own = factories.make_sequence(tenant, steps=TWO_EMAILS, send_window=MORNINGS)
    factories.make_lead(tenant)
    result = simulation.simulate(own, now=clock.now())
    days = dict(result.days)
    # 10:00 is inside 08–11: the first email goes today. The second falls due Tuesday 10:00, a holiday:
    # Wednesday 08:00.
    assert days[date(2026, 3, 2)] == 1 and days[date(2026, 3, 3)] == 0 and days[date(2026, 3, 4)] == 1
    assert result.held_by_window == 1 and result.held_by_holiday == 1

    # The tenant's window (09–17) with the first step after 2 business days: Wed is day 1, Thu day 2.
    tenants = factories.make_sequence(
        tenant,
        steps=[{"template_id": "intro", "delay_unit": "business_days", "delay_business_days": 2}],
    )
    result = simulation.simulate(tenants, now=clock.now())
    assert dict(result.days)[date(2026, 3, 5)] == 1 and result.emails == 1


def test_the_activation_preview_times_step_one_in_the_sequence_window(tenant, clock):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(
        tenant, steps=TWO_EMAILS, send_window={**MORNINGS, "start_hour": 14, "end_hour": 16}
    )
    factories.make_lead(tenant, timezone="America/New_York")
    preview = activation_preview(sequence, now=clock.now())
    # 14:00 EST on Monday 2026-03-02 is 19:00 UTC.
    assert [s.first_step_at.astimezone(UTC) for s in preview.sample] == [datetime(2026, 3, 2, 19, tzinfo=UTC)]


def test_the_simulate_page_names_the_window_it_used(tenant, login_as):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, steps=TWO_EMAILS, send_window=MORNINGS)
    page = login_as("rep").get(f"/sequences/{sequence.id}/simulate").get_data(as_text=True)
    assert "Emails go out Mon–Fri 08:00–11:00" in page and "This sequence&#39;s own window." in page
