"""Editing a step in place (the builder's inline form, ``steps.edit``, and ``steps.update_step``)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from nurture_ui import steps
from nurture_ui.extensions import db
from nurture_ui.models import Activity, SequenceStep
from nurture_ui.sequences import SequenceRefused
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def sequence(tenant):
    factories.make_template(tenant, "intro", name="Intro")
    factories.make_template(tenant, "check-in", name="Check-in")
    return factories.make_sequence(
        tenant,
        steps=[
            {"channel": "email", "template_id": "intro", "delay_hours": 0},
            {"channel": "task", "delay_hours": 48, "instructions": "Call them"},
        ],
    )


def _step(sequence, order: int) -> SequenceStep:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(SequenceStep).where(
            SequenceStep.sequence_id == sequence.id, SequenceStep.step_order == order
        )
    ).one()


def _edit_url(sequence, order: int) -> str:
    return f"/sequences/{sequence.id}/steps/{_step(sequence, order).id}/edit"


def _form(**overrides) -> dict:
    return {
        "channel": "email",
        "delay_value": "3",
        "delay_unit": "days",
        "template_id": "check-in",
        "requires_human_approval": "y",
        "instructions": "",
        "cond-mode": "rows",
        "cond-count": "1",
        "cond-0-field": "score",
        "cond-0-op": "gte",
        "cond-0-value": "60",
    } | overrides


def _input_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*\bvalue="([^"]*)"', page)
    return match.group(1) if match else None


def test_the_edit_form_opens_filled_with_the_step(login_as, sequence):
    client = login_as("marketer")
    page = client.get(_edit_url(sequence, 2), headers=HTMX).get_data(as_text=True)
    assert f'id="step-form-{_step(sequence, 2).id}"' in page
    assert _input_value(page, "delay_value") == "2"
    assert re.search(r'<option selected value="task">|<option value="task" selected', page)
    assert "Call them" in page


@pytest.mark.parametrize("through", ["htmx", "plain form"])
def test_an_edit_saves_the_changed_values_in_place_and_is_recorded(login_as, sequence, through):
    client = login_as("marketer")
    client.get(f"/sequences/{sequence.id}")
    response = client.post(_edit_url(sequence, 2), _form(), headers=HTMX if through == "htmx" else {})
    if through == "htmx":
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and 'id="steps-panel"' in page
        assert "Day 0 email ‘Intro’ · Day 3 email ‘Check-in’ · ends day 3" in page
    else:
        assert response.status_code == 302
    step = _step(sequence, 2)
    assert (step.channel, step.delay_hours, step.template_id) == ("email", 72, "check-in")
    assert step.requires_human_approval is True
    assert step.conditions == {"all": [{"field": "score", "op": "gte", "value": 60}]}
    assert step.instructions == ""  # an email step carries no task instructions
    assert _step(sequence, 1).template_id == "intro"  # the other step is untouched
    updated = db.session.scalars(sa.select(Activity).where(Activity.type == "step_updated")).one()
    assert updated.actor_id == client.user.id and updated.data == {"step": 2, "channel": "email"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"delay_value": "-2"}, "Enter a whole number from 0."),
        ({"template_id": "ghost"}, "There is no template &#39;ghost&#39;."),
        ({"cond-0-value": "lots"}, "&#39;score&#39; compares with a whole number, not &#39;lots&#39;."),
    ],
)
@pytest.mark.parametrize("through", ["htmx", "plain form"])
def test_a_bad_edit_comes_back_with_its_error_and_what_was_typed(
    login_as, sequence, through, overrides, message
):
    client = login_as("marketer")
    client.get(f"/sequences/{sequence.id}")
    step_id = _step(sequence, 2).id
    typed = _form(delay_value="5", **{"cond-0-value": "75"}) | overrides
    response = client.post(_edit_url(sequence, 2), typed, headers=HTMX if through == "htmx" else {})
    page = response.get_data(as_text=True)
    if through == "htmx":
        assert response.status_code == 200  # htmx swaps only 2xx answers
        assert response.headers["HX-Retarget"] == f"#step-form-{step_id}"
    else:
        assert response.status_code == 422
    assert message in page
    assert _input_value(page, "delay_value") == typed["delay_value"]
    assert _input_value(page, "cond-0-value") == typed["cond-0-value"]
    assert re.search(r'<input checked[^>]*name="requires_human_approval"', page)
    assert re.search(r'<option selected value="email">|<option value="email" selected', page)
    if typed["template_id"] == "check-in":
        assert re.search(r'<option selected value="check-in">|<option value="check-in" selected', page)
    step = _step(sequence, 2)
    assert (step.channel, step.delay_hours, step.instructions) == ("task", 48, "Call them")
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_update_step_refuses_bad_values_and_an_active_sequence(tenant, sequence):
    marketer = factories.make_user(tenant, "marketer")
    step = _step(sequence, 2)
    with pytest.raises(SequenceRefused, match="There is no template 'ghost'"):
        steps.update_step(
            step, steps.StepInput(channel="email", delay_hours=0, template_id="ghost"), actor=marketer
        )
    db.session.rollback()
    with pytest.raises(SequenceRefused, match="whole number of hours"):
        steps.update_step(step, steps.StepInput(channel="task", delay_hours=-1), actor=marketer)
    db.session.rollback()
    sequence.status = "active"
    db.session.commit()
    with pytest.raises(SequenceRefused, match="pause it to edit"):
        steps.update_step(step, steps.StepInput(channel="task", delay_hours=24), actor=marketer)
    db.session.rollback()
    assert _step(sequence, 2).delay_hours == 48
