"""A person signs in, sees their role's navigation, and works with leads."""

from __future__ import annotations

import pytest

from tests import factories

EXPECTED_NAV = {
    "admin": {"Home", "Leads", "Team"},
    "marketer": {"Home", "Leads"},
    "rep": {"Home", "Leads"},
    "manager": {"Home", "Leads"},
}


@pytest.mark.parametrize("role", ["admin", "marketer", "rep", "manager"])
def test_each_role_signs_in_and_sees_its_navigation(page, sign_in, tenant, role, screenshot):
    user = factories.make_user(tenant, role)
    sign_in(user)
    nav = page.get_by_role("navigation", name="Main")
    labels = {text.strip() for text in nav.locator("a").all_inner_texts()}
    # Later issues add their pages; whatever the role may open shows, and nothing it may not.
    assert EXPECTED_NAV[role] <= labels
    if role != "admin":
        assert "Team" not in labels
        assert "Settings" not in labels
    assert page.locator(".sidebar-foot .role").inner_text().lower().startswith(role)
    screenshot(page, f"home-{role}")
    assert page.js_errors == []


def test_wrong_password_shows_an_error_and_keeps_the_email(page, tenant, screenshot):
    user = factories.make_user(tenant, "rep")
    page.goto("/login")
    screenshot(page, "login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "That email and password do not match an account."
    assert page.get_by_label("Email").input_value() == user.email
    screenshot(page, "login-error")


def test_leads_list_filters_and_pages_without_reload(page, sign_in, tenant, screenshot):
    admin = factories.make_user(tenant, "admin", name="Ada Admin")
    rep = factories.make_user(tenant, "rep", name="Rob Rep")
    for i in range(60):
        factories.make_lead(
            tenant,
            first_name=f"Person{i:02d}",
            company="Globex" if i % 3 == 0 else "Initech",
            status="qualified" if i % 4 == 0 else "new",
            score_band="hot" if i % 5 == 0 else "warm",
            owner_id=rep.id if i % 2 == 0 else None,
        )
    sign_in(admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    page.wait_for_url("**/leads/")
    assert "1–50 of 60 leads" in page.locator(".pager").inner_text()
    screenshot(page, "leads-list")

    page.get_by_label("Status").select_option("qualified")
    page.wait_for_url("**status=qualified**")
    assert "of 15 leads" in page.locator(".pager").inner_text()

    page.get_by_label("Search").fill("globex")
    page.wait_for_url("**q=globex**")
    # i % 12 == 0 → 0, 12, 24, 36, 48: qualified and at Globex
    assert "of 5 leads" in page.locator(".pager").inner_text()

    page.goto("/leads/?owner=none")
    assert "of 30 leads" in page.locator(".pager").inner_text()

    page.goto("/leads/")
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2**")
    assert "51–60 of 60 leads" in page.locator(".pager").inner_text()
    assert page.js_errors == []


def test_lead_detail_edit_saves_and_logs(page, sign_in, tenant, screenshot):
    rep = factories.make_user(tenant, "rep", name="Rob Rep")
    lead = factories.make_lead(tenant, first_name="Grace", last_name="Hopper", company="Navy Labs", score=40)
    sign_in(rep)
    page.goto(f"/leads/{lead.id}")
    page.get_by_label("Status").select_option("qualified")
    page.get_by_label("Score", exact=True).fill("88")
    page.get_by_label("Score band").select_option("hot")
    page.get_by_label("Owner").select_option(label="Rob Rep")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_selector(".flash.success")
    assert page.locator(".flash.success").inner_text() == "Lead saved."
    assert "Lead updated" in page.locator(".timeline").inner_text()
    assert "by Rob Rep" in page.locator(".timeline").inner_text()
    assert "owner: Unassigned → Rob Rep" in page.locator(".timeline").inner_text()
    screenshot(page, "lead-detail")

    page.get_by_label("Score", exact=True).fill("400")
    page.get_by_role("button", name="Save changes").click()
    assert "A score is a whole number from 0 to 100." in page.locator(".field .error").inner_text()
    assert page.get_by_label("Score", exact=True).input_value() == "400"
    screenshot(page, "lead-detail-error")


def test_cross_tenant_lead_page_is_not_found(page, sign_in, tenant, other_tenant):
    user = factories.make_user(tenant, "admin")
    foreign = factories.make_lead(other_tenant)
    sign_in(user)
    response = page.goto(f"/leads/{foreign.id}")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
