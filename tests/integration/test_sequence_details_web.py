"""The builder's details form: name, description, priority and daily enrollment cap (issue 4's controls)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from nurture_ui import sequences
from nurture_ui.enrollment import auto_enroll
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Sequence
from tests import factories


def _details(**overrides) -> dict:
    return {"name": "Warm leads", "description": "For SMB", "priority": "100", "daily_enrollment_cap": ""} | (
        overrides
    )


def _typed(page: str, name: str) -> str | None:
    """The value the page's input ``name`` shows."""
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*\bvalue="([^"]*)"', page)
    return match.group(1) if match else None


def _saved(sequence) -> Sequence:
    db.session.expire_all()
    return db.session.get(Sequence, sequence.id)


@pytest.mark.parametrize("status", ["draft", "active", "paused"])
def test_priority_and_daily_cap_are_saved_in_any_live_status_and_recorded(login_as, tenant, status):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant, status=status, steps=[{"channel": "task"}])
    client.get(f"/sequences/{sequence.id}")
    response = client.post(
        f"/sequences/{sequence.id}/details", _details(priority="5", daily_enrollment_cap="40")
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    saved = _saved(sequence)
    assert (saved.priority, saved.daily_enrollment_cap, saved.status) == (5, 40, status)
    updated = db.session.scalars(sa.select(Activity).where(Activity.type == "sequence_updated")).one()
    assert updated.actor_id == client.user.id and updated.sequence_id == sequence.id
    assert updated.data["priority"] == {"from": 100, "to": 5}
    assert updated.data["daily_enrollment_cap"] == {"from": None, "to": 40}


def test_an_empty_cap_means_no_cap(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant, daily_enrollment_cap=25)
    client.get(f"/sequences/{sequence.id}")
    assert client.post(f"/sequences/{sequence.id}/details", _details()).status_code == 302
    assert _saved(sequence).daily_enrollment_cap is None


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("priority", "", "Enter a priority, like 100."),
        ("priority", "high", "Enter a whole number, like 10."),
        ("priority", "-1", "Enter a whole number from 0 to 9,999."),
        ("priority", "10000", "Enter a whole number from 0 to 9,999."),
        (
            "daily_enrollment_cap",
            "0",
            "Leave it empty for no cap, or enter a whole number from 1 to 1,000,000.",
        ),
        ("daily_enrollment_cap", "2.5", "Enter a whole number, like 10."),
        ("daily_enrollment_cap", "99999999999", "Leave it empty for no cap, or enter a whole number"),
    ],
)
def test_a_bad_priority_or_cap_is_refused_on_its_field_keeping_what_was_typed(
    login_as, tenant, field, typed, message
):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant, name="Before", priority=7, daily_enrollment_cap=3)
    client.get(f"/sequences/{sequence.id}")
    form = _details(name="Typed name", description="Typed description", priority="12") | {field: typed}
    if field == "priority":
        form["daily_enrollment_cap"] = "30"
    response = client.post(f"/sequences/{sequence.id}/details", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert _typed(page, field) == typed
    assert 'value="Typed name"' in page and "Typed description" in page
    other = "daily_enrollment_cap" if field == "priority" else "priority"
    assert _typed(page, other) == form[other]
    assert '<details class="card details-card" open>' in page
    saved = _saved(sequence)
    assert (saved.name, saved.priority, saved.daily_enrollment_cap) == ("Before", 7, 3)
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_a_blank_name_shows_its_error_and_keeps_the_other_fields(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant, name="Before")
    client.get(f"/sequences/{sequence.id}")
    form = _details(name="   ", description="Still here", priority="42", daily_enrollment_cap="15")
    response = client.post(f"/sequences/{sequence.id}/details", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter a name." in page and "Still here" in page
    assert (_typed(page, "priority"), _typed(page, "daily_enrollment_cap")) == ("42", "15")
    assert _saved(sequence).name == "Before"


def test_the_list_and_the_builder_show_priority_and_cap(login_as, tenant):
    client = login_as("rep")
    capped = factories.make_sequence(tenant, name="Capped", priority=3, daily_enrollment_cap=1500)
    factories.make_sequence(tenant, name="Open", priority=20)
    rows = client.get("/sequences/").get_data(as_text=True)
    assert "Priority</th>" in rows
    assert "cap 1,500/day" in rows and "no daily cap" in rows
    page = client.get(f"/sequences/{capped.id}").get_data(as_text=True)
    assert "<dd data-priority>3" in page and "Lower number wins when a lead fits several sequences." in page
    assert "1,500 new leads a day" in page
    assert 'name="priority"' not in page  # a rep sees the values, not the form


def test_the_saved_priority_decides_where_auto_enrollment_puts_a_lead(login_as, tenant, clock):
    """The label's promise, end to end: lowering a sequence's number makes it win."""
    client = login_as("marketer")
    first = factories.make_sequence(tenant, name="First", status="active", priority=10, steps=[{}])
    second = factories.make_sequence(tenant, name="Second", status="active", priority=20, steps=[{}])
    lead = factories.make_lead(tenant)
    client.get(f"/sequences/{second.id}")
    client.post(f"/sequences/{second.id}/details", _details(name="Second", priority="1"))
    auto_enroll(now=clock.now())
    enrollment = db.session.scalars(sa.select(Enrollment).where(Enrollment.lead_id == lead.id)).one()
    assert enrollment.sequence_id == second.id != first.id


def test_the_core_refuses_an_archived_sequence_and_bad_values(tenant):
    marketer = factories.make_user(tenant, "marketer")
    archived = factories.make_sequence(tenant, status="archived")
    with pytest.raises(sequences.SequenceRefused, match="archived"):
        sequences.update_details(archived, "Name", "", priority=1, daily_enrollment_cap=None, actor=marketer)
    draft = factories.make_sequence(tenant)
    with pytest.raises(sequences.SequenceRefused, match="empty for no cap"):
        sequences.update_details(draft, "Name", "", priority=1, daily_enrollment_cap=0, actor=marketer)
    assert sequences.details_problems("", None, -5).keys() == {"name", "priority", "daily_enrollment_cap"}
