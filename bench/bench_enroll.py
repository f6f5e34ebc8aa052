"""Auto-enrollment at scale: N leads against five active sequences, one set-based run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/nurture_bench .venv/bin/python -m bench.bench_enroll \
        --leads 100000 [--leads 1000000] [--json results.json]

For each size: generates the data (bench/generate.py: the leads and five active sequences, four with an
entry rule on the segment and one catch-all), vacuums it as autovacuum would after a bulk load, times `auto_enroll` for that tenant, prints a JSON line and
deletes the tenant (its enrollments are due: a later engine benchmark must not find them).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sqlalchemy as sa

from bench.due_steps import drop_tenant
from bench.generate import load, vacuum_analyze
from nurture_ui import create_app
from nurture_ui.cli import upgrade_database
from nurture_ui.enrollment import auto_enroll
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment, Sequence


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--leads", type=int, action="append", help="leads to enroll (repeat for several sizes)"
    )
    parser.add_argument("--activities-per-lead", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    app = create_app()
    results = []
    with app.app_context():
        upgrade_database()
        for leads in args.leads or [100_000]:
            results.append(enroll_once(leads, args.activities_per_lead))
            print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def enroll_once(leads: int, activities_per_lead: int) -> dict:
    """Generate ``leads`` leads and five active sequences, time one ``auto_enroll`` run, delete them."""
    data = load(leads, activities_per_lead=activities_per_lead, n_sequences=5)
    # As autovacuum leaves a table after a bulk load: without it the run also pays the first touch of every
    # freshly loaded page (hint bits), which a real database's leads paid long before.
    vacuum_analyze("leads", "lead_nurture_enrollments", "activities", "lead_replies", "outbound_messages")
    try:
        active = db.session.scalar(
            sa.select(sa.func.count(Sequence.id)).where(
                Sequence.tenant_id == data["tenant_id"], Sequence.status == "active"
            )
        )
        if active != 5:
            raise SystemExit(f"bench_enroll expects five active sequences, found {active}")
        started = time.perf_counter()
        counts = auto_enroll(tenant_id=data["tenant_id"])
        seconds = time.perf_counter() - started
        enrolled = sum(counts.values())
        activities = db.session.scalar(
            sa.select(sa.func.count(Activity.id)).where(
                Activity.tenant_id == data["tenant_id"], Activity.type == "nurture_enrolled"
            )
        )
        live = db.session.scalar(
            sa.select(sa.func.count(Enrollment.id)).where(Enrollment.tenant_id == data["tenant_id"])
        )
    finally:
        drop_tenant(data["tenant_id"])
    return {
        "benchmark": "auto_enroll",
        "database": db.engine.dialect.name,
        "leads": leads,
        "sequences": active,
        "enrolled": enrolled,
        "enrollments_in_db": live,
        "enrolled_activities": activities,
        "seconds": round(seconds, 2),
        "generate_seconds": data["total_seconds"],
    }


if __name__ == "__main__":
    main()
