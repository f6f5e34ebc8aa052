"""Enrolling by hand from the lead page, the verdict panel, manual control and bulk enrollment."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from nurture_ui.extensions import db, get_queue
from nurture_ui.models import Activity, Enrollment
from tests import factories


@pytest.fixture
def sequence(tenant):
    return factories.make_sequence(
        tenant,
        name="Warm nurture",
        status="active",
        entry_rules={"all": [{"field": "segment", "op": "eq", "value": "SMB"}]},
        steps=[{"channel": "email", "template_id": "intro", "delay_hours": 2}],
    )


def run_jobs():
    queue = get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_verdict_panel_lists_every_check(login_as, tenant, sequence):
    client = login_as("rep")
    lead = factories.make_lead(tenant, segment="Enterprise", score_band="cold")
    html = client.get(
        f"/leads/{lead.id}/enroll?sequence_id={sequence.id}", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in html
    assert "Fails:</span>Score band is cold" in html and "Required: Score band is warm." in html
    assert "Fails:</span>Does not meet the entry rule “Segment is “SMB””" in html
    assert "Passes:</span>The lead is not marked do-not-contact" in html
    assert "Enroll anyway" in html


def test_enroll_by_hand_logs_the_person(login_as, tenant, sequence):
    client = login_as("rep")
    lead = factories.make_lead(tenant)
    response = client.post(f"/leads/{lead.id}/enroll", {"sequence_id": str(sequence.id)})
    assert response.status_code == 302
    enrollment = db.session.scalars(sa.select(Enrollment)).one()
    assert enrollment.enrolled_by == client.user.id
    enrolled = db.session.scalars(sa.select(Activity).where(Activity.type == "nurture_enrolled")).one()
    assert enrolled.actor_id == client.user.id


def test_do_not_contact_is_refused_with_reasons_even_when_overriding(login_as, tenant, sequence):
    client = login_as("rep")
    lead = factories.make_lead(tenant, do_not_contact=True)
    response = client.post(f"/leads/{lead.id}/enroll", {"sequence_id": str(sequence.id), "override": "yes"})
    assert response.status_code == 422
    assert "cannot be enrolled: The lead is marked do-not-contact." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Enrollment.id))) == 0


@pytest.mark.parametrize("status", ["draft", "paused", "archived"])
def test_why_not_works_for_a_sequence_that_is_not_active_and_never_enrolls(login_as, tenant, status):
    client = login_as("marketer")
    resting = factories.make_sequence(
        tenant,
        name="Not yet",
        status=status,
        entry_rules={"all": [{"field": "segment", "op": "eq", "value": "SMB"}]},
        steps=[{"channel": "task"}],
    )
    lead = factories.make_lead(tenant, segment="Enterprise")
    state = {"draft": "a draft", "paused": "paused", "archived": "archived"}[status]
    html = client.get(f"/leads/{lead.id}/enroll?sequence_id={resting.id}").get_data(as_text=True)
    assert f"Fails:</span>The sequence is not active ({state})" in html
    assert "Does not meet the entry rule" in html  # the other checks are judged too
    assert "Passes:</span>The lead is not marked do-not-contact" in html
    assert f"cannot be enrolled: The sequence is not active ({state})." in html
    assert "Enroll anyway" not in html and "Enroll in Not yet" not in html
    for form in ({"sequence_id": str(resting.id)}, {"sequence_id": str(resting.id), "override": "yes"}):
        response = client.post(f"/leads/{lead.id}/enroll", form)
        assert response.status_code == 422
        assert "The sequence is not active" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Enrollment.id))) == 0


def test_the_picker_offers_draft_and_paused_sequences_to_check(login_as, tenant, sequence):
    client = login_as("rep")
    factories.make_sequence(tenant, name="Drafted", status="draft")
    factories.make_sequence(tenant, name="Resting", status="paused")
    factories.make_sequence(tenant, name="Gone", status="archived")
    lead = factories.make_lead(tenant)
    for url in (f"/leads/{lead.id}", f"/leads/{lead.id}/enroll"):
        page = client.get(url).get_data(as_text=True)
        picker = page[
            page.index('id="enroll-sequence"') : page.index("</select>", page.index('id="enroll-sequence"'))
        ]
        active, resting = picker.split('<optgroup label="Not active: check only">')
        assert "Warm nurture" in active and "Drafted" not in active
        assert "Drafted (draft)" in resting and "Resting (paused)" in resting
        assert "Gone" not in picker


def test_from_the_builder_a_lead_is_checked_by_email(login_as, tenant):
    client = login_as("marketer")
    draft = factories.make_sequence(tenant, name="Drafted", status="draft")
    lead = factories.make_lead(tenant, email="Pat@Example.test")
    response = client.get(f"/sequences/{draft.id}/why?email=%20pat@example.TEST%20")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/leads/{lead.id}/enroll?sequence_id={draft.id}")
    missing = client.get(f"/sequences/{draft.id}/why?email=nobody@example.test", follow_redirects=True)
    assert "No lead has the address “nobody@example.test”." in missing.get_data(as_text=True)


def test_override_needs_the_confirmation(login_as, tenant, sequence):
    client = login_as("marketer")
    lead = factories.make_lead(tenant, segment="Enterprise")
    assert client.post(f"/leads/{lead.id}/enroll", {"sequence_id": str(sequence.id)}).status_code == 422
    assert (
        client.post(
            f"/leads/{lead.id}/enroll", {"sequence_id": str(sequence.id), "override": "yes"}
        ).status_code
        == 302
    )
    assert db.session.scalar(sa.select(sa.func.count(Enrollment.id))) == 1


def test_pause_resume_and_unenroll_are_logged_with_the_actor(login_as, tenant, sequence, clock):
    client = login_as("manager")
    lead = factories.make_lead(tenant)
    enrollment = factories.make_enrollment(lead, sequence)
    assert client.post(f"/enrollments/{enrollment.id}/pause", {"next": "lead"}).status_code == 302
    db.session.refresh(enrollment)
    assert (enrollment.status, enrollment.pause_reason) == ("paused", "manual")
    clock.advance(hours=5)
    client.post(f"/enrollments/{enrollment.id}/resume")
    db.session.refresh(enrollment)
    assert enrollment.status == "active" and enrollment.next_step_on == clock.now()
    client.post(f"/enrollments/{enrollment.id}/unenroll")
    db.session.refresh(enrollment)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "unenrolled")
    trace = db.session.execute(
        sa.select(Activity.type, Activity.actor_id)
        .where(Activity.enrollment_id == enrollment.id)
        .order_by(Activity.occurred_at)
    ).all()
    assert trace == [
        ("nurture_paused", client.user.id),
        ("nurture_resumed", client.user.id),
        ("nurture_exited", client.user.id),
    ]


def test_an_approval_pause_cannot_be_resumed_by_hand(login_as, tenant, sequence):
    client = login_as("rep")
    enrollment = factories.make_enrollment(
        factories.make_lead(tenant), sequence, status="paused", pause_reason="awaiting_approval"
    )
    response = client.post(f"/enrollments/{enrollment.id}/resume")
    assert response.status_code == 302
    db.session.refresh(enrollment)
    assert enrollment.status == "paused"
    assert "resumes when that is done" in client.get(f"/enrollments/{enrollment.id}").get_data(as_text=True)


def test_bulk_enroll_selected_runs_as_a_job_with_a_summary(login_as, tenant, sequence):
    client = login_as("marketer")
    good = [factories.make_lead(tenant) for _ in range(3)]
    dnc = factories.make_lead(tenant, do_not_contact=True)
    cold = factories.make_lead(tenant, score_band="cold")
    response = client.post(
        "/leads/bulk-enroll",
        {
            "sequence_id": str(sequence.id),
            "scope": "selected",
            "lead_ids": [str(x.id) for x in [*good, dnc, cold]],
        },
    )
    assert response.status_code == 302
    progress_url = response.headers["Location"]
    run_jobs()
    html = client.get(progress_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Done: 3 enrolled" in html
    assert "1 · marked do-not-contact" in html
    assert "1 · score band not warm" in html
    assert "hx-trigger" not in html  # finished: it stops polling
    assert db.session.scalar(sa.select(sa.func.count(Enrollment.id))) == 3


def test_bulk_enroll_all_matching_a_filter(login_as, tenant, sequence):
    client = login_as("marketer")
    for _ in range(4):
        factories.make_lead(tenant, status="qualified")
    factories.make_lead(tenant, status="new")
    response = client.post(
        "/leads/bulk-enroll", {"sequence_id": str(sequence.id), "scope": "matching", "status": "qualified"}
    )
    run_jobs()
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Done: 4 enrolled" in html


def test_bulk_enroll_needs_a_selection(login_as, tenant, sequence):
    client = login_as("marketer")
    response = client.post("/leads/bulk-enroll", {"sequence_id": str(sequence.id), "scope": "selected"})
    assert response.status_code == 302
    assert "Select at least one lead" in client.get(response.headers["Location"]).get_data(as_text=True)
