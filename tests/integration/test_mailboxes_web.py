"""Settings → Mailboxes through the web: connecting, changing and removing mailboxes, secrets kept sealed and
never shown, who sees which mailbox, and "Test connection" / "Poll now" against the real dovecot."""

from __future__ import annotations

import sqlalchemy as sa

from nurture_ui.extensions import db
from nurture_ui.models import InboundMail, Mailbox
from nurture_ui.secret_box import open_sealed, seal
from tests import factories
from tests.integration.mailbox_helpers import send_through_exim, unique_address, wait_for_messages
from tests.mail_servers import PASSWORD

SECRET = "s3cret-Pa55-xyz"


def form_for(address: str, **changes) -> dict:
    values = {
        "address": address,
        "display_name": "Acme Sales",
        "owner_id": "",
        "enabled": "y",
        "imap_host": "imap.example.test",
        "imap_port": "993",
        "imap_security": "ssl",
        "imap_username": "",
        "imap_password": SECRET,
        "imap_folder": "INBOX",
        "smtp_host": "",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "smtp_username": "",
        "smtp_password": "",
        "daily_send_limit": "150",
        "min_spacing_seconds": "90",
    }
    values.update(changes)
    return values


def stored(address: str) -> Mailbox:
    db.session.expire_all()
    return db.session.scalar(sa.select(Mailbox).where(Mailbox.address == address))


def make_mailbox(tenant, user=None, **fields) -> Mailbox:
    values = dict(
        tenant_id=tenant.id,
        address=unique_address("box"),
        imap_host="imap.example.test",
        imap_secret=seal(SECRET),
        user_id=user.id if user else None,
    )
    values.update(fields)
    mailbox = Mailbox(**values)
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def test_admin_connects_a_team_mailbox_and_its_password_is_stored_sealed(login_as):
    admin = login_as("admin")
    response = admin.post("/settings/mailboxes/new", form_for("Replies@Acme.test"))
    assert response.status_code == 302

    mailbox = stored("replies@acme.test")
    assert (mailbox.user_id, mailbox.imap_username, mailbox.daily_send_limit) == (None, mailbox.address, 150)
    assert mailbox.min_spacing_seconds == 90 and mailbox.enabled
    assert SECRET not in mailbox.imap_secret and open_sealed(mailbox.imap_secret) == SECRET
    raw = db.session.execute(sa.text("SELECT imap_secret FROM mailboxes")).scalar()
    assert SECRET not in raw
    page = admin.get("/settings/mailboxes/").get_data(as_text=True)
    assert "replies@acme.test" in page and "The team" in page


def test_the_password_never_appears_in_any_page_and_blank_keeps_it(login_as, tenant):
    admin = login_as("admin")
    mailbox = make_mailbox(tenant)
    for url in (
        "/settings/mailboxes/",
        f"/settings/mailboxes/{mailbox.id}",
        f"/settings/mailboxes/{mailbox.id}/delete",
    ):
        html = admin.get(url).get_data(as_text=True)
        assert SECRET not in html and mailbox.imap_secret not in html
    assert "saved — leave blank to keep" in admin.get(f"/settings/mailboxes/{mailbox.id}").get_data(
        as_text=True
    )

    response = admin.post(
        f"/settings/mailboxes/{mailbox.id}", form_for(mailbox.address, imap_password="", imap_port="143")
    )
    assert response.status_code == 302
    changed = stored(mailbox.address)
    assert changed.imap_port == 143 and open_sealed(changed.imap_secret) == SECRET


def test_field_errors_keep_the_input_but_not_the_password(login_as):
    admin = login_as("admin")
    response = admin.post(
        "/settings/mailboxes/new",
        form_for("not-an-address", imap_port="70000", daily_send_limit="0", min_spacing_seconds="-5"),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a valid email address" in html
    assert "A port is a number from 1 to 65535." in html
    assert "Between 1 and 100000 emails a day." in html
    assert "Between 0 and 86400 seconds" in html
    assert 'value="not-an-address"' in html and 'value="imap.example.test"' in html
    assert SECRET not in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Mailbox)) == 0


def test_a_new_mailbox_needs_a_password(login_as):
    response = login_as("admin").post("/settings/mailboxes/new", form_for("a@acme.test", imap_password=""))
    assert response.status_code == 422
    assert "Enter the mailbox&#39;s password" in response.get_data(as_text=True)


def test_a_duplicate_address_is_refused_on_the_field(login_as, tenant):
    admin = login_as("admin")
    existing = make_mailbox(tenant)
    response = admin.post("/settings/mailboxes/new", form_for(existing.address.upper()))
    assert response.status_code == 422
    assert "already connected as another mailbox" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Mailbox)) == 1


def test_the_same_address_in_another_tenant_is_fine(login_as, tenant, other_tenant):
    foreign = make_mailbox(other_tenant)
    assert login_as("admin").post("/settings/mailboxes/new", form_for(foreign.address)).status_code == 302


def test_admin_removes_a_mailbox_after_confirming(login_as, tenant):
    admin = login_as("admin")
    mailbox = make_mailbox(tenant)
    confirm = admin.get(f"/settings/mailboxes/{mailbox.id}/delete").get_data(as_text=True)
    assert f"Remove {mailbox.address}?" in confirm
    assert stored(mailbox.address) is not None  # the GET only asks
    assert admin.post(f"/settings/mailboxes/{mailbox.id}/delete").status_code == 302
    assert stored(mailbox.address) is None


def test_delete_without_csrf_token_is_refused(login_as, tenant):
    mailbox = make_mailbox(tenant)
    response = login_as("admin").post(f"/settings/mailboxes/{mailbox.id}/delete", csrf=False)
    assert response.status_code == 400
    assert stored(mailbox.address) is not None


def test_a_rep_sees_and_manages_only_their_own_mailbox(login_as, tenant):
    rep = login_as("rep")
    colleague = factories.make_user(tenant, "rep")
    theirs = make_mailbox(tenant, colleague)
    team = make_mailbox(tenant)

    response = rep.post("/settings/mailboxes/new", form_for(rep.user.email, owner_id=str(colleague.id)))
    assert response.status_code == 302
    own = stored(rep.user.email)
    assert own.user_id == rep.user.id  # a rep's mailbox is theirs, whatever the form says

    page = rep.get("/settings/mailboxes/").get_data(as_text=True)
    assert rep.user.email in page and theirs.address not in page and team.address not in page
    for mailbox in (theirs, team):
        assert rep.get(f"/settings/mailboxes/{mailbox.id}").status_code == 404
        assert rep.post(f"/settings/mailboxes/{mailbox.id}", form_for(mailbox.address)).status_code == 404
        assert rep.post(f"/settings/mailboxes/{mailbox.id}/delete").status_code == 404
        assert rep.post(f"/settings/mailboxes/{mailbox.id}/poll").status_code == 404
    assert stored(theirs.address) is not None


def test_admin_gives_a_mailbox_to_a_person(login_as, tenant):
    person = factories.make_user(tenant, "rep", name="Rosa Rep")
    admin = login_as("admin")
    assert "Rosa Rep" in admin.get("/settings/mailboxes/new").get_data(as_text=True)
    admin.post("/settings/mailboxes/new", form_for("rosa@acme.test", owner_id=str(person.id)))
    assert stored("rosa@acme.test").user_id == person.id
    assert "Rosa Rep" in admin.get("/settings/mailboxes/").get_data(as_text=True)


def test_owner_from_another_tenant_is_refused(login_as, other_tenant):
    stranger = factories.make_user(other_tenant, "rep")
    response = login_as("admin").post(
        "/settings/mailboxes/new", form_for("x@acme.test", owner_id=str(stranger.id))
    )
    assert response.status_code == 422
    assert stored("x@acme.test") is None


def test_marketers_and_managers_may_not_open_mailboxes(login_as, tenant):
    mailbox = make_mailbox(tenant)
    for role in ("marketer", "manager"):
        client = login_as(role)
        assert client.get("/settings/mailboxes/").status_code == 403
        assert client.get(f"/settings/mailboxes/{mailbox.id}").status_code == 403
        assert client.post("/settings/mailboxes/new", form_for("m@acme.test")).status_code == 403


def test_another_tenants_mailbox_is_not_found(login_as, other_tenant):
    foreign = make_mailbox(other_tenant)
    admin = login_as("admin")
    assert admin.get(f"/settings/mailboxes/{foreign.id}").status_code == 404
    assert admin.post(f"/settings/mailboxes/{foreign.id}/test", form_for(foreign.address)).status_code == 404
    assert admin.post(f"/settings/mailboxes/{foreign.id}/delete").status_code == 404
    assert foreign.address not in admin.get("/settings/mailboxes/").get_data(as_text=True)


def real_form(servers, address: str, **changes) -> dict:
    """The form for a mailbox of the real dovecot, read over IMAPS (verified against the test CA)."""
    values = {"imap_host": servers.host, "imap_port": str(servers.imaps_port), "imap_password": PASSWORD}
    return form_for(address, **{**values, **changes})


def test_test_connection_against_the_real_dovecot(app, login_as, mail_servers, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_CA_FILE", str(mail_servers.ca_file))
    address = mail_servers.add_user(unique_address("team"))
    admin = login_as("admin")

    ok = admin.post(
        "/settings/mailboxes/test", real_form(mail_servers, address), headers={"HX-Request": "true"}
    )
    assert ok.status_code == 200
    assert "IMAP OK: signed in" in ok.get_data(as_text=True)

    wrong = admin.post(
        "/settings/mailboxes/test",
        real_form(mail_servers, address, imap_password="not the password"),
        headers={"HX-Request": "true"},
    )
    assert "authentication failed" in wrong.get_data(as_text=True)

    # A plain POST (no JavaScript) shows the same answer on the form page, with the input kept.
    plain = admin.post("/settings/mailboxes/test", real_form(mail_servers, address))
    assert plain.status_code == 200 and "IMAP OK" in plain.get_data(as_text=True)
    assert f'value="{address}"' in plain.get_data(as_text=True)
    assert stored(address) is None  # testing saves nothing


def test_test_connection_of_a_saved_mailbox_uses_its_stored_password(
    app, login_as, tenant, mail_servers, monkeypatch
):
    monkeypatch.setitem(app.config, "MAIL_CA_FILE", str(mail_servers.ca_file))
    address = mail_servers.add_user(unique_address("team"))
    mailbox = make_mailbox(
        tenant,
        address=address,
        imap_host=mail_servers.host,
        imap_port=mail_servers.imaps_port,
        imap_username=address,
        imap_secret=seal(PASSWORD),
    )
    response = login_as("admin").post(
        f"/settings/mailboxes/{mailbox.id}/test",
        real_form(mail_servers, address, imap_password=""),
        headers={"HX-Request": "true"},
    )
    assert "IMAP OK: signed in" in response.get_data(as_text=True)


def test_test_connection_reports_a_refused_smtp_port(app, login_as, mail_servers, monkeypatch):
    from tests.mail_servers import free_port

    monkeypatch.setitem(app.config, "MAIL_CA_FILE", str(mail_servers.ca_file))
    address = mail_servers.add_user(unique_address("team"))
    response = login_as("admin").post(
        "/settings/mailboxes/test",
        real_form(
            mail_servers, address, smtp_host="127.0.0.1", smtp_port=str(free_port()), smtp_security="none"
        ),
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert "IMAP OK" in html and "SMTP:" in html and "refused the connection" in html


def test_poll_now_reads_a_reply_into_the_leads_timeline(app, login_as, tenant, mail_servers, monkeypatch):
    from email.message import EmailMessage

    monkeypatch.setitem(app.config, "MAIL_CA_FILE", str(mail_servers.ca_file))
    address = mail_servers.add_user(unique_address("team"))
    admin = login_as("admin")
    admin.post("/settings/mailboxes/new", real_form(mail_servers, address))
    mailbox = stored(address)
    lead = factories.make_lead(tenant, email=unique_address("lead"), first_name="Ada", last_name="Lovelace")

    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = lead.email, address, "Re: Quick question"
    reply.set_content("Yes, interested! Call me on Thursday.")
    send_through_exim(mail_servers, reply, lead.email, [address])
    wait_for_messages(mail_servers, address, 1)

    response = admin.post(f"/settings/mailboxes/{mailbox.id}/poll")
    assert response.status_code == 302
    page = admin.get("/settings/mailboxes/").get_data(as_text=True)
    assert "1 new message" in page
    inbound = db.session.scalars(sa.select(InboundMail)).one()
    assert (inbound.kind, inbound.matched_by, inbound.lead_id) == ("reply", "sender", lead.id)
    assert "Re: Quick question" in page and f"/leads/{lead.id}/timeline" in page
    assert "last UID 1" in page


def test_a_failed_poll_shows_its_error_on_the_row(login_as, tenant):
    from tests.mail_servers import free_port

    mailbox = make_mailbox(tenant, imap_host="127.0.0.1", imap_port=free_port(), imap_security="none")
    admin = login_as("admin")
    admin.post(f"/settings/mailboxes/{mailbox.id}/poll")
    page = admin.get("/settings/mailboxes/").get_data(as_text=True)
    assert "Could not read" in page and "refused the connection" in page
    assert 'class="mailbox-error"' in page
