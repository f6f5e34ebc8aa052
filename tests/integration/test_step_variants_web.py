"""Building an A/B step in the builder's step form: rows added and removed, saved, and refused clearly."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from nurture_ui import steps
from nurture_ui.extensions import db
from nurture_ui.models import Activity, SequenceStep
from nurture_ui.sequences import SequenceRefused, activation_problems
from nurture_ui.variants import VariantInput
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def sequence(tenant):
    for key in ("intro", "intro-short", "intro-story", "intro-data"):
        factories.make_template(tenant, key, name=key.replace("-", " ").title())
    return factories.make_sequence(tenant, steps=[{"channel": "email", "template_id": "intro"}])


def _step(sequence) -> SequenceStep:
    db.session.expire_all()
    return db.session.scalars(sa.select(SequenceStep).where(SequenceStep.sequence_id == sequence.id)).one()


def _form(*variants, **overrides) -> dict:
    """The step form with ``variants`` as (template, subject, weight) rows."""
    data = {
        "channel": "email",
        "delay_value": "0",
        "delay_unit": "days",
        "template_id": "intro",
        "cond-mode": "rows",
        "cond-count": "0",
        "variant-count": str(len(variants)),
    }
    for i, (template, subject, weight) in enumerate(variants):
        data |= {
            f"variant-{i}-template_id": template,
            f"variant-{i}-subject": subject,
            f"variant-{i}-weight": weight,
        }
    return data | overrides


def _post(client, sequence, data):
    return client.post(f"/sequences/{sequence.id}/steps/{_step(sequence).id}/edit", data=data, headers=HTMX)


def test_starting_a_test_gives_two_rows_variant_a_with_the_steps_template_split_equally(login_as, sequence):
    client = login_as("marketer")
    page = _post(client, sequence, _form(variant_action="start")).get_data(as_text=True)
    assert 'name="variant-count" value="2"' in page
    assert re.search(
        r'name="variant-0-template_id">\s*<option value="">[^<]*</option>\s*<option value="intro" selected',
        page,
    )
    assert re.findall(r'name="variant-\d-weight"[^>]*value="(\d+)"', page) == ["50", "50"]
    assert _step(sequence).variants == []  # nothing saved by a row button


def test_adding_and_removing_rows_resplits_the_weights(login_as, sequence):
    client = login_as("marketer")
    two = [("intro", "", "60"), ("intro-short", "", "40")]
    page = _post(client, sequence, _form(*two, variant_action="add")).get_data(as_text=True)
    assert re.findall(r'name="variant-\d-weight"[^>]*value="(\d+)"', page) == ["34", "33", "33"]
    three = [("intro", "", "34"), ("intro-short", "", "33"), ("intro-story", "", "33")]
    page = _post(client, sequence, _form(*three, variant_action="remove:0")).get_data(as_text=True)
    assert 'name="variant-count" value="2"' in page
    assert re.search(r'name="variant-0-template_id">.*?<option value="intro-short" selected', page, re.S)


def test_a_two_variant_step_is_saved_with_its_weights_subject_and_auto_winner(login_as, sequence):
    client = login_as("marketer")
    data = _form(
        ("intro", "", "70"), ("intro-short", "Quick question, {{ lead.first_name }}", "30"),
        auto_winner="y", auto_winner_min_sends="200",
    )  # fmt: skip
    response = _post(client, sequence, data)
    assert response.status_code == 200 and 'id="steps-panel"' in response.get_data(as_text=True)
    step = _step(sequence)
    assert step.variants == [
        {"template_id": "intro", "subject": "", "weight": 70},
        {"template_id": "intro-short", "subject": "Quick question, {{ lead.first_name }}", "weight": 30},
    ]
    assert step.template_id == "intro" and step.auto_winner_min_sends == 200
    updated = db.session.scalars(sa.select(Activity).where(Activity.type == "step_updated")).one()
    assert updated.data == {"step": 1, "channel": "email", "variants": [70, 30]}
    assert "A/B: A Intro 70% · B Intro Short 30%" in response.get_data(as_text=True)
    edit = client.get(f"/sequences/{sequence.id}/steps/{step.id}/edit", headers=HTMX).get_data(as_text=True)
    assert re.findall(r'name="variant-\d-weight"[^>]*value="(\d+)"', edit) == ["70", "30"]


def test_empty_weights_mean_an_equal_split(login_as, sequence):
    client = login_as("marketer")
    _post(client, sequence, _form(("intro", "", ""), ("intro-short", "", ""), ("intro-story", "", "")))
    assert [v["weight"] for v in _step(sequence).variants] == [34, 33, 33]


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([("intro", "", "100")], "An A/B test needs at least two variants"),
        ([("intro", "", "20")] * 5, "Use at most 4 variants."),
        (
            [("intro", "", "50"), ("intro-short", "", "40")],
            "The weights add up to 90%; they must add up to 100%.",
        ),
        ([("intro", "", "50"), ("ghost", "", "50")], "Variant B: there is no template &#39;ghost&#39;."),
        ([("intro", "", "50"), ("", "", "50")], "Variant B: choose a template."),
        ([("intro", "", "50"), ("intro-short", "", "fifty")], "Variant B: the weight is a whole percent."),
        ([("intro", "", "50"), ("intro-short", "{{ lead.first_name ", "50")], "Variant B: Subject"),
    ],
)
def test_bad_variants_come_back_with_a_clear_error_and_nothing_is_saved(
    login_as, sequence, variants, message
):
    client = login_as("marketer")
    response = _post(client, sequence, _form(*variants))
    page = response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == f"#step-form-{_step(sequence).id}"
    assert message in page
    assert _step(sequence).variants == []


def test_the_core_refuses_bad_variants_too(tenant, sequence):
    admin = factories.make_user(tenant)
    data = steps.StepInput(
        channel="email", delay_hours=0, template_id="intro", variants=[VariantInput("intro")]
    )
    with pytest.raises(SequenceRefused):
        steps.update_step(_step(sequence), data, actor=admin)


def test_stopping_the_test_returns_to_variant_as_template(login_as, sequence):
    client = login_as("marketer")
    _post(client, sequence, _form(("intro-story", "", "50"), ("intro-short", "", "50")))
    page = _post(
        client, sequence, _form(("intro-story", "", "50"), ("intro-short", "", "50"), variant_action="stop")
    )
    html = page.get_data(as_text=True)
    assert 'name="variant-count" value="0"' in html
    assert re.search(r'<option selected value="intro-story">|<option value="intro-story" selected', html)
    _post(client, sequence, _form(template_id="intro-story"))
    step = _step(sequence)
    assert step.variants == [] and step.template_id == "intro-story" and step.auto_winner_min_sends is None


def test_a_variants_missing_template_blocks_activation(tenant, sequence, login_as):
    client = login_as("marketer")
    _post(client, sequence, _form(("intro", "", "50"), ("intro-data", "", "50")))
    db.session.execute(sa.text("DELETE FROM email_templates WHERE key = 'intro-data'"))
    db.session.commit()
    problems = activation_problems(sequence, tenant)
    assert "Step 1, variant B uses the template 'intro-data', which does not exist." in problems
