"""Right before SMTP: the lead and its enrollment checked again, the frequency cap measured at that moment, and
emails sent as the lead's owner from their mailbox, spread by its spacing and daily limit (issue 15)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from nurture_ui.engine.presend import group_facts, refusal_of
from nurture_ui.engine.replay import run_due
from nurture_ui.engine.stops import send_refusal
from nurture_ui.extensions import db, get_queue
from nurture_ui.mail.reply_tokens import message_row_id_from_address
from nurture_ui.mailer import requeue_stale_queued, send_messages
from nurture_ui.models import Activity, Enrollment, LeadReply, Mailbox, OutboundMessage, Sequence
from nurture_ui.secret_box import seal
from tests import factories
from tests.engine.conftest import STOPS, CollectingHandler, enroll, free_port


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def fresh(message) -> OutboundMessage:
    db.session.expire_all()
    return db.session.get(OutboundMessage, message.id)


def activities(kind: str) -> list[Activity]:
    return db.session.scalars(
        sa.select(Activity).where(Activity.type == kind).order_by(Activity.occurred_at)
    ).all()


@pytest.fixture
def two_steps(tenant):
    factories.make_template(tenant, "a", subject="Hello {{ lead.first_name }}", body="Body")
    factories.make_template(tenant, "b", subject="Again", body="Body")
    return factories.make_sequence(
        tenant,
        status="active",
        steps=[{"template_id": "a"}, {"template_id": "b", "delay_hours": 72}],
    )


def queue_first_email(lead, sequence, now) -> OutboundMessage:
    enrollment = enroll(lead, sequence, now)
    run_due(now, send=False)
    return db.session.scalars(
        sa.select(OutboundMessage).where(OutboundMessage.enrollment_id == enrollment.id)
    ).one()


# --- A: the stop decision right before SMTP ----------------------------------------------------------

STOPS_BEFORE_SEND = {**STOPS, "undeliverable": lambda lead: setattr(lead, "undeliverable", True)}


@pytest.mark.parametrize("stop", sorted(STOPS_BEFORE_SEND))
def test_a_stop_between_queue_and_send_cancels_the_email_and_it_never_reaches_smtp(
    clock, tenant, two_steps, smtp_server, stop
):
    lead = factories.make_lead(tenant)
    message = queue_first_email(lead, two_steps, clock.now())
    clock.advance(minutes=1)
    STOPS_BEFORE_SEND[stop](lead)  # straight on the row: no signal ran to cancel the email
    db.session.commit()

    report = send_messages([message.id])

    assert report.cancelled == [message.id] and report.sent == []
    assert smtp_server.messages == []
    assert fresh(message).status == "cancelled"
    [cancelled] = activities("message_cancelled")
    assert cancelled.data["reason"] == stop and cancelled.data["message"] == str(message.id)
    enrollment = db.session.get(Enrollment, message.enrollment_id)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", stop)


def test_an_email_of_an_enrollment_that_already_exited_is_cancelled(clock, tenant, two_steps, smtp_server):
    lead = factories.make_lead(tenant)
    message = queue_first_email(lead, two_steps, clock.now())
    # An exit that left the email queued (it would be cancelled with the exit; here only the state says so).
    db.session.execute(
        sa.update(Enrollment).where(Enrollment.id == message.enrollment_id).values(status="exited")
    )
    db.session.commit()

    report = send_messages([message.id])

    assert report.cancelled == [message.id] and smtp_server.messages == []
    assert activities("message_cancelled")[0].data["reason"] == "enrollment_exited"


def test_a_neutral_or_out_of_office_reply_does_not_stop_the_email(clock, tenant, two_steps, smtp_server):
    lead = factories.make_lead(tenant)
    message = queue_first_email(lead, two_steps, clock.now())
    factories.make_reply(lead, "neutral")
    factories.make_reply(lead, "out_of_office")
    assert send_messages([message.id]).sent == [message.id]
    assert len(smtp_server.messages) == 1


def test_an_email_queued_during_an_smtp_outage_waits_out_the_cap_of_one_sent_meanwhile(
    clock, tenant, smtp_server
):
    """Sequence A's email is queued and refused (451) through a long outage; sequence B's step falls due
    after the cap (measured from A's queueing) and its email goes. A's retry must not follow seconds later:
    it is held until the cap after B's email, then goes."""
    factories.make_template(tenant, "a", subject="From A", body="Body")
    factories.make_template(tenant, "b", subject="From B", body="Body")
    first = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    second = factories.make_sequence(tenant, status="active", steps=[{"template_id": "b", "delay_hours": 49}])
    lead = factories.make_lead(tenant)
    clock.set(at(2, 10))
    email_a = queue_first_email(lead, first, clock.now())
    enroll(lead, second, clock.now())
    smtp_server.replies[:] = ["451 try later"]
    assert send_messages([email_a.id]).retrying == [email_a.id]

    clock.set(at(4, 11))  # Wednesday: B is due (49 h), the cap from A's queueing (48 h) has passed
    run_due(clock.now())
    assert [m["Subject"] for m in smtp_server.messages] == ["From B"]

    clock.advance(seconds=30)
    report = send_messages([email_a.id])

    assert report.held == [email_a.id] and report.sent == []
    assert [m["Subject"] for m in smtp_server.messages] == ["From B"]
    held = fresh(email_a)
    assert (held.status, held.send_after) == ("queued", at(6, 11))  # 48 h after B, inside the window
    [logged] = activities("message_held")
    assert logged.data == {
        "step": 1,
        "message": str(email_a.id),
        "held_until": at(6, 11).isoformat(),
        "hold_reason": "frequency_cap",
    }

    # The sweep leaves it alone until then, and logs nothing more.
    clock.set(at(5, 11))
    assert requeue_stale_queued(clock.now()) == 0
    clock.set(at(6, 11))
    assert requeue_stale_queued(clock.now()) == 1
    assert requeue_stale_queued(clock.now()) == 0  # handed out once
    assert send_messages([email_a.id]).sent == [email_a.id]
    assert [m["Subject"] for m in smtp_server.messages] == ["From B", "From A"]
    assert len(activities("message_held")) == 1


def test_two_emails_to_one_lead_in_one_group_go_one_cap_apart(clock, tenant, smtp_server):
    factories.make_template(tenant, "a", subject="One", body="Body")
    lead = factories.make_lead(tenant)
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])
    first = queue_first_email(lead, sequence, clock.now())
    # The executor would hold a second one by the cap; one in the outbox beside it (a person sent a failed
    # email again, say) must not go with it.
    second = factories.make_draft(tenant, lead, status="queued", queued_at=clock.now())
    report = send_messages([first.id, second.id])
    assert report.sent == [first.id] and report.held == [second.id]
    assert fresh(second).send_after == clock.now() + timedelta(hours=48)


# --- the set-based check and the per-lead one agree ---------------------------------------------------


def test_the_group_check_and_the_per_lead_decision_agree_on_generated_leads_and_replies(clock, tenant):
    randomness = random.Random(15)
    factories.make_template(tenant, "a", subject="S", body="B")
    sequences = [
        factories.make_sequence(
            tenant,
            status=randomness.choice(["active", "archived"]),
            steps=[{"template_id": "a"}],
            exit_rules={
                "conversion": randomness.random() < 0.7,
                "disqualification": randomness.random() < 0.7,
                "positive_reply": randomness.random() < 0.7,
                "any_reply": randomness.random() < 0.3,
                "inactivity_days": randomness.choice([None, None, 5]),
            },
        )
        for _ in range(4)
    ]
    now = clock.now()
    ids = []
    for n in range(60):
        lead = factories.make_lead(
            tenant,
            status=randomness.choice(["new", "contacted", "converted", "disqualified"]),
            do_not_contact=randomness.random() < 0.1,
            undeliverable=randomness.random() < 0.1,
            unsubscribed_at=now if randomness.random() < 0.1 else None,
            last_engaged_at=now - timedelta(days=randomness.choice([0, 2, 9])),
        )
        enrollment = factories.make_enrollment(
            lead,
            randomness.choice(sequences),
            status=randomness.choice(["active", "active", "paused", "completed", "exited"]),
            enrolled_on=now - timedelta(days=randomness.choice([1, 3, 7])),
        )
        for _ in range(randomness.choice([0, 0, 1, 2, 3])):
            factories.make_reply(
                lead,
                randomness.choice(["positive", "neutral", "negative", "unsubscribe", "out_of_office"]),
                days_ago=randomness.choice([-1, 0.5, 2, 5, 8]),  # some before enrolling, one in the future
            )
        message = OutboundMessage(
            tenant_id=tenant.id,
            enrollment_id=enrollment.id,
            step_order=1,
            lead_id=lead.id,
            sequence_id=enrollment.sequence_id,
            to_email=lead.email,
            subject="S",
            body="B",
            status="queued",
            queued_at=now,
            message_id=f"<generated-{n}@example.test>",
        )
        db.session.add(message)
        db.session.commit()
        ids.append(message.id)
    db.session.expire_all()

    by_group = {row.id: refusal_of(row, now) for row in group_facts(ids, now)}
    per_lead = {}
    for message in db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.id.in_(ids))):
        enrollment = db.session.get(Enrollment, message.enrollment_id)
        replies = db.session.scalars(sa.select(LeadReply).where(LeadReply.lead_id == message.lead_id)).all()
        per_lead[message.id] = send_refusal(
            message.lead,
            db.session.get(Sequence, enrollment.sequence_id),
            enrollment_status=enrollment.status,
            enrolled_on=enrollment.enrolled_on,
            replies=replies,
            now=now,
        )
    assert by_group == per_lead
    assert len({r for r in per_lead.values()}) >= 6  # the generated cases reach most of the reasons


# --- B: sending as the lead's owner -------------------------------------------------------------------


@pytest.fixture
def mailbox_sink():
    """A second SMTP server: a mailbox's own."""
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


def make_mailbox(tenant, user, **fields) -> Mailbox:
    values = dict(tenant_id=tenant.id, user_id=user.id, address="rita@acme.test", daily_send_limit=200)
    values.update(min_spacing_seconds=0)
    values.update(fields)
    mailbox = Mailbox(**values)
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


@pytest.fixture
def rita(tenant):
    return factories.make_user(tenant, "rep", email="rita@example.test", name="Rita Rep")


@pytest.fixture
def one_step(tenant):
    factories.make_template(tenant, "a", subject="Hello {{ lead.first_name }}", body="Body")
    return factories.make_sequence(tenant, status="active", steps=[{"template_id": "a"}])


def test_an_email_goes_from_its_owners_mailbox_with_reply_to_on_that_address(
    clock, tenant, rita, one_step, smtp_server
):
    mailbox = make_mailbox(tenant, rita)
    lead = factories.make_lead(tenant, owner_id=rita.id)
    message = queue_first_email(lead, one_step, clock.now())
    assert message.mailbox_id == mailbox.id  # recorded when queued

    assert send_messages([message.id]).sent == [message.id]
    [email] = smtp_server.messages
    assert email["From"] == "Rita Rep <rita@acme.test>"
    reply_to = email["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("rita+") and reply_to.endswith("@acme.test")
    assert message_row_id_from_address(reply_to) == message.id


def test_a_lead_without_an_owner_mailbox_is_mailed_from_the_app(clock, tenant, rita, one_step, smtp_server):
    make_mailbox(tenant, rita, enabled=False)
    lead = factories.make_lead(tenant, owner_id=rita.id)
    message = queue_first_email(lead, one_step, clock.now())
    assert message.mailbox_id is None
    send_messages([message.id])
    assert "rita@acme.test" not in smtp_server.messages[0]["From"]


def test_the_current_owners_mailbox_is_used_when_the_lead_changed_hands(
    clock, tenant, rita, one_step, smtp_server
):
    make_mailbox(tenant, rita)
    sam = factories.make_user(tenant, "rep", name="Sam Seller")
    sams = make_mailbox(tenant, sam, address="sam@acme.test", display_name="Sam at Acme")
    lead = factories.make_lead(tenant, owner_id=rita.id)
    message = queue_first_email(lead, one_step, clock.now())
    lead.owner_id = sam.id
    db.session.commit()
    send_messages([message.id])
    assert smtp_server.messages[0]["From"] == "Sam at Acme <sam@acme.test>"
    assert fresh(message).mailbox_id == sams.id


def test_a_mailbox_with_its_own_smtp_server_sends_through_it(
    clock, tenant, rita, one_step, smtp_server, mailbox_sink
):
    make_mailbox(
        tenant,
        rita,
        smtp_host="127.0.0.1",
        smtp_port=mailbox_sink.port,
        smtp_security="none",
        smtp_secret=seal("app-password"),
    )
    other = factories.make_lead(tenant)  # no owner: the app's server
    owned = factories.make_lead(tenant, owner_id=rita.id)
    ids = [queue_first_email(lead, one_step, clock.now()).id for lead in (owned, other)]
    assert send_messages(ids).sent == ids
    assert [m["From"] for m in mailbox_sink.messages] == ["Rita Rep <rita@acme.test>"]
    assert len(smtp_server.messages) == 1 and "rita" not in smtp_server.messages[0]["From"]


def test_a_mailbox_spaces_its_sends_instead_of_bunching_them(clock, tenant, rita, one_step, smtp_server):
    make_mailbox(tenant, rita, min_spacing_seconds=60)
    ids = [
        queue_first_email(factories.make_lead(tenant, owner_id=rita.id), one_step, clock.now()).id
        for _ in range(4)
    ]
    start = clock.now()
    report = send_messages(ids)
    assert report.sent == ids[:1] and report.held == ids[1:]
    assert [fresh_id(i).send_after for i in ids[1:]] == [start + timedelta(seconds=60 * k) for k in (1, 2, 3)]
    assert {a.data["hold_reason"] for a in activities("message_held")} == {"spacing"}

    for k in (1, 2, 3):
        clock.set(start + timedelta(seconds=60 * k))
        assert requeue_stale_queued(clock.now()) == 1  # the sweep hands out the one whose turn it is
        assert send_messages(ids[k:]).sent == [ids[k]]
    assert [fresh_id(i).sent_at for i in ids] == [start + timedelta(seconds=60 * k) for k in range(4)]
    assert len(activities("message_held")) == 3  # once per hold, however often the rest were looked at


def fresh_id(message_id) -> OutboundMessage:
    db.session.expire_all()
    return db.session.get(OutboundMessage, message_id)


def test_a_new_email_queues_behind_the_sends_its_mailbox_reserved(clock, tenant, rita, one_step, smtp_server):
    make_mailbox(tenant, rita, min_spacing_seconds=60)
    first = [
        queue_first_email(factories.make_lead(tenant, owner_id=rita.id), one_step, clock.now()).id
        for _ in range(3)
    ]
    start = clock.now()
    send_messages(first)  # one sent, two held at +60 and +120
    late = queue_first_email(factories.make_lead(tenant, owner_id=rita.id), one_step, clock.now())
    assert send_messages([late.id]).held == [late.id]
    assert fresh(late).send_after == start + timedelta(seconds=180)


def test_a_mailbox_past_its_daily_limit_waits_for_the_rolling_day_to_free_up(
    clock, tenant, rita, one_step, smtp_server
):
    make_mailbox(tenant, rita, daily_send_limit=2)
    start = clock.now()
    ids = [
        queue_first_email(factories.make_lead(tenant, owner_id=rita.id), one_step, clock.now()).id
        for _ in range(3)
    ]
    report = send_messages(ids)
    assert report.sent == ids[:2] and report.held == ids[2:]
    assert fresh_id(ids[2]).send_after == start + timedelta(hours=24)
    assert activities("message_held")[0].data["hold_reason"] == "daily_limit"
    clock.set(start + timedelta(hours=24))
    assert requeue_stale_queued(clock.now()) == 1
    assert send_messages(ids[2:]).sent == ids[2:]


def test_a_hold_that_lands_outside_the_send_window_moves_to_its_next_opening(
    clock, tenant, rita, one_step, smtp_server
):
    make_mailbox(tenant, rita, min_spacing_seconds=600)
    clock.set(at(6, 16, 55))  # Friday, five minutes before the window closes
    ids = [
        queue_first_email(factories.make_lead(tenant, owner_id=rita.id), one_step, clock.now()).id
        for _ in range(2)
    ]
    send_messages(ids)
    assert fresh_id(ids[1]).send_after == at(9, 9)  # Monday 09:00


# --- the cost of a send group ------------------------------------------------------------------------


@pytest.mark.parametrize("with_mailbox", [False, True], ids=["app sender", "owner mailboxes"])
def test_a_send_group_costs_the_same_statements_whatever_its_size(
    app, clock, tenant, rita, one_step, smtp_server, monkeypatch, with_mailbox
):
    monkeypatch.setitem(app.config, "MAIL_CLAIM_GROUP", 50)
    if with_mailbox:
        make_mailbox(tenant, rita)
    statements = []

    def count(*args, **kwargs):
        statements.append(1)

    def run(n: int) -> int:
        ids = [
            queue_first_email(factories.make_lead(tenant, owner_id=rita.id), one_step, clock.now()).id
            for _ in range(n)
        ]
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert len(send_messages(ids).sent) == n
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    small, large = run(3), run(30)
    assert large == small, (small, large)
    assert small <= (8 if with_mailbox else 6), small


# --- through a real RQ worker ------------------------------------------------------------------------


def test_a_mailboxs_sends_are_spread_a_minute_apart_through_the_real_worker(
    clock, tenant, rita, one_step, smtp_server
):
    """Every tick is the real dispatcher job: it runs the steps, whose send jobs send one email and hold the
    rest; each later tick's sweep hands out the email whose turn has come."""
    from tests.engine.test_through_rq import tick

    queue = get_queue()
    queue.empty()
    make_mailbox(tenant, rita, min_spacing_seconds=60)
    leads = [factories.make_lead(tenant, owner_id=rita.id) for _ in range(3)]
    start = clock.now()
    for lead in leads:
        enroll(lead, one_step, start)
    for k in range(3):
        tick(queue, clock, start + timedelta(seconds=60 * k))
        assert len(smtp_server.messages) == k + 1
    sent = db.session.scalars(sa.select(OutboundMessage.sent_at).order_by(OutboundMessage.sent_at)).all()
    assert sent == [start + timedelta(seconds=60 * k) for k in range(3)]
    assert {str(m["From"]) for m in smtp_server.messages} == {"Rita Rep <rita@acme.test>"}


def test_an_email_waits_while_its_leads_reply_waits_for_a_person_and_goes_once_it_is_sorted(
    clock, tenant, two_steps, smtp_server
):
    from nurture_ui.triage import decide_triage

    lead = factories.make_lead(tenant)
    message = queue_first_email(lead, two_steps, clock.now())
    # The reply came in after the email was queued: perhaps "stop", perhaps not; a person will say.
    reply = factories.make_reply(lead, "negative")
    reply.triage = "pending"
    db.session.commit()

    report = send_messages([message.id])

    assert report.held == [message.id] and smtp_server.messages == []
    held = fresh(message)
    assert held.status == "queued" and held.send_after > clock.now()
    [logged] = activities("message_held")
    assert logged.data["hold_reason"] == "reply_triage"

    clock.advance(minutes=5)
    decide_triage(db.session.get(LeadReply, reply.id), "neutral", actor_id=None)  # "other": go on
    db.session.commit()
    assert fresh(message).send_after <= clock.now()  # handed back to the sender at once
    assert requeue_stale_queued(clock.now()) == 1
    assert send_messages([message.id]).sent == [message.id]
    assert len(smtp_server.messages) == 1


def test_an_email_held_for_a_reply_sorted_as_opt_out_never_goes(clock, tenant, two_steps, smtp_server):
    from nurture_ui.triage import decide_triage

    lead = factories.make_lead(tenant)
    message = queue_first_email(lead, two_steps, clock.now())
    reply = factories.make_reply(lead, "neutral")
    reply.triage = "pending"
    db.session.commit()
    assert send_messages([message.id]).held == [message.id]

    decide_triage(db.session.get(LeadReply, reply.id), "unsubscribe", actor_id=None)
    db.session.commit()

    assert fresh(message).status == "cancelled"
    requeue_stale_queued(clock.now() + timedelta(days=2))
    assert send_messages([message.id]).sent == []
    assert smtp_server.messages == []
