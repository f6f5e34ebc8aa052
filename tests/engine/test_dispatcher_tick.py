"""The dispatcher tick runs one at a time (a Redis lock), and concurrent claims never share a row."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from nurture_ui.engine import dispatcher
from nurture_ui.engine.dispatcher import claim_due_enrollments
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.jobs import dispatch_due_job, dispatch_lock
from tests import factories
from tests.engine.conftest import enroll


@pytest.fixture
def queue(app):
    queue = get_queue()
    queue.empty()
    yield queue
    queue.empty()


@pytest.fixture
def due(clock, tenant):
    """Three leads whose first email is due now."""
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    return [enroll(factories.make_lead(tenant), sequence, clock.now()) for _ in range(3)]


def test_two_ticks_at_once_one_dispatches_and_the_other_skips(app, clock, due, queue, monkeypatch):
    inside, finish = threading.Event(), threading.Event()
    real_dispatch = dispatcher.dispatch_due

    def slow_dispatch(now=None, **kwargs):
        inside.set()
        assert finish.wait(timeout=10)
        return real_dispatch(now, **kwargs)

    monkeypatch.setattr(dispatcher, "dispatch_due", slow_dispatch)
    results = {}

    def first_tick():
        with app.app_context():
            try:
                results["first"] = dispatch_due_job(clock.now().isoformat())
            finally:
                db.session.remove()

    thread = threading.Thread(target=first_tick)
    thread.start()
    assert inside.wait(timeout=10)
    started = time.monotonic()
    second = dispatch_due_job(clock.now().isoformat())  # while the first one is still dispatching
    assert time.monotonic() - started < 1  # it does not wait for the lock
    finish.set()
    thread.join(timeout=30)

    assert second == {"skipped": True, "reason": "another dispatcher tick is running"}
    assert results["first"] == {"skipped": False, "claimed": 3, "batches": 1, "requeued": 0}
    assert queue.count == 1  # one executor job, from the tick that ran
    # The lock went with the tick that held it: the next tick runs (and finds nothing left to claim).
    assert dispatch_due_job(clock.now().isoformat())["skipped"] is False


def test_a_tick_that_fails_releases_the_lock(app, clock, due, queue, monkeypatch):
    def broken(now=None, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(dispatcher, "dispatch_due", broken)
    with pytest.raises(RuntimeError):
        dispatch_due_job(clock.now().isoformat())
    monkeypatch.undo()
    assert dispatch_due_job(clock.now().isoformat())["claimed"] == 3


def test_the_lock_of_a_tick_that_crashed_expires_and_the_next_tick_runs(app, clock, due, queue, monkeypatch):
    monkeypatch.setitem(app.config, "ENGINE_TICK_LOCK_SECONDS", 1)
    # A tick that took the lock and died (SIGKILL) before its `finally` could release it.
    assert dispatch_lock().acquire()
    key = f"nurture:lock:dispatch:{app.config['RQ_QUEUE']}"
    assert 0 < get_redis().pttl(key) <= 1000
    assert dispatch_due_job(clock.now().isoformat())["skipped"] is True

    deadline = time.monotonic() + 5
    while get_redis().exists(key) and time.monotonic() < deadline:
        time.sleep(0.05)
    report = dispatch_due_job(clock.now().isoformat())
    assert (report["skipped"], report["claimed"]) == (False, 3)


def test_claims_made_at_once_hand_each_row_to_exactly_one_claimant(app, clock, tenant):
    """What the lock no longer exercises in production (a dispatcher racing another, or a tick racing the
    replay CLI) must still hold: PostgreSQL skips rows another claim has locked, SQLite serialises writers."""
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    count = 120
    for _ in range(count):
        enroll(factories.make_lead(tenant), sequence, clock.now())
    now = clock.now()
    start = threading.Barrier(4)
    claimed: list = []
    lock = threading.Lock()

    def claimant():
        with app.app_context():
            try:
                start.wait(timeout=10)
                while ids := claim_due_enrollments(now, 10, timedelta(minutes=5)):
                    with lock:
                        claimed.extend(ids)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=claimant) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    counts = Counter(claimed)
    assert len(counts) == count and set(counts.values()) == {1}


def test_a_tick_tops_the_queue_up_instead_of_piling_on(app, clock, tenant, queue, monkeypatch):
    """Workers behind: a tick claims only what brings the queue to ENGINE_MAX_BATCHES_PER_TICK jobs, and
    the rest stays unclaimed (no lease running out while it waits in the queue)."""
    from nurture_ui.engine.dispatcher import dispatch_due
    from nurture_ui.jobs import resume_pauses_job
    from nurture_ui.models import Enrollment

    monkeypatch.setitem(app.config, "ENGINE_BATCH_SIZE", 2)
    monkeypatch.setitem(app.config, "ENGINE_MAX_BATCHES_PER_TICK", 4)
    factories.make_template(tenant, "a")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    for _ in range(10):
        enroll(factories.make_lead(tenant), sequence, clock.now())
    leased = db.select(db.func.count()).where(Enrollment.lease_until.is_not(None))

    for _ in range(3):
        queue.enqueue(resume_pauses_job)  # work already waiting
    assert dispatch_due(clock.now()).claimed == 2  # one batch of two: four jobs queued
    assert db.session.scalar(leased) == 2 and queue.count == 4
    assert dispatch_due(clock.now()).claimed == 0  # full: nothing more claimed
    queue.empty()
    assert dispatch_due(clock.now()).claimed == 8  # drained: four batches
    assert db.session.scalar(leased) == 10
