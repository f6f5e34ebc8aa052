"""Script in a lead's name, a template or a reply is shown as text: nothing runs, no element is injected.

The CSP would block an inline script anyway; these checks look at the DOM, so they fail on a missing escape
even where the CSP would have saved us.
"""

from __future__ import annotations

from tests import factories

PAYLOAD = '<script>window.__xss=1</script><img src=x class=xss-probe onerror="window.__xss=2">'


def _assert_inert(page, where: str) -> None:
    assert page.evaluate("window.__xss === undefined"), f"a script ran on {where}"
    assert page.locator("img.xss-probe, script:not([src])").count() == 0, f"markup was injected on {where}"


def test_hostile_names_templates_and_replies_render_as_text(page, sign_in, tenant, screenshot, clock):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    marketer = factories.make_user(tenant, "marketer", name=f"Mal {PAYLOAD}")
    lead = factories.make_lead(tenant, first_name=PAYLOAD, last_name="Lee", company=PAYLOAD, segment="SMB")
    factories.make_reply(lead, body_excerpt=f"Thanks! {PAYLOAD}", subject=PAYLOAD[:200])
    template = factories.make_template(
        tenant, key="xss", name=f"Tpl {PAYLOAD}", subject="Hi {{ lead.first_name }}", body=f"Body {PAYLOAD}"
    )
    sequence = factories.make_sequence(
        tenant, name=f"Seq {PAYLOAD}", status="active", steps=[{"channel": "email", "template_id": "xss"}]
    )
    enrollment = factories.make_enrollment(lead, sequence)
    sign_in(marketer)

    for path in ("/", "/leads/", f"/leads/{lead.id}", "/sequences/", f"/sequences/{sequence.id}",
                 "/templates/", f"/templates/{template.id}", f"/enrollments/{enrollment.id}"):  # fmt: skip
        page.goto(path)
        _assert_inert(page, path)
        assert "<script>window.__xss=1</script>" in page.locator("body").inner_text(), path

    # The live preview renders the template for the lead through htmx: still text.
    page.goto(f"/templates/{template.id}")
    # Rendered for the lead found by search (its name carries the payload too).
    page.get_by_label("Find another lead").fill("Lee")
    page.locator("[data-lead-choices] button").first.click()
    _assert_inert(page, "the lead search results")
    page.wait_for_selector("#preview :text('Body')")
    _assert_inert(page, "the template preview")
    assert PAYLOAD in page.locator("#preview").inner_text()
    screenshot(page, "xss-template-preview")

    page.goto(f"/leads/{lead.id}")
    assert PAYLOAD in page.locator("body").inner_text()  # the name and the reply, as typed
    screenshot(page, "xss-lead-page")
    assert dialogs == [] and page.js_errors == []


def test_hostile_names_on_the_work_queues_overview_performance_and_timeline_render_as_text(
    page, sign_in, tenant, screenshot, clock
):
    """The inbox and task queue list names and drafts; the overview, performance page and lead timeline
    draw names and exit reasons into hand-built SVG (nurture_ui/charts.py)."""
    from nurture_ui.engine.schedule import schedule_first_step
    from nurture_ui.extensions import db
    from nurture_ui.models import Enrollment

    admin = factories.make_user(tenant, "admin", name=f"Adm {PAYLOAD}")
    rep = factories.make_user(tenant, "rep", name=f"Rep {PAYLOAD}")
    factories.make_template(tenant, key="intro", name=f"Tpl {PAYLOAD}")

    def hostile_lead(**fields):
        return factories.make_lead(
            tenant,
            first_name=PAYLOAD,
            last_name="Lee",
            company=PAYLOAD,
            title=PAYLOAD,
            owner_id=rep.id,
            **fields,
        )

    draft = factories.make_draft(tenant, hostile_lead(), subject=f"Hi {PAYLOAD}", body=f"Body {PAYLOAD}")
    task = factories.make_task(tenant, hostile_lead(), title=f"Call {PAYLOAD}", assignee_id=rep.id)
    for made in (draft, task):
        db.session.get(Enrollment, made.enrollment_id).sequence.name = f"Seq {PAYLOAD}"
    sequence = factories.make_sequence(
        tenant,
        name=f"Seq {PAYLOAD}",
        status="active",
        steps=[{"channel": "email", "template_id": "intro"}, {"channel": "task"}],
    )
    lead = hostile_lead()
    schedule_first_step(lead, sequence, now=clock.now())
    left = factories.make_enrollment(
        hostile_lead(), sequence, status="exited", exit_reason=PAYLOAD, next_step_on=None
    )
    db.session.commit()
    sign_in(admin)

    for path in ("/inbox/", f"/inbox/{draft.id}", f"/inbox/{draft.id}/edit", f"/inbox/{draft.id}/reject",
                 "/tasks/", "/overview/", f"/sequences/{sequence.id}/performance",
                 f"/leads/{lead.id}/timeline", f"/leads/{left.lead_id}/timeline"):  # fmt: skip
        response = page.goto(path)
        assert response.ok, f"{path} answered {response.status}"
        _assert_inert(page, path)
        assert "<script>window" in page.locator("body").inner_text(), path
    assert page.locator("svg text:has-text('<script>window')").count() > 0  # the timeline's lanes
    screenshot(page, "xss-lead-timeline")
    page.goto(f"/sequences/{sequence.id}/performance")
    assert page.locator("svg").count() > 0
    _assert_inert(page, "the performance charts")
    assert page.js_errors == []
