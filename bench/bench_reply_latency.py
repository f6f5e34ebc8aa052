"""Reply → exit latency through the real pieces: dovecot + exim (tests/mail_servers.py), the real scheduler
(`worker.py cron`) and worker (`worker.py`) with MAILBOX_POLL_SECONDS=N. For each of a few leads in a live
enrollment, a positive reply is sent through exim into the team's mailbox; the clock starts when dovecot
shows it in the folder and stops when the enrollment is exited.

    DATABASE_URL=postgresql://… REDIS_URL=redis://… python bench/bench_reply_latency.py --poll-seconds 5 --replies 5

The database's tables are dropped and rebuilt (as the tests do): point it at a scratch database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration import mailbox_helpers  # noqa: E402
from tests.mail_servers import MAIL_DOMAIN, start_mail_servers  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--poll-seconds", type=int, default=5)
    parser.add_argument("--replies", type=int, default=5)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        parser.error("set DATABASE_URL and REDIS_URL (a scratch database: its tables are rebuilt)")

    servers = start_mail_servers()
    instance = tempfile.mkdtemp(prefix="nurture-latency-")
    env = {
        **os.environ,
        "NURTURE_INSTANCE_PATH": instance,
        "SECRET_KEY": "reply-latency-bench",
        "MAILBOX_POLL_SECONDS": str(args.poll_seconds),
        "MAIL_CA_FILE": str(servers.ca_file),
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update({k: env[k] for k in ("NURTURE_INSTANCE_PATH", "SECRET_KEY", "MAIL_CA_FILE")})
    processes: list[subprocess.Popen] = []
    try:
        app, team, enrollments = _prepare(servers, args.replies)
        for command in (["cron"], []):
            processes.append(subprocess.Popen([sys.executable, str(ROOT / "worker.py"), *command], env=env))
        time.sleep(2)  # both up before the first reply
        latencies = []
        with app.app_context():
            for number, (lead_email, enrollment_id) in enumerate(enrollments, start=1):
                latencies.append(_one_reply(servers, team, lead_email, enrollment_id, number))
                print(f"reply {number}: {latencies[-1]:.2f} s", flush=True)
        print(
            f"MAILBOX_POLL_SECONDS={args.poll_seconds}: reply landed → enrollment exited over {len(latencies)} "
            f"replies: p50 {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s, "
            f"min {min(latencies):.2f} s"
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        servers.stop()
    return 0


def _prepare(servers, count: int):
    import sqlalchemy as sa

    from nurture_ui import create_app
    from nurture_ui.cli import upgrade_database
    from nurture_ui.extensions import db
    from tests import factories

    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"]})
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade_database()
        tenant = factories.make_tenant()
        team = mailbox_helpers.connect_team_mailbox(tenant, servers)
        sequence = factories.make_sequence(
            tenant, status="active", steps=[{"channel": "email", "delay_hours": 24 * 30}]
        )
        enrollments = []
        for number in range(count):
            lead = factories.make_lead(tenant, email=f"lead{number}@{MAIL_DOMAIN}")
            enrollments.append((lead.email, factories.make_enrollment(lead, sequence).id))
        team_address = team.address
        db.session.expunge_all()
    return app, team_address, enrollments


def _one_reply(servers, team: str, lead_email: str, enrollment_id, number: int) -> float:
    from nurture_ui.extensions import db
    from nurture_ui.models import Enrollment

    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = lead_email, team, "Re: our call"
    reply["Message-ID"] = make_msgid(domain=MAIL_DOMAIN)
    reply.set_content("Yes, interested! Let's talk on Thursday.")
    mailbox_helpers.send_through_exim(servers, reply, lead_email, [team])
    mailbox_helpers.wait_for_messages(servers, team, number, seconds=30)
    landed = time.monotonic()
    while time.monotonic() - landed < 120:
        db.session.expire_all()
        if db.session.get(Enrollment, enrollment_id).status == "exited":
            db.session.rollback()
            return time.monotonic() - landed
        db.session.rollback()
        time.sleep(0.05)
    raise RuntimeError(f"enrollment {enrollment_id} did not exit within 120 s of its reply landing")


if __name__ == "__main__":
    sys.exit(main())
