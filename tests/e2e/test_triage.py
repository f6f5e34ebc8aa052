"""A rep sorts the replies the classifier was not sure about, by keyboard only, and sees what each did."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from nurture_ui import clock, signals
from nurture_ui.classifier import Classification
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, LeadReply
from tests import factories

REPLIES = [
    ("Ada", "Lovelace", "Hmm, maybe. What would this cost a team of four?", "positive"),
    (
        "Grace",
        "Hopper",
        "Please don't bother, thanks.\n\nOn Mon, Nurture wrote:\n> Hi Grace,\n> a quick idea…",
        "negative",
    ),
    ("Alan", "Turing", "Who gave you my address?", "neutral"),
]


@pytest.fixture
def waiting_replies(tenant, monkeypatch):
    """Three leads of Rosa's, each in a sequence, each with a reply the classifier was not sure about."""
    rep = factories.make_user(tenant, "rep", name="Rosa Rep")
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(
        tenant, name="Spring pilot", status="active", steps=[{"template_id": "intro", "delay_hours": 48}] * 2
    )
    enrollments = []
    for i, (first, last, text, guess) in enumerate(REPLIES):
        lead = factories.make_lead(
            tenant, owner_id=rep.id, first_name=first, last_name=last, company=f"{last} & Co"
        )
        enrollments.append(
            factories.make_enrollment(lead, sequence, next_step_on=clock.now() + timedelta(days=1))
        )
        monkeypatch.setattr(
            signals,
            "classify",
            lambda _t, _d, guess=guess: Classification(guess, "a hedge", needs_person=True),
        )
        signals.record_reply(
            lead, text, subject="Re: Quick idea", received_at=clock.now() - timedelta(hours=3 - i)
        )
        db.session.commit()
    return rep, enrollments


def _counts(page) -> tuple[str, str, str]:
    return (
        page.locator("#replies-total").inner_text(),
        page.locator("#tab-count-replies").inner_text(),
        page.locator("#nav-count-replies").inner_text(),
    )


def test_a_rep_sorts_three_replies_by_keyboard_and_sees_each_result(
    page, sign_in, waiting_replies, screenshot
):
    rep, enrollments = waiting_replies
    sign_in(rep)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/inbox/replies")
    cards = page.locator("#replies-list .reply-card:not(.is-done)")
    expect(cards).to_have_count(3)
    assert _counts(page) == ("3", "3", "3")
    assert "Ada Lovelace" in cards.first.inner_text()  # oldest first
    assert page.locator("details.quoted").count() == 1  # Grace's quoted history, folded
    screenshot(page, "triage-1440")

    page.keyboard.press("j")
    expect(page.locator(".reply-card[aria-current=true]")).to_contain_text("Grace Hopper")
    page.keyboard.press("k")
    expect(page.locator(".reply-card[aria-current=true]")).to_contain_text("Ada Lovelace")

    page.keyboard.press("p")  # Ada: positive
    ada = page.locator(".reply-card.is-done", has_text="Ada Lovelace")
    expect(ada).to_contain_text("Sorted as positive: left “Spring pilot”.")
    expect(ada).to_be_in_viewport()
    expect(page.locator("#replies-total")).to_have_text("2")
    assert _counts(page) == ("2", "2", "2")
    expect(page.locator(".reply-card[aria-current=true]")).to_contain_text("Grace Hopper")

    page.keyboard.press("n")  # Grace: not interested
    grace = page.locator(".reply-card.is-done", has_text="Grace Hopper")
    # Her reply was guessed "not interested": that guess ended the sequence when the reply came in.
    expect(grace).to_contain_text("Sorted as not interested: no sequence was waiting on it.")
    expect(grace).to_be_in_viewport()
    expect(page.locator("#replies-total")).to_have_text("1")
    assert _counts(page) == ("1", "1", "1")

    page.keyboard.press("x")  # Alan: other — the sequence goes on
    alan = page.locator(".reply-card.is-done", has_text="Alan Turing")
    expect(alan).to_contain_text("Sorted as other: “Spring pilot” goes on.")
    expect(alan).to_be_in_viewport()
    expect(page.locator("#replies-total")).to_have_text("0")
    assert page.locator("#tab-count-replies").inner_text() == "0"
    expect(page.locator("#nav-count-replies")).to_be_hidden()  # a zero badge hides
    screenshot(page, "triage-1440-sorted")

    page.goto("/inbox/replies")
    expect(page.get_by_text("All sorted.")).to_be_visible()
    assert page.js_errors == []

    db.session.expire_all()
    assert [db.session.get(Enrollment, e.id).exit_reason for e in enrollments] == [
        "positive_reply",
        "negative_reply",
        None,
    ]
    assert {r.triage for r in db.session.query(LeadReply)} == {"decided"}


def test_the_replies_tab_on_a_phone(page, sign_in, waiting_replies, screenshot):
    rep, _ = waiting_replies
    sign_in(rep)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/inbox/replies")
    expect(page.locator("#replies-list .reply-card")).to_have_count(3)
    card = page.locator("#replies-list .reply-card").first
    # Nothing spills sideways: the card and its buttons fit the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "triage-390")
    card.get_by_role("button", name="Out of office").click()
    expect(page.locator(".reply-card.is-done").first).to_contain_text("Sorted as out of office")
    screenshot(page, "triage-390-sorted")
