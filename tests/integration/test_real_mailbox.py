"""Replies and bounces read from a real mailbox: the engine's email goes through a real exim into the lead's
real dovecot mailbox, the lead replies through exim into the team's mailbox, the poller reads it over IMAPS
(verified against the test CA), and the enrollment exits. Bounces are exim's own, for a user it does not
have. Runs on SQLite and PostgreSQL alike; skips when dovecot/exim are not installed (`make test-deps`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from nurture_ui import create_app
from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.jobs import dispatch_due_job
from nurture_ui.mail import imap_poll
from nurture_ui.mail.imap_poll import poll_mailbox
from nurture_ui.models import Enrollment, InboundMail, Lead, LeadReply, Mailbox
from tests import factories
from tests.engine.conftest import enroll
from tests.integration.mailbox_helpers import (
    connect_team_mailbox,
    reply_to,
    send_through_exim,
    unique_address,
    wait_for_messages,
)
from tests.mail_servers import MAIL_DOMAIN

# The first email goes out on a Tuesday morning (inside the send window); replies arrive when they arrive.
SENT_AT = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def queue(app):
    queue = get_queue()
    queue.empty()
    yield queue
    queue.empty()


@pytest.fixture
def team(app, tenant, mail_servers):
    """The team's mailbox (read over IMAPS) and the app sending through exim From that address."""
    mailbox = connect_team_mailbox(tenant, mail_servers)
    saved = {key: app.config.get(key) for key in ("SMTP_HOST", "SMTP_PORT", "MAIL_FROM", "MAIL_CA_FILE")}
    app.config.update(
        SMTP_HOST=mail_servers.host,
        SMTP_PORT=mail_servers.smtp_port,
        MAIL_FROM=f"Team <{mailbox.address}>",
        MAIL_CA_FILE=str(mail_servers.ca_file),
    )
    yield mailbox
    app.config.update(saved)


def work(queue) -> None:
    SimpleWorker([queue], connection=get_redis()).work(burst=True, logging_level="WARNING")
    assert queue.failed_job_registry.count == 0


def send_first_step(tenant, queue, lead_address: str) -> tuple[Lead, Enrollment]:
    """A two-email sequence; the first email goes out through the real RQ worker and exim."""
    factories.make_template(tenant, "intro", subject="Quick question, {{ lead.first_name }}")
    factories.make_template(tenant, "follow-up", subject="Following up")
    sequence = factories.make_sequence(
        tenant,
        status="active",
        steps=[
            {"channel": "email", "template_id": "intro", "delay_hours": 0},
            {"channel": "email", "template_id": "follow-up", "delay_hours": 72},
        ],
    )
    lead = factories.make_lead(tenant, email=lead_address, first_name="Ada")
    enrollment = enroll(lead, sequence, now=SENT_AT)
    queue.enqueue(dispatch_due_job, SENT_AT.isoformat())
    work(queue)
    return lead, enrollment


def lead_replies(mail_servers, lead_address: str, text: str, count: int = 1) -> None:
    """The lead answers the email in its mailbox, through exim."""
    received = wait_for_messages(mail_servers, lead_address, count)[count - 1]
    reply = reply_to(received, lead_address, text)
    send_through_exim(mail_servers, reply, lead_address, [str(reply["To"]).split("<")[-1].rstrip(">")])


def reload(row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


def test_positive_reply_through_real_mail_exits_before_the_next_email(team, tenant, queue, mail_servers):
    lead_address = mail_servers.add_user(unique_address("lead"))
    lead, enrollment = send_first_step(tenant, queue, lead_address)
    lead_replies(mail_servers, lead_address, "Yes, interested! Let's talk on Thursday.")
    wait_for_messages(mail_servers, team.address, 1)

    report = poll_mailbox(team.id)

    assert (report.status, report.read, report.error) == ("read", 1, None)
    enrollment = reload(enrollment)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "positive_reply")
    inbound = db.session.scalars(sa.select(InboundMail)).one()
    assert (inbound.kind, inbound.matched_by, inbound.lead_id) == ("reply", "in_reply_to", lead.id)
    mailbox = reload(team)
    assert mailbox.last_uid == 1 and mailbox.uidvalidity and mailbox.last_error is None


def test_opt_out_reply_through_real_mail_unsubscribes_the_lead(team, tenant, queue, mail_servers):
    lead_address = mail_servers.add_user(unique_address("lead"))
    lead, enrollment = send_first_step(tenant, queue, lead_address)
    lead_replies(mail_servers, lead_address, "Please remove me from your list.")
    wait_for_messages(mail_servers, team.address, 1)

    poll_mailbox(team.id)

    assert reload(lead).unsubscribed_at is not None
    assert reload(enrollment).status == "exited"


def test_real_bounce_for_a_missing_user_marks_the_lead_undeliverable(team, tenant, queue, mail_servers):
    # No dovecot user for this address: exim accepts the mail, fails to route it, and bounces it (a DSN)
    # to the envelope sender, the team's mailbox.
    lead, enrollment = send_first_step(tenant, queue, unique_address("nobody"))
    bounce = wait_for_messages(mail_servers, team.address, 1)[0]
    assert b"multipart/report" in bounce and b"delivery-status" in bounce

    poll_mailbox(team.id)

    assert reload(lead).undeliverable is True
    assert (reload(enrollment).status, reload(enrollment).exit_reason) == ("exited", "bounced")
    assert db.session.scalars(sa.select(InboundMail.kind)).all() == ["bounce"]


def test_polling_twice_records_each_reply_once(team, tenant, queue, mail_servers):
    lead_address = mail_servers.add_user(unique_address("lead"))
    send_first_step(tenant, queue, lead_address)
    lead_replies(mail_servers, lead_address, "Sounds good, send me the details.")
    wait_for_messages(mail_servers, team.address, 1)

    first, second = poll_mailbox(team.id), poll_mailbox(team.id)

    assert (first.read, second.read) == (1, 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMail)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadReply)) == 1


def test_two_workers_polling_at_once_record_each_reply_once(app, team, tenant, queue, mail_servers):
    lead_address = mail_servers.add_user(unique_address("lead"))
    send_first_step(tenant, queue, lead_address)
    lead_replies(mail_servers, lead_address, "Interested, call me.")
    wait_for_messages(mail_servers, team.address, 1)
    reports = []
    start = threading.Barrier(2)

    def worker():
        with app.app_context():
            start.wait()
            reports.append(poll_mailbox(team.id))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(report.read for report in reports) == [0, 1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMail)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadReply)) == 1


def test_a_restart_between_polls_loses_no_reply(app, team, tenant, queue, mail_servers):
    lead_address = mail_servers.add_user(unique_address("lead"))
    send_first_step(tenant, queue, lead_address)
    for number in (1, 2):
        note = EmailMessage()
        note["From"], note["To"], note["Subject"] = lead_address, team.address, f"note {number}"
        note["Message-ID"] = make_msgid(domain=MAIL_DOMAIN)
        note.set_content(f"A question about pricing, number {number}.")
        send_through_exim(mail_servers, note, lead_address, [team.address])
        wait_for_messages(mail_servers, team.address, number)
        if number == 1:
            assert poll_mailbox(team.id).read == 1

    # A new app (as a restarted worker would make) knows only what the database says.
    restarted = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
        }
    )
    restarted.config.update(MAIL_CA_FILE=str(mail_servers.ca_file), SECRET_KEY=app.config["SECRET_KEY"])
    with restarted.app_context():
        report = poll_mailbox(team.id)
        db.session.remove()

    assert (report.read, report.last_uid) == (1, 2)
    subjects = db.session.scalars(sa.select(InboundMail.subject).order_by(InboundMail.subject)).all()
    assert subjects == ["note 1", "note 2"]


def test_a_crash_mid_poll_rereads_the_unrecorded_message(team, tenant, queue, mail_servers, monkeypatch):
    lead_address = mail_servers.add_user(unique_address("lead"))
    send_first_step(tenant, queue, lead_address)
    for number in (1, 2):
        note = EmailMessage()
        note["From"], note["To"], note["Subject"] = lead_address, team.address, f"note {number}"
        note.set_content(f"Message {number}.")
        send_through_exim(mail_servers, note, lead_address, [team.address])
        wait_for_messages(mail_servers, team.address, number)
    from nurture_ui.mail import receive as receive_module

    real_receive = receive_module.receive

    def crash_on_the_second(raw, **kwargs):
        if b"note 2" in raw:
            raise RuntimeError("worker killed")
        return real_receive(raw, **kwargs)

    monkeypatch.setattr(receive_module, "receive", crash_on_the_second)
    crashed = poll_mailbox(team.id)
    assert (crashed.status, crashed.read) == ("error", 1)
    assert "UID 2" in reload(team).last_error and reload(team).last_uid == 1

    monkeypatch.setattr(receive_module, "receive", real_receive)
    recovered = poll_mailbox(team.id)

    assert (recovered.status, recovered.read) == ("read", 1)
    assert reload(team).last_error is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMail)) == 2


def test_a_changed_uidvalidity_reads_the_folder_again_without_double_recording(
    team, tenant, queue, mail_servers
):
    lead_address = mail_servers.add_user(unique_address("lead"))
    send_first_step(tenant, queue, lead_address)
    lead_replies(mail_servers, lead_address, "Yes please, tell me more.")
    wait_for_messages(mail_servers, team.address, 1)
    poll_mailbox(team.id)
    # The server renumbered the folder (a restore, a migration): the stored position means nothing now.
    db.session.execute(sa.update(Mailbox).where(Mailbox.id == team.id).values(uidvalidity=1, last_uid=999))
    db.session.commit()

    report = poll_mailbox(team.id)

    assert report.uidvalidity_reset and report.read == 1
    mailbox = reload(team)
    assert mailbox.uidvalidity != 1 and mailbox.last_uid == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMail)) == 1


def test_wrong_password_is_recorded_on_the_mailbox_and_the_next_one_is_still_read(team, tenant, mail_servers):
    from nurture_ui.secret_box import seal

    broken = connect_team_mailbox(tenant, mail_servers, imap_secret=seal("wrong"))
    note = EmailMessage()
    note["From"], note["To"], note["Subject"] = "someone@mail.test", team.address, "hello"
    note.set_content("Hello.")
    send_through_exim(mail_servers, note, "someone@mail.test", [team.address])
    wait_for_messages(mail_servers, team.address, 1)

    reports = {report.mailbox_id: report for report in imap_poll.poll_due_mailboxes()}

    assert reports[broken.id].status == "error"
    assert "authentication failed" in reload(broken).last_error
    assert (reports[team.id].status, reports[team.id].read) == ("read", 1)


def test_an_unverifiable_certificate_is_refused_with_a_clear_error(app, team):
    app.config["MAIL_CA_FILE"] = None  # the system CAs do not know the test CA

    report = poll_mailbox(team.id)

    assert report.status == "error" and "did not verify" in report.error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMail)) == 0
