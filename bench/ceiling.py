"""The two ceilings of the engine, measured by ``pgbench`` on the same database.

1. **The engine's own statements** (``run_replay``): the statements of one batch as the engine made them
   (captured by ``bench.statement_capture``: the claim, the executor's transaction, the send job's
   transactions, with the same commits), replayed by pgbench with 1, 2 and 4 clients, one script run per
   batch, each run on rows of its own. pgbench's simple protocol: a prepared statement takes at most 255
   variables and the batch's statements name 200 rows each (the replay parses each statement every time,
   which the engine's driver does too for a statement it has not run five times on that connection). Its steps/s is what PostgreSQL does with the engine's
   work when nothing else (Python, Redis, SMTP) takes time: the engine cannot beat it.
2. **The storage's commit rate** (``run_commit_rate``): pgbench committing a one-row insert per transaction
   (``INSERT INTO <probe table> DEFAULT VALUES``, autocommit). An empty ``BEGIN; COMMIT;`` writes no WAL and
   waits for no flush, so it would measure nothing physical. Commits/s here bounds every design that
   commits: the engine's commits/s is compared with it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.due_steps import drop_tenant, seed_due_steps
from nurture_ui.extensions import db

TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
PROBE_TABLE = "bench_commit_probe"
# Variables a replay seeds afresh each time (shown by name in the report's command).
PER_RUN = ("tenant", "sequence", "step", "template", "lead_prefix", "enrollment_prefix", "message_prefix")
COMMIT_SCRIPT = f"INSERT INTO {PROBE_TABLE} DEFAULT VALUES;\n"


def pgbench_command(database_url: str, script: Path, *, clients: int, transactions: int,
                    variables: dict[str, str] | None = None, mode: str = "prepared") -> list[str]:  # fmt: skip
    """The pgbench command line for ``database_url`` (without its password, which goes in PGPASSWORD):
    ``transactions`` runs of ``script`` per client."""
    url = make_url(database_url)
    command = [shutil.which("pgbench") or "/usr/bin/pgbench", "--no-vacuum", "--client", str(clients),
               "--jobs", str(clients), "--transactions", str(transactions), "--protocol", mode,
               "--file", str(script)]  # fmt: skip
    if url.host:
        command += ["--host", url.host]
    if url.port:
        command += ["--port", str(url.port)]
    if url.username:
        command += ["--username", url.username]
    for name, value in (variables or {}).items():
        command += ["--define", f"{name}={value}"]
    return [*command, url.database]


def parse_tps(output: str) -> float:
    """pgbench's transactions per second (without the connection time) from its report."""
    match = TPS.search(output)
    if not match:
        raise RuntimeError(f"no tps in pgbench's output:\n{output}")
    return float(match.group(1))


def shown(command: list[str]) -> str:
    """The command as the report shows it: the database named ``<database>``, the script by its name."""
    return shlex.join(command[:-1] + ["<database>"])


def _run(database_url: str, command: list[str]) -> str:
    env = {**os.environ}
    password = make_url(database_url).password
    if password:
        env["PGPASSWORD"] = password
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr}\n{done.stdout}")
    return done.stdout


def run_replay(app, script: str, *, batch: int, clients: int, batches_per_client: int) -> dict:
    """Replay the captured batch ``script`` (``statement_capture.pgbench_script``) with ``clients``
    clients, ``batches_per_client`` batches each, on freshly seeded due steps; returns steps/s and more."""
    prefix = uuid.uuid4().hex[:20]
    steps = clients * batches_per_client * batch
    with app.app_context():
        due = seed_due_steps(steps, id_prefix=prefix, label="replay")
        step_id = db.session.scalar(sa.text("SELECT id FROM lead_nurture_sequence_steps WHERE sequence_id = :s"),
                                    {"s": due.sequence_id})  # fmt: skip
        template_id = db.session.scalar(sa.text("SELECT id FROM email_templates WHERE tenant_id = :t"),
                                        {"t": due.tenant_id})  # fmt: skip
        db.session.commit()
        variables = {
            "tenant": str(due.tenant_id), "sequence": str(due.sequence_id), "step": str(step_id),
            "template": str(template_id), "lead_prefix": prefix,
            "enrollment_prefix": prefix[:-1] + ("0" if prefix[-1] != "0" else "1"),
            "message_prefix": prefix[:-2] + ("0" if prefix[-2] != "0" else "1") + prefix[-1],
            "per_client": str(batches_per_client), "batch": str(batch), "i": "0",
        }  # fmt: skip
        database_url = app.config["SQLALCHEMY_DATABASE_URI"]
        with tempfile.TemporaryDirectory(prefix="nurture-replay-") as directory:
            path = Path(directory) / "engine_batch.sql"
            path.write_text(script)
            command = pgbench_command(database_url, path, clients=clients, transactions=batches_per_client,
                                      variables=variables, mode="simple")  # fmt: skip
            try:
                output = _run(database_url, command)
                sent = db.session.scalar(
                    sa.text(
                        "SELECT count(*) FROM outbound_messages WHERE tenant_id = :t AND status = 'sent'"
                    ),
                    {"t": due.tenant_id},
                )
                db.session.commit()
            finally:
                drop_tenant(due.tenant_id)
    if sent != steps:
        raise RuntimeError(f"the replay left {sent} messages sent for {steps} steps")
    tps = parse_tps(output)
    return {"clients": clients, "batches": clients * batches_per_client, "batch": batch, "steps": steps,
            "batches_per_s": tps, "steps_per_s": round(tps * batch, 1),
            "command": shown(pgbench_command(database_url, Path("engine_batch.sql"), clients=clients,
                                             transactions=batches_per_client, mode="simple",
                                             variables={k: f"<{k}>" if k in PER_RUN else v for k, v in variables.items()}))}  # fmt: skip


def run_commit_rate(app, *, clients: int, transactions: int) -> dict:
    """Commits/s of a one-row insert per transaction with ``clients`` clients (the probe table is made and
    dropped here)."""
    with app.app_context():
        database_url = app.config["SQLALCHEMY_DATABASE_URI"]
        db.session.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id bigserial PRIMARY KEY)"))
        db.session.commit()
        with tempfile.TemporaryDirectory(prefix="nurture-commit-") as directory:
            path = Path(directory) / "commit.sql"
            path.write_text(COMMIT_SCRIPT)
            command = pgbench_command(database_url, path, clients=clients, transactions=transactions)
            try:
                output = _run(database_url, command)
            finally:
                db.session.execute(sa.text(f"DROP TABLE IF EXISTS {PROBE_TABLE}"))
                db.session.commit()
    return {"clients": clients, "transactions": clients * transactions, "commits_per_s": parse_tps(output),
            "what": f"one-row insert per commit ({COMMIT_SCRIPT.strip()})",
            "command": shown(command).replace(str(path), "commit.sql")}  # fmt: skip
