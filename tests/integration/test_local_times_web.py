"""Times in the reader's zone on every page, the lead's clock beside lead times, task groups by the rep's
calendar day, and counts that come back together with each action."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from nurture_ui.extensions import db
from nurture_ui.models import User
from tests import factories

HTMX = {"HX-Request": "true"}


def in_zone(client, zone: str | None):
    """The signed-in person of ``client`` reads times in ``zone`` from now on."""
    user = db.session.get(User, client.user.id)
    user.timezone = zone
    db.session.commit()
    return client


def oob_count(html: str, element_id: str) -> int:
    """The number an out-of-band element of an htmx answer carries (it must be marked for an oob swap)."""
    match = re.search(rf'<span id="{element_id}"[^>]*>(\d+)</span>', html, re.S)
    assert match, f"{element_id} is not in the answer"
    assert "hx-swap-oob" in match.group(0), f"{element_id} is not swapped out of band"
    return int(match.group(1))


# -- the profile setting ------------------------------------------------------------------------------------


def test_a_person_sets_their_time_zone_on_their_profile_linked_from_the_sidebar(login_as):
    client = login_as("rep")
    assert 'href="/profile/"' in client.get("/").get_data(as_text=True)
    page = client.get("/profile/").get_data(as_text=True)
    assert "The team&#39;s time zone (UTC)" in page

    response = client.post("/profile/", {"timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, client.user.id).timezone == "Asia/Tokyo"
    assert "Times are now shown in Asia/Tokyo." in client.get("/profile/").get_data(as_text=True)

    assert client.post("/profile/", {"timezone": ""}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, client.user.id).timezone is None  # follows the team again


@pytest.mark.parametrize(
    "name, message",
    [
        ("Mars/Olympus_Mons", "There is no time zone called Mars/Olympus_Mons."),
        ("../../etc/passwd", "That is not a time zone name"),
        ("x" * 300, "That is not a time zone name"),
    ],
)
def test_a_name_that_is_not_a_time_zone_is_refused_with_a_reason(login_as, name, message):
    client = in_zone(login_as("manager"), "Europe/Berlin")
    response = client.post("/profile/", {"timezone": name})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, client.user.id).timezone == "Europe/Berlin"  # unchanged


def test_without_a_choice_of_their_own_a_person_reads_the_tenants_zone(login_as, clock):
    tenant = factories.make_tenant(timezone="Europe/Berlin")
    client = login_as("rep", in_tenant=tenant)
    page = client.get("/profile/").get_data(as_text=True)
    assert "The team&#39;s time zone (Europe/Berlin)" in page
    assert "Mon Mar 2, 11:00" in page  # 10:00 UTC is 11:00 in Berlin


# -- every page that shows times -----------------------------------------------------------------------------


def test_a_reader_in_tokyo_sees_tokyo_times_and_the_leads_own_clock_on_every_page(login_as, tenant, clock):
    client = in_zone(login_as("rep"), "Asia/Tokyo")
    # Mon 10:00 UTC: 19:00 in Tokyo, 05:00 in New York.
    lead = factories.make_lead(tenant, first_name="Nia", owner_id=client.user.id, timezone="America/New_York")
    task = factories.make_task(tenant, lead)
    draft = factories.make_draft(
        tenant, factories.make_lead(tenant, owner_id=client.user.id, timezone="Europe/London")
    )
    factories.make_reply(lead, body_excerpt="Call me next week", triage="pending")

    pages = {
        "tasks": "/tasks/",
        "inbox": "/inbox/",
        "replies": "/inbox/replies",
        "lead": f"/leads/{lead.id}",
        "lead timeline": f"/leads/{lead.id}/timeline",
        "enrollment timeline": f"/enrollments/{task.enrollment_id}",
    }
    html = {}
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        html[name] = response.get_data(as_text=True)
        assert " UTC" not in html[name], f"{name} shows a UTC time"
        assert "UTC)" not in html[name], f"{name} shows a UTC tooltip"

    assert "due today 19:00" in html["tasks"] and "05:00 New York now" in html["tasks"]
    assert "2026-03-02 19:00 JST (Asia/Tokyo)" in html["inbox"]  # the draft's age, as a tooltip
    assert "10:00 London now" in html["inbox"] and str(draft.id) in html["inbox"]
    assert "Mon Mar 2, 19:00" in html["lead timeline"] and "05:00 New York" in html["lead timeline"]
    assert (
        "Mon Mar 2, 19:00" in html["enrollment timeline"] and "05:00 New York" in html["enrollment timeline"]
    )
    assert "Mon Mar 2, 19:00" in html["lead"]
    assert "05:00 New York" in html["replies"]


def test_a_lead_on_the_readers_clock_gets_no_second_time(login_as, tenant, clock):
    client = in_zone(login_as("rep"), "Europe/Berlin")
    lead = factories.make_lead(tenant, owner_id=client.user.id, timezone="Europe/Paris")
    task = factories.make_task(tenant, lead)
    page = client.get(f"/enrollments/{task.enrollment_id}").get_data(as_text=True)
    assert "Mon Mar 2, 11:00" in page and "lead-clock" not in page


# -- task groups by the rep's day ----------------------------------------------------------------------------


def test_a_task_due_earlier_today_is_due_today_until_the_reps_day_ends(login_as, tenant, clock):
    client = in_zone(login_as("rep"), "Asia/Tokyo")
    lead = factories.make_lead(tenant, owner_id=client.user.id)
    # Due Mon 09:00 in Tokyo; the rep looks at 23:30 Tokyo time, 14 and a half hours later.
    factories.make_task(tenant, lead, due_at=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    clock.set(datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
    page = client.get("/tasks/").get_data(as_text=True)
    assert "due today 09:00" in page and "day overdue" not in page
    assert re.search(r'id="group-today"[^<]*<span id="group-count-today"[^>]*>1<', page)
    assert 'id="group-overdue"' in page and re.search(r'class="task-group group-overdue"[^>]*hidden', page)

    clock.advance(hours=1)  # 00:30 on Tuesday in Tokyo: the rep's Monday is over
    page = client.get("/tasks/").get_data(as_text=True)
    assert "1 day overdue" in page
    assert re.search(r'id="group-overdue"[^<]*<span id="group-count-overdue"[^>]*>1<', page)


def test_a_task_due_a_minute_ago_is_not_overdue(login_as, tenant, clock):
    client = in_zone(login_as("rep"), "America/Los_Angeles")
    lead = factories.make_lead(tenant, owner_id=client.user.id)
    factories.make_task(tenant, lead, due_at=clock.now() - timedelta(minutes=1))  # 01:59 in Los Angeles
    page = client.get("/tasks/").get_data(as_text=True)
    assert "due today 01:59" in page and "day overdue" not in page


# -- counts that stay true -----------------------------------------------------------------------------------


def test_logging_a_call_brings_back_every_count_on_the_page_out_of_band(login_as, tenant, clock):
    client = in_zone(login_as("rep"), "Asia/Tokyo")
    tasks = [
        factories.make_task(tenant, factories.make_lead(tenant, owner_id=client.user.id), due_at=due)
        for due in (
            clock.now() - timedelta(days=2),  # overdue
            clock.now(),  # Mon 19:00 in Tokyo: today
            clock.now() + timedelta(hours=3),  # Mon 22:00 in Tokyo: today
        )
    ]
    before = client.get("/tasks/").get_data(as_text=True)
    assert 'id="task-total" class="heading-count">3<' in before

    response = client.post(f"/tasks/{tasks[1].id}/complete", {"outcome": "connected"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert "Call logged: connected." in html
    assert oob_count(html, "task-total") == 2
    assert oob_count(html, "group-count-overdue") == 1
    assert oob_count(html, "group-count-today") == 1
    assert oob_count(html, "group-count-upcoming") == 0
    assert oob_count(html, "nav-count-tasks") == 2
    # The page as it now stands agrees with what the answer swapped in.
    after = client.get("/tasks/").get_data(as_text=True)
    assert 'id="task-total" class="heading-count">2<' in after and 'data-count="2"' in after


def test_approving_a_draft_brings_back_the_heading_tab_and_sidebar_counts_together(login_as, tenant, clock):
    client = login_as("rep")
    drafts = [
        factories.make_draft(tenant, factories.make_lead(tenant, owner_id=client.user.id)) for _ in range(2)
    ]
    response = client.post(f"/inbox/{drafts[0].id}/approve", headers=HTMX)
    html = response.get_data(as_text=True)
    assert oob_count(html, "inbox-total") == 1
    assert oob_count(html, "tab-count-drafts") == 1
    assert oob_count(html, "nav-count-inbox") == 1
