"""A marketer marks an email step as a follow-up in the same thread, with activity conditions, in the builder."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories


def test_tick_same_thread_in_the_step_editor_and_see_it_on_the_step_card(page, sign_in, tenant, screenshot):
    factories.make_template(tenant, "intro", name="Intro")
    factories.make_template(tenant, "nudge", name="Nudge")
    sequence = factories.make_sequence(
        tenant,
        name="Pilot follow-ups",
        steps=[{"channel": "email", "template_id": "intro", "delay_hours": 0}],
    )
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto(f"/sequences/{sequence.id}")

    page.get_by_role("button", name="+ Add step").click()
    form = page.locator("#step-form-new")
    form.get_by_label("Channel").select_option(label="Email")
    form.locator("[name=delay_value]").fill("3")
    form.get_by_label("Template").select_option(label="Nudge")
    form.get_by_label("Follow up in the same thread").check()
    form.locator("details.conditions > summary").click()
    form.get_by_label("Only if the previous email was not replied to").check()
    form.get_by_label("Only if the lead has no open task").check()
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"step-form-same-thread-{width}")
    page.set_viewport_size({"width": 1440, "height": 900})
    form.get_by_role("button", name="Add step").click()

    card = page.locator(".step-list > .step-card").nth(1)
    expect(card.locator("[data-same-thread]")).to_have_text("Same thread (Re:)")
    expect(card.locator("[data-only-if-not-replied]")).to_be_visible()
    expect(card.locator("[data-only-if-no-open-task]")).to_be_visible()
    expect(card.locator("[data-no-earlier-email]")).to_have_count(0)

    page.reload()  # saved on the step, not only in the page
    card = page.locator(".step-list > .step-card").nth(1)
    expect(card.locator("[data-same-thread]")).to_be_visible()
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot = screenshot(page, f"builder-same-thread-{width}")
        page.locator("#steps-panel").screenshot(
            path=str(shot.parent / f"builder-same-thread-steps-{width}.png")
        )

    # The first email cannot follow up in a thread: the form says so, on the box.
    page.set_viewport_size({"width": 1440, "height": 900})
    page.get_by_role("button", name="Edit step 1").click()
    first = page.locator(f"#step-form-{sequence.steps[0].id}")
    first.get_by_label("Follow up in the same thread").check()
    first.get_by_role("button", name="Save step").click()
    expect(first.locator(".error")).to_contain_text("The first email of a sequence cannot reply")
    assert page.js_errors == []


def test_the_dry_run_page_says_what_it_assumes_about_replies_and_open_tasks(
    page, sign_in, tenant, screenshot
):
    factories.make_template(tenant, "intro", name="Intro")
    sequence = factories.make_sequence(
        tenant,
        name="Pilot follow-ups",
        steps=[
            {"channel": "email", "template_id": "intro", "delay_hours": 0},
            {"channel": "email", "template_id": "intro", "delay_hours": 72, "same_thread": True}
            | {"only_if_not_replied": True, "only_if_no_open_task": True},
        ],
    )
    factories.make_lead(tenant)
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto(f"/sequences/{sequence.id}/simulate")
    expect(page.locator("[data-assumed-no-reply]")).to_contain_text("assumes nobody replies")
    expect(page.locator("[data-skipped-open-task]")).to_contain_text("0 steps skipped")
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"simulate-follow-ups-{width}")
    assert page.js_errors == []
