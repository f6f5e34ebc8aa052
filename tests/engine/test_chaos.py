"""The chaos run in small (``make chaos`` is the big one): real workers killed at random, Redis restarted
empty, the database's sessions cut, the SMTP server refusing, leads unsubscribing — and still every due
step executed once, every email received once, none after an unsubscribe, nothing stuck."""

from __future__ import annotations

from bench.chaos import ChaosSettings, format_report, run_chaos


def test_chaos_run_keeps_every_promise(app, database_url, tmp_path):
    settings = ChaosSettings(
        enrollments=240,
        steps=2,
        spread_seconds=12,
        warmup_seconds=3,
        workers=3,
        kill_every=(1.5, 3.0),
        unsubscribe_fraction=0.05,
        smtp_refuse_seconds=3,
        outage_seconds=1,
        settle_bound_seconds=45,
        seed=10,
        engine={
            "ENGINE_TICK_SECONDS": 1,
            "ENGINE_BATCH_SIZE": 40,
            "ENGINE_LEASE_SECONDS": 4,
            "ENGINE_TICK_LOCK_SECONDS": 3,  # a worker killed mid-tick stalls ticks no longer
            "AUTO_ENROLL_SECONDS": 3600,
            "MAIL_REQUEUE_AFTER_SECONDS": 2,
            "MAIL_RETRY_BASE_SECONDS": 1,
            "MAIL_MAX_ATTEMPTS": 12,
            "MAIL_SENDING_STUCK_SECONDS": 6,
        },
    )
    run, checks = run_chaos(settings, database_url=database_url, directory=tmp_path / "chaos")
    report = format_report(run, checks)
    print(report)
    kinds = {fault.kind for fault in run.faults}
    assert {"SIGKILL worker + work horse", "restart Redis", "SMTP refuses (451)"} <= kinds, report
    if database_url.startswith("postgresql"):
        assert "restart PostgreSQL" in kinds, report
    assert run.unsubscribes, report
    assert all(check.held for check in checks), report
