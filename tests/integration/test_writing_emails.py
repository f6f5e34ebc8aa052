"""Writing emails: a live preview with errors on their line, "Render for" over all leads, a test sent to the
writer that is never a send to the lead, each email step previewed in the builder, a step without a template
flagged, and who a bulk enrollment skipped, as CSV."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from nurture_ui.charts import Bar, bar_chart
from nurture_ui.extensions import db
from nurture_ui.models import Activity, OutboundMessage
from tests import factories
from tests.engine.conftest import smtp_server  # noqa: F401 (fixture)
from tests.integration.test_enrollment_web import run_jobs

HTMX = {"HX-Request": "true"}


def test_preview_shows_a_syntax_error_with_its_line(login_as, tenant):
    client = login_as("marketer")
    lead = factories.make_lead(tenant)
    client.get("/templates/new")
    html = client.post(
        "/templates/preview",
        {"lead_id": str(lead.id), "subject": "Hi", "body": "Line one\nLine two {{ lead.first_name "},
        headers=HTMX,
    ).get_data(as_text=True)
    assert "Body, line 2:" in html and 'role="alert"' in html


def test_preview_names_an_unknown_field_and_its_line(login_as, tenant):
    client = login_as("marketer")
    lead = factories.make_lead(tenant)
    client.get("/templates/new")
    html = client.post(
        "/templates/preview",
        {"lead_id": str(lead.id), "subject": "{{ lead.salary }}", "body": "x"},
        headers=HTMX,
    ).get_data(as_text=True)
    assert "Subject, line 1: unknown field &#39;lead.salary&#39;" in html


def test_preview_uses_the_fallback_when_a_field_is_empty(login_as, tenant):
    client = login_as("marketer")
    lead = factories.make_lead(tenant, first_name="", company="Initech")
    client.get("/templates/new")
    html = client.post(
        "/templates/preview",
        {
            "lead_id": str(lead.id),
            "subject": "For {{ lead.company }}",
            "body": 'Hi {{ lead.first_name or "there" }},',
        },
        headers=HTMX,
    ).get_data(as_text=True)
    assert "For Initech" in html and "Hi there," in html


def test_render_for_finds_a_lead_beyond_the_first_hundred(login_as, tenant, other_tenant):
    client = login_as("marketer")
    for n in range(105):
        factories.make_lead(tenant, first_name="Aaron", last_name=f"Filler {n}")
    zed = factories.make_lead(tenant, first_name="Zelda", last_name="Zimmer", company="Zeta Works")
    factories.make_lead(other_tenant, first_name="Zelda", last_name="Elsewhere")
    html = client.get("/templates/preview-leads?q=zimm", headers=HTMX).get_data(as_text=True)
    assert f'data-lead-id="{zed.id}"' in html and "Zeta Works" in html
    assert "Elsewhere" not in html  # another tenant's lead is never offered
    assert "No lead matches “nobody-here”" in client.get(
        "/templates/preview-leads?q=nobody-here", headers=HTMX
    ).get_data(as_text=True)


def test_a_test_send_goes_to_me_marked_as_a_test_and_never_counts_as_a_send(
    login_as,
    tenant,
    smtp_server,  # noqa: F811
):
    client = login_as("marketer")
    lead = factories.make_lead(tenant, first_name="Ada", email="ada@lead.test")
    client.get("/templates/new")
    html = client.post(
        "/templates/send-test",
        {
            "lead_id": str(lead.id),
            "subject": "Idea for {{ lead.company }}",
            "body": "Hi {{ lead.first_name }}",
        },
        headers=HTMX,
    ).get_data(as_text=True)
    assert f"Test sent to {client.user.email}" in html
    [message] = smtp_server.messages
    assert message["To"].addresses[0].addr_spec == client.user.email
    assert message["Subject"] == f"[Test] Idea for {lead.company}"
    assert message["X-Nurture-Test"] == "yes" and message["List-Unsubscribe"] is None
    assert "Hi Ada" in message.get_content() and "/u/" not in message.get_content()
    # Not a send to the lead: no outbox row (the frequency cap and the outbox read only those), nothing on
    # the lead's timeline, nothing a sequence's performance counts.
    assert db.session.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Activity.id)).where(Activity.lead_id == lead.id)) == 0
    recorded = db.session.scalars(sa.select(Activity).where(Activity.type == "test_email_sent")).one()
    assert recorded.actor_id == client.user.id and recorded.data["to"] == client.user.email


def test_a_test_send_of_a_broken_template_sends_nothing(login_as, tenant, smtp_server):  # noqa: F811
    client = login_as("marketer")
    lead = factories.make_lead(tenant)
    client.get("/templates/new")
    html = client.post(
        "/templates/send-test",
        {"lead_id": str(lead.id), "subject": "Hi", "body": "{% if %}"},
        headers=HTMX,
    ).get_data(as_text=True)
    assert "Not sent." in html and "Body, line 1" in html
    assert smtp_server.messages == []


def test_reps_cannot_send_tests_of_templates_they_cannot_edit(login_as, tenant):
    client = login_as("rep")
    lead = factories.make_lead(tenant)
    client.get("/templates/")
    response = client.post("/templates/send-test", {"lead_id": str(lead.id), "subject": "Hi", "body": "x"})
    assert response.status_code == 403


def test_builder_shows_each_email_step_rendered_for_a_sample_lead(login_as, tenant):
    client = login_as("marketer")
    factories.make_template(
        tenant, "intro", subject="Idea for {{ lead.company }}", body="Hi {{ lead.first_name }}!"
    )
    factories.make_lead(tenant, first_name="Grace", last_name="Hopper", company="Navy")
    sequence = factories.make_sequence(
        tenant,
        steps=[{"template_id": "intro"}, {"channel": "task", "instructions": "Call", "delay_hours": 24}],
    )
    html = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert html.count("data-step-preview") == 1  # the email step only
    assert "As Grace Hopper would read it" in html and "Idea for Navy" in html and "Hi Grace!" in html


def test_builder_previews_with_a_sample_lead_when_there_are_no_leads(login_as, tenant):
    client = login_as("marketer")
    factories.make_template(tenant, "intro", subject="Hello {{ lead.first_name }}")
    sequence = factories.make_sequence(tenant, steps=[{"template_id": "intro"}])
    html = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert "(a sample lead)" in html and "Hello Sam" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("leads"))) == 0


def test_an_email_step_saved_without_a_template_is_flagged_at_once(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant)
    client.get(f"/sequences/{sequence.id}")
    response = client.post(
        f"/sequences/{sequence.id}/steps/new",
        {
            "channel": "email",
            "delay_value": "0",
            "delay_unit": "days",
            "template_id": "",
            "cond-count": "0",
            "cond-mode": "rows",
        },
        headers=HTMX,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "data-missing-template" in page and "This email step has no template" in page


def test_bulk_summary_lists_who_was_skipped_and_why_as_csv(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"channel": "email", "template_id": "intro", "delay_hours": 2}]
    )
    good = factories.make_lead(tenant)
    dnc = factories.make_lead(tenant, do_not_contact=True, email="dnc@lead.test", first_name="=Dee")
    response = client.post(
        "/leads/bulk-enroll",
        {"sequence_id": str(sequence.id), "scope": "selected", "lead_ids": [str(good.id), str(dnc.id)]},
    )
    run_jobs()
    progress_url = response.headers["Location"]
    html = client.get(progress_url, headers=HTMX).get_data(as_text=True)
    assert "Who was skipped" in html and "dnc@lead.test" in html
    download = client.get(progress_url + "/skipped.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0] == ["lead_id", "email", "name", "reason"]
    assert rows[1:] == [[str(dnc.id), "dnc@lead.test", "'" + dnc.name, "marked do-not-contact"]]


def test_bulk_skipped_csv_is_the_tenants_own(login_as, tenant, other_tenant):
    owner = login_as("marketer")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}])
    lead = factories.make_lead(tenant)
    response = owner.post(
        "/leads/bulk-enroll",
        {"sequence_id": str(sequence.id), "scope": "selected", "lead_ids": [str(lead.id)]},
    )
    run_jobs()
    stranger = login_as("admin", in_tenant=other_tenant)
    assert stranger.get(response.headers["Location"] + "/skipped.csv").status_code == 404


def test_long_chart_labels_wrap_instead_of_being_cut():
    svg = str(
        bar_chart([Bar(label="The lead replied positively to the second email", value=3)], title="Exits")
    )
    assert "…" not in svg
    assert svg.count("<tspan") == 2 and "The lead replied" in svg and "second email" in svg
    assert "<title>The lead replied positively to the second email: 3</title>" in svg
