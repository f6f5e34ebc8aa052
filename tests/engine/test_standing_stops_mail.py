"""End to end: a rep converts a lead from its edit form while its email waits in the outbox; the email is
cancelled by the form's save itself and never reaches the SMTP server, through the real mailer (issue 16)."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.engine.replay import run_due
from nurture_ui.extensions import db
from nurture_ui.mailer import send_messages
from nurture_ui.models import Activity, Enrollment, OutboundMessage
from tests import factories
from tests.engine.conftest import enroll


def test_converting_from_the_form_cancels_the_queued_email_and_it_never_arrives(
    clock, tenant, login_as, smtp_server
):
    factories.make_template(tenant, "intro", subject="Hello {{ lead.first_name }}", body="Body")
    sequence = factories.make_sequence(tenant, status="active", steps=[{"template_id": "intro"}] * 2)
    converting = factories.make_lead(tenant, email="ada@example.com")
    staying = factories.make_lead(tenant, email="bob@example.com")
    for lead in (converting, staying):
        enroll(lead, sequence, clock.now())
    run_due(clock.now(), send=False)
    queued = {m.to_email: m for m in db.session.scalars(sa.select(OutboundMessage))}
    assert {m.status for m in queued.values()} == {"queued"}

    clock.advance(minutes=5)
    rep = login_as("rep")
    form = {
        "status": "converted",
        "score": converting.score,
        "score_band": converting.score_band,
        "owner_id": "",
    }
    assert rep.post(f"/leads/{converting.id}", form).status_code == 302
    db.session.expire_all()
    # Cancelled by the save, not later by the mailer's own check.
    assert db.session.get(OutboundMessage, queued["ada@example.com"].id).status == "cancelled"

    report = send_messages([m.id for m in queued.values()])

    assert report.sent == [queued["bob@example.com"].id]
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.messages] == ["bob@example.com"]
    exited = db.session.scalars(sa.select(Enrollment).where(Enrollment.lead_id == converting.id)).one()
    assert (exited.status, exited.exit_reason) == ("exited", "converted")
    logged = db.session.scalars(
        sa.select(Activity.type).where(Activity.lead_id == converting.id, Activity.occurred_at >= clock.now())
    ).all()
    assert sorted(logged) == ["lead_converted", "lead_updated", "nurture_exited"]
