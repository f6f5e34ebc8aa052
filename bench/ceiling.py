"""The ceiling: what PostgreSQL itself does with one engine step's writes, measured by ``pgbench``.

``bench/pgbench_step.sql`` makes the writes of a sent email step (update the enrollment, insert the message,
insert two activities) in one transaction, against the real schema: this seeds a tenant whose leads and
enrollments have ids the script can compute from a number, runs the script for a fixed number of
transactions and reads pgbench's tps. The engine cannot beat this with the same commits; how close it
comes is its share of the ceiling.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.due_steps import drop_tenant, seed_due_steps
from bench.processes import ROOT
from nurture_ui.extensions import db

SCRIPT = ROOT / "bench" / "pgbench_step.sql"
TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)


def pgbench_command(
    database_url: str, *, clients: int, per_client: int, variables: dict[str, str]
) -> list[str]:
    """The pgbench command line for ``database_url`` (without its password, which goes in PGPASSWORD)."""
    url = make_url(database_url)
    command = [shutil.which("pgbench") or "/usr/bin/pgbench", "--no-vacuum", "--client", str(clients),
               "--jobs", str(clients), "--transactions", str(per_client), "--file", str(SCRIPT)]  # fmt: skip
    if url.host:
        command += ["--host", url.host]
    if url.port:
        command += ["--port", str(url.port)]
    if url.username:
        command += ["--username", url.username]
    for name, value in variables.items():
        command += ["--define", f"{name}={value}"]
    return [*command, url.database]


def parse_tps(output: str) -> float:
    match = TPS.search(output)
    if not match:
        raise RuntimeError(f"no tps in pgbench's output:\n{output}")
    return float(match.group(1))


def run_pgbench(app, transactions: int, clients: int = 2) -> dict:
    """Run the step script ``transactions`` times over ``clients`` connections; returns tps and the command."""
    per_client = -(-transactions // clients)
    prefix = uuid.uuid4().hex[:20]
    with app.app_context():
        due = seed_due_steps(clients * per_client, id_prefix=prefix, label="pgbench")
        enrollment_prefix = prefix[:-1] + ("0" if prefix[-1] != "0" else "1")
        variables = {
            "tenant": str(due.tenant_id),
            "sequence": str(due.sequence_id),
            "lead_prefix": prefix,
            "enrollment_prefix": enrollment_prefix,
            "per_client": str(per_client),
            "i": "0",
        }
        database_url = app.config["SQLALCHEMY_DATABASE_URI"]
        command = pgbench_command(database_url, clients=clients, per_client=per_client, variables=variables)
        env = {**os.environ}
        password = make_url(database_url).password
        if password:
            env["PGPASSWORD"] = password
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr}\n{done.stdout}")
            written = db.session.scalar(
                sa.text("SELECT count(*) FROM outbound_messages WHERE tenant_id = :t"), {"t": due.tenant_id}
            )
            db.session.commit()
        finally:
            drop_tenant(due.tenant_id)
    if written != clients * per_client:
        raise RuntimeError(f"pgbench wrote {written} messages for {clients * per_client} transactions")
    return {
        "clients": clients,
        "transactions": clients * per_client,
        "tps": parse_tps(done.stdout),
        "command": shlex.join(command[:-1] + ["<database>"]),
    }
