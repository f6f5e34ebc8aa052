"""Audit: every state change of a sequence, a step, an enrollment, a message, a task, a template or a policy
made through the web leaves an activity naming the person who made it.

Every POST route of the URL map is either exercised here with a form that really changes something, or
listed in NOT_AUDITED with the reason it changes none of those; a new route fails the test until it is one
or the other.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from nurture_ui.extensions import db, get_queue, get_redis
from nurture_ui.models import Activity
from tests import factories
from tests.integration.test_access import _holiday, _message, _routes

# The tables whose changes must be audited (policy lives on tenants).
AUDITED_TABLES = (
    "tenants",
    "lead_nurture_sequences",
    "lead_nurture_sequence_steps",
    "lead_nurture_enrollments",
    "outbound_messages",
    "tasks",
    "email_templates",
    "mailboxes",
    "users",
    "leads",
    "tenant_holidays",
)

NOT_AUDITED = {
    "auth.login": "signs in: no audited state",
    "auth.logout": "signs out: no audited state",
    "profile.index": "sets the person's own time zone: a preference of theirs, not a sequence, enrollment, "
    "message or policy",
    "overview.retry_failed_jobs": "re-queues failed engine jobs: the jobs' own transitions write the activities",
    "platform.retry_failed_jobs": "re-queues every tenant's failed engine jobs: the jobs' own transitions write "
    "the activities",
    "sequences.rule_editor": "renders the rule editor: changes nothing",
    "templates.preview": "renders a preview: changes nothing",
    "lead_imports.upload": "stores an uploaded file for mapping: leads only, recorded by the import",
    "lead_imports.mapping": "starts the import job: creates and updates leads (lead activities)",
    "api.receive_event": "the signed API: its changes are the signals' (tests/integration/test_events_api.py); "
    "no person acts, the activities name the source",
    "unsubscribe.unsubscribe": "the lead acts, not a user: lead_unsubscribed records the source (link)",
    "templates.send_test": "sends a test email to the signed-in person: no lead, no outbox row (it logs "
    "test_email_sent with the person)",
    "mailboxes.test_new_connection": "signs in to the typed servers to test them: saves nothing",
    "mailboxes.test_connection": "signs in to a saved mailbox's servers to test them: saves nothing",
    "mailboxes.poll_now": "reads the mailbox: what it records is the replies' and bounces' own signals (no "
    "person acts on a lead; the read position is the poller's)",
}


@dataclass
class Case:
    """A POST that changes audited state: ``setup(tenant) -> (url, form)``."""

    setup: Callable
    roles: str = "admin"
    run_jobs: bool = False


def _seq(tenant, status="draft", steps=None):
    return factories.make_sequence(
        tenant,
        status=status,
        steps=steps or [{"channel": "email", "template_id": "intro", "delay_hours": 24}],
    )


def _live(tenant, **fields):
    lead = factories.make_lead(tenant)
    sequence = _seq(tenant, status="active")
    return lead, sequence, factories.make_enrollment(lead, sequence, **fields)


def _teammate(tenant, role="rep", *, active=True, with_work=False):
    person = factories.make_user(tenant, role)
    person.is_active_user = active
    db.session.commit()
    if with_work:
        factories.make_task(tenant, factories.make_lead(tenant, owner_id=person.id), assignee_id=person.id)
    return person


CASES: dict[str, Case] = {
    "team.index": Case(
        lambda t: (
            "/team/",
            {"name": "Ada", "email": "ada@audit.test", "role": "rep", "password": "long enough pw"},
        )
    ),
    "team.change_role": Case(lambda t: (f"/team/{_teammate(t).id}/role", {"role": "manager"})),
    "team.deactivate": Case(lambda t: (f"/team/{_teammate(t).id}/deactivate", {})),
    "team.reactivate": Case(lambda t: (f"/team/{_teammate(t, active=False).id}/reactivate", {})),
    "team.reset_password": Case(lambda t: (f"/team/{_teammate(t).id}/reset-password", {})),
    "team.reassign": Case(
        lambda t: (
            f"/team/{_teammate(t, active=False, with_work=True).id}/reassign",
            {"to_user_id": str(_teammate(t).id)},
        )
    ),
    "sequences.create": Case(lambda t: ("/sequences/new", {"name": "Audited"})),
    "sequences.details": Case(
        lambda t: (
            f"/sequences/{_seq(t).id}/details",
            {"name": "Renamed", "description": "d", "priority": "5", "daily_enrollment_cap": "40"},
        )
    ),
    "sequences.duplicate": Case(lambda t: (f"/sequences/{_seq(t).id}/duplicate", {})),
    "sequences.entry_rules": Case(
        lambda t: (
            f"/sequences/{_seq(t).id}/entry-rules",
            {"entry-mode": "json", "entry-json": '{"all": [{"field": "score", "op": "gte", "value": 10}]}'},
        )
    ),
    "sequences.exit_rules": Case(
        lambda t: (f"/sequences/{_seq(t).id}/exit-rules", {"conversion": "on", "any_reply": "on"})
    ),
    "sequences.change_status": Case(lambda t: (f"/sequences/{_seq(t).id}/status", {"status": "active"})),
    "steps.new": Case(
        lambda t: (
            f"/sequences/{_seq(t).id}/steps/new",
            {"channel": "task", "delay_value": "2", "delay_unit": "days", "instructions": "Call them"},
        )
    ),
    "steps.edit": Case(
        lambda t: (
            (s := _seq(t)) and f"/sequences/{s.id}/steps/{s.steps[0].id}/edit",
            {"channel": "email", "delay_value": "3", "delay_unit": "days", "template_id": "intro"},
        )
    ),
    "steps.delete": Case(
        lambda t: ((s := _seq(t)) and f"/sequences/{s.id}/steps/{s.steps[0].id}/delete", {})
    ),
    "steps.move": Case(
        lambda t: (
            (s := _seq(t, steps=[{"channel": "task"}, {"channel": "call_reminder"}]))
            and f"/sequences/{s.id}/steps/{s.steps[1].id}/move",
            {"direction": "up"},
        )
    ),
    "steps.reorder": Case(
        lambda t: (
            (s := _seq(t, steps=[{"channel": "task"}, {"channel": "call_reminder"}]))
            and f"/sequences/{s.id}/steps/reorder",
            {"order": f"{s.steps[1].id},{s.steps[0].id}"},
        )
    ),
    "templates.new": Case(
        lambda t: ("/templates/new", {"name": "New", "key": "new-one", "subject": "Hi", "body": "B"})
    ),
    "templates.edit": Case(
        lambda t: (
            f"/templates/{factories.make_template(t, key='edit-me').id}",
            {"name": "Edited", "key": "edit-me", "subject": "Hi", "body": "New body"},
        )
    ),
    "templates.delete": Case(
        lambda t: (f"/templates/{factories.make_template(t, key='gone').id}/delete", {})
    ),
    "enrollments.enroll_lead": Case(
        lambda t: (
            f"/leads/{factories.make_lead(t).id}/enroll",
            {"sequence_id": str(_seq(t, status="active").id)},
        )
    ),
    "enrollments.bulk_enroll": Case(
        lambda t: (
            "/leads/bulk-enroll",
            {"sequence_id": str(_seq(t, status="active").id), "lead_ids": [str(factories.make_lead(t).id)]},
        ),
        run_jobs=True,
    ),
    "enrollments.pause": Case(lambda t: (f"/enrollments/{_live(t)[2].id}/pause", {})),
    "enrollments.resume": Case(
        lambda t: (f"/enrollments/{_live(t, status='paused', pause_reason='manual')[2].id}/resume", {})
    ),
    "enrollments.unenroll": Case(lambda t: (f"/enrollments/{_live(t)[2].id}/unenroll", {})),
    "leads.detail": Case(
        lambda t: (
            f"/leads/{_live(t)[0].id}",
            {"status": "new", "score": "50", "score_band": "warm", "owner_id": "", "do_not_contact": "y"},
        )
    ),
    "lead_signals.log_reply": Case(
        lambda t: (f"/leads/{_live(t)[0].id}/replies", {"text": "Yes, very interested, let's talk!"})
    ),
    "lead_signals.correct_reply": Case(
        lambda t: (
            (lead := _live(t)[0])
            and f"/leads/{lead.id}/replies/{factories.make_reply(lead, thread_open=False).id}/classification",
            {"sentiment": "positive"},
        )
    ),
    "lead_signals.log_conversion": Case(lambda t: (f"/leads/{_live(t)[0].id}/conversion", {})),
    "inbox.undo": Case(lambda t: (f"/inbox/{_approved_draft(t).id}/undo", {})),
    "inbox.approve": Case(lambda t: (f"/inbox/{factories.make_draft(t).id}/approve", {})),
    "inbox.reject": Case(lambda t: (f"/inbox/{factories.make_draft(t).id}/reject", {"action": "exit"})),
    "inbox.approve_selected": Case(
        lambda t: ("/inbox/approve", {"message_ids": [str(factories.make_draft(t).id) for _ in range(2)]})
    ),
    "tasks.complete": Case(
        lambda t: (f"/tasks/{factories.make_task(t).id}/complete", {"outcome": "connected"})
    ),
    "tasks.skip": Case(lambda t: (f"/tasks/{factories.make_task(t).id}/skip", {})),
    "settings.index": Case(lambda t: ("/settings/", _policy_form(frequency_cap_hours="72"))),
    "outbox.mark_delivered": Case(lambda t: (f"/outbox/{_problem(t, 'unknown').id}/mark-delivered", {})),
    "outbox.send_again": Case(
        lambda t: (f"/outbox/{_problem(t, 'unknown').id}/send-again", {"confirm": "yes"}), roles="manager"
    ),
    "outbox.retry": Case(lambda t: (f"/outbox/{_problem(t, 'failed').id}/retry", {}), roles="manager"),
    "outbox.dismiss": Case(lambda t: (f"/outbox/{_problem(t, 'failed').id}/dismiss", {})),
    "inbox.replies.decide": Case(
        lambda t: (f"/inbox/replies/{_pending_reply(t).id}/decision", {"decision": "positive"})
    ),
    "mailboxes.new": Case(lambda t: ("/settings/mailboxes/new", _mailbox_form("replies@audit.test"))),
    "mailboxes.edit": Case(
        lambda t: (
            f"/settings/mailboxes/{_mailbox(t).id}",
            _mailbox_form("box@audit.test", daily_send_limit="9"),
        )
    ),
    "mailboxes.delete": Case(lambda t: (f"/settings/mailboxes/{_mailbox(t).id}/delete", {})),
    "mail_auth.index": Case(
        lambda t: (
            "/settings/email-authentication/",
            {"domain": "audit.test", "selector": "s1", "action": "generate"},
        )
    ),
    "mail_auth.stop": Case(lambda t: (_dkim_key(t) and "/settings/email-authentication/stop", {})),
    "holidays.import_ics": Case(
        lambda t: ("/settings/holidays/import", {"file": (io.BytesIO(ONE_HOLIDAY), "h.ics")})
    ),
    "holidays.choose_country": Case(
        lambda t: ("/settings/holidays/country", {"holiday_country": "GB", "holiday_subdivision": ""})
    ),
    "holidays.remove": Case(lambda t: (f"/settings/holidays/{_holiday(t).id}/remove", {})),
    "sequence_window.save": Case(
        lambda t: (
            f"/sequences/{_seq(t).id}/send-window",
            {
                "whose": "own",
                "send_days": ["0", "1"],
                "send_start_hour": "8",
                "send_end_hour": "11",
                "send_zone": "lead",
            },
        ),
        roles="marketer",
    ),
}

ONE_HOLIDAY = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//audit//EN\r\nBEGIN:VEVENT\r\nUID:1@audit.test\r\n"
    b"DTSTART;VALUE=DATE:20261225\r\nSUMMARY:Christmas Day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def _approved_draft(tenant):
    """A draft approved a moment ago, within its undo window (the test moves the clock a minute on before it
    posts: the approval is dated then)."""
    from datetime import timedelta

    from nurture_ui import clock
    from nurture_ui.engine.transitions import approve_message

    draft = factories.make_draft(tenant)
    approve_message(
        draft.id, reviewer_id=None, now=clock.now() + timedelta(minutes=1), hold_for=timedelta(seconds=8)
    )
    return draft


def _pending_reply(tenant):
    """A reply the classifier was unsure about, waiting for a person; its lead's enrollment paused for it."""
    lead, _, enrollment = _live(tenant, status="paused", pause_reason="reply_triage")
    return factories.make_reply(lead, "neutral", triage="pending")


def _mailbox_form(address: str, **changes) -> dict:
    from tests.integration.test_mailboxes_web import form_for

    return form_for(address, **changes)


def _mailbox(tenant):
    from tests.integration.test_mailboxes_web import make_mailbox

    return make_mailbox(tenant, address="box@audit.test")


def _dkim_key(tenant) -> bool:
    from nurture_ui.mail.dkim_keys import generate_private_key, store_key

    store_key(tenant, domain="audit.test", selector="s1", private_pem=generate_private_key())
    db.session.commit()
    return True


def _problem(tenant, status):
    """An email of a live enrollment that ended ``unknown`` or ``failed``, for a person to settle."""
    message = _message(tenant)
    message.enrollment.status, message.enrollment.pause_reason = "active", None
    message.status, message.attempts, message.error = status, 1, "550" if status == "failed" else None
    db.session.commit()
    return message


def _policy_form(**overrides) -> dict:
    from tests.integration.test_tasks_and_settings_web import policy_form

    return policy_form(**overrides)


def _state(tenant_id) -> dict:
    state = {}
    for name in AUDITED_TABLES:
        table = db.metadata.tables[name]
        key = table.c.id if name == "tenants" else table.c.tenant_id
        columns = [sa.func.count(), sa.func.max(table.c.updated_at)]
        if name == "tenants":
            columns.append(sa.func.max(sa.cast(table.c.policy, sa.String)))
        state[name] = tuple(db.session.execute(sa.select(*columns).where(key == tenant_id)).one())
    db.session.commit()
    return state


def test_every_post_route_is_audited_or_says_why_not(app):
    posts = {rule.endpoint for rule, method in _routes(app) if method == "POST"}
    missing = posts - set(CASES) - set(NOT_AUDITED)
    assert missing == set(), "add a Case (a form that changes something) or a NOT_AUDITED reason"
    assert set(CASES) | set(NOT_AUDITED) <= posts, "these entries name routes that no longer exist"


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_each_change_through_the_web_is_recorded_with_its_actor(login_as, tenant, clock, endpoint):
    case = CASES[endpoint]
    factories.make_template(tenant, key="intro")
    client = login_as(case.roles)
    url, form = case.setup(tenant)
    before_state = _state(tenant.id)
    before = set(db.session.scalars(sa.select(Activity.id)))
    db.session.commit()
    clock.advance(minutes=1)  # the change gets its own instant: updated_at moves even on a fast machine
    response = client.post(url, form)
    assert response.status_code < 400, response.get_data(as_text=True)[:500]
    if case.run_jobs:
        SimpleWorker([get_queue()], connection=get_redis()).work(burst=True)
    assert _state(tenant.id) != before_state, f"{endpoint}: the form changed nothing; fix the Case"
    new = db.session.scalars(sa.select(Activity).where(Activity.id.not_in(before))).all()
    assert new, f"{endpoint} changed state without an activity"
    by_person = [a for a in new if a.actor_id == client.user.id]
    unattributed = [a.type for a in new if a.actor_id != client.user.id]
    assert by_person, f"{endpoint}: no activity names the person ({[a.type for a in new]})"
    assert unattributed == [], f"{endpoint}: activities without the person who caused them: {unattributed}"


def test_message_changes_by_the_engine_are_recorded_as_the_system(tenant, clock):
    """The other actor: the engine. Its activities carry no user (actor None) and the message they concern."""
    from nurture_ui.mailer import mark_stuck_sending_unknown

    message = _message(tenant)
    message.status, message.updated_at = "sending", clock.now()
    db.session.commit()
    clock.advance(hours=1)
    assert mark_stuck_sending_unknown(clock.now()) == 1
    recorded = db.session.scalars(sa.select(Activity).where(Activity.type == "message_unknown")).one()
    assert recorded.actor_id is None and recorded.data["message"] == str(message.id)


def test_a_send_deferred_by_a_transient_smtp_failure_is_recorded(app, tenant, clock):
    from nurture_ui.mailer import send_messages

    message = _message(tenant)
    message.status, message.queued_at, message.attempts = "queued", clock.now(), 0
    db.session.commit()
    saved, app.config["SMTP_PORT"] = app.config["SMTP_PORT"], 1  # nothing listens there: a transient failure
    try:
        report = send_messages([message.id], clock.now())
    finally:
        app.config["SMTP_PORT"] = saved
    assert report.retrying == [message.id]
    deferred = db.session.scalars(sa.select(Activity).where(Activity.type == "message_deferred")).one()
    assert deferred.data["message"] == str(message.id) and deferred.data["error"]
    assert deferred.actor_id is None
