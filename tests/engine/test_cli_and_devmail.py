"""`flask nurture run-due --now …` and the development mail catcher of `make run`."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import sqlalchemy as sa

from nurture_ui.devmail import start_capture_server
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment
from tests import factories
from tests.engine.conftest import enroll, free_port


def test_run_due_replays_a_sequence_at_given_instants(app, clock, tenant, smtp_server):
    factories.make_template(tenant, "a", subject="Step mail")
    sequence = factories.make_sequence(
        tenant, status="active", steps=[{"template_id": "a"}, {"template_id": "a", "delay_hours": 72}]
    )
    enrollment = enroll(factories.make_lead(tenant), sequence, clock.now())
    clock.set(clock.now().replace(year=2020))  # the CLI's --now, not the clock, decides
    runner = app.test_cli_runner()

    first = runner.invoke(args=["nurture", "run-due", "--now", "2026-03-02T10:00:00+00:00"])
    assert first.exit_code == 0, first.output
    assert "executed 1" in first.output and "emails sent 1" in first.output
    early = runner.invoke(args=["nurture", "run-due", "--now", "2026-03-04T10:00:00+00:00"])
    assert "nothing due" in early.output
    last = runner.invoke(args=["nurture", "run-due", "--now", "2026-03-05T10:00:00"])
    assert "completed 1" in last.output

    db.session.expire_all()
    assert db.session.get(Enrollment, enrollment.id).status == "completed"
    assert [m["Subject"] for m in smtp_server.messages] == ["Step mail", "Step mail"]
    bad = runner.invoke(args=["nurture", "run-due", "--now", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output


def test_devmail_captures_real_smtp_and_the_page_lists_it(app, tmp_path, login_as):
    store = tmp_path / "devmail.sqlite"
    controller = start_capture_server(store, port=free_port())
    try:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = "a@example.test", "b@example.test", "Captured!"
        email.set_content("Hello from the test")
        with smtplib.SMTP("127.0.0.1", controller.port) as smtp:
            smtp.send_message(email)
    finally:
        controller.stop()

    client = login_as("rep")
    app.config.update(DEVMAIL_ENABLED=False, DEVMAIL_PATH=str(store))
    assert client.get("/dev/mail/").status_code == 404
    app.config["DEVMAIL_ENABLED"] = True
    try:
        page = client.get("/dev/mail/")
        assert page.status_code == 200 and b"Captured!" in page.data
        detail = client.get("/dev/mail/1")
        assert b"Hello from the test" in detail.data and b"b@example.test" in detail.data
    finally:
        app.config["DEVMAIL_ENABLED"] = False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Enrollment)) == 0
