"""The leads list, its filters and the lead page."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.leads import LeadFilters, lead_query, segments
from nurture_ui.models import Activity
from tests import factories


def _emails(tenant, **filters):
    return {lead.email for lead in db.session.scalars(lead_query(tenant.id, LeadFilters(**filters)))}


def test_filters_combine_and_stay_inside_the_tenant(tenant, other_tenant):
    rep = factories.make_user(tenant, "rep")
    a = factories.make_lead(
        tenant, email="a@x.test", status="new", score_band="warm", segment="SMB", owner_id=rep.id
    )
    b = factories.make_lead(
        tenant, email="b@x.test", status="qualified", score_band="hot", segment="Enterprise", company="Globex"
    )
    factories.make_lead(other_tenant, email="c@x.test", status="new", score_band="warm")
    assert _emails(tenant) == {a.email, b.email}
    assert _emails(tenant, status="new") == {a.email}
    assert _emails(tenant, score_band="hot") == {b.email}
    assert _emails(tenant, segment="Enterprise") == {b.email}
    assert _emails(tenant, owner=str(rep.id)) == {a.email}
    assert _emails(tenant, owner="none") == {b.email}
    assert _emails(tenant, owner="not-a-uuid") == set()
    assert _emails(tenant, q="GLOBEX") == {b.email}
    assert _emails(tenant, q="lee lead") == {a.email, b.email}
    assert _emails(tenant, status="new", score_band="hot") == set()


def test_list_pages_and_htmx_returns_only_the_results(login_as, tenant):
    for i in range(55):
        factories.make_lead(tenant, email=f"p{i}@x.test")
    client = login_as("manager")
    full = client.get("/leads/").get_data(as_text=True)
    assert "<html" in full and "1–50 of 55 leads" in full
    partial = client.get(
        "/leads/?page=2", headers={"HX-Request": "true", "HX-Target": "lead-results"}
    ).get_data(as_text=True)
    assert "<html" not in partial and "51–55 of 55 leads" in partial


def test_editing_a_lead_records_who_changed_what(login_as, tenant):
    client = login_as("rep")
    owner = factories.make_user(tenant, "rep", name="Olga Owner")
    lead = factories.make_lead(tenant, status="new", score=20, score_band="cold")
    response = client.post(
        f"/leads/{lead.id}",
        {
            "status": "qualified",
            "score": "75",
            "score_band": "hot",
            "owner_id": str(owner.id),
            "do_not_contact": "y",
        },
    )
    assert response.status_code == 302
    db.session.refresh(lead)
    assert (lead.status, lead.score, lead.score_band, lead.owner_id, lead.do_not_contact) == (
        "qualified",
        75,
        "hot",
        owner.id,
        True,
    )
    trace = db.session.scalars(sa.select(Activity).where(Activity.lead_id == lead.id)).one()
    assert trace.type == "lead_updated" and trace.actor_id == client.user.id
    assert trace.data["owner"] == ["Unassigned", "Olga Owner"]
    assert trace.data["score"] == [20, 75]


def test_bad_lead_edit_rerenders_with_the_error_and_changes_nothing(login_as, tenant):
    client = login_as("rep")
    lead = factories.make_lead(tenant, score=20)
    response = client.post(
        f"/leads/{lead.id}", {"status": "new", "score": "abc", "score_band": "warm", "owner_id": ""}
    )
    assert response.status_code == 422
    assert "Enter a score." in response.get_data(
        as_text=True
    ) or "Not a valid integer value." in response.get_data(as_text=True)
    response = client.post(
        f"/leads/{lead.id}", {"status": "new", "score": "101", "score_band": "warm", "owner_id": ""}
    )
    assert "A score is a whole number from 0 to 100." in response.get_data(as_text=True)
    assert 'value="101"' in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.score == 20


def test_owner_from_another_tenant_is_not_accepted(login_as, tenant, other_tenant):
    client = login_as("rep")
    stranger = factories.make_user(other_tenant, "rep")
    lead = factories.make_lead(tenant)
    response = client.post(
        f"/leads/{lead.id}",
        {"status": "new", "score": "50", "score_band": "warm", "owner_id": str(stranger.id)},
    )
    assert response.status_code == 422
    db.session.refresh(lead)
    assert lead.owner_id is None


def test_marking_do_not_contact_exits_every_sequence_at_once(login_as, tenant):
    client = login_as("rep")
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, status="active")
    enrollment = factories.make_enrollment(lead, sequence)
    response = client.post(
        f"/leads/{lead.id}",
        {"status": "new", "score": "50", "score_band": "warm", "owner_id": "", "do_not_contact": "y"},
    )
    assert response.status_code == 302
    db.session.refresh(enrollment)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "do_not_contact")
    types = set(db.session.scalars(sa.select(Activity.type).where(Activity.lead_id == lead.id)))
    assert types == {"lead_updated", "nurture_exited"}


def test_the_segment_filter_offers_each_segment_of_the_tenant_once_in_order(tenant, other_tenant):
    for segment in ("SMB", "Enterprise", "SMB", "", "Mid-market", "Enterprise"):
        factories.make_lead(tenant, segment=segment)
    factories.make_lead(other_tenant, segment="Agencies")
    assert segments(tenant.id) == ["Enterprise", "Mid-market", "SMB"]
    assert segments(other_tenant.id) == ["Agencies"]
