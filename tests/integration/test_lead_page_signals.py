"""Logging a reply or a conversion on the lead page acts exactly like the API event."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, Lead, LeadReply
from tests import factories


def _enrolled(tenant):
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, status="active", name="Warm follow-up")
    return lead, factories.make_enrollment(lead, sequence)


def test_rep_logs_a_positive_reply_and_the_enrollment_exits(login_as, tenant, clock):
    lead, enrollment = _enrolled(tenant)
    rep = login_as("rep")
    response = rep.post(f"/leads/{lead.id}/replies", {"text": "Yes! Let's set up a call on Tuesday."})
    assert response.status_code == 302
    page = rep.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "classified as positive" in page
    assert "Exited “Warm follow-up” (positive reply)" in page
    db.session.expire_all()
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "positive_reply"
    reply = db.session.scalars(sa.select(LeadReply)).one()
    assert reply.classified_by == "auto"


def test_rep_corrects_the_classification_and_the_enrollment_follows(login_as, tenant, clock):
    lead, enrollment = _enrolled(tenant)
    rep = login_as("rep")
    rep.post(f"/leads/{lead.id}/replies", {"text": "Thanks, I'll pass this to my manager."})
    db.session.expire_all()
    reply = db.session.scalars(sa.select(LeadReply)).one()
    assert reply.sentiment == "neutral"  # the rep knows the manager asked for a call
    # No rule recognised it: it waits for a person to sort it, and the sequence waits with it.
    assert reply.triage == "pending"
    assert db.session.get(Enrollment, enrollment.id).status == "paused"

    rep.post(f"/leads/{lead.id}/replies/{reply.id}/classification", {"sentiment": "positive"})
    db.session.expire_all()
    assert db.session.get(LeadReply, reply.id).classified_by == "user"
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "positive_reply"


def test_logging_a_conversion_exits_and_marks_the_lead(login_as, tenant):
    lead, enrollment = _enrolled(tenant)
    manager = login_as("manager")
    manager.post(f"/leads/{lead.id}/conversion", {})
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).status == "converted"
    assert db.session.get(Enrollment, enrollment.id).exit_reason == "converted"


def test_marketers_see_replies_but_cannot_log_them(login_as, tenant):
    lead, _ = _enrolled(tenant)
    marketer = login_as("marketer")
    assert "Log reply" not in marketer.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert marketer.post(f"/leads/{lead.id}/replies", {"text": "Yes"}).status_code == 403


def test_a_reply_of_another_tenants_lead_is_not_found(login_as, tenant, other_tenant):
    foreign = factories.make_lead(other_tenant)
    rep = login_as("rep")
    assert rep.post(f"/leads/{foreign.id}/replies", {"text": "Yes"}).status_code == 404
