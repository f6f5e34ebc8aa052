"""Step editing keeps step_order 1..N and never corrupts the pointer of an enrollment in flight."""

from __future__ import annotations

import contextlib
import threading

import pytest
import sqlalchemy as sa

from nurture_ui import steps
from nurture_ui.extensions import db
from nurture_ui.models import Activity, SequenceStep
from nurture_ui.sequences import SequenceRefused
from nurture_ui.steps import StepInput
from tests import factories


def _orders(sequence):
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(SequenceStep.step_order, SequenceStep.delay_hours)
        .where(SequenceStep.sequence_id == sequence.id)
        .order_by(SequenceStep.step_order)
    ).all()
    return [tuple(r) for r in rows]


@pytest.fixture
def marketer(tenant):
    return factories.make_user(tenant, "marketer")


@pytest.fixture
def five(tenant):
    # delay_hours doubles as the step's identity in these tests.
    return factories.make_sequence(
        tenant, steps=[{"channel": "task", "delay_hours": h} for h in (1, 2, 3, 4, 5)]
    )


def test_add_step_appends_and_logs(tenant, marketer, five):
    factories.make_template(tenant, "intro")
    step = steps.add_step(
        five, StepInput(channel="email", delay_hours=48, template_id="intro"), actor=marketer
    )
    assert step.step_order == 6
    added = db.session.scalar(sa.select(Activity).where(Activity.type == "step_added"))
    assert added.actor_id == marketer.id and added.data == {"step": 6, "channel": "email"}


def test_bad_step_is_refused_field_by_field(tenant):
    errors = steps.step_errors(
        tenant.id,
        StepInput(channel="fax", delay_hours=-1, template_id="nope", conditions={"field": "x"}),
    )
    assert set(errors) == {"channel", "delay_hours", "conditions"}
    errors = steps.step_errors(tenant.id, StepInput(channel="email", delay_hours=1, template_id="nope"))
    assert errors == {"template_id": ["There is no template 'nope'."]}


def test_reorder_moves_last_to_first(five, marketer):
    ids = [s.id for s in five.steps]
    steps.reorder_steps(five, [ids[4], *ids[:4]], actor=marketer)
    assert _orders(five) == [(1, 5), (2, 1), (3, 2), (4, 3), (5, 4)]


def test_reorder_refuses_a_stale_list(five, marketer):
    ids = [s.id for s in five.steps]
    with pytest.raises(SequenceRefused, match="reload"):
        steps.reorder_steps(five, ids[:4], actor=marketer)
    with pytest.raises(SequenceRefused, match="reload"):
        steps.reorder_steps(five, [ids[0], *ids[:4]], actor=marketer)


def test_move_up_and_down_and_ends(five, marketer):
    second = five.steps[1]
    steps.move_step(second, -1, actor=marketer)
    assert _orders(five) == [(1, 2), (2, 1), (3, 3), (4, 4), (5, 5)]
    steps.move_step(db.session.get(SequenceStep, second.id), -1, actor=marketer)  # already first: no-op
    last = five.steps[-1]
    steps.move_step(last, +1, actor=marketer)
    assert _orders(five)[-1] == (5, 5)
    steps.move_step(db.session.get(SequenceStep, second.id), +1, actor=marketer)
    assert _orders(five) == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]


def test_delete_closes_the_gap(five, marketer):
    steps.delete_step(five.steps[1], actor=marketer)
    assert _orders(five) == [(1, 1), (2, 3), (3, 4), (4, 5)]
    steps.delete_step(five.steps[0], actor=marketer)
    assert _orders(five) == [(1, 3), (2, 4), (3, 5)]


def test_active_sequence_is_read_only(tenant, marketer):
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"channel": "task"}, {"channel": "task"}]
    )
    with pytest.raises(SequenceRefused, match="pause it to edit"):
        steps.move_step(sequence.steps[1], -1, actor=marketer)
    with pytest.raises(SequenceRefused, match="pause it to edit"):
        steps.add_step(sequence, StepInput(channel="task", delay_hours=1), actor=marketer)


def test_steps_already_run_by_live_enrollments_stay_put(tenant, marketer):
    sequence = factories.make_sequence(
        tenant, status="paused", steps=[{"channel": "task", "delay_hours": h} for h in (1, 2, 3, 4)]
    )
    # One lead has run steps 1-2 and waits for step 3; another is paused on step 1's task.
    factories.make_enrollment(factories.make_lead(tenant), sequence, current_step_order=3)
    factories.make_enrollment(factories.make_lead(tenant), sequence, current_step_order=1, status="paused")
    assert steps.frozen_prefix(sequence) == 2
    ids = [s.id for s in sequence.steps]
    with pytest.raises(SequenceRefused, match="Steps 1–2 have already run"):
        steps.reorder_steps(sequence, [ids[2], ids[0], ids[1], ids[3]], actor=marketer)
    with pytest.raises(SequenceRefused, match="cannot be moved or deleted"):
        steps.delete_step(sequence.steps[1], actor=marketer)
    # Steps after the prefix move freely; the pointer (3) now names the step the lead has not run yet.
    steps.reorder_steps(sequence, [ids[0], ids[1], ids[3], ids[2]], actor=marketer)
    assert _orders(sequence) == [(1, 1), (2, 2), (3, 4), (4, 3)]
    steps.delete_step(db.session.get(SequenceStep, ids[3]), actor=marketer)
    assert _orders(sequence) == [(1, 1), (2, 2), (3, 3)]


def test_many_reorders_keep_one_to_n(five, marketer):
    import random

    rng = random.Random(7)
    for _ in range(20):
        ids = [s.id for s in five.steps]
        rng.shuffle(ids)
        steps.reorder_steps(five, ids, actor=marketer)
        db.session.expire_all()
        assert [o for o, _ in _orders(five)] == [1, 2, 3, 4, 5]


def test_concurrent_edits_keep_one_to_n(app, tenant, marketer, five):
    """Two people adding steps and reordering at the same moment: each waits for the other's lock."""
    sequence_id, user_id = five.id, marketer.id
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(kind: str) -> None:
        with app.app_context():
            try:
                sequence = db.session.get(type(five), sequence_id)
                actor = db.session.get(type(marketer), user_id)
                barrier.wait(timeout=10)
                if kind == "add":
                    steps.add_step(sequence, StepInput(channel="task", delay_hours=9), actor=actor)
                else:
                    ids = [s.id for s in sequence.steps]
                    # Refused when the steps changed meanwhile: the person is told to reload.
                    with contextlib.suppress(SequenceRefused):
                        steps.reorder_steps(sequence, list(reversed(ids)), actor=actor)
            except BaseException as error:  # surfaced below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(kind,)) for kind in ("add", "add", "reorder", "reorder")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert [order for order, _ in _orders(five)] == [1, 2, 3, 4, 5, 6, 7]
