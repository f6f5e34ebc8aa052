"""A change of a lead's standing takes effect at once, by whatever door it comes: the lead's edit form, the
events API, a CSV import or the "log conversion" button all go through ``standing.change_standing``, which
exits the enrollments, cancels the emails not yet sent (also one held back to retry) and closes open tasks,
and logs it once — in one transaction (issue 16)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Lead, OutboundMessage, Task
from nurture_ui.standing import change_standing
from tests import factories
from tests.integration.api_client import SignedClient, event_id
from tests.integration.test_lead_import import import_file


@pytest.fixture
def waiting(tenant, clock):
    """A lead at step 2 of a sequence: step 1's email is queued to retry later (``send_after``), step 2's
    call task is open and the enrollment waits for it. An approved email, the last step of a sequence the lead
    has completed, has not gone yet either."""
    lead = factories.make_lead(tenant, email="ada@example.com", status="qualified")
    calls = factories.make_sequence(
        tenant, status="active", steps=[{"template_id": "intro"}, {"channel": "call_reminder"}]
    )
    enrollment = factories.make_enrollment(
        lead, calls, current_step_order=2, status="paused", pause_reason="task", next_step_on=None
    )
    retrying = _message(enrollment, 1, "queued", send_after=clock.now() + timedelta(minutes=30))
    task = Task(
        tenant_id=tenant.id,
        lead_id=lead.id,
        enrollment_id=enrollment.id,
        step_order=2,
        kind="call_reminder",
        title="Call Ada",
        due_at=clock.now(),
        status="open",
    )
    db.session.add(task)
    other = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}])
    finished = factories.make_enrollment(lead, other, status="completed", next_step_on=None)
    approved = _message(finished, 1, "approved")
    db.session.commit()
    return lead, [retrying, approved], task


def _message(enrollment, step, status, **fields) -> OutboundMessage:
    message = OutboundMessage(
        tenant_id=enrollment.tenant_id,
        enrollment_id=enrollment.id,
        step_order=step,
        lead_id=enrollment.lead_id,
        sequence_id=enrollment.sequence_id,
        to_email="ada@example.com",
        subject="Hello",
        body="Hi",
        status=status,
        message_id=f"<m-{enrollment.id}-{step}@example.test>",
        **fields,
    )
    db.session.add(message)
    db.session.commit()
    return message


def _activities(lead, kind) -> list[Activity]:
    return db.session.scalars(
        sa.select(Activity).where(Activity.lead_id == lead.id, Activity.type == kind)
    ).all()


def assert_stopped_at_once(lead, messages, task, status, reason):
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).status == status
    enrollments = db.session.scalars(sa.select(Enrollment).where(Enrollment.lead_id == lead.id)).all()
    assert sorted((e.status, e.exit_reason) for e in enrollments) == [("completed", None), ("exited", reason)]
    assert {db.session.get(OutboundMessage, m.id).status for m in messages} == {"cancelled"}
    closed = db.session.get(Task, task.id)
    assert (closed.status, closed.outcome) == ("skipped", "enrollment_exited")
    assert len(_activities(lead, f"lead_{status}")) == 1
    assert len(_activities(lead, "nurture_exited")) == 1


def _form(lead, status, **changes):
    return {
        "status": status,
        "score": changes.get("score", lead.score),
        "score_band": lead.score_band,
        "owner_id": "",
        **({"do_not_contact": "y"} if changes.get("do_not_contact") else {}),
    }


@pytest.mark.parametrize(("status", "reason"), [("converted", "converted"), ("disqualified", "disqualified")])
def test_the_lead_form_stops_everything_at_once(login_as, waiting, status, reason):
    lead, messages, task = waiting
    rep = login_as("rep")
    response = rep.post(f"/leads/{lead.id}", _form(lead, status))
    assert response.status_code == 302
    assert_stopped_at_once(lead, messages, task, status, reason)
    [edit] = _activities(lead, "lead_updated")
    assert edit.data == {"status": ["qualified", status]} and edit.actor_id == rep.user.id


@pytest.mark.parametrize(
    ("status", "kind"), [("converted", "lead.converted"), ("disqualified", "lead.disqualified")]
)
def test_the_events_api_stops_everything_at_once(app, tenant, waiting, status, kind):
    lead, messages, task = waiting
    response = SignedClient(app, tenant).send({"id": event_id(), "type": kind, "data": {"email": lead.email}})
    assert response.status_code == 200, response.get_json()
    assert_stopped_at_once(lead, messages, task, status, status)


@pytest.mark.parametrize("status", ["converted", "disqualified"])
def test_a_csv_import_stops_everything_at_once(login_as, waiting, status):
    lead, messages, task = waiting
    lead_import, _ = import_file(login_as("admin"), f"email,status\nada@example.com,{status}\n")
    assert lead_import.updated_count == 1
    assert_stopped_at_once(lead, messages, task, status, status)


def test_the_log_conversion_button_stops_everything_at_once(login_as, waiting):
    lead, messages, task = waiting
    login_as("rep").post(f"/leads/{lead.id}/conversion", {})
    assert_stopped_at_once(lead, messages, task, "converted", "converted")


def test_saving_the_form_again_logs_and_exits_nothing_more(login_as, waiting):
    lead, messages, task = waiting
    rep = login_as("rep")
    rep.post(f"/leads/{lead.id}", _form(lead, "converted"))
    db.session.expire_all()
    rep.post(f"/leads/{lead.id}", _form(db.session.get(Lead, lead.id), "converted", score=77))
    assert_stopped_at_once(lead, messages, task, "converted", "converted")


def test_a_sequence_with_the_conversion_rule_off_keeps_running(tenant, clock):
    lead = factories.make_lead(tenant)
    keeps = factories.make_sequence(
        tenant, status="active", exit_rules={"conversion": False}, steps=[{"template_id": "intro"}]
    )
    enrollment = factories.make_enrollment(lead, keeps)
    queued = _message(enrollment, 1, "queued")
    change = change_standing(lead, status="converted", source="test")
    db.session.commit()
    assert change.exited == [] and enrollment.status == "active"
    db.session.expire_all()
    assert db.session.get(OutboundMessage, queued.id).status == "queued"


def test_the_last_email_of_a_completed_enrollment_is_cancelled_too(tenant):
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}])
    done = factories.make_enrollment(lead, sequence, status="completed", next_step_on=None)
    last = _message(done, 1, "queued")
    change = change_standing(lead, status="disqualified", source="test")
    db.session.commit()
    db.session.expire_all()
    assert change.cancelled_messages == 1
    assert db.session.get(OutboundMessage, last.id).status == "cancelled"


def test_a_status_back_from_converted_exits_nothing_and_logs_no_conversion(tenant):
    lead = factories.make_lead(tenant, status="converted")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}])
    enrollment = factories.make_enrollment(lead, sequence)  # enrolled by hand, overriding
    change = change_standing(lead, status="qualified", source="test")
    db.session.commit()
    assert change.changed == {"status": ("converted", "qualified")} and change.exited == []
    assert enrollment.status == "active" and lead.status == "qualified"
    assert _activities(lead, "lead_converted") == []


def test_do_not_contact_from_the_form_stops_every_sequence_whatever_its_rules(login_as, waiting):
    lead, messages, task = waiting
    login_as("rep").post(f"/leads/{lead.id}", _form(lead, "qualified", do_not_contact=True))
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).do_not_contact is True
    enrollments = db.session.scalars(sa.select(Enrollment).where(Enrollment.lead_id == lead.id)).all()
    assert sorted((e.status, e.exit_reason) for e in enrollments) == [
        ("completed", None),
        ("exited", "do_not_contact"),
    ]
    assert {db.session.get(OutboundMessage, m.id).status for m in messages} == {"cancelled"}
    assert db.session.get(Task, task.id).status == "skipped"


def test_unsubscribing_twice_logs_once_and_resubscribing_is_logged(tenant):
    lead = factories.make_lead(tenant)
    change_standing(lead, unsubscribed=True, source="link")
    change_standing(lead, unsubscribed=True, source="api")
    db.session.commit()
    assert len(_activities(lead, "lead_unsubscribed")) == 1
    change = change_standing(lead, unsubscribed=False, source="test")
    db.session.commit()
    assert change.changed == {"unsubscribed": (True, False)} and lead.unsubscribed_at is None
    assert len(_activities(lead, "lead_resubscribed")) == 1
