"""The step editor's "same thread" box and activity conditions: saved on the step, shown on its card, refused
where there is no earlier email to follow up (``steps.step_errors``)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from nurture_ui import steps
from nurture_ui.extensions import db
from nurture_ui.models import SequenceStep
from nurture_ui.sequences import SequenceRefused
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def sequence(tenant):
    factories.make_template(tenant, "intro", name="Intro", subject="Intro subject")
    factories.make_template(tenant, "nudge", name="Nudge")
    return factories.make_sequence(
        tenant,
        steps=[
            {"channel": "task", "delay_hours": 0, "instructions": "Call them"},
            {"channel": "email", "template_id": "intro", "delay_hours": 24},
        ],
    )


def step_at(sequence, order: int) -> SequenceStep:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(SequenceStep).where(
            SequenceStep.sequence_id == sequence.id, SequenceStep.step_order == order
        )
    ).one()


def email_form(**overrides) -> dict:
    return {
        "channel": "email",
        "delay_value": "2",
        "delay_unit": "days",
        "template_id": "nudge",
        "instructions": "",
        "cond-mode": "rows",
        "cond-count": "0",
    } | overrides


def test_a_new_follow_up_in_the_same_thread_is_saved_and_shown_on_its_card(login_as, sequence):
    client = login_as("marketer")
    response = client.post(
        f"/sequences/{sequence.id}/steps/new",
        email_form(same_thread="y", only_if_not_replied="y", only_if_no_open_task="y"),
        headers=HTMX,
    )
    assert response.status_code == 200
    step = step_at(sequence, 3)
    assert (step.same_thread, step.only_if_not_replied, step.only_if_no_open_task) == (True, True, True)
    panel = response.get_data(as_text=True)
    assert "Same thread (Re:)" in panel
    assert ">Only if not replied to</span>" in panel
    assert ">Only if no open task</span>" in panel
    # The card's preview reads as the lead would get it: a reply to the email before it.
    assert "<strong>Re: Intro subject</strong>" in panel
    assert "data-no-earlier-email" not in panel


def test_the_edit_form_opens_with_the_boxes_ticked_as_saved(login_as, sequence):
    step = step_at(sequence, 2)
    step.only_if_no_open_task = True
    db.session.commit()
    page = (
        login_as("marketer")
        .get(f"/sequences/{sequence.id}/steps/{step.id}/edit", headers=HTMX)
        .get_data(as_text=True)
    )
    assert re.search(r'<input checked id="only_if_no_open_task"', page)
    assert not re.search(r'<input checked id="only_if_not_replied"', page)
    assert '<details class="conditions" open>' in page


def test_the_first_email_of_a_sequence_cannot_follow_up_in_a_thread(login_as, sequence):
    client = login_as("marketer")
    step = step_at(sequence, 2)  # the first email: only a task before it
    response = client.post(
        f"/sequences/{sequence.id}/steps/{step.id}/edit", email_form(same_thread="y"), headers=HTMX
    )
    page = response.get_data(as_text=True)
    assert response.headers.get("HX-Retarget") == f"#step-form-{step.id}"
    assert "The first email of a sequence cannot reply in an earlier email&#39;s thread" in page
    assert step_at(sequence, 2).same_thread is False


def test_a_step_with_no_email_before_it_cannot_wait_for_no_reply(login_as, sequence):
    client = login_as("marketer")
    step = step_at(sequence, 1)
    response = client.post(
        f"/sequences/{sequence.id}/steps/{step.id}/edit",
        {"channel": "task", "delay_value": "0", "delay_unit": "days", "instructions": "Call them"}
        | {"cond-mode": "rows", "cond-count": "0", "only_if_not_replied": "y"},
        headers=HTMX,
    )
    assert "there is no previous email to have been replied to" in response.get_data(as_text=True)
    assert step_at(sequence, 1).only_if_not_replied is False


def test_the_core_refuses_a_first_email_in_a_thread_whatever_the_door(tenant, sequence):
    marketer = factories.make_user(tenant, "marketer")
    with pytest.raises(SequenceRefused, match="first email"):
        steps.update_step(
            step_at(sequence, 2),
            steps.StepInput(channel="email", delay_hours=0, template_id="intro", same_thread=True),
            actor=marketer,
        )
    db.session.rollback()
    # A task or call reminder is never in a thread: the box is dropped rather than refused.
    steps.update_step(
        step_at(sequence, 1), steps.StepInput(channel="task", delay_hours=0, same_thread=True), actor=marketer
    )
    assert step_at(sequence, 1).same_thread is False


def test_a_card_says_when_a_reorder_left_a_thread_follow_up_with_no_email_before_it(login_as, sequence):
    step = step_at(sequence, 2)
    step.same_thread = True  # as after a reorder moved the email it followed below it
    db.session.commit()
    page = login_as("marketer").get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert "No email comes before it: it goes with its own subject." in page


def test_a_duplicate_keeps_the_thread_and_the_activity_conditions(tenant):
    from nurture_ui.sequences import duplicate_sequence

    original = factories.make_sequence(
        tenant,
        steps=[
            {"template_id": "intro"},
            {"template_id": "intro", "same_thread": True, "only_if_not_replied": True},
            {"channel": "task", "only_if_no_open_task": True},
        ],
    )
    copy = duplicate_sequence(original, actor=factories.make_user(tenant, "marketer"))
    assert [(s.same_thread, s.only_if_not_replied, s.only_if_no_open_task) for s in copy.steps] == [
        (False, False, False),
        (True, True, False),
        (False, False, True),
    ]


def test_the_inbox_tells_the_reviewer_a_draft_replies_in_a_thread(login_as, tenant):
    factories.make_template(tenant, "intro")
    factories.make_draft(tenant, subject="Re: Hello", in_reply_to="<earlier@nurture.test>")
    factories.make_draft(tenant, subject="On its own")
    page = login_as("manager").get("/inbox/").get_data(as_text=True)
    assert page.count("data-in-thread") == 1
    assert page.index("Re: Hello") < page.index("data-in-thread") < page.index("On its own")
