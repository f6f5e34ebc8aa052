"""The sequence pages through the web door: who may do what, htmx fragments, forms keeping input."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import Activity, Sequence, SequenceStep
from tests import factories

HTMX = {"HX-Request": "true"}


def _orders(sequence):
    db.session.expire_all()
    return [
        (s.step_order, s.delay_hours)
        for s in db.session.scalars(
            sa.select(SequenceStep)
            .where(SequenceStep.sequence_id == sequence.id)
            .order_by(SequenceStep.step_order)
        )
    ]


def test_marketer_creates_a_sequence_and_lands_in_the_builder(login_as):
    client = login_as("marketer")
    assert client.get("/sequences/").status_code == 200
    response = client.post("/sequences/new", {"name": "Warm leads", "description": ""})
    assert response.status_code == 302
    sequence = db.session.scalar(sa.select(Sequence))
    assert response.headers["Location"].endswith(f"/sequences/{sequence.id}")
    page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert "Warm leads" in page and "+ Add step" in page


def test_create_with_blank_name_keeps_the_description(login_as):
    client = login_as("admin")
    response = client.post("/sequences/new", {"name": "  ", "description": "For warm SMB leads"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter a name." in page and "For warm SMB leads" in page


def test_list_filters_by_status_and_shows_figures(login_as, tenant):
    client = login_as("rep")
    active = factories.make_sequence(
        tenant, name="Running one", status="active", steps=[{"channel": "task", "delay_hours": 48}]
    )
    factories.make_sequence(tenant, name="Drafty", status="draft")
    factories.make_enrollment(factories.make_lead(tenant), active)
    page = client.get("/sequences/?status=active", headers=HTMX | {"HX-Target": "sequence-rows"}).get_data(
        as_text=True
    )
    assert "Running one" in page and "Drafty" not in page and "1 active" in page
    assert "<html" not in page  # the partial, not the page
    assert "Duplicate" not in page  # reps view only


def test_reps_and_managers_view_but_cannot_edit(login_as, tenant):
    sequence = factories.make_sequence(tenant, steps=[{"channel": "task"}])
    for role in ("rep", "manager"):
        client = login_as(role)
        page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
        assert "+ Add step" not in page and "Activate" not in page
        assert client.post("/sequences/new", {"name": "x"}).status_code == 403
        assert client.post(f"/sequences/{sequence.id}/steps/reorder", {"order": ""}).status_code == 403
        assert client.post(f"/sequences/{sequence.id}/status", {"status": "active"}).status_code == 403
        assert client.get("/templates/").status_code == 200
        assert client.get("/templates/new").status_code == 403


def test_add_step_through_htmx_returns_the_panel_with_summary(login_as, tenant):
    client = login_as("marketer")
    factories.make_template(tenant, "intro", name="Intro")
    sequence = factories.make_sequence(tenant)
    client.get(f"/sequences/{sequence.id}")
    form = client.get(f"/sequences/{sequence.id}/steps/new", headers=HTMX).get_data(as_text=True)
    assert "New step" in form
    response = client.post(
        f"/sequences/{sequence.id}/steps/new",
        {
            "channel": "email",
            "delay_value": "0",
            "delay_unit": "days",
            "template_id": "intro",
            "cond-count": "0",
            "cond-mode": "rows",
        },
        headers=HTMX,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert 'id="steps-panel"' in page and "Day 0 email ‘Intro’ · ends day 0" in page
    assert (
        db.session.scalar(sa.select(Activity.actor_id).where(Activity.type == "step_added")) == client.user.id
    )


def test_bad_step_form_comes_back_with_errors_and_input(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant)
    client.get(f"/sequences/{sequence.id}")
    response = client.post(
        f"/sequences/{sequence.id}/steps/new",
        {
            "channel": "task",
            "delay_value": "-3",
            "delay_unit": "days",
            "instructions": "Call them about Q3",
            "cond-mode": "rows",
            "cond-count": "1",
            "cond-0-field": "score",
            "cond-0-op": "gte",
            "cond-0-value": "lots",
        },
        headers=HTMX,
    )
    page = response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#step-form-new"
    assert "Enter a whole number from 0." in page
    assert "Call them about Q3" in page and 'value="lots"' in page
    assert "&#39;score&#39; compares with a whole number, not &#39;lots&#39;." in page
    assert _orders(sequence) == []


def test_move_delete_and_reorder_keep_one_to_n(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(
        tenant, steps=[{"channel": "task", "delay_hours": h} for h in (1, 2, 3)]
    )
    client.get(f"/sequences/{sequence.id}")
    ids = [str(s.id) for s in sequence.steps]
    assert (
        client.post(
            f"/sequences/{sequence.id}/steps/reorder",
            {"order": ",".join([ids[2], ids[0], ids[1]])},
            headers=HTMX,
        ).status_code
        == 200
    )
    assert _orders(sequence) == [(1, 3), (2, 1), (3, 2)]
    client.post(f"/sequences/{sequence.id}/steps/{ids[0]}/move", {"direction": "up"}, headers=HTMX)
    assert _orders(sequence) == [(1, 1), (2, 3), (3, 2)]
    page = client.post(f"/sequences/{sequence.id}/steps/{ids[2]}/delete", headers=HTMX).get_data(as_text=True)
    assert _orders(sequence) == [(1, 1), (2, 2)]
    assert "Steps <span" in page


def test_activation_refusal_names_the_limit(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant, steps=[{"channel": "task", "delay_hours": 1}] * 7)
    client.get(f"/sequences/{sequence.id}")
    response = client.post(f"/sequences/{sequence.id}/status", {"status": "active"})
    assert response.status_code == 422
    assert "It has 7 steps; the limit is 6 steps per sequence." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).status == "draft"


def test_active_sequence_shows_read_only_with_pause_to_edit(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"channel": "task"}])
    page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert "Pause it to edit" in page and "+ Add step" not in page and "data-sortable-steps" not in page
    response = client.post(f"/sequences/{sequence.id}/steps/{sequence.steps[0].id}/delete", headers=HTMX)
    assert "pause it to edit" in response.get_data(as_text=True)
    assert _orders(sequence) == [(1, 0)]


def breakdown_numbers(page: str) -> tuple[int, int]:
    """(match the entry rule, can join now) as the builder's breakdown shows them."""
    matching = re.search(r"data-matching>(?:<a [^>]*>)?([\d,]+)", page)
    joining = re.search(r"data-can-join>(?:<a [^>]*>)?([\d,]+)", page)
    assert matching and joining, page
    return int(matching.group(1).replace(",", "")), int(joining.group(1).replace(",", ""))


def test_entry_rule_rows_save_and_count(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant)
    factories.make_lead(tenant, status="new", score=80)
    factories.make_lead(tenant, status="converted", score=80)
    client.get(f"/sequences/{sequence.id}")
    form = {
        "entry-mode": "rows",
        "entry-match": "all",
        "entry-count": "2",
        "entry-0-field": "status",
        "entry-0-op": "in",
        "entry-0-value": ["new", "contacted"],
        "entry-1-field": "score",
        "entry-1-op": "gte",
        "entry-1-value": "60",
    }
    response = client.post(f"/sequences/{sequence.id}/entry-rules", form, headers=HTMX)
    page = response.get_data(as_text=True)
    # No steps yet: the one matching lead cannot join until there is something to send.
    assert "Saved" in page and breakdown_numbers(page) == (1, 0)
    assert "wait: the sequence has no steps" in page
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).entry_rules == {
        "all": [
            {"field": "status", "op": "in", "value": ["new", "contacted"]},
            {"field": "score", "op": "gte", "value": 60},
        ]
    }


def test_the_builder_shows_at_once_and_its_entry_rule_count_follows(login_as, tenant):
    """The builder page does not wait for the entry rule's count (the one costly query on a big tenant): it
    shows a placeholder that asks for the count once it is on screen, and that request answers the breakdown,
    for a rep who cannot edit the rule as for a marketer who can."""
    sequence = factories.make_sequence(tenant, steps=[{"channel": "task"}])
    sequence.entry_rules = {"all": [{"field": "score", "op": "gte", "value": 60}]}
    db.session.commit()
    factories.make_lead(tenant, status="new", score=80)
    factories.make_lead(tenant, status="new", score=10)
    for role in ("marketer", "rep"):
        client = login_as(role)
        page = client.get(f"/sequences/{sequence.id}").get_data(as_text=True)
        url = f"/sequences/{sequence.id}/eligibility"
        placeholder = re.search(r'<div [^>]*id="entry-count"[^>]*>', page).group(0)
        assert f'hx-get="{url}"' in placeholder and 'hx-trigger="load"' in placeholder
        # Its own target: inside the rule form it would inherit the form's and replace the whole editor.
        assert 'hx-target="this"' in placeholder
        assert "data-matching" not in page and "Counting the leads this rule matches" in page
        count = client.get(url, headers=HTMX).get_data(as_text=True)
        assert 'id="entry-count"' in count and "hx-get" not in count
        assert breakdown_numbers(count) == (1, 1)


def test_entry_rule_errors_land_on_their_row_and_keep_input(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant)
    client.get(f"/sequences/{sequence.id}")
    form = {
        "entry-mode": "rows",
        "entry-count": "1",
        "entry-0-field": "score",
        "entry-0-op": "gte",
        "entry-0-value": "500",
    }
    page = client.post(f"/sequences/{sequence.id}/entry-rules", form, headers=HTMX).get_data(as_text=True)
    assert "must be between 0 and 100, not 500" in page and 'value="500"' in page
    assert db.session.get(Sequence, sequence.id).entry_rules == {}


def test_entry_rule_json_view_round_trips(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant)
    client.get(f"/sequences/{sequence.id}")
    rows = {
        "prefix": "entry",
        "action": "to_json",
        "entry-mode": "rows",
        "entry-count": "1",
        "entry-0-field": "segment",
        "entry-0-op": "contains",
        "entry-0-value": "ent",
    }
    page = client.post("/sequences/rule-editor", rows, headers=HTMX).get_data(as_text=True)
    assert "Rule as JSON" in page and "&#34;contains&#34;" in page
    nested = json.dumps({"any": [{"not": {"field": "score", "op": "lt", "value": 10}}]})
    page = client.post(
        f"/sequences/{sequence.id}/entry-rules", {"entry-mode": "json", "entry-json": nested}, headers=HTMX
    ).get_data(as_text=True)
    assert "Saved" in page
    broken = client.post(
        f"/sequences/{sequence.id}/entry-rules", {"entry-mode": "json", "entry-json": "{oops"}, headers=HTMX
    )
    assert "The JSON does not parse" in broken.get_data(as_text=True) and "{oops" in broken.get_data(
        as_text=True
    )


def test_rule_editor_adds_rows_and_changes_operators(login_as):
    client = login_as("marketer")
    client.get("/sequences/")
    page = client.post(
        "/sequences/rule-editor",
        {"prefix": "cond", "action": "add", "cond-count": "0", "cond-mode": "rows"},
        headers=HTMX,
    ).get_data(as_text=True)
    assert 'name="cond-0-field"' in page
    changed = {
        "prefix": "cond",
        "action": "field:0",
        "cond-count": "1",
        "cond-mode": "rows",
        "cond-0-field": "score",
        "cond-0-op": "in",
    }
    page = client.post("/sequences/rule-editor", changed, headers=HTMX).get_data(as_text=True)
    assert '<option value="gte" >is at least</option>' in page.replace("  ", " ") or "is at least" in page
    assert "is one of" not in page


def test_exit_switches_save_and_refuse_bad_days(login_as, tenant):
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant)
    client.get(f"/sequences/{sequence.id}")
    page = client.post(
        f"/sequences/{sequence.id}/exit-rules",
        {
            "conversion": "on",
            "positive_reply": "on",
            "any_reply": "on",
            "inactivity_on": "on",
            "inactivity_days": "0",
        },
        headers=HTMX,
    ).get_data(as_text=True)
    assert "Inactivity: enter a whole number of days from 1 to 365, or off." in page
    client.post(
        f"/sequences/{sequence.id}/exit-rules",
        {
            "conversion": "on",
            "positive_reply": "on",
            "any_reply": "on",
            "inactivity_on": "on",
            "inactivity_days": "30",
        },
        headers=HTMX,
    )
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).exit_rules == {
        "conversion": True,
        "disqualification": False,
        "unsubscribe": False,
        "positive_reply": True,
        "negative_reply": False,  # a switch the form leaves off is saved off
        "any_reply": True,
        "inactivity_days": 30,
    }


@pytest.mark.parametrize("through", ["htmx", "plain form"])
def test_an_exit_rule_error_keeps_the_switches_and_days_typed(login_as, tenant, through):
    """With or without JavaScript, a refused save shows what was typed, not what was saved before."""
    client = login_as("marketer")
    sequence = factories.make_sequence(tenant)  # the default switches: any reply off, no inactivity
    client.get(f"/sequences/{sequence.id}")
    typed = {"conversion": "on", "any_reply": "on", "inactivity_on": "on", "inactivity_days": "0"}
    response = client.post(
        f"/sequences/{sequence.id}/exit-rules", typed, headers=HTMX if through == "htmx" else {}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == (200 if through == "htmx" else 422)
    assert ("<html" in page) == (through == "plain form")
    assert "Inactivity: enter a whole number of days from 1 to 365, or off." in page
    exit_form = page[page.index('id="exit-rules"') :]
    for key in ("conversion", "any_reply", "inactivity_on"):
        assert f'name="{key}" checked' in exit_form, key
    for key in ("disqualification", "unsubscribe", "positive_reply", "negative_reply"):
        assert f'name="{key}" >' in exit_form, key
    assert 'name="inactivity_days" value="0"' in exit_form
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).exit_rules["any_reply"] is False


def test_duplicate_from_the_list(login_as, tenant):
    client = login_as("admin")
    sequence = factories.make_sequence(tenant, name="Nurture A", steps=[{"channel": "task"}])
    client.get("/sequences/")
    response = client.post(f"/sequences/{sequence.id}/duplicate")
    assert response.status_code == 302
    assert (
        db.session.scalar(sa.select(sa.func.count(Sequence.id)).where(Sequence.name == "Copy of Nurture A"))
        == 1
    )
