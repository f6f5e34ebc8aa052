"""A marketer builds a sequence in the browser: steps through htmx, drag and keyboard reorder, activation."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests import factories


def _card_titles(page) -> list[str]:
    return [
        " ".join(t.split())
        for t in page.locator("#steps-panel .step-list > .step-card .step-title").all_text_contents()
    ]


def _add_step(
    page, channel: str, wait: str, unit: str = "days", template: str | None = None, instructions: str = ""
):
    count = page.locator(".step-list > .step-card").count()
    page.get_by_role("button", name="+ Add step").click()
    form = page.locator("#step-form-new")
    form.get_by_label("Channel").select_option(label=channel)
    form.locator("[name=delay_value]").fill(wait)
    form.get_by_label("Unit").select_option(unit)
    if template:
        form.get_by_label("Template").select_option(label=template)
    if instructions:
        form.get_by_label("Instructions for the owner").fill(instructions)
    form.get_by_role("button", name="Add step").click()
    expect(page.locator(".step-list > .step-card")).to_have_count(count + 1)


def _settled(page):
    """Wait until htmx has swapped and settled, so new controls have their handlers."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")).to_have_count(0)


def _drag(page, source, target):
    """Drag with real mouse moves (SortableJS runs in fallback mode: mouse events, not native DnD)."""
    box = source.bounding_box()
    goal = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] - 10, steps=5)
    page.mouse.move(goal["x"] + 10, goal["y"] + 4, steps=15)
    page.mouse.move(goal["x"] + 10, goal["y"] + 2, steps=5)
    page.mouse.up()


def test_build_three_steps_drag_the_third_to_the_top_and_it_holds(page, sign_in, tenant, screenshot):
    factories.make_template(tenant, "intro", name="Intro")
    factories.make_template(tenant, "check-in", name="Check-in")
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto("/sequences/")
    page.get_by_label("Name").fill("Warm leads, three weeks")
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Warm leads, three weeks")

    _add_step(page, "Email", "0", template="Intro")
    _add_step(page, "Call reminder", "2")
    _add_step(page, "Task", "3", instructions="Send the pricing sheet")
    expect(page.locator("[data-schedule]")).to_have_text(
        "Day 0 email ‘Intro’ · Day 2 call reminder · Day 5 task · ends day 5"
    )
    assert [t.split()[0] for t in _card_titles(page)] == ["Email", "Call", "Task"]

    cards = page.locator(".step-list > .step-card")
    with page.expect_response(re.compile(r"/steps/reorder$")) as answer:
        _drag(page, cards.nth(2).locator(".drag-handle"), cards.nth(0))
    assert answer.value.status == 200
    expect(page.locator(".step-list > .step-card").first.locator(".step-title")).to_contain_text("Task")

    page.reload()
    titles = _card_titles(page)
    assert [t.split()[0] for t in titles] == ["Task", "Email", "Call"], titles
    assert [n.strip() for n in page.locator(".step-num").all_inner_texts()] == ["1", "2", "3"]
    expect(page.locator("[data-schedule]")).to_have_text(
        "Day 3 task · Day 3 email ‘Intro’ · Day 5 call reminder · ends day 5"
    )

    # Priority and a daily cap, from the details form; the side card shows them once saved.
    page.get_by_text("Name, description, priority and cap").click()
    page.get_by_label("Priority (lower number wins when a lead fits several sequences)").fill("5")
    page.get_by_label("Daily enrollment cap").fill("50")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text("Saved.")
    expect(page.locator("#enrollment-controls [data-priority]")).to_contain_text("5")
    expect(page.locator("#enrollment-controls [data-daily-cap]")).to_have_text("50 new leads a day")
    page.get_by_text("Name, description, priority and cap").click()
    expect(page.get_by_label("Daily enrollment cap")).to_have_value("50")
    screenshot(page, "builder-priority-and-cap")
    assert page.js_errors == []


def test_move_a_step_with_the_keyboard(page, sign_in, tenant):
    sequence = factories.make_sequence(
        tenant,
        steps=[
            {"channel": "task", "delay_hours": 0, "instructions": "First"},
            {"channel": "call_reminder", "delay_hours": 24},
            {"channel": "task", "delay_hours": 48, "instructions": "Third"},
        ],
    )
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto(f"/sequences/{sequence.id}")
    page.get_by_role("button", name="Move step 2 up").focus()
    with page.expect_response(re.compile(r"/move$")):
        page.keyboard.press("Enter")
    expect(page.locator(".step-list > .step-card").first.locator(".step-title")).to_contain_text(
        "Call reminder"
    )
    _settled(page)
    # Focus follows the moved step: at the top, "up" is disabled, so its "down" button has the focus.
    expect(page.get_by_role("button", name="Move step 1 down")).to_be_focused()
    with page.expect_response(re.compile(r"/move$")):
        page.keyboard.press("Enter")
    _settled(page)
    expect(page.get_by_role("button", name="Move step 2 down")).to_be_focused()
    page.reload()
    titles = _card_titles(page)
    assert titles[0].startswith("Task") and titles[1].startswith("Call reminder"), titles
    assert page.js_errors == []


def test_seven_steps_are_refused_naming_the_limit_and_a_valid_sequence_activates(
    page, sign_in, tenant, screenshot
):
    factories.make_template(tenant, "intro", name="Intro")
    too_long = factories.make_sequence(
        tenant, name="Too long", steps=[{"channel": "email", "template_id": "intro", "delay_hours": 24}] * 7
    )
    valid = factories.make_sequence(
        tenant,
        name="Just right",
        steps=[{"channel": "email", "template_id": "intro"}, {"channel": "call_reminder", "delay_hours": 72}],
    )
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto(f"/sequences/{too_long.id}")
    # Activate opens the preview first; it names the problems and offers no way to confirm.
    page.get_by_role("link", name="Activate…").click()
    alert = page.locator(".problems")
    expect(alert).to_contain_text("This sequence cannot be activated yet")
    expect(alert).to_contain_text("It has 7 steps; the limit is 6 steps per sequence.")
    expect(page.get_by_role("button", name=re.compile(r"^Activate: "))).to_be_disabled()
    screenshot(page, "builder-activation-refused")
    assert page.js_errors == []

    page.goto(f"/sequences/{valid.id}")
    page.get_by_role("link", name="Activate…").click()
    page.get_by_role("button", name=re.compile(r"^Activate: ")).click()
    expect(page.locator(".flash.success")).to_contain_text("Sequence activated")
    expect(page.get_by_role("heading", level=1)).to_contain_text("active")
    expect(page.get_by_text("Pause it to edit")).to_be_visible()
    expect(page.get_by_role("button", name="+ Add step")).to_have_count(0)
    assert page.js_errors == []


def test_screenshots_of_list_builder_and_rule_editor(page, sign_in, tenant, screenshot):
    marketer = factories.make_user(tenant, "marketer", name="Mia Marketer")
    rep = factories.make_user(tenant, "rep", name="Rob Rep")
    for key, name in (
        ("intro", "Intro"),
        ("case-study", "Case study"),
        ("check-in", "Check-in"),
        ("breakup", "Last note"),
    ):
        factories.make_template(tenant, key, name=name)
    for i in range(40):
        factories.make_lead(
            tenant,
            score=30 + i,
            status=("new", "contacted", "qualified", "converted")[i % 4],
            owner_id=rep.id,
        )
    five = factories.make_sequence(
        tenant,
        name="Warm leads · 3 weeks",
        description="For warm inbound leads that are not ready for a demo yet.",
        created_by=marketer.id,
        entry_rules={
            "all": [
                {"field": "status", "op": "in", "value": ["new", "contacted", "qualified"]},
                {"field": "score", "op": "gte", "value": 40},
                {"no_open_reply_within_days": 14},
            ]
        },
        steps=[
            {"channel": "email", "template_id": "intro", "delay_hours": 0},
            {
                "channel": "email",
                "template_id": "case-study",
                "delay_hours": 72,
                "requires_human_approval": True,
            },
            {"channel": "call_reminder", "delay_hours": 48, "instructions": "Ask about their timeline"},
            {
                "channel": "email",
                "template_id": "check-in",
                "delay_hours": 96,
                "conditions": {"all": [{"field": "score", "op": "gte", "value": 50}]},
            },
            {"channel": "email", "template_id": "breakup", "delay_hours": 168},
        ],
    )
    active = factories.make_sequence(
        tenant,
        name="Event follow-up",
        status="active",
        created_by=marketer.id,
        steps=[{"channel": "email", "template_id": "intro"}] * 3,
    )
    factories.make_sequence(
        tenant,
        name="Re-engage cold leads",
        status="paused",
        created_by=marketer.id,
        steps=[{"channel": "task", "delay_hours": 24}] * 2,
    )
    factories.make_sequence(tenant, name="Old webinar", status="archived", created_by=marketer.id)
    for lead in factories.make_lead(tenant), factories.make_lead(tenant):
        factories.make_enrollment(lead, active)
    sign_in(marketer)
    page.goto("/sequences/")
    screenshot(page, "sequences-list")
    page.goto(f"/sequences/{five.id}")
    expect(page.locator(".step-list > .step-card")).to_have_count(5)
    expect(page.locator("#entry-count")).to_contain_text("match the entry rule")
    screenshot(page, "builder-five-steps")
    # The rule editor: add a condition row and watch the count follow.
    before = page.locator("#entry-count").inner_text()
    page.locator("#entry-editor").get_by_role("button", name="+ Add condition").click()
    expect(page.locator("#entry-editor .rule-row")).to_have_count(4)
    _settled(page)
    row = page.locator("#entry-editor .rule-row").nth(3)
    row.get_by_label("Condition 4 field").select_option(label="Owner")
    # Owner keeps "is one of" from the status row it replaced: its values are now the team's people.
    expect(page.get_by_label("Condition 4 values")).to_contain_text("Rob Rep")
    _settled(page)
    page.get_by_label("Condition 4 operator").select_option(label="is")
    _settled(page)
    page.get_by_label("Condition 4 value", exact=True).select_option(label="Rob Rep")
    expect(page.locator("#entry-count")).not_to_have_text(before)
    page.get_by_role("button", name="Save entry rules").click()
    expect(page.locator("#entry-rules .saved")).to_be_visible()
    page.locator("#entry-card").scroll_into_view_if_needed()
    screenshot(page, "rule-editor")
    page.locator("#entry-card").screenshot(
        path=str(screenshot(page, "rule-editor").parent / "rule-editor-card.png")
    )
    # A step's inline edit form with its conditions open.
    page.get_by_role("button", name="Edit step 4").click()
    expect(page.locator(".step-form")).to_be_visible()
    page.locator(".step-form").screenshot(
        path=str(screenshot(page, "step-edit").parent / "step-edit-form.png")
    )
    assert page.js_errors == []
