"""Sending over real SMTP (a local aiosmtpd server): headers, states, retries, and never twice."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.extensions import db
from nurture_ui.mailer import lead_id_from_token, mark_stuck_sending_unknown, send_messages, unsubscribe_token
from nurture_ui.models import Activity, Lead, OutboundMessage
from tests import factories
from tests.engine.conftest import InspectedSink, enroll


@pytest.fixture
def queued(clock, tenant):
    """One queued message to a lead, not yet sent."""
    factories.make_template(
        tenant, "a", subject="Hi {{ lead.first_name }}", body="Body for {{ lead.company }}"
    )
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    lead = factories.make_lead(tenant, email="ada@example.test", first_name="Ada")
    enroll(lead, sequence, clock.now())
    run_due(clock.now(), send=False)
    return db.session.scalars(sa.select(OutboundMessage)).one()


def status_of(message) -> OutboundMessage:
    db.session.expire_all()
    return db.session.get(OutboundMessage, message.id)


def test_sent_email_carries_message_id_one_click_unsubscribe_and_a_signed_link(
    app, clock, queued, smtp_server
):
    report = send_messages([queued.id], clock.now())
    assert report.sent == [queued.id]
    [email] = smtp_server.messages
    assert email["Message-ID"] == queued.message_id
    assert email["Subject"] == "Hi Ada"
    [to] = email["To"].addresses
    assert (to.display_name, to.addr_spec) == (f"Ada {queued.lead.last_name}", "ada@example.test")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = email["List-Unsubscribe"].strip("<>")
    assert link.startswith(app.config["PUBLIC_URL"] + "/u/")
    assert link in email.get_content()
    assert lead_id_from_token(link.rsplit("/", 1)[1]) == queued.lead_id
    message = status_of(queued)
    assert (message.status, message.sent_at, message.attempts) == ("sent", clock.now(), 1)


def test_a_message_is_sent_once_however_often_its_job_runs(clock, queued, smtp_server):
    send_messages([queued.id], clock.now())
    again = send_messages([queued.id], clock.now())
    assert again.skipped == [queued.id]
    assert len(smtp_server.messages) == 1


def test_transient_failure_retries_with_backoff_then_sends(app, clock, queued, smtp_server):
    smtp_server.replies = ["451 4.3.0 try again later"]
    report = send_messages([queued.id], clock.now())
    assert report.retrying == [queued.id]
    message = status_of(queued)
    assert (message.status, message.attempts) == ("queued", 1) and "451" in message.error

    from nurture_ui import mailer

    enqueued = []
    app_jobs = pytest.MonkeyPatch()
    app_jobs.setattr(
        "nurture_ui.jobs.enqueue_send", lambda ids, now=None, tenant_id=None: enqueued.extend(ids)
    )
    try:
        assert mailer.requeue_stale_queued(clock.now() + timedelta(seconds=10)) == 0
        assert mailer.requeue_stale_queued(clock.now() + timedelta(seconds=31)) == 1
    finally:
        app_jobs.undo()
    assert enqueued == [queued.id]
    send_messages(enqueued, clock.now())
    assert status_of(queued).status == "sent" and len(smtp_server.messages) == 1


def test_permanent_failure_marks_failed_and_the_address_undeliverable(clock, queued, smtp_server):
    smtp_server.replies = ["550 5.1.1 no such user"]
    report = send_messages([queued.id], clock.now())
    assert report.failed == [queued.id]
    message = status_of(queued)
    assert message.status == "failed" and "550" in message.error
    assert db.session.scalars(sa.select(Activity.type).where(Activity.type == "message_failed")).all()


def test_recipient_refused_marks_the_lead_undeliverable(app, clock, queued):
    from aiosmtpd.controller import Controller

    from tests.engine.conftest import free_port

    class RefuseRecipient:
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            return "550 5.1.1 mailbox unavailable"

    controller = Controller(RefuseRecipient(), hostname="127.0.0.1", port=free_port())
    controller.start()
    saved = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = controller.port
    try:
        assert send_messages([queued.id], clock.now()).failed == [queued.id]
    finally:
        app.config["SMTP_PORT"] = saved
        controller.stop()
    assert db.session.get(Lead, queued.lead_id).undeliverable


def test_no_server_is_a_transient_failure(app, clock, queued):
    from tests.engine.conftest import free_port

    saved = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()
    try:
        assert send_messages([queued.id], clock.now()).retrying == [queued.id]
    finally:
        app.config["SMTP_PORT"] = saved


def test_gives_up_after_the_maximum_attempts(app, clock, queued, smtp_server):
    smtp_server.replies = ["451 later"] * 5
    for _ in range(app.config["MAIL_MAX_ATTEMPTS"]):
        send_messages([queued.id], clock.now())
    message = status_of(queued)
    assert message.status == "failed" and "gave up after 5 attempts" in message.error


def test_message_stuck_in_sending_becomes_unknown_and_is_never_resent(clock, queued, smtp_server):
    db.session.execute(
        sa.update(OutboundMessage)
        .where(OutboundMessage.id == queued.id)
        .values(status="sending", updated_at=clock.now())
    )
    db.session.commit()
    assert mark_stuck_sending_unknown(clock.now() + timedelta(minutes=5)) == 0
    assert mark_stuck_sending_unknown(clock.now() + timedelta(minutes=11)) == 1
    assert status_of(queued).status == "unknown"
    assert send_messages([queued.id], clock.now()).skipped == [queued.id]
    assert smtp_server.messages == []


def test_a_lead_marked_do_not_contact_after_queueing_is_not_mailed(clock, queued, smtp_server):
    lead = db.session.get(Lead, queued.lead_id)
    lead.do_not_contact = True
    db.session.commit()
    assert send_messages([queued.id], clock.now()).cancelled == [queued.id]
    assert smtp_server.messages == []


def test_unsubscribe_link_page_confirms_and_post_unsubscribes(app, clock, queued, tenant):
    lead_id = queued.lead_id
    client = app.test_client()
    token = unsubscribe_token(lead_id)
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and b"ada@example.test" in page.data
    assert db.session.get(Lead, lead_id).unsubscribed_at is None

    # RFC 8058 one-click: a bare POST from the mail client, no session, no CSRF token.
    done = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"unsubscribed" in done.data
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).unsubscribed_at == clock.now()
    assert status_of(queued).status == "cancelled"
    assert client.post(f"/u/{token}").status_code == 200


def test_a_forged_unsubscribe_token_is_refused(app, queued):
    client = app.test_client()
    assert client.get("/u/not-a-token").status_code == 404
    assert client.post(f"/u/{unsubscribe_token(queued.lead_id)}x").status_code == 404


@pytest.fixture
def seven_queued(clock, tenant):
    factories.make_template(tenant, "a", subject="Hi {{ lead.first_name }}", body="Body")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    for i in range(7):
        enroll(factories.make_lead(tenant, email=f"lead{i}@example.test"), sequence, clock.now())
    run_due(clock.now(), send=False)
    return list(db.session.scalars(sa.select(OutboundMessage.id).order_by(OutboundMessage.to_email)))


def statuses(ids) -> list[str]:
    db.session.expire_all()
    by_id = {m.id: m.status for m in db.session.scalars(sa.select(OutboundMessage))}
    return [by_id[i] for i in ids]


def test_messages_are_claimed_and_recorded_a_group_at_a_time(
    app, monkeypatch, clock, seven_queued, smtp_server
):
    """Each group's claim commits before any of it is sent; its outcomes commit with the next claim."""
    monkeypatch.setitem(app.config, "MAIL_CLAIM_GROUP", 3)
    commits = []

    def count(connection):
        commits.append(len(smtp_server.messages))

    sa.event.listen(db.engine, "commit", count)
    try:
        report = send_messages(seven_queued, clock.now())
    finally:
        sa.event.remove(db.engine, "commit", count)
    # One claim per group (3, 3, 1), each read and checked in its own transaction and committed before the
    # group went out, then the last outcomes.
    assert commits == [0, 3, 6, 7]
    assert report.sent == seven_queued
    assert statuses(seven_queued) == ["sent"] * 7 and len(smtp_server.messages) == 7
    logged = db.session.scalars(sa.select(Activity).where(Activity.type == "message_sent")).all()
    by_message = {a.data["message"]: a for a in logged}
    assert len(logged) == 7 and set(by_message) == {str(i) for i in seven_queued}
    for message_id in seven_queued:
        message, entry = db.session.get(OutboundMessage, message_id), by_message[str(message_id)]
        assert entry.data == {"step": 1, "message": str(message_id)}
        assert (entry.lead_id, entry.enrollment_id, entry.sequence_id, entry.tenant_id) == (
            message.lead_id,
            message.enrollment_id,
            message.sequence_id,
            message.tenant_id,
        )
        assert entry.occurred_at == message.sent_at and entry.actor_id is None


@pytest.mark.parametrize("server", ["smtp_server", "accepting_pipelining_server"])
def test_a_crash_mid_group_leaves_only_the_message_in_flight_unaccounted(
    app, monkeypatch, clock, seven_queued, server, request
):
    """Accepted messages are recorded, the one in flight stays `sending` (later `unknown`), and the rest of
    its group, never sent, goes back to the outbox: nothing is lost and nothing can go twice. With
    pipelining the crash comes after the next message's MAIL, RCPT and DATA went out behind the previous
    content: the connection is dropped without a QUIT (which the server would read as content), so that
    opened message is never delivered."""
    from nurture_ui import mailer

    smtp_server = request.getfixturevalue(server)

    def delivered() -> int:
        return smtp_server.accepted if server == "accepting_pipelining_server" else len(smtp_server.messages)

    monkeypatch.setitem(app.config, "MAIL_CLAIM_GROUP", 5)
    real_send, calls = mailer.SmtpConnection.send, []

    def send(self, email, **options):
        calls.append(email.recipient)
        if len(calls) == 3:
            raise RuntimeError("the worker's code broke mid-send")
        return real_send(self, email, **options)

    monkeypatch.setattr(mailer.SmtpConnection, "send", send)
    with pytest.raises(RuntimeError):
        send_messages(seven_queued, clock.now())
    assert statuses(seven_queued) == ["sent", "sent", "sending", "queued", "queued", "queued", "queued"]
    assert delivered() == 2
    later = clock.now() + timedelta(seconds=app.config["MAIL_SENDING_STUCK_SECONDS"] + 1)
    assert mark_stuck_sending_unknown(later) == 1
    monkeypatch.setattr(mailer.SmtpConnection, "send", real_send)
    report = send_messages(seven_queued, clock.now())
    assert report.sent == seven_queued[3:]
    assert statuses(seven_queued) == ["sent", "sent", "unknown", "sent", "sent", "sent", "sent"]
    assert delivered() == 6


@pytest.fixture
def pipelining_server(app, monkeypatch):
    """An SMTP server that advertises PIPELINING (the benchmark's sink) and refuses one address."""
    from bench.smtp_sink import serving_in_thread

    inspect = InspectedSink()
    with serving_in_thread(refuse=(b"lead3@example.test",), inspect=inspect) as (server, port):
        monkeypatch.setitem(app.config, "SMTP_PORT", port)
        yield server
    inspect.assert_well_formed()


@pytest.fixture
def accepting_pipelining_server(app, monkeypatch):
    """The benchmark's sink, accepting every address."""
    from bench.smtp_sink import serving_in_thread

    inspect = InspectedSink()
    with serving_in_thread(inspect=inspect) as (server, port):
        monkeypatch.setitem(app.config, "SMTP_PORT", port)
        yield server
    inspect.assert_well_formed()


def test_a_server_offering_pipelining_gets_each_message_in_one_round_trip(
    app, monkeypatch, clock, seven_queued, pipelining_server
):
    """MAIL, RCPT and DATA go in one write, after the previous message's content when there is one; a
    refused recipient fails alone and the session goes on."""
    writes = []
    real_send = smtplib.SMTP.send
    monkeypatch.setattr(smtplib.SMTP, "send", lambda self, data: writes.append(data) or real_send(self, data))
    report = send_messages(seven_queued, clock.now())
    assert len(report.sent) == 6 and len(report.failed) == 1
    assert pipelining_server.accepted == 6
    assert statuses(seven_queued).count("sent") == 6
    [failed] = report.failed
    message = status_of(db.session.get(OutboundMessage, failed))
    assert message.to_email == "lead3@example.test" and "550" in message.error
    assert db.session.get(Lead, message.lead_id).undeliverable
    envelopes = [w for w in writes if isinstance(w, bytes) and w.endswith(b"\r\nDATA\r\n")]
    assert len(envelopes) == 7 and all(b"MAIL FROM:" in w and b"\r\nRCPT TO:<lead" in w for w in envelopes)
    # Alone: the first message's, and the one after the refused recipient (its session was reset).
    alone = [w for w in envelopes if w.startswith(b"MAIL FROM:")]
    assert [w.split(b"RCPT TO:<")[1].split(b">")[0] for w in alone] == [
        b"lead0@example.test",
        b"lead4@example.test",
    ]
    # The other five ride on the previous message's content: one write, one round trip a message.
    assert all(b"\r\n.\r\nMAIL FROM:" in w for w in envelopes if w not in alone)


def test_with_parallel_connections_a_group_is_spread_over_them_and_each_message_goes_once(
    app, monkeypatch, clock, seven_queued, pipelining_server
):
    """MAIL_SMTP_CONNECTIONS=3: each group's emails go over three sessions at once, a refused recipient
    still fails alone, and every other message is sent exactly once and recorded."""
    monkeypatch.setitem(app.config, "MAIL_SMTP_CONNECTIONS", 3)
    monkeypatch.setitem(app.config, "MAIL_CLAIM_GROUP", 4)
    opened = []
    real_open = smtplib.SMTP.connect
    monkeypatch.setattr(
        smtplib.SMTP, "connect", lambda self, *a, **k: opened.append(1) or real_open(self, *a, **k)
    )
    report = send_messages(seven_queued, clock.now())
    assert len(report.sent) == 6 and len(report.failed) == 1
    assert sorted(report.sent + report.failed) == sorted(seven_queued)
    assert pipelining_server.accepted == 6
    assert statuses(seven_queued).count("sent") == 6
    assert len(opened) == 3  # one session per lane, kept for the whole job
    logged = db.session.scalars(sa.select(Activity).where(Activity.type == "message_sent")).all()
    assert len(logged) == 6


@pytest.mark.parametrize("lanes", [1, 3])
def test_a_crash_in_one_lane_leaves_the_unreached_messages_queued(
    app, monkeypatch, clock, seven_queued, lanes
):
    """With one lane or several, a message in flight when a lane breaks stays `sending`, messages no lane
    reached go back to `queued`, and the accepted ones are recorded."""
    from bench.smtp_sink import serving_in_thread
    from nurture_ui import mailer

    monkeypatch.setitem(app.config, "MAIL_SMTP_CONNECTIONS", lanes)
    monkeypatch.setitem(app.config, "MAIL_CLAIM_GROUP", 7)
    real_send = mailer.SmtpConnection.send
    broken = "lead2@example.test"

    def send(self, email, **options):
        if email.recipient == broken:
            raise RuntimeError("the worker's code broke mid-send")
        return real_send(self, email, **options)

    monkeypatch.setattr(mailer.SmtpConnection, "send", send)
    with serving_in_thread() as (server, port):
        monkeypatch.setitem(app.config, "SMTP_PORT", port)
        with pytest.raises(RuntimeError):
            send_messages(seven_queued, clock.now())
    found = statuses(seven_queued)
    assert found[2] == "sending"
    assert found.count("sent") == server.accepted
    if lanes == 1:
        assert found == ["sent", "sent", "sending", "queued", "queued", "queued", "queued"]
    else:
        # Lane 2 (messages 2 and 5) broke at its first; lanes 0 and 1 went on to their ends.
        assert found == ["sent", "sent", "sending", "sent", "sent", "queued", "sent"]


def test_an_email_goes_out_from_the_given_sender_with_a_signed_reply_to(app, clock, queued):
    from nurture_ui.mail.reply_tokens import message_row_id_from_address
    from nurture_ui.mailer import compose_email, wire_email

    email = wire_email(queued, now=clock.now(), sender=("Rita Rep", "rita@sales.example.test"))
    assert email.sender == "rita@sales.example.test"
    parsed = compose_email(queued, now=clock.now())  # the default: the app's MAIL_FROM
    assert parsed["From"].addresses[0].addr_spec == "nurture@localhost"
    assert message_row_id_from_address(parsed["Reply-To"].addresses[0].addr_spec) == queued.id
    from email import message_from_bytes, policy

    parsed = message_from_bytes(email.data, policy=policy.default)
    [author] = parsed["From"].addresses
    assert (author.display_name, author.addr_spec) == ("Rita Rep", "rita@sales.example.test")
    reply_to = parsed["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("rita+r") and reply_to.endswith("@sales.example.test")
    assert message_row_id_from_address(reply_to) == queued.id


def test_a_preview_of_an_outbox_row_names_its_lead_in_to(app, clock, queued):
    from nurture_ui.mailer import compose_email

    [to] = compose_email(queued, now=clock.now())["To"].addresses
    assert (to.display_name, to.addr_spec) == (queued.lead.name, "ada@example.test")


class GoodbyeHeldServer:
    """One SMTP session on a free 127.0.0.1 port that accepts every message and answers QUIT only once the
    test lets it (``goodbye``), or after ``hold`` seconds."""

    def __init__(self, hold: float = 10):
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.goodbye = threading.Event()
        self.quit_seen = threading.Event()
        self.goodbye_sent = threading.Event()
        self.messages = 0
        self.hold = hold
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 held.test ESMTP\r\n")
            for line in lines:
                command = line.strip().upper()
                if command.startswith((b"EHLO", b"HELO")):
                    connection.sendall(b"250 held.test\r\n")
                elif command == b"DATA":
                    connection.sendall(b"354 go on\r\n")
                    for content in lines:
                        if content == b".\r\n":
                            break
                    self.messages += 1
                    connection.sendall(b"250 queued\r\n")
                elif command == b"QUIT":
                    self.quit_seen.set()
                    self.goodbye.wait(self.hold)
                    connection.sendall(b"221 bye\r\n")
                    self.goodbye_sent.set()
                    return
                else:
                    connection.sendall(b"250 ok\r\n")


def test_the_job_does_not_wait_for_the_servers_answer_to_quit(app, monkeypatch, clock, queued):
    """Debian's exim answers QUIT about 200 ms late; a send job records its outcomes and returns without
    waiting for that answer, and the QUIT is still said (and its answer read) in the background."""
    server = GoodbyeHeldServer()
    monkeypatch.setitem(app.config, "SMTP_PORT", server.port)
    report = send_messages([queued.id], clock.now())
    assert report.sent == [queued.id] and server.messages == 1
    assert status_of(queued).status == "sent"
    assert not server.goodbye_sent.is_set()  # the job came back while the server still held its goodbye
    assert server.quit_seen.wait(5)  # the connection is closed politely all the same
    server.goodbye.set()
    assert server.goodbye_sent.wait(5)
    server.thread.join(5)
    server.listener.close()
