"""Generate a realistic data set fast: N leads across statuses, bands, segments, owners and time zones,
sequences, and past activities (10 per lead), loaded with PostgreSQL COPY (bulk inserts on SQLite).

    .venv/bin/python -m bench.generate --leads 100000 [--activities-per-lead 10] [--sequences 5]

Prints what it made and how long it took. Uses DATABASE_URL like the app; makes a new tenant each run.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from nurture_ui import create_app
from nurture_ui.extensions import db
from nurture_ui.models import EmailTemplate, Sequence, SequenceStep, Tenant, User

STATUSES = (("new", 35), ("contacted", 25), ("qualified", 20), ("converted", 10), ("disqualified", 10))
BANDS = (("cold", 40), ("warm", 40), ("hot", 20))
SEGMENTS = ("SMB", "Mid-market", "Enterprise")
ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    None,
)
ACTIVITY_TYPES = (
    "nurture_enrolled",
    "nurture_step_scheduled",
    "nurture_step_executed",
    "message_sent",
    "lead_updated",
    "nurture_paused",
    "nurture_resumed",
    "nurture_exited",
)


def _weighted(rng, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)


def make_tenant_with_team(label: str, reps: int = 10) -> tuple[Tenant, list[User]]:
    tenant = Tenant(name=f"Bench {label}", slug=f"bench-{label}-{uuid.uuid4().hex[:6]}", policy={})
    db.session.add(tenant)
    db.session.flush()
    users = []
    password_hash = "scrypt:32768:8:1$bench$0"  # never used to sign in
    for i in range(reps):
        users.append(
            User(
                tenant_id=tenant.id,
                email=f"rep{i}.{tenant.slug}@bench.test",
                name=f"Rep {i}",
                role="rep",
                password_hash=password_hash,
            )
        )
    users.append(
        User(
            tenant_id=tenant.id,
            email=f"admin.{tenant.slug}@bench.test",
            name="Admin",
            role="admin",
            password_hash=password_hash,
        )
    )
    db.session.add_all(users)
    db.session.commit()
    return tenant, users


def make_sequences(tenant: Tenant, creator: User, count: int) -> list[Sequence]:
    db.session.add(
        EmailTemplate(
            tenant_id=tenant.id,
            key="intro",
            name="Intro",
            subject="Hi {{ lead.first_name }}",
            body="Hello {{ lead.first_name }} at {{ lead.company }}",
            pre_approved=True,
        )
    )
    sequences = []
    for i in range(count):
        sequence = Sequence(
            tenant_id=tenant.id,
            name=f"Bench sequence {i + 1}",
            status="active",
            priority=10 * (i + 1),
            created_by=creator.id,
            entry_rules={"all": [{"field": "segment", "op": "eq", "value": SEGMENTS[i % len(SEGMENTS)]}]}
            if i < count - 1
            else {},
        )
        sequence.steps = [
            SequenceStep(
                tenant_id=tenant.id, step_order=1, channel="email", delay_hours=0, template_id="intro"
            ),
            SequenceStep(
                tenant_id=tenant.id, step_order=2, channel="email", delay_hours=72, template_id="intro"
            ),
        ]
        sequences.append(sequence)
    db.session.add_all(sequences)
    db.session.commit()
    return sequences


def _lead_rows(tenant_id, owners, n, rng, now):
    for i in range(n):
        band = _weighted(rng, BANDS)[0]
        score = {"cold": rng.randint(0, 39), "warm": rng.randint(40, 74), "hot": rng.randint(75, 100)}[band]
        created = now - timedelta(days=rng.randint(0, 365), seconds=rng.randint(0, 86399))
        yield (
            uuid.uuid4(),
            tenant_id,
            f"lead{i}.{uuid.uuid4().hex[:8]}@bench.test",
            f"First{i % 997}",
            f"Last{i % 1009}",
            f"Company {i % 5000}",
            "Buyer",
            "",
            _weighted(rng, STATUSES)[0],
            score,
            band,
            rng.choice(SEGMENTS),
            rng.choice(owners) if rng.random() < 0.9 else None,
            rng.choice(ZONES),
            rng.random() < 0.02,
            None,
            False,
            None,
            created,
            created,
        )


LEAD_COLUMNS = (
    "id",
    "tenant_id",
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "status",
    "score",
    "score_band",
    "segment",
    "owner_id",
    "timezone",
    "do_not_contact",
    "unsubscribed_at",
    "undeliverable",
    "last_engaged_at",
    "created_at",
    "updated_at",
)
ACTIVITY_COLUMNS = (
    "id",
    "tenant_id",
    "type",
    "lead_id",
    "enrollment_id",
    "sequence_id",
    "actor_id",
    "occurred_at",
    "data",
)


def vacuum_analyze(*tables: str) -> None:
    """What autovacuum does after a bulk load, now (PostgreSQL; nothing elsewhere): statistics, hint bits
    and the visibility map, so a timed run does not pay the first read of every freshly loaded page."""
    if db.engine.dialect.name != "postgresql":
        return
    db.session.commit()
    connection = db.session.connection().connection.driver_connection
    connection.commit()
    connection.autocommit = True
    try:
        for table in tables:
            connection.execute(f"VACUUM ANALYZE {table}")
    finally:
        connection.autocommit = False


def _copy(table: str, columns, rows) -> None:
    """COPY rows into a PostgreSQL table through psycopg, streaming."""
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load(n_leads: int, activities_per_lead: int = 10, n_sequences: int = 5, seed: int = 7) -> dict:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    tenant, users = make_tenant_with_team(str(n_leads))
    owners = [u.id for u in users if u.role == "rep"]
    sequences = make_sequences(tenant, users[-1], n_sequences)
    # Read ids now: touching an expired ORM attribute mid-COPY would issue a query and wait forever.
    tenant_id = tenant.id
    sequence_ids = [s.id for s in sequences]
    lead_ids: list[uuid.UUID] = []

    def leads():
        for row in _lead_rows(tenant_id, owners, n_leads, rng, now):
            lead_ids.append(row[0])
            yield row

    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        _copy("leads", LEAD_COLUMNS, leads())
    else:
        batch = []
        for row in leads():
            batch.append(dict(zip(LEAD_COLUMNS, row, strict=True)))
            if len(batch) == 5000:
                db.session.execute(sa.insert(db.metadata.tables["leads"]), batch)
                batch = []
        if batch:
            db.session.execute(sa.insert(db.metadata.tables["leads"]), batch)
    leads_done = time.perf_counter()

    def activities():
        for lead_id in lead_ids:
            for k in range(activities_per_lead):
                kind = ACTIVITY_TYPES[k % len(ACTIVITY_TYPES)]
                yield (
                    uuid.uuid4(),
                    tenant_id,
                    kind,
                    lead_id,
                    None,
                    None,
                    None,
                    now - timedelta(days=rng.randint(30, 400), seconds=k),
                    json.dumps({"step": 1 + k % 3}),
                )

    if activities_per_lead:
        if postgres:
            _copy("activities", ACTIVITY_COLUMNS, activities())
        else:
            batch = []
            for row in activities():
                values = dict(zip(ACTIVITY_COLUMNS, row, strict=True))
                values["data"] = json.loads(values["data"])
                batch.append(values)
                if len(batch) == 10000:
                    db.session.execute(sa.insert(db.metadata.tables["activities"]), batch)
                    batch = []
            if batch:
                db.session.execute(sa.insert(db.metadata.tables["activities"]), batch)
    db.session.commit()
    if postgres:
        db.session.execute(sa.text("ANALYZE leads"))
        db.session.execute(sa.text("ANALYZE activities"))
        db.session.commit()
    finished = time.perf_counter()
    return {
        "tenant_id": tenant_id,
        "sequence_ids": sequence_ids,
        "leads": n_leads,
        "activities": n_leads * activities_per_lead,
        "leads_seconds": round(leads_done - started, 2),
        "total_seconds": round(finished - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=int, default=10)
    parser.add_argument("--sequences", type=int, default=5)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        from nurture_ui.cli import upgrade_database

        upgrade_database()
        result = load(args.leads, args.activities_per_lead, args.sequences)
    print(
        json.dumps(
            {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in result.items() if k != "sequence_ids"}
        )
    )


if __name__ == "__main__":
    main()
