"""The engine's own statements for one batch, captured and turned into a pgbench script that replays them.

``capture_batch`` seeds ``batch`` due email steps (leads and enrollments with numbered ids), then runs one
batch the way the workers do, in this process: the dispatcher's claim (``claim_due``), the executor job
(``execute_batch``) and the send job (``send_messages``, to an SMTP sink), with SQLAlchemy's
``before_cursor_execute``, ``begin``, ``commit`` and ``rollback`` events recording every statement with its
parameters and every transaction boundary (the executor's ``COPY`` of new rows is recorded too).

``pgbench_script`` turns that record into a pgbench script: the same statements in the same transactions,
one script run per batch. Values are written into the statements as SQL: the batch's k-th enrollment, lead,
message (and its Message-ID header) become expressions of ``:base + k`` over the ids a replay seeds, so every
pgbench transaction works on rows of its own; new activity ids become ``gen_random_uuid()``; the tenant,
sequence, step and template become the variables ``:tenant`` … of the replay's tenant; timestamps become
``now()`` plus the offset they had from the batch's instant. pgbench cannot send COPY data, so a COPY
becomes one ``INSERT … VALUES`` of the same rows.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

PARAM = re.compile(r"%\((\w+)\)s|%%")
ROLE_PREFIXES = ("lead", "enrollment", "message")
CONSTANTS = ("tenant", "sequence", "step", "template")


@dataclass
class Captured:
    """One thing the engine sent to PostgreSQL: ``kind`` is ``sql``, ``copy``, ``begin``, ``commit`` or
    ``rollback``."""

    kind: str
    sql: str = ""
    params: object = None  # a dict (pyformat), or a list of dicts when run as executemany
    table: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)


@dataclass
class IdRoles:
    """What the ids in a captured batch stand for: the k-th (0-based) lead, enrollment or message of the
    batch, a new row's random id, or one of the tenant's constants."""

    numbered: dict[uuid.UUID, tuple[str, int]]  # id -> (role in ROLE_PREFIXES, k)
    message_ids: dict[str, int]  # the Message-ID header -> k
    random: set[uuid.UUID]
    constants: dict[uuid.UUID, str]  # id -> a name in CONSTANTS
    now: datetime


def numbered_expression(role: str, k: int) -> str:
    return f"(':{role}_prefix' || lpad(to_hex(:base + {k + 1}), 12, '0'))::uuid"


def literal(value, roles: IdRoles) -> str:
    """``value`` as SQL text for the replay (see the module's docstring)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return repr(value) if not isinstance(value, Decimal) else str(value)
    if isinstance(value, uuid.UUID):
        return _uuid(value, roles)
    if isinstance(value, datetime):
        seconds = (value - roles.now).total_seconds()
        return "now()" if abs(seconds) < 1e-6 else f"(now() + interval '{seconds:.6f} seconds')"
    if isinstance(value, date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, list | tuple):
        items = [literal(v, roles) for v in value]
        cast = "::uuid[]" if value and all(isinstance(v, uuid.UUID) for v in value) else ""
        return f"ARRAY[{', '.join(items)}]{cast}" if items else "'{}'"
    if isinstance(value, dict):
        return text_literal(json.dumps(value, default=str)) + "::jsonb"
    obj = getattr(value, "obj", None)  # psycopg's Json / Jsonb wrappers
    if obj is not None and type(value).__name__ in ("Json", "Jsonb"):
        return text_literal(json.dumps(obj, default=str)) + "::jsonb"
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, str):
        if value in roles.message_ids:
            k = roles.message_ids[value]
            return f"('<' || ':message_prefix' || lpad(to_hex(:base + {k + 1}), 12, '0') || '@replay.test>')"
        try:
            as_uuid = uuid.UUID(value)
        except ValueError:
            return text_literal(value)
        if as_uuid in roles.numbered or as_uuid in roles.constants or as_uuid in roles.random:
            return _uuid(as_uuid, roles)
        return text_literal(value)
    raise TypeError(f"no SQL literal for a {type(value).__name__}: {value!r}")


def _uuid(value: uuid.UUID, roles: IdRoles) -> str:
    if value in roles.numbered:
        return numbered_expression(*roles.numbered[value])
    if value in roles.constants:
        return f"':{roles.constants[value]}'::uuid"
    if value in roles.random:
        return "gen_random_uuid()"
    return f"'{value}'::uuid"


def text_literal(text: str) -> str:
    """A string constant pgbench leaves alone: an E'' literal with quotes, backslashes and colons escaped
    (a colon followed by a name would be read as a pgbench variable)."""
    escaped = text.replace("\\", "\\\\").replace("'", "''").replace(":", "\\x3a")
    escaped = escaped.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return f"E'{escaped}'"


def render_statement(sql: str, params: dict | None, roles: IdRoles) -> str:
    """A captured statement with its pyformat parameters written in as SQL."""
    params = params or {}

    def substitute(match: re.Match) -> str:
        if match.group(0) == "%%":
            return "%"
        return literal(params[match.group(1)], roles)

    return PARAM.sub(substitute, sql).strip().rstrip(";")


def render_copy(item: Captured, roles: IdRoles) -> str:
    columns = ", ".join(f'"{c}"' for c in item.columns)
    values = ",\n  ".join("(" + ", ".join(literal(v, roles) for v in row) + ")" for row in item.rows)
    return f'INSERT INTO "{item.table}" ({columns}) VALUES\n  {values}'


def pgbench_script(captured: list[Captured], roles: IdRoles, batch: int) -> str:
    """The pgbench script replaying ``captured`` (see the module's docstring); one run is one batch.

    Variables to define (``pgbench -D``): ``per_client`` (batches per client), ``batch``, ``i=0``, the
    prefixes ``lead_prefix``, ``enrollment_prefix``, ``message_prefix`` (20 hex digits each) and the
    constants ``tenant``, ``sequence``, ``step``, ``template``."""
    lines = [
        f"-- The engine's statements for one batch of {batch} due email steps, captured from a run",
        "-- (bench/statement_capture.py); the k-th step of the run-th batch of a client is row :base + k.",
        r"\set base (:client_id * :per_client + :i) * :batch",
        r"\set i :i + 1",
    ]
    in_transaction = False
    for item in captured:
        if item.kind == "begin":
            lines.append("BEGIN;")
            in_transaction = True
        elif item.kind in ("commit", "rollback"):
            if in_transaction:
                lines.append("COMMIT;" if item.kind == "commit" else "ROLLBACK;")
            in_transaction = False
        elif item.kind == "copy":
            lines.append(render_copy(item, roles) + ";")
        elif isinstance(item.params, list):
            lines.extend(render_statement(item.sql, p, roles) + ";" for p in item.params)
        else:
            lines.append(render_statement(item.sql, item.params, roles) + ";")
    if in_transaction:
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def statement_counts(captured: list[Captured]) -> dict[str, int]:
    """How many statements of each kind (first word: SELECT, INSERT …; COPY counted as COPY) and how many
    commits the captured batch made."""
    counts: Counter[str] = Counter()
    for item in captured:
        if item.kind == "sql":
            word = item.sql.lstrip().split(None, 1)[0].upper()
            if word == "WITH":
                word = "WITH (" + _main_verb(item.sql) + ")"
            counts[word] += len(item.params) if isinstance(item.params, list) else 1
        elif item.kind == "copy":
            counts["COPY"] += 1
        elif item.kind == "commit":
            counts["COMMIT"] += 1
    return dict(counts)


def _main_verb(sql: str) -> str:
    found = re.findall(r"\b(INSERT|UPDATE|DELETE|SELECT)\b", sql.upper())
    return found[-1] if found else "SELECT"


# --- capturing (needs the app, a PostgreSQL database and an SMTP sink) ---------------------------------


def capture_batch(app, batch: int, smtp_port: int) -> tuple[list[Captured], IdRoles]:
    """Run one batch of ``batch`` due email steps in this process with every statement recorded; returns the
    record and what its ids stand for. The batch's tenant is deleted afterwards."""
    from bench.due_steps import drop_tenant, numbered_uuid, seed_due_steps
    from nurture_ui import new_rows
    from nurture_ui.engine.dispatcher import claim_due
    from nurture_ui.engine.executor import execute_batch
    from nurture_ui.extensions import db
    from nurture_ui.mailer import send_messages
    from nurture_ui.models import Activity, EmailTemplate, OutboundMessage, SequenceStep

    prefix = uuid.uuid4().hex[:20]
    enrollment_prefix = prefix[:-1] + ("0" if prefix[-1] != "0" else "1")
    captured: list[Captured] = []
    with app.app_context():
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port, SMTP_SECURITY="")
        due = seed_due_steps(batch, id_prefix=prefix, label="capture")
        engine = db.engine
        now = datetime.now(UTC)

        def on_execute(conn, cursor, statement, parameters, context, executemany):
            captured.append(Captured("sql", statement, list(parameters) if executemany else parameters))

        def marker(kind):
            return lambda *args: captured.append(Captured(kind))

        original_copy = new_rows._copy

        def recording_copy(connection, table, rows):
            keys = list(rows[0].keys())
            captured.append(Captured("copy", table=table.name, columns=[table.c[k].name for k in keys],
                                     rows=[[row[k] for k in keys] for row in rows]))  # fmt: skip
            original_copy(connection, table, rows)

        listeners = [("before_cursor_execute", on_execute), ("begin", marker("begin")),
                     ("commit", marker("commit")), ("rollback", marker("rollback"))]  # fmt: skip
        db.session.commit()
        for name, fn in listeners:
            sa.event.listen(engine, name, fn)
        new_rows._copy = recording_copy
        try:
            claimed = claim_due(now, batch, timedelta(seconds=300))
            report = execute_batch([c.id for c in claimed], now, enqueue_send=False)
            sent = send_messages(report.queued_message_ids, now)
            db.session.commit()
        finally:
            new_rows._copy = original_copy
            for name, fn in listeners:
                sa.event.remove(engine, name, fn)
        try:
            if len(claimed) != batch or len(sent.sent) != batch:
                raise RuntimeError(f"the captured batch claimed {len(claimed)} and sent {len(sent.sent)} "
                                   f"of {batch} steps")  # fmt: skip
            numbered = {}
            for k in range(batch):
                numbered[numbered_uuid(prefix, k + 1)] = ("lead", k)
                numbered[numbered_uuid(enrollment_prefix, k + 1)] = ("enrollment", k)
            index = {enrollment: k for enrollment, (role, k) in numbered.items() if role == "enrollment"}
            message_ids = {}
            for message_id, enrollment_id, header in db.session.execute(
                sa.select(
                    OutboundMessage.id, OutboundMessage.enrollment_id, OutboundMessage.message_id
                ).where(OutboundMessage.tenant_id == due.tenant_id)
            ):
                numbered[message_id] = ("message", index[enrollment_id])
                message_ids[header] = index[enrollment_id]
            random = set(
                db.session.scalars(sa.select(Activity.id).where(Activity.tenant_id == due.tenant_id))
            )
            constants = {due.tenant_id: "tenant", due.sequence_id: "sequence"}
            for step_id in db.session.scalars(
                sa.select(SequenceStep.id).where(SequenceStep.tenant_id == due.tenant_id)
            ):
                constants[step_id] = "step"
            for template_id in db.session.scalars(
                sa.select(EmailTemplate.id).where(EmailTemplate.tenant_id == due.tenant_id)
            ):
                constants[template_id] = "template"
            db.session.commit()
        finally:
            drop_tenant(due.tenant_id)
    return captured, IdRoles(numbered, message_ids, random, constants, now)
