"""Email template pages: CRUD with field errors that keep input, preview against a lead, delete refusal."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate
from tests import factories


def test_create_edit_and_list(login_as, tenant):
    client = login_as("marketer")
    client.get("/templates/new")
    response = client.post(
        "/templates/new",
        {
            "name": "Intro",
            "key": "intro",
            "subject": "Hi {{ lead.first_name }}",
            "body": "Hello",
            "pre_approved": "y",
        },
    )
    assert response.status_code == 302
    template = db.session.scalar(sa.select(EmailTemplate))
    assert template.pre_approved and template.created_by == client.user.id
    assert "Intro" in client.get("/templates/").get_data(as_text=True)


def test_syntax_error_is_refused_with_the_line_and_input_kept(login_as):
    client = login_as("marketer")
    client.get("/templates/new")
    response = client.post(
        "/templates/new",
        {"name": "Intro", "key": "intro", "subject": "Hi", "body": "Line one\n{{ lead.first_name "},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Body, line 2:" in page and "Line one" in page
    assert db.session.scalar(sa.select(sa.func.count(EmailTemplate.id))) == 0


def test_unknown_field_is_refused(login_as):
    client = login_as("admin")
    client.get("/templates/new")
    page = client.post(
        "/templates/new", {"name": "Intro", "key": "intro", "subject": "{{ lead.salary }}", "body": "x"}
    ).get_data(as_text=True)
    assert "Subject, line 1: unknown field &#39;lead.salary&#39;" in page


def test_preview_renders_for_a_chosen_lead(login_as, tenant):
    client = login_as("marketer")
    lead = factories.make_lead(tenant, first_name="Ada", company="Initech")
    client.get("/templates/new")
    page = client.post(
        "/templates/preview",
        {"lead_id": str(lead.id), "subject": "For {{ lead.company }}", "body": "Hi {{ lead.first_name }}"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "For Initech" in page and "Hi Ada" in page
    page = client.post(
        "/templates/preview",
        {"lead_id": str(lead.id), "subject": "{{ lead.x }}", "body": ""},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "unknown field" in page


def test_preview_of_another_tenants_lead_is_404(login_as, other_tenant):
    client = login_as("marketer")
    lead = factories.make_lead(other_tenant)
    client.get("/templates/new")
    assert (
        client.post("/templates/preview", {"lead_id": str(lead.id), "subject": "x", "body": "y"}).status_code
        == 404
    )


def test_delete_refused_while_used(login_as, tenant):
    client = login_as("marketer")
    template = factories.make_template(tenant, "intro")
    factories.make_sequence(tenant, name="Warm", steps=[{"channel": "email", "template_id": "intro"}])
    client.get("/templates/")
    response = client.post(f"/templates/{template.id}/delete")
    assert response.status_code == 302
    assert db.session.get(EmailTemplate, template.id) is not None
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Used by Warm (step 1)" in page


def test_reps_see_templates_read_only(login_as, tenant):
    template = factories.make_template(tenant, "intro")
    client = login_as("rep")
    page = client.get(f"/templates/{template.id}").get_data(as_text=True)
    assert "Save template" not in page
    assert client.post(f"/templates/{template.id}", {"name": "x"}).status_code == 403
