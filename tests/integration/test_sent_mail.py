"""Sent mail: the tenant's outgoing emails, searched, paged and read as the lead saw them."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from nurture_ui import clock as core_clock
from nurture_ui.extensions import db
from nurture_ui.sent_mail import PAGE_SIZE
from tests import factories


def _sent(tenant, lead=None, *, minutes_ago=0, status="sent", **fields):
    at = core_clock.now() - timedelta(minutes=minutes_ago)
    message = factories.make_draft(
        tenant,
        lead=lead,
        status=status,
        created_at=at,
        sent_at=at if status == "sent" else None,
        review_reason=None,
        **fields,
    )
    # Its sequence is over: the lead may have another email of another sequence (one live enrollment each).
    message.enrollment.status, message.enrollment.pause_reason = "completed", None
    db.session.commit()
    return message


def _subjects(html: str) -> list[str]:
    return [unescape(s) for s in re.findall(r'<a class="primary" href="/sent/[^"]+">([^<]+)</a>', html)]


def test_the_sidebar_sent_mail_link_opens_a_page_of_the_app(login_as, tenant):
    client = login_as("manager")
    home = client.get("/").get_data(as_text=True)
    assert 'data-nav="sent_mail.index"' in home
    page = client.get("/sent/").get_data(as_text=True)
    assert 'class="sidebar"' in page and "<h1>Sent mail</h1>" in page


def test_newest_first_and_paged_with_older_and_newest_links(login_as, tenant, clock):
    client = login_as("admin")
    for n in range(PAGE_SIZE + 5):
        _sent(tenant, minutes_ago=n, subject=f"Email {n:03}")
    first = client.get("/sent/").get_data(as_text=True)
    subjects = _subjects(first)
    assert (
        len(subjects) == PAGE_SIZE
        and subjects[0] == "Email 000"
        and subjects[-1] == f"Email {PAGE_SIZE - 1:03}"
    )
    older = (
        re.search(r'href="(/sent/\?[^"]*before=[^"]+)"[^>]*rel="next"', first).group(1).replace("&amp;", "&")
    )
    second = client.get(older).get_data(as_text=True)
    assert _subjects(second) == [f"Email {n:03}" for n in range(PAGE_SIZE, PAGE_SIZE + 5)]
    assert 'rel="next"' not in second and "← Newest" in second


def test_search_by_lead_status_and_sequence(login_as, tenant):
    client = login_as("admin")
    ada = factories.make_lead(tenant, first_name="Ada", last_name="Lovelace", email="ada@engine.test")
    bob = factories.make_lead(tenant, first_name="Bob", email="bob@example.test")
    to_ada = _sent(tenant, ada, subject="For Ada")
    _sent(tenant, bob, subject="For Bob")
    _sent(tenant, ada, subject="Ada failed", status="failed", error="550 no such user")
    assert _subjects(client.get("/sent/?q=lovelace").get_data(as_text=True)) == ["For Ada"]
    assert _subjects(client.get("/sent/?q=ENGINE.test").get_data(as_text=True)) == ["For Ada"]
    assert _subjects(client.get("/sent/?q=ada&status=failed").get_data(as_text=True)) == ["Ada failed"]
    by_sequence = client.get(f"/sent/?sequence={to_ada.sequence_id}").get_data(as_text=True)
    assert _subjects(by_sequence) == ["For Ada"]
    # A search character that means "anything" to LIKE means itself here.
    assert _subjects(client.get("/sent/?q=%25").get_data(as_text=True)) == []
    # Nonsense filters fall back to the defaults instead of failing.
    assert client.get("/sent/?status=bogus&sequence=nope&before=garbage").status_code == 200


def test_htmx_filtering_answers_only_the_results(login_as, tenant):
    client = login_as("admin")
    _sent(tenant, subject="Partial")
    html = client.get("/sent/?q=", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="sent-results">') and "<html" not in html


def test_drafts_awaiting_approval_are_not_sent_mail(login_as, tenant):
    client = login_as("admin")
    factories.make_draft(tenant, subject="Still a draft")
    assert "Still a draft" not in client.get("/sent/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["admin", "manager", "marketer"])
def test_admins_managers_and_marketers_see_all_the_tenants_mail(login_as, tenant, role):
    client = login_as(role)
    rep = factories.make_user(tenant, "rep")
    _sent(tenant, factories.make_lead(tenant, owner_id=rep.id), subject="A rep's lead")
    _sent(tenant, factories.make_lead(tenant), subject="Nobody's lead")
    assert set(_subjects(client.get("/sent/").get_data(as_text=True))) == {"A rep's lead", "Nobody's lead"}


def test_a_rep_sees_only_their_own_leads_mail(login_as, tenant):
    client = login_as("rep")
    mine = _sent(
        tenant, factories.make_lead(tenant, owner_id=client.user.id, first_name="Mine"), subject="Mine"
    )
    theirs = _sent(tenant, factories.make_lead(tenant, first_name="Theirs"), subject="Theirs")
    assert _subjects(client.get("/sent/").get_data(as_text=True)) == ["Mine"]
    assert _subjects(client.get("/sent/?q=theirs").get_data(as_text=True)) == []
    assert client.get(f"/sent/{mine.id}").status_code == 200
    assert client.get(f"/sent/{theirs.id}").status_code == 404


def test_another_tenants_mail_is_not_there(login_as, tenant, other_tenant):
    client = login_as("admin")
    foreign = _sent(other_tenant, subject="Other tenant's secret")
    assert "Other tenant's secret" not in client.get("/sent/").get_data(as_text=True)
    assert client.get(f"/sent/{foreign.id}").status_code == 404
    assert client.get(f"/sent/?sequence={foreign.sequence_id}").get_data(as_text=True).count("/sent/0") == 0


def test_the_message_is_shown_as_the_lead_saw_it(app, login_as, tenant):
    client = login_as("admin")
    lead = factories.make_lead(tenant, first_name="Zoë", last_name="Ng", email="zoe@example.test")
    message = _sent(tenant, lead, subject="Hello Zoë", body="Line one\n<script>alert(1)</script>\nBye")
    html = client.get(f"/sent/{message.id}?q=zo").get_data(as_text=True)
    assert "Hello Zoë" in html
    assert "Zoë Ng" in html and "zoe@example.test" in html
    assert app.config["MAIL_FROM"].split("<")[-1].rstrip(">") in html  # From: the app's sender
    assert "To stop receiving these emails, unsubscribe:" in html  # the footer the mailer adds
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert 'href="/sent/?q=zo"' in html  # back to the list as it was


def test_a_message_from_a_reps_mailbox_shows_that_sender(login_as, tenant):
    from nurture_ui.models import Mailbox

    client = login_as("admin")
    rep = factories.make_user(tenant, "rep", name="Rita Rep")
    box = Mailbox(tenant_id=tenant.id, user_id=rep.id, address="rita@sales.test")
    db.session.add(box)
    db.session.commit()
    message = _sent(tenant, factories.make_lead(tenant, owner_id=rep.id), mailbox_id=box.id)
    html = client.get(f"/sent/{message.id}").get_data(as_text=True)
    assert "Rita Rep &lt;rita@sales.test&gt;" in html or "&#34;Rita Rep&#34; &lt;rita@sales.test&gt;" in html
