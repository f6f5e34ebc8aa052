"""Activate asks first: the preview, the dry run, the breakdown's lead lists and the why-not address field."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from nurture_ui import enrollment as enrolling
from nurture_ui import simulation
from nurture_ui.activation_preview import activation_preview
from nurture_ui.extensions import db
from nurture_ui.models import Enrollment, Sequence
from tests import factories

SMB = {"all": [{"field": "segment", "op": "eq", "value": "SMB"}]}
TWO_EMAILS = [
    {"channel": "email", "template_id": "intro", "delay_hours": 0},
    {"channel": "email", "template_id": "intro", "delay_hours": 24},
]


def _number(page: str, marker: str) -> int:
    match = re.search(marker + r">(?:<a [^>]*>)?([\d,]+)", page)
    assert match, marker
    return int(match.group(1).replace(",", ""))


def test_activate_opens_a_preview_and_only_confirming_activates(login_as, tenant, clock):
    factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(tenant, status="draft", entry_rules=SMB, steps=TWO_EMAILS)
    factories.make_lead(tenant, segment="SMB", first_name="Ana", timezone="America/New_York", score=90)
    factories.make_lead(tenant, segment="SMB", score_band="cold")
    factories.make_lead(tenant, segment="Enterprise")
    marketer = login_as("marketer")

    builder = marketer.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert f'href="/sequences/{sequence.id}/activate"' in builder
    page = marketer.get(f"/sequences/{sequence.id}/activate").get_data(as_text=True)
    assert _number(page, "data-join-now") == 1
    assert "every lead of the tenant may join" not in page
    # Monday 10:00 UTC is 05:00 in New York: the first email waits for the window's 09:00 there, which the
    # marketer (in the tenant's UTC) reads as 14:00, with the lead's own clock beside it.
    assert re.search(r"data-first-send><time [^>]*>Mon Mar 2, 14:00</time> <span[^>]*>· 09:00 New York", page)
    assert "Cancel" in page
    db.session.expire_all()
    assert db.session.get(Sequence, sequence.id).status == "draft"  # looking changes nothing

    assert marketer.post(f"/sequences/{sequence.id}/status", {"status": "active"}).status_code == 302
    db.session.expire_all()  # the request changed the row in its own session
    results = enrolling.auto_enroll(now=clock.now(), tenant_id=tenant.id)
    assert results[sequence.id] == 1


def test_the_preview_warns_plainly_when_there_is_no_entry_rule(login_as, tenant):
    sequence = factories.make_sequence(tenant, status="draft", steps=TWO_EMAILS)
    page = login_as("marketer").get(f"/sequences/{sequence.id}/activate").get_data(as_text=True)
    assert "This sequence has no entry rule: every lead of the tenant may join" in page


def test_the_per_day_estimate_counts_leads_that_newly_fit_in_the_last_30_days(tenant, clock):
    sequence = factories.make_sequence(tenant, status="draft", entry_rules=SMB, steps=TWO_EMAILS)
    long_ago = clock.now() - timedelta(days=90)
    for _ in range(3):
        factories.make_lead(tenant, segment="SMB")  # created now: new this month
    factories.make_lead(tenant, segment="SMB", created_at=long_ago, updated_at=long_ago)
    factories.make_lead(tenant, segment="SMB", score_band="cold")  # new, but does not fit the policy
    preview = activation_preview(sequence, now=clock.now())
    assert preview.fresh_fits == 3
    assert preview.per_day == 3 / 30
    assert preview.breakdown.can_join == 4


def test_the_dry_run_counts_emails_per_day_and_what_holds_them(tenant, clock):
    sequence = factories.make_sequence(tenant, status="draft", entry_rules=SMB, steps=TWO_EMAILS)
    other = factories.make_sequence(tenant, name="Welcome", status="paused", steps=TWO_EMAILS)
    mailed = factories.make_lead(tenant, segment="SMB")
    factories.make_lead(tenant, segment="SMB")
    # Emailed an hour ago by a sequence the lead left long since (outside every cooldown).
    sent = factories.make_draft(tenant, mailed, status="sent", sent_at=clock.now() - timedelta(hours=1))
    finished = db.session.get(Enrollment, sent.enrollment_id)
    finished.status, finished.ended_on = "completed", clock.now() - timedelta(days=40)
    db.session.get(Sequence, sent.sequence_id).status = "archived"
    db.session.commit()
    busy = factories.make_lead(tenant, segment="SMB")
    factories.make_enrollment(busy, other)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Enrollment))

    result = simulation.simulate(sequence, now=clock.now())
    assert result.leads == 2 and result.capped_at is None
    assert len(result.days) == simulation.DAYS
    # Both leads get both emails; the mailed one's first waits out the 48-hour cap.
    assert result.emails == 4
    assert result.held_by_cap >= 1
    assert dict(result.days)[clock.now().date()] == 1
    assert result.other_sequences == [("Welcome", 1)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Enrollment)) == before


def test_the_dry_run_moves_emails_into_the_send_window(tenant, clock):
    clock.set(clock.now().replace(hour=20))  # Monday 20:00 UTC: the window (9–17) has closed
    sequence = factories.make_sequence(tenant, status="draft", steps=TWO_EMAILS)
    factories.make_lead(tenant)
    result = simulation.simulate(sequence, now=clock.now())
    assert result.held_by_window == 1
    assert dict(result.days)[clock.now().date()] == 0


def test_the_simulate_page_shows_the_chart_and_says_it_sent_nothing(login_as, tenant):
    sequence = factories.make_sequence(tenant, status="draft", steps=TWO_EMAILS)
    factories.make_lead(tenant)
    page = login_as("rep").get(f"/sequences/{sequence.id}/simulate").get_data(as_text=True)
    assert '<svg class="chart columns"' in page
    assert "Nothing was enrolled or sent" in page
    assert _number(page, "data-total-emails") == 2


def test_each_number_of_the_breakdown_links_to_exactly_its_leads(login_as, tenant, clock):
    sequence = factories.make_sequence(tenant, status="active", entry_rules=SMB, steps=TWO_EMAILS)
    elsewhere = factories.make_sequence(tenant, status="active", priority=500, steps=TWO_EMAILS)
    factories.make_lead(tenant, segment="SMB", email="joins@example.test")
    taken = factories.make_lead(tenant, segment="SMB", email="taken@example.test")
    factories.make_enrollment(taken, elsewhere)
    factories.make_lead(tenant, segment="SMB", score_band="cold", email="cold@example.test")
    rep = login_as("rep")
    # The builder's count comes in its own request once the page is shown.
    count = rep.get(f"/sequences/{sequence.id}/eligibility").get_data(as_text=True)
    assert f"/leads/?eligibility={sequence.id}:in_sequence" in count

    def listed(key):
        page = rep.get(f"/leads/?eligibility={sequence.id}:{key}").get_data(as_text=True)
        return set(re.findall(r"[a-z]+@example\.test", page))

    assert listed("join") == {"joins@example.test"}
    assert listed("in_sequence") == {"taken@example.test"}
    assert listed("score_band") == {"cold@example.test"}
    assert len(listed("match")) == 3


def test_a_breakdown_link_to_another_tenants_sequence_lists_nothing(login_as, tenant, other_tenant):
    theirs = factories.make_sequence(other_tenant, status="active", steps=TWO_EMAILS)
    factories.make_lead(tenant, email="mine@example.test")
    page = login_as("rep").get(f"/leads/?eligibility={theirs.id}:match").get_data(as_text=True)
    assert "mine@example.test" not in page
    assert "names no sequence of yours" in page


def test_why_not_accepts_an_international_address(login_as, tenant):
    sequence = factories.make_sequence(tenant, status="active", steps=TWO_EMAILS)
    lead = factories.make_lead(tenant, email="jordan.müller@example.test")
    rep = login_as("rep")
    builder = rep.get(f"/sequences/{sequence.id}").get_data(as_text=True)
    assert 'id="why-email" type="text"' in builder
    response = rep.get(f"/sequences/{sequence.id}/why", query_string={"email": "Jordan.Müller@Example.test"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/leads/{lead.id}/enroll?sequence_id={sequence.id}")
