"""Auto-enrollment at scale: N leads against five active sequences, one set-based run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/nurture_bench .venv/bin/python -m bench.bench_enroll --leads 100000

Generates the data (bench/generate.py), then times `auto_enroll` for that tenant and prints a JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import sqlalchemy as sa

from bench.generate import load
from nurture_ui import create_app
from nurture_ui.cli import upgrade_database
from nurture_ui.enrollment import auto_enroll
from nurture_ui.extensions import db
from nurture_ui.models import Activity, Enrollment


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=int, default=0)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        upgrade_database()
        data = load(args.leads, activities_per_lead=args.activities_per_lead, n_sequences=5)
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
        print(
            json.dumps(
                {
                    "benchmark": "auto_enroll",
                    "database": db.engine.dialect.name,
                    "leads": args.leads,
                    "sequences": 5,
                    "enrolled": enrolled,
                    "enrollments_in_db": live,
                    "enrolled_activities": activities,
                    "seconds": round(seconds, 2),
                    "generate_seconds": data["total_seconds"],
                }
            )
        )


if __name__ == "__main__":
    main()
