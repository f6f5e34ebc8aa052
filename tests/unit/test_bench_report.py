"""The benchmark report's pure parts: verdicts and the exit code, pgbench's output, the statement capture's
conversion into a pgbench script, and the sentence saying what bounds the engine."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bench.ceiling import parse_tps
from bench.report import Figure, exit_code, missed_targets, worker_memory_figure
from bench.resources import bound_by
from bench.statement_capture import Captured, IdRoles, literal, pgbench_script, statement_counts, text_literal

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
LEAD, ENROLLMENT, MESSAGE, ACTIVITY, TENANT = (uuid.uuid4() for _ in range(5))


def roles() -> IdRoles:
    return IdRoles(
        numbered={LEAD: ("lead", 0), ENROLLMENT: ("enrollment", 0), MESSAGE: ("message", 0)},
        message_ids={"<abc@bench.test>": 0},
        random={ACTIVITY},
        constants={TENANT: "tenant"},
        now=NOW,
    )


def test_a_missed_target_fails_a_full_run_and_names_the_figure():
    rows = [Figure("steps", "900 steps/s", "≥ 1,000", False), Figure("memory", "100 MiB", "< 300 MiB", True)]
    assert [row.name for row in missed_targets(rows)] == ["steps"]
    assert exit_code(rows, smoke=False) == 1


def test_a_smoke_run_does_not_fail_on_missed_targets():
    assert exit_code([Figure("steps", "9 steps/s", "≥ 1,000", False)], smoke=True) == 0


def test_a_run_meeting_every_target_exits_zero():
    rows = [Figure("memory", "100 MiB", "< 300 MiB", True), Figure("info", "3")]
    assert exit_code(rows, smoke=False) == 0
    assert rows[1].verdict == "—"


def test_worker_memory_is_judged_in_mib_against_a_mib_target():
    figure = worker_memory_figure({"workers": 2, "steps": 100, "peak_rss_mib": [180.0, 310.4]}, "cmd")
    assert figure.value == "310 MiB"
    assert figure.target == "< 300 MiB"
    assert figure.passed is False


def test_pgbench_tps_is_read_without_the_connection_time():
    output = (
        "number of transactions actually processed: 100/100\n"
        "latency average = 1.2 ms\n"
        "initial connection time = 3.1 ms\n"
        "tps = 1234.567890 (without initial connection time)\n"
    )
    assert parse_tps(output) == pytest.approx(1234.56789)


def test_pgbench_output_without_tps_is_an_error():
    with pytest.raises(RuntimeError, match="no tps"):
        parse_tps("pgbench: error: connection refused")


def test_the_batchs_rows_become_expressions_of_the_replay_row_number():
    assert literal(ENROLLMENT, roles()) == "(':enrollment_prefix' || lpad(to_hex(:base + 1), 12, '0'))::uuid"
    assert literal(str(LEAD), roles()).startswith("(':lead_prefix'")
    assert literal(ACTIVITY, roles()) == "gen_random_uuid()"
    assert literal(TENANT, roles()) == "':tenant'::uuid"
    assert ":message_prefix" in literal("<abc@bench.test>", roles())


def test_times_become_offsets_from_now_and_text_hides_colons_from_pgbench():
    assert literal(NOW, roles()) == "now()"
    assert literal(NOW + timedelta(seconds=300), roles()) == "(now() + interval '300.000000 seconds')"
    assert text_literal("it's 10:30\n") == "E'it''s 10\\x3a30\\n'"
    assert literal([ENROLLMENT], roles()).endswith("]::uuid[]")


def test_a_captured_batch_becomes_a_script_with_the_same_statements_and_commits():
    captured = [
        Captured("begin"),
        Captured(
            "sql", "UPDATE e SET lease_until = %(until)s WHERE id = %(id)s", {"until": NOW, "id": ENROLLMENT}
        ),
        Captured("commit"),
        Captured("begin"),
        Captured("sql", "UPDATE m SET status = %(s)s WHERE id = %(id)s", [{"s": "sent", "id": MESSAGE}] * 2),
        Captured("copy", table="activities", columns=["id", "tenant_id"], rows=[[ACTIVITY, TENANT]]),
        Captured("commit"),
    ]
    script = pgbench_script(captured, roles(), batch=1)
    lines = script.splitlines()
    assert lines.count("BEGIN;") == 2 and lines.count("COMMIT;") == 2
    assert "UPDATE e SET lease_until = now() WHERE id = (':enrollment_prefix'" in script
    assert sum(line.startswith("UPDATE m SET status = E'sent'") for line in lines) == 2
    assert 'INSERT INTO "activities" ("id", "tenant_id") VALUES' in script
    assert r"\set base (:client_id * :per_client + :i) * :batch" in script
    assert statement_counts(captured) == {"UPDATE": 3, "COPY": 1, "COMMIT": 2}


def test_the_bound_is_the_machine_when_its_cores_are_busy():
    sentence = bound_by(seconds=10, cores=2, workers=2, cpu={"job process": 12, "PostgreSQL": 6},
                        commits_per_s=50, commit_ceiling=4000)  # fmt: skip
    assert sentence.startswith("bound by the machine's CPU: 1.80 of 2 cores busy")
    assert "most of it job process" in sentence


def test_the_bound_is_worker_cpu_when_each_worker_uses_a_core():
    sentence = bound_by(seconds=10, cores=8, workers=2, cpu={"job process": 19, "worker": 0.2, "PostgreSQL": 3},
                        commits_per_s=50, commit_ceiling=4000)  # fmt: skip
    assert sentence.startswith("bound by worker CPU: each worker and its job process use 96% of a core")


def test_the_bound_is_wal_flushes_when_commits_near_the_storages_rate():
    sentence = bound_by(seconds=10, cores=8, workers=2, cpu={"job process": 4}, commits_per_s=900,
                        commit_ceiling=1000)  # fmt: skip
    assert sentence.startswith("bound by WAL flushes: 900 commits/s against the storage's 1,000")


def test_otherwise_the_engine_waits():
    sentence = bound_by(seconds=10, cores=8, workers=2, cpu={"job process": 4}, commits_per_s=10,
                        commit_ceiling=1000)  # fmt: skip
    assert sentence.startswith("bound by neither CPU (0.40 of 8 cores busy")


def test_on_a_shared_machine_busy_with_other_programs_the_bound_is_the_shared_cpu():
    sentence = bound_by(seconds=10, cores=2, workers=2, cpu={"job process": 4, "PostgreSQL": 2},
                        commits_per_s=20, commit_ceiling=1000, machine=1.95)  # fmt: skip
    assert sentence.startswith("bound by the machine's CPU, shared: 1.95 of 2 cores busy, 0.60 of them")
