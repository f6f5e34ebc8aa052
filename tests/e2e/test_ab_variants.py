"""A marketer builds a two-variant email step in the builder; the engine runs it over simulated days while
replies come in; the performance page shows each variant's figures and the winner the engine declared."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import expect

from nurture_ui import signals
from nurture_ui.engine.replay import run_due
from nurture_ui.engine.schedule import schedule_first_step
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, OutboundMessage, Sequence, SequenceStep
from tests import factories
from tests.e2e.test_builder import _add_step, _settled
from tests.engine.conftest import smtp_server  # noqa: F401 (the fixture, imported)

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _enroll(tenant, sequence, n: int, now) -> list[Enrollment]:
    enrollments = [schedule_first_step(factories.make_lead(tenant), sequence, now=now) for _ in range(n)]
    db.session.commit()
    return enrollments


def test_build_a_two_variant_step_run_it_with_replies_and_read_the_winner(
    page,
    sign_in,
    screenshot,
    tenant,
    clock,
    smtp_server,  # noqa: F811 (the fixture, imported)
):
    clock.set(MONDAY)
    factories.make_template(tenant, "intro", name="Intro", pre_approved=True)
    factories.make_template(tenant, "intro-short", name="Intro (short)", pre_approved=True, body="Short one.")
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto("/sequences/")
    page.get_by_label("Name").fill("Spring A/B")
    page.get_by_role("button", name="Create draft").click()
    _add_step(page, "Email", "0", template="Intro")

    # Make step 1 an A/B test: variant B is the short intro with its own subject; auto-winner after 30 sends.
    page.get_by_role("button", name="Edit step 1").click()
    form = page.locator("form.step-form")
    form.get_by_role("button", name="+ A/B test this email").click()
    _settled(page)
    form = page.locator("form.step-form")
    expect(form.locator(".variant-row")).to_have_count(2)
    expect(form.get_by_label("Variant A template")).to_have_value("intro")
    form.get_by_label("Variant B template").select_option(label="Intro (short)")
    form.get_by_label("Variant B subject").fill("Quick question, {{ lead.first_name }}")
    form.get_by_label("Variant A weight").fill("60")
    form.get_by_role("button", name="Save step").click()
    expect(form.locator("[data-variant-error]")).to_have_text(
        "The weights add up to 110%; they must add up to 100%."
    )
    form = page.locator("form.step-form")
    form.get_by_label("Variant B weight").fill("40")
    form.get_by_label("Variant A weight").fill("50")
    form.get_by_label("Variant B weight").fill("50")
    form.locator("input[name=auto_winner]").check()
    form.get_by_label("Sends per variant before a winner").fill("30")
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "ab-step-form-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "ab-step-form-390")
    page.set_viewport_size({"width": 1440, "height": 900})
    form.get_by_role("button", name="Save step").click()
    expect(page.locator("[data-variants]")).to_have_text("A/B: A Intro 50% · B Intro (short) 50%")

    sequence = db.session.query(Sequence).filter_by(name="Spring A/B").one()
    sequence.status = "active"
    db.session.commit()

    # Monday: 100 leads get step 1. Over the day replies come in: 40% of B's leads, 5% of A's.
    first = _enroll(tenant, sequence, 100, MONDAY)
    assert run_due(MONDAY).sent == 100
    clock.set(MONDAY.replace(hour=16))
    by_variant = {"A": [], "B": []}
    for enrollment in first:
        message = db.session.query(OutboundMessage).filter_by(enrollment_id=enrollment.id).one()
        by_variant[message.variant].append(enrollment)
    for letter, share in (("A", 0.05), ("B", 0.40)):
        for enrollment in by_variant[letter][: round(share * len(by_variant[letter]))]:
            signals.record_reply(enrollment.lead, "Thanks, tell me more next month.", sentiment="neutral")
    db.session.commit()

    # Tuesday 10:00: 10 more leads; after their batch the engine's check finds B clearly better.
    tuesday = MONDAY.replace(day=3)
    clock.set(tuesday)
    _enroll(tenant, sequence, 10, tuesday)
    assert run_due(tuesday).sent == 10
    step = db.session.query(SequenceStep).filter_by(sequence_id=sequence.id).one()
    db.session.refresh(step)
    assert step.winner_variant == "B"
    # Tuesday 11:00: from now on every lead gets B.
    eleven = tuesday.replace(hour=11)
    clock.set(eleven)
    later = _enroll(tenant, sequence, 20, eleven)
    assert run_due(eleven).sent == 20
    assert {db.session.query(OutboundMessage).filter_by(enrollment_id=e.id).one().variant for e in later} == {
        "B"
    }

    page.goto(f"/sequences/{sequence.id}/performance")
    table = page.locator("[data-variant-table]")
    sent_b = db.session.query(OutboundMessage).filter_by(sequence_id=sequence.id, variant="B").count()
    assert sent_b >= len(by_variant["B"]) + 20
    expect(table.locator('tr[data-variant="A"] [data-sent]')).to_have_text(str(130 - sent_b))
    expect(table.locator('tr[data-variant="B"] [data-sent]')).to_have_text(str(sent_b))
    expect(page.locator("[data-winner-note]")).to_contain_text(
        "Winner: B since Tue Mar 3, 10:00 — reply rate"
    )
    expect(page.locator("[data-verdict]")).to_contain_text("B's reply rate is higher, significant at 95%")
    page.locator("[data-ab-step]").scroll_into_view_if_needed()
    screenshot(page, "ab-performance-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "ab-performance-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.js_errors == []
