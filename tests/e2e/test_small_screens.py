"""Reps approve drafts on their phones: at 390 px no page is wider than the screen, the sidebar folds behind
a menu button, and approve → Undo works at 390 px as at 1440 px, the result staying beside the card."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from nurture_ui.demo import DEMO_PASSWORD, DEMO_USERS, replay_history, seed_demo
from nurture_ui.extensions import db
from tests import factories
from tests.e2e.test_inbox import PEOPLE, make_drafts, open_tenant, sequence_with_review  # noqa: F401

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Links that are not pages to look at: downloads, the way out, the API.
NOT_PAGES = re.compile(r"/logout|/static/|/api/|export|download|\.csv|\.json|/unsubscribe|/o/|/t/")
PAGES_PER_ROLE = 60


@pytest.fixture
def demo(app):
    """The demo tenant with a short past: leads, sequences, templates, drafts, tasks, replies, figures."""
    tenant = seed_demo(lead_count=40)
    replay_history(tenant, days=5)
    db.session.commit()
    return tenant


def sign_in_at(browser, live_server, email: str, viewport: dict):
    context = browser.new_context(base_url=live_server, viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    return context, page


def shape(url: str) -> str:
    """A page's kind: the same view for another lead or sequence is not visited again."""
    return UUID.sub("<id>", urlparse(url).path)


def links_on(page) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    return [h.split("#")[0] for h in hrefs if h and h.startswith("/") and not NOT_PAGES.search(h)]


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


SCREENSHOT_PAGES = {
    "overview": "/",
    "tasks": "/tasks/",
    "timeline": "/timeline",
    "builder": "/sequences/<id>",
}


def test_no_page_is_wider_than_a_390px_phone_for_any_role(browser, live_server, demo, screenshot):
    too_wide, visited, first_of = [], {}, {}
    for role, email, _name in DEMO_USERS:
        if email == "rep2@demo.test":
            continue
        context, page = sign_in_at(browser, live_server, email, PHONE)
        sidebar = [
            h for h in page.eval_on_selector_all(".nav a", "els => els.map(e => e.getAttribute('href'))")
        ]
        # The sidebar pages first, then one of each kind of page they link to (a lead, its timeline, a
        # sequence's builder, a template's editor, the settings pages…), then what those link to.
        queue, seen = list(sidebar), set()
        while queue and len(seen) < PAGES_PER_ROLE:
            url = queue.pop(0)
            if shape(url) in seen:
                continue
            seen.add(shape(url))
            first_of.setdefault(shape(url), url)
            response = page.goto(url)
            if (
                response is None
                or response.status >= 400
                or "text/html" not in response.headers.get("content-type", "")
            ):
                continue
            width = overflow(page)
            if width > PHONE["width"]:
                too_wide.append(f"{role} {url}: {width}px")
            queue += [h for h in links_on(page) if shape(h) not in seen]
        visited[role] = sorted(seen)
        context.close()
    for role, pages in visited.items():
        # The crawl reached the detail pages, not just the sidebar.
        assert len(pages) > len(set(pages) & {"/"}) + 3, (role, pages)
    assert any("/leads/<id>" in p for p in visited["admin"]), visited["admin"]
    assert any("/sequences/<id>" in p for p in visited["marketer"]), visited["marketer"]
    # The pages to judge by eye, at both widths, as a manager (who sees every one of them).
    for viewport in (PHONE, DESKTOP):
        context, page = sign_in_at(browser, live_server, "manager@demo.test", viewport)
        for name, wanted in SCREENSHOT_PAGES.items():
            url = next(
                (first_of[s] for s in first_of if s == wanted or (wanted == "/timeline" and "timeline" in s)),
                None,
            )
            if url:
                page.goto(url)
                screenshot(page, f"{name}-{viewport['width']}")
        context.close()
    assert not too_wide, "pages wider than 390 px:\n" + "\n".join(too_wide)


def test_the_sidebar_folds_behind_a_menu_button_on_a_phone(browser, live_server, demo):
    context, page = sign_in_at(browser, live_server, "rep@demo.test", PHONE)
    button = page.get_by_role("button", name="Menu")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#sidebar-menu")).to_be_hidden()
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#sidebar-menu a[data-nav='inbox.index']")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar-menu")).to_be_hidden()
    context.close()
    context, page = sign_in_at(browser, live_server, "rep@demo.test", DESKTOP)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.locator("#sidebar-menu")).to_be_visible()
    context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1440px"])
def test_approve_then_undo_keeps_the_result_beside_the_card(
    browser,
    live_server,
    open_tenant,  # noqa: F811 (the fixture, imported)
    viewport,
    screenshot,
):
    tenant = open_tenant
    rep = factories.make_user(tenant, "rep", name="Rosa Rep")
    drafts = make_drafts(tenant, sequence_with_review(tenant), rep, PEOPLE)
    context = browser.new_context(base_url=live_server, viewport=viewport)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(rep.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    page.goto("/inbox/")
    name = f"{viewport['width']}"
    screenshot(page, f"inbox-{name}")
    assert overflow(page) <= viewport["width"]

    third = page.locator(f"#draft-{drafts[2].id}")
    third.scroll_into_view_if_needed()
    third.get_by_role("button", name=re.compile("Approve")).click()
    result = page.locator(f"#draft-{drafts[2].id}[data-done]")
    expect(result).to_contain_text("goes to Alan Turing in 8 seconds")
    expect(result).to_be_in_viewport()  # the result is where the rep is working, not at the top of the page
    screenshot(page, f"inbox-approved-{name}")
    result.get_by_role("button", name=re.compile("Undo")).click()
    card = page.locator(f"#draft-{drafts[2].id}.mode-view")
    expect(card).to_contain_text("the draft waits for approval again")
    expect(card.get_by_role("button", name=re.compile("Approve"))).to_be_visible()
    db.session.expire_all()
    assert db.session.get(type(drafts[2]), drafts[2].id).status == "pending_approval"
    assert overflow(page) <= viewport["width"]
    context.close()
