"""A person who keeps mistyping their password is told plainly that sign-in is locked, and for how long."""

from __future__ import annotations

from tests import factories


def test_five_wrong_passwords_lock_the_account_with_a_clear_message(page, tenant, screenshot):
    user = factories.make_user(tenant, "rep", email="riley@example.test")
    page.goto("/login")
    for attempt in range(5):
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(f"wrong password {attempt}")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    alert = page.get_by_role("alert")
    assert "Too many failed sign-ins for this account" in alert.inner_text()
    assert "15 more minutes" in alert.inner_text()
    screenshot(page, "sign-in-locked")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert "/login" in page.url and "Too many failed sign-ins" in page.get_by_role("alert").inner_text()
    # The browser logs each 401/429 answer as a failed resource; anything else would be a script error.
    assert [e for e in page.js_errors if not e.startswith("Failed to load resource")] == []
