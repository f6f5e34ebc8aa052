"""A rep clears the approval inbox with the keyboard, bulk-approves, and works the task queue; the emails
go out through a real worker to a local SMTP server, carrying the rep's edit."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from nurture_ui import clock
from nurture_ui.engine.replay import run_due
from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, OutboundMessage, Task
from tests import factories
from tests.engine.conftest import CollectingHandler, free_port, to_address

BODY = (
    "Hi {{ lead.first_name }},\n\n"
    "Teams like {{ lead.company }} usually tell us the hard part of follow-up is remembering it.\n"
    "Would a 15-minute look at how others handle it be useful next week?\n\n"
    "Best,\n{{ owner.name if owner else 'The team' }}"
)
PEOPLE = [
    ("Ada", "Lovelace", "Analytical Engines", "CTO"),
    ("Grace", "Hopper", "Compilers Inc", "VP Engineering"),
    ("Alan", "Turing", "Bletchley Labs", "Head of Research"),
    ("Katherine", "Johnson", "Orbital Systems", "Director"),
    ("Linus", "Pauling", "Chemistry Co", "Founder"),
]


@pytest.fixture(scope="module")
def mail_catcher():
    """A local SMTP server the module's real worker sends to (set in the environment it inherits)."""
    from aiosmtpd.controller import Controller

    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    saved = {k: os.environ.get(k) for k in ("SMTP_HOST", "SMTP_PORT")}
    os.environ.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(controller.port))
    yield handler
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    controller.stop()
    handler.assert_well_formed()


@pytest.fixture(scope="module")
def mailing_worker(mail_catcher, request):
    return request.getfixturevalue("worker_process")


@pytest.fixture
def open_tenant(tenant):
    """Send any day, any hour: these tests run on the real clock."""
    tenant.policy = {"send_window": {"days": list(range(7)), "start_hour": 0, "end_hour": 24}}
    db.session.commit()
    return tenant


def sequence_with_review(tenant, name="Warm leads, spring"):
    factories.make_template(
        tenant, f"intro-{name[:4].lower()}", subject="Quick idea for {{ lead.company }}", body=BODY
    )
    return factories.make_sequence(
        tenant,
        name=name,
        status="active",
        steps=[
            {"template_id": f"intro-{name[:4].lower()}", "requires_human_approval": True},
            {"channel": "call_reminder", "delay_hours": 48, "instructions": "Call about the pilot"},
            {"template_id": f"intro-{name[:4].lower()}", "delay_hours": 72},
        ],
    )


def make_drafts(tenant, sequence, owner, people) -> list[OutboundMessage]:
    """One draft per person, drafted a few minutes apart so the inbox order is known (oldest first)."""
    start = clock.now() - timedelta(minutes=10 * len(people))
    drafts = []
    for i, (first, last, company, title) in enumerate(people):
        lead = factories.make_lead(
            tenant,
            first_name=first,
            last_name=last,
            company=company,
            title=title,
            owner_id=owner.id,
            email=f"{first.lower()}@{company.split()[0].lower()}.example",
        )
        instant = start + timedelta(minutes=10 * i)
        schedule_first_step(lead, sequence, now=instant)
        db.session.commit()
        run_due(instant, send=False)
        drafts.append(
            db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.lead_id == lead.id)).one()
        )
    return drafts


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_rep_clears_five_drafts_with_only_the_keyboard_and_the_edit_goes_out(
    page, sign_in, open_tenant, screenshot, mail_catcher, mailing_worker, app, monkeypatch
):
    # No undo window here: this module's worker runs jobs but no dispatcher tick, and a held email is
    # handed to the sender by the tick's outbox sweep (tests/engine/test_review_undo.py covers that path).
    monkeypatch.setitem(app.config, "REVIEW_UNDO_SECONDS", 0)
    rep = factories.make_user(open_tenant, "rep", name="Rosa Rep")
    drafts = make_drafts(open_tenant, sequence_with_review(open_tenant), rep, PEOPLE)
    sign_in(rep)
    page.goto("/inbox/")
    cards = page.locator("#inbox-list .draft")
    assert cards.count() == 5
    assert page.locator("#nav-count-inbox").inner_text() == "5"
    assert "Ada Lovelace" in cards.first.inner_text()  # oldest first
    screenshot(page, "inbox-drafts")

    page.keyboard.press("a")  # approve Ada's
    expect(page.locator("#inbox-list .draft:not([data-done])")).to_have_count(4)
    expect(page.locator("#inbox-list .draft[data-done]").last).to_contain_text(
        "to Ada Lovelace is on its way"
    )

    page.keyboard.press("e")  # edit Grace's: the editor opens with the body focused
    body = page.locator("#inbox-list .draft[aria-current=true] textarea[name=body]")
    body.wait_for()
    expect(body).to_be_focused()
    page.keyboard.type("\n\nP.S. Rosa here: I can show you the Compilers case study.")
    screenshot(page, "inbox-edit")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#inbox-list .draft:not([data-done])")).to_have_count(3)
    expect(page.locator("#inbox-list .draft[data-done]").last).to_contain_text("with your edit")

    page.keyboard.press("r")  # reject Alan's: skip this step (the default), Enter confirms
    page.locator("#inbox-list .draft[aria-current=true] input[value=skip]").wait_for()
    screenshot(page, "inbox-reject")
    page.keyboard.press("Enter")
    expect(page.locator("#inbox-list .draft:not([data-done])")).to_have_count(2)
    expect(page.locator("#inbox-list .draft[data-done]").last).to_contain_text("moves on to the next step")

    expect(page.locator(".draft[aria-current=true]")).to_contain_text("Katherine Johnson")
    page.keyboard.press("j")
    assert "Linus Pauling" in page.locator(".draft[aria-current=true]").inner_text()
    page.keyboard.press("k")
    assert "Katherine Johnson" in page.locator(".draft[aria-current=true]").inner_text()
    page.keyboard.press("a")
    expect(page.locator("#inbox-list .draft:not([data-done])")).to_have_count(1)
    page.keyboard.press("a")
    page.wait_for_selector("text=All clear.")
    expect(page.locator("#nav-count-inbox")).to_have_attribute("data-count", "0")

    sent_to = {d.to_email for i, d in enumerate(drafts) if i != 2}
    assert wait_for(lambda: {to_address(m) for m in mail_catcher.messages} >= sent_to), mail_catcher.messages
    grace = [m for m in mail_catcher.messages if to_address(m) == drafts[1].to_email]
    assert len(grace) == 1
    assert "P.S. Rosa here: I can show you the Compilers case study." in grace[0].get_content()
    assert not [m for m in mail_catcher.messages if to_address(m) == drafts[2].to_email]
    db.session.expire_all()
    statuses = [db.session.get(OutboundMessage, d.id).status for d in drafts]
    assert statuses == ["sent", "sent", "rejected", "sent", "sent"]
    assert page.js_errors == []


def test_a_rep_selects_three_drafts_and_approves_them_at_once(
    page, sign_in, open_tenant, screenshot, mailing_worker
):
    rep = factories.make_user(open_tenant, "rep", name="Rosa Rep")
    drafts = make_drafts(open_tenant, sequence_with_review(open_tenant), rep, PEOPLE[:4])
    sign_in(rep)
    page.goto("/inbox/")
    for draft in drafts[:3]:
        page.locator(f"#draft-{draft.id} input[name=message_ids]").check()
    button = page.get_by_role("button", name="Approve selected (3)")
    button.click()
    expect(page.locator("#inbox-list .draft:not([data-done])")).to_have_count(1)
    assert "Approved 3 drafts." in page.locator("#inbox-status").inner_text()
    assert page.locator(f"#draft-{drafts[3].id}").count() == 1
    assert page.locator("#inbox-total").inner_text() == "1"
    assert page.get_by_role("button", name="Approve selected (0)").is_disabled()
    db.session.expire_all()
    assert [db.session.get(OutboundMessage, d.id).status != "pending_approval" for d in drafts] == [
        True,
        True,
        True,
        False,
    ]
    assert page.js_errors == []


def test_a_draft_whose_lead_replied_is_refused_with_the_reason_and_sent_anyway(
    page, sign_in, open_tenant, screenshot
):
    rep = factories.make_user(open_tenant, "rep", name="Rosa Rep")
    [draft] = make_drafts(open_tenant, sequence_with_review(open_tenant), rep, PEOPLE[:1])
    factories.make_reply(draft.lead, "neutral")  # after the draft was written
    sign_in(rep)
    page.goto("/inbox/")
    card = page.locator(f"#draft-{draft.id}")
    card.get_by_role("button", name="Approve").click()

    warning = card.locator(".draft-why.warn")
    expect(warning).to_contain_text("Ada Lovelace replied on")
    expect(warning).to_contain_text("Read the reply, then send anyway or reject.")
    expect(page.locator("#inbox-status")).to_contain_text("Not sent yet")
    screenshot(page, "inbox-refused-reply")
    db.session.expire_all()
    assert db.session.get(OutboundMessage, draft.id).status == "pending_approval"

    card.get_by_role("button", name="Send anyway").click()
    expect(page.locator("#inbox-list .draft[data-done]")).to_contain_text("goes to")
    expect(page.locator("#inbox-list .draft:not([data-done])")).to_have_count(0)
    db.session.expire_all()
    assert db.session.get(OutboundMessage, draft.id).status in ("queued", "sending", "sent")
    assert page.js_errors == []


def test_a_rep_completes_a_call_and_sees_the_enrollment_move_on(page, sign_in, open_tenant, screenshot):
    rep = factories.make_user(open_tenant, "rep", name="Rosa Rep")
    sequence = sequence_with_review(open_tenant)
    now = clock.now()
    # A queue to scan: an overdue call, today's calls and a task, one coming up.
    leads = [
        factories.make_lead(
            open_tenant,
            first_name=first,
            last_name=last,
            company=company,
            title=title,
            phone=f"+1 415 555 01{i:02d}",
            owner_id=rep.id,
        )
        for i, (first, last, company, title) in enumerate(PEOPLE)
    ]
    factories.make_task(open_tenant, leads[1], due_at=now - timedelta(days=3), title="Call about the pilot")
    factories.make_task(
        open_tenant,
        leads[2],
        kind="task",
        due_at=now - timedelta(minutes=30),
        title="Send the security questionnaire",
        notes="Send the security questionnaire\nTheir IT lead asked for SOC 2 details.",
    )
    factories.make_task(
        open_tenant, leads[3], due_at=now + timedelta(days=2), title="Check in after the demo"
    )
    # Ada's call comes from her sequence: approve the first email, then the call step falls due.
    enrollment = schedule_first_step(leads[0], sequence, now=now - timedelta(days=2, hours=1))
    db.session.commit()
    run_due(now - timedelta(days=2, hours=1), send=False)
    from nurture_ui.engine.transitions import approve_message

    draft = db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.lead_id == leads[0].id)).one()
    approve_message(draft.id, reviewer_id=rep.id, now=now - timedelta(days=2), enqueue_send=False)
    run_due(now, send=False)
    call = db.session.scalars(sa.select(Task).where(Task.lead_id == leads[0].id)).one()

    sign_in(rep)
    page.goto("/tasks/")
    assert page.locator("#nav-count-tasks").inner_text() == "4"
    row = page.locator(f"#task-{call.id}")
    assert "+1 415 555 0100" in row.inner_text() and "Analytical Engines" in row.inner_text()
    assert "Warm leads, spring · step 2 of 3" in row.inner_text()
    assert page.locator(".task-group").first.locator("h2").inner_text().lower().startswith("overdue")
    screenshot(page, "task-queue")

    row.get_by_role("button", name="Connected").click()
    closed = page.locator(f"#task-{call.id}.is-closed")
    closed.wait_for()
    assert "Call logged: connected." in closed.inner_text()
    assert "moves on: step 3 (email)" in closed.inner_text()
    expect(page.locator("#nav-count-tasks")).to_have_attribute("data-count", "3")
    expect(page.locator("#task-total")).to_have_text("3")
    screenshot(page, "task-queue-after-call")
    db.session.expire_all()
    enrollment = db.session.get(Enrollment, enrollment.id)
    assert (enrollment.status, enrollment.current_step_order) == ("active", 3)
    assert page.js_errors == []


def test_an_admin_changes_the_send_window_and_sees_the_change_logged(page, sign_in, tenant, screenshot):
    admin = factories.make_user(tenant, "admin", name="Ana Admin")
    sign_in(admin)
    page.goto("/settings/")
    page.get_by_label("Frequency cap (hours)").fill("72")
    page.get_by_label("Sat").check()
    page.get_by_label("Until").select_option("18")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_selector("text=Saved: frequency cap, send window.")
    history = page.locator(".settings-history").inner_text()
    assert "Ana Admin" in history and "48 → 72" in history
    screenshot(page, "settings")
    assert page.js_errors == []
    page.get_by_label("Frequency cap (hours)").fill("0")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_selector("text=Enter a whole number from 1 to 720.")
    assert page.get_by_label("Frequency cap (hours)").input_value() == "0"
