"""Browser: a rep in Tokyo chooses their time zone on their profile, works the task queue in Tokyo time, and
after logging a call every count on the page (heading, group headers, sidebar badge) says the same."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from tests import factories


def test_a_rep_in_tokyo_logs_a_call_and_every_count_on_the_page_agrees(
    page, sign_in, screenshot, tenant, clock
):
    rep = factories.make_user(tenant, "rep", name="Rin Sato")
    # Mon Mar 2, 10:00 UTC: 19:00 in Tokyo, 05:00 in New York.
    due = {
        "Olga": clock.now() - timedelta(days=2),  # overdue
        "Nia": clock.now(),  # today, 19:00 Tokyo
        "Ana": clock.now() + timedelta(hours=3),  # today, 22:00 Tokyo
        "Uma": clock.now() + timedelta(days=2),  # coming up
    }
    leads = {}
    for name, at in due.items():
        leads[name] = factories.make_lead(
            tenant, first_name=name, owner_id=rep.id, timezone="America/New_York", phone="+1 555 0100"
        )
        factories.make_task(tenant, leads[name], due_at=at)

    sign_in(rep)
    page.get_by_role("link", name="Your profile").click()
    page.get_by_label("Show times in").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Times are now shown in Asia/Tokyo.")

    page.goto("/tasks/")
    expect(page.locator("#task-total")).to_have_text("4")
    expect(page.locator("#group-count-today")).to_have_text("2")
    nia = page.locator(".task", has_text="Nia")
    expect(nia.locator(".task-due")).to_have_text("due today 19:00")
    expect(nia.locator(".lead-clock")).to_have_text("05:00 New York now")
    assert " UTC" not in page.locator("main").inner_text()

    nia.get_by_role("button", name="Connected").click()
    expect(page.locator(".task.is-closed")).to_contain_text("Call logged: connected.")
    expect(page.locator("#task-total")).to_have_text("3")
    expect(page.locator("#group-count-today")).to_have_text("1")
    expect(page.locator("#group-count-overdue")).to_have_text("1")
    expect(page.locator("#group-count-upcoming")).to_have_text("1")
    expect(page.locator("#nav-count-tasks")).to_have_text("3")
    assert page.js_errors == []

    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"tasks-tokyo-{width}")

    page.goto(f"/leads/{leads['Olga'].id}/timeline")
    story = page.locator(".story")
    expect(story).to_contain_text("Due Sat Feb 28, 19:00")  # the task was due two days ago, in Tokyo
    expect(story).to_contain_text("05:00 New York")
    assert " UTC" not in page.locator("main").inner_text()
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"lead-timeline-tokyo-{width}")
    page.set_viewport_size({"width": 1360, "height": 900})
