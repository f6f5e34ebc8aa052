"""In the browser: another tenant's objects answer 404 whatever their kind, and a form sent without its
CSRF token is refused with a page that says what happened."""

from __future__ import annotations

import uuid

import pytest

from nurture_ui.extensions import db
from nurture_ui.models import Lead
from tests import factories


def _sequence(tenant):
    return factories.make_sequence(
        tenant, name="Zyxwv sequence", status="active", steps=[{"channel": "email", "template_id": "intro"}]
    )


# kind → (make one in a tenant, the page a person would open, a form a person would send there)
OBJECTS = {
    "lead": (lambda t: factories.make_lead(t, first_name="Zyxwv"), "/leads/{id}", "/leads/{id}/enroll"),
    "lead timeline": (lambda t: factories.make_lead(t, first_name="Zyxwv"), "/leads/{id}/timeline", None),
    "sequence": (_sequence, "/sequences/{id}", "/sequences/{id}/status"),
    "template": (
        lambda t: factories.make_template(t, key=f"z-{uuid.uuid4().hex[:8]}", name="Zyxwv template"),
        "/templates/{id}",
        "/templates/{id}/delete",
    ),
    "enrollment": (
        lambda t: factories.make_enrollment(factories.make_lead(t, first_name="Zyxwv"), _sequence(t)),
        "/enrollments/{id}",
        "/enrollments/{id}/pause",
    ),
    "draft": (
        lambda t: factories.make_draft(t, subject="Zyxwv subject"),
        "/inbox/{id}",
        "/inbox/{id}/approve",
    ),
    "task": (lambda t: factories.make_task(t, title="Zyxwv call"), None, "/tasks/{id}/complete"),
}


@pytest.mark.parametrize("kind", list(OBJECTS))
def test_another_tenants_object_is_not_found_in_the_browser(page, sign_in, tenant, other_tenant, kind):
    make, page_path, form_path = OBJECTS[kind]
    foreign = make(other_tenant)
    sign_in(factories.make_user(tenant, "admin"))
    if page_path:
        response = page.goto(page_path.format(id=foreign.id))
        assert response.status == 404
        assert page.get_by_role("heading", name="Not found").is_visible()
        assert "Zyxwv" not in page.content()
    if form_path:
        page.goto("/")
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        response = page.request.post(
            form_path.format(id=foreign.id),
            form={"csrf_token": token, "status": "paused", "outcome": "reached"},
        )
        assert response.status == 404, f"POST {form_path} answered {response.status}"
        assert "Zyxwv" not in response.text()
    assert page.js_errors == [] or all("404" in e for e in page.js_errors)


def test_a_form_sent_without_its_csrf_token_is_refused_with_a_clear_page(page, sign_in, tenant, screenshot):
    lead = factories.make_lead(tenant, score=10)
    sign_in(factories.make_user(tenant, "rep"))

    # A request from elsewhere: the browser's session cookie, no token.
    refused = page.request.post(
        f"/leads/{lead.id}", form={"status": "new", "score": "99", "score_band": "hot"}
    )
    assert refused.status == 400
    assert "Form expired" in refused.text()

    # The page's own form with its token taken out, submitted by a person.
    page.goto(f"/leads/{lead.id}")
    page.evaluate(
        """() => {
            document.querySelectorAll('input[name="csrf_token"], meta[name="csrf-token"]').forEach(e => e.remove());
            document.body.removeAttribute('hx-headers');
        }"""
    )
    page.get_by_label("Score", exact=True).fill("99")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save changes").click()
    assert posted.value.status == 400
    assert page.get_by_role("heading", name="Form expired").is_visible()
    assert "Reload the page and try again" in page.locator("body").inner_text()
    screenshot(page, "csrf-refused")
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).score == 10


def test_engine_health_and_retry_stay_within_the_tenant(page, sign_in, tenant, other_tenant, screenshot):
    """Two tenants with failed engine jobs: an admin sees and retries only their own; the other tenant's
    stay failed, and the platform's view of every tenant does not exist for them."""
    from nurture_ui.extensions import get_queue
    from tests.engine_jobs import failed_jobs, queued_jobs

    queue = get_queue()
    queue.empty()
    ours, theirs = failed_jobs(tenant, 2), failed_jobs(other_tenant, 3)
    queued_jobs(other_tenant, 4)
    try:
        sign_in(factories.make_user(tenant, "admin"))
        page.goto("/overview/")
        engine = page.locator("#engine")
        assert engine.locator('[data-figure="failed_jobs"]').inner_text() == "2"
        assert engine.locator('[data-figure="queued"]').inner_text() == "0"
        screenshot(page, "overview-engine-own-tenant")
        engine.get_by_role("button", name="Retry them").click()
        page.wait_for_url("**/overview/")
        assert page.get_by_text("2 failed jobs put back on the queue.").is_visible()
        assert page.locator('#engine [data-figure="failed_jobs"]').inner_text() == "0"
        assert page.locator('#engine [data-figure="queued"]').inner_text() == "2"
        assert sorted(queue.failed_job_registry.get_job_ids()) == sorted(theirs)
        assert set(ours) <= set(queue.get_job_ids())

        response = page.goto("/platform/engine")
        assert response.status == 404
        assert "Other Corp" not in page.content()
    finally:
        queue.empty()
        for job_id in queue.failed_job_registry.get_job_ids():
            queue.failed_job_registry.remove(job_id, delete_job=True)
    assert page.js_errors == [] or all("404" in e for e in page.js_errors)
