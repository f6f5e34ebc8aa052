"""The dry run and the activity conditions: it assumes nobody replies, and that a task open now stays open
while the tasks the sequence itself makes are done before it goes on (the engine waits for them)."""

from __future__ import annotations

import uuid

from nurture_ui import simulation
from nurture_ui.extensions import db
from nurture_ui.models import Task
from tests import factories

STEPS = [
    {"channel": "email", "template_id": "intro", "delay_hours": 0},
    {"channel": "call_reminder", "delay_hours": 24, "instructions": "Call them"},
    # The call reminder above made a task: the engine waited for it, so it is not open here.
    {"channel": "email", "template_id": "intro", "delay_hours": 48, "only_if_no_open_task": True},
    {"channel": "email", "template_id": "intro", "delay_hours": 48, "only_if_not_replied": True},
]


def hand_made_task(lead) -> None:
    db.session.add(
        Task(
            id=uuid.uuid4(),
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            kind="task",
            title="Send the pricing sheet",
            due_at=lead.created_at,
            status="open",
        )
    )
    db.session.commit()


def test_the_dry_run_skips_no_open_task_steps_only_for_leads_with_a_task_open_now(tenant, clock):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, status="draft", steps=STEPS)
    factories.make_lead(tenant, email="free@example.test")
    busy = factories.make_lead(tenant, email="busy@example.test")
    hand_made_task(busy)

    result = simulation.simulate(sequence, now=clock.now())

    assert result.leads == 2
    assert result.skipped_by_open_task == 1  # the busy lead's third step
    assert result.assumed_no_reply == 2  # nobody replies: the last step runs for both
    assert result.emails == 5  # 3 for the free lead, 2 for the busy one
    assert result.tasks == 2


def test_the_simulate_page_says_what_it_assumed_about_replies_and_tasks(login_as, tenant):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, status="draft", steps=STEPS)
    hand_made_task(factories.make_lead(tenant))
    page = login_as("rep").get(f"/sequences/{sequence.id}/simulate").get_data(as_text=True)
    assert "The dry run assumes nobody replies, so it runs" in page
    assert "skipped because the lead has a task open now, assumed to stay open" in page
    assert "Tasks this sequence makes do not count" in page


def test_the_simulate_page_says_nothing_of_conditions_no_step_has(login_as, tenant):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, status="draft", steps=STEPS[:2])
    factories.make_lead(tenant)
    page = login_as("rep").get(f"/sequences/{sequence.id}/simulate").get_data(as_text=True)
    assert "data-assumed-no-reply" not in page and "data-skipped-open-task" not in page
